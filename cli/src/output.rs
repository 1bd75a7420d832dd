//! How the CLI talks: human text on stdout, diagnostics and progress on
//! stderr, JSON on stdout alone with `-o json`, colour only on a terminal
//! and never with `NO_COLOR`.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;

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

/// Prints a top-level error as one plain sentence on stderr (after the diagnostics of a
/// bundle the server refused); with `-o json` also as `{"error": {…}}` on stdout.
pub fn print_error(err: &anyhow::Error, format: Format) {
    let api = err.downcast_ref::<ApiError>();
    if let Some(api) = api {
        print_diagnostics(&api.diagnostics(), MANIFEST_FILE);
    }
    if format == Format::Json {
        let (code, message, details) = match api {
            Some(api) => (api.code().to_owned(), api.message(), api.details().to_vec()),
            None => ("error".to_owned(), sentence(err), Vec::new()),
        };
        let body =
            serde_json::json!({"error": {"code": code, "message": message, "details": details}});
        outln!("{body:#}");
    }
    let (red, reset) = if stderr_color() {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "")
    };
    eprintln!("{red}error{reset}: {}", sentence(err));
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
