//! Writer → reader round trips: random file sets come back byte for byte,
//! the same files always give the same archive bytes, and the parallel
//! pipeline writes exactly what the sequential one does.

// `cargo test archive` selects these tests by their module path.
mod archive {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{self, Cursor};

    use proptest::prelude::*;
    use q8s_core::archive::{
        ArchiveDigest, DeterministicZipWriter, HashingWriter, Limits, QzReader, compress_entry,
        write_parallel, write_sequential,
    };

    /// name → (content, executable); a BTreeMap iterates in bytewise name order.
    type Files = BTreeMap<String, (Vec<u8>, bool)>;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9_-]{1,8}",
            "[a-zé ü日本-]{1,6}",
            "[a-z]{1,6}\\.(py|txt|PNG|whl|json|gz)",
        ]
    }

    fn content() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 0..3000),
            ("[a-z \n]{1,40}", 1..200usize).prop_map(|(s, n)| s.repeat(n).into_bytes()),
        ]
    }

    /// File sets where no file is also the directory of another.
    fn files() -> impl Strategy<Value = Files> {
        proptest::collection::vec(
            (
                proptest::collection::vec(segment(), 1..4),
                content(),
                any::<bool>(),
            ),
            1..24,
        )
        .prop_map(|raw| {
            let mut files = Files::new();
            let mut dirs = BTreeSet::new();
            for (segments, content, executable) in raw {
                let name = segments.join("/");
                let parents: Vec<String> = (1..segments.len())
                    .map(|n| segments[..n].join("/"))
                    .collect();
                if dirs.contains(&name)
                    || files.contains_key(&name)
                    || parents.iter().any(|p| files.contains_key(p))
                {
                    continue;
                }
                dirs.extend(parents);
                files.insert(name, (content, executable));
            }
            files
        })
    }

    fn write(files: &Files) -> Vec<u8> {
        let mut zip = DeterministicZipWriter::new(Vec::new());
        for (name, (content, executable)) in files {
            zip.add(&compress_entry(name, content, *executable))
                .unwrap();
        }
        zip.finish().unwrap()
    }

    fn list(files: &Files) -> Vec<(String, bool)> {
        files.iter().map(|(n, (_, x))| (n.clone(), *x)).collect()
    }

    fn reader(files: &Files) -> impl Fn(&str) -> io::Result<Vec<u8>> + Sync + '_ {
        |name| Ok(files[name].0.clone())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn files_come_back(files in files()) {
            let bytes = write(&files);
            prop_assert_eq!(&bytes, &write(&files), "writing twice gives the same bytes");

            let mut qz = QzReader::open(Cursor::new(bytes.clone()), Limits::default()).unwrap();
            let listed: Vec<_> = qz.entries().iter().map(|e| (e.name.clone(), e.executable)).collect();
            prop_assert_eq!(listed, list(&files));
            let mut back = Files::new();
            qz.read_all(|entry, bytes| {
                back.insert(entry.name.clone(), (bytes, entry.executable));
            })
            .unwrap();
            prop_assert_eq!(&back, &files);
            for (name, (content, _)) in &files {
                prop_assert_eq!(&qz.read(name).unwrap(), content);
            }

            let (parallel, stats) = write_parallel(&list(&files), reader(&files), Vec::new()).unwrap();
            prop_assert_eq!(&parallel, &bytes, "parallel == one entry at a time");
            prop_assert_eq!(stats.archive_bytes, bytes.len() as u64);
            prop_assert_eq!(stats.entries, files.len() as u64);
            let (sequential, _) = write_sequential(&list(&files), reader(&files), Vec::new()).unwrap();
            prop_assert_eq!(&sequential, &bytes);
        }
    }

    #[test]
    fn extraction_recreates_files_and_modes() {
        use std::os::unix::fs::PermissionsExt;
        let mut files = Files::new();
        files.insert("app.py".into(), (b"print(1)\n".repeat(40), false));
        files.insert("bin/run".into(), (b"#!/bin/sh\nexec true\n".to_vec(), true));
        files.insert("empty".into(), (Vec::new(), false));
        files.insert("日本/é.txt".into(), (b"unicode".to_vec(), false));
        files.insert(
            "static/icon.png".into(),
            (vec![0x89, b'P', b'N', b'G'], false),
        );
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("app");
        let mut qz = QzReader::open(Cursor::new(write(&files)), Limits::default()).unwrap();
        let total = qz.extract_to(&dest).unwrap();
        assert_eq!(
            total,
            files.values().map(|(c, _)| c.len() as u64).sum::<u64>()
        );
        for (name, (content, executable)) in &files {
            let path = dest.join(name);
            assert_eq!(&std::fs::read(&path).unwrap(), content, "{name}");
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, if *executable { 0o755 } else { 0o644 }, "{name}");
        }
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        let left: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the destination remains");
    }

    /// A tree like a real app's, big enough to cross several buffering windows.
    fn big_tree() -> Files {
        let mut files = Files::new();
        let mut state = 0x2545_f491_u32;
        let mut noise = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect()
        };
        for i in 0..400 {
            let text = format!("def f{i}(x):\n    return x * {i}\n").repeat(200 + i * 7);
            files.insert(
                format!("src/m{:03}/mod{i}.py", i % 37),
                (text.into_bytes(), i % 11 == 0),
            );
        }
        for i in 0..12 {
            files.insert(
                format!("wheels/w{i}-1.0-py3-none-any.whl"),
                (noise(3 << 20), false),
            );
        }
        files.insert("data/random.bin".into(), (noise(5 << 20), false));
        files
    }

    #[test]
    fn parallel_equals_sequential_on_a_large_tree() {
        let files = big_tree();
        let entries = list(&files);
        let (sequential, seq_stats) =
            write_sequential(&entries, reader(&files), HashingWriter::new(Vec::new())).unwrap();
        let (parallel, par_stats) =
            write_parallel(&entries, reader(&files), HashingWriter::new(Vec::new())).unwrap();
        let ((seq_bytes, seq_digest), (par_bytes, par_digest)) =
            (sequential.finish(), parallel.finish());
        assert_eq!(seq_digest, par_digest);
        assert_eq!(seq_bytes, par_bytes);
        assert_eq!(seq_digest, ArchiveDigest::of(&seq_bytes));
        assert_eq!(seq_stats, par_stats);
        assert_eq!(par_stats.deflated, 400);
        assert_eq!(par_stats.stored, 13, "wheels by name, random data by size");
        let mut qz = QzReader::open(Cursor::new(par_bytes), Limits::default()).unwrap();
        let mut seen = 0;
        qz.read_all(|entry, bytes| {
            assert_eq!(bytes, files[&entry.name].0);
            seen += 1;
        })
        .unwrap();
        assert_eq!(seen, files.len());
    }

    #[test]
    fn parallel_reports_the_first_read_error_and_rejects_bad_names() {
        let entries: Vec<_> = (0..200).map(|i| (format!("f{i:03}"), false)).collect();
        let err = write_parallel(
            &entries,
            |name| {
                if name == "f150" {
                    Err(io::Error::new(io::ErrorKind::PermissionDenied, "no"))
                } else {
                    Ok(name.as_bytes().repeat(1000))
                }
            },
            Vec::new(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let bad = [("../x".to_string(), false)];
        let err = write_parallel(&bad, |_| Ok(Vec::new()), Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let dup = [("a".to_string(), false), ("a".to_string(), false)];
        let err = write_sequential(&dup, |_| Ok(Vec::new()), Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn parallel_inside_a_one_thread_pool() {
        let files = big_tree();
        let entries: Vec<_> = list(&files).into_iter().take(60).collect();
        let (expected, _) = write_sequential(&entries, reader(&files), Vec::new()).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (bytes, _) = pool
            .install(|| write_parallel(&entries, reader(&files), Vec::new()))
            .unwrap();
        assert_eq!(bytes, expected);
    }

    #[test]
    #[should_panic(expected = "reader exploded")]
    fn a_panic_in_read_reaches_the_caller() {
        let entries: Vec<_> = (0..50).map(|i| (format!("f{i:02}"), false)).collect();
        let _ = write_parallel(
            &entries,
            |name| {
                if name == "f30" {
                    panic!("reader exploded");
                }
                Ok(vec![1; 10])
            },
            Vec::new(),
        );
    }
}
