//! `requirements.txt`, checked before launch the way uv will read it: every
//! line is a PEP 508 requirement, a local path or URL, or one of pip's
//! options; problems come with the line and column they are on.
//!
//! Understood and not flagged: comments (`#` at the start or after a
//! space), line continuations (`\`), environment markers, `--hash=` and the
//! other per-requirement options, and the option lines `-r`, `-c`,
//! `-e`, `-i`/`--index-url`, `--extra-index-url`, `-f`/`--find-links`,
//! `--no-index`, `--pre`, `--prefer-binary`, `--only-binary`,
//! `--no-binary`, `--trusted-host`, `--require-hashes`. Files named by
//! `-r`/`-c` must be in the bundle; their own lines are left to uv.
//!
//! ```
//! use std::collections::BTreeSet;
//! use q8s_core::requirements::check_requirements;
//!
//! let files = BTreeSet::from(["requirements.txt"]);
//! let found = check_requirements("h2o-wave==0.26.4\nnumpy pandas\n", &files);
//! let codes: Vec<_> = found.iter().map(|d| (d.code.as_str(), d.line)).collect();
//! // In the order found; `check_contents` sorts them with the others.
//! assert_eq!(codes, [("requirements-run-together", Some(2)), ("wave-constrained", Some(1))]);
//! ```

use std::collections::BTreeSet;

use crate::diagnostic::{Diagnostic, Severity};

mod lines;
mod paths;
pub(crate) mod pep440;
pub(crate) mod pep508;
mod wave;

use crate::constraints::normalize;
use lines::{LogicalLine, logical_lines};
use paths::{is_path, normalize_relative, url_of, wheel_name_problem};

/// The requirements file at the bundle root.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";

/// Error: a line is not a valid requirement (PEP 508) or option.
pub const REQUIREMENT_SYNTAX: &str = "requirement-syntax";
/// Error: two requirements on one line (`numpy pandas`).
pub const REQUIREMENTS_RUN_TOGETHER: &str = "requirements-run-together";
/// Warning: an option uv may not know.
pub const REQUIREMENTS_OPTION_UNKNOWN: &str = "requirements-option-unknown";
/// Error: a bundled wheel's file name is not a valid wheel name.
pub const WHEEL_NAME_INVALID: &str = "wheel-name-invalid";
/// Error: a wheel named by a relative path is not in the bundle.
pub const WHEEL_MISSING: &str = "wheel-missing";
/// Error: a wheel is named by an absolute path or one leaving the bundle.
pub const WHEEL_PATH_INVALID: &str = "wheel-path-invalid";
/// Error: a local path (a folder, an archive, a file given to `-r`, `-c`,
/// `-e` or `-f`) is not in the bundle.
pub const LOCAL_PATH_MISSING: &str = "local-path-missing";
/// Error: a local path is absolute or leaves the bundle.
pub const LOCAL_PATH_INVALID: &str = "local-path-invalid";
/// Warning: a package comes from a URL outside the package index.
pub const DIRECT_URL: &str = "direct-url";
/// Note: no requirement names `h2o-wave`.
pub const WAVE_MISSING: &str = "wave-missing";
/// Note: `h2o-wave` is pinned to releases q8s installs with known-good
/// upper bounds on their dependencies.
pub const WAVE_CONSTRAINED: &str = "wave-constrained";
/// Warning: the bundle has no `requirements.txt`.
pub const REQUIREMENTS_MISSING: &str = "requirements-missing";

/// Every code of this module with its severity, in documentation order.
pub const ALL: &[(&str, Severity)] = &[
    (REQUIREMENTS_MISSING, Severity::Warning),
    (REQUIREMENT_SYNTAX, Severity::Error),
    (REQUIREMENTS_RUN_TOGETHER, Severity::Error),
    (REQUIREMENTS_OPTION_UNKNOWN, Severity::Warning),
    (WHEEL_NAME_INVALID, Severity::Error),
    (WHEEL_MISSING, Severity::Error),
    (WHEEL_PATH_INVALID, Severity::Error),
    (LOCAL_PATH_MISSING, Severity::Error),
    (LOCAL_PATH_INVALID, Severity::Error),
    (DIRECT_URL, Severity::Warning),
    (WAVE_MISSING, Severity::Note),
    (WAVE_CONSTRAINED, Severity::Note),
];

/// The normalised project name of H2O Wave.
const WAVE: &str = "h2o-wave";

/// Checks the text of `requirements.txt`; `files` are every path of the
/// bundle (local paths are looked up in it).
pub fn check_requirements(text: &str, files: &BTreeSet<&str>) -> Vec<Diagnostic> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut checker = Checker {
        files,
        found: Vec::new(),
        wave_named: false,
        wave_constraint: None,
        includes: false,
        starlette: false,
    };
    for line in logical_lines(text) {
        checker.line(&line);
    }
    checker.finish()
}

/// What an option line or a per-requirement option does with its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionKind {
    /// `-r`/`-c`: another requirements file.
    File,
    /// `-e`: a local folder or a VCS URL, installed editable.
    Editable,
    /// `-f`: a folder (or page) of archives.
    FindLinks,
    /// Any other option with a value.
    Value,
    /// A flag without value.
    Flag,
}

/// The options of a line of their own: `(short, long, kind)`.
const LINE_OPTIONS: &[(&str, &str, OptionKind)] = &[
    ("-r", "--requirement", OptionKind::File),
    ("-c", "--constraint", OptionKind::File),
    ("-e", "--editable", OptionKind::Editable),
    ("-i", "--index-url", OptionKind::Value),
    ("", "--extra-index-url", OptionKind::Value),
    ("", "--no-index", OptionKind::Flag),
    ("-f", "--find-links", OptionKind::FindLinks),
    ("", "--trusted-host", OptionKind::Value),
    ("", "--no-binary", OptionKind::Value),
    ("", "--only-binary", OptionKind::Value),
    ("", "--prefer-binary", OptionKind::Flag),
    ("", "--pre", OptionKind::Flag),
    ("", "--require-hashes", OptionKind::Flag),
    ("", "--use-feature", OptionKind::Value),
];

/// The options that may follow a requirement on its line.
const REQUIREMENT_OPTIONS: &[(&str, &str, OptionKind)] = &[
    ("", "--hash", OptionKind::Value),
    ("-C", "--config-settings", OptionKind::Value),
    ("", "--global-option", OptionKind::Value),
    ("", "--install-option", OptionKind::Value),
];

struct Checker<'f> {
    files: &'f BTreeSet<&'f str>,
    found: Vec<Diagnostic>,
    /// A requirement (or a bundled wheel) is h2o-wave.
    wave_named: bool,
    /// The line, column and text of the first `h2o-wave` requirement when
    /// its versions need a constraint, and that constraint.
    wave_constraint: Option<(u32, u32, String, wave::WaveConstraint)>,
    /// A `-r` file may name h2o-wave.
    includes: bool,
    /// The app bounds Starlette itself.
    starlette: bool,
}

impl Checker<'_> {
    fn push(&mut self, line: &LogicalLine<'_>, offset: usize, d: Diagnostic) {
        let (l, c) = line.position(offset);
        self.found.push(d.at(l, c));
    }

    fn line(&mut self, line: &LogicalLine<'_>) {
        let text = line.text.as_str();
        let start = text.len() - text.trim_start().len();
        let body = text.trim();
        if body.is_empty() {
            return;
        }
        if body.starts_with('-') {
            self.option_line(line, start);
            return;
        }
        // Options after the requirement (`--hash=…`) start at a space and a dash.
        let end = trailing_options_at(body).map_or(body.len(), |i| i);
        let requirement = body[..end].trim_end();
        if end < body.len() {
            self.trailing_options(line, start + end, &body[end..]);
        }
        self.requirement(line, start, requirement);
    }

    fn requirement(&mut self, line: &LogicalLine<'_>, start: usize, text: &str) {
        let n = line.position(start).0;
        if let Some(url) = url_of(text) {
            self.url(line, start, url, n);
            return;
        }
        if is_path(text) {
            let path = text.split([' ', '\t', ';', '#']).next().unwrap_or_default();
            self.local(line, start, path, OptionKind::Value);
            return;
        }
        // pip and uv expand `${NAME}` from the environment first; what it
        // stands for is not known here.
        if text.contains("${") {
            return;
        }
        match pep508::parse(text) {
            Ok(r) => {
                if let Some(url) = r.url {
                    let at = start + (url.as_ptr() as usize - text.as_ptr() as usize);
                    self.url(line, at, url, n);
                }
                match normalize(r.name).as_str() {
                    WAVE if !self.wave_named => {
                        self.wave_named = true;
                        let (l, c) = line.position(start);
                        self.wave_constraint = wave::constraint_for(&r.specifiers)
                            .map(|w| (l, c, without_marker(text).to_string(), w));
                    }
                    "starlette" => self.starlette = true,
                    _ => {}
                }
            }
            Err(e) => {
                // A line that starts with h2o-wave still names it.
                let name_end = text
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                    .unwrap_or(text.len());
                self.wave_named |= normalize(&text[..name_end]) == WAVE;
                let d = match &e.run_together {
                    Some(second) => Diagnostic::error(
                        REQUIREMENTS_RUN_TOGETHER,
                        REQUIREMENTS_FILE,
                        format!("requirements.txt line {n} holds two requirements: `{second}` starts before the first one ends"),
                    )
                    .with_help("put each requirement on a line of its own"),
                    None => Diagnostic::error(
                        REQUIREMENT_SYNTAX,
                        REQUIREMENTS_FILE,
                        format!("requirements.txt line {n}: {}", e.message),
                    )
                    .with_help("a requirement looks like `h2o-wave==1.8.16` or `pandas>=2,<3 ; python_version >= \"3.10\"` (PEP 508)"),
                };
                self.push(line, start + e.offset, d);
            }
        }
    }

    fn option_line(&mut self, line: &LogicalLine<'_>, start: usize) {
        let n = line.position(start).0;
        let body = line.text[start..].trim_end();
        let Some((kind, name, value)) = self.option(line, start, body, LINE_OPTIONS) else {
            return;
        };
        let value_at = start + (value.as_ptr() as usize - body.as_ptr() as usize);
        match kind {
            OptionKind::Flag | OptionKind::Value => {}
            OptionKind::File => {
                self.includes |= name == "-r" || name == "--requirement";
                match url_of(value) {
                    Some(url) => self.url(line, value_at, url, n),
                    None => self.local(line, value_at, value, kind),
                }
            }
            OptionKind::Editable | OptionKind::FindLinks => {
                // `-e ./lib[extra]`, `-e git+https://…#egg=x`.
                let value = value.split([' ', '\t']).next().unwrap_or_default();
                match url_of(value) {
                    Some(url) if kind == OptionKind::Editable => self.url(line, value_at, url, n),
                    Some(_) => {}
                    None => {
                        let path = value.split('[').next().unwrap_or_default();
                        self.local(line, value_at, path, kind);
                    }
                }
            }
        }
    }

    /// Reads one option of `known` at the start of `text`: its kind, the
    /// name as written and its value (empty for flags). Unknown options and
    /// missing values are reported.
    fn option<'t>(
        &mut self,
        line: &LogicalLine<'_>,
        start: usize,
        text: &'t str,
        known: &[(&str, &str, OptionKind)],
    ) -> Option<(OptionKind, &'t str, &'t str)> {
        let n = line.position(start).0;
        let (name, value) = if text.starts_with("--") {
            let end = text.find(['=', ' ', '\t']).unwrap_or(text.len());
            (
                &text[..end],
                text[end..].trim_start_matches('=').trim_start(),
            )
        } else {
            let end = text.char_indices().nth(2).map_or(text.len(), |(i, _)| i);
            (&text[..end], text[end..].trim_start())
        };
        let Some(&(_, _, kind)) = known
            .iter()
            .find(|(short, long, _)| name == *long || (!short.is_empty() && name == *short))
        else {
            let d = Diagnostic::warning(
                REQUIREMENTS_OPTION_UNKNOWN,
                REQUIREMENTS_FILE,
                format!("requirements.txt line {n}: `{name}` is not an option q8s knows in requirements files"),
            )
            .with_help("uv may refuse it and the launch fail; check the spelling, or remove it");
            self.push(line, start, d);
            return None;
        };
        if kind == OptionKind::Flag {
            return Some((kind, name, &text[text.len()..]));
        }
        if value.is_empty() {
            let d = Diagnostic::error(
                REQUIREMENT_SYNTAX,
                REQUIREMENTS_FILE,
                format!("requirements.txt line {n}: `{name}` needs a value"),
            )
            .with_help(format!("write it as `{name} VALUE` on one line"));
            self.push(line, start, d);
            return None;
        }
        Some((kind, name, value))
    }

    /// `--hash=sha256:… --hash …` after a requirement.
    fn trailing_options(&mut self, line: &LogicalLine<'_>, start: usize, text: &str) {
        let mut tokens = text
            .split([' ', '\t'])
            .filter(|t| !t.is_empty())
            .map(|t| (t.as_ptr() as usize - text.as_ptr() as usize, t));
        while let Some((offset, token)) = tokens.next() {
            if !token.starts_with('-') {
                continue;
            }
            let rest = &text[offset..];
            let option = self.option(line, start + offset, rest, REQUIREMENT_OPTIONS);
            // `--hash VALUE`: the value is the next word.
            if option.is_some_and(|(_, name, _)| name == token) {
                tokens.next();
            }
        }
    }

    fn url(&mut self, line: &LogicalLine<'_>, at: usize, url: &str, n: u32) {
        if let Some(path) = url.strip_prefix("file:") {
            let path = match path.strip_prefix("//") {
                // `file:///abs` or `file://localhost/abs`: absolute.
                Some(rest) => &rest[rest.find('/').unwrap_or(rest.len())..],
                None => path,
            };
            let path = path.split('#').next().unwrap_or_default();
            let kind = OptionKind::Value;
            self.local(line, at, path, kind);
            return;
        }
        let d = Diagnostic::warning(
            DIRECT_URL,
            REQUIREMENTS_FILE,
            format!("requirements.txt line {n} installs from {url}, outside the package index"),
        )
        .with_help("the server installs the app's packages itself and may not reach that address: put the wheel in the bundle (e.g. wheels/…) and name it by its relative path");
        self.push(line, at, d);
    }

    /// A local path: a wheel, an archive or folder to install, a file for
    /// `-r`/`-c`, a folder for `-e`/`-f`.
    fn local(&mut self, line: &LogicalLine<'_>, at: usize, path: &str, kind: OptionKind) {
        let n = line.position(at).0;
        let wheel = path.to_ascii_lowercase().ends_with(".whl");
        let normalized = match normalize_relative(path) {
            Ok(p) => p,
            Err(why) => {
                let (code, what) = if wheel {
                    (WHEEL_PATH_INVALID, "wheel")
                } else {
                    (LOCAL_PATH_INVALID, "path")
                };
                let d = Diagnostic::error(
                    code,
                    REQUIREMENTS_FILE,
                    format!("requirements.txt line {n} names {what} \"{path}\", {why}"),
                )
                .with_help("name files of the bundle by a path relative to the app folder, e.g. wheels/my_pkg-1.0-py3-none-any.whl");
                self.push(line, at, d);
                return;
            }
        };
        if wheel {
            let file_name = normalized.rsplit('/').next().unwrap_or_default();
            if let Some(problem) = wheel_name_problem(file_name) {
                let d = Diagnostic::error(
                    WHEEL_NAME_INVALID,
                    REQUIREMENTS_FILE,
                    format!("requirements.txt line {n} names wheel \"{path}\", whose file name {problem}"),
                )
                .with_help("a wheel is named name-version-python-abi-platform.whl (e.g. my_pkg-1.0-py3-none-any.whl); keep the name the build gave it");
                self.push(line, at, d);
            } else if file_name.to_ascii_lowercase().starts_with("h2o_wave-") {
                self.wave_named = true;
            }
        }
        let present = self.files.contains(normalized.as_str())
            || normalized.is_empty()
            || (kind != OptionKind::File && {
                let folder = format!("{normalized}/");
                self.files
                    .range(folder.as_str()..)
                    .next()
                    .is_some_and(|f| f.starts_with(&folder))
            });
        if present {
            return;
        }
        let d = if wheel {
            Diagnostic::error(
                WHEEL_MISSING,
                REQUIREMENTS_FILE,
                format!(
                    "requirements.txt line {n} names wheel \"{path}\", which is not in the bundle"
                ),
            )
            .with_help(
                "add the .whl file to the app folder, or check that no ignore rule leaves it out",
            )
        } else {
            Diagnostic::error(
                LOCAL_PATH_MISSING,
                REQUIREMENTS_FILE,
                format!("requirements.txt line {n} names \"{path}\", which is not in the bundle"),
            )
            .with_help("add it to the app folder, or check that no ignore rule leaves it out; paths are relative to the app folder")
        };
        self.push(line, at, d);
    }

    fn finish(mut self) -> Vec<Diagnostic> {
        match self.wave_constraint.take() {
            Some((line, column, text, constraint)) if !self.starlette => {
                let d = Diagnostic::note(
                    WAVE_CONSTRAINED,
                    REQUIREMENTS_FILE,
                    format!(
                        "requirements.txt line {line}: `{text}` allows only h2o-wave releases before {}: {}",
                        constraint.below, constraint.why
                    ),
                )
                .with_help(format!(
                    "nothing to do: q8s installs these releases with known-good upper bounds (`{}`); to see the same at home, add `{}` to requirements.txt",
                    constraint.bound, constraint.bound
                ))
                .at(line, column);
                self.found.push(d);
            }
            None if !self.wave_named && !self.includes => self.found.push(
                Diagnostic::note(
                    WAVE_MISSING,
                    REQUIREMENTS_FILE,
                    "requirements.txt does not name h2o-wave",
                )
                .with_help("a Wave app needs it (e.g. `h2o-wave==1.8.16`); an app that serves HTTP on $PORT by itself does not"),
            ),
            _ => {}
        }
        self.found
    }
}

/// A requirement without its environment marker: `h2o-wave==1.5.1`.
fn without_marker(text: &str) -> &str {
    text.split(';').next().unwrap_or(text).trim_end()
}

/// Where per-requirement options start: at a space followed by `-` and a
/// letter or `-`, outside quotes.
fn trailing_options_at(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut quote = None;
    for i in 0..bytes.len() {
        match (quote, bytes[i]) {
            (Some(q), b) if b == q => quote = None,
            (None, b'"' | b'\'') => quote = Some(bytes[i]),
            (None, b' ' | b'\t')
                if bytes.get(i + 1) == Some(&b'-')
                    && bytes
                        .get(i + 2)
                        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'-') =>
            {
                return Some(i + 1);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
