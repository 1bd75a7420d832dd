//! The bindings restate core's API types by hand (`bindings-python/python/q8s/_models.py`,
//! `bindings-wasm/src/types.d.ts`): these tests hold them to the OpenAPI document the server
//! derives from those very types, so a field or value added to core and missing from either
//! binding fails here (see `docs/development.md`, "Binding types").

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// Each schema of the OpenAPI document: the Python class and the TypeScript type that
/// restate it, or `None` where a binding does not (request bodies the bindings never read
/// back, types the bindings keep as plain values).
const BOUND: &[(&str, Option<&str>, Option<&str>)] = &[
    ("App", Some("App"), Some("App")),
    ("BundleRef", Some("BundleRef"), Some("BundleRef")),
    // The page shows it to admins; the Python package does not ask for it.
    ("CapacityReport", None, Some("CapacityReport")),
    ("EnvVar", Some("EnvVar"), Some("EnvVar")),
    ("Instance", Some("Instance"), Some("Instance")),
    (
        "InstanceStatus",
        Some("InstanceStatus"),
        Some("InstanceStatus"),
    ),
    ("RuntimeSettings", Some("Runtime"), Some("RuntimeSettings")),
    ("Secret", Some("Secret"), None),
    ("SecretAccess", Some("SecretAccess"), None),
    ("Token", Some("Token"), Some("Token")),
    ("CreatedToken", None, Some("CreatedToken")),
    ("User", Some("User"), Some("Me")),
    ("Visibility", Some("Visibility"), Some("Visibility")),
    // Errors become exceptions (`q8s.ApiError`, `Q8sError`), their codes checked against
    // core's `ErrorCode` list in `crate::error`.
    ("ErrorBody", None, None),
    ("ErrorDetail", None, None),
    // Answers of admin calls the bindings do not make.
    ("AppName", None, None),
    ("CreatedUser", None, None),
    // Probes of load balancers and supervisors (`/healthz`, `/readyz`).
    ("Liveness", None, None),
    ("Readiness", None, None),
    // Request bodies and queries: the bindings send them, built by core's client.
    ("AppNameBody", None, None),
    ("NewInstanceBody", None, None),
    ("NewTokenBody", None, None),
    ("NewUserBody", None, None),
    ("Scope", None, None),
    ("SecretAccessChange", None, None),
    ("SecretUsers", None, None),
    ("SecretWrite", None, None),
    ("VisibilityPatch", None, None),
];

fn read(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn schemas() -> serde_json::Map<String, Value> {
    let (_, doc) = super::router();
    let doc = serde_json::to_value(doc).unwrap();
    doc["components"]["schemas"].as_object().unwrap().clone()
}

#[test]
fn every_schema_is_bound_or_listed_as_not_bound() {
    let listed: BTreeSet<&str> = BOUND.iter().map(|(name, ..)| *name).collect();
    let schemas = schemas();
    let names: BTreeSet<&str> = schemas.keys().map(String::as_str).collect();
    let unlisted: Vec<_> = names.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&names).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "add to BOUND: {unlisted:?}; not in the document: {gone:?}\n{schemas:#?}"
    );
}

/// The property names of an object schema, or the values of an enum schema.
fn words_of(schema: &Value) -> BTreeSet<String> {
    let words = match (schema.get("properties"), schema.get("enum")) {
        (Some(Value::Object(properties)), _) => properties.keys().cloned().collect(),
        (_, Some(Value::Array(values))) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    };
    assert!(
        !words.is_empty(),
        "neither properties nor values: {schema:#}"
    );
    words
}

/// The body of `class {name}` in Python source: its indented lines up to the next top-level
/// line.
fn python_class<'a>(source: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = source.lines();
    let header = format!("class {name}");
    lines
        .by_ref()
        .find(|l| l.starts_with(&header) && l[header.len()..].starts_with(['(', ':']))
        .unwrap_or_else(|| panic!("_models.py has no class {name}"));
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

/// The body of `export interface {name}` or `export type {name} =` in TypeScript source.
fn typescript_type<'a>(source: &'a str, name: &str) -> &'a str {
    for start in [
        format!("export interface {name} "),
        format!("export type {name} ="),
    ] {
        if let Some(at) = source.find(&start) {
            let rest = &source[at + start.len()..];
            let end = rest.find("\n}").or_else(|| rest.find(';')).unwrap();
            return &rest[..end];
        }
    }
    panic!("types.d.ts has no type {name}");
}

/// Whether `field` is declared in `lines` (`field:`, or `FIELD = "field"` for an enum).
fn python_declares(lines: &[&str], word: &str) -> bool {
    lines.iter().any(|l| {
        let l = l.trim_start();
        l.starts_with(&format!("{word}:")) || l.ends_with(&format!("= \"{word}\""))
    })
}

/// Whether `word` is a field (`word:`, `word?:`) or a value (`"word"`) of a TypeScript type.
fn typescript_declares(body: &str, word: &str) -> bool {
    body.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(&format!("{word}:")) || l.starts_with(&format!("{word}?:"))
    }) || body.contains(&format!("\"{word}\""))
}

#[test]
fn the_bindings_restate_every_field_and_value_of_the_bound_schemas() {
    let schemas = schemas();
    let python = read("bindings-python/python/q8s/_models.py");
    let typescript = read("bindings-wasm/src/types.d.ts");
    let mut missing = Vec::new();
    for (schema, py, ts) in BOUND
        .iter()
        .filter(|(_, py, ts)| py.is_some() || ts.is_some())
    {
        let Some(definition) = schemas.get(*schema) else {
            continue; // reported by the test above
        };
        for word in words_of(definition) {
            if let Some(class) = py
                && !python_declares(&python_class(&python, class), &word)
            {
                missing.push(format!("_models.py {class}: {word} (of {schema})"));
            }
            if let Some(ty) = ts
                && !typescript_declares(typescript_type(&typescript, ty), &word)
            {
                missing.push(format!("types.d.ts {ty}: {word} (of {schema})"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// Diagnostics travel in the details of `invalid-bundle` answers as plain JSON objects (no
/// schema of their own in the document): their fields are those core serializes.
#[test]
fn the_bindings_restate_every_field_of_a_diagnostic() {
    let diagnostic = serde_json::to_value(q8s_core::Diagnostic::error("c", "p", "m")).unwrap();
    let fields = diagnostic.as_object().unwrap().keys();
    let python = read("bindings-python/python/q8s/_models.py");
    let typescript = read("bindings-wasm/src/types.d.ts");
    let (class, ty) = (
        python_class(&python, "Diagnostic"),
        typescript_type(&typescript, "Diagnostic"),
    );
    for field in fields {
        assert!(
            python_declares(&class, field),
            "_models.py Diagnostic: {field}"
        );
        assert!(
            typescript_declares(ty, field),
            "types.d.ts Diagnostic: {field}"
        );
    }
}

/// A manifest as the bindings receive it (`validate`, `inspect`): core's `Manifest`
/// serialized, each table's fields declared by its Python class and in the TypeScript type.
#[test]
fn the_bindings_restate_every_field_of_a_manifest() {
    let text = r#"
[App]
Name = "ai.h2o.q8s.check"
Version = "1.0.0"
Title = "Check"
Description = "d"
Category = "Other"
Keywords = ["k"]

[Runtime]
Module = "check.app"
VolumeMount = "/data"
VolumeSize = "1Gi"
MemoryLimit = "256Mi"
MemoryReservation = "128Mi"

[[Env]]
Name = "TOKEN"
Secret = "s"
SecretKey = "k"
"#;
    let report = q8s_core::validate_manifest(text);
    let manifest = report.manifest.expect("a valid manifest");
    let manifest = serde_json::to_value(manifest).unwrap();
    let python = read("bindings-python/python/q8s/_models.py");
    let typescript = read("bindings-wasm/src/types.d.ts");
    let tables = [
        (&manifest, "Manifest", "Manifest"),
        (&manifest["app"], "ManifestApp", "Manifest"),
        (&manifest["runtime"], "Runtime", "RuntimeSettings"),
        (&manifest["env"][0], "EnvVar", "EnvVar"),
    ];
    let mut missing = Vec::new();
    for (table, class, ty) in tables {
        let (class_lines, ty_body) = (
            python_class(&python, class),
            typescript_type(&typescript, ty),
        );
        for field in table.as_object().expect("a table").keys() {
            if !python_declares(&class_lines, field) {
                missing.push(format!("_models.py {class}: {field}"));
            }
            if !typescript_declares(ty_body, field) {
                missing.push(format!("types.d.ts {ty}: {field}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
