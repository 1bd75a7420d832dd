//! The stores on SQLite: one file in the data directory, WAL mode, migrations embedded in the
//! binary. [`SqliteStore`] implements each concern's trait in a file of its own
//! (`accounts.rs`, `sessions.rs`, `catalog.rs` with `names.rs`, `secrets.rs`). Every SQL
//! statement of the server lives under this folder.

mod accounts;
mod catalog;
mod cluster;
mod codec;
mod export;
mod lists;
mod names;
mod secrets;
mod sessions;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use self::codec::db_err;
use super::{StoreError, StoreResult};

/// The SQLite store: it keeps every concern ([`Stores::new`](super::Stores::new) shares it).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it, mode 0600, when missing) the database at `url` (`sqlite://<path>`)
    /// and applies the migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let store = Self::connect(url).await?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied the database's migrations");
        }
        Ok(store)
    }

    /// Opens (creating it, mode 0600, when missing) the database at `url` without migrating.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = options(url)?.create_if_missing(true);
        create_private_file(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(SqliteStore { pool })
    }

    /// Applies the migrations the database lacks; returns those applied.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        super::schema::apply(&sqlx::migrate!("./migrations"), &mut *conn).await
    }

    /// The migrations the database at `url` lacks, without creating or changing it (a
    /// database that does not exist yet lacks them all).
    pub async fn pending_migrations(url: &str) -> StoreResult<Vec<String>> {
        let options = options(url)?;
        let migrator = sqlx::migrate!("./migrations");
        if !options.get_filename().exists() {
            return Ok(super::schema::all(&migrator));
        }
        let mut conn = sqlx::ConnectOptions::connect(&options.read_only(true))
            .await
            .map_err(db_err)?;
        let has_table: bool = sqlx::query_scalar(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
        if !has_table {
            return Ok(super::schema::all(&migrator));
        }
        super::schema::pending(&migrator, &mut conn).await
    }
}

/// The options every connection of the store uses.
fn options(url: &str) -> StoreResult<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(db_err)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10)))
}

/// The database holds secret values: nobody but the server's user may read it. A new file is
/// created 0600 (SQLite gives the `-wal` and `-shm` files the permissions of the database
/// file); an existing one others could read (left by an older server, or copied in) is made
/// 0600, with its `-wal` and `-shm`.
fn create_private_file(path: &Path) -> StoreResult<()> {
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        return Ok(());
    }
    if path.exists() {
        return restrict_existing(path);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(format!(
            "creating {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(unix)]
fn restrict_existing(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| StoreError::Database(format!("making {} private: {e}", file.display())),
            )?;
            tracing::warn!(file = %file.display(), was = format!("{mode:o}"), "the database was readable by others: now 0600");
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_existing(_path: &Path) -> StoreResult<()> {
    Ok(())
}
