//! `q8s-server check`: reaches what the configuration names — the database, the blob store and
//! the runtime — and says, one line each, that it works or what is wrong and how to fix it.
//! It changes nothing but a probe object written to the blob store and removed again (and a
//! probe file in the data directory).

use std::time::Duration;

use q8s_runtime::{LocalRuntime, LocalRuntimeConfig};

use super::is_postgres;
use crate::blob::{ObjectBlobStore, ReadCache};
use crate::config::{Config, RuntimeKind};
use crate::store::{PostgresStore, SqliteStore};

/// How long the blob store's probe may take (the S3 client retries with back-off).
const BLOB_TIMEOUT: Duration = Duration::from_secs(30);

/// One checked part.
#[derive(Debug, Clone)]
pub struct CheckLine {
    /// `database`, `blob store` or `runtime`.
    pub part: &'static str,
    /// What was found, or what is wrong and how to fix it.
    pub outcome: Result<String, String>,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(found) => write!(f, "ok    {:<10}  {found}", self.part),
            Err(wrong) => write!(f, "FAIL  {:<10}  {wrong}", self.part),
        }
    }
}

/// Checks the database, the blob store and the runtime of `config`, in that order.
pub async fn check(config: &Config) -> Vec<CheckLine> {
    vec![
        CheckLine {
            part: "database",
            outcome: database(config).await,
        },
        CheckLine {
            part: "blob store",
            outcome: blob_store(config).await,
        },
        CheckLine {
            part: "runtime",
            outcome: runtime(config).await,
        },
    ]
}

fn schema(pending: Vec<String>) -> String {
    match pending.len() {
        0 => "connected, schema up to date".to_owned(),
        n => format!(
            "connected, {n} migration(s) pending ({}): `q8s-server migrate` or the next start \
             applies them",
            pending.join(", ")
        ),
    }
}

async fn database(config: &Config) -> Result<String, String> {
    let url = &config.database;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let pending = SqliteStore::pending_migrations(url)
            .await
            .map_err(|e| format!("SQLite at {path}: {e}"))?;
        return Ok(format!("SQLite at {path}: {}", schema(pending)));
    }
    if !is_postgres(url) {
        return Err("unsupported --database: use sqlite://<file> or \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            .to_owned());
    }
    let store = PostgresStore::connect(url, config.database_pool)
        .await
        .map_err(|e| with_hint(&e.to_string(), postgres_hint))?;
    let pending = store
        .pending_migrations()
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("{}: {}", store.target(), schema(pending)))
}

/// `message` on one line: an S3 error's XML body shortened to its code and message.
fn one_line(message: &str) -> String {
    let between = |open: &str, close: &str| {
        let start = message.find(open)? + open.len();
        let len = message[start..].find(close)?;
        Some(&message[start..start + len])
    };
    let message = match (
        message.find(": <?xml"),
        between("<Code>", "</Code>"),
        between("<Message>", "</Message>"),
    ) {
        (Some(cut), Some(code), Some(text)) => format!("{}: {code}: {text}", &message[..cut]),
        _ => message.to_owned(),
    };
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `message` on one line, followed by what to do about it when `hint` knows.
fn with_hint(message: &str, hint: fn(&str) -> Option<&'static str>) -> String {
    let message = one_line(message);
    let message = message.strip_prefix("database error: ").unwrap_or(&message);
    match hint(message) {
        Some(fix) => format!("{message}. Fix: {fix}"),
        None => message.to_owned(),
    }
}

fn postgres_hint(message: &str) -> Option<&'static str> {
    let lower = message.to_lowercase();
    if lower.contains("password authentication failed") || lower.contains("no password") {
        Some("check the user and password in --database (or Q8S_DATABASE_URL)")
    } else if lower.contains("role") && lower.contains("does not exist") {
        Some("create the user (CREATE ROLE … LOGIN PASSWORD …) or fix it in --database")
    } else if lower.contains("database") && lower.contains("does not exist") {
        Some("create the database (createdb -O <user> <database>) or fix its name in --database")
    } else if lower.contains("refused")
        || lower.contains("no answer")
        || lower.contains("timed out")
    {
        Some("is PostgreSQL running and listening there? check the host and port in --database")
    } else if lower.contains("not a postgresql url") {
        Some("write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")
    } else {
        None
    }
}

fn blob_hint(message: &str) -> Option<&'static str> {
    let lower = message.to_lowercase();
    if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
        Some("create the bucket (e.g. `aws s3 mb s3://<bucket>`) or fix its name in --blob-store")
    } else if lower.contains("169.254.169.254") {
        Some(
            "no credentials were found (the client asked the cloud's metadata service): set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them",
        )
    } else if lower.contains("accessdenied")
        || lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("credential")
    {
        Some(
            "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the role) and that they may \
             read, write and delete in the bucket",
        )
    } else if lower.contains("refused")
        || lower.contains("dns")
        || lower.contains("connect")
        || lower.contains("no answer")
    {
        Some("is the endpoint right and reachable? check `endpoint=` in --blob-store")
    } else if lower.contains("unsupported blob store") {
        Some("see docs/scale-out.md for the forms of --blob-store")
    } else if lower.contains("permission denied") || lower.contains("read-only") {
        Some("let the server's user write the folder, or choose another with --blob-store")
    } else {
        None
    }
}

async fn blob_store(config: &Config) -> Result<String, String> {
    let failed = |e: String| with_hint(&e, blob_hint);
    // No cache: the probe never touches the data directory's copies.
    let cache = ReadCache::new(config.data_dir.join("cache").join("bundles"), 0);
    let store =
        ObjectBlobStore::open(&config.blob_store, cache).map_err(|e| failed(e.to_string()))?;
    let where_ = store_name(&config.blob_store);
    match tokio::time::timeout(BLOB_TIMEOUT, store.probe()).await {
        Ok(Ok(())) => Ok(format!(
            "{where_}: wrote, read back and deleted a probe object ({})",
            store.uploads()
        )),
        Ok(Err(e)) => Err(failed(format!("{where_}: {e}"))),
        Err(_) => Err(failed(format!(
            "{where_}: no answer within {BLOB_TIMEOUT:?}"
        ))),
    }
}

/// The blob store URL without its query (endpoints may carry tokens).
fn store_name(url: &str) -> String {
    match url.split_once('?') {
        Some((store, query)) => {
            let endpoint = query
                .split('&')
                .find_map(|p| p.strip_prefix("endpoint="))
                .map(|e| format!(" at {}", e.split('@').next_back().unwrap_or(e)))
                .unwrap_or_default();
            format!("{store}{endpoint}")
        }
        None => url.to_owned(),
    }
}

async fn runtime(config: &Config) -> Result<String, String> {
    match config.runtime {
        RuntimeKind::Fake => Ok("fake: instances simulated in memory (for tests only)".into()),
        RuntimeKind::Kubernetes => kubernetes(config).await,
        RuntimeKind::Local => {
            let mut runtime_config = LocalRuntimeConfig::new(&config.data_dir);
            runtime_config.sandbox_user = config.sandbox_user;
            writable(&config.data_dir)?;
            LocalRuntime::check_host(&runtime_config)?;
            let tools = LocalRuntime::check_tools(&runtime_config)?;
            Ok(format!(
                "local: data directory {} writable, {tools}",
                config.data_dir.display()
            ))
        }
    }
}

/// Whether the cluster answers a list of q8s's Deployments in the instances' namespace (what
/// the runtime does first at start).
async fn kubernetes(config: &Config) -> Result<String, String> {
    use q8s_runtime_kubernetes::{apply::Cluster, connect};
    let Some(kubernetes) = &config.kubernetes else {
        return Err("--runtime kubernetes without its settings".into());
    };
    let namespace = &kubernetes.settings.namespace;
    let client = connect::client(kubernetes.kubeconfig.as_deref())
        .await
        .map_err(|e| format!("{e}. Fix: name a kubeconfig with --kubeconfig"))?;
    let deployments = Cluster::new(client, namespace.clone())
        .deployments()
        .await
        .map_err(|e| {
            format!(
                "listing Deployments in `{namespace}`: {e}. Fix: check the cluster's address \
                 and that deploy/kubernetes/rbac.yaml is applied"
            )
        })?;
    Ok(format!(
        "kubernetes: namespace `{namespace}` answers, {} instance Deployment(s)",
        deployments.len()
    ))
}

/// Whether the server can create the data directory and write in it.
fn writable(dir: &std::path::Path) -> Result<(), String> {
    let wrong = |e: std::io::Error| {
        format!(
            "cannot write in the data directory {}: {e}. Fix: let the server's user write \
             there, or choose another with --data-dir",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(wrong)?;
    let probe = tempfile::NamedTempFile::new_in(dir).map_err(wrong)?;
    drop(probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_error_body_becomes_its_code_and_message_on_one_line() {
        let raw = "s3://b: Error performing PUT http://h/b/p: 404 Not Found: <?xml version=\"1.0\"?>\n\
                   <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>\
                   <RequestId>x</RequestId></Error>";
        let line = with_hint(raw, blob_hint);
        assert_eq!(
            line,
            "s3://b: Error performing PUT http://h/b/p: 404 Not Found: NoSuchBucket: The specified \
             bucket does not exist. Fix: create the bucket (e.g. `aws s3 mb s3://<bucket>`) or fix \
             its name in --blob-store"
        );
    }

    #[test]
    fn urls_of_blob_stores_lose_their_query_but_keep_the_endpoint() {
        assert_eq!(
            store_name("s3://b?endpoint=http://key:secret@minio:9000&region=x"),
            "s3://b at minio:9000"
        );
        assert_eq!(store_name("file:///srv/blobs"), "file:///srv/blobs");
    }
}
