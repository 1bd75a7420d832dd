//! `NativeClient`: the core's API client for `q8s.Client`. Every call runs with the GIL
//! released and can be interrupted with Ctrl-C ([`crate::blocking`]); results are the API's
//! JSON as Python values ([`crate::convert`]), errors the exceptions of [`crate::errors`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use pyo3::prelude::*;
use q8s_client::config::{self, ConfigFile, Overrides};
use q8s_client::{Client, DeployStep, LogStream};
use q8s_core::api::{
    ApiError, AppVersions, InstanceStatus, SecretAccessChange, SecretUsers, StatusFilter,
    Visibility,
};
use serde::Serialize;

use crate::blocking;
use crate::convert::{json_to_python, to_python};
use crate::errors::{api_error, config_error, deploy_error, value_error};
use crate::offline::manifest_display;

/// A client of one q8s server (`q8s._q8s.NativeClient`).
#[pyclass(frozen, module = "q8s._q8s")]
pub struct NativeClient {
    client: Client,
    profile: String,
}

/// Bytes sent and to send, written by the upload and read between slices.
#[derive(Default)]
struct Transfer {
    sent: AtomicU64,
    total: AtomicU64,
}

impl Transfer {
    /// A callback for the core's uploads that records into `self`.
    fn recorder(self: &Arc<Self>) -> impl FnMut(u64, u64) + Send + Clone + 'static {
        let transfer = Arc::clone(self);
        move |sent, total| {
            transfer.total.store(total, Ordering::Relaxed);
            transfer.sent.store(sent, Ordering::Relaxed);
        }
    }

    /// A tick for [`blocking::run`] that calls `progress(sent, total)` when they changed.
    fn reporter<'a>(
        self: &'a Arc<Self>,
        progress: Option<&'a Py<PyAny>>,
    ) -> impl FnMut(Python<'_>) -> PyResult<()> + 'a {
        let mut last = None;
        move |py| {
            let Some(progress) = progress else {
                return Ok(());
            };
            let now = (
                self.sent.load(Ordering::Relaxed),
                self.total.load(Ordering::Relaxed),
            );
            if last != Some(now) {
                last = Some(now);
                progress.call1(py, now)?;
            }
            Ok(())
        }
    }
}

fn visibility(text: &str) -> PyResult<Visibility> {
    text.parse().map_err(value_error)
}

/// A rule change from Python's arguments: `users` is `"ALL_USERS"` or a list of usernames
/// (read by the core's own parser), `apps` a list of app Names, `any_app` lifts the app
/// restriction; what is `None` (or `False`) stays as it is.
fn access_change(
    users: Option<&Bound<'_, PyAny>>,
    apps: Option<Vec<String>>,
    any_app: bool,
) -> PyResult<SecretAccessChange> {
    let users = users
        .map(|users| -> PyResult<SecretUsers> {
            let json = match users.extract::<String>() {
                Ok(word) => serde_json::Value::String(word),
                Err(_) => {
                    serde_json::Value::from(users.extract::<Vec<String>>().map_err(|_| {
                        value_error("users must be \"ALL_USERS\" or a list of usernames")
                    })?)
                }
            };
            serde_json::from_value(json).map_err(value_error)
        })
        .transpose()?;
    let apps = match (apps, any_app) {
        (Some(_), true) => return Err(value_error("give apps or any_app=True, not both")),
        (Some(apps), false) => Some(Some(apps)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    Ok(SecretAccessChange { users, apps })
}

impl NativeClient {
    /// Runs a call and returns its result in its JSON form.
    fn call<'py, T, F>(&self, py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
    where
        T: Serialize + Send,
        F: Future<Output = Result<T, ApiError>> + Send,
    {
        let value = blocking::wait(py, future)?.map_err(|e| api_error(py, e))?;
        to_python(py, &value)
    }
}

#[pymethods]
impl NativeClient {
    /// The server and token of the arguments, else of `Q8S_URL`, `Q8S_TOKEN` and `Q8S_PROFILE`,
    /// else of the configuration file: the CLI's rules.
    #[new]
    #[pyo3(signature = (url=None, token=None, profile=None))]
    fn new(
        py: Python<'_>,
        url: Option<String>,
        token: Option<String>,
        profile: Option<String>,
    ) -> PyResult<Self> {
        let flags = Overrides {
            url,
            token,
            profile,
        };
        let path = config::config_path().map_err(|e| config_error(py, e))?;
        let file = ConfigFile::load(&path).map_err(|e| config_error(py, e))?;
        let resolved = file
            .resolve(&path, &flags, &Overrides::from_env())
            .map_err(|e| config_error(py, e))?;
        let client = Client::new(&resolved.url, resolved.token).map_err(|e| api_error(py, e))?;
        Ok(NativeClient {
            client,
            profile: resolved.profile,
        })
    }

    /// The server's base URL.
    #[getter]
    fn url(&self) -> &str {
        self.client.url()
    }

    /// The profile of the configuration file consulted.
    #[getter]
    fn profile(&self) -> &str {
        &self.profile
    }

    /// Whether requests carry a token.
    #[getter]
    fn has_token(&self) -> bool {
        self.client.token().is_some()
    }

    fn me<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, self.client.me())
    }

    /// `{items, more}`: every app, or the first `limit` and whether more follow.
    #[pyo3(signature = (all, name=None, all_versions=false, limit=None))]
    fn apps<'py>(
        &self,
        py: Python<'py>,
        all: bool,
        name: Option<String>,
        all_versions: bool,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let versions = if all_versions {
            AppVersions::All
        } else {
            AppVersions::Latest
        };
        let client = &self.client;
        self.call(py, async move {
            client
                .apps_first(all, name.as_deref(), versions, limit)
                .await
        })
    }

    fn app<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, self.client.app(id))
    }

    fn update_app<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        visibility: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let visibility = self::visibility(visibility)?;
        self.call(py, self.client.update_app(id, visibility))
    }

    fn delete_app(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        blocking::wait(py, self.client.delete_app(id))?.map_err(|e| api_error(py, e))
    }

    /// Streams the `.qz` at `path` to the server; `progress(sent, total)` is called (with the
    /// GIL) as bytes go out.
    #[pyo3(signature = (path, visibility, progress=None))]
    fn import_file<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        visibility: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let visibility = self::visibility(visibility)?;
        let transfer = Arc::new(Transfer::default());
        let upload = self
            .client
            .import_file(&path, visibility, transfer.recorder());
        let app = blocking::run(py, upload, transfer.reporter(progress.as_ref()))?
            .map_err(|e| api_error(py, e))?;
        to_python(py, &app)
    }

    /// Deploys the folder `dir` (bundled under its deploy version into `work`), launches an
    /// instance and, with `wait` (seconds), waits until it leaves `PENDING` and `STARTING`;
    /// returns `{"app": …, "instance": …, "log_tail": [...] or None}`, the log tail when the
    /// awaited instance did not come up. `progress(sent, total)` hears of the upload,
    /// `on_status(instance)` of the launch and of each change while waiting.
    #[pyo3(signature = (dir, work, visibility, wait=None, progress=None, on_status=None))]
    #[allow(clippy::too_many_arguments)]
    fn deploy<'py>(
        &self,
        py: Python<'py>,
        dir: PathBuf,
        work: PathBuf,
        visibility: &str,
        wait: Option<f64>,
        progress: Option<Py<PyAny>>,
        on_status: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let visibility = self::visibility(visibility)?;
        let wait = wait
            .map(Duration::try_from_secs_f64)
            .transpose()
            .map_err(|_| value_error("wait must be a number of seconds, 0 or more"))?;
        let transfer = Arc::new(Transfer::default());
        let seen: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
        let record = Arc::clone(&seen);
        let deploy = self.client.deploy(
            &dir,
            &work,
            visibility,
            wait,
            transfer.recorder(),
            move |step| {
                let (DeployStep::Launched(_, instance) | DeployStep::Status(instance)) = step;
                if let (Ok(value), Ok(mut seen)) = (serde_json::to_value(instance), record.lock()) {
                    *seen = Some(value);
                }
            },
        );
        let mut upload = transfer.reporter(progress.as_ref());
        let mut reported: Option<serde_json::Value> = None;
        let tick = |py: Python<'_>| {
            upload(py)?;
            let (Some(on_status), Ok(seen)) = (&on_status, seen.lock()) else {
                return Ok(());
            };
            match seen.as_ref() {
                Some(value) if reported.as_ref() != Some(value) => {
                    reported = Some(value.clone());
                    on_status.call1(py, (json_to_python(py, value)?,)).map(drop)
                }
                _ => Ok(()),
            }
        };
        let deployed = blocking::run(py, deploy, tick)?
            .map_err(|e| deploy_error(py, e, &manifest_display(&dir)))?;
        let result = pyo3::types::PyDict::new(py);
        result.set_item("app", to_python(py, &deployed.imported.app)?)?;
        result.set_item("instance", to_python(py, &deployed.instance)?)?;
        // The log is a courtesy: the failure is what matters.
        let log_tail = deployed.log_tail.map(|tail| tail.unwrap_or_default());
        result.set_item("log_tail", log_tail)?;
        Ok(result.into_any())
    }

    fn run<'py>(
        &self,
        py: Python<'py>,
        app_id: &str,
        visibility: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let visibility = self::visibility(visibility)?;
        self.call(py, self.client.run(app_id, visibility))
    }

    /// `status`: `live`, `all` or statuses separated by commas (core's `StatusFilter`).
    /// `limit`: only the newest `limit` (`more` says whether others follow).
    #[pyo3(signature = (all, status=None, limit=None))]
    fn instances<'py>(
        &self,
        py: Python<'py>,
        all: bool,
        status: Option<&str>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let status: StatusFilter = status.unwrap_or("live").parse().map_err(value_error)?;
        let client = &self.client;
        self.call(py, async move {
            client.instances_first(all, &status, limit).await
        })
    }

    fn instance<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, self.client.instance(id))
    }

    fn update_instance<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        visibility: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let visibility = self::visibility(visibility)?;
        self.call(py, self.client.update_instance(id, visibility))
    }

    fn suspend<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, self.client.suspend(id))
    }

    fn resume<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, self.client.resume(id))
    }

    fn terminate(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        blocking::wait(py, self.client.terminate(id))?.map_err(|e| api_error(py, e))
    }

    /// `GET /secrets`: the secrets the caller may use (admins: every one, with its rule).
    fn secrets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, self.client.secrets())
    }

    /// Creates or replaces a secret; `users`, `apps` and `any_app` change its rule as
    /// [`access_change`] reads them.
    #[pyo3(signature = (name, data, users=None, apps=None, any_app=false))]
    fn set_secret<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        data: BTreeMap<String, String>,
        users: Option<&Bound<'py, PyAny>>,
        apps: Option<Vec<String>>,
        any_app: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let change = access_change(users, apps, any_app)?;
        self.call(py, self.client.set_secret(name, &data, &change))
    }

    /// Changes who may use a secret, values untouched.
    #[pyo3(signature = (name, users=None, apps=None, any_app=false))]
    fn set_secret_access<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        users: Option<&Bound<'py, PyAny>>,
        apps: Option<Vec<String>>,
        any_app: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let change = access_change(users, apps, any_app)?;
        self.call(py, self.client.set_secret_access(name, &change))
    }

    fn delete_secret(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        blocking::wait(py, self.client.delete_secret(name))?.map_err(|e| api_error(py, e))
    }

    /// `GET /tokens`: the caller's tokens (`all`: every user's, for admins).
    fn tokens<'py>(&self, py: Python<'py>, all: bool) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, self.client.tokens(all))
    }

    /// `DELETE /tokens/{id}`.
    fn revoke_token(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        blocking::wait(py, self.client.revoke_token(id))?.map_err(|e| api_error(py, e))
    }

    /// Polls the instance until its status is `status`, or until it is `FAILED` or `TERMINATED`
    /// (which it leaves only when someone acts); `on_status(instance)` is called when the
    /// instance changes. Raises `ApiError` (`timeout`) after `timeout` seconds.
    #[pyo3(signature = (id, status, timeout, on_status=None))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        status: &str,
        timeout: f64,
        on_status: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let target: InstanceStatus = status.parse().map_err(value_error)?;
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|_| value_error("timeout must be a number of seconds, 0 or more"))?;
        let seen: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
        let record = Arc::clone(&seen);
        let waiting = self.client.wait_for_instance(id, timeout, move |instance| {
            if let (Ok(value), Ok(mut seen)) = (serde_json::to_value(instance), record.lock()) {
                *seen = Some(value);
            }
            instance.status == target
                || matches!(
                    instance.status,
                    InstanceStatus::Failed | InstanceStatus::Terminated
                )
        });
        let mut reported: Option<serde_json::Value> = None;
        let tick = |py: Python<'_>| {
            let (Some(on_status), Ok(seen)) = (&on_status, seen.lock()) else {
                return Ok(());
            };
            match seen.as_ref() {
                Some(value) if reported.as_ref() != Some(value) => {
                    reported = Some(value.clone());
                    on_status.call1(py, (json_to_python(py, value)?,)).map(drop)
                }
                _ => Ok(()),
            }
        };
        let instance = blocking::run(py, waiting, tick)?.map_err(|e| api_error(py, e))?;
        to_python(py, &instance)
    }

    /// The log of an instance, line by line; with `follow` until the instance stops.
    #[pyo3(signature = (id, tail=None, follow=false))]
    fn logs(
        &self,
        py: Python<'_>,
        id: &str,
        tail: Option<usize>,
        follow: bool,
    ) -> PyResult<LogLines> {
        let stream = blocking::wait(py, self.client.logs(id, tail, follow))?
            .map_err(|e| api_error(py, e))?;
        Ok(LogLines {
            stream: Mutex::new(Some(stream)),
        })
    }

    /// The app's icon: `(media_type, bytes)`.
    fn icon(&self, py: Python<'_>, app_id: &str) -> PyResult<(String, Vec<u8>)> {
        let image = blocking::wait(py, self.client.icon(app_id))?.map_err(|e| api_error(py, e))?;
        Ok((image.media_type, image.bytes))
    }

    fn __repr__(&self) -> String {
        format!(
            "NativeClient(url={:?}, profile={:?})",
            self.client.url(),
            self.profile
        )
    }
}

/// The lines of an instance's log as they arrive (`q8s._q8s.LogLines`): an iterator whose
/// `__next__` waits, with the GIL released, for the next line.
#[pyclass(frozen, module = "q8s._q8s")]
pub struct LogLines {
    stream: Mutex<Option<LogStream>>,
}

#[pymethods]
impl LogLines {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        // Never block on the lock with the GIL held: another thread reading this iterator
        // holds it while it waits for the network without the GIL.
        let mut guard = match self.stream.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::WouldBlock) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "this log is being read by another thread",
                ));
            }
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        match blocking::wait(py, stream.next_line()) {
            Ok(Ok(Some(line))) => Ok(Some(line)),
            Ok(Ok(None)) => {
                *guard = None;
                Ok(None)
            }
            Ok(Err(e)) => {
                *guard = None;
                Err(api_error(py, e))
            }
            // Interrupted: the stream stays usable, a later `next` goes on from there.
            Err(interrupt) => Err(interrupt),
        }
    }

    /// Closes the connection; the iterator then ends.
    fn close(&self) {
        if let Ok(mut guard) = self.stream.try_lock() {
            *guard = None;
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }
}
