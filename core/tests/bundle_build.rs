//! Building bundles end to end: determinism across runs, mtimes and
//! checkout paths; the shared app-folder vectors; reading back what was
//! written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use q8s_core::archive::Limits;
use q8s_core::bundle::{self, BuildOptions, BundleError};
use q8s_core::select::MemTree;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn set_mtimes(dir: &Path, unix: i64) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            set_mtimes(&entry.path(), unix);
        } else if entry.file_type().unwrap().is_file() {
            let f = fs::File::options().write(true).open(entry.path()).unwrap();
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix as u64);
            f.set_modified(t).unwrap();
        }
    }
}

fn build(dir: &Path, out: &Path) -> (bundle::BundleInfo, Vec<u8>) {
    let (info, path) = bundle::build_dir(
        dir,
        &BuildOptions {
            output: Some(out.to_path_buf()),
        },
    )
    .unwrap_or_else(|e| panic!("bundling {}: {e:?}", dir.display()));
    (info, fs::read(path).unwrap())
}

#[test]
fn same_folder_gives_same_bytes_whatever_the_mtimes_and_path() {
    let hello = repo_root().join("examples/hello");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let app_a = a.path().join("checkout-one/hello");
    let app_b = b.path().join("somewhere/else/entirely");
    copy_tree(&hello, &app_a);
    copy_tree(&hello, &app_b);
    set_mtimes(&app_a, 1_000_000_000);
    set_mtimes(&app_b, 1_700_000_000);
    let (info_a, bytes_a) = build(&app_a, a.path());
    let (info_b, bytes_b) = build(&app_b, b.path());
    assert_eq!(bytes_a, bytes_b);
    assert_eq!(info_a.sha256, info_b.sha256);
    assert_eq!(info_a.file_name, "ai.h2o.q8s.hello.0.1.0.qz");
    assert!(
        info_a.diagnostics.is_empty(),
        "hello must have no warnings: {:?}",
        info_a.diagnostics
    );
}

#[test]
fn example_hello_reads_back_valid() {
    let out = tempfile::tempdir().unwrap();
    let (info, _) = build(&repo_root().join("examples/hello"), out.path());
    let report =
        bundle::inspect_file(&out.path().join(&info.file_name), Limits::default()).unwrap();
    assert!(report.is_valid(), "{:?}", report.content.diagnostics);
    assert!(report.content.diagnostics.is_empty());
    let names: Vec<&str> = report.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, info.files);
    assert_eq!(report.content.icon.as_deref(), Some("static/icon.png"));
}

/// Each folder under `tests/vectors/apps/` has `<name>.json` beside it (see
/// `tests/vectors/README.md`): the files the bundle must hold, the executable
/// ones, files that must stay out, the diagnostic codes and the sha256 every
/// surface must produce. `Q8S_BLESS=1` rewrites the sha256 fields.
#[test]
fn app_vectors() {
    let dir = repo_root().join("tests/vectors/apps");
    let bless = std::env::var_os("Q8S_BLESS").is_some();
    let mut checked = 0;
    let mut folders: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for path in folders {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let expected_path = path.with_extension("json");
        let text = fs::read_to_string(&expected_path).unwrap();
        let mut expected: serde_json::Value = serde_json::from_str(&text).unwrap();
        let strings = |key: &str| -> Vec<String> {
            serde_json::from_value(expected[key].clone())
                .unwrap_or_else(|e| panic!("{name}.{key}: {e}"))
        };

        for excluded in strings("excluded") {
            assert!(
                fs::symlink_metadata(path.join(&excluded)).is_ok(),
                "{name}: fixture {excluded} is missing on disk (did git drop it?)"
            );
        }
        let (selection, report) = bundle::check_dir(&path).unwrap();
        let files: Vec<String> = selection.files.iter().map(|f| f.path.clone()).collect();
        let executable: Vec<String> = selection
            .files
            .iter()
            .filter(|f| f.executable)
            .map(|f| f.path.clone())
            .collect();
        assert_eq!(files, strings("files"), "{name}: files");
        assert_eq!(executable, strings("executable"), "{name}: executable");
        for excluded in strings("excluded") {
            assert!(
                !files.contains(&excluded),
                "{name}: {excluded} must stay out"
            );
        }
        let mut codes: Vec<String> = report.diagnostics.iter().map(|d| d.code.clone()).collect();
        codes.sort();
        assert_eq!(
            codes,
            strings("diagnostics_codes"),
            "{name}: diagnostic codes"
        );
        // Some vectors pin every diagnostic, message and position included.
        if let Some(diagnostics) = expected.get("diagnostics") {
            assert_eq!(
                &serde_json::to_value(&report.diagnostics).unwrap(),
                diagnostics,
                "{name}: diagnostics"
            );
        }
        let valid = report.manifest.is_some();
        assert_eq!(serde_json::json!(valid), expected["valid"], "{name}: valid");

        let out = tempfile::tempdir().unwrap();
        let options = BuildOptions {
            output: Some(out.path().to_path_buf()),
        };
        let sha256 = match bundle::build_dir(&path, &options) {
            Ok((info, written)) => {
                assert!(valid, "{name}: an invalid folder must not bundle");
                assert_eq!(info.files, files, "{name}: archive entries");
                assert_eq!(fs::metadata(written).unwrap().len(), info.size);
                Some(info.sha256)
            }
            Err(BundleError::Invalid(_)) => {
                assert!(!valid, "{name}: a valid folder must bundle");
                assert_eq!(
                    fs::read_dir(out.path()).unwrap().count(),
                    0,
                    "{name}: nothing written"
                );
                None
            }
            Err(e) => panic!("{name}: {e}"),
        };
        if bless {
            expected["sha256"] = serde_json::json!(sha256);
            fs::write(&expected_path, with_sha256(&text, &expected["sha256"])).unwrap();
        }
        assert_eq!(
            serde_json::json!(sha256),
            expected["sha256"],
            "{name}: sha256"
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected at least 5 app vectors, found {checked}"
    );
}

/// `text` with the value of its `"sha256"` line replaced, every other line
/// (and the key order) kept as written.
fn with_sha256(text: &str, sha256: &serde_json::Value) -> String {
    text.lines()
        .map(|line| match line.split_once("\"sha256\":") {
            Some((indent, rest)) => {
                let comma = if rest.trim_end().ends_with(',') {
                    ","
                } else {
                    ""
                };
                format!("{indent}\"sha256\": {sha256}{comma}")
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn mem_app(extra: &BTreeMap<String, (Vec<u8>, bool)>) -> MemTree {
    let mut tree = MemTree::new();
    tree.add(
        "q-app.toml",
        b"[App]\nName = \"prop.app\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"main\"\n".to_vec(),
        false,
    )
    .unwrap();
    tree.add("main.py", b"print('hi')\n".to_vec(), false)
        .unwrap();
    tree.add("requirements.txt", b"h2o-wave==1.8.16\n".to_vec(), false)
        .unwrap();
    for (path, (bytes, exec)) in extra {
        tree.add(path, bytes.clone(), *exec).unwrap();
    }
    tree
}

fn file_strategy() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, bool)>> {
    let segment = "[a-zA-Z0-9_é][a-zA-Z0-9_.é-]{0,8}";
    let path = prop::collection::vec(segment, 1..4)
        .prop_map(|parts| format!("src/{}", parts.join("/")))
        .prop_filter("no ignored names", |p| {
            !p.ends_with(".pyc") && !p.contains("__pycache__") && !p.ends_with(".DS_Store")
        });
    let content = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2000),
        "[a-z \n]{0,3000}".prop_map(String::into_bytes),
    ];
    prop::collection::btree_map(path, (content, any::<bool>()), 0..12)
}

/// A path that is both a file and a folder prefix of another cannot exist
/// in a real tree; keep the deepest.
fn prune_prefixes(
    mut files: BTreeMap<String, (Vec<u8>, bool)>,
) -> BTreeMap<String, (Vec<u8>, bool)> {
    let keys: Vec<String> = files.keys().cloned().collect();
    for k in &keys {
        if keys.iter().any(|o| o.starts_with(&format!("{k}/"))) {
            files.remove(k);
        }
    }
    files
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bundling_is_deterministic_and_reads_back(files in file_strategy().prop_map(prune_prefixes)) {
        let tree = mem_app(&files);
        let (info1, bytes1) = bundle::build_tree(&tree, Vec::new()).unwrap();
        let (info2, bytes2) = bundle::build_tree(&tree, Vec::new()).unwrap();
        prop_assert_eq!(&bytes1, &bytes2);
        prop_assert_eq!(&info1.sha256, &info2.sha256);

        let mut reader = q8s_core::archive::QzReader::open(std::io::Cursor::new(&bytes1), Limits::default()).unwrap();
        let mut expected = files.clone();
        for base in ["q-app.toml", "main.py", "requirements.txt"] {
            expected.insert(base.to_string(), (tree_bytes(&tree, base), false));
        }
        let names: Vec<String> = reader.entries().iter().map(|e| e.name.clone()).collect();
        prop_assert_eq!(names, expected.keys().cloned().collect::<Vec<_>>());
        for (path, (bytes, exec)) in &expected {
            prop_assert_eq!(&reader.read(path).unwrap(), bytes);
            let entry = reader.entries().iter().find(|e| &e.name == path).unwrap();
            prop_assert_eq!(entry.executable, *exec);
        }
    }
}

fn tree_bytes(tree: &MemTree, path: &str) -> Vec<u8> {
    use q8s_core::select::Tree;
    tree.read(path).unwrap()
}

#[test]
fn nothing_is_written_for_an_invalid_app() {
    let app = tempfile::tempdir().unwrap();
    fs::write(
        app.path().join("q-app.toml"),
        "[App]\nName = \"x\"\nVersion = \"0.1\"\n[Runtime]\nModule = \"main\"\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = bundle::build_dir(
        app.path(),
        &BuildOptions {
            output: Some(out.path().to_path_buf()),
        },
    )
    .unwrap_err();
    let codes: Vec<&str> = err.diagnostics().iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains(&"invalid-version"), "{codes:?}");
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        0,
        "no file may be left behind"
    );
}

#[test]
fn a_writer_fed_by_its_caller_writes_what_build_dir_writes_and_refuses_misuse() {
    use q8s_core::select::{FsTree, Tree};
    let hello = repo_root().join("examples/hello");
    let out = tempfile::tempdir().unwrap();
    let (_, expected) = build(&hello, out.path());

    let tree = FsTree::new(&hello).unwrap();
    let mut writer = bundle::BundleWriter::start(&tree, Vec::new()).unwrap();
    let all: Vec<String> = writer.remaining().iter().map(|f| f.path.clone()).collect();
    // Everything read ahead first, as a browser does, then handed over in order.
    let contents: Vec<Vec<u8>> = all.iter().map(|p| tree.read(p).unwrap()).collect();
    let mut contents = contents.into_iter();
    let early = bundle::BundleWriter::start(&tree, Vec::new()).unwrap();
    let err = early.finish().map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("not written yet"), "{err}");
    while writer.next_file().is_some() {
        writer.push(contents.next().unwrap()).unwrap();
    }
    assert!(writer.remaining().is_empty());
    let err = writer.push(b"one too many".to_vec()).unwrap_err();
    assert!(err.to_string().contains("written already"), "{err}");
    let (info, bytes) = writer.finish().unwrap();
    assert_eq!(bytes, expected);
    assert_eq!(info.files, all);

    // An app with an error diagnostic is refused before anything is written.
    let mut broken = MemTree::new();
    broken
        .add("q-app.toml", b"[App]\nName = \"x\"\n".to_vec(), false)
        .unwrap();
    let err = bundle::BundleWriter::start(&broken, Vec::new())
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, BundleError::Invalid(_)), "{err}");
}
