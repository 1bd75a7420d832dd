//! What works without a server: building, validating and inspecting bundles. Each function
//! calls the core with the GIL released and returns the core's result in its JSON form (the
//! field names of the core types), which `q8s` turns into its frozen classes.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use q8s_core::archive::Limits;
use q8s_core::bundle::{self, BuildOptions, BundleError};
use q8s_core::manifest::{MANIFEST_FILE, validate_manifest};
use q8s_core::{Diagnostic, Manifest};
use serde_json::json;

use crate::convert::to_python;
use crate::errors::{bundle_error, manifest_error};

pub use q8s_core::bundle::manifest_display;

/// The core's `BundleInfo` with the `path` it was written to.
fn bundle_to_python<'py>(
    py: Python<'py>,
    info: &bundle::BundleInfo,
    path: &Path,
) -> PyResult<Bound<'py, PyAny>> {
    let bundle = to_python(py, info)?;
    bundle.set_item("path", path)?;
    Ok(bundle)
}

/// `build(path, output)`: bundles the app folder `path` into `output` (a file, or a folder for
/// `<Name>.<Version>.qz`; the current folder when `None`). Returns the core's `BundleInfo` and
/// the written `path`.
#[pyfunction]
#[pyo3(signature = (path, output=None))]
pub fn build<'py>(
    py: Python<'py>,
    path: PathBuf,
    output: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = BuildOptions { output };
    let built = py.detach(|| bundle::build_dir(&path, &options));
    let (info, written) = built.map_err(|e| bundle_error(py, e, &manifest_display(&path)))?;
    bundle_to_python(py, &info, &written)
}

/// What validating a target gives: the manifest when valid, and every diagnostic.
fn checked<'py>(
    py: Python<'py>,
    manifest: Option<Manifest>,
    diagnostics: Vec<Diagnostic>,
    file: &str,
) -> PyResult<Bound<'py, PyAny>> {
    match manifest {
        Some(manifest) if !q8s_core::has_errors(&diagnostics) => to_python(
            py,
            &json!({"manifest": manifest, "diagnostics": diagnostics}),
        ),
        _ => Err(manifest_error(py, diagnostics, file)),
    }
}

/// `validate(path)`: checks an app folder (as bundling would), a `.qz` (as the server does on
/// import) or a manifest file, as `q8s-cli bundle validate` does. Raises `ManifestError` on
/// errors; returns the manifest and the warnings otherwise.
#[pyfunction]
pub fn validate(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let validation = py.detach(|| bundle::validate_path(&path)).map_err(|e| {
        let shown_as = if path.is_dir() {
            manifest_display(&path)
        } else {
            path.display().to_string()
        };
        bundle_error(py, e, &shown_as)
    })?;
    checked(
        py,
        validation.manifest,
        validation.diagnostics,
        &validation.source,
    )
}

/// `validate_text(text)`: checks manifest text.
#[pyfunction]
pub fn validate_text<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let report = validate_manifest(text);
    checked(py, report.manifest, report.diagnostics, MANIFEST_FILE)
}

/// `inspect(path)`: opens a `.qz` as the server does (every entry read and checked) and returns
/// its manifest, entries and diagnostics. A broken archive raises `BundleError`; a well-formed
/// one with a bad manifest is a result with `valid: false`.
#[pyfunction]
pub fn inspect(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let file = path.display().to_string();
    let inspected = py.detach(|| {
        let report = bundle::inspect_file(&path, Limits::default())?;
        let sha256 = bundle::file_sha256(&path).map_err(|source| BundleError::Io {
            context: format!("reading {file}"),
            source,
        })?;
        Ok::<_, BundleError>((report, sha256))
    });
    let (report, sha256) = inspected.map_err(|e| bundle_error(py, e, &file))?;
    let valid = report.is_valid();
    let content = report.content;
    to_python(
        py,
        &json!({
        "path": path,
        "sha256": sha256,
        "valid": valid,
        "manifest": if valid { content.manifest } else { None },
        "icon": content.icon,
        "screenshots": content.screenshots,
        "entries": report.entries,
        "diagnostics": content.diagnostics,
        }),
    )
}
