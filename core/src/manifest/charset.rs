//! Hand-written checks for the manifest's name patterns (no regex engine in
//! core: it is compiled to WebAssembly for a page with a size budget).

/// What is wrong with a name, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameProblem {
    Empty,
    /// Longer than the limit; the length in characters.
    TooLong(usize),
    /// A character outside the allowed set.
    BadChar(char),
    /// Starts or ends with a character allowed only inside.
    BadEdge,
    /// Starts with a digit (environment variable names).
    LeadingDigit,
}

fn limit(value: &str, max: usize) -> Result<(), NameProblem> {
    if value.is_empty() {
        return Err(NameProblem::Empty);
    }
    let len = value.chars().count();
    if len > max {
        return Err(NameProblem::TooLong(len));
    }
    Ok(())
}

fn first_bad(value: &str, allowed: impl Fn(char) -> bool) -> Result<(), NameProblem> {
    match value.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(NameProblem::BadChar(c)),
        None => Ok(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The message for a name that breaks its pattern.
pub(super) fn name_problem(path: &str, value: &str, problem: NameProblem, max: usize) -> String {
    match problem {
        NameProblem::Empty => format!("{path} is empty"),
        NameProblem::TooLong(len) => {
            format!("{path} is {len} characters long; at most {max} are allowed")
        }
        NameProblem::BadChar(c) => format!("{path} {value:?} contains {c:?}, which is not allowed"),
        NameProblem::BadEdge => {
            format!("{path} {value:?} must start and end with a letter or digit")
        }
        NameProblem::LeadingDigit => format!("{path} {value:?} starts with a digit"),
    }
}

/// `^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$` with a length limit
/// (`App.Name`, `Env.Secret`).
pub(super) fn check_dotted_name(value: &str, max: usize) -> Result<(), NameProblem> {
    limit(value, max)?;
    first_bad(value, is_name_char)?;
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(value.chars().next()) || !edge_ok(value.chars().last()) {
        return Err(NameProblem::BadEdge);
    }
    Ok(())
}

/// `^[A-Za-z0-9._-]+$` with a length limit (`Env.SecretKey`).
pub(super) fn check_secret_key(value: &str, max: usize) -> Result<(), NameProblem> {
    limit(value, max)?;
    first_bad(value, is_name_char)
}

/// `^[A-Za-z_][A-Za-z0-9_]*$` (`Env.Name`).
pub(super) fn check_env_name(value: &str) -> Result<(), NameProblem> {
    limit(value, usize::MAX)?;
    first_bad(value, |c| c.is_ascii_alphanumeric() || c == '_')?;
    if value.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(NameProblem::LeadingDigit);
    }
    Ok(())
}

/// A close valid spelling of an invalid name: bad characters replaced with
/// `fill`, then `.` and `-` replaced with `_` (and a leading `_` added) if
/// the pattern needs it. `None` when that does not give a valid name.
pub(super) fn repair(value: &str, fill: char, valid: impl Fn(&str) -> bool) -> Option<String> {
    let replaced: String = value
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                fill
            }
        })
        .collect();
    if replaced.is_empty() {
        return None;
    }
    let underscored = replaced.replace(['.', '-'], "_");
    let prefixed = format!("_{underscored}");
    // Closest first: replaced characters only, then `_` for `.` and `-`.
    [replaced, underscored, prefixed]
        .into_iter()
        .find(|c| c != value && valid(c))
}

/// Python's hard keywords (3.12): none of them can name a module.
pub(super) const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// What is wrong with one dotted part of a module name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ModulePartProblem {
    Empty,
    Keyword,
    LeadingDigit,
    BadChar(char),
}

/// A Python identifier that is not a keyword. Non-ASCII letters are
/// accepted as Python does; Unicode letter/number classes approximate
/// Python's XID_Start/XID_Continue.
pub(super) fn check_module_part(part: &str) -> Result<(), ModulePartProblem> {
    let mut chars = part.chars();
    let Some(first) = chars.next() else {
        return Err(ModulePartProblem::Empty);
    };
    if first.is_ascii_digit() {
        return Err(ModulePartProblem::LeadingDigit);
    }
    let start_ok = |c: char| c == '_' || c.is_alphabetic();
    let continue_ok = |c: char| c == '_' || c.is_alphanumeric();
    if !start_ok(first) {
        return Err(ModulePartProblem::BadChar(first));
    }
    if let Some(bad) = chars.find(|&c| !continue_ok(c)) {
        return Err(ModulePartProblem::BadChar(bad));
    }
    if PYTHON_KEYWORDS.contains(&part) {
        return Err(ModulePartProblem::Keyword);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names() {
        for ok in ["a", "ai.h2o.q.my-app", "A_1", "9", "a-b", "x.y"] {
            assert_eq!(check_dotted_name(ok, 63), Ok(()), "{ok}");
        }
        assert_eq!(check_dotted_name("", 63), Err(NameProblem::Empty));
        assert_eq!(
            check_dotted_name("my app", 63),
            Err(NameProblem::BadChar(' '))
        );
        assert_eq!(check_dotted_name("-app", 63), Err(NameProblem::BadEdge));
        assert_eq!(check_dotted_name("app.", 63), Err(NameProblem::BadEdge));
        assert_eq!(check_dotted_name("_", 63), Err(NameProblem::BadEdge));
        assert_eq!(check_dotted_name("ä", 63), Err(NameProblem::BadChar('ä')));
        assert_eq!(check_dotted_name(&"a".repeat(63), 63), Ok(()));
        assert_eq!(
            check_dotted_name(&"a".repeat(64), 63),
            Err(NameProblem::TooLong(64))
        );
    }

    #[test]
    fn env_names_and_secret_keys() {
        assert_eq!(check_env_name("_X1"), Ok(()));
        assert_eq!(check_env_name("1X"), Err(NameProblem::LeadingDigit));
        assert_eq!(check_env_name("MY-VAR"), Err(NameProblem::BadChar('-')));
        assert_eq!(check_env_name(""), Err(NameProblem::Empty));
        assert_eq!(check_secret_key(".key-1_x", 253), Ok(()));
        assert_eq!(check_secret_key("a/b", 253), Err(NameProblem::BadChar('/')));
        assert_eq!(
            check_secret_key(&"k".repeat(254), 253),
            Err(NameProblem::TooLong(254))
        );
    }

    #[test]
    fn repairs() {
        let dotted = |s: &str| check_dotted_name(s, 63).is_ok();
        assert_eq!(repair("My App", '-', dotted).as_deref(), Some("My-App"));
        assert_eq!(repair("-app-", '-', dotted), None);
        assert_eq!(repair("", '-', dotted), None);
        assert_eq!(repair("!!!", '-', dotted), None);
        let env = |s: &str| check_env_name(s).is_ok();
        assert_eq!(repair("MY-VAR", '_', env).as_deref(), Some("MY_VAR"));
        assert_eq!(repair("1VAR", '_', env).as_deref(), Some("_1VAR"));
    }

    #[test]
    fn module_parts() {
        assert_eq!(check_module_part("q_app"), Ok(()));
        assert_eq!(check_module_part("_private2"), Ok(()));
        assert_eq!(check_module_part("café"), Ok(()));
        assert_eq!(
            check_module_part("match"),
            Ok(()),
            "soft keywords are names"
        );
        assert_eq!(check_module_part(""), Err(ModulePartProblem::Empty));
        assert_eq!(check_module_part("class"), Err(ModulePartProblem::Keyword));
        assert_eq!(check_module_part("None"), Err(ModulePartProblem::Keyword));
        assert_eq!(
            check_module_part("2fa"),
            Err(ModulePartProblem::LeadingDigit)
        );
        assert_eq!(
            check_module_part("my-app"),
            Err(ModulePartProblem::BadChar('-'))
        );
        assert_eq!(
            check_module_part("$x"),
            Err(ModulePartProblem::BadChar('$'))
        );
    }
}
