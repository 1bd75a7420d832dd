//! The native module `q8s._q8s` of the Python package `q8s`: a thin layer over `q8s-core`
//! and `q8s-client` that converts arguments, results (as JSON with the core's field names)
//! and errors (as the package's exceptions). Every rule lives in the core; the Python
//! classes, progress bars and Jupyter views live in `python/q8s/`.
#![cfg(not(target_family = "wasm"))]

mod blocking;
mod client;
mod convert;
mod errors;
mod offline;

use pyo3::prelude::*;

#[pymodule]
fn _q8s(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(offline::build, module)?)?;
    module.add_function(wrap_pyfunction!(offline::validate, module)?)?;
    module.add_function(wrap_pyfunction!(offline::validate_text, module)?)?;
    module.add_function(wrap_pyfunction!(offline::inspect, module)?)?;
    module.add_function(wrap_pyfunction!(offline::bundle_icon, module)?)?;
    module.add_class::<client::NativeClient>()?;
    module.add_class::<client::LogLines>()?;
    Ok(())
}
