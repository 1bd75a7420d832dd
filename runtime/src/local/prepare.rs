//! What an instance needs on disk before it starts: the bundle extracted once per app version
//! (`apps/<sha256>/`) and the Python environment built with `uv` once per content hash of what
//! goes into it (`envs/<hash>/`). Both are built beside their final place and renamed into it,
//! and concurrent starts of the same version wait for one build (the build itself is
//! [`super::install`]'s, in its sandbox).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::process::Command;
use tokio::sync::OwnedMutexGuard;

use super::LocalRuntimeConfig;
use super::confine::{self, HostUser};
use super::env_key::environment_key;
pub(crate) use super::install::InstallContext;
use super::install::Installer;
use super::log::InstanceLog;
use super::sandbox::ENV_DIR;

pub(crate) use crate::app_process::AppKind;

/// Everything an instance start needs on disk.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) app_dir: PathBuf,
    pub(crate) env_dir: PathBuf,
    pub(crate) kind: AppKind,
    /// Qd inside the sandbox (`/venv/waved`) and its web folder, for Wave apps.
    pub(crate) waved: Option<(String, String)>,
    /// The interpreter's installation, when it lives outside the system folders.
    pub(crate) python_prefix: Option<PathBuf>,
}

/// Builds and caches extracted bundles and environments.
pub(crate) struct Preparer {
    apps_dir: PathBuf,
    envs_dir: PathBuf,
    python: PathBuf,
    user: Option<HostUser>,
    limits: q8s_core::archive::Limits,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    interpreter: tokio::sync::OnceCell<Interpreter>,
    installer: Installer,
    /// [`Constraints::fingerprint`], part of every environment's key.
    constraints: String,
}

#[derive(Debug)]
pub(super) struct Interpreter {
    pub(super) executable: PathBuf,
    pub(super) version: String,
}

impl Interpreter {
    /// Its installation, when it lives outside the system folders (bound into sandboxes).
    pub(super) fn prefix(&self) -> Option<PathBuf> {
        let exe = fs::canonicalize(&self.executable).ok()?;
        let prefix = exe.parent()?.parent()?;
        (!prefix.starts_with("/usr")).then(|| prefix.to_owned())
    }
}

impl Preparer {
    /// Keeps its files under `data_dir` (absolute), with `config`'s tools, limits and
    /// constraints; files are handed to `user` when sandboxes run as one.
    pub(crate) fn new(
        data_dir: &Path,
        config: &LocalRuntimeConfig,
        user: Option<HostUser>,
    ) -> Self {
        Preparer {
            apps_dir: data_dir.join("apps"),
            envs_dir: data_dir.join("envs"),
            installer: Installer::new(data_dir, config, user),
            python: config.python.clone(),
            user,
            limits: config.archive_limits,
            locks: Mutex::new(HashMap::new()),
            interpreter: tokio::sync::OnceCell::new(),
            constraints: config.constraints.fingerprint(),
        }
    }

    /// Removes half-built extractions and environments an interrupted run left behind.
    pub(crate) fn clean_leftovers(&self) {
        for (dir, prefix) in [(&self.apps_dir, ".qz-extract-"), (&self.envs_dir, ".tmp-")] {
            remove_entries(dir, |name| name.starts_with(prefix));
        }
        self.installer.clean_leftovers();
    }

    /// Extracts (if needed) and builds the environment (if needed); `Err` is the reason for
    /// `FAILED`, details are in the log.
    pub(crate) async fn prepare(
        &self,
        bundle_sha256: &str,
        bundle_path: &Path,
        module: &str,
        log: &InstanceLog,
        install: &InstallContext<'_>,
    ) -> Result<Prepared, String> {
        let app_dir = self.extract(bundle_sha256, bundle_path, log).await?;
        let interpreter = self.interpreter().await?;
        let env_dir = self
            .environment(&app_dir, interpreter, log, install)
            .await?;
        let (kind, qd) = crate::app_process::app_kind(&env_dir, &app_dir, module, ENV_DIR);
        let waved = qd.map(|qd| (qd.waved, qd.www));
        Ok(Prepared {
            app_dir,
            env_dir,
            kind,
            waved,
            python_prefix: interpreter.prefix(),
        })
    }

    async fn extract(
        &self,
        sha256: &str,
        bundle: &Path,
        log: &InstanceLog,
    ) -> Result<PathBuf, String> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("invalid bundle digest `{sha256}`"));
        }
        let dest = self.apps_dir.join(sha256.to_ascii_lowercase());
        let lock = self.lock(&format!("app:{sha256}"));
        let _guard = lock.lock().await;
        if dest.is_dir() {
            return Ok(dest);
        }
        log.note("extracting the bundle");
        fs::create_dir_all(&self.apps_dir)
            .map_err(|err| format!("cannot create {}: {err}", self.apps_dir.display()))?;
        let (bundle, target, limits) = (bundle.to_owned(), dest.clone(), self.limits);
        let result = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let file =
                fs::File::open(&bundle).map_err(|err| format!("cannot open the bundle: {err}"))?;
            let mut reader = q8s_core::archive::QzReader::open(io::BufReader::new(file), limits)
                .map_err(|err| format!("cannot read the bundle: {err}"))?;
            reader
                .extract_to(&target)
                .map_err(|err| format!("cannot extract the bundle: {err}"))
        })
        .await
        .map_err(|err| format!("bundle extraction failed: {err}"))?;
        let bytes = result?;
        log.note(&format!("extracted {bytes} bytes"));
        Ok(dest)
    }

    /// The interpreter environments are built with: the configured one, or — when the sandbox
    /// user cannot reach it (a pyenv build under `/root`) — the system's `/usr/bin/python3`.
    async fn interpreter(&self) -> Result<&Interpreter, String> {
        self.interpreter
            .get_or_try_init(|| async {
                let found = find_interpreter(&self.python).await?;
                if self.user.is_none() || confine::reachable_by_others(&found.executable, true) {
                    return Ok(found);
                }
                let system = Path::new("/usr/bin/python3");
                if confine::reachable_by_others(system, true) {
                    tracing::info!(
                        "{} is out of the sandbox user's reach; environments use {}",
                        found.executable.display(),
                        system.display()
                    );
                    return find_interpreter(system).await;
                }
                Err(format!(
                    "the sandbox user cannot reach the Python interpreter {}; set --python to one \
                     it can run (e.g. /usr/bin/python3)",
                    found.executable.display()
                ))
            })
            .await
    }

    async fn environment(
        &self,
        app_dir: &Path,
        interpreter: &Interpreter,
        log: &InstanceLog,
        install: &InstallContext<'_>,
    ) -> Result<PathBuf, String> {
        let key = environment_key(app_dir, interpreter, install.owner, &self.constraints)
            .map_err(|err| format!("cannot read requirements.txt: {err}"))?;
        let dest = self.envs_dir.join(&key);
        let lock = self.lock(&format!("env:{key}"));
        let _guard = lock.lock().await;
        super::gc::record_environment(app_dir, &key)
            .map_err(|err| format!("cannot record the bundle's environment: {err}"))?;
        if dest.is_dir() {
            log.note(&format!(
                "using the cached Python environment {}",
                &key[..12]
            ));
            return Ok(dest);
        }
        fs::create_dir_all(&self.envs_dir)
            .map_err(|err| format!("cannot create {}: {err}", self.envs_dir.display()))?;
        self.installer
            .install(app_dir, interpreter, &dest, log, install)
            .await
            .map(|()| dest)
    }

    /// Where bundles are extracted.
    pub(crate) fn apps_dir(&self) -> &Path {
        &self.apps_dir
    }

    /// Where environments are built.
    pub(crate) fn envs_dir(&self) -> &Path {
        &self.envs_dir
    }

    /// The lock of extracting bundle `sha256`, unless a start holds it (garbage collection).
    pub(crate) fn try_lock_bundle(&self, sha256: &str) -> Option<OwnedMutexGuard<()>> {
        self.lock(&format!("app:{sha256}")).try_lock_owned().ok()
    }

    /// The lock of building environment `key`, unless a start holds it (garbage collection).
    pub(crate) fn try_lock_environment(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        self.lock(&format!("env:{key}")).try_lock_owned().ok()
    }

    fn lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(key.to_owned()).or_default())
    }
}

pub(super) fn remove_entries(dir: &Path, matches: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if matches(&entry.file_name().to_string_lossy()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

async fn find_interpreter(python: &Path) -> Result<Interpreter, String> {
    let output = Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.version)",
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|err| format!("cannot run {}: {err}", python.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    match (output.status.success(), lines.next(), lines.next()) {
        (true, Some(executable), Some(version)) => Ok(Interpreter {
            executable: PathBuf::from(executable),
            version: version.to_owned(),
        }),
        _ => Err(format!(
            "{} does not work as a Python interpreter",
            python.display()
        )),
    }
}
