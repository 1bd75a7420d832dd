//! q8s for JavaScript: the rules and the bundle writer of `q8s-core` and the API client of
//! `q8s-client`, compiled to WebAssembly with wasm-bindgen, for browsers (main thread or
//! Worker) and Node.
//!
//! This crate converts and calls; no rule lives here. Values cross to JS as plain objects
//! with the same field names as the CLI's `-o json` and the REST API (`file_name`,
//! `status_message`, …), so one shape serves every surface. The TypeScript types of those
//! objects are in `types.d.ts` (emitted into the package's `.d.ts`).
//!
//! ```js
//! import init, { validateManifest, BundleBuilder } from "q8s-wasm";
//! await init();
//! const report = validateManifest(text);   // { valid, manifest, diagnostics }
//! const b = new BundleBuilder();
//! b.add("q-app.toml", bytes);
//! const out = b.finish();                  // { bytes, file_name, sha256, files, … }
//! ```

mod archive;
mod builder;
mod client;
mod error;

use wasm_bindgen::prelude::*;

pub use archive::{inspect_bundle, read_bundle_file};
pub use builder::{BundleBuilder, explain};
pub use client::Client;
pub use error::api_error;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("types.d.ts");

/// Installs the panic hook when the module starts: a Rust panic then reaches the console
/// with its message and throws a JS error (`RuntimeError: unreachable`), and the module is
/// not used again (the page runs it in a Worker it restarts).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The version of q8s this module was built from.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Checks a `q-app.toml` text: every diagnostic at once, with line and column.
#[wasm_bindgen(js_name = validateManifest, unchecked_return_type = "ManifestReport")]
pub fn validate_manifest(text: &str) -> Result<JsValue, JsValue> {
    manifest_report(q8s_core::manifest::validate_manifest(text))
}

/// Checks a `q-app.toml` as its file's bytes (a file that is not UTF-8 is a diagnostic,
/// where a JS string would have replaced the bad bytes).
#[wasm_bindgen(js_name = validateManifestBytes, unchecked_return_type = "ManifestReport")]
pub fn validate_manifest_bytes(bytes: &[u8]) -> Result<JsValue, JsValue> {
    manifest_report(q8s_core::manifest::validate_manifest_bytes(bytes))
}

fn manifest_report(report: q8s_core::manifest::ManifestReport) -> Result<JsValue, JsValue> {
    error::to_js(&q8s_core::bundle::ValidationReport::from(report))
}

/// The file name of a bundle: `<Name>.<Version>.qz`.
#[wasm_bindgen(js_name = bundleFileName)]
pub fn bundle_file_name(name: &str, version: &str) -> String {
    q8s_core::bundle::bundle_file_name(name, version)
}

/// The `Repr-Digest` header value declaring a bundle's sha256 (64 lowercase hex digits) on
/// its upload, as every client sends it; `undefined` for anything else.
#[wasm_bindgen(js_name = reprDigest)]
pub fn repr_digest(sha256: &str) -> Option<String> {
    q8s_core::api::repr_digest(sha256)
}
