//! The rules an entry must follow beyond being well-formed: safe names, no
//! duplicates or file/directory clashes, regular files only, no encryption,
//! stored or deflate, plausible sizes.

use super::central::RawEntry;
use super::{ArchiveError, Limits, diagnostic};
use crate::archive::format::*;
use crate::diagnostic::Diagnostic;

/// The problems found while opening an archive, reported in archive order
/// (those about the whole archive last), however they were found.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<(usize, Diagnostic)>);

impl Problems {
    /// A problem of the entry at `index` in the central directory.
    pub(super) fn entry(&mut self, index: usize, diagnostic: Diagnostic) {
        self.0.push((index, diagnostic));
    }

    /// A problem of the archive as a whole.
    pub(super) fn archive(&mut self, diagnostic: Diagnostic) {
        self.0.push((usize::MAX, diagnostic));
    }

    /// `value` when nothing was found, the sorted diagnostics otherwise.
    pub(super) fn into_result<T>(mut self, value: T) -> Result<T, ArchiveError> {
        if self.0.is_empty() {
            return Ok(value);
        }
        self.0.sort_by_key(|(index, _)| *index);
        Err(ArchiveError::Invalid(
            self.0.into_iter().map(|(_, d)| d).collect(),
        ))
    }
}

/// Checks one entry's name, type, method and declared sizes.
pub(super) fn check_entry(
    index: usize,
    entry: &RawEntry,
    limits: &Limits,
    problems: &mut Problems,
) {
    let name = entry.name.as_str();
    let mut problem =
        |code: &str, message: String| problems.entry(index, diagnostic(code, name, message));

    if let Some(reason) = entry.unsafe_name {
        problem("unsafe-path", format!("entry name {name:?} {reason}"));
    }

    match entry.unix_mode.map(|mode| mode & S_IFMT) {
        Some(S_IFLNK) => problem("symlink-entry", format!("{name:?} is a symbolic link")),
        Some(S_IFDIR) if !entry.is_dir => problem(
            "special-entry",
            format!("{name:?} is marked as a directory but its name does not end with `/`"),
        ),
        Some(0 | S_IFREG | S_IFDIR) | None => {}
        Some(kind) => problem(
            "special-entry",
            format!("{name:?} is a special file (type {kind:#o}), not a regular file"),
        ),
    }

    if entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_HEADERS) != 0
        || entry.method == METHOD_AES
    {
        problem("encrypted-entry", format!("{name:?} is encrypted"));
    } else if entry.method != METHOD_STORED && entry.method != METHOD_DEFLATE {
        problem(
            "unsupported-compression",
            format!(
                "{name:?} uses compression method {}; only stored (0) and deflate (8) are supported",
                entry.method
            ),
        );
    } else if entry.method == METHOD_STORED && entry.compressed_size != entry.size {
        problem(
            "size-mismatch",
            format!(
                "{name:?} is stored but declares {} bytes of data for a size of {}",
                entry.compressed_size, entry.size
            ),
        );
    }

    if entry.is_dir && entry.size != 0 {
        problem(
            "corrupt-archive",
            format!("directory entry {name:?} has content"),
        );
    }
    if entry.size > limits.max_ratio.saturating_mul(entry.compressed_size) {
        problem(
            "zip-bomb",
            format!(
                "{name:?} would inflate {} bytes to {}, more than {} times",
                entry.compressed_size, entry.size, limits.max_ratio
            ),
        );
    }
}

/// Finds names given twice and files that are also the directory of another
/// entry (`a` and `a/b`, or `a` and `a/`), which cannot both be extracted.
/// Each clash is reported on the later of the two entries.
///
/// Works on the sorted names, in O(n log n) comparisons and no memory beyond
/// one reference per entry: a hostile archive of deep, distinct paths costs
/// no more than any other.
pub(super) fn check_names(entries: &[RawEntry], problems: &mut Problems) {
    let mut paths: Vec<(&str, usize)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.unsafe_name.is_none())
        .map(|(i, e)| (e.name.strip_suffix('/').unwrap_or(&e.name), i))
        .collect();
    paths.sort_unstable();

    let mut clash = |a: usize, b: usize, code: &str| {
        let (earlier, later) = (a.min(b), a.max(b));
        let (name, other) = (&entries[later].name, &entries[earlier].name);
        let message = if code == "duplicate-entry" {
            format!("{name:?} appears more than once")
        } else {
            format!("{name:?} clashes with {other:?}: a path cannot be both a file and a directory")
        };
        problems.entry(later, diagnostic(code, name, message));
    };
    for pair in paths.windows(2) {
        let ((path, first), (same, second)) = (pair[0], pair[1]);
        if path == same {
            let code = if entries[first].is_dir == entries[second].is_dir {
                "duplicate-entry"
            } else {
                "path-conflict"
            };
            clash(first, second, code);
        }
    }
    for &(path, index) in &paths {
        if entries[index].is_dir {
            continue;
        }
        // Names under `path/` sort together, right from `path/` on.
        let below = format!("{path}/");
        let at = paths.partition_point(|(other, _)| *other < below.as_str());
        match paths.get(at) {
            Some(&(other, other_index)) if other.starts_with(&below) => {
                clash(index, other_index, "path-conflict");
            }
            _ => {}
        }
    }
}
