//! Zip archives the q8s way: a deterministic writer (the same files give the
//! same bytes on every surface) and a strict reader for untrusted `.qz`
//! files that rejects rather than repairs.

pub mod reader;
pub mod writer;

pub use reader::{ArchiveEntry, ArchiveError, Limits, QzReader};
pub use writer::{CompressedEntry, DeterministicZipWriter, compress_entry};
