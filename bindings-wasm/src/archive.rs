//! Reading a `.qz` a user dropped: checked entry by entry with core's strict reader.

use std::io::Cursor;

use js_sys::Uint8Array;
use q8s_core::archive::{ArchiveDigest, Limits, QzReader};
use q8s_core::bundle::{BundleError, InspectReport, inspect_archive};
use wasm_bindgen::prelude::*;

use crate::error::{bundle_error, to_js};

/// Reads every entry of an untrusted `.qz` within the server's limits (sizes, ratio, count;
/// CRCs checked) and checks its manifest and contents: core's `InspectReport` (`{ valid,
/// sha256, size, manifest, manifest_file, icon, screenshots, entries, diagnostics }`), as
/// `q8s-cli bundle inspect -o json` prints it without `path`. A broken archive throws
/// `invalid-bundle` with `diagnostics`.
#[wasm_bindgen(js_name = inspectBundle, unchecked_return_type = "InspectReport")]
pub fn inspect_bundle(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let report =
        inspect_archive(Cursor::new(bytes), Limits::default()).map_err(|e| bundle_error(&e))?;
    let sha256 = ArchiveDigest::of(bytes).hex();
    to_js(&InspectReport::new(
        report,
        None,
        sha256,
        bytes.len() as u64,
    ))
}

/// The bytes of one file of a `.qz` (an icon or screenshot to preview), read within the
/// default limits. Throws `invalid-bundle` for a broken archive or a missing entry.
#[wasm_bindgen(js_name = readBundleFile)]
pub fn read_bundle_file(bytes: &[u8], path: &str) -> Result<Uint8Array, JsValue> {
    let read = || -> Result<Vec<u8>, BundleError> {
        let mut reader = QzReader::open(Cursor::new(bytes), Limits::default())?;
        Ok(reader.read(path)?)
    };
    let data = read().map_err(|e| bundle_error(&e))?;
    Ok(Uint8Array::from(data.as_slice()))
}
