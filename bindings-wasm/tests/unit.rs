//! wasm-bindgen-test unit tests, run in Node by `make test`:
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test
//! --target wasm32-unknown-unknown -p q8s-wasm`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Reflect, Uint8Array};
use q8s_core::select::MemTree;
use q8s_wasm::{BundleBuilder, Client, api_error, explain, inspect_bundle, validate_manifest};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

const MANIFEST: &str =
    "[App]\nName = \"ai.q8s.unit\"\nVersion = \"1.0.0\"\n\n[Runtime]\nModule = \"app\"\n";

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(key)).unwrap()
}

fn text(value: &JsValue, key: &str) -> String {
    get(value, key).as_string().unwrap_or_default()
}

fn bytes(data: &[u8]) -> JsValue {
    Uint8Array::from(data).into()
}

fn executable() -> JsValue {
    let options = js_sys::Object::new();
    Reflect::set(&options, &"executable".into(), &JsValue::TRUE).unwrap();
    options.into()
}

#[wasm_bindgen_test]
fn manifest_diagnostics_carry_code_and_line() {
    let report = validate_manifest("[App]\nName = \"ai.q8s.unit\"\nVersion = \"one\"\n").unwrap();
    assert_eq!(get(&report, "valid"), JsValue::FALSE);
    assert!(get(&report, "manifest").is_null());
    let diagnostics: Array = get(&report, "diagnostics").unchecked_into();
    let version = diagnostics
        .iter()
        .find(|d| text(d, "code") == "invalid-version")
        .expect("an invalid-version diagnostic");
    assert_eq!(get(&version, "line").as_f64(), Some(3.0));
    assert_eq!(text(&version, "severity"), "error");
}

#[wasm_bindgen_test]
fn the_builder_writes_the_bytes_core_writes() {
    let files: [(&str, &[u8], bool); 4] = [
        ("q-app.toml", MANIFEST.as_bytes(), false),
        ("app.py", b"print('hello')\n", false),
        ("bin/run.sh", b"#!/bin/sh\n", true),
        ("__pycache__/app.cpython-311.pyc", b"\0\0", false),
    ];
    let mut builder = BundleBuilder::new();
    let mut tree = MemTree::new();
    for (path, data, exec) in files {
        let options = if exec {
            executable()
        } else {
            JsValue::UNDEFINED
        };
        builder.add(path, bytes(data), options).unwrap();
        tree.add(path, data.to_vec(), exec).unwrap();
    }
    let (info, native) = q8s_core::bundle::build_tree(&tree, Vec::new()).unwrap();
    let out = builder.finish().unwrap();
    assert_eq!(text(&out, "sha256"), info.sha256);
    assert_eq!(text(&out, "file_name"), "ai.q8s.unit.1.0.0.qz");
    let written: Uint8Array = get(&out, "bytes").unchecked_into();
    assert_eq!(written.to_vec(), native);
    // The bytecode is left out, and explain says by which rule.
    let decisions: Array = explain(&builder).unwrap().unchecked_into();
    let pycache = decisions
        .iter()
        .find(|d| text(d, "path") == "__pycache__/")
        .expect("a decision for __pycache__/");
    assert_eq!(get(&pycache, "included"), JsValue::FALSE);
    assert!(text(&pycache, "rule").starts_with("default"));
    // Read back by the strict reader: the executable bit survived.
    let inspected = inspect_bundle(&native).unwrap();
    assert_eq!(get(&inspected, "valid"), JsValue::TRUE);
    let entries: Array = get(&inspected, "entries").unchecked_into();
    let run = entries
        .iter()
        .find(|e| text(e, "name") == "bin/run.sh")
        .unwrap();
    assert_eq!(get(&run, "executable"), JsValue::TRUE);
}

#[wasm_bindgen_test]
fn errors_are_js_errors_with_a_stable_code() {
    let mut builder = BundleBuilder::new();
    for (path, code) in [
        ("../etc/passwd", "invalid-path"),
        ("/abs", "invalid-path"),
        ("a\\b", "invalid-path"),
    ] {
        let err = builder
            .add(path, bytes(b"x"), JsValue::UNDEFINED)
            .unwrap_err();
        assert!(err.is_instance_of::<js_sys::Error>(), "{path}");
        assert_eq!(text(&err, "code"), code, "{path}");
    }
    builder.add("lib", bytes(b"x"), JsValue::UNDEFINED).unwrap();
    let err = builder
        .add("lib/x.py", bytes(b"x"), JsValue::UNDEFINED)
        .unwrap_err();
    assert_eq!(text(&err, "code"), "path-conflict");
    let err = builder
        .add("x", JsValue::from_str("not bytes"), JsValue::UNDEFINED)
        .unwrap_err();
    assert_eq!(text(&err, "code"), "invalid-argument");

    // No manifest: invalid-bundle, with the diagnostics that say why.
    let err = builder.finish().unwrap_err();
    assert_eq!(text(&err, "code"), "invalid-bundle");
    let diagnostics: Array = get(&err, "diagnostics").unchecked_into();
    assert!(
        diagnostics
            .iter()
            .any(|d| text(&d, "code") == "manifest-missing")
    );

    let err = inspect_bundle(b"PK\x03\x04 not a zip").unwrap_err();
    assert_eq!(text(&err, "code"), "invalid-bundle");
}

#[wasm_bindgen_test]
fn links_that_cannot_be_stored_are_reported() {
    let mut builder = BundleBuilder::new();
    builder
        .add("q-app.toml", bytes(MANIFEST.as_bytes()), JsValue::UNDEFINED)
        .unwrap();
    builder
        .add("app.py", bytes(b""), JsValue::UNDEFINED)
        .unwrap();
    builder.add_link("etc", "/etc", "outside").unwrap();
    let report = builder.check().unwrap();
    assert_eq!(get(&report, "valid"), JsValue::FALSE);
    let diagnostics: Array = get(&report, "diagnostics").unchecked_into();
    assert!(
        diagnostics
            .iter()
            .any(|d| text(&d, "code") == "symlink-outside")
    );
    assert!(builder.add_link("x", "y", "sideways").is_err());
}

#[wasm_bindgen_test]
fn server_errors_read_like_the_client_s() {
    let body =
        r#"{"error": {"code": "app-version-exists", "message": "ai.x 1.0.0 already exists"}}"#;
    let err = api_error(409, "http://q8s.test/api/v1/apps", body);
    assert_eq!(text(&err, "code"), "app-version-exists");
    assert_eq!(get(&err, "status").as_f64(), Some(409.0));
    assert_eq!(text(&err, "hint"), "bump Version in q-app.toml");
    assert!(text(&err, "message").contains("already exists"));
    let err = api_error(502, "http://q8s.test/api/v1/apps", "<html>bad gateway");
    assert_eq!(text(&err, "code"), "unexpected-response");
}

#[wasm_bindgen_test]
async fn visibility_is_read_as_the_cli_and_python_read_it() {
    // Port 9 (discard) refuses: an accepted visibility ends in a network error, a refused
    // one throws `invalid-argument` before any request.
    let client = Client::new("http://127.0.0.1:9", None).unwrap();
    for word in ["ALL_USERS", "all_users", "All-Users", "private"] {
        let sent = client.run("x".into(), word).unwrap_or_else(|e| {
            panic!("{word}: {}", text(&e, "message"));
        });
        let err = wasm_bindgen_futures::JsFuture::from(sent)
            .await
            .unwrap_err();
        assert_ne!(text(&err, "code"), "invalid-argument", "{word}");
    }
    for word in ["everyone", "", "ALL USERS"] {
        let err = client.run("x".into(), word).unwrap_err();
        assert_eq!(text(&err, "code"), "invalid-argument", "{word:?}");
        assert!(
            text(&err, "message").contains("PRIVATE or ALL_USERS"),
            "{word:?}"
        );
    }
}
