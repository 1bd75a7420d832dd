//! Diagnostics: every finding about a manifest or a bundle, as data.
//!
//! A [`Diagnostic`] carries a stable kebab-case `code` that every surface
//! (CLI, API, Python, JS) passes through unchanged, so users and tests can
//! match on it. The JSON form uses exactly the field names of the struct.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// How bad a finding is: an error makes a manifest or bundle invalid, a
/// warning does not, and a note only says what q8s did or will do (which
/// manifest file it read, a constraint it will apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The manifest or bundle is invalid.
    Error,
    /// Worth fixing, but the manifest or bundle is still valid.
    Warning,
    /// Nothing to fix: information about how q8s reads the app.
    Note,
}

impl Severity {
    /// The lowercase word used in rendering and JSON (`error`, `warning`,
    /// `note`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One finding about a manifest or a bundle.
///
/// ```
/// use q8s_core::{Diagnostic, Severity};
/// let d = Diagnostic::error("invalid-version", "App.Version", "App.Version \"0.1\" is not a semantic version")
///     .at(3, 11)
///     .with_help("use three numbers, e.g. \"0.1.0\"");
/// assert_eq!(d.severity, Severity::Error);
/// assert_eq!(serde_json::to_value(&d).unwrap()["line"], 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// Stable kebab-case code, e.g. `invalid-version`.
    pub code: String,
    /// Where: a manifest field path (`App.Version`, `Env[1].Name`) or a file
    /// path inside the bundle (`static/icon.png`); empty when it concerns the
    /// whole manifest or bundle.
    pub path: String,
    /// One sentence saying what is wrong.
    pub message: String,
    /// 1-based line, when one applies: in the manifest, or in the bundle
    /// file `path` names when that is a file checked line by line
    /// (`requirements.txt`).
    pub line: Option<u32>,
    /// 1-based column (in characters) on that line, when one applies.
    pub column: Option<u32>,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A new diagnostic without position or help.
    pub fn new(
        severity: Severity,
        code: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            code: code.into(),
            path: path.into(),
            message: message.into(),
            line: None,
            column: None,
            help: None,
        }
    }

    /// A new error.
    pub fn error(
        code: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, code, path, message)
    }

    /// A new warning.
    pub fn warning(
        code: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, code, path, message)
    }

    /// A new note.
    pub fn note(
        code: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Note, code, path, message)
    }

    /// Sets the 1-based line and column.
    pub fn at(mut self, line: u32, column: u32) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Sets the position from an optional `(line, column)` pair.
    pub fn at_opt(mut self, position: Option<(u32, u32)>) -> Self {
        if let Some((line, column)) = position {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    /// Sets the help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// True when any of the diagnostics is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Sorts diagnostics into a stable order: by line, column, then path and code
/// (those with a line in the manifest first, then those with a line in
/// another file such as `requirements.txt`, then those without a line, in
/// path order).
pub fn sort_diagnostics(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            let other_file = d.line.is_some() && LINE_CHECKED_FILES.contains(&d.path.as_str());
            (d.line.is_none(), other_file, d.line, d.column)
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.code.cmp(&b.code))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// Rendering options for [`render`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Use ANSI colours (only on a terminal, never with `NO_COLOR`).
    pub color: bool,
}

/// Renders diagnostics for people, in the style of rustc:
///
/// ```text
/// error[invalid-version]: App.Version "0.1" is not a semantic version
///   --> q-app.toml:3:11
///    = help: use three numbers, e.g. "0.1.0"
/// ```
///
/// `file` names the manifest the positions refer to; a diagnostic about a
/// file inside the bundle points at that file's path, and one without a
/// position or file at `file` alone.
pub fn render(diagnostics: &[Diagnostic], file: &str, options: RenderOptions) -> String {
    let mut out = String::new();
    for d in diagnostics {
        render_one(&mut out, d, file, options);
    }
    out
}

fn render_one(out: &mut String, d: &Diagnostic, file: &str, options: RenderOptions) {
    let (sev_style, bold, blue, reset) = if options.color {
        let sev = match d.severity {
            Severity::Error => "\x1b[1;31m",
            Severity::Warning => "\x1b[1;33m",
            Severity::Note => "\x1b[1;36m",
        };
        (sev, "\x1b[1m", "\x1b[1;34m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let _ = writeln!(
        out,
        "{sev_style}{}[{}]{reset}{bold}: {}{reset}",
        d.severity.as_str(),
        d.code,
        d.message
    );
    // Lines of a file checked line by line are in that file, not the manifest.
    let file = if LINE_CHECKED_FILES.contains(&d.path.as_str()) {
        d.path.as_str()
    } else {
        file
    };
    let location = match (d.line, d.column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ if is_file_path(&d.path) => d.path.clone(),
        _ => file.to_string(),
    };
    let _ = writeln!(out, "  {blue}-->{reset} {location}");
    if let Some(help) = &d.help {
        let _ = writeln!(out, "   {blue}={reset} {bold}help{reset}: {help}");
    }
}

/// The bundle files whose diagnostics carry line numbers of their own.
const LINE_CHECKED_FILES: [&str; 1] = [crate::bundle::REQUIREMENTS_FILE];

/// Field paths look like `App.Version` or `Env[1].Name`; anything else that
/// is not empty names a file inside the bundle.
fn is_file_path(path: &str) -> bool {
    const FIELD_ROOTS: [&str; 3] = ["App", "Runtime", "Env"];
    !(path.is_empty() || FIELD_ROOTS.iter().any(|root| path.starts_with(root)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let d = Diagnostic::error(
            "invalid-version",
            "App.Version",
            "App.Version \"0.1\" is not a semantic version",
        )
        .at(3, 11)
        .with_help("use three numbers, e.g. \"0.1.0\"");
        let text = render(&[d], "q-app.toml", RenderOptions::default());
        assert_eq!(
            text,
            "error[invalid-version]: App.Version \"0.1\" is not a semantic version\n  --> q-app.toml:3:11\n   = help: use three numbers, e.g. \"0.1.0\"\n"
        );
    }

    #[test]
    fn lines_of_requirements_txt_point_into_it() {
        let d = Diagnostic::error("requirement-syntax", "requirements.txt", "bad").at(2, 7);
        let text = render(
            std::slice::from_ref(&d),
            "app/q-app.toml",
            RenderOptions::default(),
        );
        assert!(text.contains("--> requirements.txt:2:7"), "{text}");
        // Sorted after the manifest's lines, before diagnostics without one.
        let manifest = Diagnostic::warning("unknown-key", "App.X", "m").at(9, 1);
        let whole = Diagnostic::warning("icon-missing", "static/", "m");
        let mut all = vec![whole.clone(), d.clone(), manifest.clone()];
        sort_diagnostics(&mut all);
        assert_eq!(all, [manifest, d, whole]);
    }

    #[test]
    fn json_has_exactly_the_documented_fields() {
        let d = Diagnostic::warning("icon-missing", "static/", "no icon");
        let v = serde_json::to_value(&d).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "code", "column", "help", "line", "message", "path", "severity"
            ]
        );
        assert_eq!(v["severity"], "warning");
        assert!(v["line"].is_null());
    }

    #[test]
    fn colour_only_when_asked() {
        let d = Diagnostic::error("x", "", "m");
        let plain = render(std::slice::from_ref(&d), "f", RenderOptions::default());
        assert!(!plain.contains('\x1b'));
        assert!(render(&[d], "f", RenderOptions { color: true }).contains('\x1b'));
    }
}
