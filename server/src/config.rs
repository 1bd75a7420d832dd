//! Server settings: flags, `Q8S_SERVER_*` environment variables and a TOML file (`--config`),
//! in that order of precedence, over the defaults of the service design (`127.0.0.1:8008`,
//! `./q8s-data`, domain `localhost`).

mod addresses;
mod bytes;
mod files;
mod idle;
mod kubernetes;
mod layers;
mod memory;
pub use addresses::TrustedProxies;
pub(crate) use addresses::host_name;
use addresses::{advertise_url, public_url};
pub use bytes::ByteSize;
use files::{constraints, sandbox_paths};
pub use idle::IdleSuspend;
pub use kubernetes::KubernetesConfig;
pub use memory::default_memory_capacity;
use memory::machine_memory;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use uuid::Uuid;

use q8s_runtime::{HostUser, InstanceNetwork};

/// The largest bundle accepted unless configured otherwise (1 GiB).
pub const DEFAULT_MAX_BUNDLE_SIZE: u64 = 1 << 30;

/// Settings as given by flags, environment or file; every field optional so the sources can
/// be layered.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on [default: 127.0.0.1:8008].
    #[arg(long, env = "Q8S_SERVER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Folder for the database, bundles, instances and logs [default: ./q8s-data].
    #[arg(long, env = "Q8S_SERVER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Instances are reached at `<instance-id>.<domain>` [default: localhost].
    #[arg(long, env = "Q8S_SERVER_DOMAIN")]
    pub domain: Option<String>,
    /// Metadata store: `sqlite://<file>` or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`
    /// (also read from `Q8S_DATABASE_URL` when nothing else sets it)
    /// [default: sqlite://DATA_DIR/q8s.db].
    #[arg(long, env = "Q8S_SERVER_DATABASE")]
    pub database: Option<String>,
    /// Blob store for bundles: `file://<folder>` or
    /// `s3://<bucket>?endpoint=<url>&region=<region>` (credentials from the `AWS_*` variables)
    /// [default: file://DATA_DIR/blobs].
    #[arg(long, env = "Q8S_SERVER_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// Where instances run: `local` or `kubernetes` (docs/kubernetes.md) [default: local].
    #[arg(long, env = "Q8S_SERVER_RUNTIME")]
    pub runtime: Option<RuntimeKind>,
    /// Largest bundle accepted, e.g. `1Gi`, `500M` or bytes [default: 1Gi].
    #[arg(long, env = "Q8S_SERVER_MAX_BUNDLE_SIZE")]
    pub max_bundle_size: Option<ByteSize>,
    /// Memory the instances may reserve in all (`MemoryReservation` admission) [default: the
    /// machine's memory less room for the host: 1Gi or a sixteenth, whichever is more].
    #[arg(long, env = "Q8S_SERVER_MEMORY_CAPACITY")]
    pub memory_capacity: Option<ByteSize>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "Q8S_SERVER_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Seconds a device sign-in code stays valid [default: 600].
    #[arg(long, env = "Q8S_SERVER_DEVICE_CODE_LIFETIME")]
    pub device_code_lifetime: Option<u64>,
    /// Folder of the upload page served at `/` (`make build-web` builds it) [default: the
    /// source tree's `web-demo/dist`, when it exists].
    #[arg(long, env = "Q8S_SERVER_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Memory for the proxy's cache of what instances answer (static files), e.g. `64Mi`;
    /// `0` turns it off [default: 64Mi].
    #[arg(long, env = "Q8S_SERVER_PROXY_CACHE")]
    pub proxy_cache: Option<ByteSize>,
    /// Whether instances may open connections to the internet: `internet` or `none` (installs
    /// still reach the package index) [default: internet].
    #[arg(long, env = "Q8S_SERVER_INSTANCE_NETWORK")]
    pub instance_network: Option<InstanceNetwork>,
    /// The unprivileged host user sandboxes run as when the server runs as root, `UID[:GID]`
    /// [default: 61000:61000].
    #[arg(long, env = "Q8S_SERVER_SANDBOX_USER")]
    pub sandbox_user: Option<String>,
    /// Largest unpacked size of a bundle (its files in all), checked at import and when an
    /// instance extracts it, e.g. `2Gi` [default: 2Gi].
    #[arg(long, env = "Q8S_SERVER_MAX_UNPACKED")]
    pub max_unpacked: Option<ByteSize>,
    /// The most processes and threads one instance may have at once; `0`: no limit
    /// [default: 1024].
    #[arg(long, env = "Q8S_SERVER_MAX_PIDS")]
    pub max_pids: Option<u64>,
    /// Seconds between sweeps that remove extracted bundles and environments no app uses any
    /// more [default: 30].
    #[arg(long, env = "Q8S_SERVER_GC_INTERVAL")]
    pub gc_interval: Option<u64>,
    /// Seconds between passes that compare the instances that should run with what the runtime
    /// runs, and start or stop the difference [default: 30].
    #[arg(long, env = "Q8S_SERVER_RECONCILE_INTERVAL")]
    pub reconcile_interval: Option<u64>,
    /// Failed sign-ins (wrong passwords, device codes) an account or client address may make
    /// per window before it is refused with 429 until the window ends; unknown API tokens:
    /// ten times as many per address [default: 10].
    #[arg(long, env = "Q8S_SERVER_SIGN_IN_ATTEMPTS")]
    pub sign_in_attempts: Option<u32>,
    /// Seconds of that window [default: 900].
    #[arg(long, env = "Q8S_SERVER_SIGN_IN_WINDOW")]
    pub sign_in_window: Option<u64>,
    /// Seconds a connection may take to send a request head, the first one or the next one on
    /// a kept-alive connection; then it is closed [default: 15].
    #[arg(long, env = "Q8S_SERVER_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    /// Client connections served at once; more wait to be accepted [default: half the
    /// process's open-file limit, at most 10000].
    #[arg(long, env = "Q8S_SERVER_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// A file of constraint rules applied when environments are built, after the built-in
    /// ones (format: `core/constraints.toml`; see docs/runtime.md) [default: the built-in
    /// rules only].
    #[arg(long, env = "Q8S_SERVER_CONSTRAINTS")]
    pub constraints: Option<PathBuf>,
    /// Host files and folders every sandbox also sees, read-only at the same path, after the
    /// built-in list of docs/runtime.md (e.g. `/etc/krb5.conf,/opt/oracle`) [default: none].
    #[arg(long, env = "Q8S_SERVER_SANDBOX_PATHS", value_delimiter = ',')]
    pub sandbox_paths: Option<Vec<PathBuf>>,
    /// Seconds an app (and its Qd) get to answer on their ports after they start; then the
    /// start counts as a crash that names the port [default: 60].
    #[arg(long, env = "Q8S_SERVER_START_TIMEOUT")]
    pub start_timeout: Option<u64>,
    /// PostgreSQL only: the most connections this server process opens to the database
    /// [default: 10].
    #[arg(long, env = "Q8S_SERVER_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,
    /// PostgreSQL only: seconds a request waits for a database connection, and the start for
    /// the database to answer [default: 10].
    #[arg(long, env = "Q8S_SERVER_DATABASE_TIMEOUT")]
    pub database_timeout: Option<u64>,
    /// Size of this server's local copies of bundles from a remote blob store (`s3://`), which
    /// the runtime unpacks; least recently used copies go first, e.g. `10Gi` [default: 4Gi].
    #[arg(long, env = "Q8S_SERVER_BLOB_CACHE")]
    pub blob_cache: Option<ByteSize>,
    /// Seconds a stored bundle that no app names is kept before it is removed, so that a
    /// replica never removes a bundle another one is still importing [default: 3600].
    #[arg(long, env = "Q8S_SERVER_BLOB_GRACE")]
    pub blob_grace: Option<u64>,
    /// This replica's name among the replicas sharing a PostgreSQL store: the instances it
    /// runs are placed on it [default: HOSTNAME-<random>, made at the first start and kept in
    /// DATA_DIR/node-name].
    #[arg(long, env = "Q8S_SERVER_NODE_NAME")]
    pub node_name: Option<String>,
    /// The URL the other replicas reach this one at, for the instances it runs (proxy and
    /// logs) [default: http://LISTEN, with the host name when listening on every address].
    #[arg(long, env = "Q8S_SERVER_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Seconds after its last heartbeat a replica counts as gone: the leader then moves its
    /// instances (those without a volume) to itself [default: 6].
    #[arg(long, env = "Q8S_SERVER_NODE_TIMEOUT")]
    pub node_timeout: Option<u64>,
    /// Addresses of the load balancers or reverse proxies in front of q8s, as CIDRs or
    /// addresses (e.g. `10.0.0.0/8,192.0.2.7`): a request from one of them is taken to come
    /// from the address its `X-Forwarded-For` names (what sign-in throttling counts and apps
    /// see) [default: none, every client is its TCP peer].
    #[arg(long, env = "Q8S_SERVER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// The URL users reach q8s at when a load balancer or TLS proxy is in front, e.g.
    /// `https://q8s.example.com`: the site's links and redirects use it, instances are at
    /// `https://<id>.q8s.example.com`, and session cookies are `Secure` over https; its host
    /// is the `--domain` [default: http://DOMAIN:LISTEN_PORT].
    #[arg(long, env = "Q8S_SERVER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Suspend an instance that had no request through the proxy and no open websocket for
    /// this long, e.g. `30m`; the next request wakes it. `0` or `off`: never (an app's
    /// `Runtime.IdleSuspend` decides for its instances) [default: off].
    #[arg(long, env = "Q8S_SERVER_IDLE_SUSPEND")]
    pub idle_suspend: Option<IdleSuspend>,
    /// `--runtime kubernetes`: the kubeconfig whose current context is the cluster [default:
    /// the pod's service account inside a cluster, else $KUBECONFIG or ~/.kube/config].
    #[arg(long, env = "Q8S_SERVER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// `--runtime kubernetes`: the namespace of the instances' objects (required).
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_NAMESPACE")]
    pub kubernetes_namespace: Option<String>,
    /// `--runtime kubernetes`: the runtime image pods run (required; deploy/runtime/).
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_IMAGE")]
    pub kubernetes_image: Option<String>,
    /// `--runtime kubernetes`: where pods reach q8s-server for their bundles, e.g.
    /// `http://q8s-server.q8s-system.svc:8008` (required).
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_SERVER_URL")]
    pub kubernetes_server_url: Option<String>,
    /// `--runtime kubernetes`: the storage class of volumes [default: the cluster's default].
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_STORAGE_CLASS")]
    pub kubernetes_storage_class: Option<String>,
    /// `--runtime kubernetes`: labels of the nodes instances run on, `KEY=VALUE,…` [default:
    /// any node].
    #[arg(
        long,
        env = "Q8S_SERVER_KUBERNETES_NODE_SELECTOR",
        value_delimiter = ','
    )]
    pub kubernetes_node_selector: Option<Vec<String>>,
    /// `--runtime kubernetes`: labels of q8s-server's pods, the only pods instances accept
    /// connections from, `KEY=VALUE,…` [default: app.kubernetes.io/name=q8s-server].
    #[arg(
        long,
        env = "Q8S_SERVER_KUBERNETES_SERVER_LABELS",
        value_delimiter = ','
    )]
    pub kubernetes_server_labels: Option<Vec<String>>,
    /// `--runtime kubernetes`: the namespace of q8s-server's pods [default: the instances'].
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_SERVER_NAMESPACE")]
    pub kubernetes_server_namespace: Option<String>,
    /// `--runtime kubernetes`: seconds a pod's bundle download token stays valid after each
    /// start or resume [default: 86400].
    #[arg(long, env = "Q8S_SERVER_BUNDLE_TOKEN_LIFETIME")]
    pub bundle_token_lifetime: Option<u64>,
    /// `--runtime kubernetes`: the CPU each instance requests, a Kubernetes quantity such as
    /// `250m` (no CPU limit is set) [default: 50m].
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_CPU_REQUEST")]
    pub kubernetes_cpu_request: Option<String>,
    /// `--runtime kubernetes`: what an instance may write outside its volume (bundle,
    /// environment, /tmp), e.g. `8Gi` [default: 4Gi].
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_EPHEMERAL_STORAGE")]
    pub kubernetes_ephemeral_storage: Option<ByteSize>,
    /// `--runtime kubernetes`: address ranges instances may not connect to, `CIDR,…`; leave a
    /// range out to let installs reach a package index in it [default: the private, loopback
    /// and link-local ranges, docs/kubernetes.md].
    #[arg(
        long,
        env = "Q8S_SERVER_KUBERNETES_EGRESS_DENIED",
        value_delimiter = ','
    )]
    pub kubernetes_egress_denied: Option<Vec<String>>,
    /// `--runtime kubernetes`: the cluster's DNS pods, which instances may ask,
    /// `NAMESPACE/KEY=VALUE[,KEY=VALUE]` [default: kube-system/k8s-app=kube-dns].
    #[arg(long, env = "Q8S_SERVER_KUBERNETES_DNS_PODS")]
    pub kubernetes_dns_pods: Option<String>,
}

/// Which runtime runs instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// Sandboxed processes on this machine.
    Local,
    /// Pods of a Kubernetes cluster (`q8s-runtime-kubernetes`; docs/kubernetes.md).
    Kubernetes,
    /// In memory, for tests only: instances answer every request with a line naming them
    /// (`q8s_runtime::fake`); nothing is installed or sandboxed.
    #[value(hide = true)]
    Fake,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The largest unpacked bundle unless configured otherwise (2 GiB).
pub const DEFAULT_MAX_UNPACKED: u64 = 2 << 30;

/// The proxy's cache size unless configured otherwise (64 MiB).
pub const DEFAULT_PROXY_CACHE: u64 = 64 << 20;

/// Where `make build-web` puts the upload page in the source tree this binary was built from.
const BUILT_WEB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web-demo/dist");

/// Half the process's open-file limit (the other half is for upstream connections, the
/// database, bundles and logs), at most 10000.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into `limit` and reads nothing else.
    let open_files = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
        0 => usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX),
        _ => 1024,
    };
    (open_files / 2).clamp(16, 10_000)
}

/// The resolved configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The data directory (absolute).
    pub data_dir: PathBuf,
    /// Instance host domain.
    pub domain: String,
    /// Metadata store URL.
    pub database: String,
    /// Blob store URL.
    pub blob_store: String,
    /// Runtime kind.
    pub runtime: RuntimeKind,
    /// Largest bundle accepted, in bytes.
    pub max_bundle_size: u64,
    /// Memory available for reservations, in bytes.
    pub memory_capacity: Option<u64>,
    /// Log format.
    pub log_format: LogFormat,
    /// Seconds a device sign-in code stays valid.
    pub device_code_lifetime: u64,
    /// The upload page's folder, if there is one (absolute).
    pub web_dir: Option<PathBuf>,
    /// Bytes of memory for the proxy's cache; 0: no cache.
    pub proxy_cache: u64,
    /// Whether instances reach the internet.
    pub instance_network: InstanceNetwork,
    /// The host user of sandboxes (when the server runs as root).
    pub sandbox_user: HostUser,
    /// Largest unpacked size of a bundle, in bytes.
    pub max_unpacked: u64,
    /// The most processes and threads of one instance; 0: no limit.
    pub max_pids: u64,
    /// Time between garbage-collection sweeps.
    pub gc_interval: std::time::Duration,
    /// Time between reconciliation passes.
    pub reconcile_interval: std::time::Duration,
    /// Failed sign-ins per account or address and window (tokens: ten times as many).
    pub sign_in_attempts: u32,
    /// Seconds of the sign-in throttling window.
    pub sign_in_window: u64,
    /// How long a connection may take to send a request head.
    pub header_timeout: std::time::Duration,
    /// Client connections served at once.
    pub max_connections: usize,
    /// The constraint rules of environments: the built-in ones and the admin's file.
    pub constraints: std::sync::Arc<q8s_core::constraints::Constraints>,
    /// Host paths every sandbox also sees, read-only (absolute, existing).
    pub sandbox_paths: Vec<PathBuf>,
    /// How long a started app has to answer.
    pub start_timeout: std::time::Duration,
    /// The connection pool of a PostgreSQL store.
    pub database_pool: crate::store::PoolSettings,
    /// Bytes of local copies of remote bundles.
    pub blob_cache: u64,
    /// How long a bundle no app names is kept.
    pub blob_grace: std::time::Duration,
    /// This replica's name (where the instances it runs are placed), when given; else the
    /// one kept in the data directory.
    pub node: Option<String>,
    /// Where the other replicas reach this one.
    pub advertise_url: String,
    /// How long after its last heartbeat a replica counts as gone.
    pub node_timeout: std::time::Duration,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The scheme of the URLs users reach the site and instances at (`http`, or `https` behind
    /// a TLS proxy).
    pub public_scheme: &'static str,
    /// Their port: `None` for the scheme's default (left out of URLs).
    pub public_port: Option<u16>,
    /// How long an instance may go without a request before it is put to sleep; `None`: never
    /// (unless its app says otherwise).
    pub idle_suspend: Option<std::time::Duration>,
    /// The Kubernetes runtime's settings, with `--runtime kubernetes` only.
    pub kubernetes: Option<KubernetesConfig>,
}

impl Config {
    /// Resolves settings against the defaults. The data directory is made absolute (it is not
    /// created here).
    pub fn resolve(settings: Settings) -> anyhow::Result<Config> {
        let runtime = settings.runtime.unwrap_or(RuntimeKind::Local);
        let kubernetes = KubernetesConfig::resolve(&settings, runtime)?;
        let data_dir = settings
            .data_dir
            .unwrap_or_else(|| PathBuf::from("q8s-data"));
        let data_dir = std::path::absolute(&data_dir)
            .map_err(|e| anyhow::anyhow!("resolving {}: {e}", data_dir.display()))?;
        let listen_port = settings.listen.map_or(8008, |l| l.port());
        let public = settings.public_url.as_deref().map(public_url).transpose()?;
        let domain = match (&settings.domain, &public) {
            (Some(domain), Some((_, host, _)))
                if !domain.trim_matches('.').eq_ignore_ascii_case(host) =>
            {
                anyhow::bail!(
                    "--public-url names the host `{host}` but --domain is `{domain}`: they must \
                     be the same (or leave --domain out)"
                )
            }
            (Some(domain), _) => domain.clone(),
            (None, Some((_, host, _))) => host.clone(),
            (None, None) => "localhost".into(),
        }
        .trim_matches('.')
        .to_ascii_lowercase();
        let (public_scheme, public_port) = match public {
            Some((scheme, _, port)) => (scheme, port),
            None => ("http", Some(listen_port)),
        };
        if domain.is_empty() || domain.contains([':', '/']) {
            anyhow::bail!("--domain must be a host name such as `localhost` or `apps.example.com`");
        }
        let database = settings
            .database
            .or_else(|| {
                std::env::var("Q8S_DATABASE_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
            })
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("q8s.db").display()));
        let blob_store = settings
            .blob_store
            .unwrap_or_else(|| format!("file://{}", data_dir.join("blobs").display()));
        let sandbox_paths = sandbox_paths(settings.sandbox_paths.unwrap_or_default(), &data_dir)?;
        let listen = settings
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8008)));
        Ok(Config {
            listen,
            data_dir,
            domain,
            database,
            blob_store,
            runtime,
            max_bundle_size: settings
                .max_bundle_size
                .map_or(DEFAULT_MAX_BUNDLE_SIZE, |b| b.0),
            memory_capacity: settings
                .memory_capacity
                .map(|b| b.0)
                .or_else(|| machine_memory().map(default_memory_capacity)),
            log_format: settings.log_format.unwrap_or_default(),
            device_code_lifetime: settings.device_code_lifetime.unwrap_or(600).max(1),
            web_dir: match settings.web_dir {
                Some(dir) => Some(
                    std::path::absolute(&dir)
                        .map_err(|e| anyhow::anyhow!("resolving {}: {e}", dir.display()))?,
                ),
                None => Some(PathBuf::from(BUILT_WEB_DIR)).filter(|d| d.is_dir()),
            },
            proxy_cache: settings.proxy_cache.map_or(DEFAULT_PROXY_CACHE, |b| b.0),
            instance_network: settings.instance_network.unwrap_or_default(),
            sandbox_user: match settings.sandbox_user {
                Some(text) => {
                    HostUser::parse(&text).map_err(|e| anyhow::anyhow!("--sandbox-user: {e}"))?
                }
                None => HostUser::DEFAULT,
            },
            max_unpacked: settings.max_unpacked.map_or(DEFAULT_MAX_UNPACKED, |b| b.0),
            max_pids: settings.max_pids.unwrap_or(q8s_runtime::DEFAULT_MAX_PIDS),
            gc_interval: std::time::Duration::from_secs(settings.gc_interval.unwrap_or(30).max(1)),
            reconcile_interval: std::time::Duration::from_secs(
                settings.reconcile_interval.unwrap_or(30).max(1),
            ),
            sign_in_attempts: settings.sign_in_attempts.unwrap_or(10).max(1),
            sign_in_window: settings.sign_in_window.unwrap_or(900).max(1),
            header_timeout: std::time::Duration::from_secs(
                settings.header_timeout.unwrap_or(15).max(1),
            ),
            max_connections: settings
                .max_connections
                .unwrap_or_else(default_max_connections)
                .max(1),
            constraints: std::sync::Arc::new(constraints(settings.constraints.as_deref())?),
            sandbox_paths,
            start_timeout: std::time::Duration::from_secs(
                settings.start_timeout.unwrap_or(60).max(1),
            ),
            database_pool: crate::store::PoolSettings {
                max_connections: settings.database_max_connections.unwrap_or(10).max(1),
                acquire_timeout: std::time::Duration::from_secs(
                    settings.database_timeout.unwrap_or(10).max(1),
                ),
            },
            blob_cache: settings
                .blob_cache
                .map_or(crate::blob::cache::DEFAULT_LIMIT, |b| b.0),
            blob_grace: std::time::Duration::from_secs(settings.blob_grace.unwrap_or(3600)),
            node: match settings.node_name {
                Some(name) if name.trim().is_empty() => anyhow::bail!("--node-name is empty"),
                Some(name) => Some(name.trim().to_owned()),
                None => None,
            },
            advertise_url: advertise_url(settings.advertise_url, listen)?,
            node_timeout: std::time::Duration::from_secs(settings.node_timeout.unwrap_or(6).max(2)),
            trusted_proxies: TrustedProxies::parse(
                settings.trusted_proxies.as_deref().unwrap_or_default(),
            )?,
            public_scheme,
            public_port,
            idle_suspend: settings.idle_suspend.and_then(|i| i.0),
            kubernetes,
        })
    }

    /// The main site's address, e.g. `http://localhost:8008` (`--public-url`).
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}{}",
            self.public_scheme,
            self.domain,
            self.port_suffix()
        )
    }

    /// Where users reach an instance, e.g. `http://<id>.localhost:8008/`.
    pub fn instance_url(&self, id: Uuid) -> String {
        format!(
            "{}://{id}.{}{}/",
            self.public_scheme,
            self.domain,
            self.port_suffix()
        )
    }

    /// `:<port>`, or nothing for the scheme's default port.
    fn port_suffix(&self) -> String {
        self.public_port
            .map(|p| format!(":{p}"))
            .unwrap_or_default()
    }

    /// Uploads being received (wiped at start).
    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// The limits every untrusted bundle is read under, at import and at extraction.
    pub fn archive_limits(&self) -> q8s_core::archive::Limits {
        q8s_core::archive::Limits {
            max_total_size: self.max_unpacked,
            ..q8s_core::archive::Limits::default()
        }
    }

    /// The most memory one instance can have: `--memory-capacity` (by default the machine's
    /// memory less room for the host), or else the machine's memory (`None` where it cannot
    /// be read).
    pub fn instance_memory_ceiling(&self) -> Option<u64> {
        self.memory_capacity.or_else(machine_memory)
    }
}

#[cfg(test)]
mod tests;
