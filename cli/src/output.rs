//! How the CLI talks: human text on stdout, diagnostics and progress on
//! stderr, JSON on stdout alone with `-o json`, colour only on a terminal
//! and never with `NO_COLOR`.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;

use q8s_client::config::ConfigError;
use q8s_core::api::ApiError;
use q8s_core::manifest::MANIFEST_FILE;
use q8s_core::{Diagnostic, RenderOptions};
use serde::Serialize;

/// The output format chosen with `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Text for people.
    #[default]
    Text,
    /// JSON for programs, on stdout.
    Json,
}

/// `-o/--output`, one flag for every command: `text` or `json`, or for `bundle [DIR]` the file
/// or folder to write the bundle to (`./json` for a file of that name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `text` or `json`.
    Format(Format),
    /// Anything else: where `bundle [DIR]` writes.
    Path(PathBuf),
}

impl Output {
    /// Reads the value of `-o`.
    pub fn parse(text: &str) -> Result<Output, std::convert::Infallible> {
        Ok(match text {
            "text" => Output::Format(Format::Text),
            "json" => Output::Format(Format::Json),
            path => Output::Path(path.into()),
        })
    }
}

/// True when stderr is a terminal that wants colour.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Prints diagnostics for people on stderr, positions relative to `file`.
pub fn print_diagnostics(diagnostics: &[Diagnostic], file: &str) {
    if diagnostics.is_empty() {
        return;
    }
    let options = RenderOptions {
        color: stderr_color(),
    };
    eprint!("{}", q8s_core::render(diagnostics, file, options));
}

/// Writes to stdout. When stdout is closed (`q8s-cli … | head`), the program ends quietly
/// instead of failing on every later line.
pub fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`emit`].
macro_rules! outln {
    () => {
        $crate::output::emit("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::emit(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    emit(&format!("{}\n", serde_json::to_string_pretty(value)?));
    Ok(())
}

/// An error with advice of the CLI's own, in the CLI's terms (which command or flag to use):
/// `fact (code) — hint`, like the errors of `q8s_core`.
#[derive(Debug)]
pub struct Advised {
    /// What happened.
    pub fact: String,
    /// The stable code.
    pub code: String,
    /// What to do.
    pub hint: String,
    /// The diagnostics and details of the error advised on, when it was the server's.
    pub api: Option<Box<ApiError>>,
}

impl std::fmt::Display for Advised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) — {}", self.fact, self.code, self.hint)
    }
}

impl std::error::Error for Advised {}

/// Prints a top-level error as one plain sentence on stderr (after the diagnostics of a
/// bundle the server refused); with `-o json` also as `{"error": {code, message, hint,
/// details}}` on stdout, `message` being the sentence of the text.
pub fn print_error(err: &anyhow::Error, format: Format) {
    let advised = err.downcast_ref::<Advised>();
    let api = advised
        .and_then(|a| a.api.as_deref())
        .or_else(|| err.downcast_ref::<ApiError>());
    if let Some(api) = api {
        print_diagnostics(&api.diagnostics(), MANIFEST_FILE);
    }
    let message = sentence(err);
    if format == Format::Json {
        let config = err.downcast_ref::<ConfigError>();
        let code = match (advised, api, config) {
            (Some(a), _, _) => a.code.clone(),
            (None, Some(api), _) => api.code().to_owned(),
            (None, None, Some(c)) => c.code().to_owned(),
            (None, None, None) => "error".to_owned(),
        };
        let hint = match advised {
            Some(a) => Some(a.hint.clone()),
            None => api.and_then(ApiError::hint).map(str::to_owned),
        };
        let details = api.map(|a| a.details().to_vec()).unwrap_or_default();
        let body = serde_json::json!({"error": {
            "code": code, "message": message, "hint": hint, "details": details,
        }});
        outln!("{body:#}");
    }
    let (red, reset) = if stderr_color() {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "")
    };
    eprintln!("{red}error{reset}: {message}");
}

/// The error and its causes in one line, leaving out causes the message already quotes
/// (most of our errors include their source in their own text).
fn sentence(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// `12.3 KiB`-style sizes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// "1 warning", "3 errors".
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
    }

    #[test]
    fn counts() {
        assert_eq!(count(1, "error"), "1 error");
        assert_eq!(count(0, "warning"), "0 warnings");
    }
}
