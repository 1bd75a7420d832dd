//! Telling URLs, local paths and PEP 508 requirements apart, and checking
//! paths and wheel file names.

use super::pep440;

/// Archive suffixes that make a bare name a local file.
const ARCHIVES: [&str; 6] = [".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"];

/// The URL a requirement or option value is, if it is one: a scheme of two
/// letters or more (`C:` is a drive) followed by `//`, or `file:`.
pub(super) fn url_of(text: &str) -> Option<&str> {
    let colon = text.find(':')?;
    let scheme = &text[..colon];
    let is_scheme = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let url = text.split([' ', '\t']).next().unwrap_or_default();
    (is_scheme && (text[colon..].starts_with("://") || scheme.eq_ignore_ascii_case("file")))
        .then_some(url)
}

/// A requirement that is a local path: it starts like one (`.`, `/`, `~`)
/// or, before anything PEP 508 would read, holds a slash or ends like an
/// archive.
pub(super) fn is_path(text: &str) -> bool {
    let head_end = text
        .find([' ', '\t', ';', '@', '=', '<', '>', '!', '~', '[', '(', '#'])
        .unwrap_or(text.len());
    let head = &text[..head_end];
    text.starts_with(['.', '/', '\\', '~'])
        || head.contains(['/', '\\'])
        || ARCHIVES
            .iter()
            .any(|a| head.to_ascii_lowercase().ends_with(a))
}

/// Why `name` is not a wheel file name
/// (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`), if it is
/// not.
pub(super) fn wheel_name_problem(file_name: &str) -> Option<&'static str> {
    let stem = &file_name[..file_name.len() - 4];
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return Some("does not have the five or six parts separated by `-` a wheel name has");
    }
    if !parts[0]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
    {
        return Some("does not start with a project name");
    }
    if pep440::parse(parts[1], false).is_none() {
        return Some("does not have a valid version as its second part");
    }
    if parts.len() == 6 && !parts[2].starts_with(|c: char| c.is_ascii_digit()) {
        return Some("has a build tag that does not start with a digit");
    }
    None
}

/// `./wheels/x.whl` → `wheels/x.whl`; absolute paths and paths leaving the
/// root are refused with the reason.
pub(super) fn normalize_relative(path: &str) -> Result<String, &'static str> {
    if path.starts_with(['/', '\\', '~']) || path.get(1..2) == Some(":") {
        return Err("an absolute path");
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("a path that leaves the bundle");
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}
