//! Byte-level tests of the writer's layout, zip64 (with lowered thresholds,
//! so no gigabytes are needed) and the compression choices.

use std::io::Cursor;
use std::process::Command;

use super::writer::Zip64Thresholds;
use super::*;

fn archive(entries: &[CompressedEntry], thresholds: Zip64Thresholds) -> Vec<u8> {
    let mut zip = DeterministicZipWriter::with_thresholds(Vec::new(), thresholds);
    for entry in entries {
        zip.add(entry).unwrap();
    }
    zip.finish().unwrap()
}

#[test]
fn exact_layout_of_a_one_entry_archive() {
    let bytes = archive(
        &[compress_entry("a", b"hi", true)],
        Zip64Thresholds::default(),
    );
    let crc = crc32fast::hash(b"hi").to_le_bytes();
    let mut expected = Vec::new();
    // Local header: version 20, no flags, stored, 00:00:00 1980-01-01.
    expected.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00");
    expected.extend_from_slice(&crc);
    expected.extend_from_slice(b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00ahi");
    // Central header: made by Unix 2.0, mode 0100755, offset 0.
    expected.extend_from_slice(b"PK\x01\x02\x14\x03\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00");
    expected.extend_from_slice(&crc);
    expected.extend_from_slice(b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00");
    expected.extend_from_slice(&[0; 8]);
    expected.extend_from_slice(&(0o100755u32 << 16).to_le_bytes());
    expected.extend_from_slice(b"\x00\x00\x00\x00a");
    // End record: 1 entry, central directory of 47 bytes at 33.
    expected.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    expected.extend_from_slice(b"\x2f\x00\x00\x00\x21\x00\x00\x00\x00\x00");
    assert_eq!(bytes, expected);
}

#[test]
fn utf8_flag_only_for_non_ascii_names() {
    let bytes = archive(
        &[
            compress_entry("ascii", b"", false),
            compress_entry("é", b"", false),
        ],
        Zip64Thresholds::default(),
    );
    // Flags of the two local headers.
    assert_eq!(&bytes[6..8], &[0, 0]);
    let second = 30 + 5;
    assert_eq!(&bytes[second..second + 4], b"PK\x03\x04");
    assert_eq!(&bytes[second + 6..second + 8], &0x0800u16.to_le_bytes());
}

#[test]
fn compression_choices() {
    let text = b"hello world, hello world, hello world\n".repeat(100);
    let deflated = compress_entry("a.txt", &text, false);
    assert!(deflated.deflated && deflated.data.len() < text.len());
    assert_eq!(deflated.size, text.len() as u64);
    assert_eq!(deflated.crc32, crc32fast::hash(&text));
    // The same text under an already-compressed format's name is stored.
    for name in ["a.PNG", "w.whl", "x.tar.gz", "f.woff2"] {
        let stored = compress_entry(name, &text, false);
        assert!(!stored.deflated && stored.data == text, "{name}");
    }
    // Deflate does not shrink tiny or random data: stored.
    assert!(!compress_entry("tiny.txt", b"ab", false).deflated);
    let mut x = 1u32;
    let random: Vec<u8> = (0..10_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let stored = compress_entry("r.bin", &random, false);
    assert!(!stored.deflated && stored.data == random);
    assert!(!compress_entry("empty.txt", b"", false).deflated);
    assert_eq!(compress_entry_owned("a.txt", text.clone(), false), deflated);
}

#[test]
fn known_digest() {
    // Pins the exact output, deflate included: if the deflate backend
    // (flate2's `zlib-rs`, chosen in the workspace Cargo.toml) is switched or
    // changes its level-6 output, bundles stop being reproducible across
    // versions, and this test says so.
    let mut zip = DeterministicZipWriter::new(HashingWriter::new(std::io::sink()));
    zip.add(&compress_entry(
        "app.py",
        &b"from h2o_wave import main, app, Q, ui\n".repeat(50),
        false,
    ))
    .unwrap();
    zip.add(&compress_entry(
        "static/icon.png",
        b"\x89PNG\r\n\x1a\n",
        false,
    ))
    .unwrap();
    let (_, digest) = zip.finish().unwrap().finish();
    assert_eq!(digest.len, 287);
    assert_eq!(
        digest.hex(),
        "17a394738c4b561d13341443e321a365aeaa3593789b6321437b1e67c63b91cc"
    );
}

fn zip64_sample() -> Vec<CompressedEntry> {
    vec![
        compress_entry("big.txt", &b"zip64 ".repeat(100), false),
        compress_entry("raw.png", &[9u8; 300], true),
        compress_entry("small", b"s", false),
        compress_entry("é/late.txt", &b"late ".repeat(50), false),
    ]
}

const TINY: Zip64Thresholds = Zip64Thresholds {
    max_u32: 100,
    max_u16: 2,
};

#[test]
fn zip64_records_when_thresholds_are_crossed() {
    let entries = zip64_sample();
    let bytes = archive(&entries, TINY);
    // The zip64 end record and locator sit before the end record, whose
    // count and offset fields are set to "see zip64".
    let end = bytes.len() - 22;
    assert_eq!(&bytes[end..end + 4], b"PK\x05\x06");
    assert_eq!(&bytes[end + 8..end + 12], b"\xff\xff\xff\xff");
    assert_eq!(&bytes[end - 20..end - 16], b"PK\x06\x07");
    assert_eq!(&bytes[end - 76..end - 72], b"PK\x06\x06");
    // The first local header carries both sizes in a zip64 extra field.
    assert_eq!(&bytes[18..26], &[0xff; 8]);
    assert_eq!(&bytes[28..30], &20u16.to_le_bytes());

    let mut qz = QzReader::open(Cursor::new(bytes.clone()), Limits::default()).unwrap();
    assert_eq!(qz.entries().len(), 4);
    assert!(qz.entries()[1].executable);
    for entry in &entries {
        let back = qz.read(&entry.name).unwrap();
        assert_eq!(crc32fast::hash(&back), entry.crc32);
        assert_eq!(back.len() as u64, entry.size);
    }
    // Without zip64 the same entries give a smaller, different archive.
    let plain = archive(&entries, Zip64Thresholds::default());
    assert!(plain.len() < bytes.len());
    QzReader::open(Cursor::new(plain), Limits::default())
        .unwrap()
        .verify()
        .unwrap();
}

#[test]
fn python_reads_our_zip64_records() {
    let bytes = archive(&zip64_sample(), TINY);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z64.zip");
    std::fs::write(&path, &bytes).unwrap();
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  print(','.join(f'{i.filename}:{i.file_size}:{len(z.read(i))}' for i in z.infolist()))";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "big.txt:600:600,raw.png:300:300,small:1:1,é/late.txt:250:250"
    );
}

#[test]
fn writer_refuses_what_the_reader_rejects() {
    let mut zip = DeterministicZipWriter::new(Vec::new());
    for name in ["", "../x", "/x", "a//b", "a\\b", "C:/x", "a/"] {
        let err = zip.add(&compress_entry(name, b"x", false)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{name:?}");
    }
    zip.add(&compress_entry("a/b", b"x", false)).unwrap();
    assert!(zip.add(&compress_entry("a", b"x", false)).is_err());
    assert!(zip.add(&compress_entry("a/b", b"x", false)).is_err());
    let mut lie = compress_entry("c", b"abc", false);
    lie.size = 2;
    assert!(zip.add(&lie).is_err());
    assert_eq!(zip.entry_count(), 1);
    let bytes = zip.finish().unwrap();
    let qz = QzReader::open(Cursor::new(bytes), Limits::default()).unwrap();
    assert_eq!(qz.entries().len(), 1);
}
