//! `.gitignore` files: parsing lines into patterns and finding the line
//! that decides a path, with git's semantics.
//!
//! - Blank lines and lines starting with `#` are skipped; trailing spaces
//!   are dropped unless escaped with `\`; a CR before the newline and a
//!   UTF-8 byte order mark are dropped.
//! - `!` negates (re-includes); `\!` and `\#` start a literal `!` or `#`.
//! - A trailing `/` matches directories only.
//! - A pattern without any other `/` matches the name at any depth below
//!   the file's folder; one with a `/` at the start or in the middle is
//!   anchored to that folder.
//! - Within one file the last matching line wins.

use super::wildmatch::{is_glob_special, wildmatch};

/// One compiled line.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The glob, without `!`, a leading `/` or a trailing `/`.
    glob: Box<[u8]>,
    /// Bytes of `glob` before its first glob character.
    literal_len: usize,
    /// Matches the last path segment only (the line had no `/`).
    basename_only: bool,
    /// `*` followed by literal bytes: a suffix test suffices.
    suffix_only: bool,
    /// The line started with `!`.
    pub(crate) negated: bool,
    /// The line ended with `/`.
    dir_only: bool,
    /// 1-based line number in its file.
    pub(crate) line: u32,
    /// The line as git reads it (CR and unescaped trailing spaces removed).
    pub(crate) text: String,
}

impl Pattern {
    /// Compiles one line (already stripped of its newline, CR and
    /// trailing spaces); `None` when it matches nothing.
    fn parse(line: &[u8], number: u32) -> Option<Pattern> {
        let text = String::from_utf8_lossy(line).into_owned();
        let mut body = line;
        let negated = body.first() == Some(&b'!');
        if negated {
            body = &body[1..];
        }
        let dir_only = body.last() == Some(&b'/');
        if dir_only {
            body = &body[..body.len() - 1];
        }
        let basename_only = !body.contains(&b'/');
        if !basename_only && body.first() == Some(&b'/') {
            body = &body[1..];
        }
        if body.is_empty() {
            // `/`, `!` or `!/`: git keeps them, and they never match.
            return None;
        }
        let literal_len = body
            .iter()
            .position(|&c| is_glob_special(c))
            .unwrap_or(body.len());
        let suffix_only = body[0] == b'*' && !body[1..].iter().any(|&c| is_glob_special(c));
        Some(Pattern {
            glob: body.into(),
            literal_len,
            basename_only,
            suffix_only,
            negated,
            dir_only,
            line: number,
            text,
        })
    }

    /// True when this line matches `relative` (the path below the
    /// pattern file's folder, `name` its last segment).
    fn matches(&self, relative: &[u8], name: &[u8], is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        let glob = &*self.glob;
        if self.basename_only {
            if self.literal_len == glob.len() {
                return name == glob;
            }
            if self.suffix_only {
                return name.ends_with(&glob[1..]);
            }
            return wildmatch(glob, name, false);
        }
        if self.literal_len == glob.len() {
            return relative == glob;
        }
        relative.starts_with(&glob[..self.literal_len]) && wildmatch(glob, relative, true)
    }
}

/// The patterns of one ignore file.
#[derive(Debug, Clone)]
pub(crate) struct PatternList {
    /// How rules of this file are named in `explain`: `.gitignore`,
    /// `sub/.gitignore`, `.q8signore`.
    pub(crate) source: String,
    /// The folder holding the file: `""` or `sub/` (with the slash).
    base_len: usize,
    patterns: Vec<Pattern>,
}

impl PatternList {
    /// Parses the bytes of an ignore file found in folder `base` (`""` or
    /// ending with `/`).
    pub(crate) fn parse(source: String, base: &str, bytes: &[u8]) -> PatternList {
        debug_assert!(base.is_empty() || base.ends_with('/'));
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let patterns = bytes
            .split(|&b| b == b'\n')
            .zip(1u32..)
            .filter_map(|(line, number)| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                // Like git, a NUL byte ends the line.
                let line = line.split(|&b| b == 0).next().unwrap_or_default();
                if line.first() == Some(&b'#') {
                    return None;
                }
                Pattern::parse(trim_trailing_spaces(line), number)
            })
            .collect();
        PatternList {
            source,
            base_len: base.len(),
            patterns,
        }
    }

    /// True when no line can match anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The last line matching `path` (relative to the app root; it must lie
    /// below this file's folder), whose last segment is `name`.
    pub(crate) fn last_match(&self, path: &str, name: &str, is_dir: bool) -> Option<&Pattern> {
        let relative = &path.as_bytes()[self.base_len..];
        self.patterns
            .iter()
            .rev()
            .find(|pattern| pattern.matches(relative, name.as_bytes(), is_dir))
    }
}

/// Drops trailing spaces that are not escaped with a backslash (tabs stay).
fn trim_trailing_spaces(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && line[end - 1] == b' ' {
        let backslashes = line[..end - 1]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> PatternList {
        PatternList::parse(".gitignore".into(), "", text.as_bytes())
    }

    /// The deciding line's text, or `None`.
    fn decide(list: &PatternList, path: &str, is_dir: bool) -> Option<String> {
        let name = path.rsplit('/').next().unwrap();
        list.last_match(path, name, is_dir).map(|p| p.text.clone())
    }

    fn ignored(text: &str, path: &str, is_dir: bool) -> bool {
        let list = list(text);
        let name = path.rsplit('/').next().unwrap();
        list.last_match(path, name, is_dir)
            .is_some_and(|p| !p.negated)
    }

    #[test]
    fn trailing_spaces_are_dropped_unless_escaped() {
        assert_eq!(trim_trailing_spaces(b"a  "), b"a");
        assert_eq!(trim_trailing_spaces(b"a\\ "), b"a\\ ");
        assert_eq!(trim_trailing_spaces(b"a\\  "), b"a\\ ");
        assert_eq!(trim_trailing_spaces(b"a\\\\ "), b"a\\\\");
        assert_eq!(trim_trailing_spaces(b"a\t"), b"a\t");
        assert_eq!(trim_trailing_spaces(b"   "), b"");
        assert!(ignored("a\\ \n", "a ", false));
        assert!(ignored("a   \n", "a", false));
        assert!(!ignored("a   \n", "a ", false));
    }

    #[test]
    fn comments_blank_lines_crlf_and_bom() {
        let list = list("\u{feff}# comment\r\n\r\n*.log\r\n  \n\\#keep\n");
        assert_eq!(list.patterns.len(), 2);
        assert_eq!(list.patterns[0].line, 3);
        assert_eq!(list.patterns[0].text, "*.log");
        assert_eq!(decide(&list, "x.log", false).as_deref(), Some("*.log"));
        assert_eq!(decide(&list, "#keep", false).as_deref(), Some("\\#keep"));
        assert!(ignored(" #x\n", " #x", false));
    }

    #[test]
    fn lone_slash_and_bang_match_nothing() {
        let list = list("/\n!\n!/\n");
        assert!(list.is_empty());
    }

    #[test]
    fn negation_and_literal_bang() {
        assert!(!ignored("*.log\n!keep.log\n", "keep.log", false));
        assert!(ignored("!keep.log\n*.log\n", "keep.log", false));
        assert!(ignored("\\!x\n", "!x", false));
        assert!(!ignored("\\!x\n", "x", false));
    }

    #[test]
    fn names_without_slash_match_at_any_depth() {
        assert!(ignored("build\n", "build", true));
        assert!(ignored("build\n", "a/b/build", false));
        assert!(ignored("*.o\n", "src/x.o", false));
        assert!(!ignored("*.o\n", "src/x.o.txt", false));
        assert!(ignored("x?z\n", "deep/xyz", false));
        assert!(ignored("[ab]*\n", "q/boo", false));
    }

    #[test]
    fn a_slash_anchors_to_the_files_folder() {
        assert!(ignored("/build\n", "build", true));
        assert!(!ignored("/build\n", "src/build", true));
        assert!(ignored("doc/frotz\n", "doc/frotz", false));
        assert!(!ignored("doc/frotz\n", "a/doc/frotz", false));
        assert!(ignored("doc/*.txt\n", "doc/a.txt", false));
        assert!(!ignored("doc/*.txt\n", "doc/sub/a.txt", false));
        assert!(ignored("/*.qz\n", "x.qz", false));
        assert!(!ignored("/*.qz\n", "sub/x.qz", false));
    }

    #[test]
    fn trailing_slash_matches_directories_only() {
        assert!(ignored("build/\n", "build", true));
        assert!(!ignored("build/\n", "build", false));
        assert!(ignored("build/\n", "src/build", true));
        assert!(ignored("doc/build/\n", "doc/build", true));
        assert!(!ignored("doc/build/\n", "doc/build", false));
    }

    #[test]
    fn double_star_forms() {
        assert!(ignored("**/foo\n", "foo", false));
        assert!(ignored("**/foo\n", "a/b/foo", false));
        assert!(ignored("**/foo/bar\n", "x/foo/bar", false));
        assert!(ignored("abc/**\n", "abc/x/y", false));
        assert!(!ignored("abc/**\n", "abc", true));
        assert!(ignored("a/**/b\n", "a/b", false));
        assert!(ignored("a/**/b\n", "a/x/y/b", false));
        assert!(!ignored("a/**/b\n", "z/a/x/b", false));
        assert!(ignored("**\n", "anything/at/all", false));
    }

    #[test]
    fn nested_files_match_relative_to_their_folder() {
        let list = PatternList::parse("sub/.gitignore".into(), "sub/", b"/out\nlib/*.js\n*.tmp\n");
        let m = |path: &str| {
            let name = path.rsplit('/').next().unwrap();
            list.last_match(path, name, false).map(|p| p.line)
        };
        assert_eq!(m("sub/out"), Some(1));
        assert_eq!(m("sub/x/out"), None);
        assert_eq!(m("sub/lib/a.js"), Some(2));
        assert_eq!(m("sub/x/lib/a.js"), None);
        assert_eq!(m("sub/deep/er/a.tmp"), Some(3));
    }

    #[test]
    fn last_matching_line_wins() {
        let list = list("*.txt\n!a*.txt\nab.txt\n");
        assert_eq!(decide(&list, "ab.txt", false).as_deref(), Some("ab.txt"));
        assert_eq!(decide(&list, "ac.txt", false).as_deref(), Some("!a*.txt"));
        assert_eq!(decide(&list, "b.txt", false).as_deref(), Some("*.txt"));
        assert_eq!(decide(&list, "b.md", false), None);
    }

    #[test]
    fn escapes_and_classes() {
        assert!(ignored("\\*\n", "*", false));
        assert!(!ignored("\\*\n", "x", false));
        assert!(ignored("file[0-9].txt\n", "file7.txt", false));
        assert!(!ignored("file[!0-9].txt\n", "file7.txt", false));
        assert!(ignored("a\\[b]\n", "a[b]", false));
    }
}
