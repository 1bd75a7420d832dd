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
