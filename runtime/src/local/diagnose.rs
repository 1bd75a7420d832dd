//! The decisive line of a failure: what a status message quotes from a process's output so
//! that a crash or a failed install says why (the exception line of a Python traceback, uv's
//! `error:` with its causes, a Go panic of Qd, else the last line printed). Pure functions of
//! the text; the samples under `diagnose/` are real outputs of Python, uv and `wave run`.

/// The longest excerpt a status message quotes (the log has the rest).
const MAX_EXCERPT: usize = 400;

/// What a process's output (its last lines, oldest first) says about why it ended: the
/// exception of the last Python traceback, a Go `panic:`, else the last non-blank line.
pub(crate) fn decisive_line<S: AsRef<str>>(lines: &[S]) -> Option<String> {
    let lines: Vec<&str> = lines.iter().map(|l| strip_stamp(l.as_ref())).collect();
    let found = python_exception(&lines)
        .map(explain_exception)
        .or_else(|| {
            lines.iter().rev().find_map(|l| {
                l.trim()
                    .strip_prefix("panic: ")
                    .map(|p| format!("panic: {p}"))
            })
        })
        .or_else(|| {
            lines
                .iter()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .map(str::to_owned)
        })?;
    Some(excerpt(&found))
}

/// uv's reason for failing: its `error:` line followed by its `cause:` lines (joined into one
/// sentence) and, when a build backend failed with a traceback, that traceback's exception.
pub(crate) fn uv_error(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.iter().rposition(|l| l.starts_with("error: "))?;
    let mut parts = vec![lines[start]["error: ".len()..].trim().to_owned()];
    let mut nested = Vec::new();
    let mut in_output = false;
    for line in &lines[start + 1..] {
        let trimmed = line.trim();
        if let Some(cause) = trimmed.strip_prefix("cause: ") {
            parts.push(cause.trim().to_owned());
            in_output = false;
        } else if trimmed == "[stderr]" || trimmed == "[stdout]" {
            in_output = true;
        } else if in_output {
            nested.push(*line);
        } else if line.starts_with(' ') && !trimmed.is_empty() {
            // A cause that goes on over several lines; a quoted snippet (`reqeusts[`, `^`)
            // follows text that does not end a sentence.
            let last = parts.last_mut().expect("the error line is there");
            if last.ends_with(['.', ',', ';']) && trimmed.starts_with(char::is_alphabetic) {
                last.push(' ');
                last.push_str(trimmed);
            }
        } else if !line.starts_with(' ') && !trimmed.is_empty() {
            // `hint:` and whatever else uv prints after the error.
            break;
        }
    }
    if let Some(exception) = python_exception(&nested) {
        parts.push(exception.to_owned());
    }
    Some(excerpt(&parts.join(": ")))
}

/// The exception line of the last traceback in `lines`: the first line after its frames that
/// is not indented (`TypeError: …`, `ModuleNotFoundError: No module named 'x'`).
fn python_exception<'a>(lines: &[&'a str]) -> Option<&'a str> {
    let start = lines
        .iter()
        .rposition(|l| l.trim_start() == "Traceback (most recent call last):")?;
    let indent = indent_of(lines[start]);
    lines[start + 1..]
        .iter()
        .find(|l| indent_of(l) <= indent && !l.trim().is_empty())
        .map(|l| l.trim())
}

/// A hint for the exceptions whose fix is in the bundle rather than the code.
fn explain_exception(line: &str) -> String {
    if line.starts_with("ModuleNotFoundError: No module named") {
        format!("{line} (is it in requirements.txt?)")
    } else {
        line.to_owned()
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `line` without the `yyyy/mm/dd HH:MM:SS # ` stamp Qd puts in front.
fn strip_stamp(line: &str) -> &str {
    super::log::after_go_stamp(line).unwrap_or(line)
}

/// At most [`MAX_EXCERPT`] bytes of `text`, cut at a character boundary.
fn excerpt(text: &str) -> String {
    if text.len() <= MAX_EXCERPT {
        return text.to_owned();
    }
    let mut end = MAX_EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn a_traceback_gives_its_exception_line() {
        let wave = include_str!("diagnose/wave-typeerror.txt");
        assert_eq!(
            decisive_line(&lines(wave)).unwrap(),
            "TypeError: can only concatenate str (not \"int\") to str"
        );
        let syntax = include_str!("diagnose/syntax.txt");
        assert_eq!(
            decisive_line(&lines(syntax)).unwrap(),
            "SyntaxError: invalid syntax"
        );
    }

    #[test]
    fn a_missing_module_points_at_the_requirements() {
        let wave = include_str!("diagnose/wave-missing-module.txt");
        assert_eq!(
            decisive_line(&lines(wave)).unwrap(),
            "ModuleNotFoundError: No module named 'yaml' (is it in requirements.txt?)"
        );
    }

    #[test]
    fn of_chained_exceptions_the_last_one_counts() {
        let chained = include_str!("diagnose/chained.txt");
        assert_eq!(
            decisive_line(&lines(chained)).unwrap(),
            "RuntimeError: cannot read the settings"
        );
    }

    #[test]
    fn without_a_traceback_the_last_line_counts() {
        let exit = include_str!("diagnose/sys-exit.txt");
        assert_eq!(
            decisive_line(&lines(exit)).unwrap(),
            "error: the setting DATA_URL is missing"
        );
        // Qd's stamped lines, and its Go panics.
        let qd = [
            "2026/12/04 22:54:01 # │  Running at http://127.0.0.1:10555/  │",
            "panic: failed reading default index.html page: open /www/index.html: no such file or directory",
            "",
            "goroutine 1 [running]:",
            "\t/home/runner/work/wave/wave/server.go:145 +0x1528",
        ];
        assert_eq!(
            decisive_line(&qd).unwrap(),
            "panic: failed reading default index.html page: open /www/index.html: no such file or directory"
        );
        assert_eq!(
            decisive_line(&["2026/12/04 22:54:01 # listen tcp: address in use", ""]).unwrap(),
            "listen tcp: address in use"
        );
        assert_eq!(decisive_line(&["", "  "]), None);
        assert_eq!(decisive_line::<&str>(&[]), None);
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_EXCERPT);
        let cut = decisive_line(&[long.as_str()]).unwrap();
        assert!(cut.len() <= MAX_EXCERPT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn uv_names_the_package_that_does_not_exist() {
        assert_eq!(
            uv_error(include_str!("diagnose/uv-no-such-package.txt")).unwrap(),
            "No solution found when resolving dependencies: Because q8s-no-such-package-zzz was \
             not found in the package registry and you require q8s-no-such-package-zzz==1.0, we \
             can conclude that your requirements are unsatisfiable."
        );
        assert_eq!(
            uv_error(include_str!("diagnose/uv-no-such-version.txt")).unwrap(),
            "No solution found when resolving dependencies: Because there is no version of \
             requests==99.0 and you require requests==99.0, we can conclude that your \
             requirements are unsatisfiable."
        );
    }

    #[test]
    fn uv_causes_over_several_lines_are_joined() {
        assert_eq!(
            uv_error(include_str!("diagnose/uv-conflict.txt")).unwrap(),
            "No solution found when resolving dependencies: Because requests==2.31.0 depends on \
             urllib3>=1.21.1,<3 and you require requests==2.31.0, we can conclude that you \
             require urllib3>=1.21.1,<3. And because you require urllib3==1.0.0, we can conclude \
             that your requirements are unsatisfiable."
        );
        assert_eq!(
            uv_error(include_str!("diagnose/uv-parse.txt")).unwrap(),
            "Couldn't parse requirement in `requirements.txt` at position 0: Missing closing \
             bracket (expected ']', found end of dependency specification)"
        );
    }

    #[test]
    fn a_failed_build_names_the_package_and_the_exception() {
        assert_eq!(
            uv_error(include_str!("diagnose/uv-build-failure.txt")).unwrap(),
            "Failed to build `badpkg @ file:///tmp/fx/badpkg`: The build backend returned an \
             error: Call to `setuptools.build_meta:__legacy__.get_requires_for_build_wheel` \
             failed (exit status: 1): RuntimeError: this package cannot be built here"
        );
        assert_eq!(uv_error("Resolved 3 packages\n"), None);
    }
}
