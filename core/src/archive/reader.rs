//! The strict reader for untrusted `.qz` archives.
//!
//! [`QzReader::open`] checks the whole directory structure before anything
//! is inflated: entry names (no `..`, `.`, leading `/`, drive letter,
//! backslash, empty segment, NUL, invalid UTF-8), entry types (no symlinks or
//! other special files), duplicates and file/directory clashes, overlapping
//! entries, encryption, compression methods, and the limits on entry count,
//! declared total size and compression ratio. Reading then counts the bytes
//! actually inflated and checks them against the declared size and CRC.
//! Anything wrong rejects the archive: nothing is ever repaired.
//!
//! Directory entries (names ending in `/`, written by other zip tools) are
//! accepted when empty and otherwise ignored: they are checked like files but
//! not listed by [`QzReader::entries`]. `docs/qz-format.md` lists every
//! rejection with its code.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use flate2::{Decompress, FlushDecompress, Status};

use crate::archive::format::{METHOD_DEFLATE, METHOD_STORED};
use crate::diagnostic::Diagnostic;

mod central;
#[cfg(unix)]
mod extract;
mod rules;

use central::RawEntry;

/// Limits applied while reading an untrusted archive (server settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries allowed, directory entries included (default 50,000).
    pub max_entries: usize,
    /// Most uncompressed bytes in all (default 4 GiB).
    pub max_total_size: u64,
    /// Largest inflated/compressed ratio of one entry (default 1,000).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 50_000,
            max_total_size: 4 << 30,
            max_ratio: 1_000,
        }
    }
}

/// One entry of an opened archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveEntry {
    /// Path inside the archive.
    pub name: String,
    /// Declared uncompressed size (checked against the real one on read).
    pub size: u64,
    /// Compressed size.
    pub compressed_size: u64,
    /// Mode 0755.
    pub executable: bool,
}

/// Why an archive was rejected: one or more diagnostics, each with a
/// stable code (`unsafe-path`, `symlink-entry`, `duplicate-entry`,
/// `overlapping-entries`, `too-many-entries`, `too-large`, `zip-bomb`,
/// `corrupt-archive`…), or an I/O failure.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive breaks a rule.
    #[error("invalid archive: {}", .0.first().map(|d| d.message.as_str()).unwrap_or("rejected"))]
    Invalid(Vec<Diagnostic>),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ArchiveError {
    /// A stable kebab-case code: the first diagnostic's code for an invalid
    /// archive, `io-error` otherwise.
    pub fn code(&self) -> &str {
        match self {
            ArchiveError::Invalid(diagnostics) => diagnostics
                .first()
                .map(|d| d.code.as_str())
                .unwrap_or("corrupt-archive"),
            ArchiveError::Io(_) => crate::api::ErrorCode::IoError.as_str(),
        }
    }

    /// The diagnostics of an invalid archive (empty for other errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ArchiveError::Invalid(diagnostics) => diagnostics,
            _ => &[],
        }
    }
}

/// A rejection with one diagnostic.
fn diagnostic(code: &str, path: &str, message: String) -> Diagnostic {
    Diagnostic::error(code, path, message)
}

/// A `corrupt-archive` rejection about the whole archive.
fn corrupt(message: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid(vec![Diagnostic::error("corrupt-archive", "", message)])
}

/// A rejection about one entry.
fn invalid(code: &str, name: &str, message: String) -> ArchiveError {
    ArchiveError::Invalid(vec![diagnostic(code, name, message)])
}

/// An untrusted archive opened for reading.
///
/// ```
/// use std::io::Cursor;
/// use q8s_core::archive::{DeterministicZipWriter, Limits, QzReader, compress_entry};
///
/// let mut zip = DeterministicZipWriter::new(Vec::new());
/// zip.add(&compress_entry("app.py", b"print('hi')\n", false)).unwrap();
/// let bytes = zip.finish().unwrap();
///
/// let mut qz = QzReader::open(Cursor::new(bytes), Limits::default()).unwrap();
/// assert_eq!(qz.entries()[0].name, "app.py");
/// assert_eq!(qz.read("app.py").unwrap(), b"print('hi')\n");
///
/// let err = QzReader::open(Cursor::new(b"not a zip".to_vec()), Limits::default()).unwrap_err();
/// assert_eq!(err.code(), "corrupt-archive");
/// ```
pub struct QzReader<R: Read + Seek> {
    inner: R,
    entries: Vec<ArchiveEntry>,
    limits: Limits,
    /// Every entry, directories included, in archive order.
    raw: Vec<RawEntry>,
    /// For each of `entries`, its index in `raw`.
    raw_index: Vec<usize>,
    /// Name → index in `entries`.
    by_name: HashMap<String, usize>,
}

impl<R: Read + Seek> std::fmt::Debug for QzReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QzReader")
            .field("entries", &self.entries)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<R: Read + Seek> QzReader<R> {
    /// Opens and checks the central directory.
    pub fn open(mut inner: R, limits: Limits) -> Result<Self, ArchiveError> {
        let raw = central::read_directory(&mut inner, &limits)?;
        let mut entries = Vec::with_capacity(raw.len());
        let mut raw_index = Vec::with_capacity(raw.len());
        let mut by_name = HashMap::with_capacity(raw.len());
        for (index, entry) in raw.iter().enumerate().filter(|(_, e)| !e.is_dir) {
            by_name.insert(entry.name.clone(), entries.len());
            raw_index.push(index);
            entries.push(ArchiveEntry {
                name: entry.name.clone(),
                size: entry.size,
                compressed_size: entry.compressed_size,
                executable: entry.executable,
            });
        }
        Ok(QzReader {
            inner,
            entries,
            limits,
            raw,
            raw_index,
            by_name,
        })
    }

    /// The entries, in archive order.
    pub fn entries(&self) -> &[ArchiveEntry] {
        &self.entries
    }

    /// The limits the archive is read under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Reads one entry completely, counting inflated bytes against the limits.
    /// A name the archive does not hold is an [`ArchiveError::Io`] of kind
    /// [`io::ErrorKind::NotFound`].
    pub fn read(&mut self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        let index = *self.by_name.get(name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("the archive has no entry {name:?}"),
            )
        })?;
        let raw = self.raw_index[index];
        let mut out = Vec::with_capacity(self.raw[raw].size.min(1 << 20) as usize);
        self.copy_entry(raw, &mut out, self.limits.max_total_size)?;
        Ok(out)
    }

    /// Reads every entry once, in archive order, and hands each file's bytes
    /// to `visit`; directory entries are checked but not visited. Every
    /// entry's size and CRC are verified, and the bytes inflated in all are
    /// counted against [`Limits::max_total_size`]. Holds one entry in memory
    /// at a time.
    pub fn read_all(
        &mut self,
        mut visit: impl FnMut(&ArchiveEntry, Vec<u8>),
    ) -> Result<(), ArchiveError> {
        let mut remaining = self.limits.max_total_size;
        let mut next_file = 0;
        for raw in 0..self.raw.len() {
            if self.raw[raw].is_dir {
                remaining -= self.copy_entry(raw, &mut io::sink(), remaining)?;
                continue;
            }
            let mut out = Vec::with_capacity(self.raw[raw].size.min(1 << 20) as usize);
            remaining -= self.copy_entry(raw, &mut out, remaining)?;
            visit(&self.entries[next_file], out);
            next_file += 1;
        }
        Ok(())
    }

    /// Inflates every entry without keeping the bytes, checking everything
    /// [`QzReader::read_all`] checks; returns the bytes inflated in all.
    pub fn verify(&mut self) -> Result<u64, ArchiveError> {
        let mut remaining = self.limits.max_total_size;
        for raw in 0..self.raw.len() {
            remaining -= self.copy_entry(raw, &mut io::sink(), remaining)?;
        }
        Ok(self.limits.max_total_size - remaining)
    }

    /// Streams entry `raw` into `out`, checking the bytes really produced
    /// against its declared size, the ratio limit and `budget` (the total
    /// bytes still allowed), and its CRC. Returns the bytes produced.
    fn copy_entry(
        &mut self,
        raw: usize,
        out: &mut dyn Write,
        budget: u64,
    ) -> Result<u64, ArchiveError> {
        let entry = &self.raw[raw];
        let name = entry.name.as_str();
        let ratio_cap = self.limits.max_ratio.saturating_mul(entry.compressed_size);
        self.inner.seek(SeekFrom::Start(entry.data_offset))?;
        let mut sink = CheckedSink {
            out,
            name,
            declared: entry.size,
            ratio_cap,
            budget,
            produced: 0,
            crc: crc32fast::Hasher::new(),
        };
        let mut source = (&mut self.inner).take(entry.compressed_size);
        match entry.method {
            METHOD_STORED => copy_stored(&mut source, &mut sink)?,
            METHOD_DEFLATE => inflate(&mut source, &mut sink)?,
            // Other methods were rejected when the archive was opened.
            method => {
                return Err(invalid(
                    "unsupported-compression",
                    name,
                    format!("{name:?} uses compression method {method}"),
                ));
            }
        }
        if sink.produced != entry.size {
            return Err(invalid(
                "size-mismatch",
                name,
                format!(
                    "{name:?} inflates to {} bytes but declares {}",
                    sink.produced, entry.size
                ),
            ));
        }
        let crc = sink.crc.finalize();
        if crc != entry.crc32 {
            return Err(invalid(
                "crc-mismatch",
                name,
                format!(
                    "{name:?} has CRC-32 {crc:08x} but declares {:08x}",
                    entry.crc32
                ),
            ));
        }
        Ok(sink.produced)
    }
}

/// Where inflated bytes go: counted and checked before they are passed on.
struct CheckedSink<'a> {
    out: &'a mut dyn Write,
    name: &'a str,
    declared: u64,
    ratio_cap: u64,
    budget: u64,
    produced: u64,
    crc: crc32fast::Hasher,
}

impl CheckedSink<'_> {
    fn accept(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        let produced = self.produced + bytes.len() as u64;
        let name = self.name;
        if produced > self.ratio_cap {
            return Err(invalid(
                "zip-bomb",
                name,
                format!("{name:?} inflates to more than {} bytes", self.ratio_cap),
            ));
        }
        if produced > self.declared {
            return Err(invalid(
                "size-mismatch",
                name,
                format!(
                    "{name:?} inflates to more than its declared {} bytes",
                    self.declared
                ),
            ));
        }
        if produced > self.budget {
            return Err(invalid(
                "too-large",
                name,
                format!(
                    "the archive inflates to more than the limit of {} bytes",
                    self.budget
                ),
            ));
        }
        self.crc.update(bytes);
        self.out.write_all(bytes)?;
        self.produced = produced;
        Ok(())
    }
}

const CHUNK: usize = 64 << 10;

fn truncated(name: &str) -> ArchiveError {
    invalid(
        "corrupt-archive",
        name,
        format!("the data of {name:?} is truncated"),
    )
}

fn bad_deflate(name: &str) -> ArchiveError {
    invalid(
        "corrupt-archive",
        name,
        format!("the deflate data of {name:?} is invalid"),
    )
}

fn read_some(source: &mut impl Read, buf: &mut [u8]) -> Result<usize, ArchiveError> {
    loop {
        match source.read(buf) {
            Ok(n) => return Ok(n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
}

fn copy_stored(
    source: &mut io::Take<&mut impl Read>,
    sink: &mut CheckedSink<'_>,
) -> Result<(), ArchiveError> {
    let mut buf = vec![0u8; CHUNK.min(source.limit() as usize)];
    while source.limit() > 0 {
        let n = read_some(source, &mut buf)?;
        if n == 0 {
            return Err(truncated(sink.name));
        }
        sink.accept(&buf[..n])?;
    }
    Ok(())
}

/// Inflates raw deflate data that must end exactly at the end of `source`.
fn inflate(
    source: &mut io::Take<&mut impl Read>,
    sink: &mut CheckedSink<'_>,
) -> Result<(), ArchiveError> {
    let name = sink.name;
    let mut inflater = Decompress::new(false);
    let mut input = vec![0u8; CHUNK.min(source.limit() as usize)];
    let mut output = vec![0u8; CHUNK];
    let (mut start, mut end) = (0, 0);
    let mut source_done = source.limit() == 0;
    let mut stalled = false;
    loop {
        if !source_done && (start == end || stalled) {
            input.copy_within(start..end, 0);
            (start, end) = (0, end - start);
            if end == input.len() {
                // A full buffer the inflater cannot use: not deflate data.
                return Err(bad_deflate(name));
            }
            let n = read_some(source, &mut input[end..])?;
            end += n;
            source_done = n == 0 || source.limit() == 0;
        }
        let flush = if source_done {
            FlushDecompress::Finish
        } else {
            FlushDecompress::None
        };
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(&input[start..end], &mut output, flush)
            .map_err(|_| bad_deflate(name))?;
        let consumed = (inflater.total_in() - in_before) as usize;
        let produced = (inflater.total_out() - out_before) as usize;
        start += consumed;
        sink.accept(&output[..produced])?;
        if status == Status::StreamEnd {
            break;
        }
        stalled = consumed == 0 && produced == 0;
        if stalled && source_done {
            return Err(truncated(name));
        }
    }
    if start != end || source.limit() != 0 {
        return Err(invalid(
            "corrupt-archive",
            name,
            format!("the data of {name:?} goes on after its deflate stream ends"),
        ));
    }
    Ok(())
}
