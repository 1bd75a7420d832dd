//! Selection over in-memory trees.

use std::io;

use super::*;
use crate::diagnostic::Severity;

mod unstorable;

fn tree(files: &[(&str, &str)]) -> MemTree {
    let mut tree = MemTree::new();
    for (path, text) in files {
        tree.add(path, text.as_bytes().to_vec(), false).unwrap();
    }
    tree
}

fn paths(selection: &Selection) -> Vec<&str> {
    selection.files.iter().map(|f| f.path.as_str()).collect()
}

/// `(included, rule)` of `path` in `explain`; panics when it was not seen.
fn decision<'s>(selection: &'s Selection, path: &str) -> (bool, &'s str) {
    let d = selection
        .explain
        .iter()
        .find(|d| d.path == path)
        .unwrap_or_else(|| panic!("{path} not in explain: {:#?}", selection.explain));
    (d.included, d.rule.as_str())
}

fn seen(selection: &Selection, path: &str) -> bool {
    selection.explain.iter().any(|d| d.path == path)
}

fn codes(selection: &Selection) -> Vec<&str> {
    selection
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

#[test]
fn default_excludes() {
    let selection = select(&tree(&[
        ("app.py", ""),
        (".git/config", ""),
        (".hg/store", ""),
        (".svn/entries", ""),
        ("pkg/__pycache__/mod.cpython-311.pyc", ""),
        ("pkg/mod.pyc", ""),
        ("pkg/.DS_Store", ""),
        (".DS_Store", ""),
        ("old.0.1.0.qz", ""),
        ("dist/kept.qz", ""),
        ("sub/.git", "gitdir: ../.git/modules/sub"),
        ("sub/x.py", ""),
    ]))
    .unwrap();
    assert_eq!(paths(&selection), ["app.py", "dist/kept.qz", "sub/x.py"]);
    assert_eq!(decision(&selection, ".git/"), (false, "default: .git/"));
    assert_eq!(decision(&selection, ".hg/"), (false, "default: .hg/"));
    assert_eq!(decision(&selection, ".svn/"), (false, "default: .svn/"));
    assert_eq!(
        decision(&selection, "pkg/__pycache__/"),
        (false, "default: __pycache__/")
    );
    assert_eq!(
        decision(&selection, "pkg/mod.pyc"),
        (false, "default: *.pyc")
    );
    assert_eq!(
        decision(&selection, "pkg/.DS_Store"),
        (false, "default: .DS_Store")
    );
    assert_eq!(
        decision(&selection, "old.0.1.0.qz"),
        (false, "default: /*.qz")
    );
    assert_eq!(decision(&selection, "sub/.git"), (false, "default: .git"));
    assert_eq!(decision(&selection, "app.py"), (true, "included"));
    // Excluded folders are listed once, never entered.
    assert!(!seen(&selection, ".git/config"));
    assert!(!seen(&selection, "pkg/__pycache__/mod.cpython-311.pyc"));
    assert!(selection.diagnostics.is_empty());
}

#[test]
fn defaults_cannot_be_put_back() {
    let selection = select(&tree(&[
        (".q8signore", "!__pycache__/\n!*.pyc\n!.git/\n!/*.qz\n"),
        ("__pycache__/a.pyc", ""),
        ("b.pyc", ""),
        (".git/HEAD", ""),
        ("x.qz", ""),
    ]))
    .unwrap();
    assert_eq!(paths(&selection), [".q8signore"]);
    assert_eq!(decision(&selection, "b.pyc"), (false, "default: *.pyc"));
}

#[test]
fn virtualenvs_are_left_out_with_one_warning() {
    let selection = select(&tree(&[
        ("app.py", ""),
        (".venv/pyvenv.cfg", "home = /usr/bin"),
        (".venv/lib/site.py", ""),
        ("tools/env/pyvenv.cfg", ""),
        ("tools/env/bin/python", ""),
        ("tools/run.py", ""),
    ]))
    .unwrap();
    assert_eq!(paths(&selection), ["app.py", "tools/run.py"]);
    assert_eq!(
        decision(&selection, ".venv/"),
        (false, "virtualenv (pyvenv.cfg)")
    );
    assert_eq!(
        decision(&selection, "tools/env/"),
        (false, "virtualenv (pyvenv.cfg)")
    );
    assert!(!seen(&selection, ".venv/lib/"));
    assert_eq!(codes(&selection), ["virtualenv-skipped"]);
    let warning = &selection.diagnostics[0];
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(warning.path, ".venv/");
    assert!(warning.message.contains("`.venv/`") && warning.message.contains("`tools/env/`"));
    assert!(warning.help.as_deref().unwrap().contains("/.venv/"));
}

#[test]
fn an_ignored_virtualenv_needs_no_warning() {
    let selection = select(&tree(&[
        (".gitignore", ".venv/\n"),
        (".venv/pyvenv.cfg", ""),
        ("app.py", ""),
    ]))
    .unwrap();
    assert_eq!(paths(&selection), [".gitignore", "app.py"]);
    // The defaults come first, so explain still names the virtualenv.
    assert_eq!(
        decision(&selection, ".venv/"),
        (false, "virtualenv (pyvenv.cfg)")
    );
    assert!(selection.diagnostics.is_empty());
    // Putting it back with .q8signore does not work, and warns.
    let selection = select(&tree(&[
        (".q8signore", "!.venv/\n"),
        (".venv/pyvenv.cfg", ""),
    ]))
    .unwrap();
    assert_eq!(paths(&selection), [".q8signore"]);
    assert_eq!(codes(&selection), ["virtualenv-skipped"]);
}

#[test]
fn gitignore_rules_are_named_with_file_and_line() {
    let selection = select(&tree(&[
        (".gitignore", "# build output\n\n*.log\n"),
        ("sub/.gitignore", "/out\nbuild/\n"),
        ("a.log", ""),
        ("sub/deep/b.log", ""),
        ("sub/build/x", ""),
        ("sub/deep/build/y", ""),
        ("sub/out", ""),
        ("sub/deep/out", ""),
        ("build/z", ""),
    ]))
    .unwrap();
    assert_eq!(
        paths(&selection),
        [".gitignore", "build/z", "sub/.gitignore", "sub/deep/out"]
    );
    assert_eq!(
        decision(&selection, "a.log"),
        (false, ".gitignore:3: *.log")
    );
    assert_eq!(
        decision(&selection, "sub/deep/b.log"),
        (false, ".gitignore:3: *.log")
    );
    assert_eq!(
        decision(&selection, "sub/build/"),
        (false, "sub/.gitignore:2: build/")
    );
    assert_eq!(
        decision(&selection, "sub/deep/build/"),
        (false, "sub/.gitignore:2: build/")
    );
    assert_eq!(
        decision(&selection, "sub/out"),
        (false, "sub/.gitignore:1: /out")
    );
    assert_eq!(decision(&selection, "build/"), (true, "included"));
}

#[test]
fn deeper_gitignore_files_take_precedence() {
    let selection = select(&tree(&[
        (".gitignore", "*.txt\n!notes.md\n"),
        ("sub/.gitignore", "!keep.txt\nnotes.md\n"),
        ("a.txt", ""),
        ("notes.md", ""),
        ("sub/keep.txt", ""),
        ("sub/other.txt", ""),
        ("sub/notes.md", ""),
    ]))
    .unwrap();
    assert_eq!(
        paths(&selection),
        [".gitignore", "notes.md", "sub/.gitignore", "sub/keep.txt"]
    );
    assert_eq!(
        decision(&selection, "sub/keep.txt"),
        (true, "sub/.gitignore:1: !keep.txt")
    );
    assert_eq!(
        decision(&selection, "sub/other.txt"),
        (false, ".gitignore:1: *.txt")
    );
    assert_eq!(
        decision(&selection, "notes.md"),
        (true, ".gitignore:2: !notes.md")
    );
}

#[test]
fn a_negation_cannot_reach_into_an_excluded_folder() {
    let selection = select(&tree(&[
        (".gitignore", "build/\n!build/keep\n"),
        ("build/keep", ""),
        ("logs/a", ""),
        ("logs/keep", ""),
        ("logs/.gitignore", "*\n!keep\n!.gitignore\n"),
    ]))
    .unwrap();
    assert_eq!(
        paths(&selection),
        [".gitignore", "logs/.gitignore", "logs/keep"]
    );
    assert!(!seen(&selection, "build/keep"));
    // A folder matched by `dir/**` is not excluded itself, so its
    // contents can be put back.
    let selection = select(&tree(&[
        (".gitignore", "data/**\n!data/keep.csv\n"),
        ("data/big.csv", ""),
        ("data/keep.csv", ""),
    ]))
    .unwrap();
    assert_eq!(paths(&selection), [".gitignore", "data/keep.csv"]);
    assert_eq!(decision(&selection, "data/"), (true, "included"));
}

#[test]
fn q8signore_decides_when_it_matches() {
    let selection = select(&tree(&[
        (".gitignore", "data/\n*.csv\nsecret.txt\n"),
        (".q8signore", "!data/\n!small.csv\nnotes/\n*.ipynb\n"),
        ("data/small.csv", ""),
        ("data/big.csv", ""),
        ("data/readme", ""),
        ("notes/todo", ""),
        ("analysis.ipynb", ""),
        ("secret.txt", ""),
        ("app.py", ""),
    ]))
    .unwrap();
    assert_eq!(
        paths(&selection),
        [
            ".gitignore",
            ".q8signore",
            "app.py",
            "data/readme",
            "data/small.csv"
        ]
    );
    assert_eq!(
        decision(&selection, "data/"),
        (true, ".q8signore:1: !data/")
    );
    assert_eq!(
        decision(&selection, "data/small.csv"),
        (true, ".q8signore:2: !small.csv")
    );
    assert_eq!(
        decision(&selection, "data/big.csv"),
        (false, ".gitignore:2: *.csv")
    );
    assert_eq!(
        decision(&selection, "notes/"),
        (false, ".q8signore:3: notes/")
    );
    assert_eq!(
        decision(&selection, "analysis.ipynb"),
        (false, ".q8signore:4: *.ipynb")
    );
    assert_eq!(
        decision(&selection, "secret.txt"),
        (false, ".gitignore:3: secret.txt")
    );
}

#[test]
fn appignore_is_read_like_q8signore_which_decides_over_it() {
    let selection = select(&tree(&[
        (".gitignore", "*.csv\n"),
        (".appignore", "notebooks/\n*.csv\n!keep.csv\nscratch.py\n"),
        (".q8signore", "scratch.py\n!scratch.py\n"),
        ("notebooks/eda.ipynb", ""),
        ("data.csv", ""),
        ("keep.csv", ""),
        ("scratch.py", ""),
        ("app.py", ""),
        // Only the root .appignore holds rules.
        ("sub/.appignore", "*\n"),
        ("sub/x.py", ""),
    ]))
    .unwrap();
    assert_eq!(
        paths(&selection),
        [
            ".appignore",
            ".gitignore",
            ".q8signore",
            "app.py",
            "keep.csv",
            "scratch.py",
            "sub/.appignore",
            "sub/x.py"
        ]
    );
    assert_eq!(
        decision(&selection, "notebooks/"),
        (false, ".appignore:1: notebooks/")
    );
    assert_eq!(
        decision(&selection, "data.csv"),
        (false, ".appignore:2: *.csv")
    );
    // .appignore puts back what .gitignore left out…
    assert_eq!(
        decision(&selection, "keep.csv"),
        (true, ".appignore:3: !keep.csv")
    );
    // …and .q8signore, when it matches, decides over .appignore.
    assert_eq!(
        decision(&selection, "scratch.py"),
        (true, ".q8signore:2: !scratch.py")
    );
}

#[test]
fn ignore_files_are_ordinary_files() {
    // A .gitignore that leaves itself out still applies.
    let selection = select(&tree(&[
        (".gitignore", ".gitignore\n*.log\n"),
        (".q8signore", "/.q8signore\n"),
        ("a.log", ""),
        ("app.py", ""),
        // Only the root .q8signore holds rules.
        ("sub/.q8signore", "*\n"),
        ("sub/x.py", ""),
    ]))
    .unwrap();
    assert_eq!(paths(&selection), ["app.py", "sub/.q8signore", "sub/x.py"]);
    assert_eq!(
        decision(&selection, ".gitignore"),
        (false, ".gitignore:1: .gitignore")
    );
    assert_eq!(
        decision(&selection, ".q8signore"),
        (false, ".q8signore:1: /.q8signore")
    );
}

#[test]
fn files_are_sorted_bytewise_and_explain_follows_the_walk() {
    let mut tree = tree(&[("a/b", ""), ("a.txt", ""), ("B", ""), ("a-c", "")]);
    tree.add("run.sh", b"#!/bin/sh\n".to_vec(), true).unwrap();
    let selection = select(&tree).unwrap();
    assert_eq!(paths(&selection), ["B", "a-c", "a.txt", "a/b", "run.sh"]);
    let walked: Vec<_> = selection.explain.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(walked, ["B", "a/", "a/b", "a-c", "a.txt", "run.sh"]);
    let run = selection.files.iter().find(|f| f.path == "run.sh").unwrap();
    assert!(run.executable);
    assert!(!selection.files[0].executable);
}

#[test]
fn an_empty_tree_selects_nothing() {
    let selection = select(&MemTree::new()).unwrap();
    assert_eq!(selection, Selection::default());
}

#[test]
fn explain_serialises_with_the_documented_fields() {
    let selection = select(&tree(&[(".gitignore", "x\n"), ("x", "")])).unwrap();
    let json = serde_json::to_value(&selection).unwrap();
    assert_eq!(
        json["explain"][1],
        serde_json::json!({"path": "x", "included": false, "rule": ".gitignore:1: x"})
    );
    assert_eq!(
        json["files"][0],
        serde_json::json!({"path": ".gitignore", "executable": false})
    );
}

#[test]
fn a_default_mem_tree_is_an_empty_tree() {
    assert_eq!(select(&MemTree::default()).unwrap(), Selection::default());
}

#[test]
fn selects_thousands_of_files_quickly() {
    let mut tree = MemTree::new();
    tree.add(
        ".gitignore",
        b"*.py[cod]\n*$py.class\nbuild/\ndist/\n*.egg-info/\n.env\n.venv\n**/tmp/**\n!keep.log\n*.log\n/docs/_build/\n"
            .to_vec(),
        false,
    )
    .unwrap();
    for i in 0..3000 {
        let path = format!(
            "pkg{}/sub{}/file{i}.{}",
            i % 20,
            i % 7,
            ["py", "log", "txt"][i % 3]
        );
        tree.add(&path, Vec::new(), false).unwrap();
    }
    let start = std::time::Instant::now();
    let selection = select(&tree).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(selection.files.len(), 2001);
    // Generous: the point is catching accidental quadratic behaviour.
    assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
}
