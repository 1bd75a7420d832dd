//! A corpus of hostile archives, crafted byte by byte: each must be rejected
//! with the right code, and extraction must leave nothing on disk.

mod archive_support;

// `cargo test archive` selects these tests by their module path.
mod archive {

    use std::io::Cursor;
    use std::path::Path;

    use super::archive_support::{RawEntry, build, deflate};
    use q8s_core::archive::{
        ArchiveError, DeterministicZipWriter, Limits, QzReader, compress_entry,
    };

    fn open(bytes: Vec<u8>) -> Result<QzReader<Cursor<Vec<u8>>>, ArchiveError> {
        open_with(bytes, Limits::default())
    }

    fn open_with(
        bytes: Vec<u8>,
        limits: Limits,
    ) -> Result<QzReader<Cursor<Vec<u8>>>, ArchiveError> {
        QzReader::open(Cursor::new(bytes), limits)
    }

    /// Opens, verifies and extracts the archive, expecting a rejection with
    /// `code` for `path` at some stage, and nothing left on disk.
    fn assert_rejected(bytes: Vec<u8>, limits: Limits, code: &str, path: &str) {
        let codes = |err: &ArchiveError| -> Vec<(String, String)> {
            err.diagnostics()
                .iter()
                .map(|d| (d.code.clone(), d.path.clone()))
                .collect()
        };
        let want = (code.to_string(), path.to_string());
        match open_with(bytes.clone(), limits) {
            Err(err) => {
                assert!(codes(&err).contains(&want), "want {want:?}, got {err:?}");
            }
            Ok(mut reader) => {
                let err = reader.verify().expect_err("verify must reject");
                assert_eq!(codes(&err), std::slice::from_ref(&want), "verify");
                let err = reader
                    .read_all(|_, _| {})
                    .expect_err("read_all must reject");
                assert_eq!(codes(&err), std::slice::from_ref(&want), "read_all");

                let parent = tempfile::tempdir().unwrap();
                let dest = parent.path().join("app");
                let mut reader = open_with(bytes, limits).unwrap();
                let err = reader.extract_to(&dest).expect_err("extract must reject");
                assert_eq!(codes(&err), [want], "extract");
                assert_empty_dir(parent.path());
            }
        }
    }

    fn assert_empty_dir(dir: &Path) {
        let left: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    fn good() -> RawEntry {
        RawEntry::deflated("app.py", &b"print('hello')\n".repeat(50))
    }

    #[test]
    fn unsafe_paths() {
        for name in [
            &b"../x"[..],
            b"a/../../x",
            b"/abs",
            b"C:/x",
            b"c:x",
            b"a\\b",
            b"..\\x",
            b"a//b",
            b"./a",
            b"a\0b",
            b"",
        ] {
            let path = String::from_utf8_lossy(name).into_owned();
            let bytes = build(&[good(), RawEntry::stored(name, b"x")]);
            assert_rejected(bytes, Limits::default(), "unsafe-path", &path);
        }
        let bytes = build(&[RawEntry::stored(b"bad\xff\xfe.py", b"x")]);
        assert_rejected(
            bytes,
            Limits::default(),
            "unsafe-path",
            "bad\u{fffd}\u{fffd}.py",
        );
        // A directory entry is checked too.
        let bytes = build(&[RawEntry::stored("../d/", b"")]);
        assert_rejected(bytes, Limits::default(), "unsafe-path", "../d/");
    }

    #[test]
    fn symlink_and_special_entries() {
        let link = RawEntry::stored("link", b"/etc/passwd").with(|e| e.external = 0o120777 << 16);
        assert_rejected(
            build(&[good(), link]),
            Limits::default(),
            "symlink-entry",
            "link",
        );
        let fifo = RawEntry::stored("fifo", b"").with(|e| e.external = 0o010644 << 16);
        assert_rejected(build(&[fifo]), Limits::default(), "special-entry", "fifo");
        // The same mode bits from a non-Unix host mean nothing: accepted.
        let dos = RawEntry::stored("dos", b"x").with(|e| {
            e.external = 0o120777 << 16;
            e.made_by = 20;
        });
        open(build(&[dos])).unwrap().verify().unwrap();
    }

    #[test]
    fn duplicates_and_clashes() {
        let bytes = build(&[
            good(),
            RawEntry::stored("a", b"1"),
            RawEntry::stored("a", b"2"),
        ]);
        assert_rejected(bytes, Limits::default(), "duplicate-entry", "a");
        let bytes = build(&[RawEntry::stored("a", b"1"), RawEntry::stored("a/b", b"2")]);
        assert_rejected(bytes, Limits::default(), "path-conflict", "a/b");
        let bytes = build(&[RawEntry::stored("a/b", b"1"), RawEntry::stored("a", b"2")]);
        assert_rejected(bytes, Limits::default(), "path-conflict", "a");
        let bytes = build(&[RawEntry::stored("a", b"1"), RawEntry::stored("a/", b"")]);
        assert_rejected(bytes, Limits::default(), "path-conflict", "a/");
    }

    #[test]
    fn overlapping_entries() {
        // The classic overlap: b's local record lives inside a's stored data.
        let inner = RawEntry::stored("b", &[7u8; 64]);
        let outer = RawEntry::stored("a", &inner.local_record());
        let bytes = build(&[outer, inner.with(|e| e.at = Some(30 + 1))]);
        assert_rejected(bytes, Limits::default(), "overlapping-entries", "b");

        // Two central entries sharing one local record.
        let first = RawEntry::stored("same", b"data");
        let twin = RawEntry::stored("same", b"data").with(|e| e.at = Some(0));
        let mut bytes = build(&[first, twin]);
        // Rename the second central entry so only the overlap is wrong.
        let cd_name = bytes.len() - 22 - 4;
        bytes[cd_name..cd_name + 4].copy_from_slice(b"twin");
        let err = open(bytes).unwrap_err();
        let codes: Vec<_> = err.diagnostics().iter().map(|d| d.code.as_str()).collect();
        assert!(codes.contains(&"overlapping-entries"), "{err:?}");

        // An entry whose data runs into the central directory.
        let long = RawEntry::stored("long", b"data").with(|e| {
            e.compressed_size = 40;
            e.size = 40;
        });
        assert_rejected(
            build(&[long]),
            Limits::default(),
            "overlapping-entries",
            "long",
        );
        // A local header pointing into the central directory.
        let cd_offset = good().local_record().len() as u32;
        let inside = RawEntry::stored("inside", b"x").with(|e| e.at = Some(cd_offset + 4));
        assert_rejected(
            build(&[good(), inside]),
            Limits::default(),
            "overlapping-entries",
            "inside",
        );
        // One pointing into another entry's header is caught too.
        let astray = RawEntry::stored("astray", b"x").with(|e| e.at = Some(1));
        assert_rejected(
            build(&[good(), astray]),
            Limits::default(),
            "corrupt-archive",
            "astray",
        );
    }

    #[test]
    fn size_and_crc_lies() {
        let content = b"hello hello hello hello hello hello".repeat(20);
        let smaller = RawEntry::deflated("smaller", &content).with(|e| e.size = 100);
        assert_rejected(
            build(&[good(), smaller]),
            Limits::default(),
            "size-mismatch",
            "smaller",
        );
        let larger = RawEntry::deflated("larger", &content).with(|e| e.size += 1);
        assert_rejected(
            build(&[good(), larger]),
            Limits::default(),
            "size-mismatch",
            "larger",
        );
        let crc = RawEntry::deflated("crc", &content).with(|e| e.crc32 ^= 1);
        assert_rejected(
            build(&[good(), crc]),
            Limits::default(),
            "crc-mismatch",
            "crc",
        );
        let stored_crc = RawEntry::stored("stored", &content).with(|e| e.crc32 ^= 1);
        assert_rejected(
            build(&[good(), stored_crc]),
            Limits::default(),
            "crc-mismatch",
            "stored",
        );
        let stored_sizes = RawEntry::stored("stored", &content).with(|e| e.size -= 1);
        assert_rejected(
            build(&[stored_sizes]),
            Limits::default(),
            "size-mismatch",
            "stored",
        );
        // A deflate stream with bytes after its end.
        let trailing = RawEntry::deflated("trailing", &content).with(|e| {
            e.data.extend_from_slice(b"junk");
            e.compressed_size += 4;
        });
        assert_rejected(
            build(&[good(), trailing]),
            Limits::default(),
            "corrupt-archive",
            "trailing",
        );
        // A deflate stream cut short.
        let cut = RawEntry::deflated("cut", &content).with(|e| {
            e.data.truncate(e.data.len() / 2);
            e.compressed_size = e.data.len() as u32;
        });
        assert_rejected(
            build(&[good(), cut]),
            Limits::default(),
            "corrupt-archive",
            "cut",
        );
        // Garbage where deflate data should be.
        let garbage = RawEntry::stored("garbage", &[0xff; 64]).with(|e| e.method = 8);
        assert_rejected(
            build(&[good(), garbage]),
            Limits::default(),
            "corrupt-archive",
            "garbage",
        );
    }

    #[test]
    fn zip_bombs() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = RawEntry::deflated("bomb", &zeros);
        assert!(
            bomb.size as u64 > 1000 * bomb.compressed_size as u64,
            "ratio {}",
            bomb.size / bomb.compressed_size
        );
        assert_rejected(
            build(&[good(), bomb.clone()]),
            Limits::default(),
            "zip-bomb",
            "bomb",
        );
        // Declaring a small size does not help: the real size is counted.
        let liar = bomb.clone().with(|e| e.size = e.compressed_size);
        assert_rejected(
            build(&[good(), liar]),
            Limits::default(),
            "size-mismatch",
            "bomb",
        );
        // A lower ratio limit catches a milder one.
        let mild = RawEntry::deflated("mild", &vec![b'a'; 100_000]);
        let limits = Limits {
            max_ratio: 10,
            ..Limits::default()
        };
        assert_rejected(build(&[mild]), limits, "zip-bomb", "mild");
        // Nothing inflates from nothing.
        let empty = RawEntry::stored("empty", b"").with(|e| {
            e.method = 8;
            e.size = 5;
        });
        assert_rejected(build(&[empty]), Limits::default(), "zip-bomb", "empty");
    }

    #[test]
    fn entry_and_size_limits() {
        let entries: Vec<_> = (0..5)
            .map(|i| RawEntry::stored(format!("f{i}"), &[i as u8; 40]))
            .collect();
        let bytes = build(&entries);
        let few = Limits {
            max_entries: 4,
            ..Limits::default()
        };
        assert_rejected(bytes.clone(), few, "too-many-entries", "");
        open_with(
            bytes.clone(),
            Limits {
                max_entries: 5,
                ..few
            },
        )
        .unwrap();
        let small = Limits {
            max_total_size: 199,
            ..Limits::default()
        };
        assert_rejected(bytes.clone(), small, "too-large", "");
        let mut exact = open_with(
            bytes,
            Limits {
                max_total_size: 200,
                ..small
            },
        )
        .unwrap();
        assert_eq!(exact.verify().unwrap(), 200);
    }

    #[test]
    fn encryption_and_methods() {
        let encrypted = RawEntry::stored("secret", b"x").with(|e| e.flags = 1);
        assert_rejected(
            build(&[good(), encrypted]),
            Limits::default(),
            "encrypted-entry",
            "secret",
        );
        let aes = RawEntry::stored("aes", b"x").with(|e| e.method = 99);
        assert_rejected(build(&[aes]), Limits::default(), "encrypted-entry", "aes");
        let bzip2 = RawEntry::stored("bz", b"x").with(|e| e.method = 12);
        assert_rejected(
            build(&[bzip2]),
            Limits::default(),
            "unsupported-compression",
            "bz",
        );
    }

    #[test]
    fn local_header_must_agree() {
        let renamed =
            RawEntry::stored("good", b"x").with(|e| e.local_name = Some(b"evil".to_vec()));
        assert_rejected(
            build(&[renamed]),
            Limits::default(),
            "corrupt-archive",
            "good",
        );
    }

    #[test]
    fn every_finding_is_reported() {
        let bytes = build(&[
            RawEntry::stored("../x", b"1"),
            RawEntry::stored("ok", b"2"),
            RawEntry::stored("ok", b"3"),
            RawEntry::stored("l", b"4").with(|e| e.external = 0o120777 << 16),
        ]);
        let err = open(bytes).unwrap_err();
        let found: Vec<_> = err
            .diagnostics()
            .iter()
            .map(|d| (d.code.as_str(), d.path.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("unsafe-path", "../x"),
                ("duplicate-entry", "ok"),
                ("symlink-entry", "l")
            ]
        );
        assert_eq!(err.code(), "unsafe-path");
    }

    fn valid_archive() -> Vec<u8> {
        let mut zip = DeterministicZipWriter::new(Vec::new());
        zip.add(&compress_entry("a.py", &b"import os\n".repeat(100), false))
            .unwrap();
        zip.add(&compress_entry("b/c.png", &[1, 2, 3], false))
            .unwrap();
        zip.add(&compress_entry("run.sh", b"#!/bin/sh\n", true))
            .unwrap();
        zip.finish().unwrap()
    }

    #[test]
    fn truncated_and_garbage_files() {
        let bytes = valid_archive();
        for len in 0..bytes.len() {
            let err = match open(bytes[..len].to_vec()) {
                Err(err) => err,
                Ok(mut reader) => reader.verify().unwrap_err(),
            };
            assert_eq!(err.code(), "corrupt-archive", "cut at {len}: {err:?}");
        }
        // Bytes in front (as in self-extracting archives) shift every offset.
        let mut prefixed = b"MZ".to_vec();
        prefixed.extend_from_slice(&bytes);
        assert_eq!(open(prefixed).unwrap_err().code(), "corrupt-archive");
        // Bytes between the central directory and the end record.
        let mut gap = bytes.clone();
        gap.splice(bytes.len() - 22..bytes.len() - 22, *b"gap");
        assert_eq!(open(gap).unwrap_err().code(), "corrupt-archive");
        for garbage in [
            &b"PK\x05\x06"[..],
            &[0u8; 100],
            &[0xffu8; 22],
            b"not a zip at all",
        ] {
            assert_eq!(
                open(garbage.to_vec()).unwrap_err().code(),
                "corrupt-archive"
            );
        }
        // A flipped byte anywhere never panics and is caught where it matters.
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x55;
            if let Ok(mut reader) = open(flipped) {
                let _ = reader.verify();
            }
        }
    }

    #[test]
    fn ambiguous_end_records() {
        // A comment that ends with a second, fake end record.
        let mut bytes = valid_archive();
        let mut fake = b"PK\x05\x06".to_vec();
        fake.extend_from_slice(&[0; 18]);
        let len = bytes.len();
        bytes[len - 2..].copy_from_slice(&(fake.len() as u16 + 3).to_le_bytes());
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&fake);
        let err = open(bytes).unwrap_err();
        assert_eq!(err.code(), "corrupt-archive");
        assert!(err.to_string().contains("ambiguous"), "{err}");
        // A plain comment is fine.
        let mut commented = valid_archive();
        let len = commented.len();
        commented[len - 2..].copy_from_slice(&5u16.to_le_bytes());
        commented.extend_from_slice(b"hello");
        assert_eq!(open(commented).unwrap().entries().len(), 3);
    }

    #[test]
    fn long_and_deep_names_cost_little() {
        let long = "x".repeat(5000);
        let bytes = build(&[RawEntry::stored(&long, b"1")]);
        let err = open(bytes).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.code, "unsafe-path");
        assert!(d.path.len() < 4100 && d.path.ends_with('…'));
        // Many distinct paths of 2,000 segments each: checking them for
        // clashes must not build every prefix of every path.
        let deep = "a/".repeat(2000);
        let entries: Vec<_> = (0..300)
            .map(|i| RawEntry::stored(format!("{i}/{deep}f"), b""))
            .collect();
        let start = std::time::Instant::now();
        let qz = open(build(&entries)).unwrap();
        assert_eq!(qz.entries().len(), 300);
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    }

    #[test]
    fn directory_entries_are_accepted_and_ignored() {
        let bytes = build(&[
            RawEntry::stored("d/", b"").with(|e| e.external = (0o40755 << 16) | 0x10),
            RawEntry::stored("d/x.py", b"x = 1\n"),
            RawEntry::deflated("e/", b""),
        ]);
        let mut reader = open(bytes.clone()).unwrap();
        let names: Vec<_> = reader.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["d/x.py"]);
        assert_eq!(reader.verify().unwrap(), 6);
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("out");
        open(bytes).unwrap().extract_to(&dest).unwrap();
        assert!(dest.join("e").is_dir());
        assert_eq!(std::fs::read(dest.join("d/x.py")).unwrap(), b"x = 1\n");
        // A directory entry with content is not a directory.
        let full = RawEntry::stored("f/", b"data");
        assert_rejected(build(&[full]), Limits::default(), "corrupt-archive", "f/");
    }

    #[test]
    fn extraction_refuses_an_existing_destination() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("app");
        std::fs::create_dir(&dest).unwrap();
        let err = open(valid_archive())
            .unwrap()
            .extract_to(&dest)
            .unwrap_err();
        assert_eq!(err.code(), "io-error");
        assert!(std::fs::read_dir(&dest).unwrap().next().is_none());
        #[cfg(unix)]
        {
            let link = parent.path().join("link");
            std::os::unix::fs::symlink(parent.path().join("elsewhere"), &link).unwrap();
            let err = open(valid_archive())
                .unwrap()
                .extract_to(&link)
                .unwrap_err();
            assert_eq!(err.code(), "io-error");
            assert!(!parent.path().join("elsewhere").exists());
        }
    }

    #[test]
    fn deflate_helper_matches_writer_level() {
        let text = b"some text some text".repeat(10);
        assert_eq!(compress_entry("x.txt", &text, false).data, deflate(&text));
    }
}
