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
mod codec;
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
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// libpq's `PG*` variables fill in what it leaves out) and applies the migrations. Fails
    /// with what went wrong and where (never the password) when the URL is not one, the
    /// server does not answer, or refuses the user.
    pub async fn open(url: &str, pool: PoolSettings) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Database(format!(
                "--database `{}` is not a PostgreSQL URL: {e}",
                redact(url)
            ))
        })?;
        let target = format!(
            "PostgreSQL at {}:{} (database `{}`, user `{}`)",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username()),
            options.get_username(),
        );
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
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("connecting to {target}: {e}")))?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrating {target}: {e}")))?;
        Ok(PostgresStore { pool })
    }
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
}
