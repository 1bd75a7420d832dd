//! The server makes API errors only from core's [`ErrorCode`] list: these tests read the
//! server's sources, so a code written any other way (a string, a hand-built envelope) or a
//! code missing from `docs/api.md` or from the bindings' types fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::response::IntoResponse;

use super::{ApiError, ErrorCode};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file of the server but this one, with line comments left out.
fn server_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&crate_dir().join("src"), &mut files);
    files
        .into_iter()
        .filter(|path| !path.ends_with("error/tests.rs"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let code: Vec<&str> = text
                .lines()
                .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
                .collect();
            let name = path
                .strip_prefix(crate_dir())
                .unwrap()
                .display()
                .to_string();
            (name, code.join("\n"))
        })
        .collect()
}

/// The text right after each `needle`, whitespace skipped.
fn after<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(needle)
        .map(move |(at, _)| text[at + needle.len()..].trim_start())
}

#[test]
fn the_server_makes_api_errors_only_from_error_codes() {
    let mut offences = Vec::new();
    for (file, text) in server_sources() {
        // `ApiError::new` takes an ErrorCode: not a string, not a status.
        for rest in after(&text, "ApiError::new(") {
            if rest.starts_with('"') || rest.starts_with("StatusCode") {
                offences.push(format!(
                    "{file}: ApiError::new({}",
                    &rest[..rest.len().min(40)]
                ));
            }
        }
        // The helpers that took a code as a string are gone.
        for helper in ["bad_request(", "unprocessable(", "conflict("] {
            if text.contains(&format!("ApiError::{helper}")) {
                offences.push(format!("{file}: ApiError::{helper}"));
            }
        }
        // Only error.rs writes the `{"error": {...}}` envelope.
        let builds_envelope = [
            "ErrorBody {",
            "ErrorDetail {",
            "\"error\": {",
            "\"error\":{",
        ]
        .iter()
        .any(|envelope| {
            text.match_indices(envelope).any(|(at, _)| {
                // `OAuthErrorBody {` is another type.
                !text[..at].ends_with(|c: char| c.is_ascii_alphanumeric())
            })
        });
        if !file.ends_with("src/error.rs") && builds_envelope {
            offences.push(format!("{file}: builds an error body by hand"));
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}

/// The codes the server's sources name (`ErrorCode::Variant`).
fn codes_the_server_uses() -> BTreeSet<&'static str> {
    let by_name = |name: &str| {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| format!("{code:?}") == name)
    };
    let mut used = BTreeSet::new();
    for (file, text) in server_sources() {
        for rest in after(&text, "ErrorCode::") {
            let name: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue; // ErrorCode::ALL, ErrorCode::from_code…
            }
            let code = by_name(&name).unwrap_or_else(|| panic!("{file}: ErrorCode::{name}?"));
            assert!(!code.is_client(), "{file}: {code} is a client code");
            used.insert(code.as_str());
        }
    }
    used
}

#[test]
fn every_code_the_server_uses_is_documented_and_typed_in_the_bindings() {
    let used = codes_the_server_uses();
    assert!(used.len() >= 30, "found only {used:?}");
    let read = |path: &str| std::fs::read_to_string(crate_dir().join("..").join(path)).unwrap();
    let docs = read("docs/api.md");
    let python = read("bindings-python/python/q8s/_errors.py");
    let typescript = read("bindings-wasm/src/types.d.ts");
    for code in used {
        let status = ErrorCode::from_code(code)
            .and_then(ErrorCode::status)
            .unwrap();
        assert!(
            docs.contains(&format!("| `{code}` | {status} |")),
            "docs/api.md does not list `{code}` ({status})"
        );
        assert!(
            python.contains(&format!("\"{code}\",")),
            "q8s.ErrorCode lacks {code}"
        );
        assert!(
            typescript.contains(&format!("| \"{code}\"")),
            "Q8sErrorCode lacks {code}"
        );
    }
}

#[test]
fn every_server_code_answers_with_its_status_and_envelope() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for &code in ErrorCode::ALL.iter().filter(|c| !c.is_client()) {
        let response = ApiError::new(code, "x").into_response();
        assert_eq!(Some(response.status().as_u16()), code.status(), "{code}");
        let body = runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
            .unwrap();
        let body: q8s_core::api::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, code.as_str());
    }
}
