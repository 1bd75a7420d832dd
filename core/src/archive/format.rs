//! Zip record layouts (APPNOTE 6.3.10) shared by the writer and the reader:
//! signatures, fixed sizes and the values the deterministic writer uses.

/// Local file header signature (`PK\x03\x04`).
pub(crate) const LOCAL_HEADER_SIG: u32 = 0x0403_4b50;
/// Central directory file header signature (`PK\x01\x02`).
pub(crate) const CENTRAL_HEADER_SIG: u32 = 0x0201_4b50;
/// End of central directory record signature (`PK\x05\x06`).
pub(crate) const EOCD_SIG: u32 = 0x0605_4b50;
/// Zip64 end of central directory record signature (`PK\x06\x06`).
pub(crate) const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
/// Zip64 end of central directory locator signature (`PK\x06\x07`).
pub(crate) const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;

/// Fixed part of a local file header.
pub(crate) const LOCAL_HEADER_LEN: u64 = 30;
/// Fixed part of a central directory header.
pub(crate) const CENTRAL_HEADER_LEN: usize = 46;
/// End of central directory record without its comment.
pub(crate) const EOCD_LEN: u64 = 22;
/// Zip64 end of central directory record without extensible data.
pub(crate) const ZIP64_EOCD_LEN: u64 = 56;
/// Zip64 end of central directory locator.
pub(crate) const ZIP64_LOCATOR_LEN: u64 = 20;
/// Extra field id of the zip64 extended information.
pub(crate) const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Compression method: stored.
pub(crate) const METHOD_STORED: u16 = 0;
/// Compression method: deflate.
pub(crate) const METHOD_DEFLATE: u16 = 8;
/// Compression method: WinZip AES encryption.
pub(crate) const METHOD_AES: u16 = 99;

/// General purpose flag: the entry is encrypted.
pub(crate) const FLAG_ENCRYPTED: u16 = 1 << 0;
/// General purpose flag: sizes and CRC follow the data in a data descriptor.
pub(crate) const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// General purpose flag: strong encryption.
pub(crate) const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
/// General purpose flag: name and comment are UTF-8.
pub(crate) const FLAG_UTF8: u16 = 1 << 11;
/// General purpose flag: local header values masked (central directory encryption).
pub(crate) const FLAG_MASKED_HEADERS: u16 = 1 << 13;

/// "Version made by" high byte for Unix, whose external attributes carry a
/// `st_mode` in their upper 16 bits.
pub(crate) const HOST_UNIX: u8 = 3;
/// Spec version 2.0: deflate, stored.
pub(crate) const VERSION_DEFAULT: u16 = 20;
/// Spec version 4.5: zip64.
pub(crate) const VERSION_ZIP64: u16 = 45;

/// MS-DOS date of 1980-01-01 (year 0 since 1980, month 1, day 1).
pub(crate) const DOS_DATE_1980: u16 = 0x0021;
/// MS-DOS time 00:00:00.
pub(crate) const DOS_TIME_MIDNIGHT: u16 = 0;

/// `st_mode` file type mask.
pub(crate) const S_IFMT: u32 = 0o170_000;
/// `st_mode` type of a regular file.
pub(crate) const S_IFREG: u32 = 0o100_000;
/// `st_mode` type of a directory.
pub(crate) const S_IFDIR: u32 = 0o040_000;
/// `st_mode` type of a symbolic link.
pub(crate) const S_IFLNK: u32 = 0o120_000;

/// The largest value a 32-bit size or offset field holds before zip64 is
/// needed (`0xFFFFFFFF` itself means "see the zip64 record").
pub(crate) const MAX_U32_FIELD: u64 = 0xFFFF_FFFE;
/// The largest entry count the 16-bit field holds before zip64 is needed.
pub(crate) const MAX_U16_FIELD: u64 = 0xFFFE;

/// Little-endian field readers over a byte slice of known length.
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// Reads a little-endian `u32` at `at`.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads a little-endian `u64` at `at`.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// True for names the writer stores rather than deflates: formats that are
/// already compressed, judged by extension (ASCII case-insensitive).
pub(crate) fn is_precompressed_name(name: &str) -> bool {
    const STORED: [&str; 18] = [
        "png", "jpg", "jpeg", "gif", "webp", "whl", "zip", "gz", "tgz", "bz2", "xz", "zst", "7z",
        "mp3", "mp4", "woff", "woff2", "pdf",
    ];
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => STORED.iter().any(|s| s.eq_ignore_ascii_case(ext)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precompressed_by_extension_case_insensitive() {
        for name in [
            "a.png",
            "static/icon.PNG",
            "wheels/x-1.0-py3-none-any.whl",
            "d/e.tar.gz",
            "f.Woff2",
            "doc.pdf",
            "x.7z",
        ] {
            assert!(is_precompressed_name(name), "{name}");
        }
        for name in [
            "a.py",
            "png",
            ".png",
            "dir.png/readme",
            "a.pngx",
            "a.txt",
            "Makefile",
        ] {
            assert!(!is_precompressed_name(name), "{name}");
        }
    }
}
