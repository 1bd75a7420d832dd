//! The local runtime: every instance as two sandboxed processes on this machine — Qd (`waved`
//! from the app's environment) and the app — under bubblewrap, in cgroups (memory, pids, cpu)
//! and a network namespace of the instance's own, as an unprivileged host user, with the Python
//! environment built by `uv` inside a sandbox of the same kind.
//!
//! Files below the data directory: `apps/<sha256>/` (extracted bundles, read-only to
//! instances, with `apps/<sha256>.env` naming the environment each uses), `envs/<hash>/`
//! (environments), `uv-cache/<owner>/` (each owner's package cache), `volumes/<instance>.img`
//! mounted at `volumes/<instance>/` (`VolumeMount`s), and `logs/<instance>.log`. Extracted
//! bundles and environments nothing uses any more are garbage-collected
//! ([`Runtime::collect_garbage`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    BundleSource, Collected, InstanceSpec, LogStream, Observed, Runtime, RuntimeError, StatusSink,
    StatusUpdate, StopMode, Upstream,
};

mod admission;
mod cgroup;
mod confine;
mod diagnose;
mod env_key;
mod gc;
mod index_proxy;
mod install;
mod instance;
mod log;
mod mounts;
mod network;
mod open_files;
mod pins;
mod prepare;
mod process;
mod sandbox;
mod seccomp;
mod volume;

use admission::Admission;
use cgroup::CgroupRoot;
pub use confine::HostUser;
use instance::InstanceHandle;
pub(crate) use log::prefix_now;
pub(crate) use network::NetNs;
pub use open_files::{OpenFileLimit, raise_open_file_limit};
use prepare::Preparer;
use volume::Volumes;

/// The most processes and threads of one instance unless configured otherwise.
pub const DEFAULT_MAX_PIDS: u64 = 1024;

/// Whether instances may open connections to the internet (`--instance-network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceNetwork {
    /// Outbound traffic through slirp4netns; the host's loopback stays out of reach.
    #[default]
    Internet,
    /// Loopback only: no connection leaves the instance (installs still reach the index).
    None,
}

/// Settings of the [`LocalRuntime`].
#[derive(Debug, Clone)]
pub struct LocalRuntimeConfig {
    /// The server's data directory; the runtime uses `apps/`, `envs/`, `volumes/` and `logs/`
    /// below it.
    pub data_dir: PathBuf,
    /// Total memory that `MemoryReservation`s may claim (`--memory-capacity`); `None`: no limit.
    pub memory_capacity: Option<u64>,
    /// The `uv` executable.
    pub uv: PathBuf,
    /// The `bwrap` executable.
    pub bwrap: PathBuf,
    /// The Python interpreter environments are built with. The sandbox user must be able to
    /// reach it (`/usr/bin/python3` is preferred when `python3` is not).
    pub python: PathBuf,
    /// `slirp4netns`, which gives instances outbound traffic.
    pub slirp4netns: PathBuf,
    /// The host user sandboxes run as when the server is root (`--sandbox-user`).
    pub sandbox_user: HostUser,
    /// Whether instances reach the internet (`--instance-network`).
    pub network: InstanceNetwork,
    /// How long building an environment may take.
    pub install_timeout: Duration,
    /// How long a stopped process gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// How long Qd and the app get to answer before the start counts as a crash.
    pub start_timeout: Duration,
    /// The first restart delay after a crash; it doubles with every crash in a row.
    pub restart_backoff: Duration,
    /// The longest restart delay.
    pub restart_backoff_max: Duration,
    /// Crashes in a row after which the instance stays `FAILED`.
    pub max_crashes: u32,
    /// A run at least this long resets the count of crashes in a row.
    pub crash_reset_after: Duration,
    /// Bound of an instance's log on disk (the oldest lines are dropped first).
    pub log_max_bytes: u64,
    /// The limits a bundle is extracted under (the server's, as at import).
    pub archive_limits: q8s_core::archive::Limits,
    /// The most processes and threads an instance may have at once (`--max-pids`); 0: no
    /// limit.
    pub max_pids: u64,
    /// The constraint rules environments are built with (`--constraints`).
    pub constraints: Arc<q8s_core::constraints::Constraints>,
    /// Host paths every sandbox also sees, read-only at the same path (`--sandbox-paths`).
    pub sandbox_paths: Vec<PathBuf>,
}

impl LocalRuntimeConfig {
    /// The defaults for `data_dir`: tools from `PATH`, no memory capacity.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        LocalRuntimeConfig {
            data_dir: data_dir.into(),
            memory_capacity: None,
            uv: PathBuf::from("uv"),
            bwrap: PathBuf::from("bwrap"),
            python: PathBuf::from("python3"),
            slirp4netns: PathBuf::from("slirp4netns"),
            sandbox_user: HostUser::DEFAULT,
            network: InstanceNetwork::Internet,
            install_timeout: Duration::from_secs(15 * 60),
            stop_grace: Duration::from_secs(5),
            start_timeout: Duration::from_secs(60),
            restart_backoff: Duration::from_secs(1),
            restart_backoff_max: Duration::from_secs(60),
            max_crashes: 5,
            crash_reset_after: Duration::from_secs(60),
            log_max_bytes: 10 * 1024 * 1024,
            archive_limits: q8s_core::archive::Limits::default(),
            max_pids: DEFAULT_MAX_PIDS,
            constraints: Arc::new(q8s_core::constraints::Constraints::builtin().clone()),
            sandbox_paths: Vec::new(),
        }
    }
}

impl Default for LocalRuntimeConfig {
    fn default() -> Self {
        LocalRuntimeConfig::new("q8s-data")
    }
}

/// What the supervisors of all instances share.
pub(crate) struct Shared {
    config: LocalRuntimeConfig,
    sink: Arc<dyn StatusSink>,
    preparer: Preparer,
    admission: Arc<Admission>,
    cgroups: CgroupRoot,
    /// What isolation this host allows (decided once, at start).
    isolation: HostIsolation,
    volumes: Volumes,
    logs_dir: PathBuf,
}

/// What this host allows the runtime to do for isolation (see `docs/security.md`).
#[derive(Debug, Clone)]
pub(crate) struct HostIsolation {
    /// The host user sandboxes run as; `None` when the server is not root (its own user).
    user: Option<HostUser>,
    /// Each instance its own network namespace (the server is root).
    own_network: bool,
    /// slirp4netns for outbound traffic (instances with `Internet`, and every install).
    slirp4netns: Option<PathBuf>,
    /// Whether instances themselves get outbound traffic.
    outbound: bool,
    /// The seccomp filter compiles here.
    seccomp: bool,
}

/// Runs instances as sandboxed local processes.
pub struct LocalRuntime {
    shared: Arc<Shared>,
    instances: Mutex<HashMap<Uuid, Arc<InstanceHandle>>>,
    shutting_down: AtomicBool,
}

impl LocalRuntime {
    /// Checks what the runtime needs of this host before it starts: when the server is root,
    /// the sandbox user must be able to pass through every folder above the data directory
    /// (bubblewrap runs as it and binds folders from there). `Err` says what to change.
    pub fn check_host(config: &LocalRuntimeConfig) -> Result<(), String> {
        if !confine::is_root() {
            return Ok(());
        }
        let data_dir =
            std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
        match confine::closed_ancestor(&data_dir) {
            None => Ok(()),
            Some(folder) => Err(format!(
                "the sandboxes' user (uid {}) cannot pass through {} to reach the data directory \
                 {}: put the data directory where every folder above it lets others pass (mode \
                 o+x, e.g. /var/lib/q8s), or allow it with `chmod o+x {}`",
                config.sandbox_user.uid,
                folder.display(),
                data_dir.display(),
                folder.display()
            )),
        }
    }

    /// What `q8s-server check` asks of this host besides [`LocalRuntime::check_host`]:
    /// bubblewrap found and able to make a sandbox, `uv` found. Returns what was found, or
    /// what is wrong and how to fix it.
    pub fn check_tools(config: &LocalRuntimeConfig) -> Result<String, String> {
        let bwrap = which(&config.bwrap).ok_or_else(|| {
            format!(
                "{} (bubblewrap) not found. Fix: install it (Debian: apt-get install                  bubblewrap; `scripts/setup.sh server`)",
                config.bwrap.display()
            )
        })?;
        let out = std::process::Command::new(&bwrap)
            .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
            .args(["--unshare-pid", "--die-with-parent", "true"])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", bwrap.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} cannot make a sandbox here: {}. Fix: run q8s-server as root, or allow                  unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1);                  in a container, give it the privileges docs/security.md lists",
                bwrap.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let uv = which(&config.uv).ok_or_else(|| {
            format!(
                "{} not found. Fix: install uv (`pip install uv`; `scripts/setup.sh server`)                  on the PATH of q8s-server",
                config.uv.display()
            )
        })?;
        Ok(format!(
            "bubblewrap usable ({}), uv found ({})",
            bwrap.display(),
            uv.display()
        ))
    }

    /// A runtime keeping its files under `config.data_dir`, reporting to `sink`. Processes an
    /// earlier run left behind (the server was killed) are ended here; the server then starts
    /// the instances that should run (reconciliation).
    pub fn new(config: LocalRuntimeConfig, sink: Arc<dyn StatusSink>) -> Self {
        let data_dir =
            std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
        let cgroups = CgroupRoot::create(&cgroup_name(&data_dir));
        let swept = cgroups.sweep();
        tracing::info!(swept, "instance limits through {}", cgroups.describe());
        for (controller, why) in cgroups.missing() {
            tracing::warn!("{} will not be enforced: {why}", controller.enforces());
        }
        let volumes = Volumes::new(data_dir.join("volumes"));
        let unmounted = volumes.unmount_leftovers();
        tracing::info!(unmounted, "volumes: {}", volumes.describe());
        let isolation = HostIsolation::of_host(&config);
        prepare_data_dir(&data_dir, isolation.user);
        let preparer = Preparer::new(&data_dir, &config, isolation.user);
        preparer.clean_leftovers();
        let shared = Shared {
            admission: Admission::new(config.memory_capacity),
            sink,
            preparer,
            cgroups,
            isolation,
            volumes,
            logs_dir: data_dir.join("logs"),
            config: LocalRuntimeConfig { data_dir, ..config },
        };
        LocalRuntime {
            shared: Arc::new(shared),
            instances: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
        }
    }

    fn handle(&self, instance_id: Uuid) -> Option<Arc<InstanceHandle>> {
        self.lock().get(&instance_id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<InstanceHandle>>> {
        self.instances.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log_path(&self, instance_id: Uuid) -> PathBuf {
        self.shared.logs_dir.join(format!("{instance_id}.log"))
    }
}

#[async_trait::async_trait]
impl Runtime for LocalRuntime {
    async fn start(&self, spec: InstanceSpec) -> Result<(), RuntimeError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(RuntimeError::ShuttingDown);
        }
        check_spec(&spec)?;
        let dir = &self.shared.logs_dir;
        std::fs::create_dir_all(dir)
            .map_err(|err| RuntimeError::io(format!("cannot create {}", dir.display()), err))?;
        let mut instances = self.lock();
        if instances
            .get(&spec.instance_id)
            .is_some_and(|h| h.is_active())
        {
            return Ok(());
        }
        let id = spec.instance_id;
        let handle = InstanceHandle::spawn(Arc::clone(&self.shared), spec);
        instances.insert(id, handle);
        Ok(())
    }

    async fn stop(&self, instance_id: Uuid, mode: StopMode) -> Result<(), RuntimeError> {
        let handle = self.lock().remove(&instance_id);
        let restarts = match &handle {
            Some(handle) => {
                handle.stop().await;
                handle.restarts()
            }
            None => 0,
        };
        if mode == StopMode::Terminate {
            self.shared
                .volumes
                .remove(instance_id)
                .await
                .map_err(|err| {
                    RuntimeError::io(format!("cannot remove the volume of {instance_id}"), err)
                })?;
        }
        let update = StatusUpdate {
            status: mode.status(),
            message: None,
            restarts,
        };
        self.shared.sink.update(instance_id, update).await;
        Ok(())
    }

    fn upstream(&self, instance_id: Uuid) -> Option<Upstream> {
        self.handle(instance_id)?.upstream()
    }

    async fn list(&self) -> Result<Vec<Observed>, RuntimeError> {
        let instances = self.lock();
        let observed = instances.iter().map(|(id, handle)| Observed {
            instance_id: *id,
            status: handle.status(),
            restarts: handle.restarts(),
        });
        Ok(observed.collect())
    }

    async fn logs(
        &self,
        instance_id: Uuid,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<LogStream, RuntimeError> {
        let context = || format!("cannot read the log of instance {instance_id}");
        match self.handle(instance_id) {
            Some(handle) => handle
                .log
                .read(tail, follow)
                .map_err(|err| RuntimeError::io(context(), err)),
            None => {
                let bytes = log::read_tail(&self.log_path(instance_id), tail)
                    .map_err(|err| RuntimeError::io(context(), err))?;
                let chunk = (!bytes.is_empty()).then(|| Ok(bytes::Bytes::from(bytes)));
                Ok(Box::pin(futures::stream::iter(chunk)))
            }
        }
    }

    async fn note(&self, instance_id: Uuid, text: &str) {
        match self.handle(instance_id) {
            Some(handle) => handle.log.note(text),
            None => {
                let log = log::InstanceLog::new(
                    self.log_path(instance_id),
                    self.shared.config.log_max_bytes,
                );
                log.note(text);
            }
        }
    }

    async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let handles: Vec<_> = self.lock().drain().map(|(_, handle)| handle).collect();
        futures::future::join_all(handles.iter().map(|handle| handle.stop())).await;
        self.shared.cgroups.remove();
    }

    fn capacity(&self) -> crate::Capacity {
        let admitted = self.shared.admission.snapshot();
        crate::Capacity {
            capacity: admitted.capacity,
            reserved: admitted.reserved,
            used: self.shared.cgroups.working_set(),
            admitted: admitted.admitted,
            waiting: admitted.waiting,
        }
    }

    fn extracted_bundles(&self) -> Vec<String> {
        gc::extracted(self.shared.preparer.apps_dir())
    }

    async fn collect_garbage(&self, unused: &[String]) -> Collected {
        let runs = |sha256: &str| self.lock().values().any(|h| h.bundle_sha256 == sha256);
        let (collected, trash) = gc::collect(&self.shared.preparer, unused, runs);
        let _ = tokio::task::spawn_blocking(move || gc::empty_trash(&trash)).await;
        collected
    }
}

impl HostIsolation {
    /// Finds out, once, what isolation this host offers, and says what is missing.
    fn of_host(config: &LocalRuntimeConfig) -> HostIsolation {
        let root = confine::is_root();
        let seccomp = match seccomp::check() {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!("sandboxes run without a seccomp filter: {why}");
                false
            }
        };
        if !root {
            tracing::warn!(
                "q8s-server does not run as root: sandboxes run as its own user and share its \
                 network (any instance can reach the host's loopback services); run it as root \
                 for the isolation of docs/security.md"
            );
            return HostIsolation {
                user: None,
                own_network: false,
                slirp4netns: None,
                outbound: true,
                seccomp,
            };
        }
        let slirp4netns = match network::check(Some(&config.slirp4netns)) {
            Ok(()) if which(&config.slirp4netns).is_some() => Some(config.slirp4netns.clone()),
            Ok(()) => {
                tracing::warn!(
                    "{} not found: instances have no outbound network and environments can only \
                     be built from the package cache",
                    config.slirp4netns.display()
                );
                None
            }
            Err(why) => {
                tracing::warn!("instances have no outbound network: {why}");
                None
            }
        };
        let own_network = network::check(None).is_ok();
        tracing::info!(
            uid = config.sandbox_user.uid,
            gid = config.sandbox_user.gid,
            network = ?config.network,
            seccomp,
            "sandboxes run as an unprivileged host user, each instance in a network namespace of its own"
        );
        HostIsolation {
            user: Some(config.sandbox_user),
            own_network,
            outbound: config.network == InstanceNetwork::Internet && slirp4netns.is_some(),
            slirp4netns,
            seccomp,
        }
    }
}

/// The data directory lets the sandbox user pass (bubblewrap runs as it and binds folders from
/// inside), without listing it; the folders it binds are made here, the rest stays private.
fn prepare_data_dir(data_dir: &Path, user: Option<HostUser>) {
    if user.is_none() {
        return;
    }
    let steps = [
        (data_dir.to_owned(), 0o711),
        (data_dir.join("apps"), 0o711),
        (data_dir.join("envs"), 0o711),
        (data_dir.join("uv-cache"), 0o711),
        (data_dir.join("volumes"), 0o711),
        (data_dir.join("logs"), 0o700),
        (data_dir.join("blobs"), 0o700),
        (data_dir.join("cache"), 0o700),
        (data_dir.join("tmp"), 0o700),
    ];
    for (dir, mode) in steps {
        if let Err(err) = confine::dir_with_mode(&dir, mode) {
            tracing::warn!("cannot set the mode of {}: {err}", dir.display());
        }
    }
}

/// `program` as found on `PATH` (or as given, when it names a path).
fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// What the local runtime can run: a spec valid for every runtime, its bundle a local file.
fn check_spec(spec: &InstanceSpec) -> Result<(), RuntimeError> {
    if !matches!(spec.bundle, BundleSource::LocalFile(_)) {
        return Err(RuntimeError::InvalidSpec(
            "the local runtime reads bundles from local files only".to_owned(),
        ));
    }
    spec.check()
}

/// The parent cgroup's name: one per data directory, so that runtimes of different servers (and
/// parallel tests) never sweep each other's processes.
fn cgroup_name(data_dir: &Path) -> String {
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    format!("q8s-{}", &format!("{digest:x}")[..16])
}

#[cfg(test)]
mod tests;
