//! Bringing a data directory up: folders, stores, the first admin, orphan clean-up and the
//! runtime.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::api::instances_sink;
use crate::auth;
use crate::blob::{BlobStore, ObjectBlobStore, ReadCache, orphans};
use crate::config::{Config, RuntimeKind};
use crate::state::{AppState, Metrics};
use crate::store::{Accounts, Catalog, PostgresStore, Sessions, SqliteStore, Stores};
use q8s_runtime::fake::FakeRuntime;
use q8s_runtime::{LocalRuntime, LocalRuntimeConfig, Runtime};

/// The admin credentials created on first start (shown once).
#[derive(Debug, Clone)]
pub struct FirstStart {
    /// The admin's password.
    pub password: String,
    /// An API token of the admin.
    pub token: String,
}

impl FirstStart {
    /// What the server prints on first start.
    pub fn announcement(&self, config: &Config) -> String {
        let dir = config.data_dir.display();
        format!(
            "\nq8s is running: open {}/\n\n  username:  admin\n  password:  {}\n  API token: {}\n\n\
             This is shown once. Both are also in {dir}/admin-password and {dir}/admin-token (mode 0600).\n\
             Try: curl -H \"Authorization: Bearer $(cat {dir}/admin-token)\" {}/api/v1/me\n",
            config.base_url(),
            self.password,
            self.token,
            config.base_url(),
        )
    }
}

/// Creates `dir` (and parents) readable by the server's user only.
pub(crate) fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))
}

/// Writes `text` to a new file readable by the server's user only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    // Written beside and renamed into place: whoever sees the file sees all of it.
    let staging = path.with_extension("partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&staging)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", staging.display()))?;
    writeln!(file, "{text}")?;
    file.sync_all()?;
    std::fs::rename(&staging, path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// Opens the metadata store named by the configuration.
pub async fn open_store(config: &Config) -> anyhow::Result<Stores> {
    if config.database.starts_with("sqlite:") {
        return Ok(Stores::new(Arc::new(
            SqliteStore::open(&config.database).await?,
        )));
    }
    if config.database.starts_with("postgres://") || config.database.starts_with("postgresql://") {
        let store = PostgresStore::open(&config.database, config.database_pool).await?;
        return Ok(Stores::new(Arc::new(store)));
    }
    // Not echoed: a mistyped URL may still hold a password.
    anyhow::bail!(
        "unsupported --database: this build supports sqlite://<file> and \
         postgres://USER:PASSWORD@HOST:PORT/DATABASE"
    )
}

/// Creates the user `admin` with a random password and a token when there is no user yet.
async fn first_admin(config: &Config, store: &dyn Accounts) -> anyhow::Result<Option<FirstStart>> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let password = auth::random_secret(18);
    let hash = auth::hash_password(password.clone()).await?;
    let admin = match store.create_user("admin", &hash, true).await {
        Ok(admin) => admin,
        // Another server on the same database (a replica starting at the same time) made it:
        // its credentials are in that server's data directory.
        Err(crate::store::StoreError::Conflict(crate::store::Conflict::UserName)) => {
            tracing::info!("another server on this database made the first admin");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let token = auth::new_api_token();
    store
        .create_token(admin.id, "admin (first start)", &auth::hash_secret(&token))
        .await?;
    write_private(&config.data_dir.join("admin-password"), &password)?;
    write_private(&config.data_dir.join("admin-token"), &token)?;
    Ok(Some(FirstStart { password, token }))
}

/// This replica's name: `--node-name`, else the one made at the first start and kept in the
/// data directory (a replica is its data directory: its instances' volumes and logs are there).
fn node_name(config: &Config) -> anyhow::Result<String> {
    if let Some(name) = &config.node {
        return Ok(name.clone());
    }
    let path = config.data_dir.join("node-name");
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => return Ok(name.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    }
    let name = format!(
        "{}-{}",
        crate::config::host_name(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    write_private(&path, &name)?;
    Ok(name)
}

/// Removes what a crash can leave behind: partial uploads, and blobs that no app names (a
/// crash between storing a blob and committing its app) once they are past the grace period.
async fn clean_orphans(
    config: &Config,
    store: &dyn Catalog,
    blobs: &dyn BlobStore,
) -> anyhow::Result<()> {
    let tmp = config.tmp_dir();
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .map_err(|e| anyhow::anyhow!("cleaning {}: {e}", tmp.display()))?;
    }
    private_dir(&tmp)?;
    orphans::remove_orphans(store, blobs, config.blob_grace).await?;
    Ok(())
}

/// Prepares the data directory and everything the server needs; returns the state and, on
/// first start, the admin's credentials.
pub async fn prepare(config: Config) -> anyhow::Result<(AppState, Option<FirstStart>)> {
    private_dir(&config.data_dir)?;
    let store = open_store(&config).await?;
    let cache = ReadCache::new(
        config.data_dir.join("cache").join("bundles"),
        config.blob_cache,
    );
    let blobs: Arc<dyn BlobStore> = Arc::new(ObjectBlobStore::open(&config.blob_store, cache)?);
    clean_orphans(&config, store.catalog.as_ref(), blobs.as_ref()).await?;
    let first = first_admin(&config, store.accounts.as_ref()).await?;
    let name = node_name(&config)?;
    let node = crate::cluster::Node::join(&store, &name, &config.advertise_url).await?;
    if store.cluster.exclusive() {
        // One server uses this store: whatever ran before, under any node name, is this one's.
        store.cluster.place_all(&name).await?;
    } else {
        store
            .cluster
            .heartbeat(&name, &config.advertise_url)
            .await?;
    }
    let sink = instances_sink(store.catalog.clone(), &name);
    let runtime: Arc<dyn Runtime> = match config.runtime {
        RuntimeKind::Local => {
            let mut runtime_config = LocalRuntimeConfig::new(&config.data_dir);
            runtime_config.memory_capacity = config.memory_capacity;
            runtime_config.network = config.instance_network;
            runtime_config.sandbox_user = config.sandbox_user;
            runtime_config.archive_limits = config.archive_limits();
            runtime_config.max_pids = config.max_pids;
            runtime_config.constraints = config.constraints.clone();
            runtime_config.sandbox_paths = config.sandbox_paths.clone();
            runtime_config.start_timeout = config.start_timeout;
            LocalRuntime::check_host(&runtime_config).map_err(|why| anyhow::anyhow!(why))?;
            Arc::new(LocalRuntime::new(runtime_config, sink))
        }
        RuntimeKind::Fake => {
            tracing::warn!("--runtime fake: instances are simulated in memory (for tests only)");
            Arc::new(FakeRuntime::new(sink))
        }
        RuntimeKind::Kubernetes => kubernetes_runtime(&config, sink).await?,
    };
    let bundle_tokens = crate::bundle_token::BundleTokens::new(
        node.relay_key().as_bytes(),
        config
            .kubernetes
            .as_ref()
            .map_or(crate::bundle_token::DEFAULT_LIFETIME, |k| {
                k.bundle_token_lifetime
            }),
    );
    let mut throttles = auth::Throttles::new(
        config.sign_in_attempts,
        std::time::Duration::from_secs(config.sign_in_window),
    );
    if !store.cluster.exclusive() {
        throttles = throttles.shared_in(store.sessions.clone());
    }
    let state = AppState {
        config: Arc::new(config),
        store,
        blobs,
        runtime,
        metrics: Arc::new(Metrics::default()),
        throttles: Arc::new(throttles),
        node: Arc::new(node),
        idle: Arc::default(),
        bundle_tokens: Arc::new(bundle_tokens),
    };
    Ok((state, first))
}

/// The Kubernetes runtime over the cluster `--kubeconfig` (or the pod's service account)
/// names; a cluster that does not answer stops the start with why.
async fn kubernetes_runtime(
    config: &Config,
    sink: Arc<dyn q8s_runtime::StatusSink>,
) -> anyhow::Result<Arc<dyn Runtime>> {
    let Some(kubernetes) = &config.kubernetes else {
        anyhow::bail!("--runtime kubernetes without its settings");
    };
    let client = q8s_runtime_kubernetes::connect::client(kubernetes.kubeconfig.as_deref()).await?;
    let runtime = q8s_runtime_kubernetes::KubernetesRuntime::new(
        client,
        kubernetes.settings.clone(),
        sink,
        KUBERNETES_DEBOUNCE,
    )
    .await
    .map_err(|e| anyhow::anyhow!("--runtime kubernetes: {e}"))?;
    tracing::info!(namespace = %kubernetes.settings.namespace, "instances run on Kubernetes");
    Ok(Arc::new(runtime))
}

/// How long the Kubernetes runtime gathers watch events before it derives statuses again (a
/// pod's status changes several times in a burst).
const KUBERNETES_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(200);

/// `q8s-server user add`: creates a user with a random password, returned for printing.
pub async fn add_user(config: &Config, username: &str, admin: bool) -> anyhow::Result<String> {
    if !crate::api::valid_username(username) {
        anyhow::bail!(
            "`{username}` is not a valid username (lowercase letters, digits, '.', '_', '-')"
        );
    }
    private_dir(&config.data_dir)?;
    let store = open_store(config).await?;
    let password = auth::random_secret(18);
    let hash = auth::hash_password(password.clone()).await?;
    match store.accounts.create_user(username, &hash, admin).await {
        Ok(_) => Ok(password),
        Err(crate::store::StoreError::Conflict(_)) => {
            anyhow::bail!("user `{username}` already exists")
        }
        Err(e) => Err(e.into()),
    }
}

/// Drops expired sessions and codes every ten minutes.
pub(crate) async fn purge_expired_periodically(store: Arc<dyn Sessions>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Err(e) = store.purge_expired(time::OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %e, "purging expired sessions");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Settings};

    #[test]
    fn the_readme_sends_people_to_the_url_the_banner_prints() {
        let readme = include_str!("../../README.md");
        let url = Config::resolve(Settings::default()).unwrap().base_url();
        assert!(readme.contains(&format!("starts q8s at {url}\n")), "{url}");
        assert!(readme.contains(&format!("open {url} (the URL the server prints")));
        assert!(!readme.contains("open http://127.0.0.1"));
    }
}
