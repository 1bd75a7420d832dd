//! The deterministic zip writer.
//!
//! Entries are written in the order given (callers sort them bytewise),
//! every timestamp is 1980-01-01 00:00:00, modes are 0644 or 0755, there are
//! no extra fields (zip64 only where sizes demand it) and no comment.
//! Compression is raw deflate at level 6 through `flate2` with one pure-Rust
//! backend for every target (the workspace selects `zlib-rs`), so native and
//! wasm builds produce identical bytes; files of already-compressed formats,
//! and files deflate does not shrink, are stored.
//! `docs/qz-format.md` gives the byte layout.
//!
//! ```
//! use q8s_core::archive::{DeterministicZipWriter, compress_entry};
//!
//! let mut zip = DeterministicZipWriter::new(Vec::new());
//! zip.add(&compress_entry("app.py", b"print('hi')\n", false)).unwrap();
//! zip.add(&compress_entry("static/icon.png", b"\x89PNG...", false)).unwrap();
//! let bytes = zip.finish().unwrap();
//! assert_eq!(&bytes[..4], b"PK\x03\x04");
//! ```

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

use super::format::*;
use super::names::{NameClash, NameSet, unsafe_name_reason};

/// Deflate level used for every compressed entry.
pub const DEFLATE_LEVEL: u32 = 6;

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
///
/// Already-compressed formats (by extension) are stored without trying
/// deflate; other files are deflated at level 6 and stored when that does not
/// make them smaller.
pub fn compress_entry(name: &str, bytes: &[u8], executable: bool) -> CompressedEntry {
    let crc32 = crc32fast::hash(bytes);
    let (deflated, data) = match deflate_if_smaller(name, bytes) {
        Some(compressed) => (true, compressed),
        None => (false, bytes.to_vec()),
    };
    CompressedEntry {
        name: name.to_string(),
        executable,
        crc32,
        size: bytes.len() as u64,
        deflated,
        data,
    }
}

/// [`compress_entry`] taking the bytes by value: a stored entry keeps them
/// without a copy. Gives the same entry as [`compress_entry`].
pub fn compress_entry_owned(name: &str, bytes: Vec<u8>, executable: bool) -> CompressedEntry {
    let crc32 = crc32fast::hash(&bytes);
    let size = bytes.len() as u64;
    let (deflated, data) = match deflate_if_smaller(name, &bytes) {
        Some(compressed) => (true, compressed),
        None => (false, bytes),
    };
    CompressedEntry {
        name: name.to_string(),
        executable,
        crc32,
        size,
        deflated,
        data,
    }
}

/// Raw deflate of `bytes` when the name does not mark an already-compressed
/// format and the result is strictly smaller.
///
/// The whole input goes to the compressor in one call, so the output does
/// not depend on buffer sizes. The output buffer is capped at the input size:
/// once deflate fills it, the entry will be stored and the rest of the work
/// is skipped.
fn deflate_if_smaller(name: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.is_empty() || is_precompressed_name(name) {
        return None;
    }
    let mut compress = Compress::new(Compression::new(DEFLATE_LEVEL), false);
    let mut out = Vec::with_capacity(bytes.len());
    loop {
        let (consumed, produced) = (compress.total_in(), compress.total_out());
        let input = &bytes[consumed as usize..];
        match compress.compress_vec(input, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => break,
            Ok(_) if out.len() == out.capacity() => return None,
            Ok(_) if compress.total_in() == consumed && compress.total_out() == produced => {
                return None;
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    (out.len() < bytes.len()).then_some(out)
}

/// Sizes at which the writer switches to zip64 records; lowered in tests so
/// zip64 can be exercised without gigabytes of data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Zip64Thresholds {
    /// Largest size or offset written in a 32-bit field.
    pub(crate) max_u32: u64,
    /// Largest entry count written in a 16-bit field.
    pub(crate) max_u16: u64,
}

impl Default for Zip64Thresholds {
    fn default() -> Self {
        Zip64Thresholds {
            max_u32: MAX_U32_FIELD,
            max_u16: MAX_U16_FIELD,
        }
    }
}

/// Writes entries to `W` in the order given and returns `W` on finish.
///
/// Offsets are tracked by counting bytes, so `W` needs only [`Write`]: a
/// file, a socket, or a [`HashingWriter`](super::HashingWriter) that computes the digest on the
/// way. Wrap unbuffered writers in a [`std::io::BufWriter`].
pub struct DeterministicZipWriter<W: Write> {
    out: W,
    offset: u64,
    central: Vec<u8>,
    count: u64,
    names: NameSet,
    thresholds: Zip64Thresholds,
}

impl<W: Write> DeterministicZipWriter<W> {
    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        Self::with_thresholds(out, Zip64Thresholds::default())
    }

    pub(crate) fn with_thresholds(out: W, thresholds: Zip64Thresholds) -> Self {
        DeterministicZipWriter {
            out,
            offset: 0,
            central: Vec::new(),
            count: 0,
            names: NameSet::default(),
            thresholds,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Entries added so far.
    pub fn entry_count(&self) -> u64 {
        self.count
    }

    /// Appends one entry.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`], writing nothing, when the
    /// name is one the strict reader would reject (`..`, absolute, empty
    /// segment, backslash…), repeats an earlier name, or is both a file and
    /// a directory of another entry; or when a stored entry's data length
    /// differs from its size.
    pub fn add(&mut self, entry: &CompressedEntry) -> io::Result<()> {
        if let Some(reason) = unsafe_name_reason(&entry.name) {
            return Err(invalid_input(format!(
                "entry name {:?} {reason}",
                entry.name
            )));
        }
        if !entry.deflated && entry.data.len() as u64 != entry.size {
            return Err(invalid_input(format!(
                "stored entry {:?} has {} bytes of data for a size of {}",
                entry.name,
                entry.data.len(),
                entry.size
            )));
        }
        match self.names.insert(&entry.name, false) {
            Ok(()) => {}
            Err(NameClash::Duplicate) => {
                return Err(invalid_input(format!("duplicate entry {:?}", entry.name)));
            }
            Err(NameClash::FileAndDirectory(dir)) => {
                return Err(invalid_input(format!(
                    "entry {:?} clashes with {dir:?}, which is both a file and a directory",
                    entry.name
                )));
            }
        }

        let name = entry.name.as_bytes();
        let size = entry.size;
        let compressed_size = entry.data.len() as u64;
        let max = self.thresholds.max_u32;
        let local_zip64 = size > max || compressed_size > max;
        let offset_zip64 = self.offset > max;
        let version = if local_zip64 || offset_zip64 {
            VERSION_ZIP64
        } else {
            VERSION_DEFAULT
        };
        let flags = if name.is_ascii() { 0 } else { FLAG_UTF8 };
        let method = if entry.deflated {
            METHOD_DEFLATE
        } else {
            METHOD_STORED
        };
        let mode = if entry.executable { 0o755 } else { 0o644 };
        let external_attributes = (S_IFREG | mode) << 16;

        // Local header: both sizes go to the zip64 extra field when either
        // is too large (APPNOTE 4.5.3).
        let mut local = Vec::with_capacity(LOCAL_HEADER_LEN as usize + name.len() + 20);
        put_u32(&mut local, LOCAL_HEADER_SIG);
        put_u16(&mut local, version);
        put_u16(&mut local, flags);
        put_u16(&mut local, method);
        put_u16(&mut local, DOS_TIME_MIDNIGHT);
        put_u16(&mut local, DOS_DATE_1980);
        put_u32(&mut local, entry.crc32);
        if local_zip64 {
            put_u32(&mut local, u32::MAX);
            put_u32(&mut local, u32::MAX);
        } else {
            put_u32(&mut local, compressed_size as u32);
            put_u32(&mut local, size as u32);
        }
        put_u16(&mut local, name.len() as u16);
        put_u16(&mut local, if local_zip64 { 20 } else { 0 });
        local.extend_from_slice(name);
        if local_zip64 {
            put_u16(&mut local, ZIP64_EXTRA_ID);
            put_u16(&mut local, 16);
            put_u64(&mut local, size);
            put_u64(&mut local, compressed_size);
        }

        // Central header: only the fields that do not fit go to the zip64
        // extra field, in the order the spec fixes.
        let mut zip64_extra = Vec::new();
        if size > max {
            put_u64(&mut zip64_extra, size);
        }
        if compressed_size > max {
            put_u64(&mut zip64_extra, compressed_size);
        }
        if offset_zip64 {
            put_u64(&mut zip64_extra, self.offset);
        }
        let field32 = |value: u64| if value > max { u32::MAX } else { value as u32 };
        let central = &mut self.central;
        put_u32(central, CENTRAL_HEADER_SIG);
        put_u16(central, (u16::from(HOST_UNIX) << 8) | version);
        put_u16(central, version);
        put_u16(central, flags);
        put_u16(central, method);
        put_u16(central, DOS_TIME_MIDNIGHT);
        put_u16(central, DOS_DATE_1980);
        put_u32(central, entry.crc32);
        put_u32(central, field32(compressed_size));
        put_u32(central, field32(size));
        put_u16(central, name.len() as u16);
        put_u16(
            central,
            if zip64_extra.is_empty() {
                0
            } else {
                4 + zip64_extra.len() as u16
            },
        );
        put_u16(central, 0); // comment length
        put_u16(central, 0); // disk number start
        put_u16(central, 0); // internal attributes
        put_u32(central, external_attributes);
        put_u32(central, field32(self.offset));
        central.extend_from_slice(name);
        if !zip64_extra.is_empty() {
            put_u16(central, ZIP64_EXTRA_ID);
            put_u16(central, zip64_extra.len() as u16);
            central.extend_from_slice(&zip64_extra);
        }

        self.out.write_all(&local)?;
        self.out.write_all(&entry.data)?;
        self.offset += local.len() as u64 + compressed_size;
        self.count += 1;
        Ok(())
    }

    /// Writes the central directory and the end records, flushes, and
    /// returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.finish_with_len().map(|(out, _)| out)
    }

    /// [`DeterministicZipWriter::finish`], also returning the length of the
    /// whole archive.
    pub fn finish_with_len(mut self) -> io::Result<(W, u64)> {
        let cd_offset = self.offset;
        let cd_size = self.central.len() as u64;
        self.out.write_all(&self.central)?;
        let mut end = Vec::with_capacity(98);
        let (max32, max16) = (self.thresholds.max_u32, self.thresholds.max_u16);
        let zip64 = self.count > max16 || cd_size > max32 || cd_offset > max32;
        if zip64 {
            let record_offset = cd_offset + cd_size;
            put_u32(&mut end, ZIP64_EOCD_SIG);
            put_u64(&mut end, ZIP64_EOCD_LEN - 12);
            put_u16(&mut end, (u16::from(HOST_UNIX) << 8) | VERSION_ZIP64);
            put_u16(&mut end, VERSION_ZIP64);
            put_u32(&mut end, 0); // this disk
            put_u32(&mut end, 0); // disk with the central directory
            put_u64(&mut end, self.count);
            put_u64(&mut end, self.count);
            put_u64(&mut end, cd_size);
            put_u64(&mut end, cd_offset);
            put_u32(&mut end, ZIP64_LOCATOR_SIG);
            put_u32(&mut end, 0); // disk with the zip64 end record
            put_u64(&mut end, record_offset);
            put_u32(&mut end, 1); // total disks
        }
        let count16 = if self.count > max16 {
            u16::MAX
        } else {
            self.count as u16
        };
        let field32 = |value: u64| {
            if value > max32 {
                u32::MAX
            } else {
                value as u32
            }
        };
        put_u32(&mut end, EOCD_SIG);
        put_u16(&mut end, 0); // this disk
        put_u16(&mut end, 0); // disk with the central directory
        put_u16(&mut end, count16);
        put_u16(&mut end, count16);
        put_u32(&mut end, field32(cd_size));
        put_u32(&mut end, field32(cd_offset));
        put_u16(&mut end, 0); // comment length
        self.out.write_all(&end)?;
        self.offset += cd_size + end.len() as u64;
        self.out.flush()?;
        Ok((self.out, self.offset))
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}
