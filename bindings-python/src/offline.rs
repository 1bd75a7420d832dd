//! What works without a server: building, validating and inspecting bundles. Each function
//! calls the core with the GIL released and returns the core's result in its JSON form (the
//! field names of the core types), which `q8s` turns into its frozen classes.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use q8s_core::archive::Limits;
use q8s_core::bundle::{self, BuildOptions, ValidationReport};
use q8s_core::manifest::{MANIFEST_FILE, validate_manifest};

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

/// What validating a target gives: the core's `ValidationReport` when valid, `ManifestError`
/// with every diagnostic otherwise.
fn checked<'py>(
    py: Python<'py>,
    report: ValidationReport,
    file: &str,
) -> PyResult<Bound<'py, PyAny>> {
    if report.valid {
        to_python(py, &report)
    } else {
        Err(manifest_error(py, report.diagnostics, file))
    }
}

/// `validate(path)`: checks an app folder (as bundling would), a `.qz` (as the server does on
/// import) or a manifest file, as `q8s-cli bundle validate` does. Raises `ManifestError` on
/// errors; returns the core's `ValidationReport` otherwise.
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
    checked(py, validation.report, &validation.source)
}

/// `validate_text(text)`: checks manifest text.
#[pyfunction]
pub fn validate_text<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    checked(py, validate_manifest(text).into(), MANIFEST_FILE)
}

/// `inspect(path)`: opens a `.qz` as the server does (every entry read and checked) and returns
/// the core's `InspectReport`, as `q8s-cli bundle inspect -o json` prints it. A broken archive
/// raises `BundleError`; a well-formed one with a bad manifest is a result with `valid: false`.
#[pyfunction]
pub fn inspect(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let inspected = py.detach(|| bundle::inspect_path(&path, Limits::default()));
    let report = inspected.map_err(|e| bundle_error(py, e, &path.display().to_string()))?;
    to_python(py, &report)
}

/// `bundle_icon(path)`: the icon of a `.qz` as `(media_type, bytes)`, or `None` (for the
/// inspect card).
#[pyfunction]
pub fn bundle_icon(py: Python<'_>, path: PathBuf) -> PyResult<Option<(String, Vec<u8>)>> {
    let read = py.detach(|| bundle::bundle_icon(&path, Limits::default()));
    read.map_err(|e| bundle_error(py, e, &path.display().to_string()))
}
