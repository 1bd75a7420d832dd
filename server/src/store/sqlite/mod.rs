//! The stores on SQLite: one file in the data directory, WAL mode, migrations embedded in the
//! binary. [`SqliteStore`] implements each concern's trait in a file of its own
//! (`accounts.rs`, `sessions.rs`, `catalog.rs` with `names.rs`, `secrets.rs`). Every SQL
//! statement of the server lives under this folder.

mod accounts;
mod catalog;
mod codec;
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
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        create_private_file(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrating the database: {e}")))?;
        Ok(SqliteStore { pool })
    }
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
