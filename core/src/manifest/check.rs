//! The state of one validation run: positions, collected diagnostics, and
//! the checks every table shares (types, missing and unknown keys).

use std::ops::Range;

use crate::diagnostic::Diagnostic;

use super::codes;
use super::keys::{self, TableKeys};
use super::node::Node;
use super::source::LineIndex;
use super::suggest;

/// A string value with where it came from.
pub(super) struct Field<'a> {
    pub value: &'a str,
    pub path: String,
    pub span: Option<Range<usize>>,
}

/// Collects every diagnostic of one manifest.
pub(super) struct Checker<'a> {
    text: &'a str,
    /// Diagnostics with the byte offset they point at; positions are
    /// computed at the end, in one pass over the text.
    found: Vec<(Diagnostic, Option<usize>)>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Checker {
            text,
            found: Vec::new(),
        }
    }

    /// The 1-based position of a span's start.
    pub(super) fn position(&self, span: &Option<Range<usize>>) -> Option<(u32, u32)> {
        span.as_ref()
            .map(|s| LineIndex::new(self.text).position(s.start))
    }

    /// Every diagnostic, with its line and column.
    pub(super) fn finish(self) -> Vec<Diagnostic> {
        let lines = LineIndex::new(self.text);
        let offsets: Vec<usize> = self.found.iter().filter_map(|(_, o)| *o).collect();
        let mut positions = lines.positions(&offsets).into_iter();
        self.found
            .into_iter()
            .map(|(d, offset)| match offset {
                Some(_) => d.at_opt(positions.next()),
                None => d,
            })
            .collect()
    }

    /// The source text of a span.
    pub(super) fn raw(&self, span: &Option<Range<usize>>) -> &'a str {
        span.as_ref()
            .and_then(|s| self.text.get(s.clone()))
            .unwrap_or_default()
    }

    pub(super) fn error(
        &mut self,
        code: &str,
        path: &str,
        span: &Option<Range<usize>>,
        message: String,
        help: Option<String>,
    ) {
        let d = Diagnostic::error(code, path, message);
        self.push(d, span, help);
    }

    pub(super) fn warning(
        &mut self,
        code: &str,
        path: &str,
        span: &Option<Range<usize>>,
        message: String,
        help: Option<String>,
    ) {
        let d = Diagnostic::warning(code, path, message);
        self.push(d, span, help);
    }

    pub(super) fn note(
        &mut self,
        code: &str,
        path: &str,
        span: &Option<Range<usize>>,
        message: String,
        help: Option<String>,
    ) {
        let d = Diagnostic::note(code, path, message);
        self.push(d, span, help);
    }

    fn push(&mut self, mut d: Diagnostic, span: &Option<Range<usize>>, help: Option<String>) {
        d.help = help;
        self.found.push((d, span.as_ref().map(|s| s.start)));
    }

    pub(super) fn has_errors(&self) -> bool {
        self.found.iter().any(|(d, _)| d.is_error())
    }

    /// Reports a value of the wrong TOML type.
    pub(super) fn wrong_type(&mut self, path: &str, node: Node<'_>, expected: &str) {
        let found = node.type_name();
        let help = match node {
            Node::Scalar(_) if expected == "a string" => {
                let raw = self.raw(&node.span()).trim();
                Some(format!(
                    "put the value in quotes: \"{}\"",
                    raw.escape_default()
                ))
            }
            Node::Scalar(_) if expected == "an array of strings" => {
                Some(format!("write a list: [{}]", self.raw(&node.span()).trim()))
            }
            _ if expected == "a table" => Some(format!(
                "write `[{path}]` on a line of its own, with its keys on the lines below"
            )),
            _ => None,
        };
        self.error(
            codes::WRONG_TYPE,
            path,
            &node.span(),
            format!("{path}: expected {expected}, found {found}"),
            help,
        );
    }

    /// Reports a required key that is absent; `example` is a value to show.
    pub(super) fn missing_key(
        &mut self,
        table: Node<'_>,
        table_path: &str,
        key: &str,
        example: &str,
    ) {
        let path = join(table_path, key);
        let twin = table
            .entries()
            .into_iter()
            .find(|e| e.key != key && e.key.eq_ignore_ascii_case(key));
        let help = match twin {
            Some(twin) => format!("keys are case-sensitive: rename `{}` to `{key}`", twin.key),
            None => format!("add `{key} = {example}`"),
        };
        self.error(
            codes::MISSING_KEY,
            &path,
            &table.span(),
            format!("{path} is missing"),
            Some(help),
        );
    }

    /// An optional string value; a value of another type is reported.
    pub(super) fn string<'n>(
        &mut self,
        table: Node<'n>,
        table_path: &str,
        key: &str,
    ) -> Option<Field<'n>> {
        let node = table.get(key)?;
        let path = join(table_path, key);
        match node.as_str() {
            Some(value) => Some(Field {
                value,
                path,
                span: node.span(),
            }),
            None => {
                self.wrong_type(&path, node, "a string");
                None
            }
        }
    }

    /// A required string value; absence and other types are reported.
    pub(super) fn required_string<'n>(
        &mut self,
        table: Node<'n>,
        table_path: &str,
        key: &str,
        example: &str,
    ) -> Option<Field<'n>> {
        if table.get(key).is_none() {
            self.missing_key(table, table_path, key, example);
            return None;
        }
        self.string(table, table_path, key)
    }

    /// Warns about every key of `table` that `keys` does not know.
    pub(super) fn check_keys(&mut self, table: Node<'_>, table_path: &str, keys: &TableKeys) {
        for entry in table.entries() {
            if keys.known.contains(&entry.key) {
                continue;
            }
            let path = join(table_path, entry.key);
            // A table with a header is shown and pointed at by its header.
            let (kind, label, span) = match entry.node {
                Node::Table(t) if !t.is_implicit() && !t.is_dotted() => {
                    ("table", format!("[{path}]"), entry.node.span())
                }
                Node::ArrayOfTables(_) => ("table", format!("[[{path}]]"), entry.node.span()),
                _ => ("key", path.clone(), entry.key_span.clone()),
            };
            if let Some((_, help)) = keys.unsupported.iter().find(|(k, _)| *k == entry.key) {
                let setting = if kind == "table" { "table" } else { "setting" };
                let message = format!("{label} is an H2O AI Cloud {setting} not used by q8s");
                let value = match entry.node.as_str() {
                    Some(value) => format!("{value:?}"),
                    None => "a file".to_string(),
                };
                let help = help.replace("{value}", &value);
                self.warning(codes::UNSUPPORTED_KEY, &path, &span, message, Some(help));
                continue;
            }
            let is_table = entry.node.is_table() || matches!(entry.node, Node::ArrayOfTables(_));
            let help = match (
                keys::home_of(entry.key),
                suggest::closest(entry.key, keys.known),
            ) {
                (Some(home), _) if home != keys.display => {
                    format!("`{}` belongs in {home}", entry.key)
                }
                (_, Some(close)) if close.eq_ignore_ascii_case(entry.key) => {
                    format!("did you mean `{close}`? keys are case-sensitive")
                }
                (_, Some(close)) => format!("did you mean `{close}`?"),
                // H2O AI Cloud apps keep their own settings in tables of
                // the manifest (`[Brand]`, `[Data]`) and read them at run
                // time: nothing to fix.
                _ if is_table && table_path.is_empty() => {
                    self.note(
                        codes::EXTRA_TABLE,
                        &path,
                        &span,
                        format!("{label} is the app's own table; q8s does not read it"),
                        Some("the manifest file stays in the bundle, so the app can read the table at run time".into()),
                    );
                    continue;
                }
                _ => "q8s ignores it".to_string(),
            };
            self.warning(
                codes::UNKNOWN_KEY,
                &path,
                &span,
                format!("unknown {kind} {label}"),
                Some(help),
            );
        }
    }
}

/// `App` + `Name` → `App.Name`; keys that are not bare TOML keys are quoted.
pub(super) fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = match bare {
        true => key.to_string(),
        false => format!("{key:?}"),
    };
    match prefix.is_empty() {
        true => key,
        false => format!("{prefix}.{key}"),
    }
}
