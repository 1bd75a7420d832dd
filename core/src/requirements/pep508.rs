//! PEP 508 dependency specifiers (`name[extras] >= 1.0, < 2 ; marker`, or
//! `name @ url ; marker`), parsed strictly with the position of the first
//! problem, and with a special answer for two requirements run together on
//! one line (`numpy pandas`).

use super::pep440::{self, Version};

/// A parsed requirement; only what the checks use is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement<'a> {
    /// The project name as written.
    pub name: &'a str,
    /// The version clauses, in order.
    pub specifiers: Vec<Specifier>,
    /// The URL after `@`, if any.
    pub url: Option<&'a str>,
}

/// One version clause: `>=1.0`, `==1.8.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Specifier {
    /// `==`, `!=`, `<=`, `>=`, `<`, `>`, `~=` or `===`.
    pub op: &'static str,
    /// The version, or `None` for `===` with a text that is not a version.
    pub version: Option<Version>,
    /// `==1.8.*` or `!=1.8.*`.
    pub wildcard: bool,
}

impl Specifier {
    /// Whether `version` satisfies this clause (release numbers compared as
    /// [`Version::cmp_release`] does; `===` compares them too).
    pub(crate) fn allows(&self, version: &Version) -> bool {
        use std::cmp::Ordering::*;
        let Some(spec) = &self.version else {
            return false;
        };
        let same_prefix = |prefix: &[u64]| {
            version.epoch == spec.epoch
                && (0..prefix.len())
                    .all(|i| version.release.get(i).copied().unwrap_or(0) == prefix[i])
        };
        let order = version.cmp_release(spec);
        match self.op {
            "==" if self.wildcard => same_prefix(&spec.release),
            "!=" if self.wildcard => !same_prefix(&spec.release),
            "==" | "===" => order == Equal,
            "!=" => order != Equal,
            "<" => order == Less,
            "<=" => order != Greater,
            ">" => order == Greater,
            ">=" => order != Less,
            "~=" => {
                order != Less
                    && same_prefix(&spec.release[..spec.release.len().saturating_sub(1).max(1)])
            }
            _ => false,
        }
    }
}

/// Why a line is not a requirement, and where (a byte offset in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
    /// The name of a second requirement found where the first should end.
    pub run_together: Option<String>,
}

const OPERATORS: [&str; 8] = ["===", "==", "!=", "<=", ">=", "~=", "<", ">"];

/// The environment marker variables of PEP 508, and the legacy dotted
/// spellings pip and uv still accept.
const MARKER_VARIABLES: [&str; 18] = [
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
    "os.name",
    "sys.platform",
    "platform.version",
    "platform.machine",
    "platform.python_implementation",
    "python_implementation",
];

/// Parses one requirement (a whole logical line without comment or
/// per-requirement options).
pub(crate) fn parse(text: &str) -> Result<Requirement<'_>, SyntaxError> {
    let mut p = Parser { text, at: 0 };
    p.requirement()
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) -> bool {
        let before = self.at;
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t']).len();
        self.at > before
    }

    fn eat(&mut self, s: &str) -> bool {
        let done = self.rest().starts_with(s);
        if done {
            self.at += s.len();
        }
        done
    }

    fn error<T>(&self, at: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset: at,
            message: message.into(),
            run_together: None,
        })
    }

    /// A run of name characters `[A-Za-z0-9._-]`.
    fn identifier(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn name(&mut self, what: &str) -> Result<&'a str, SyntaxError> {
        let start = self.at;
        let name = self.identifier();
        if name.is_empty() {
            let found = describe(self.peek());
            return self.error(start, format!("expected {what}, found {found}"));
        }
        let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
            return self.error(
                start,
                format!("{what} `{name}` must start and end with a letter or digit"),
            );
        }
        Ok(name)
    }

    fn requirement(&mut self) -> Result<Requirement<'a>, SyntaxError> {
        self.skip_ws();
        let name = self.name("a package name")?;
        self.skip_ws();
        if self.eat("[") {
            self.extras()?;
            self.skip_ws();
        }
        let mut requirement = Requirement {
            name,
            specifiers: Vec::new(),
            url: None,
        };
        if self.eat("@") {
            self.skip_ws();
            requirement.url = Some(self.url()?);
            // After a URL, a marker needs a space before `;` (a `;` may be
            // part of the URL).
            if self.skip_ws() && self.eat(";") {
                self.marker_clause()?;
            }
        } else {
            requirement.specifiers = self.version_spec()?;
            self.skip_ws();
            if self.eat(";") {
                self.marker_clause()?;
            }
        }
        self.skip_ws();
        self.end()?;
        Ok(requirement)
    }

    fn extras(&mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.eat("]") {
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.name("an extra's name")?;
            self.skip_ws();
            if self.eat("]") {
                return Ok(());
            }
            if !self.eat(",") {
                let found = describe(self.peek());
                return self.error(
                    self.at,
                    format!("expected `,` or `]` in the extras, found {found}"),
                );
            }
        }
    }

    fn url(&mut self) -> Result<&'a str, SyntaxError> {
        let start = self.at;
        let rest = self.rest();
        let len = rest.find([' ', '\t']).unwrap_or(rest.len());
        let url = &rest[..len];
        let scheme_len = url.find(':').filter(|&i| {
            let scheme = &url[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        if url.is_empty() || scheme_len.is_none() {
            return self.error(
                start,
                "expected a URL after `@` (e.g. `https://…` or `file:…`)",
            );
        }
        self.at += len;
        Ok(url)
    }

    fn version_spec(&mut self) -> Result<Vec<Specifier>, SyntaxError> {
        let parenthesised = self.eat("(");
        let mut specifiers = Vec::new();
        self.skip_ws();
        let starts_clause = |p: &Self| OPERATORS.iter().any(|op| p.rest().starts_with(op));
        if parenthesised && self.eat(")") {
            return Ok(specifiers);
        }
        if !starts_clause(self) {
            if self.rest().starts_with('=') {
                return self.error(
                    self.at,
                    "`=` alone is not a comparison: pin a version with `==`",
                );
            }
            if parenthesised {
                let found = describe(self.peek());
                return self.error(
                    self.at,
                    format!("expected a version clause such as `>=1.0`, found {found}"),
                );
            }
            self.maybe_run_together()?;
            return Ok(specifiers);
        }
        loop {
            specifiers.push(self.clause()?);
            self.skip_ws();
            if !self.eat(",") {
                break;
            }
            self.skip_ws();
            // A trailing comma, as `packaging` (and so pip) accepts.
            if matches!(self.peek(), None | Some(';' | ')')) {
                break;
            }
            if !starts_clause(self) {
                self.maybe_run_together()?;
                let found = describe(self.peek());
                return self.error(
                    self.at,
                    format!("expected a version clause such as `<2` after `,`, found {found}"),
                );
            }
        }
        if parenthesised {
            self.skip_ws();
            if !self.eat(")") {
                let found = describe(self.peek());
                return self.error(self.at, format!("expected `)`, found {found}"));
            }
        } else {
            self.maybe_run_together()?;
        }
        Ok(specifiers)
    }

    /// `>=1.0`: an operator and a version.
    fn clause(&mut self) -> Result<Specifier, SyntaxError> {
        let op_at = self.at;
        let op = OPERATORS
            .into_iter()
            .find(|op| self.eat(op))
            .unwrap_or("==");
        self.skip_ws();
        let start = self.at;
        let rest = self.rest();
        let len = rest.find([' ', '\t', ',', ';', ')']).unwrap_or(rest.len());
        let text = &rest[..len];
        if text.is_empty() {
            return self.error(start, format!("expected a version after `{op}`"));
        }
        self.at += len;
        if op == "===" {
            return Ok(Specifier {
                op,
                version: pep440::parse(text, false),
                wildcard: false,
            });
        }
        let wildcard = text.ends_with(".*");
        if wildcard && !matches!(op, "==" | "!=") {
            return self.error(
                start,
                format!("`{op}{text}`: only `==` and `!=` take a `.*` wildcard"),
            );
        }
        let Some(version) = pep440::parse(text, wildcard) else {
            let close = text.trim_start_matches('=');
            let help = if close != text && pep440::parse(close, true).is_some() {
                format!(" (write `{op}{close}`)")
            } else {
                String::new()
            };
            return self.error(start, format!("`{text}` is not a version{help}"));
        };
        if version.local && !matches!(op, "==" | "!=") {
            return self.error(
                start,
                format!("`{op}{text}`: a local version (`+…`) only goes with `==` or `!=`"),
            );
        }
        if op == "~=" && version.release.len() < 2 {
            return self.error(
                op_at,
                format!("`~={text}` needs at least two numbers, e.g. `~={text}.0`"),
            );
        }
        Ok(Specifier {
            op,
            version: Some(version),
            wildcard,
        })
    }

    /// Where a requirement may end or go on with `;`, a name means a second
    /// requirement on the same line.
    fn maybe_run_together(&mut self) -> Result<(), SyntaxError> {
        let save = self.at;
        self.skip_ws();
        let at = self.at;
        if self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            let second = &self.text[at..];
            if let Ok(next) = parse(second) {
                return Err(SyntaxError {
                    offset: at,
                    message: format!("a second requirement, `{}`, starts here", next.name),
                    run_together: Some(next.name.to_string()),
                });
            }
            let word = self.identifier();
            let found = format!("`{word}`");
            self.at = at;
            return self.error(
                at,
                format!("expected a version clause, `;` or the end of the line, found {found}"),
            );
        }
        self.at = save;
        Ok(())
    }

    fn end(&mut self) -> Result<(), SyntaxError> {
        match self.peek() {
            None => Ok(()),
            Some(c) => self.error(self.at, format!("unexpected {}", describe(Some(c)))),
        }
    }

    fn marker_clause(&mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.peek().is_none() {
            return self.error(self.at, "expected an environment marker after `;`");
        }
        self.marker_or()
    }

    fn marker_or(&mut self) -> Result<(), SyntaxError> {
        self.marker_and()?;
        while self.keyword("or") {
            self.marker_and()?;
        }
        Ok(())
    }

    fn marker_and(&mut self) -> Result<(), SyntaxError> {
        self.marker_expr()?;
        while self.keyword("and") {
            self.marker_expr()?;
        }
        Ok(())
    }

    /// ` and `/` or ` between expressions.
    fn keyword(&mut self, word: &str) -> bool {
        let save = self.at;
        self.skip_ws();
        let rest = self.rest();
        let follows = rest[word.len().min(rest.len())..].chars().next();
        if rest.starts_with(word) && !follows.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.at += word.len();
            self.skip_ws();
            return true;
        }
        self.at = save;
        false
    }

    fn marker_expr(&mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.eat("(") {
            self.marker_or()?;
            self.skip_ws();
            if !self.eat(")") {
                let found = describe(self.peek());
                return self.error(
                    self.at,
                    format!("expected `)` in the marker, found {found}"),
                );
            }
            return Ok(());
        }
        self.marker_value()?;
        self.skip_ws();
        let op_at = self.at;
        let op = OPERATORS.into_iter().find(|op| self.eat(op));
        if op.is_none() && !self.keyword_op() {
            let found = describe(self.peek());
            return self.error(
                op_at,
                format!("expected a comparison (`==`, `<`, `in`, …) in the marker, found {found}"),
            );
        }
        self.skip_ws();
        self.marker_value()
    }

    /// `in` or `not in`.
    fn keyword_op(&mut self) -> bool {
        let save = self.at;
        if self.eat("in") {
            return true;
        }
        if self.eat("not") && self.skip_ws() && self.eat("in") {
            return true;
        }
        self.at = save;
        false
    }

    /// A quoted string or a marker variable.
    fn marker_value(&mut self) -> Result<(), SyntaxError> {
        let start = self.at;
        if let Some(quote @ ('"' | '\'')) = self.peek() {
            self.at += 1;
            return match self.rest().find(quote) {
                Some(len) => {
                    self.at += len + 1;
                    Ok(())
                }
                None => self.error(start, "this string in the marker is not closed"),
            };
        }
        let word = self.identifier();
        if MARKER_VARIABLES.contains(&word) {
            return Ok(());
        }
        if word.is_empty() {
            let found = describe(self.peek());
            return self.error(
                start,
                format!("expected a marker variable or a quoted string, found {found}"),
            );
        }
        self.error(
            start,
            format!("`{word}` is not an environment marker variable (e.g. python_version, sys_platform); quote values: \"{word}\""),
        )
    }
}

fn describe(c: Option<char>) -> String {
    match c {
        None => "the end of the line".to_string(),
        Some(c) => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests;
