//! Entries a bundle cannot hold: links that leave the folder or go nowhere, sockets, names
//! that are not UTF-8 or not portable.

use super::*;

/// A [`MemTree`] plus entries no memory tree can hold.
struct WithExtras {
    base: MemTree,
    extras: Vec<(&'static str, TreeEntry)>,
}

impl Tree for WithExtras {
    fn list(&self, dir: &str) -> io::Result<Vec<TreeEntry>> {
        let mut entries = self.base.list(dir)?;
        entries.extend(
            self.extras
                .iter()
                .filter(|(d, _)| *d == dir)
                .map(|(_, e)| e.clone()),
        );
        Ok(entries)
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.base.read(path)
    }
}

fn entry(name: &str, kind: EntryKind) -> TreeEntry {
    TreeEntry {
        name: name.to_string(),
        kind,
    }
}

fn bad_link(target: &str, problem: LinkProblem) -> EntryKind {
    EntryKind::BadLink {
        target: target.to_string(),
        problem,
    }
}

#[test]
fn entries_that_cannot_be_stored_are_reported() {
    let tree = WithExtras {
        base: tree(&[("app.py", ""), ("lib/x.py", "")]),
        extras: vec![
            ("", entry("etc", bad_link("/etc", LinkProblem::Outside))),
            (
                "lib",
                entry("gone", bad_link("../nothing", LinkProblem::Broken)),
            ),
            ("lib", entry("up", bad_link("..", LinkProblem::Loop))),
            (
                "",
                entry(
                    "wave.sock",
                    EntryKind::Special {
                        what: "a socket".into(),
                    },
                ),
            ),
            (
                "",
                entry(
                    "caf\u{fffd}",
                    EntryKind::BadName {
                        reason: "is not valid UTF-8".into(),
                    },
                ),
            ),
            (
                "lib",
                entry("a\\b.py", EntryKind::File { executable: false }),
            ),
            ("", entry("c:x", EntryKind::File { executable: false })),
        ],
    };
    let selection = select(&tree).unwrap();
    assert_eq!(paths(&selection), ["app.py", "lib/x.py"]);
    assert_eq!(
        codes(&selection),
        [
            "invalid-file-name",
            "invalid-file-name",
            "symlink-outside",
            "invalid-file-name",
            "symlink-broken",
            "symlink-loop",
            "special-file-skipped",
        ]
    );
    let outside = &selection.diagnostics[2];
    assert_eq!(outside.severity, Severity::Error);
    assert_eq!(outside.path, "etc");
    assert_eq!(
        outside.message,
        "`etc` is a symbolic link to `/etc`, which points outside the app folder"
    );
    assert!(
        outside
            .help
            .as_deref()
            .unwrap()
            .contains("`/etc` to .q8signore")
    );
    assert_eq!(selection.diagnostics[6].severity, Severity::Warning);
    assert_eq!(
        decision(&selection, "etc"),
        (
            false,
            "symbolic link that points outside the app folder (-> /etc)"
        )
    );
    assert_eq!(
        decision(&selection, "wave.sock"),
        (false, "not a regular file (a socket)")
    );
    assert_eq!(
        decision(&selection, "lib/a\\b.py"),
        (false, "file name contains a backslash")
    );
    assert_eq!(
        decision(&selection, "c:x"),
        (false, "file name starts like a Windows drive letter")
    );
}

#[test]
fn an_ignore_rule_silences_entries_that_cannot_be_stored() {
    let tree = WithExtras {
        base: tree(&[(".q8signore", "/etc/\n*.sock\ncaf*\n"), ("app.py", "")]),
        extras: vec![
            ("", entry("etc", bad_link("/etc", LinkProblem::Outside))),
            (
                "",
                entry(
                    "wave.sock",
                    EntryKind::Special {
                        what: "a socket".into(),
                    },
                ),
            ),
            (
                "",
                entry(
                    "caf\u{fffd}",
                    EntryKind::BadName {
                        reason: "is not valid UTF-8".into(),
                    },
                ),
            ),
        ],
    };
    let selection = select(&tree).unwrap();
    assert_eq!(paths(&selection), [".q8signore", "app.py"]);
    assert!(
        selection.diagnostics.is_empty(),
        "{:?}",
        selection.diagnostics
    );
    assert_eq!(decision(&selection, "etc"), (false, ".q8signore:1: /etc/"));
}

#[test]
fn a_tree_listing_impossible_names_is_an_error() {
    for name in ["", ".", "..", "a/b"] {
        let tree = WithExtras {
            base: MemTree::new(),
            extras: vec![("", entry(name, EntryKind::File { executable: false }))],
        };
        let err = select(&tree).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{name:?}");
    }
    let file = || entry("x", EntryKind::File { executable: false });
    let tree = WithExtras {
        base: MemTree::new(),
        extras: vec![("", file()), ("", file())],
    };
    assert_eq!(
        select(&tree).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
}

#[test]
fn the_default_is_file_check_lists_the_parent() {
    let tree = WithExtras {
        base: tree(&[("env/pyvenv.cfg", ""), ("env/lib/x", "")]),
        extras: vec![],
    };
    assert!(tree.is_file("env/pyvenv.cfg"));
    assert!(!tree.is_file("env/lib"));
    assert!(!tree.is_file("nope/pyvenv.cfg"));
}
