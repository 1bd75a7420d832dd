//! App Names and their owners on SQLite: the `app_names` table of migration 0002, whose key
//! compares Names without regard to case (so do the lookups of `catalog.rs`). Here: the claim
//! an import makes, inside its transaction.

use sqlx::sqlite::SqliteTransaction;
use uuid::Uuid;

use super::codec::db_err;
use crate::store::StoreResult;

/// Gives `name` to `owner_id` unless somebody has it; the primary key decides between
/// concurrent claims.
pub(super) async fn claim(
    tx: &mut SqliteTransaction<'_>,
    name: &str,
    owner_id: Uuid,
    created_at: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO app_names (name, owner_id, created_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(owner_id.to_string())
    .bind(created_at)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

    use crate::store::{Catalog, SqliteStore};

    use super::*;

    /// A database the release before this table left behind: its Names go to the importer of
    /// their earliest version when the server opens it.
    #[tokio::test]
    async fn names_imported_before_go_to_the_importer_of_their_earliest_version() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("q8s.db").display());
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        {
            let first = dir.path().join("first");
            std::fs::create_dir(&first).unwrap();
            let init = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/0001_init.sql");
            std::fs::copy(init, first.join("0001_init.sql")).unwrap();
            let options = SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            let migrator = sqlx::migrate::Migrator::new(first.as_path()).await.unwrap();
            migrator.run(&pool).await.unwrap();
            for (id, name) in [(alice, "alice"), (bob, "bob")] {
                sqlx::query(
                    "INSERT INTO users (id, username, password_hash, created_at)
                     VALUES (?, ?, 'x', '2026-01-01T00:00:00.000Z')",
                )
                .bind(id.to_string())
                .bind(name)
                .execute(&pool)
                .await
                .unwrap();
            }
            // `shared` was imported by Bob first, then by Alice (which nothing stopped then),
            // also as `Shared`.
            for (name, version, owner, at) in [
                ("shared", "2.0.0", alice, "2026-03-01T00:00:00.000Z"),
                ("Shared", "1.0.0", alice, "2026-03-02T00:00:00.000Z"),
                ("shared", "1.0.0", bob, "2026-02-01T00:00:00.000Z"),
                ("hers", "1.0.0", alice, "2026-04-01T00:00:00.000Z"),
            ] {
                sqlx::query(
                    "INSERT INTO apps (id, name, version, owner_id, visibility, keywords, manifest,
                        bundle_sha256, bundle_size, screenshots, created_at, updated_at)
                     VALUES (?, ?, ?, ?, 'PRIVATE', '[]', '{}', 'x', 1, '[]', ?, ?)",
                )
                .bind(Uuid::new_v4().to_string())
                .bind(name)
                .bind(version)
                .bind(owner.to_string())
                .bind(at)
                .bind(at)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        }
        let store = SqliteStore::open(&url).await.unwrap();
        assert_eq!(store.app_name_owner("shared").await.unwrap(), Some(bob));
        assert_eq!(store.app_name_owner("SHARED").await.unwrap(), Some(bob));
        assert_eq!(store.app_name_owner("hers").await.unwrap(), Some(alice));
        assert_eq!(store.app_name_owner("nobodys").await.unwrap(), None);
        store.set_app_name_owner("sHaReD", alice).await.unwrap();
        assert_eq!(store.app_name_owner("shared").await.unwrap(), Some(alice));
    }
}
