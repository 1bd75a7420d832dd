//! The operator's commands beside `serve`: `q8s-server migrate` (apply the database's
//! migrations and say which), `q8s-server check` (reach the database, the blob store and the
//! runtime, and say what is wrong and how to fix it) and `q8s-server migrate-data` (move a
//! SQLite + folder installation to PostgreSQL + S3, [`transfer`]).

mod check;
pub mod transfer;

use crate::config::Config;
use crate::store::{PostgresStore, SqliteStore, StoreResult};

pub use check::{CheckLine, check};

/// The metadata database a configuration names, connected but not migrated.
pub enum Database {
    /// `sqlite://<file>`.
    Sqlite(SqliteStore, String),
    /// `postgres://…`.
    Postgres(PostgresStore),
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Database {
    /// Connects to the database of `config` (creating a SQLite file that does not exist).
    pub async fn connect(config: &Config) -> anyhow::Result<Database> {
        let url = &config.database;
        if let Some(path) = url.strip_prefix("sqlite://") {
            crate::startup::private_dir(&config.data_dir)?;
            let store = SqliteStore::connect(url).await?;
            return Ok(Database::Sqlite(store, format!("SQLite at {path}")));
        }
        if is_postgres(url) {
            return Ok(Database::Postgres(
                PostgresStore::connect(url, config.database_pool).await?,
            ));
        }
        anyhow::bail!(
            "unsupported --database: this build supports sqlite://<file> and \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    }

    /// Where it is, for messages (never a password).
    pub fn describe(&self) -> &str {
        match self {
            Database::Sqlite(_, description) => description,
            Database::Postgres(store) => store.target(),
        }
    }

    /// Applies the migrations it lacks (under the migration lock); returns those applied.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        match self {
            Database::Sqlite(store, _) => store.migrate().await,
            Database::Postgres(store) => store.migrate().await,
        }
    }
}

/// `q8s-server migrate`: applies the migrations the configured database lacks and returns
/// what to print: one line per migration applied, or that it was up to date.
pub async fn migrate(config: &Config) -> anyhow::Result<Vec<String>> {
    let database = Database::connect(config).await?;
    let applied = database.migrate().await?;
    let target = database.describe();
    if applied.is_empty() {
        return Ok(vec![format!("{target}: up to date, nothing to apply")]);
    }
    let mut lines: Vec<String> = applied.iter().map(|m| format!("applied {m}")).collect();
    lines.push(format!(
        "{target}: {} migration(s) applied, up to date",
        applied.len()
    ));
    Ok(lines)
}
