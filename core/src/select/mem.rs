//! [`MemTree`]: a tree held in memory, for the browser and for tests.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use super::{EntryKind, Tree, TreeEntry, name_problem};
use crate::api::ErrorCode;

/// Why [`MemTree::add`] refused a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemTreeError {
    /// The path is not a relative, `/`-separated path that a bundle can
    /// hold.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it (`has an empty segment`, …).
        reason: &'static str,
    },
    /// The path would make a file also a folder, or a folder also a file.
    #[error("path {path:?} conflicts with {existing:?}: a path cannot be both a file and a folder")]
    Conflict {
        /// The path as given.
        path: String,
        /// The file or folder already in the tree.
        existing: String,
    },
}

impl MemTreeError {
    /// The stable kebab-case code: `invalid-path` or `path-conflict`.
    pub fn code(&self) -> &'static str {
        match self {
            MemTreeError::InvalidPath { .. } => ErrorCode::InvalidPath.as_str(),
            MemTreeError::Conflict { .. } => ErrorCode::PathConflict.as_str(),
        }
    }
}

/// The contents of a file in a [`MemTree`]: bytes held in memory
/// (`Vec<u8>`), or anything that can produce them when the file is read —
/// the browser binding keeps a `Blob` and reads it only when the bundle is
/// written, so a large folder is never held in memory whole.
pub trait FileContent {
    /// The file's bytes.
    fn bytes(&self) -> io::Result<Vec<u8>>;
}

impl FileContent for Vec<u8> {
    fn bytes(&self) -> io::Result<Vec<u8>> {
        Ok(self.clone())
    }
}

/// A tree held in memory: relative paths with their contents (bytes by
/// default, see [`FileContent`]). Directories are implied by the paths.
///
/// ```
/// use q8s_core::select::{MemTree, select};
/// let mut tree = MemTree::new();
/// tree.add("q-app.toml", b"[App]\n".to_vec(), false)?;
/// tree.add("app/__pycache__/main.cpython-311.pyc", vec![0; 4], false)?;
/// assert!(tree.add("../etc/passwd", vec![], false).is_err());
/// let selection = select(&tree)?;
/// assert_eq!(selection.files.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemTree<C = Vec<u8>> {
    files: BTreeMap<String, (C, bool)>,
    /// Entries that exist but cannot be stored (a symlink leaving the folder…).
    unstorable: BTreeMap<String, EntryKind>,
    /// Every folder (`""` for the root) with the names it holds.
    dirs: BTreeMap<String, BTreeSet<String>>,
}

impl Default for MemTree {
    fn default() -> Self {
        Self::new()
    }
}

impl MemTree {
    /// An empty tree of files held as bytes.
    pub fn new() -> Self {
        Self::empty()
    }
}

impl<C: FileContent> MemTree<C> {
    /// An empty tree whose files hold contents of type `C`.
    pub fn empty() -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(String::new(), BTreeSet::new());
        MemTree {
            files: BTreeMap::new(),
            unstorable: BTreeMap::new(),
            dirs,
        }
    }

    /// Adds (or replaces) a file. `path` is relative and `/`-separated:
    /// no leading `/`, no `.` or `..` or empty segment, no backslash, no
    /// NUL, no drive letter. A path cannot be both a file and a folder.
    pub fn add(&mut self, path: &str, content: C, executable: bool) -> Result<(), MemTreeError> {
        self.place(path)?;
        self.unstorable.remove(path);
        self.files.insert(path.to_string(), (content, executable));
        Ok(())
    }

    /// Adds (or replaces) an entry that exists in the folder but cannot be
    /// stored: a [`EntryKind::BadLink`] or a [`EntryKind::Special`] file, as
    /// a walker of a real folder finds them (the JS binding's Node walker).
    /// Selection reports it unless an ignore rule leaves it out. `File` and
    /// `Dir` kinds are refused: use [`MemTree::add`].
    pub fn add_unstorable(&mut self, path: &str, kind: EntryKind) -> Result<(), MemTreeError> {
        if matches!(kind, EntryKind::File { .. } | EntryKind::Dir) {
            return Err(MemTreeError::InvalidPath {
                path: path.to_string(),
                reason: "is a file or folder, not an entry that cannot be stored",
            });
        }
        self.place(path)?;
        self.files.remove(path);
        self.unstorable.insert(path.to_string(), kind);
        Ok(())
    }

    /// Checks that `path` can name a leaf of the tree and records the
    /// folders on its way.
    fn place(&mut self, path: &str) -> Result<(), MemTreeError> {
        let invalid = |reason| MemTreeError::InvalidPath {
            path: path.to_string(),
            reason,
        };
        if path.is_empty() {
            return Err(invalid("is empty"));
        }
        if path.starts_with('/') {
            return Err(invalid("is absolute"));
        }
        for (i, segment) in path.split('/').enumerate() {
            match segment {
                "" => return Err(invalid("has an empty segment")),
                "." | ".." => return Err(invalid("has a `.` or `..` segment")),
                _ => {}
            }
            if let Some(reason) = name_problem(segment, i == 0) {
                return Err(invalid(reason));
            }
        }
        if self.dirs.contains_key(path) {
            return Err(MemTreeError::Conflict {
                path: path.to_string(),
                existing: format!("{path}/"),
            });
        }
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let folder = &path[..end + slash];
            if self.files.contains_key(folder) || self.unstorable.contains_key(folder) {
                return Err(MemTreeError::Conflict {
                    path: path.to_string(),
                    existing: folder.to_string(),
                });
            }
            end += slash + 1;
        }
        // Valid: record every folder on the way down.
        let mut parent = String::new();
        for segment in path.split('/') {
            self.dirs
                .entry(parent.clone())
                .or_default()
                .insert(segment.to_string());
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(segment);
        }
        Ok(())
    }

    /// The number of files (entries that cannot be stored not counted).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when the tree holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The contents of the file at `path` as they were added (not read).
    pub fn content(&self, path: &str) -> Option<&C> {
        self.files.get(path).map(|(content, _)| content)
    }

    fn join(dir: &str, name: &str) -> String {
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    }
}

impl<C: FileContent> Tree for MemTree<C> {
    fn list(&self, dir: &str) -> io::Result<Vec<TreeEntry>> {
        let names = self.dirs.get(dir).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{dir}: no such folder"))
        })?;
        Ok(names
            .iter()
            .map(|name| {
                let path = Self::join(dir, name);
                let kind = match (self.files.get(&path), self.unstorable.get(&path)) {
                    (Some(&(_, executable)), _) => EntryKind::File { executable },
                    (None, Some(kind)) => kind.clone(),
                    (None, None) => EntryKind::Dir,
                };
                TreeEntry {
                    name: name.clone(),
                    kind,
                }
            })
            .collect())
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.files
            .get(path)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{path}: no such file"))
            })?
            .0
            .bytes()
    }

    fn is_file(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tree: &MemTree, dir: &str) -> Vec<(String, EntryKind)> {
        let mut entries: Vec<_> = tree
            .list(dir)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    #[test]
    fn lists_files_and_implied_folders() {
        let mut tree = MemTree::new();
        tree.add("a/b/c.txt", b"c".to_vec(), false).unwrap();
        tree.add("a/run.sh", b"#!".to_vec(), true).unwrap();
        tree.add("top", vec![], false).unwrap();
        assert_eq!(
            names(&tree, ""),
            [
                ("a".into(), EntryKind::Dir),
                ("top".into(), EntryKind::File { executable: false })
            ]
        );
        assert_eq!(
            names(&tree, "a"),
            [
                ("b".into(), EntryKind::Dir),
                ("run.sh".into(), EntryKind::File { executable: true })
            ]
        );
        assert_eq!(tree.read("a/b/c.txt").unwrap(), b"c");
        assert!(tree.is_file("a/run.sh"));
        assert!(!tree.is_file("a/b"));
        assert_eq!(
            tree.list("nope").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(tree.read("a").unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(tree.len(), 3);
    }

    /// Contents produced on demand, counting how often they are read.
    struct Counted(std::rc::Rc<std::cell::Cell<u32>>, &'static [u8]);

    impl FileContent for Counted {
        fn bytes(&self) -> io::Result<Vec<u8>> {
            self.0.set(self.0.get() + 1);
            Ok(self.1.to_vec())
        }
    }

    #[test]
    fn lazy_contents_are_read_only_when_a_file_is_read() {
        let reads = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut tree = MemTree::empty();
        tree.add("q-app.toml", Counted(reads.clone(), b"[App]"), false)
            .unwrap();
        tree.add("big.bin", Counted(reads.clone(), b"0123"), false)
            .unwrap();
        let selection = crate::select::select(&tree).unwrap();
        assert_eq!(selection.files.len(), 2);
        assert_eq!(reads.get(), 0, "selection lists, it does not read");
        assert_eq!(tree.read("big.bin").unwrap(), b"0123");
        assert_eq!(reads.get(), 1);
    }

    #[test]
    fn unstorable_entries_are_listed_and_reported() {
        let mut tree = MemTree::new();
        tree.add("q-app.toml", b"[App]".to_vec(), false).unwrap();
        let link = EntryKind::BadLink {
            target: "../../etc".into(),
            problem: super::super::LinkProblem::Outside,
        };
        tree.add_unstorable("lib/etc", link.clone()).unwrap();
        assert_eq!(names(&tree, "lib"), [("etc".into(), link)]);
        assert!(tree.add("lib/etc/passwd", vec![], false).is_err());
        assert!(tree.add_unstorable("x", EntryKind::Dir).is_err());
        let selection = crate::select::select(&tree).unwrap();
        let codes: Vec<_> = selection.diagnostics.iter().map(|d| &d.code).collect();
        assert_eq!(codes, ["symlink-outside"]);
        assert_eq!(tree.len(), 1);
    }

    #[test]
    fn replacing_a_file_keeps_one_entry() {
        let mut tree = MemTree::new();
        tree.add("x", b"1".to_vec(), false).unwrap();
        tree.add("x", b"2".to_vec(), true).unwrap();
        assert_eq!(tree.read("x").unwrap(), b"2");
        assert_eq!(
            names(&tree, ""),
            [("x".into(), EntryKind::File { executable: true })]
        );
    }

    #[test]
    fn rejects_paths_a_bundle_cannot_hold() {
        let mut tree = MemTree::new();
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "a/",
            "./a",
            "a/../b",
            "..",
            "a\\b",
            "C:/x",
            "c:x",
            "a\0b",
        ] {
            let err = tree.add(bad, vec![], false).unwrap_err();
            assert_eq!(err.code(), "invalid-path", "{bad:?}");
        }
        // A drive letter only matters at the start.
        tree.add("docs/c:x", vec![], false).unwrap();
        assert!(!tree.is_empty());
    }

    #[test]
    fn a_path_cannot_be_file_and_folder() {
        let mut tree = MemTree::new();
        tree.add("a/b", vec![], false).unwrap();
        let err = tree.add("a", vec![], false).unwrap_err();
        assert_eq!(err.code(), "path-conflict");
        let err = tree.add("a/b/c", vec![], false).unwrap_err();
        assert_eq!(
            err,
            MemTreeError::Conflict {
                path: "a/b/c".into(),
                existing: "a/b".into()
            }
        );
        // Nothing half-added.
        assert_eq!(
            names(&tree, "a"),
            [("b".into(), EntryKind::File { executable: false })]
        );
    }
}
