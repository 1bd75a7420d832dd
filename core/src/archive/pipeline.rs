//! Writing a whole archive from a list of entries and a way to read each one,
//! on the current thread (every target). [`super::write_parallel`] gives the
//! same bytes on native targets, because each entry is compressed on its own
//! by the same function and written in the order given.

use std::io::{self, Write};

use super::writer::{CompressedEntry, DeterministicZipWriter, compress_entry_owned};

/// What was written by [`write_sequential`] or [`write_parallel`](super::write_parallel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Entries written.
    pub entries: u64,
    /// Entries written deflated.
    pub deflated: u64,
    /// Entries written stored.
    pub stored: u64,
    /// Uncompressed bytes of all entries.
    pub input_bytes: u64,
    /// Bytes of the archive.
    pub archive_bytes: u64,
}

impl WriteStats {
    pub(super) fn count(&mut self, entry: &CompressedEntry) {
        self.entries += 1;
        self.input_bytes += entry.size;
        if entry.deflated {
            self.deflated += 1;
        } else {
            self.stored += 1;
        }
    }
}

/// Writes an archive of `entries` (name, executable), in that order, reading
/// each entry's bytes with `read`, on the current thread.
pub fn write_sequential<W, F>(
    entries: &[(String, bool)],
    mut read: F,
    out: W,
) -> io::Result<(W, WriteStats)>
where
    W: Write,
    F: FnMut(&str) -> io::Result<Vec<u8>>,
{
    let mut zip = DeterministicZipWriter::new(out);
    let mut stats = WriteStats::default();
    for (name, executable) in entries {
        let entry = compress_entry_owned(name, read(name)?, *executable);
        stats.count(&entry);
        zip.add(&entry)?;
    }
    let (out, len) = zip.finish_with_len()?;
    stats.archive_bytes = len;
    Ok((out, stats))
}
