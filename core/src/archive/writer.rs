//! The deterministic zip writer.
//!
//! Entries are written in the order given (callers sort them bytewise),
//! every timestamp is 1980-01-01 00:00:00, modes are 0644 or 0755, there are
//! no extra fields (zip64 only where sizes demand it) and no comment.
//! Compression is raw deflate at level 6 through `miniz_oxide` on every
//! target, so native and wasm builds produce identical bytes; files of
//! already-compressed formats, and files deflate does not shrink, are stored.

use std::io::{self, Write};

/// One entry ready to be written: compressed (or not) with its CRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedEntry {
    /// Path inside the archive.
    pub name: String,
    /// Mode 0755 instead of 0644.
    pub executable: bool,
    /// CRC-32 of the uncompressed bytes.
    pub crc32: u32,
    /// Uncompressed size.
    pub size: u64,
    /// True when `data` is raw deflate, false when stored.
    pub deflated: bool,
    /// The bytes to write.
    pub data: Vec<u8>,
}

/// Compresses one file's bytes the deterministic way.
pub fn compress_entry(name: &str, bytes: &[u8], executable: bool) -> CompressedEntry {
    let _ = (name, bytes, executable);
    unimplemented!("compress_entry")
}

/// Writes entries to `W` in the order given and returns `W` on finish.
pub struct DeterministicZipWriter<W: Write> {
    out: W,
}

impl<W: Write> DeterministicZipWriter<W> {
    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        DeterministicZipWriter { out }
    }

    /// Appends one entry.
    pub fn add(&mut self, entry: &CompressedEntry) -> io::Result<()> {
        let _ = entry;
        unimplemented!("add")
    }

    /// Writes the central directory and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        unimplemented!("finish")
    }
}
