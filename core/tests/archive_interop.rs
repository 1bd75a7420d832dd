//! Other zip implementations agree with ours: Python's `zipfile` and Info-ZIP
//! `unzip` read our archives to the same bytes and modes, and our reader
//! accepts what Python and Info-ZIP `zip` write (directory entries, extra
//! fields, data descriptors).

// `cargo test archive` selects these tests by their module path.
mod archive {
    use std::collections::BTreeMap;
    use std::fs;
    use std::io::Cursor;
    use std::path::Path;
    use std::process::Command;

    use q8s_core::archive::{DeterministicZipWriter, Limits, QzReader, compress_entry};

    fn have(tool: &str) -> bool {
        Command::new(tool)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success() || !o.stdout.is_empty())
    }

    /// name → (content, executable)
    fn sample() -> BTreeMap<String, (Vec<u8>, bool)> {
        let mut noise = 7u64;
        let random: Vec<u8> = (0..50_000)
            .map(|_| {
                noise = noise.wrapping_mul(6364136223846793005).wrapping_add(1);
                (noise >> 33) as u8
            })
            .collect();
        let mut files = BTreeMap::new();
        files.insert(
            "app.py".into(),
            (b"from h2o_wave import main\n".repeat(300), false),
        );
        files.insert("bin/start".into(), (b"#!/bin/sh\necho hi\n".to_vec(), true));
        files.insert("data/random.bin".into(), (random, false));
        files.insert("empty.txt".into(), (Vec::new(), false));
        files.insert(
            "static/icon.png".into(),
            (b"\x89PNG\r\n\x1a\nnot really".to_vec(), false),
        );
        files.insert(
            "ünïcödé/日本語.txt".into(),
            ("héllo wörld ".repeat(100).into_bytes(), false),
        );
        files
    }

    fn write_sample(path: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
        let files = sample();
        let mut zip = DeterministicZipWriter::new(Vec::new());
        for (name, (content, executable)) in &files {
            zip.add(&compress_entry(name, content, *executable))
                .unwrap();
        }
        fs::write(path, zip.finish().unwrap()).unwrap();
        files
    }

    const PYTHON_LIST: &str = r#"
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    out = {}
    for info in z.infolist():
        data = z.read(info)
        out[info.filename] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "mode": (info.external_attr >> 16),
            "date": list(info.date_time),
            "utf8": bool(info.flag_bits & 0x800),
            "extra": len(info.extra),
        }
    print(json.dumps(out))
"#;

    #[test]
    fn python_zipfile_reads_our_archives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.qz");
        let files = write_sample(&path);
        let output = Command::new("python3")
            .args(["-c", PYTHON_LIST])
            .arg(&path)
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let listed = listed.as_object().unwrap();
        assert_eq!(listed.len(), files.len());
        for (name, (content, executable)) in &files {
            let info = &listed[name];
            let digest = q8s_core::archive::ArchiveDigest::of(content).hex();
            assert_eq!(info["sha256"], digest.as_str(), "{name}");
            let mode = if *executable { 0o100755 } else { 0o100644 };
            assert_eq!(info["mode"], mode, "{name}");
            assert_eq!(info["date"], serde_json::json!([1980, 1, 1, 0, 0, 0]));
            assert_eq!(info["utf8"], !name.is_ascii(), "{name}");
            assert_eq!(info["extra"], 0);
        }
    }

    #[test]
    fn unzip_tests_and_extracts_our_archives() {
        if !have("unzip") {
            eprintln!("unzip is not installed; skipped");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.qz");
        let files = write_sample(&path);
        let test = Command::new("unzip").arg("-t").arg(&path).output().unwrap();
        let stdout = String::from_utf8_lossy(&test.stdout);
        assert!(test.status.success(), "{stdout}");
        assert!(stdout.contains("No errors detected"), "{stdout}");
        let out = dir.path().join("out");
        let extract = Command::new("unzip")
            .arg("-q")
            .arg(&path)
            .arg("-d")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            extract.status.success(),
            "{}",
            String::from_utf8_lossy(&extract.stderr)
        );
        for (name, (content, executable)) in &files {
            let file = out.join(name);
            assert_eq!(&fs::read(&file).unwrap(), content, "{name}");
            let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o111;
            assert_eq!(mode != 0, *executable, "{name}");
        }
    }

    fn read_back(path: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
        let bytes = fs::read(path).unwrap();
        let mut qz = QzReader::open(Cursor::new(bytes), Limits::default()).unwrap();
        let mut back = BTreeMap::new();
        qz.read_all(|entry, bytes| {
            back.insert(entry.name.clone(), (bytes, entry.executable));
        })
        .unwrap();
        back
    }

    fn make_tree(root: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
        use std::os::unix::fs::PermissionsExt;
        let files = sample();
        for (name, (content, executable)) in &files {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, content).unwrap();
            let mode = if *executable { 0o755 } else { 0o644 };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        files
    }

    #[test]
    fn we_read_what_python_writes() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let files = make_tree(&tree);
        let zip = dir.path().join("py.zip");
        // shutil.make_archive stores directory entries; writestr to a
        // non-seekable stream uses data descriptors.
        let script = r#"
import io, os, shutil, sys, zipfile
shutil.make_archive(sys.argv[2][:-4], "zip", sys.argv[1])
class Pipe(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
with open(sys.argv[3], "wb") as raw:
    with zipfile.ZipFile(Pipe(raw), "w", zipfile.ZIP_DEFLATED) as z:
        for base, dirs, names in os.walk(sys.argv[1]):
            for n in names:
                p = os.path.join(base, n)
                z.write(p, os.path.relpath(p, sys.argv[1]))
"#;
        let streamed = dir.path().join("streamed.zip");
        let output = Command::new("python3")
            .args(["-c", script])
            .arg(&tree)
            .arg(&zip)
            .arg(&streamed)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(read_back(&zip), files);
        assert_eq!(read_back(&streamed), files);
    }

    #[test]
    fn we_read_what_info_zip_writes() {
        if !have("zip") {
            eprintln!("zip is not installed; skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let files = make_tree(&tree);
        let zip = dir.path().join("info.zip");
        let status = Command::new("zip")
            .current_dir(&tree)
            .args(["-q", "-r", "-6"])
            .arg(&zip)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(read_back(&zip), files);
        // Streamed to a pipe, zip writes data descriptors.
        let output = Command::new("sh")
            .current_dir(&tree)
            .arg("-c")
            .arg("zip -q -r - . | cat")
            .output()
            .unwrap();
        assert!(output.status.success());
        let piped = dir.path().join("piped.zip");
        fs::write(&piped, &output.stdout).unwrap();
        assert_eq!(read_back(&piped), files);
    }
}
