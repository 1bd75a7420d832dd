//! Arbitrary bytes opened as an untrusted `.qz`: the reader must never
//! panic, never allocate beyond the limits, and whatever it accepts must
//! satisfy its own rules.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use q8s_core::archive::{Limits, QzReader};

/// Limits small enough that a slow input is a finding, not a timeout.
const LIMITS: Limits = Limits {
    max_entries: 1_000,
    max_total_size: 32 << 20,
    max_ratio: 1_000,
};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = QzReader::open(Cursor::new(data), LIMITS) else {
        return;
    };
    let entries = reader.entries().to_vec();
    assert!(entries.len() <= LIMITS.max_entries);
    for entry in &entries {
        let name = entry.name.as_str();
        assert!(!name.is_empty() && !name.starts_with('/'), "{name:?}");
        assert!(!name.contains('\\') && !name.contains('\0'), "{name:?}");
        assert!(
            name.split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".."),
            "{name:?}"
        );
        assert!(entry.size <= LIMITS.max_ratio * entry.compressed_size.max(1));
    }
    let mut total = 0u64;
    let all = reader.read_all(|entry, bytes| {
        assert_eq!(bytes.len() as u64, entry.size);
        total += entry.size;
    });
    if all.is_ok() {
        assert!(total <= LIMITS.max_total_size);
        // Every entry reads back alone to the same verdict.
        for entry in entries.iter().take(8) {
            let bytes = reader.read(&entry.name).expect("read after read_all");
            assert_eq!(bytes.len() as u64, entry.size);
        }
    }
});
