//! Entry-name rules shared by the writer (which refuses to write a name the
//! reader would reject) and the reader (which rejects it).

use std::collections::HashSet;

/// Longest entry name accepted, in bytes (Linux `PATH_MAX`). Longer names
/// could not be extracted anyway, and the bound keeps the memory a hostile
/// central directory can make the reader hold in check.
pub(crate) const MAX_NAME_LEN: usize = 4096;

/// Why a name is unsafe, as the end of a sentence ("`x` …").
pub(crate) fn unsafe_name_reason(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Some("is empty");
    }
    if bytes.len() > MAX_NAME_LEN {
        return Some("is longer than 4096 bytes");
    }
    if bytes.contains(&0) {
        return Some("contains a NUL byte");
    }
    if bytes.contains(&b'\\') {
        return Some("contains a backslash");
    }
    if bytes[0] == b'/' {
        return Some("is an absolute path");
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("starts with a drive letter");
    }
    for segment in name.split('/') {
        match segment {
            "" => return Some("has an empty path segment"),
            "." => return Some("has a `.` path segment"),
            ".." => return Some("has a `..` path segment"),
            _ => {}
        }
    }
    None
}

/// A clash between a new name and the names seen before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameClash {
    /// The same name twice.
    Duplicate,
    /// A file name that is also a directory of another entry; holds that
    /// directory's name.
    FileAndDirectory(String),
}

/// The names of an archive seen so far: files and the directories that hold
/// them, so `a` and `a/b` (which cannot both be extracted) are caught in
/// either order.
#[derive(Debug, Default)]
pub(crate) struct NameSet {
    files: HashSet<String>,
    explicit_dirs: HashSet<String>,
    implied_dirs: HashSet<String>,
}

impl NameSet {
    /// Records a file (`is_dir` false) or a directory entry (`name` without
    /// its trailing `/`) and reports a clash with the names seen before.
    /// `name` must already have passed [`unsafe_name_reason`].
    pub(crate) fn insert(&mut self, name: &str, is_dir: bool) -> Result<(), NameClash> {
        let duplicate = if is_dir {
            self.explicit_dirs.contains(name)
        } else {
            self.files.contains(name)
        };
        if duplicate {
            return Err(NameClash::Duplicate);
        }
        if !is_dir && (self.explicit_dirs.contains(name) || self.implied_dirs.contains(name)) {
            return Err(NameClash::FileAndDirectory(name.to_string()));
        }
        if is_dir && self.files.contains(name) {
            return Err(NameClash::FileAndDirectory(name.to_string()));
        }
        for (at, _) in name.match_indices('/') {
            let dir = &name[..at];
            if self.files.contains(dir) {
                return Err(NameClash::FileAndDirectory(dir.to_string()));
            }
        }
        for (at, _) in name.rmatch_indices('/') {
            let dir = &name[..at];
            if !self.implied_dirs.insert(dir.to_string()) {
                // Every shorter prefix was inserted along with this one.
                break;
            }
        }
        if is_dir {
            self.explicit_dirs.insert(name.to_string());
        } else {
            self.files.insert(name.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names() {
        for (name, why) in [
            ("", "is empty"),
            ("../x", "has a `..` path segment"),
            ("a/../b", "has a `..` path segment"),
            ("a/..", "has a `..` path segment"),
            ("./a", "has a `.` path segment"),
            ("/abs", "is an absolute path"),
            ("C:/x", "starts with a drive letter"),
            ("c:x", "starts with a drive letter"),
            ("a\\b", "contains a backslash"),
            ("a//b", "has an empty path segment"),
            ("a/", "has an empty path segment"),
            ("a\0b", "contains a NUL byte"),
        ] {
            assert_eq!(unsafe_name_reason(name), Some(why), "{name:?}");
        }
        let long = "a/".repeat(2048) + "b";
        assert_eq!(unsafe_name_reason(&long), Some("is longer than 4096 bytes"));
        for name in [
            "a",
            "a/b.py",
            "static/icon.png",
            "é/ü.txt",
            "xy:z",
            "a/c:",
            "1:/x",
            "...",
            "a..b",
        ] {
            assert_eq!(unsafe_name_reason(name), None, "{name:?}");
        }
    }

    #[test]
    fn clashes_in_either_order() {
        let mut set = NameSet::default();
        set.insert("a/b/c", false).unwrap();
        set.insert("a/b/d", false).unwrap();
        set.insert("a", true).unwrap();
        assert_eq!(set.insert("a/b/c", false), Err(NameClash::Duplicate));
        assert_eq!(set.insert("a", true), Err(NameClash::Duplicate));
        assert_eq!(
            set.insert("a/b", false),
            Err(NameClash::FileAndDirectory("a/b".into()))
        );
        assert_eq!(
            set.insert("a/b/c/e", false),
            Err(NameClash::FileAndDirectory("a/b/c".into()))
        );
        assert_eq!(
            set.insert("a/b/c", true),
            Err(NameClash::FileAndDirectory("a/b/c".into()))
        );
        set.insert("ab", false).unwrap();
        set.insert("a.b/c", false).unwrap();
        // A new deeper directory under a known one is recorded in full.
        set.insert("x/y", false).unwrap();
        set.insert("x/z/w", false).unwrap();
        assert_eq!(
            set.insert("x/z", false),
            Err(NameClash::FileAndDirectory("x/z".into()))
        );
    }
}
