//! `docs/q-app.schema.json` (for editors) agrees with the validator on every
//! manifest test vector: each vector's TOML, read as JSON the way editors do
//! (dates and times become strings), passes the schema exactly when the
//! validator reports no error the schema can express.

use std::fs;
use std::path::{Path, PathBuf};

use q8s_core::manifest::codes;
use serde_json::{Map, Number, Value};

/// Errors a JSON Schema can express: structure, types, patterns, lengths.
/// The rest (whole bytes, ranges beyond 2^64, MemoryReservation <= MemoryLimit,
/// unique Env names) only the validator checks, and warnings never fail.
const SCHEMA_CODES: &[&str] = &[
    codes::MISSING_TABLE,
    codes::MISSING_KEY,
    codes::WRONG_TYPE,
    codes::INVALID_NAME,
    codes::INVALID_VERSION,
    codes::EMPTY_TITLE,
    codes::EMPTY_KEYWORD,
    codes::INVALID_MODULE,
    codes::INVALID_VOLUME_MOUNT,
    codes::RESERVED_VOLUME_MOUNT,
    codes::VOLUME_INCOMPLETE,
    codes::INVALID_QUANTITY,
    codes::QUANTITY_NOT_POSITIVE,
    codes::INVALID_DURATION,
    codes::INVALID_ENV_NAME,
    codes::RESERVED_ENV_NAME,
    codes::INVALID_SECRET_NAME,
    codes::INVALID_SECRET_KEY,
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema() -> jsonschema::Validator {
    let text = fs::read_to_string(root().join("docs/q-app.schema.json")).expect("schema exists");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft7::new(&schema).expect("schema is a valid draft-07 schema")
}

fn to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Number((*i).into()),
        toml::Value::Float(f) => {
            Number::from_f64(*f).map_or_else(|| Value::String(f.to_string()), Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

#[test]
fn the_schema_agrees_with_every_vector() {
    let validator = schema();
    let dir = root().join("tests/vectors/manifests");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    let (mut checked, mut failures) = (0, Vec::new());
    for path in cases {
        let Ok(text) = fs::read_to_string(&path) else {
            continue; // not UTF-8: nothing for a schema to see
        };
        let Ok(table) = text.trim_start_matches('\u{feff}').parse::<toml::Table>() else {
            continue; // a TOML syntax error: editors report it before any schema
        };
        let instance = to_json(&toml::Value::Table(table));
        let expected: Value =
            serde_json::from_str(&fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        let schema_errors: Vec<&str> = expected["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .filter_map(|d| d["code"].as_str())
            .filter(|code| SCHEMA_CODES.contains(code))
            .collect();
        let should_pass = schema_errors.is_empty();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        checked += 1;
        if errors.is_empty() != should_pass {
            let name = path.file_stem().unwrap().to_string_lossy();
            failures.push(match should_pass {
                true => format!("{name}: valid for q8s but the schema says {errors:?}"),
                false => format!("{name}: q8s reports {schema_errors:?} but the schema accepts it"),
            });
        }
    }
    assert!(checked >= 70, "only {checked} vectors checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_schema_names_every_category_and_platform_variable() {
    let text = fs::read_to_string(root().join("docs/q-app.schema.json")).unwrap();
    for category in q8s_core::manifest::CATEGORIES {
        assert!(text.contains(&format!("\"{category}\"")), "{category}");
    }
    for name in q8s_core::manifest::PLATFORM_ENV_NAMES {
        assert!(text.contains(&format!("\"{name}\"")), "{name}");
    }
}

#[test]
fn the_schema_refuses_every_reserved_volume_mount() {
    let validator = schema();
    let manifest = |mount: &str| {
        serde_json::json!({
            "App": {"Name": "my-app", "Version": "1.0.0"},
            "Runtime": {"Module": "app", "VolumeMount": mount, "VolumeSize": "1Gi"},
        })
    };
    for reserved in q8s_core::manifest::RESERVED_VOLUME_MOUNTS {
        let below = format!("{}/x", reserved.path);
        assert!(
            !validator.is_valid(&manifest(reserved.path)),
            "{}",
            reserved.path
        );
        assert_eq!(
            validator.is_valid(&manifest(&below)),
            !reserved.below,
            "{below}"
        );
        let sibling = format!("{}x", reserved.path);
        assert!(validator.is_valid(&manifest(&sibling)), "{sibling}");
    }
}
