//! The stores on PostgreSQL (`--database postgres://…`): every replica of the server shares
//! one database. [`PostgresStore`] implements each concern's trait in a file of its own, as
//! SQLite's does; its migrations are `server/migrations-postgres/`, embedded in the binary and
//! applied at start under a PostgreSQL advisory lock (sqlx's migrator takes it), so replicas
//! starting together apply each migration once. Every SQL statement for PostgreSQL lives
//! under this folder.
//!
//! Concurrency: statements run at READ COMMITTED; an operation of several statements runs in
//! a transaction, and where a later statement must see what a concurrent one committed (a
//! delete against a launch, two writes of one secret) it first locks the row it is about.

mod accounts;
mod catalog;
mod cluster;
mod codec;
mod import;
mod lists;
mod secrets;
mod sessions;

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::{StoreError, StoreResult};

/// Settings of the connection pool of one server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// The most connections the process opens.
    pub max_connections: u32,
    /// How long a request waits for a free connection (and a new connection to open).
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL store: it keeps every concern ([`Stores::new`](super::Stores::new) shares
/// it).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Where it is, for messages (no password).
    target: String,
    /// Where the pool connects: the lead is held on a connection of its own.
    options: std::sync::Arc<PgConnectOptions>,
    /// The lead's connection ([`Cluster::lead`](super::Cluster::lead)).
    lead: std::sync::Arc<tokio::sync::Mutex<cluster::Lead>>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// libpq's `PG*` variables fill in what it leaves out) and applies the migrations. Fails
    /// with what went wrong and where (never the password) when the URL is not one, the
    /// server does not answer, or refuses the user.
    pub async fn open(url: &str, pool: PoolSettings) -> StoreResult<Self> {
        let store = Self::connect(url, pool).await?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied the database's migrations");
        }
        Ok(store)
    }

    /// Connects without migrating (for `q8s-server migrate` and `check`).
    pub async fn connect(url: &str, pool: PoolSettings) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Database(format!(
                "--database `{}` is not a PostgreSQL URL: {e}",
                redact(url)
            ))
        })?;
        let target = describe(&options);
        // One connection first, without the pool's retries: an unreachable server or a
        // refused login stops the start at once, saying which.
        let first =
            tokio::time::timeout(pool.acquire_timeout, PgConnection::connect_with(&options))
                .await
                .map_err(|_| {
                    StoreError::Database(format!(
                        "connecting to {target}: no answer within {:?}",
                        pool.acquire_timeout
                    ))
                })?
                .map_err(|e| StoreError::Database(format!("connecting to {target}: {e}")))?;
        first.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections.max(1))
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Database(format!("connecting to {target}: {e}")))?;
        Ok(PostgresStore {
            pool,
            target,
            options: std::sync::Arc::new(options),
            lead: Default::default(),
        })
    }

    /// Where the store is, for messages: `PostgreSQL at host:port (database `d`, user `u`)`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Applies the migrations this database lacks, under PostgreSQL's advisory lock (replicas
    /// and `migrate` runs started together wait for each other); returns those applied.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.failed(e))?;
        super::schema::apply(&migrator(), &mut *conn)
            .await
            .map_err(|e| match e {
                StoreError::Database(m) => StoreError::Database(format!("{m} ({})", self.target)),
                other => other,
            })
    }

    /// The migrations this database lacks, without applying them.
    pub async fn pending_migrations(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.failed(e))?;
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| self.failed(e))?;
        if !has_table {
            return Ok(super::schema::all(&migrator()));
        }
        super::schema::pending(&migrator(), &mut *conn).await
    }

    fn failed(&self, e: sqlx::Error) -> StoreError {
        StoreError::Database(format!("{}: {e}", self.target))
    }
}

/// `PostgreSQL at host:port (database `d`, user `u`)`: where a URL points, without its
/// password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "PostgreSQL at {}:{} (database `{}`, user `{}`)",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username()),
        options.get_username(),
    )
}

/// The migrations of `server/migrations-postgres/`, applied under an advisory lock.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations-postgres");
    migrator.set_locking(true);
    migrator
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(unparsable)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_never_show_the_password() {
        assert_eq!(
            redact("postgres://q8s:s3cret@db:5432/q8s"),
            "postgres://q8s:***@db:5432/q8s"
        );
        assert_eq!(redact("postgres://db/q8s"), "postgres://db/q8s");
        assert!(!redact("postgres://q8s:s3cret@[::1/q8s").contains("s3cret"));
    }

    #[tokio::test]
    async fn a_url_that_is_not_one_is_refused_naming_it() {
        let err = PostgresStore::open(
            "postgres://q8s:s3cret@db:notaport/q8s",
            PoolSettings::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("is not a PostgreSQL URL"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    /// Replicas starting together on a new database: each migration is applied once, under
    /// the lock, and every start succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn replicas_starting_together_migrate_once() {
        let url = tokio::task::spawn_blocking(q8s_testing::postgres::fresh_database)
            .await
            .unwrap();
        let starts = (0..6).map(|_| PostgresStore::open(&url, PoolSettings::default()));
        for store in futures::future::join_all(starts).await {
            store.expect("every replica starts");
        }
        let store = PostgresStore::open(&url, PoolSettings::default())
            .await
            .unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(applied, migrator().iter().count() as i64);
    }

    /// A launch still in flight when its app is deleted (on another replica): the delete
    /// waits for it and is refused, and the instance stays, with its app.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delete_waits_for_a_launch_in_flight_and_is_refused() {
        use crate::store::{Accounts, Catalog, Conflict, NewApp, Visibility};
        let url = tokio::task::spawn_blocking(q8s_testing::postgres::fresh_database)
            .await
            .unwrap();
        let store = PostgresStore::open(&url, PoolSettings::default())
            .await
            .unwrap();
        let owner = store.create_user("alice", "x", false).await.unwrap();
        let manifest =
            crate::store::conformance::catalog::manifest("ai.h2o.race", "1.0.0", "Race", &[]);
        let app = store
            .insert_app(&NewApp {
                id: uuid::Uuid::new_v4(),
                owner_id: owner.id,
                visibility: Visibility::Private,
                manifest,
                bundle_sha256: "0".repeat(64),
                bundle_size: 1,
                icon: None,
                screenshots: Vec::new(),
            })
            .await
            .unwrap();
        // The launch: its row written, not yet committed.
        let mut launch = store.pool.begin().await.unwrap();
        let instance = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO instances (id, app_id, owner_id, visibility, desired_state, status,
                created_at, updated_at)
             VALUES ($1, $2, $3, 'PRIVATE', 'RUNNING', 'PENDING', now(), now())",
        )
        .bind(instance)
        .bind(app.id)
        .bind(owner.id)
        .execute(&mut *launch)
        .await
        .unwrap();
        let deleting = tokio::spawn({
            let store = store.clone();
            async move { store.delete_app(app.id).await }
        });
        // Until the delete waits on a lock (the launch's), so the launch commits after it began.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&store.pool)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(
                !deleting.is_finished(),
                "the delete did not wait for the launch"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "the delete never waited"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        launch.commit().await.unwrap();
        let result = deleting.await.unwrap();
        assert!(
            matches!(result, Err(StoreError::Conflict(Conflict::AppInstances))),
            "{result:?}"
        );
        assert!(
            store.instance(instance).await.unwrap().is_some(),
            "the instance is gone"
        );
        assert!(
            store.app(app.id).await.unwrap().is_some(),
            "the app is gone"
        );
    }
}
