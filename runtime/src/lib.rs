//! # q8s-runtime
//!
//! Instance runtime: turns an [`InstanceSpec`] into running processes and reports progress,
//! and forwards requests to them.
//!
//! The [`Runtime`] trait is what the server's API and proxy and `q8s-cli exec` see. It does
//! not assume the instances run on this host: a spec names its bundle by sha256 and a
//! [`BundleSource`], an [`Upstream`] may be a DNS name, and [`Runtime::list`] tells a restarted
//! server what runs. [`LocalRuntime`] runs instances as sandboxed processes on this machine
//! (bubblewrap + cgroups + `uv` + `waved`); [`fake::FakeRuntime`] keeps them in memory, for
//! tests; `KubernetesRuntime` (crate `q8s-runtime-kubernetes`) runs them on a cluster, and
//! [`conformance`] is what every implementation must pass. [`app_process`] is what an instance's
//! install and processes are, shared by the local runtime and [`launcher`] (`q8s-launcher`,
//! what the Kubernetes runtime's pods run). [`forward`] sends a request to an instance's [`Upstream`] the way the proxy
//! does, and has the pages shown when it cannot.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures::stream::BoxStream;
use tokio::net::TcpStream;
use uuid::Uuid;

pub mod app_process;
pub mod conformance;
pub mod fake;
pub mod forward;
pub mod launcher;
mod local;

pub use local::{
    DEFAULT_MAX_PIDS, HostUser, InstanceNetwork, LocalRuntime, LocalRuntimeConfig, OpenFileLimit,
    raise_open_file_limit,
};

pub use q8s_core::api::InstanceStatus;

/// Everything the runtime needs to run one instance; built by the API from the app row, the
/// instance row and the resolved secrets.
#[derive(Clone)]
pub struct InstanceSpec {
    /// The instance; also names its volume and log.
    pub instance_id: Uuid,
    /// The app it runs.
    pub app_id: Uuid,
    /// The app's owner: whose package cache and environments the install uses (one owner's
    /// install can never change what another owner's instances run).
    pub owner_id: Uuid,
    /// `Q8S_APP_NAME`.
    pub app_name: String,
    /// `Q8S_APP_VERSION`.
    pub app_version: String,
    /// The bundle's sha256 (hex): the key for extraction, and what a fetched bundle must hash
    /// to.
    pub bundle_sha256: String,
    /// Where the runtime gets the bundle's `.qz`.
    pub bundle: BundleSource,
    /// `Runtime.Module` of the manifest.
    pub module: String,
    /// `[[Env]]` resolved from secrets. The values are secret: never log or report them.
    pub env: Vec<(String, String)>,
    /// `Runtime.VolumeMount`: an absolute path inside the sandbox.
    pub volume_mount: Option<String>,
    /// `Runtime.VolumeSize` in bytes: what the volume holds at most.
    pub volume_size: Option<u64>,
    /// `Runtime.MemoryLimit` in bytes.
    pub memory_limit: Option<u64>,
    /// `Runtime.MemoryReservation` in bytes.
    pub memory_reservation: Option<u64>,
    /// `Q8S_INSTANCE_URL`: where users reach the instance.
    pub instance_url: String,
}

impl fmt::Debug for InstanceSpec {
    // Hand-written so that secret values never reach a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("InstanceSpec")
            .field("instance_id", &self.instance_id)
            .field("app_id", &self.app_id)
            .field("owner_id", &self.owner_id)
            .field("app_name", &self.app_name)
            .field("app_version", &self.app_version)
            .field("bundle_sha256", &self.bundle_sha256)
            .field("bundle", &self.bundle)
            .field("module", &self.module)
            .field("env", &env_names)
            .field("volume_mount", &self.volume_mount)
            .field("volume_size", &self.volume_size)
            .field("memory_limit", &self.memory_limit)
            .field("memory_reservation", &self.memory_reservation)
            .field("instance_url", &self.instance_url)
            .finish()
    }
}

impl InstanceSpec {
    /// What every runtime refuses before starting anything: a module that is no dotted Python
    /// name, a `VolumeMount` the manifest's rules refuse (an app imported before the rule
    /// grew), a bundle sha256 that is not 64 hex digits.
    pub fn check(&self) -> Result<(), RuntimeError> {
        if self.module.is_empty()
            || self
                .module
                .split('.')
                .any(|part| part.is_empty() || part.contains('/'))
        {
            return Err(RuntimeError::InvalidSpec(format!(
                "invalid module `{}`",
                self.module
            )));
        }
        if let Some(problem) = self
            .volume_mount
            .as_deref()
            .and_then(q8s_core::manifest::check_volume_mount)
        {
            return Err(RuntimeError::InvalidSpec(problem.message));
        }
        if self.bundle_sha256.len() != 64
            || !self.bundle_sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(RuntimeError::InvalidSpec(format!(
                "invalid bundle sha256 `{}`",
                self.bundle_sha256
            )));
        }
        Ok(())
    }
}

/// Where a runtime gets an instance's bundle (the `.qz` whose sha256 is
/// [`InstanceSpec::bundle_sha256`]).
#[derive(Clone, PartialEq, Eq)]
pub enum BundleSource {
    /// A file on the runtime's own host holding the verified bundle (the local runtime's way:
    /// the server's blob cache).
    LocalFile(PathBuf),
    /// A URL the runtime downloads it from (a blob store's, or the server's own), with the
    /// short-lived bearer token that grants it, if one is needed. A runtime checks the sha256.
    Url {
        /// The bundle's URL.
        url: String,
        /// The token sent as `Authorization: Bearer`; secret: never logged.
        token: Option<String>,
    },
}

impl fmt::Debug for BundleSource {
    // Hand-written so that a download token never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleSource::LocalFile(path) => f.debug_tuple("LocalFile").field(path).finish(),
            BundleSource::Url { url, token } => f
                .debug_struct("Url")
                .field("url", url)
                .field("token", &token.as_ref().map(|_| "<hidden>"))
                .finish(),
        }
    }
}

/// How [`Runtime::stop`] leaves an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Stop its processes, keep its volume (resume starts it again on the same data):
    /// `SUSPENDED`.
    Suspend,
    /// Stop its processes and delete its volume: `TERMINATED`.
    Terminate,
}

impl StopMode {
    /// The status an instance stopped this way has.
    pub fn status(self) -> InstanceStatus {
        match self {
            StopMode::Suspend => InstanceStatus::Suspended,
            StopMode::Terminate => InstanceStatus::Terminated,
        }
    }
}

/// What a runtime knows of one of its instances ([`Runtime::list`], [`Runtime::observe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The instance.
    pub instance_id: Uuid,
    /// Its state as the runtime sees it now (the last status it reported).
    pub status: InstanceStatus,
    /// Restarts after crashes so far.
    pub restarts: u32,
}

/// A change of an instance's observed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The new status.
    pub status: InstanceStatus,
    /// Why (PENDING reason, failure, last crash such as `OOMKilled`); `None` clears it.
    pub message: Option<String>,
    /// Restarts after crashes so far.
    pub restarts: u32,
}

/// Receives status changes (the server writes them to the instance row).
#[async_trait::async_trait]
pub trait StatusSink: Send + Sync + 'static {
    /// Records `update` for `instance_id`.
    async fn update(&self, instance_id: Uuid, update: StatusUpdate);
}

/// A stream of log bytes (whole lines).
pub type LogStream = BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// Runs instances.
///
/// Status transitions come from one place: the runtime reports every change through the
/// [`StatusSink`] it was made with (a `stop` reports `SUSPENDED` or `TERMINATED` itself).
///
/// # Shutdown and restarts
///
/// What happens to running instances when the server stops differs per runtime, and the
/// server's reconciler (desired state in the store against [`Runtime::list`]) makes up for it:
/// - [`LocalRuntime`]: sandboxes die with the server's process tree on purpose
///   ([`Runtime::shutdown`] stops them, and a runtime made over the same data directory ends
///   whatever a killed server left behind). A new runtime lists nothing; the reconciler starts
///   the instances that should run again. Volumes and logs stay.
/// - A cluster runtime (Kubernetes): pods outlive the server; `shutdown` leaves them running,
///   and a new runtime (or another replica) lists them, so nothing is started twice.
/// - [`fake::FakeRuntime`]: like a cluster, its instances outlive a runtime object
///   ([`fake::FakeRuntime::reopen`]) until the fake's `shutdown` stops them.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Schedules the instance (admission, fetch or extract, env, processes) and returns at
    /// once; progress arrives through the [`StatusSink`]. Starting an instance that runs (or
    /// is starting) is a no-op. A spec the runtime cannot run is refused with
    /// [`RuntimeError::InvalidSpec`] before anything starts.
    async fn start(&self, spec: InstanceSpec) -> Result<(), RuntimeError>;

    /// Stops the instance's processes and reports [`StopMode::status`] through the sink;
    /// [`StopMode::Terminate`] also deletes its volume. Stopping an instance the runtime does
    /// not know is not an error (it may have been stopped before a restart): the volume is
    /// still deleted on terminate and the status still reported.
    async fn stop(&self, instance_id: Uuid, mode: StopMode) -> Result<(), RuntimeError>;

    /// The instance's upstream when it is RUNNING (for the proxy): Qd for Wave apps, the app's
    /// `$PORT` for plain HTTP apps. Answered from memory (a cluster runtime answers from a
    /// watch-backed cache), so it is cheap enough for every proxied request.
    fn upstream(&self, instance_id: Uuid) -> Option<Upstream>;

    /// Every instance this runtime runs or supervises (including those it gave up on,
    /// `FAILED`), with its state: what a restarted server or another replica learns without
    /// starting anything.
    async fn list(&self) -> Result<Vec<Observed>, RuntimeError>;

    /// One instance's state, `None` when the runtime does not know it.
    async fn observe(&self, instance_id: Uuid) -> Result<Option<Observed>, RuntimeError> {
        let all = self.list().await?;
        Ok(all.into_iter().find(|o| o.instance_id == instance_id))
    }

    /// The log: last `tail` lines (all when `None`); with `follow`, the stream stays open until
    /// the instance stops (then ends).
    async fn logs(
        &self,
        instance_id: Uuid,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<LogStream, RuntimeError>;

    /// Writes a line of q8s's own (`q8s: <text>`) to the instance's log, as [`Runtime::logs`]
    /// shows it: why the server stopped or started it (an idle instance put to sleep, woken by
    /// a request). A runtime whose logs are the processes' own may leave it out.
    async fn note(&self, instance_id: Uuid, text: &str) {
        let _ = (instance_id, text);
    }

    /// Server shutdown: accept no new work, and leave the instances as this runtime's kind
    /// does (see the trait's "Shutdown and restarts"); desired state stays in the store and
    /// volumes are kept.
    async fn shutdown(&self);

    /// What this runtime holds of its machine's memory: capacity, reserved, used, admitted
    /// and waiting instances. Cheap (memory and a few small files), for `/metrics`.
    fn capacity(&self) -> Capacity {
        Capacity::default()
    }

    /// Gives instance `instance_id` a new way to fetch its bundle (a new download token) for
    /// when its runtime starts it again on its own (a cluster making a new pod); nothing is
    /// restarted. Runtimes that never fetch again ignore it.
    async fn refresh_bundle(
        &self,
        instance_id: Uuid,
        bundle: &BundleSource,
    ) -> Result<(), RuntimeError> {
        let _ = (instance_id, bundle);
        Ok(())
    }

    /// Whether every replica's runtime sees and reaches the same instances (a cluster): then
    /// an instance another replica launched is no stray to stop, and its volume is no
    /// replica's own. `false` (the default): instances run where their runtime is.
    fn shared(&self) -> bool {
        false
    }

    /// The bundles (sha256) this runtime keeps extracted, for the server to say which of them
    /// no app uses any more.
    fn extracted_bundles(&self) -> Vec<String>;

    /// Removes the extracted bundles in `unused` that no instance of this runtime uses, and the
    /// environments that no remaining bundle uses; never what a start is preparing.
    async fn collect_garbage(&self, unused: &[String]) -> Collected;
}

/// What a runtime holds of its machine's memory ([`Runtime::capacity`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    /// The memory instances may reserve in all (admission's limit); `None`: not admitted by
    /// memory here (a cluster's scheduler admits instead).
    pub capacity: Option<u64>,
    /// What the admitted instances reserve (`MemoryReservation`, else `MemoryLimit`).
    pub reserved: u64,
    /// What the instances use now (their cgroups' working set: memory less what the kernel
    /// can drop at once); `None` when it cannot be read.
    pub used: Option<u64>,
    /// Instances admitted (starting or running).
    pub admitted: u32,
    /// Instances waiting for memory to start.
    pub waiting: u32,
}

/// What [`Runtime::collect_garbage`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Extracted bundles.
    pub bundles: usize,
    /// Environments.
    pub environments: usize,
}

/// Where the proxy reaches an instance: a socket address — inside the instance's own network
/// namespace when it has one (the address alone then means nothing on the host) — or a DNS
/// name and port (a cluster Service), resolved when a connection is opened.
#[derive(Clone)]
pub struct Upstream {
    target: Target,
    netns: Option<Arc<local::NetNs>>,
}

#[derive(Clone)]
enum Target {
    Addr(SocketAddr),
    Name {
        host: Arc<str>,
        port: u16,
        /// The name's number in this process ([`name_number`]), for [`UpstreamKey`].
        number: u64,
    },
}

/// Identifies an upstream among all instances' (addresses repeat across namespaces): for
/// connection pools and cache keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpstreamKey {
    netns: u64,
    /// 0 for an address; the name's number for a DNS name (with `addr` holding its port).
    name: u64,
    addr: SocketAddr,
}

impl Upstream {
    /// An address on the server's own network.
    pub fn host(addr: SocketAddr) -> Upstream {
        Upstream {
            target: Target::Addr(addr),
            netns: None,
        }
    }

    /// A DNS name (or an IP address written as text) and port, resolved on every new
    /// connection: how a cluster runtime names a Service.
    pub fn named(host: &str, port: u16) -> Upstream {
        Upstream {
            target: Target::Name {
                host: Arc::from(host),
                port,
                number: name_number(host),
            },
            netns: None,
        }
    }

    pub(crate) fn in_netns(addr: SocketAddr, netns: Arc<local::NetNs>) -> Upstream {
        Upstream {
            target: Target::Addr(addr),
            netns: Some(netns),
        }
    }

    /// The socket address, when the upstream is one (in its namespace, if it has one).
    pub fn addr(&self) -> Option<SocketAddr> {
        match &self.target {
            Target::Addr(addr) => Some(*addr),
            Target::Name { .. } => None,
        }
    }

    /// `host:port` as a `Host` header names it.
    pub fn authority(&self) -> String {
        match &self.target {
            Target::Addr(addr) => addr.to_string(),
            Target::Name { host, port, .. } => format!("{host}:{port}"),
        }
    }

    /// What tells this upstream from every other one.
    pub fn key(&self) -> UpstreamKey {
        let netns = self.netns.as_ref().map_or(0, |ns| ns.id());
        match &self.target {
            Target::Addr(addr) => UpstreamKey {
                netns,
                name: 0,
                addr: *addr,
            },
            Target::Name { port, number, .. } => UpstreamKey {
                netns,
                name: *number,
                addr: SocketAddr::from(([0, 0, 0, 0], *port)),
            },
        }
    }

    /// A new TCP connection to it. A local address in a network namespace is dialled from
    /// inside that namespace (the local runtime's fast path); a name is resolved first.
    pub async fn connect(&self) -> std::io::Result<TcpStream> {
        match (&self.target, &self.netns) {
            (Target::Addr(addr), Some(netns)) => netns.connect(*addr).await,
            (Target::Addr(addr), None) => TcpStream::connect(*addr).await,
            (Target::Name { host, port, .. }, _) => TcpStream::connect((&**host, *port)).await,
        }
    }
}

/// A number per distinct DNS name, the same for the life of the process (never a hash: two
/// names must never share pooled connections or cached answers).
fn name_number(host: &str) -> u64 {
    static NAMES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, u64>>> =
        std::sync::LazyLock::new(Default::default);
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let next = names.len() as u64 + 1;
    *names.entry(host.to_owned()).or_insert(next)
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.netns {
            Some(ns) => write!(f, "{} in network namespace {}", self.authority(), ns.id()),
            None => write!(f, "{}", self.authority()),
        }
    }
}

/// Why a runtime call failed. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file system operation of the runtime failed.
    #[error("{context}: {source}")]
    Io {
        /// What the runtime was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The spec cannot run (for example a relative `VolumeMount`).
    #[error("invalid instance: {0}")]
    InvalidSpec(String),
    /// The runtime is shutting down and accepts no new work.
    #[error("the runtime is shutting down")]
    ShuttingDown,
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_wire_form() {
        for status in InstanceStatus::ALL {
            assert_eq!(status.as_str().parse::<InstanceStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{status}\"")
            );
        }
        // Parsing is core's, lenient for people (any case); serde is exact.
        assert_eq!(
            "running".parse::<InstanceStatus>(),
            Ok(InstanceStatus::Running)
        );
        assert!("runnin".parse::<InstanceStatus>().is_err());
        assert!(serde_json::from_str::<InstanceStatus>("\"running\"").is_err());
    }

    #[test]
    fn debug_of_a_spec_hides_secret_values() {
        let spec = InstanceSpec {
            instance_id: Uuid::nil(),
            app_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            app_name: "a".into(),
            app_version: "1".into(),
            bundle_sha256: "00".into(),
            bundle: BundleSource::Url {
                url: "https://blobs/x.qz".into(),
                token: Some("s3cr3t-token".into()),
            },
            module: "m".into(),
            env: vec![("TOKEN".into(), "hunter2".into())],
            volume_mount: None,
            volume_size: None,
            memory_limit: None,
            memory_reservation: None,
            instance_url: "http://x".into(),
        };
        let text = format!("{spec:?}");
        assert!(text.contains("TOKEN"));
        assert!(!text.contains("hunter2"));
        assert!(text.contains("https://blobs/x.qz"));
        assert!(!text.contains("s3cr3t-token"));
    }

    #[test]
    fn named_upstreams_are_told_apart_by_name_and_port() {
        let a = Upstream::named("a.q8s.svc", 80);
        assert_eq!(a.key(), Upstream::named("a.q8s.svc", 80).key());
        assert_ne!(a.key(), Upstream::named("b.q8s.svc", 80).key());
        assert_ne!(a.key(), Upstream::named("a.q8s.svc", 81).key());
        let addr = SocketAddr::from(([0, 0, 0, 0], 80));
        assert_ne!(a.key(), Upstream::host(addr).key());
        assert_eq!(a.authority(), "a.q8s.svc:80");
        assert_eq!(a.addr(), None);
    }

    #[tokio::test]
    async fn a_named_upstream_is_resolved_when_dialled() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = Upstream::named("localhost", port);
        let (dialled, accepted) = tokio::join!(upstream.connect(), listener.accept());
        dialled.unwrap();
        accepted.unwrap();
    }
}
