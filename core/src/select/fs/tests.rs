//! Selection over real folders, with symlinks and special files.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::*;

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn paths(selection: &Selection) -> Vec<&str> {
    selection.files.iter().map(|f| f.path.as_str()).collect()
}

fn codes(selection: &Selection) -> Vec<(&str, &str)> {
    selection
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), d.path.as_str()))
        .collect()
}

fn rule<'s>(selection: &'s Selection, path: &str) -> &'s str {
    &selection
        .explain
        .iter()
        .find(|d| d.path == path)
        .unwrap()
        .rule
}

#[test]
fn reads_files_modes_and_ignore_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", "*.log\n");
    write(root, "app.py", "print()");
    write(root, "run.sh", "#!/bin/sh");
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    write(root, "debug.log", "");
    write(root, "pkg/__pycache__/x.pyc", "");
    write(root, "pkg/mod.py", "");
    fs::create_dir(root.join("empty")).unwrap();
    let selection = select_dir(root).unwrap();
    assert_eq!(
        paths(&selection),
        [".gitignore", "app.py", "pkg/mod.py", "run.sh"]
    );
    let modes: Vec<_> = selection.files.iter().map(|f| f.executable).collect();
    assert_eq!(modes, [false, false, false, true]);
    assert_eq!(rule(&selection, "debug.log"), ".gitignore:1: *.log");
    assert_eq!(rule(&selection, "empty/"), "included");
    assert!(selection.diagnostics.is_empty());
}

#[test]
fn links_inside_are_stored_as_what_they_point_to() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "real/data.csv", "1,2");
    write(root, "tools/run.sh", "#!/bin/sh");
    fs::set_permissions(root.join("tools/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    symlink("real", root.join("alias")).unwrap();
    symlink("../tools/run.sh", root.join("real/run")).unwrap();
    // An absolute link that stays inside is fine too.
    symlink(root.join("real/data.csv"), root.join("abs.csv")).unwrap();
    let tree = FsTree::new(root).unwrap();
    let selection = select(&tree).unwrap();
    assert_eq!(
        paths(&selection),
        [
            "abs.csv",
            "alias/data.csv",
            "alias/run",
            "real/data.csv",
            "real/run",
            "tools/run.sh"
        ]
    );
    assert!(
        selection.diagnostics.is_empty(),
        "{:?}",
        selection.diagnostics
    );
    let run = selection
        .files
        .iter()
        .find(|f| f.path == "alias/run")
        .unwrap();
    assert!(run.executable);
    assert_eq!(tree.read("alias/data.csv").unwrap(), b"1,2");
}

#[test]
fn links_that_cannot_be_stored_are_errors() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret", "x");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "app.py", "");
    symlink(outside.path().join("secret"), root.join("secret")).unwrap();
    symlink("../../etc", root.join("etc")).unwrap();
    symlink("missing.txt", root.join("dangling")).unwrap();
    symlink("self", root.join("self")).unwrap();
    write(root, "a/x", "");
    symlink("..", root.join("a/up")).unwrap();
    symlink(".", root.join("a/here")).unwrap();
    let selection = select_dir(root).unwrap();
    assert_eq!(paths(&selection), ["a/x", "app.py"]);
    assert_eq!(
        codes(&selection),
        [
            ("symlink-loop", "a/here"),
            ("symlink-loop", "a/up"),
            ("symlink-broken", "dangling"),
            ("symlink-outside", "etc"),
            ("symlink-outside", "secret"),
            ("symlink-broken", "self"),
        ]
    );
    assert!(selection.diagnostics.iter().all(|d| d.is_error()));
    assert_eq!(
        rule(&selection, "dangling"),
        "symbolic link that points to nothing that can be read (-> missing.txt)"
    );
}

#[test]
fn links_between_sibling_folders_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a/fa", "");
    write(root, "b/fb", "");
    symlink("../b", root.join("a/to_b")).unwrap();
    symlink("../a", root.join("b/to_a")).unwrap();
    let selection = select_dir(root).unwrap();
    assert_eq!(
        paths(&selection),
        ["a/fa", "a/to_b/fb", "b/fb", "b/to_a/fa"]
    );
    assert_eq!(
        codes(&selection),
        [
            ("symlink-loop", "a/to_b/to_a"),
            ("symlink-loop", "b/to_a/to_b")
        ]
    );
}

#[test]
fn ignored_links_are_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".q8signore", "/data/\nold\n");
    write(root, "app.py", "");
    symlink("/usr", root.join("data")).unwrap();
    symlink("nowhere", root.join("old")).unwrap();
    let selection = select_dir(root).unwrap();
    assert_eq!(paths(&selection), [".q8signore", "app.py"]);
    assert!(selection.diagnostics.is_empty());
    assert_eq!(rule(&selection, "data"), ".q8signore:1: /data/");
}

#[test]
fn sockets_and_bad_names_are_reported() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "app.py", "");
    let _socket = std::os::unix::net::UnixListener::bind(root.join("wave.sock")).unwrap();
    fs::write(root.join(OsStr::from_bytes(b"caf\xe9.txt")), "").unwrap();
    write(root, "back\\slash", "");
    let selection = select_dir(root).unwrap();
    assert_eq!(paths(&selection), ["app.py"]);
    assert_eq!(
        codes(&selection),
        [
            ("invalid-file-name", "back\\slash"),
            ("invalid-file-name", "caf\u{fffd}.txt"),
            ("special-file-skipped", "wave.sock"),
        ]
    );
    assert_eq!(
        rule(&selection, "wave.sock"),
        "not a regular file (a socket)"
    );
}

#[test]
fn virtualenvs_are_recognised_without_being_walked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", "venv/\n");
    write(root, "venv/pyvenv.cfg", "");
    write(root, "other/pyvenv.cfg", "");
    write(root, "other/lib/x.py", "");
    let selection = select_dir(root).unwrap();
    assert_eq!(paths(&selection), [".gitignore"]);
    assert_eq!(rule(&selection, "venv/"), "virtualenv (pyvenv.cfg)");
    assert_eq!(codes(&selection), [("virtualenv-skipped", "other/")]);
}

#[test]
fn the_root_must_be_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "file", "");
    let err = FsTree::new(&dir.path().join("file")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);
    let err = select_dir(&dir.path().join("missing")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("missing"), "{err}");
    // A root reached through a link is fine.
    symlink(dir.path(), dir.path().join("again")).unwrap();
    let tree = FsTree::new(&dir.path().join("again")).unwrap();
    assert_eq!(tree.root(), fs::canonicalize(dir.path()).unwrap());
}

#[test]
fn selects_a_real_tree_of_3000_files_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        ".gitignore",
        "*.py[cod]\nbuild/\n*.egg-info/\n**/tmp/**\n*.log\n!keep.log\n",
    );
    for i in 0..3000 {
        let path = format!(
            "pkg{}/sub{}/file{i}.{}",
            i % 30,
            i % 5,
            ["py", "log", "txt"][i % 3]
        );
        write(root, &path, "");
    }
    let start = std::time::Instant::now();
    let selection = select_dir(root).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(selection.files.len(), 2001);
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}
