//! The `[App]` table: name, version, title, description, category, keywords.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::App;
use super::charset;
use super::check::{Checker, Field};
use super::codes;
use super::keys;
use super::node::Node;
use super::suggest;
use crate::diagnostic::Diagnostic;

/// The categories the catalog groups apps by.
pub const CATEGORIES: &[&str] = &[
    "All",
    "Data Science",
    "Financial Services",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Marketing",
    "Retail",
    "Sales",
    "Telecommunications",
    "Other",
];

const NAME_MAX: usize = 63;

/// Whether `name` may be an `App.Name` (what a secret's app restriction lists).
///
/// ```
/// use q8s_core::manifest::is_app_name;
/// assert!(is_app_name("ai.h2o.q8s.hello") && !is_app_name("not a name"));
/// ```
pub fn is_app_name(name: &str) -> bool {
    charset::check_dotted_name(name, NAME_MAX).is_ok()
}
/// `bundle deploy` appends `-<yyyymmddHHMMSS>` (15 characters); 48 + 15 = 63.
const VERSION_MAX: usize = 48;
/// A version that already carries a deploy stamp may use the 15 characters
/// kept for it.
const DEPLOY_VERSION_MAX: usize = VERSION_MAX + DEPLOY_STAMP_LEN;
const DEPLOY_STAMP_LEN: usize = 15;

/// True when `version` ends with the stamp `bundle deploy` appends
/// (`-` or `.` and 14 digits, see `bundle::deploy_version`).
fn has_deploy_stamp(version: &str) -> bool {
    let bytes = version.as_bytes();
    bytes.len() > DEPLOY_STAMP_LEN && {
        let stamp = &bytes[bytes.len() - DEPLOY_STAMP_LEN..];
        matches!(stamp[0], b'-' | b'.') && stamp[1..].iter().all(u8::is_ascii_digit)
    }
}

/// Checks `[App]`; the table when its required keys are valid (the caller
/// keeps it only if no diagnostic at all is an error).
pub(super) fn check(cx: &mut Checker<'_>, table: Node<'_>) -> Option<App> {
    cx.check_keys(table, "App", &keys::APP);
    let name = cx
        .required_string(table, "App", "Name", "\"ai.h2o.q.my-app\"")
        .filter(|f| check_name(cx, f));
    let version = cx
        .required_string(table, "App", "Version", "\"0.1.0\"")
        .filter(|f| check_version(cx, f));
    let title = cx.string(table, "App", "Title");
    if let Some(title) = &title {
        check_title(cx, title);
    }
    let description = cx.string(table, "App", "Description");
    let category = cx.string(table, "App", "Category");
    if let Some(category) = &category {
        check_category(cx, category);
    }
    let keywords = check_keywords(cx, table);
    Some(App {
        name: name?.value.to_string(),
        version: version?.value.to_string(),
        title: title.map(|f| f.value.to_string()),
        description: description.map(|f| f.value.to_string()),
        category: category.map(|f| f.value.to_string()),
        keywords,
    })
}

fn check_name(cx: &mut Checker<'_>, f: &Field<'_>) -> bool {
    let Some(d) = check_app_name_at(&f.path, f.value) else {
        return true;
    };
    cx.error(&d.code, &f.path, &f.span, d.message, d.help);
    false
}

/// Checks an app Name given outside a manifest (the server's `/app-names/{name}`): `None`
/// when valid, otherwise the `invalid-name` error at path `App.Name`, with help, no
/// position.
///
/// ```
/// use q8s_core::manifest::check_app_name;
///
/// assert!(check_app_name("ai.h2o.q.my-app").is_none());
/// assert_eq!(check_app_name("my app").unwrap().code, "invalid-name");
/// ```
pub fn check_app_name(name: &str) -> Option<Diagnostic> {
    check_app_name_at("App.Name", name)
}

fn check_app_name_at(path: &str, value: &str) -> Option<Diagnostic> {
    let problem = charset::check_dotted_name(value, NAME_MAX).err()?;
    let valid = |s: &str| charset::check_dotted_name(s, NAME_MAX).is_ok();
    let example = charset::repair(value, '-', valid).unwrap_or_else(|| "ai.h2o.q.my-app".into());
    let help = format!(
        "use letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit, e.g. {example:?}"
    );
    let message = charset::name_problem(path, value, problem, NAME_MAX);
    Some(Diagnostic::error(codes::INVALID_NAME, path, message).with_help(help))
}

fn check_version(cx: &mut Checker<'_>, f: &Field<'_>) -> bool {
    let (path, value) = (&f.path, f.value);
    let (message, help) = match semver::Version::parse(value) {
        Ok(v) if !v.build.is_empty() => (
            format!("{path} {value:?} has build metadata (`+{}`)", v.build),
            format!(
                "remove `+{}`: semantic versioning ignores build metadata when comparing, so q8s does not accept it",
                v.build
            ),
        ),
        Ok(_) if value.chars().count() > version_max(value) => (
            format!(
                "{path} is {} characters long; at most {VERSION_MAX} are allowed",
                value.chars().count()
            ),
            "`bundle deploy` appends a 15-character timestamp, and the whole must fit 63 characters"
                .to_string(),
        ),
        Ok(_) => return true,
        Err(_) if value.is_empty() => (
            format!("{path} is empty"),
            "write a semantic version, e.g. \"0.1.0\"".to_string(),
        ),
        Err(error) => (
            format!("{path} {value:?} is not a semantic version"),
            version_help(value, &error),
        ),
    };
    cx.error(codes::INVALID_VERSION, path, &f.span, message, Some(help));
    false
}

fn version_max(value: &str) -> usize {
    if has_deploy_stamp(value) {
        DEPLOY_VERSION_MAX
    } else {
        VERSION_MAX
    }
}

fn version_help(value: &str, error: &semver::Error) -> String {
    let parses = |s: &str| semver::Version::parse(s).is_ok();
    let trimmed = value.trim();
    if trimmed != value && parses(trimmed) {
        return format!("remove the spaces: {trimmed:?}");
    }
    if let Some(rest) = trimmed.strip_prefix(['v', 'V']).filter(|r| parses(r)) {
        return format!("remove the leading `{}`: {rest:?}", &trimmed[..1]);
    }
    let numbers: Vec<&str> = trimmed.split('.').collect();
    let all_numbers = numbers
        .iter()
        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if all_numbers && numbers.len() < 3 {
        let mut padded = numbers
            .iter()
            .map(|n| n.trim_start_matches('0'))
            .map(|n| if n.is_empty() { "0" } else { n })
            .collect::<Vec<_>>();
        padded.resize(3, "0");
        return format!("use three numbers, e.g. {:?}", padded.join("."));
    }
    format!("{error}; a version looks like \"1.2.3\" or \"1.2.3-beta.1\"")
}

fn check_title(cx: &mut Checker<'_>, f: &Field<'_>) {
    if f.value.trim().is_empty() {
        cx.error(
            codes::EMPTY_TITLE,
            &f.path,
            &f.span,
            format!("{} is empty", f.path),
            Some(
                "give the app a title people will read, e.g. \"My awesome app\", or remove the key"
                    .into(),
            ),
        );
    }
}

fn check_category(cx: &mut Checker<'_>, f: &Field<'_>) {
    if CATEGORIES.contains(&f.value) {
        return;
    }
    let help = match nearest_categories(f.value).as_slice() {
        [] => format!("the catalog knows {}", CATEGORIES.join(", ")),
        nearest => format!("did you mean {}?", quoted_list(nearest)),
    };
    cx.warning(
        codes::UNKNOWN_CATEGORY,
        &f.path,
        &f.span,
        format!(
            "{} {:?} is not a category the catalog knows",
            f.path, f.value
        ),
        Some(help),
    );
}

/// The categories nearest to `value`, nearest first, at most three. The
/// value is compared in lower case with `_` and `-` read as spaces (H2O AI
/// Cloud's tags are written `DATA_SCIENCE`). A category is near when it is
/// the value in other words' case, a misspelling of it (edit distance), or
/// when one of its words shares a prefix of four letters or more with a word
/// of the value (`Finance` → `Financial Services`, `Telecom and sales` →
/// `Telecommunications`, `Sales`).
fn nearest_categories(value: &str) -> Vec<&'static str> {
    let value = normalize_category(value);
    if let Some(same) = CATEGORIES.iter().find(|c| normalize_category(c) == value) {
        return vec![same];
    }
    let value_words: Vec<&str> = value.split_whitespace().collect();
    let shares_prefix = |word: &str| {
        value_words.iter().any(|v| {
            let common = word
                .chars()
                .zip(v.chars())
                .take_while(|(a, b)| a == b)
                .count();
            common >= 4 || (common == v.chars().count() && common >= 3)
        })
    };
    let limit = (value.chars().count() / 3).max(1);
    let mut near: Vec<(bool, usize, &'static str)> = CATEGORIES
        .iter()
        .filter_map(|c| {
            let category = normalize_category(c);
            let distance = suggest::edit_distance(&value, &category);
            let prefix = category.split(' ').any(shares_prefix);
            (prefix || distance <= limit).then_some((distance <= limit, distance, *c))
        })
        .collect();
    // Misspellings first, then shared prefixes; the nearer the earlier.
    near.sort_by_key(|&(misspelt, distance, _)| (!misspelt, distance));
    near.into_iter().take(3).map(|(_, _, c)| c).collect()
}

fn normalize_category(value: &str) -> String {
    value
        .trim()
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `"A"`, `"A" or "B"`, `"A", "B" or "C"`.
fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

fn check_keywords(cx: &mut Checker<'_>, table: Node<'_>) -> Vec<String> {
    let Some(node) = table.get("Keywords") else {
        return Vec::new();
    };
    let Some(elements) = node.elements() else {
        cx.wrong_type("App.Keywords", node, "an array of strings");
        return Vec::new();
    };
    let mut keywords = Vec::new();
    // Lowercased keyword → the path of its first use.
    let mut first_use: HashMap<String, String> = HashMap::new();
    for (i, element) in elements.into_iter().enumerate() {
        let path = format!("App.Keywords[{i}]");
        let Some(keyword) = element.as_str() else {
            cx.wrong_type(&path, element, "a string");
            continue;
        };
        let span = element.span();
        if keyword.trim().is_empty() {
            let message = format!("{path} is empty");
            let help = "remove it, or write a word people would search for".to_string();
            cx.error(codes::EMPTY_KEYWORD, &path, &span, message, Some(help));
            continue;
        }
        match first_use.entry(keyword.to_lowercase()) {
            Entry::Occupied(first) => {
                let message = format!("{path} {keyword:?} repeats {}", first.get());
                let help = "remove it; keywords are matched without regard to case".to_string();
                cx.warning(codes::DUPLICATE_KEYWORD, &path, &span, message, Some(help));
            }
            Entry::Vacant(slot) => {
                slot.insert(path);
                keywords.push(keyword.to_string());
            }
        }
    }
    keywords
}
