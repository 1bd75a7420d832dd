//! A writer that computes the sha256 and the length of everything written
//! through it, so an archive's digest comes for free while it is written.

use std::fmt;
use std::io::{self, Write};

use sha2::{Digest, Sha256};

/// The sha256 and length of a byte stream (a `.qz`'s identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArchiveDigest {
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// Number of bytes.
    pub len: u64,
}

impl ArchiveDigest {
    /// The sha256 as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.sha256 {
            out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
        }
        out
    }

    /// The digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        ArchiveDigest {
            sha256: Sha256::digest(bytes).into(),
            len: bytes.len() as u64,
        }
    }

    /// The digest of everything `reader` yields (a bundle file a client is about to send).
    pub fn of_reader(mut reader: impl io::Read) -> io::Result<Self> {
        let mut hashing = HashingWriter::new(io::sink());
        io::copy(&mut reader, &mut hashing)?;
        Ok(hashing.finish().1)
    }
}

impl fmt::Display for ArchiveDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Tees everything written into a sha256 hasher and a byte count.
///
/// ```
/// use std::io::Write;
/// use q8s_core::archive::{ArchiveDigest, HashingWriter};
///
/// let mut w = HashingWriter::new(Vec::new());
/// w.write_all(b"abc").unwrap();
/// let (bytes, digest) = w.finish();
/// assert_eq!(digest, ArchiveDigest::of(&bytes));
/// assert!(digest.hex().starts_with("ba7816bf"));
/// ```
///
/// Over [`std::io::sink`] it computes a digest without keeping the bytes.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// A writer passing everything on to `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The inner writer and the digest of everything written.
    pub fn finish(self) -> (W, ArchiveDigest) {
        let digest = ArchiveDigest {
            sha256: self.hasher.finalize().into(),
            len: self.len,
        };
        (self.inner, digest)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most 3 bytes per call.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn hashes_exactly_what_the_inner_writer_took() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut w = HashingWriter::new(Trickle(Vec::new()));
        w.write_all(&data).unwrap();
        assert_eq!(w.len(), 1000);
        let (inner, digest) = w.finish();
        assert_eq!(inner.0, data);
        assert_eq!(digest, ArchiveDigest::of(&data));
    }

    #[test]
    fn a_reader_hashes_as_its_bytes_do() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 13) as u8).collect();
        let digest = ArchiveDigest::of_reader(&data[..]).unwrap();
        assert_eq!(digest, ArchiveDigest::of(&data));
    }

    #[test]
    fn known_vector() {
        let digest = ArchiveDigest::of(b"");
        assert_eq!(
            digest.to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(digest.len, 0);
    }
}
