//! Errors as JS sees them: `Error` objects with a stable `code` (and `diagnostics`,
//! `status`, `details`, `hint` where they apply), built from core's errors.

use js_sys::{Array, Error, Reflect};
use q8s_core::Diagnostic;
use q8s_core::api::ApiError;
use q8s_core::bundle::BundleError;
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// `value` as a plain JS value: objects (not `Map`s), `null` for `None`, numbers as numbers.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| error("internal-error", &e.to_string()))
}

/// An `Error` with `message` and a stable `code`.
pub(crate) fn error(code: &str, message: &str) -> JsValue {
    let err = Error::new(message);
    set(&err, "code", &JsValue::from_str(code));
    err.into()
}

fn set(target: &Error, key: &str, value: &JsValue) {
    // Setting a property on a fresh Error cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn with_diagnostics(err: JsValue, diagnostics: &[Diagnostic]) -> JsValue {
    let list = to_js(diagnostics).unwrap_or_else(|_| Array::new().into());
    set(err.unchecked_ref(), "diagnostics", &list);
    err
}

/// A bundle that breaks a rule (`invalid-bundle`, with its `diagnostics`) or could not be
/// read (`io-error`).
pub(crate) fn bundle_error(e: &BundleError) -> JsValue {
    with_diagnostics(error(e.code(), &e.to_string()), e.diagnostics())
}

/// An error of the API client or the server: `code`, `message` as the CLI prints it,
/// `status` when there was an answer, the server's `details`, its `diagnostics` (for an
/// import refused with 422), and the `hint` for codes with something to do.
pub(crate) fn api_error_value(e: &ApiError) -> JsValue {
    let err = with_diagnostics(error(e.code(), &e.to_string()), &e.diagnostics());
    let target: &Error = err.unchecked_ref();
    if let Some(status) = e.status() {
        set(target, "status", &JsValue::from(status));
    }
    let details = to_js(e.details()).unwrap_or(JsValue::NULL);
    set(target, "details", &details);
    if let Some(hint) = e.hint() {
        set(target, "hint", &JsValue::from_str(hint));
    }
    err
}

/// The error an unsuccessful HTTP answer carries, exactly as the client would raise it:
/// for JS code that talks HTTP itself (the upload uses `XMLHttpRequest` for its progress
/// events).
#[wasm_bindgen(js_name = apiError, unchecked_return_type = "Q8sError")]
pub fn api_error(status: u16, url: &str, body: &str) -> JsValue {
    api_error_value(&ApiError::from_response(status, url, body))
}
