//! Which files of an app folder go into a bundle, and why.
//!
//! The rules (in order): default excludes, `.gitignore` files at every level
//! with git's semantics, H2O AI Cloud's `.appignore` at the root, then
//! `.q8signore` at the root applied last, symlinks
//! inside the folder stored as the file they point to, symlinks leaving the
//! folder an error. The logic works on any [`Tree`] — a list of relative
//! paths and contents ([`MemTree`], usable in wasm) or, natively, a real
//! folder (`FsTree`). `docs/bundle-files.md` explains the rules to authors.
//!
//! ```
//! use q8s_core::select::{MemTree, select};
//! let mut tree = MemTree::new();
//! tree.add(".gitignore", b"*.log\n".to_vec(), false)?;
//! tree.add(".q8signore", b"!keep.log\n".to_vec(), false)?;
//! tree.add("app.py", b"".to_vec(), false)?;
//! tree.add("debug.log", b"".to_vec(), false)?;
//! tree.add("keep.log", b"".to_vec(), false)?;
//! let selection = select(&tree)?;
//! let paths: Vec<_> = selection.files.iter().map(|f| f.path.as_str()).collect();
//! assert_eq!(paths, [".gitignore", ".q8signore", "app.py", "keep.log"]);
//! let debug = selection.explain.iter().find(|d| d.path == "debug.log").unwrap();
//! assert_eq!(debug.rule, ".gitignore:1: *.log");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

#[cfg(not(target_family = "wasm"))]
mod fs;
mod mem;
mod pattern;
mod walk;
mod wildmatch;

#[cfg(not(target_family = "wasm"))]
pub use fs::{FsTree, select_dir};
pub use mem::{FileContent, MemTree, MemTreeError};

/// The name of the ignore files read in every folder.
pub const GITIGNORE: &str = ".gitignore";
/// The name of the q8s ignore file, read in the app root only.
pub const Q8SIGNORE: &str = ".q8signore";
/// H2O AI Cloud's ignore file, read in the app root only, with the same
/// syntax; where both match a path, `.q8signore` decides.
pub const APPIGNORE: &str = ".appignore";
/// The file that marks a folder as a Python virtualenv.
pub const VIRTUALENV_MARKER: &str = "pyvenv.cfg";

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
        /// Why it cannot be stored.
        problem: LinkProblem,
    },
    /// Neither a file, a folder nor a symlink: a named pipe, a socket, a
    /// device. Never stored; selecting one is a warning.
    Special {
        /// What it is, in words (`a socket`).
        what: String,
    },
    /// An entry whose name cannot be stored in a bundle (not UTF-8; the
    /// entry's `name` is then a lossy rendering of it).
    BadName {
        /// What is wrong with the name.
        reason: String,
    },
}

/// Why a symlink cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkProblem {
    /// It resolves to something outside the app folder.
    Outside,
    /// It points to nothing, or cannot be followed.
    Broken,
    /// It points to a folder that holds it: walking it would never end.
    Loop,
}

impl LinkProblem {
    /// The diagnostic code: `symlink-outside`, `symlink-broken` or
    /// `symlink-loop`.
    pub fn code(self) -> &'static str {
        match self {
            LinkProblem::Outside => "symlink-outside",
            LinkProblem::Broken => "symlink-broken",
            LinkProblem::Loop => "symlink-loop",
        }
    }

    /// What is wrong, in words that follow "symbolic link to X".
    pub fn describe(self) -> &'static str {
        match self {
            LinkProblem::Outside => "points outside the app folder",
            LinkProblem::Broken => "points to nothing that can be read",
            LinkProblem::Loop => "points to a folder that holds it",
        }
    }
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

    /// True when `path` is a file (following links). Used to recognise a
    /// virtualenv without listing a folder that is left out anyway; an
    /// entry that cannot be checked counts as absent. The default lists
    /// the parent folder; implementations can answer more cheaply.
    fn is_file(&self, path: &str) -> bool {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.list(dir).is_ok_and(|entries| {
            entries
                .iter()
                .any(|e| e.name == name && matches!(e.kind, EntryKind::File { .. }))
        })
    }
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
    /// `sub/.gitignore:2: build/`, `.appignore:4: notebooks/`,
    /// `.q8signore:1: !data/`,
    /// `virtualenv (pyvenv.cfg)`, `included` when no rule matched, or, for
    /// an entry that cannot be stored, what is wrong with it
    /// (`symlink outside the app folder (-> /etc)`).
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
///
/// Entries that cannot be stored (bad symlinks, special files, names that
/// are not UTF-8) are reported in [`Selection::diagnostics`] unless an
/// ignore rule leaves them out first. An error is returned only when the
/// tree cannot be read (or lists an impossible name such as `a/b`).
pub fn select(tree: &dyn Tree) -> std::io::Result<Selection> {
    walk::Walker::new(tree).run()
}

/// Why a file name (one segment) cannot go into a bundle, if it cannot:
/// the strict archive reader would reject it.
pub(crate) fn name_problem(name: &str, at_root: bool) -> Option<&'static str> {
    if name.contains('\\') {
        Some("contains a backslash")
    } else if name.contains('\0') {
        Some("contains a NUL character")
    } else if at_root && is_drive_letter(name) {
        Some("starts like a Windows drive letter")
    } else {
        None
    }
}

fn is_drive_letter(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests;
