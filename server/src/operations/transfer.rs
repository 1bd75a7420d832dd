//! `q8s-server migrate-data`: moves a SQLite + folder installation to PostgreSQL + S3 (or any
//! blob store). Order, so that an interruption costs nothing:
//!
//! 1. both databases are opened (and migrated to this server's schema); a target database
//!    that holds any row is refused before anything is copied;
//! 2. every bundle the apps name is copied into the target blob store and checked against its
//!    sha256; blobs already there are skipped, so a run interrupted here is simply run again;
//! 3. every row — users with their password hashes, tokens, sessions and sign-in codes, app
//!    Names, apps, instances, secrets with their rules — is written in ONE transaction, which
//!    refuses again if the target gained data meanwhile. Until it commits the target database
//!    is empty; afterwards a new run is refused.
//!
//! The source is read, never changed (beyond the migrations a start of this server would
//! apply); stop the server before moving its data.

use std::collections::BTreeSet;
use std::path::Path;

use crate::blob::{Copied, ObjectBlobStore, ReadCache};
use crate::store::{PoolSettings, PostgresStore, SqliteStore};

/// Where the installation is and where it goes.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// The source database: `sqlite://<file>`.
    pub from: String,
    /// The source blob store: `file://<folder>` (or `s3://…`).
    pub from_blobs: String,
    /// The target database: `postgres://…`, empty.
    pub to: String,
    /// The target blob store: `s3://…` (or `file://<folder>`).
    pub to_blobs: String,
}

/// Moves everything from `transfer.from*` to `transfer.to*`, saying what it does through
/// `progress` (a line at a time).
pub async fn migrate_data(
    transfer: &Transfer,
    pool: PoolSettings,
    progress: &mut dyn FnMut(String),
) -> anyhow::Result<()> {
    let Some(path) = transfer.from.strip_prefix("sqlite://") else {
        anyhow::bail!(
            "--from must be the SQLite database of the installation: sqlite://<data-dir>/q8s.db"
        );
    };
    if !super::is_postgres(&transfer.to) {
        anyhow::bail!(
            "--to must be a PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        );
    }
    if !Path::new(path).is_file() {
        anyhow::bail!("--from: there is no SQLite database at {path}");
    }
    if let Some(folder) = transfer.from_blobs.strip_prefix("file://")
        && !Path::new(folder).is_dir()
    {
        anyhow::bail!("--from-blobs: there is no folder {folder}");
    }
    let no_cache = || ReadCache::new(std::env::temp_dir().join("q8s-migrate-data"), 0);
    let from_blobs = ObjectBlobStore::open(&transfer.from_blobs, no_cache())
        .map_err(|e| anyhow::anyhow!("--from-blobs: {e}"))?;
    let to_blobs = ObjectBlobStore::open(&transfer.to_blobs, no_cache())
        .map_err(|e| anyhow::anyhow!("--to-blobs: {e}"))?;

    let source = SqliteStore::open(&transfer.from)
        .await
        .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let target = PostgresStore::open(&transfer.to, pool)
        .await
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if let Some(held) = target.holds().await? {
        anyhow::bail!(
            "--to: {} already holds data ({held}). migrate-data moves an installation into an \
             EMPTY database; nothing was written",
            target.target()
        );
    }
    let snapshot = source.export().await?;
    progress(format!(
        "read from SQLite at {path}: {}",
        snapshot.summary()
    ));

    let bundles: BTreeSet<&str> = snapshot
        .apps
        .iter()
        .map(|a| a.bundle_sha256.as_str())
        .collect();
    let total = bundles.len();
    let (mut copied, mut skipped, mut bytes) = (0, 0, 0u64);
    for (n, sha256) in bundles.into_iter().enumerate() {
        let done = to_blobs
            .copy_from(&from_blobs, sha256)
            .await
            .map_err(|e| anyhow::anyhow!("copying bundle {sha256}: {e}"))?;
        let what = match done {
            Copied::AlreadyThere => {
                skipped += 1;
                "already there, skipped".to_owned()
            }
            Copied::Bytes(size) => {
                copied += 1;
                bytes += size;
                format!("copied, {size} bytes, sha256 checked")
            }
        };
        progress(format!("bundle {}/{total} {sha256}: {what}", n + 1));
    }
    progress(format!(
        "bundles: {copied} copied ({bytes} bytes), {skipped} already there"
    ));

    target.import(&snapshot).await?;
    progress(format!(
        "wrote to {}: {}",
        target.target(),
        snapshot.summary()
    ));
    Ok(())
}
