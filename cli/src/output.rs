//! How the CLI talks: human text on stdout, diagnostics and progress on
//! stderr, JSON on stdout alone with `-o json`, colour only on a terminal
//! and never with `NO_COLOR`.

use std::io::IsTerminal;

use q8s_core::{Diagnostic, RenderOptions};
use serde::Serialize;

/// The output format chosen with `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Text for people.
    #[default]
    Text,
    /// JSON for programs, on stdout.
    Json,
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

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints a top-level error as one plain sentence on stderr.
pub fn print_error(err: &anyhow::Error) {
    let (red, reset) = if stderr_color() {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "")
    };
    eprintln!("{red}error{reset}: {err:#}");
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
