//! The list against what repeats it: `docs/api.md` and the Python and TypeScript types. Each
//! test reads the file and compares both ways, so a code missing on either side fails.

use std::collections::BTreeSet;
use std::path::Path;

use super::ErrorCode;

fn repo_file(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The double-quoted strings of the text between `start` and the first `end` after it,
/// line comments (`#`, `//`) left out.
fn quoted_after(text: &str, start: &str, end: &str) -> BTreeSet<String> {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not found"));
    let rest = &text[from + start.len()..];
    let body = &rest[..rest.find(end).expect("end of the list")];
    body.lines()
        .map(|line| line.trim_start())
        .filter(|line| !line.starts_with('#') && !line.starts_with("//"))
        .flat_map(|line| line.split('"').skip(1).step_by(2))
        .map(str::to_owned)
        .collect()
}

fn all_codes() -> BTreeSet<String> {
    ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

fn assert_same(what: &str, listed: &BTreeSet<String>) {
    let all = all_codes();
    let missing: Vec<_> = all.difference(listed).collect();
    let unknown: Vec<_> = listed.difference(&all).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{what}: missing {missing:?}, not in ErrorCode {unknown:?}"
    );
}

#[test]
fn codes_are_unique_kebab_case_and_parse_back() {
    assert_eq!(
        all_codes().len(),
        ErrorCode::ALL.len(),
        "a code is listed twice"
    );
    for &code in ErrorCode::ALL {
        let s = code.as_str();
        assert!(
            s.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())),
            "{s}"
        );
        assert_eq!(s.parse::<ErrorCode>(), Ok(code));
        if let Some(status) = code.status() {
            assert!((400..600).contains(&status), "{s}: {status}");
        }
    }
    // Server codes first, then the clients'.
    let first_client = ErrorCode::ALL.iter().position(|c| c.is_client()).unwrap();
    assert!(ErrorCode::ALL[first_client..].iter().all(|c| c.is_client()));
    assert!("no-such-code".parse::<ErrorCode>().is_err());
}

/// The `| `code` | status |` rows of the table under `heading` in `docs/api.md`.
fn doc_table(doc: &str, heading: &str) -> Vec<(String, String)> {
    let from = doc
        .find(heading)
        .unwrap_or_else(|| panic!("docs/api.md has no `{heading}`"));
    doc[from + heading.len()..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_owned(), cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn docs_api_lists_every_code_with_its_status() {
    let doc = repo_file("docs/api.md");
    let server = doc_table(&doc, "### Server codes");
    let client = doc_table(&doc, "### Client codes");
    for (code, status) in &server {
        let known = ErrorCode::from_code(code)
            .unwrap_or_else(|| panic!("docs/api.md lists `{code}`, which is not an ErrorCode"));
        assert_eq!(
            known.status().map(|s| s.to_string()).as_deref(),
            Some(status.as_str()),
            "docs/api.md: status of `{code}`"
        );
    }
    for (code, _) in &client {
        let known = ErrorCode::from_code(code)
            .unwrap_or_else(|| panic!("docs/api.md lists `{code}`, which is not an ErrorCode"));
        assert!(known.is_client(), "`{code}` is a server code");
    }
    let listed: BTreeSet<String> = server.into_iter().chain(client).map(|(c, _)| c).collect();
    assert_same("docs/api.md", &listed);
}

#[test]
fn python_error_code_type_lists_every_code() {
    let source = repo_file("bindings-python/python/q8s/_errors.py");
    assert_same(
        "q8s.ErrorCode in _errors.py",
        &quoted_after(&source, "ErrorCode = Literal[", "]"),
    );
}

#[test]
fn typescript_error_code_type_lists_every_code() {
    let source = repo_file("bindings-wasm/src/types.d.ts");
    assert_same(
        "Q8sErrorCode in types.d.ts",
        &quoted_after(&source, "export type Q8sErrorCode =", ";"),
    );
}

/// The string literals right after each `needle` in `text` (whitespace skipped).
fn literals_after<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(needle).filter_map(move |(at, _)| {
        let rest = text[at + needle.len()..].trim_start().strip_prefix('"')?;
        Some(&rest[..rest.find('"')?])
    })
}

#[test]
fn the_codes_the_browser_module_makes_itself_are_in_the_list() {
    let mut made = BTreeSet::new();
    for dir in ["bindings-wasm/src", "bindings-wasm/js"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let needles: &[&str] = match path.extension().and_then(|e| e.to_str()) {
                Some("rs") => &["error("],
                Some("js") => &[".code = "],
                _ => &[],
            };
            for needle in needles {
                made.extend(literals_after(&text, needle).map(str::to_owned));
            }
        }
    }
    assert!(made.len() >= 5, "found only {made:?}");
    let unknown: Vec<_> = made
        .iter()
        .filter(|code| ErrorCode::from_code(code).is_none())
        .collect();
    assert!(unknown.is_empty(), "not in ErrorCode: {unknown:?}");
}

#[test]
fn the_codes_of_core_errors_are_in_the_list() {
    use crate::api::ApiError;
    use crate::bundle::BundleError;
    use crate::select::MemTreeError;
    let io = || std::io::Error::other("x");
    let errors = [
        ApiError::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        },
        ApiError::UnexpectedResponse {
            url: "u".into(),
            status: 502,
            reason: "r".into(),
        },
        ApiError::InvalidUrl {
            url: "u".into(),
            reason: "r".into(),
        },
        ApiError::Timeout {
            what: "w".into(),
            seconds: 1,
        },
        ApiError::Io {
            context: "c".into(),
            source: io(),
        },
    ];
    let mut codes: Vec<String> = errors.iter().map(|e| e.code().to_owned()).collect();
    codes.extend(
        [
            BundleError::Invalid(Vec::new()),
            BundleError::Io {
                context: "c".into(),
                source: io(),
            },
        ]
        .iter()
        .map(|e| e.code().to_owned()),
    );
    codes.extend(
        [
            MemTreeError::InvalidPath {
                path: "p".into(),
                reason: "r",
            },
            MemTreeError::Conflict {
                path: "p".into(),
                existing: "e".into(),
            },
        ]
        .iter()
        .map(|e| e.code().to_owned()),
    );
    // What the token endpoint answers when a sign-in ends without a token, kebab-cased.
    for oauth in [
        "access_denied",
        "expired_token",
        "invalid_grant",
        "invalid_client",
        "invalid_request",
        "unsupported_grant_type",
    ] {
        codes.push(oauth.replace('_', "-"));
    }
    for code in codes {
        assert!(ErrorCode::from_code(&code).is_some(), "{code}");
    }
}
