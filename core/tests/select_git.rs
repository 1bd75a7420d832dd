//! Our `.gitignore` handling against real git: for random and hand-made
//! trees, the files we select must be exactly those
//! `git ls-files --others --exclude-standard` lists in a fresh repository.
//! (The trees avoid the names q8s always leaves out, which git would list.)
#![cfg(not(target_family = "wasm"))]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestRunner;
use q8s_core::select::select_dir;

/// A tree to build: files (all empty) and `.gitignore` files by folder.
#[derive(Debug, Clone)]
struct Case {
    files: Vec<String>,
    /// `(folder ("" or "a/b/"), contents)`.
    gitignores: Vec<(String, String)>,
}

/// A temporary folder, in memory where the system offers one: each case
/// creates a few dozen files and folders, and a disk busy with other work
/// would make this test slow.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

/// An empty git repository, whose `.git` folder serves every case's work
/// tree in turn (creating one per case would cost more than the case).
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = scratch_dir();
        let repo = Repo { dir };
        repo.git(repo.dir.path(), &["init", "-q", "--template=", "."]);
        repo
    }

    /// Runs git in `cwd`, shielded from the machine's configuration.
    fn git(&self, cwd: &Path, args: &[&str]) -> Vec<u8> {
        let home = self.dir.path();
        let output = Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .expect("git must be installed to run this test");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// What git lists as untracked and not ignored in the work tree `root`.
    fn selection(&self, root: &Path) -> BTreeSet<String> {
        let git_dir = format!("--git-dir={}", self.dir.path().join(".git").display());
        let work_tree = format!("--work-tree={}", root.display());
        let listed = self.git(
            root,
            &[
                &git_dir,
                &work_tree,
                "ls-files",
                "--others",
                "--exclude-standard",
                "-z",
            ],
        );
        listed
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect()
    }
}

/// Builds `case` in a temporary folder and compares both selections.
fn check(repo: &Repo, case: &Case) -> Result<(), String> {
    let dir = scratch_dir();
    let root = dir.path();
    for file in &case.files {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }
    for (folder, text) in &case.gitignores {
        fs::create_dir_all(root.join(folder)).unwrap();
        fs::write(root.join(folder).join(".gitignore"), text).unwrap();
    }
    let ours = select_dir(root).map_err(|e| e.to_string())?;
    if !ours.diagnostics.is_empty() {
        return Err(format!("unexpected diagnostics: {:?}", ours.diagnostics));
    }
    let ours: BTreeSet<String> = ours.files.into_iter().map(|f| f.path).collect();
    let git = repo.selection(root);
    if ours == git {
        return Ok(());
    }
    Err(format!(
        "selection differs from git\n  only ours: {:?}\n  only git:  {:?}",
        ours.difference(&git).collect::<Vec<_>>(),
        git.difference(&ours).collect::<Vec<_>>()
    ))
}

fn case(files: &[&str], gitignores: &[(&str, &str)]) -> Case {
    Case {
        files: files.iter().map(|f| f.to_string()).collect(),
        gitignores: gitignores
            .iter()
            .map(|(folder, text)| (folder.to_string(), text.to_string()))
            .collect(),
    }
}

#[test]
fn select_matches_git_on_hand_made_trees() {
    let cases = [
        // Negation, and a negation under an excluded folder.
        case(
            &["a.log", "keep.log", "build/out", "build/keep", "src/x.log"],
            &[("", "*.log\n!keep.log\nbuild/\n!build/keep\n")],
        ),
        // Anchoring: leading and middle slashes.
        case(
            &["doc/a.txt", "x/doc/a.txt", "doc/sub/a.txt", "top", "x/top"],
            &[("", "/top\ndoc/*.txt\n")],
        ),
        // `**` leading, trailing and in the middle.
        case(
            &[
                "foo", "a/foo", "a/b/foo", "abc/x", "abc/d/y", "m/n/o/p", "m/p", "q/m/p",
            ],
            &[("", "**/foo\nabc/**\nm/**/p\n")],
        ),
        // Folder-only patterns.
        case(
            &["build/x", "src/build", "lib/build/y"],
            &[("", "build/\n")],
        ),
        // Nested files: deeper wins, patterns relative to their folder.
        case(
            &[
                "a.txt",
                "sub/a.txt",
                "sub/b.txt",
                "sub/deep/a.txt",
                "sub/out/x",
                "out/x",
            ],
            &[
                ("", "*.txt\n"),
                ("sub/", "!a.txt\n/out/\n"),
                ("sub/deep/", "a.txt\n"),
            ],
        ),
        // `dir/**` leaves the folder in, so its files can be put back.
        case(
            &["data/a.csv", "data/keep.csv", "data/sub/b.csv"],
            &[("", "data/**\n!data/keep.csv\n")],
        ),
        // `dir/*` excludes subfolders too; re-including one needs the folder.
        case(
            &["d/a", "d/s/b", "d/s/keep"],
            &[("", "d/*\n!d/s/\nd/s/*\n!d/s/keep\n")],
        ),
        // Escapes, trailing spaces, comments, classes.
        case(
            &[
                "#a", "!b", "c ", "c", "e*", "ex", "f1", "fa", "[g]", "g", "h\tx",
            ],
            &[(
                "",
                "\\#a\n\\!b\nc\\ \nc   \ne\\*\nf[0-9]\n\\[g]\n# e*\nh[[:space:]]x\n",
            )],
        ),
        // A .gitignore that ignores itself still applies; `!` alone and `/`
        // alone match nothing.
        case(&["x", "y"], &[("", ".gitignore\nx\n!\n/\n")]),
        // Character classes with negation and ranges.
        case(
            &["a1", "b2", "c3", "ab", "-x", "]y"],
            &[("", "[!a]?\n!b[0-9]\n[]-]?\n")],
        ),
        // Single-star segments do not cross folders.
        case(&["a/b/c", "a/c", "a/x/y/c"], &[("", "a/*/c\n")]),
        // CRLF line endings, a last line without newline.
        case(
            &["a.log", "b.tmp", "c", "d"],
            &[("", "*.log\r\n*.tmp\r\nd")],
        ),
        // A byte order mark counts only at the start; NUL ends a line.
        case(
            &["a", "ab", "b", "c"],
            &[("", "\u{feff}c\n\u{feff}b\na\0b\n")],
        ),
    ];
    let repo = Repo::new();
    for (i, case) in cases.iter().enumerate() {
        if let Err(diff) = check(&repo, case) {
            panic!("hand-made case {i} {case:#?}: {diff}");
        }
    }
}

/// File and folder names: plain, with glob characters, with spaces.
const NAMES: &[&str] = &[
    "a", "b", "ab", "ba", "x.log", "y.txt", "build", "doc", "a b", "a ", "#c", "!d", "e*", "[f]",
    "f", "log", "x.txt",
];

/// Pieces of pattern segments.
const SEGMENTS: &[&str] = &[
    "a",
    "b",
    "ab",
    "*",
    "?",
    "a*",
    "*b",
    "*.log",
    "*.txt",
    "[ab]",
    "[!a]*",
    "[a-c]?",
    "**",
    "build",
    "doc",
    "\\#c",
    "\\!d",
    "e\\*",
    "\\[f]",
    "x.*",
    "a\\ b",
    "a\\ ",
    "log",
    "[[:alpha:]]",
    "x.log",
    "y.txt",
    "ba",
    "f",
    "x.txt",
    "*.*",
    "b*",
];

fn line() -> impl Strategy<Value = String> {
    let pattern = (
        select(&["", "", "", "!"][..]),
        select(&["", "", "", "/", "**/"][..]),
        prop_oneof![
            3 => prop::collection::vec(select(SEGMENTS), 1..=1),
            2 => prop::collection::vec(select(SEGMENTS), 2..=3),
        ],
        select(&["", "", "", "/", "/**"][..]),
        select(&["", "", "", "  "][..]),
    )
        .prop_map(|(neg, lead, segments, trail, spaces)| {
            format!("{neg}{lead}{}{trail}{spaces}", segments.join("/"))
        });
    prop_oneof![
        10 => pattern,
        1 => select(&["", "# comment", "#a", "!", "/"][..]).prop_map(String::from),
    ]
}

fn cases() -> impl Strategy<Value = Case> {
    let files = prop::collection::vec(prop::collection::vec(select(NAMES), 1..=3), 1..30);
    let gitignores =
        prop::collection::vec((any::<Index>(), prop::collection::vec(line(), 1..8)), 1..4);
    (files, gitignores).prop_map(|(files, gitignores)| {
        // Keep the first of any paths that would make a name both a file
        // and a folder.
        let mut kept: Vec<Vec<&str>> = Vec::new();
        for path in files {
            let clashes = kept.iter().any(|k| {
                let n = k.len().min(path.len());
                k[..n] == path[..n] && k.len() != path.len()
            });
            if !clashes && !kept.contains(&path) {
                kept.push(path);
            }
        }
        let mut folders: BTreeSet<String> = BTreeSet::from([String::new()]);
        for path in &kept {
            for depth in 1..path.len() {
                folders.insert(format!("{}/", path[..depth].join("/")));
            }
        }
        let folders: Vec<String> = folders.into_iter().collect();
        let mut placed: Vec<(String, String)> = Vec::new();
        for (index, lines) in gitignores {
            let folder = index.get(&folders).clone();
            if !placed.iter().any(|(f, _)| *f == folder) {
                let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
                placed.push((folder, text));
            }
        }
        Case {
            files: kept.into_iter().map(|p| p.join("/")).collect(),
            gitignores: placed,
        }
    })
}

#[test]
fn select_matches_git_on_random_trees() {
    let repo = Repo::new();
    let config = ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let result = TestRunner::new(config).run(&cases(), |case| {
        check(&repo, &case).map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
