//! Which files of an app folder go into a bundle, and why.
//!
//! The rules (in order): default excludes, `.gitignore` files at every level
//! with git's semantics, `.q8signore` at the root applied last, symlinks
//! inside the folder stored as the file they point to, symlinks leaving the
//! folder an error. The logic works on any [`Tree`] — a list of relative
//! paths and contents ([`MemTree`], usable in wasm) or, natively, a real
//! folder (`FsTree`).

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

/// What a directory entry is, as far as selection cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (or a symlink to one inside the tree).
    File {
        /// Any execute bit set on the source file.
        executable: bool,
    },
    /// A directory (or a symlink to one inside the tree).
    Dir,
    /// A symlink that cannot be stored: it leaves the tree, dangles, or loops.
    BadLink {
        /// What the link points to, as read from the link.
        target: String,
        /// Why it cannot be stored (`points outside the app folder`, …).
        reason: String,
    },
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The file name (one path segment).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
}

/// A tree of files to select from. Paths are relative, `/`-separated, and
/// `""` is the root.
pub trait Tree {
    /// The entries of directory `dir`, in any order.
    fn list(&self, dir: &str) -> std::io::Result<Vec<TreeEntry>>;
    /// The bytes of file `path`.
    fn read(&self, path: &str) -> std::io::Result<Vec<u8>>;
}

/// A file chosen for the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedFile {
    /// Path inside the archive (relative, `/`-separated).
    pub path: String,
    /// Stored with mode 0755 instead of 0644.
    pub executable: bool,
}

/// The rule that decided one path, for `--explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The path seen (directories end with `/`).
    pub path: String,
    /// Whether it goes into the bundle.
    pub included: bool,
    /// The deciding rule: `default: __pycache__/`, `.gitignore:3: *.log`,
    /// `.q8signore:1: !data/`, `virtualenv (pyvenv.cfg)`, or `included`
    /// when no rule matched.
    pub rule: String,
}

/// The outcome of selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// The files to bundle, sorted bytewise by path.
    pub files: Vec<SelectedFile>,
    /// Every path seen with its decision, in walk order (sorted per folder).
    /// An excluded directory is listed once; its contents are not visited.
    pub explain: Vec<Decision>,
    /// Problems found (a link leaving the folder, a virtualenv skipped…).
    pub diagnostics: Vec<Diagnostic>,
}

/// Selects the files of `tree` according to the bundle rules.
pub fn select(tree: &dyn Tree) -> std::io::Result<Selection> {
    let _ = tree;
    unimplemented!("selection")
}

/// A tree held in memory: relative paths with their bytes. Directories are
/// implied by the paths.
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    files: std::collections::BTreeMap<String, (Vec<u8>, bool)>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file. `path` is relative and `/`-separated.
    pub fn add(&mut self, path: &str, bytes: Vec<u8>, executable: bool) {
        self.files.insert(path.to_string(), (bytes, executable));
    }
}
