//! [`FsTree`]: a real app folder, read with `std::fs` (native builds only).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{EntryKind, LinkProblem, Selection, Tree, TreeEntry, select};

/// An app folder on disk.
///
/// Symlinks are followed when they stay inside the folder: a link to a file
/// is listed as that file (with its mode), a link to a folder as that
/// folder. A link that leaves the folder, dangles, or points to a folder
/// that holds it is listed as [`EntryKind::BadLink`]. Only links are
/// resolved; regular files cost one `stat` each (for the execute bit).
#[derive(Debug, Clone)]
pub struct FsTree {
    /// The folder, canonical (absolute, no links).
    root: PathBuf,
}

impl FsTree {
    /// Opens the folder `root`.
    pub fn new(root: &Path) -> io::Result<FsTree> {
        let canonical = fs::canonicalize(root).map_err(|e| with_path(e, root))?;
        if !fs::metadata(&canonical)
            .map_err(|e| with_path(e, root))?
            .is_dir()
        {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{}: not a folder", root.display()),
            ));
        }
        Ok(FsTree { root: canonical })
    }

    /// The folder, as a canonical path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn absolute(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }

    /// What the symlink at `link` (an entry of folder `dir`) stands for.
    fn follow(&self, dir: &str, link: &Path) -> EntryKind {
        let target = fs::read_link(link)
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bad = |problem| EntryKind::BadLink {
            target: target.clone(),
            problem,
        };
        let (Ok(meta), Ok(real)) = (fs::metadata(link), fs::canonicalize(link)) else {
            return bad(LinkProblem::Broken);
        };
        if !real.starts_with(&self.root) {
            return bad(LinkProblem::Outside);
        }
        if meta.is_dir() {
            if self.holds(dir, &real) {
                return bad(LinkProblem::Loop);
            }
            return EntryKind::Dir;
        }
        if meta.is_file() {
            return EntryKind::File {
                executable: is_executable(&meta),
            };
        }
        EntryKind::Special {
            what: special_kind(&meta.file_type()).to_string(),
        }
    }

    /// True when the real folder `real` holds (or is) a folder on the way
    /// to `dir`: walking it would reach `dir` again, forever.
    fn holds(&self, dir: &str, real: &Path) -> bool {
        if self.root.starts_with(real) {
            return true;
        }
        let mut end = 0;
        loop {
            let next = dir[end..].find('/').map_or(dir.len(), |i| end + i);
            if next == 0 {
                return false;
            }
            match fs::canonicalize(self.absolute(&dir[..next])) {
                Ok(ancestor) if ancestor.starts_with(real) => return true,
                _ => {}
            }
            if next == dir.len() {
                return false;
            }
            end = next + 1;
        }
    }
}

impl Tree for FsTree {
    fn list(&self, dir: &str) -> io::Result<Vec<TreeEntry>> {
        let path = self.absolute(dir);
        let mut entries = Vec::new();
        for item in fs::read_dir(&path).map_err(|e| with_path(e, &path))? {
            let item = item.map_err(|e| with_path(e, &path))?;
            let file_type = item.file_type().map_err(|e| with_path(e, &item.path()))?;
            let file_name = item.file_name();
            let Some(name) = file_name.to_str() else {
                entries.push(TreeEntry {
                    name: file_name.to_string_lossy().into_owned(),
                    kind: EntryKind::BadName {
                        reason: "is not valid UTF-8".to_string(),
                    },
                });
                continue;
            };
            let kind = if file_type.is_file() {
                let meta = item.metadata().map_err(|e| with_path(e, &item.path()))?;
                EntryKind::File {
                    executable: is_executable(&meta),
                }
            } else if file_type.is_dir() {
                EntryKind::Dir
            } else if file_type.is_symlink() {
                self.follow(dir, &item.path())
            } else {
                EntryKind::Special {
                    what: special_kind(&file_type).to_string(),
                }
            };
            entries.push(TreeEntry {
                name: name.to_string(),
                kind,
            });
        }
        Ok(entries)
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let path = self.absolute(path);
        fs::read(&path).map_err(|e| with_path(e, &path))
    }

    fn is_file(&self, path: &str) -> bool {
        fs::metadata(self.absolute(path)).is_ok_and(|m| m.is_file())
    }
}

/// Selects the files of the app folder `path`.
///
/// ```no_run
/// let selection = q8s_core::select::select_dir(std::path::Path::new("my-app"))?;
/// for file in &selection.files {
///     println!("{}", file.path);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn select_dir(path: &Path) -> io::Result<Selection> {
    select(&FsTree::new(path)?)
}

/// The same error, saying which path it concerns.
fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn special_kind(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "an unknown kind of file"
    }
}

#[cfg(not(unix))]
fn special_kind(_file_type: &fs::FileType) -> &'static str {
    "an unknown kind of file"
}

#[cfg(all(test, unix))]
mod tests;
