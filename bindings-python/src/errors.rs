//! Core errors as Python exceptions: one kind of core error, one exception class of
//! `q8s._errors` (built there by `_from_native`, which also picks the subclass of an API error
//! from its HTTP status). The message is the sentence the CLI prints; diagnostics and details
//! travel in their JSON form, with exactly the fields of the core types.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyAny;
use q8s_client::DeployError;
use q8s_client::config::ConfigError;
use q8s_core::api::{ApiError, Surface};
use q8s_core::bundle::BundleError;
use q8s_core::{Diagnostic, RenderOptions};

use crate::convert::to_python;

/// Which family of `q8s.Error` a failure belongs to (the first argument of `_from_native`).
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `q8s.ManifestError`: validation found errors.
    Manifest,
    /// `q8s.BundleError`: a bundle cannot be built or read.
    Bundle,
    /// `q8s.ApiError` and its subclasses.
    Api,
    /// `q8s.Error`: the client configuration cannot be used.
    Config,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Manifest => "manifest",
            Kind::Bundle => "bundle",
            Kind::Api => "api",
            Kind::Config => "config",
        }
    }
}

/// Builds the exception through `q8s._errors._from_native(kind, message, code, status,
/// details_json)`; should that fail (the package is broken), a `RuntimeError` with the message.
fn raise(
    py: Python<'_>,
    kind: Kind,
    message: String,
    code: &str,
    status: Option<u16>,
    details: &impl serde::Serialize,
) -> PyErr {
    static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let built = to_python(py, details).and_then(|details| {
        let factory = FACTORY.import(py, "q8s._errors", "_from_native")?;
        factory.call1((kind.as_str(), &message, code, status, details))
    });
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// `summary` followed by the diagnostics rendered as the CLI renders them, positions relative
/// to `file`.
fn with_rendered(summary: String, diagnostics: &[Diagnostic], file: &str) -> String {
    if diagnostics.is_empty() {
        return summary;
    }
    let rendered = q8s_core::render(diagnostics, file, RenderOptions::default());
    format!("{summary}\n{}", rendered.trim_end())
}

/// `q8s.ManifestError` for a validation that found errors.
pub fn manifest_error(py: Python<'_>, diagnostics: Vec<Diagnostic>, file: &str) -> PyErr {
    // The core's one-sentence summary of an invalid bundle reads the same for a manifest.
    let invalid = BundleError::Invalid(diagnostics);
    let summary = invalid.to_string();
    let diagnostics = invalid.diagnostics();
    let message = with_rendered(summary, diagnostics, file);
    raise(
        py,
        Kind::Manifest,
        message,
        invalid.code(),
        None,
        &diagnostics,
    )
}

/// `q8s.BundleError`, with the diagnostics of an invalid bundle.
pub fn bundle_error(py: Python<'_>, err: BundleError, file: &str) -> PyErr {
    let message = with_rendered(err.to_string(), err.diagnostics(), file);
    raise(
        py,
        Kind::Bundle,
        message,
        err.code(),
        None,
        &err.diagnostics(),
    )
}

/// `q8s.ApiError` (or `NotFound`, `Conflict`, `Unauthorized`, `Forbidden`).
pub fn api_error(py: Python<'_>, err: ApiError) -> PyErr {
    raise(
        py,
        Kind::Api,
        err.sentence_in(Surface::Python),
        err.code(),
        err.status(),
        &err.details(),
    )
}

/// `q8s.Error` for a configuration file or profile that cannot be used.
pub fn config_error(py: Python<'_>, err: ConfigError) -> PyErr {
    raise(
        py,
        Kind::Config,
        err.to_string(),
        err.code(),
        None,
        &serde_json::Value::Array(Vec::new()),
    )
}

/// The error of a deploy: of the bundle, or of the import.
pub fn deploy_error(py: Python<'_>, err: DeployError, file: &str) -> PyErr {
    match err {
        DeployError::Bundle(err) => bundle_error(py, err, file),
        DeployError::Api(err) => api_error(py, err),
    }
}

/// A `ValueError` for a word that is not one of the API's (`Visibility`, `InstanceStatus`).
pub fn value_error(err: impl std::fmt::Display) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(err.to_string())
}
