//! The strict reader for untrusted `.qz` archives.

use std::io::{Read, Seek};

use crate::diagnostic::Diagnostic;

/// Limits applied while reading an untrusted archive (server settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries allowed (default 50,000).
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

/// An untrusted archive opened for reading.
pub struct QzReader<R: Read + Seek> {
    inner: R,
    entries: Vec<ArchiveEntry>,
    limits: Limits,
}

impl<R: Read + Seek> QzReader<R> {
    /// Opens and checks the central directory.
    pub fn open(inner: R, limits: Limits) -> Result<Self, ArchiveError> {
        let _ = (&inner, limits);
        unimplemented!("open")
    }

    /// The entries, in archive order.
    pub fn entries(&self) -> &[ArchiveEntry] {
        &self.entries
    }

    /// Reads one entry completely, counting inflated bytes against the limits.
    pub fn read(&mut self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        let _ = (name, &mut self.inner, self.limits);
        unimplemented!("read")
    }
}
