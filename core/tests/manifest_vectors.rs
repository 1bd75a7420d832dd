//! Runs every manifest test vector of `tests/vectors/manifests/`: each
//! `<case>.toml` must produce exactly the `{valid, diagnostics}` of
//! `<case>.json`. `Q8S_BLESS=1 cargo test -p q8s-core --test manifest_vectors`
//! rewrites the JSON files from the current output (review the diff!).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use q8s_core::Diagnostic;
use q8s_core::manifest::{codes, validate_manifest_bytes};
use serde::Serialize;
use serde_json::Value;

/// Codes that only `locate_manifest` reports: they concern the files of a
/// bundle, not the text of a manifest, so no vector can show them.
const LOCATE_CODES: &[&str] = &[
    codes::MANIFEST_MISSING,
    codes::LEGACY_MANIFEST_NAME,
    codes::CLOUD_MANIFEST_NAME,
    codes::MANIFEST_IGNORED,
];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/manifests")
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(vectors_dir())
        .expect("tests/vectors/manifests exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|name| name.strip_suffix(".toml").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The JSON form of a vector's outcome, fields in the order of the structs.
#[derive(Serialize)]
struct Outcome {
    valid: bool,
    diagnostics: Vec<Diagnostic>,
}

fn actual(case: &str) -> Outcome {
    let bytes = fs::read(vectors_dir().join(format!("{case}.toml"))).expect("readable vector");
    let report = validate_manifest_bytes(&bytes);
    Outcome {
        valid: report.is_valid(),
        diagnostics: report.diagnostics,
    }
}

fn expected(case: &str) -> Value {
    let path = vectors_dir().join(format!("{case}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with Q8S_BLESS=1 to create it)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_vector_gives_its_expected_diagnostics() {
    let bless = std::env::var_os("Q8S_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for case in cases() {
        let got = actual(&case);
        if bless {
            let text = serde_json::to_string_pretty(&got).expect("serialisable") + "\n";
            fs::write(vectors_dir().join(format!("{case}.json")), text).expect("writable");
            continue;
        }
        let want = expected(&case);
        let got = serde_json::to_value(&got).expect("serialisable");
        if got != want {
            failures.push(format!(
                "{case}:\n  expected: {}\n  actual:   {}",
                serde_json::to_string_pretty(&want).unwrap(),
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn vectors_are_well_formed() {
    let cases = cases();
    assert!(cases.len() >= 70, "only {} vectors", cases.len());
    for entry in fs::read_dir(vectors_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let stem = name
            .strip_suffix(".json")
            .or_else(|| name.strip_suffix(".toml"));
        let stem = stem.unwrap_or_else(|| panic!("{name}: only .toml and .json files belong here"));
        assert!(
            cases.iter().any(|c| c == stem),
            "{name} has no .toml beside it"
        );
    }
    for case in &cases {
        let v = expected(case);
        let object = v
            .as_object()
            .unwrap_or_else(|| panic!("{case}: not an object"));
        let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["valid", "diagnostics"]), "{case}");
        let errors = v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .count();
        assert_eq!(
            v["valid"],
            errors == 0,
            "{case}: `valid` disagrees with the diagnostics"
        );
        // Names say what a case expects.
        match case.split('-').next() {
            Some("valid") => assert!(v["diagnostics"].as_array().unwrap().is_empty(), "{case}"),
            Some("warn") => assert!(
                v["valid"] == true
                    && errors == 0
                    && v["diagnostics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|d| d["severity"] == "warning"),
                "{case}"
            ),
            Some("note") => assert!(
                !v["diagnostics"].as_array().unwrap().is_empty()
                    && v["diagnostics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|d| d["severity"] == "note"),
                "{case}"
            ),
            Some("error") => assert!(errors > 0, "{case}"),
            _ => panic!("{case}: names start with valid-, note-, warn- or error-"),
        }
    }
}

#[test]
fn every_code_has_a_vector() {
    let mut seen = BTreeSet::new();
    for case in cases() {
        for d in expected(&case)["diagnostics"].as_array().unwrap() {
            seen.insert(d["code"].as_str().unwrap().to_string());
        }
    }
    for (code, _) in codes::ALL {
        if !LOCATE_CODES.contains(code) {
            assert!(seen.contains(*code), "no vector shows `{code}`");
        }
    }
}

#[test]
fn every_code_is_documented() {
    let docs =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/manifest.md"))
            .expect("docs/manifest.md exists");
    for (code, severity) in codes::ALL.iter().chain(q8s_core::requirements::ALL) {
        let heading = format!("### `{code}` ({})", severity.as_str());
        assert!(
            docs.contains(&heading),
            "docs/manifest.md lacks the heading {heading}"
        );
    }
}
