//! Arbitrary file sets written by the deterministic writer read back
//! unchanged through the strict reader, and writing is repeatable.
#![no_main]

use std::collections::BTreeMap;
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use q8s_core::archive::{DeterministicZipWriter, Limits, QzReader, compress_entry};

fuzz_target!(|data: &[u8]| {
    // Input: records of [flags, name_len, name..., content_len_lo, content_len_hi, content...].
    let mut files = BTreeMap::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let (flags, name_len) = (rest[0], usize::from(rest[1] % 24));
        rest = &rest[2..];
        let Some(name) = rest.get(..name_len) else {
            break;
        };
        rest = &rest[name_len..];
        let Some(len) = rest.get(..2) else { break };
        let len = usize::from(u16::from_le_bytes([len[0], len[1]])).min(rest.len() - 2);
        let content = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let name = String::from_utf8_lossy(name).into_owned();
        files.insert(name, (content.to_vec(), flags & 1 == 1));
    }
    let write = || {
        let mut zip = DeterministicZipWriter::new(Vec::new());
        let mut written = BTreeMap::new();
        for (name, (content, executable)) in &files {
            // The writer refuses unsafe names and clashes; keep the rest.
            if zip.add(&compress_entry(name, content, *executable)).is_ok() {
                written.insert(name.clone(), (content.clone(), *executable));
            }
        }
        (zip.finish().unwrap(), written)
    };
    let (bytes, written) = write();
    assert_eq!(bytes, write().0, "the same files give the same bytes");
    let mut reader = QzReader::open(Cursor::new(bytes), Limits::default())
        .expect("the reader accepts what the writer wrote");
    let mut back = BTreeMap::new();
    reader
        .read_all(|entry, content| {
            back.insert(entry.name.clone(), (content, entry.executable));
        })
        .expect("every entry reads back");
    assert_eq!(back, written);
});
