//! # q8s-runtime
//!
//! Instance runtime: turns an [`InstanceSpec`] into running processes and reports progress,
//! and forwards requests to them.
//!
//! The [`Runtime`] trait is what the server's API and proxy and `q8s-cli exec` see;
//! [`LocalRuntime`] runs instances as sandboxed processes on this machine (bubblewrap +
//! cgroups + `uv` + `waved`). A Kubernetes runtime would be a second implementation of the
//! same trait. [`forward`] sends a request to an instance's [`Upstream`] the way the proxy
//! does, and has the pages shown when it cannot.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures::stream::BoxStream;
use tokio::net::TcpStream;
use uuid::Uuid;

pub mod forward;
mod local;

pub use local::{DEFAULT_MAX_PIDS, HostUser, InstanceNetwork, LocalRuntime, LocalRuntimeConfig};

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
    /// The bundle's sha256 (hex): the key for extraction.
    pub bundle_sha256: String,
    /// A local file holding the verified `.qz`.
    pub bundle_path: PathBuf,
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
            .field("bundle_path", &self.bundle_path)
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
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Schedules the instance (admission, extract, env, processes) and returns at once; progress
    /// arrives through the [`StatusSink`]. Starting an instance that runs is a no-op.
    async fn start(&self, spec: InstanceSpec) -> Result<(), RuntimeError>;

    /// Stops both processes. `remove_volume`: terminate (true) vs suspend (false).
    async fn stop(&self, instance_id: Uuid, remove_volume: bool) -> Result<(), RuntimeError>;

    /// The instance's upstream when it is RUNNING (for the proxy): Qd for Wave apps, the app's
    /// `$PORT` for plain HTTP apps.
    fn upstream(&self, instance_id: Uuid) -> Option<Upstream>;

    /// The log: last `tail` lines (all when `None`); with `follow`, the stream stays open until
    /// the instance stops (then ends).
    async fn logs(
        &self,
        instance_id: Uuid,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<LogStream, RuntimeError>;

    /// Server shutdown: stop every process, keep volumes (desired state stays in the store).
    async fn shutdown(&self);

    /// The bundles (sha256) this runtime keeps extracted, for the server to say which of them
    /// no app uses any more.
    fn extracted_bundles(&self) -> Vec<String>;

    /// Removes the extracted bundles in `unused` that no instance of this runtime uses, and the
    /// environments that no remaining bundle uses; never what a start is preparing.
    async fn collect_garbage(&self, unused: &[String]) -> Collected;
}

/// What [`Runtime::collect_garbage`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Extracted bundles.
    pub bundles: usize,
    /// Environments.
    pub environments: usize,
}

/// Where the proxy reaches an instance: an address, inside the instance's own network
/// namespace when it has one (the address alone then means nothing on the host).
#[derive(Clone)]
pub struct Upstream {
    addr: SocketAddr,
    netns: Option<Arc<local::NetNs>>,
}

/// Identifies an upstream among all instances' (addresses repeat across namespaces): for
/// connection pools and cache keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpstreamKey {
    netns: u64,
    addr: SocketAddr,
}

impl Upstream {
    /// An address on the server's own network.
    pub fn host(addr: SocketAddr) -> Upstream {
        Upstream { addr, netns: None }
    }

    pub(crate) fn in_netns(addr: SocketAddr, netns: Arc<local::NetNs>) -> Upstream {
        Upstream {
            addr,
            netns: Some(netns),
        }
    }

    /// The address (in the instance's namespace, if it has one).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What tells this upstream from every other one.
    pub fn key(&self) -> UpstreamKey {
        UpstreamKey {
            netns: self.netns.as_ref().map_or(0, |ns| ns.id()),
            addr: self.addr,
        }
    }

    /// A new TCP connection to it.
    pub async fn connect(&self) -> std::io::Result<TcpStream> {
        match &self.netns {
            Some(netns) => netns.connect(self.addr).await,
            None => TcpStream::connect(self.addr).await,
        }
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.netns {
            Some(ns) => write!(f, "{} in network namespace {}", self.addr, ns.id()),
            None => write!(f, "{}", self.addr),
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
            bundle_path: PathBuf::from("/x.qz"),
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
    }
}
