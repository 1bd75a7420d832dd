//! Zip archives the q8s way: a deterministic writer (the same files give the
//! same bytes on every surface) and a strict reader for untrusted `.qz`
//! files that rejects rather than repairs.
//!
//! - [`compress_entry`] + [`DeterministicZipWriter`]: one entry at a time,
//!   on any target;
//! - [`write_sequential`] / [`write_parallel`] (native): a whole archive from
//!   a list of names and a function reading each file, with the same bytes;
//! - [`HashingWriter`]: the archive's sha256 while it is written;
//! - [`QzReader`]: open, list, read, verify and (native) extract an untrusted
//!   archive under [`Limits`].
//!
//! The byte layout and every rejection code are in `docs/qz-format.md`.

#[cfg(not(target_family = "wasm"))]
mod background;
mod digest;
mod format;
mod names;
#[cfg(not(target_family = "wasm"))]
mod parallel;
mod pipeline;
pub mod reader;
pub mod writer;

#[cfg(not(target_family = "wasm"))]
pub(crate) use background::BackgroundWriter;
pub use digest::{ArchiveDigest, HashingWriter};
#[cfg(not(target_family = "wasm"))]
pub use parallel::{MAX_BUFFERED_BYTES, write_parallel};
pub use pipeline::{WriteStats, write_sequential};
pub use reader::{ArchiveEntry, ArchiveError, Limits, QzReader};
pub use writer::{CompressedEntry, DeterministicZipWriter, compress_entry, compress_entry_owned};

#[cfg(test)]
mod tests;
