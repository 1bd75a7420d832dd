//! Unit tests of the manifest rules; `core/tests/manifest_vectors.rs` holds
//! the shared test vectors.

use proptest::prelude::*;

use super::*;
use crate::diagnostic::Severity;

const SPEC_EXAMPLE: &str = r#"[App]
Name = "ai.h2o.q.my-app"
Version = "0.0.1"
Title = "My awesome app"
Description = "This is my awesome app"
Category = "Other"
Keywords = ["awesome"]
[Runtime]
Module = "q_app.run"
VolumeMount = "/data"
VolumeSize = "1Gi"
MemoryLimit = "500Mi"
MemoryReservation = "400Mi"
[[Env]]
Name = "ENVIRONMENT_VARIABLE_NAME"
Secret = "SecretName"
SecretKey = "SecretKeyName"
[[Env]]
Name = "ANOTHER_ENVIRONMENT_VARIABLE_NAME"
Secret = "SecretName"
SecretKey = "AnotherSecretKeyName"
"#;

const MINIMAL: &str = "[App]\nName = \"a\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"app\"\n";

fn codes(text: &str) -> Vec<(String, String)> {
    validate_manifest(text)
        .diagnostics
        .into_iter()
        .map(|d| (d.code, d.path))
        .collect()
}

fn one(text: &str) -> Diagnostic {
    let report = validate_manifest(text);
    assert_eq!(report.diagnostics.len(), 1, "{:#?}", report.diagnostics);
    report.diagnostics.into_iter().next().unwrap()
}

#[test]
fn the_spec_example_is_valid() {
    let report = validate_manifest(SPEC_EXAMPLE);
    assert_eq!(report.diagnostics, []);
    let m = report.manifest.unwrap();
    assert_eq!(m.app.name, "ai.h2o.q.my-app");
    assert_eq!(m.app.keywords, ["awesome"]);
    assert_eq!(m.runtime.volume_size_bytes(), Some(1 << 30));
    assert_eq!(m.runtime.memory_limit_bytes(), Some(500 << 20));
    assert_eq!(m.runtime.memory_reservation_bytes(), Some(400 << 20));
    assert_eq!(m.env.len(), 2);
    assert_eq!(m.env[1].secret_key, "AnotherSecretKeyName");
    assert_eq!(
        m.runtime.module_paths(),
        [
            "q_app/run.py",
            "q_app/run/__init__.py",
            "q_app/run/__main__.py"
        ]
    );
}

#[test]
fn minimal_manifest_has_defaults() {
    let m = validate_manifest(MINIMAL).manifest.unwrap();
    assert_eq!(m.app.title, None);
    assert!(m.app.keywords.is_empty() && m.env.is_empty());
    assert_eq!(m.runtime.memory_reservation_bytes(), None);
    assert_eq!(m.runtime.volume_size_bytes(), None);
}

#[test]
fn the_rule_book_example_renders_like_rustc() {
    let text = MINIMAL.replace("1.0.0", "0.1");
    let report = validate_manifest(&text);
    let rendered = crate::diagnostic::render(&report.diagnostics, "q-app.toml", Default::default());
    assert_eq!(
        rendered,
        "error[invalid-version]: App.Version \"0.1\" is not a semantic version\n  --> q-app.toml:3:11\n   = help: use three numbers, e.g. \"0.1.0\"\n"
    );
}

#[test]
fn reports_every_problem_at_once() {
    let text = "[App]\nName = \"-bad\"\nVersion = \"x\"\nTitel = \"t\"\n[Runtime]\nModule = \"1a\"\nMemoryLimit = \"1\"\n";
    assert_eq!(
        codes(text),
        [
            ("invalid-name".into(), "App.Name".into()),
            ("invalid-version".into(), "App.Version".into()),
            ("unknown-key".into(), "App.Titel".into()),
            ("invalid-module".into(), "Runtime.Module".into()),
            ("memory-limit-low".into(), "Runtime.MemoryLimit".into()),
        ]
    );
}

#[test]
fn missing_keys_point_at_their_table_header() {
    let d = one("# comment\n\n  [App]\nName = \"a\"\n[Runtime]\nModule = \"m\"\n");
    assert_eq!(
        (d.code.as_str(), d.path.as_str()),
        ("missing-key", "App.Version")
    );
    assert_eq!((d.line, d.column), (Some(3), Some(3)));
}

#[test]
fn missing_tables_point_at_the_start() {
    let d = one("[App]\nName = \"a\"\nVersion = \"1.0.0\"\n");
    assert_eq!(
        (d.code.as_str(), d.line, d.column),
        ("missing-table", Some(1), Some(1))
    );
}

#[test]
fn case_twins_explain_case_sensitivity() {
    let report =
        validate_manifest("[App]\nname = \"a\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"m\"\n");
    let missing = &report.diagnostics[0];
    assert_eq!(missing.code, "missing-key");
    assert_eq!(
        missing.help.as_deref(),
        Some("keys are case-sensitive: rename `name` to `Name`")
    );
    let unknown = &report.diagnostics[1];
    assert_eq!(unknown.code, "unknown-key");
    assert_eq!(
        unknown.help.as_deref(),
        Some("did you mean `Name`? keys are case-sensitive")
    );
}

#[test]
fn columns_count_characters() {
    let d = one(
        "[App]\nName = \"a\"\nVersion = \"1.0.0\"\nTitle = \"Ünïcödé\"\nCategory = \"Spaß\"\n[Runtime]\nModule = \"m\"\n",
    );
    assert_eq!(
        (d.code.as_str(), d.line, d.column),
        ("unknown-category", Some(5), Some(12))
    );
    let d = one("[App]\nName = \"a\"\nVersion = \"1.0.0\"\nTitle = \"Ünïcödé\" ; x = 1\n");
    assert_eq!(
        (d.code.as_str(), d.line, d.column),
        ("toml-syntax", Some(4), Some(19))
    );
}

#[test]
fn syntax_errors_are_one_diagnostic() {
    let d = one("[App]\nName = \"a\"\nName = \"b\"\n");
    assert_eq!(d.code, "toml-syntax");
    assert_eq!(d.message, "invalid TOML: duplicate key `Name`");
    assert_eq!((d.line, d.column), (Some(3), Some(1)));
}

#[test]
fn bytes_that_are_not_utf8() {
    let report = validate_manifest_bytes(b"[App]\nName = \"caf\xe9\"\n");
    assert!(!report.is_valid());
    let d = &report.diagnostics[0];
    assert_eq!(
        (d.code.as_str(), d.line, d.column),
        ("not-utf8", Some(2), Some(12))
    );
    assert_eq!(
        validate_manifest_bytes(MINIMAL.as_bytes()),
        validate_manifest(MINIMAL)
    );
}

#[test]
fn inline_tables_and_arrays_read_like_tables() {
    let text = "App = { Name = \"a\", Version = \"1.0.0\" }\nRuntime.Module = \"m\"\nEnv = [{ Name = \"A\", Secret = \"s\", SecretKey = \"k\" }]\n";
    let report = validate_manifest(text);
    assert_eq!(report.diagnostics, []);
    assert_eq!(report.manifest.unwrap().env[0].name, "A");
    let d = one("App = { Name = \"a\" }\n[Runtime]\nModule = \"m\"\n");
    assert_eq!(
        (d.code.as_str(), d.line, d.column),
        ("missing-key", Some(1), Some(7))
    );
}

#[test]
fn locating_the_manifest() {
    assert_eq!(
        locate_manifest(&["q-app.toml", "app.py"]),
        (Some("q-app.toml"), vec![])
    );
    let (found, d) = locate_manifest(&["wave-app.toml"]);
    assert_eq!(
        (found, d[0].code.as_str(), d[0].severity),
        (
            Some("wave-app.toml"),
            "legacy-manifest-name",
            Severity::Warning
        )
    );
    let (found, d) = locate_manifest(&["app.toml", "app.py"]);
    assert_eq!(
        (found, d[0].code.as_str(), d[0].severity, d[0].path.as_str()),
        (
            Some("app.toml"),
            "cloud-manifest-name",
            Severity::Note,
            "app.toml"
        )
    );
    assert_eq!(
        d[0].message,
        "app.toml (H2O AI Cloud's name) is read as the manifest"
    );
    let (found, d) = locate_manifest(&["app.py"]);
    assert_eq!((found, d[0].code.as_str()), (None, "manifest-missing"));
    let (_, d) = locate_manifest(&["Q-App.toml"]);
    assert_eq!(
        d[0].help.as_deref(),
        Some("file names are case-sensitive: rename Q-App.toml to q-app.toml")
    );
    let (_, d) = locate_manifest(&["App.toml"]);
    assert_eq!(
        d[0].help.as_deref(),
        Some("file names are case-sensitive: rename App.toml to app.toml")
    );
}

#[test]
fn several_manifests_the_first_by_order_is_read_and_notes_name_the_others() {
    let summary = |files: &[&'static str]| {
        let (found, d) = locate_manifest(files);
        let d: Vec<_> = d
            .into_iter()
            .map(|d| (d.code, d.severity, d.path))
            .collect();
        (found, d)
    };
    let note = |code: &str, path: &str| (code.to_string(), Severity::Note, path.to_string());
    // Whatever order the folder lists them in.
    assert_eq!(
        summary(&["app.toml", "wave-app.toml", "q-app.toml"]),
        (
            Some("q-app.toml"),
            vec![
                note("manifest-ignored", "wave-app.toml"),
                note("manifest-ignored", "app.toml")
            ]
        )
    );
    assert_eq!(
        summary(&["wave-app.toml", "q-app.toml"]),
        (
            Some("q-app.toml"),
            vec![note("manifest-ignored", "wave-app.toml")]
        )
    );
    assert_eq!(
        summary(&["app.toml", "wave-app.toml"]),
        (
            Some("wave-app.toml"),
            vec![
                (
                    "legacy-manifest-name".to_string(),
                    Severity::Warning,
                    "wave-app.toml".to_string()
                ),
                note("manifest-ignored", "app.toml")
            ]
        )
    );
    let (_, d) = locate_manifest(&["q-app.toml", "app.toml"]);
    assert_eq!(
        d[0].message,
        "app.toml is not read as the manifest: q-app.toml comes first"
    );
    // Nothing is an error: the bundle stays valid.
    assert!(!crate::diagnostic::has_errors(&d));
}

#[test]
fn app_tables_are_notes_and_cloud_keys_get_help_for_migrating_users() {
    let text = "[App]\nName = \"ai.h2o.wave.demo\"\nVersion = \"0.1.0\"\n\
                LongDescription = \"about.md\"\nCategory = \"DATA_SCIENCE\"\n\
                [Runtime]\nModule = \"app\"\nEnableOIDC = true\n\
                [Brand]\nColor = \"#ff6600\"\n[[Data]]\nx = 1\n[Runtim]\n";
    let report = validate_manifest(text);
    let found: Vec<_> = report
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), d.severity, d.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("unsupported-key", Severity::Warning, "App.LongDescription"),
            ("unknown-category", Severity::Warning, "App.Category"),
            ("unsupported-key", Severity::Warning, "Runtime.EnableOIDC"),
            ("extra-table", Severity::Note, "Brand"),
            ("extra-table", Severity::Note, "Data"),
            // A table close to a known one is still a likely typo.
            ("unknown-key", Severity::Warning, "Runtim"),
        ]
    );
    let help = |i: usize| report.diagnostics[i].help.as_deref().unwrap();
    assert!(
        help(0).contains("names a file (\"about.md\")"),
        "{}",
        help(0)
    );
    assert!(help(0).contains("q8s does not read that file: move its text into `Description`"));
    assert_eq!(help(1), "did you mean \"Data Science\"?");
    assert!(help(2).contains("does not fill `q.auth`"), "{}", help(2));
    assert!(help(2).contains("`X-Forwarded-User`"));
}

#[test]
fn unknown_categories_suggest_the_nearest() {
    let help = |category: &str| {
        let text = format!(
            "[App]\nName = \"a\"\nVersion = \"1.0.0\"\nCategory = {category:?}\n[Runtime]\nModule = \"app\"\n"
        );
        validate_manifest(&text).diagnostics[0]
            .help
            .clone()
            .unwrap()
    };
    assert_eq!(help("Healthcar"), "did you mean \"Healthcare\"?");
    assert_eq!(
        help("financial-services"),
        "did you mean \"Financial Services\"?"
    );
    assert_eq!(
        help("Marketing and Sales"),
        "did you mean \"Marketing\" or \"Sales\"?"
    );
    assert_eq!(
        help("Telecom, Insurance, Retail, Finance"),
        "did you mean \"Telecommunications\", \"Financial Services\" or \"Insurance\"?"
    );
    assert!(help("Games").starts_with("the catalog knows All, Data Science"));
}

#[test]
fn every_code_is_kebab_case_and_unique() {
    let mut seen = std::collections::HashSet::new();
    for (code, _) in codes::ALL {
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{code}"
        );
        assert!(seen.insert(code), "{code} twice");
    }
}

fn check_invariants(report: &ManifestReport) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        report.manifest.is_some(),
        !crate::diagnostic::has_errors(&report.diagnostics)
    );
    let known: Vec<&str> = codes::ALL.iter().map(|(c, _)| *c).collect();
    for d in &report.diagnostics {
        prop_assert!(known.contains(&d.code.as_str()), "unknown code {}", d.code);
        prop_assert!(d.line.is_some_and(|l| l >= 1) && d.column.is_some_and(|c| c >= 1));
    }
    Ok(())
}

/// Lines that look like a manifest, some right, some wrong, for the fuzzer to
/// shuffle.
fn manifest_line() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "Name",
        "Version",
        "Title",
        "Description",
        "Category",
        "Keywords",
        "Module",
        "VolumeMount",
        "VolumeSize",
        "MemoryLimit",
        "MemoryReservation",
        "Secret",
        "SecretKey",
        "name",
        "Port",
        "X",
    ]);
    let values = prop::sample::select(vec![
        "\"a\"",
        "\"1.0.0\"",
        "\"0.1\"",
        "\"\"",
        "1",
        "1.5",
        "true",
        "[\"a\", \"a\"]",
        "[1]",
        "{}",
        "\"1Gi\"",
        "\"400m\"",
        "\"/data\"",
        "\"/app/x\"",
        "\"Q8S_X\"",
        "\"PORT\"",
        "1979-05-27",
        "\"a.b\"",
        "\"ü\"",
        "\"-1\"",
        "\"16Ei\"",
    ]);
    prop_oneof![
        prop::sample::select(vec![
            "[App]",
            "[Runtime]",
            "[[Env]]",
            "[Env]",
            "[Brand]",
            "[app]"
        ])
        .prop_map(str::to_string),
        (keys, values).prop_map(|(k, v)| format!("{k} = {v}")),
        "\\PC{0,12}",
    ]
}

proptest! {
    #[test]
    fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_invariants(&validate_manifest_bytes(&bytes))?;
    }

    #[test]
    fn never_panics_on_text(text in "\\PC{0,200}") {
        check_invariants(&validate_manifest(&text))?;
    }

    #[test]
    fn never_panics_on_toml_like_text(lines in prop::collection::vec(manifest_line(), 0..24)) {
        let text = lines.join("\n");
        check_invariants(&validate_manifest(&text))?;
        let report = validate_manifest(&text);
        let mut sorted = report.diagnostics.clone();
        sort_diagnostics(&mut sorted);
        prop_assert_eq!(sorted, report.diagnostics);
    }
}
