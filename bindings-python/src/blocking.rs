//! Running the core's async client from blocking Python calls: the future runs on a shared
//! tokio runtime with the GIL released, in slices of [`SLICE`]; between slices the GIL is taken
//! back to let Ctrl-C (`KeyboardInterrupt`) through and to report progress. An interrupted
//! future is dropped, which cancels its request (an upload stops sending).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How long the GIL stays released before signals are checked again.
const SLICE: Duration = Duration::from_millis(100);

/// The runtime every client shares: one worker keeps connections of the pool alive between
/// calls; the futures themselves run on the calling thread.
fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("q8s-io")
        .enable_all()
        .build()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start the I/O runtime: {e}"))
        })?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs `future` to its end with the GIL released. Every [`SLICE`] and at the end, `tick` runs
/// with the GIL (for progress reports); a pending `KeyboardInterrupt` (or any exception a signal
/// handler raises) stops the future and is returned.
pub fn run<F>(
    py: Python<'_>,
    future: F,
    mut tick: impl FnMut(Python<'_>) -> PyResult<()>,
) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime()?;
    let mut future = std::pin::pin!(future);
    loop {
        // The timer must be made inside the runtime.
        let slice = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SLICE, future.as_mut()).await })
        });
        if let Ok(output) = slice {
            tick(py)?;
            return Ok(output);
        }
        py.check_signals()?;
        tick(py)?;
    }
}

/// [`run`] without progress.
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    run(py, future, |_| Ok(()))
}
