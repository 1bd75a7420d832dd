//! App Names and their owners on SQLite: the `app_names` table of migration 0002.

use sqlx::sqlite::{SqlitePool, SqliteTransaction};
use uuid::Uuid;

use super::codec::{db_err, fmt_time, now, parse_uuid};
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

pub(super) async fn owner(pool: &SqlitePool, name: &str) -> StoreResult<Option<Uuid>> {
    let owner: Option<String> = sqlx::query_scalar("SELECT owner_id FROM app_names WHERE name = ?")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    owner.map(parse_uuid).transpose()
}

pub(super) async fn set_owner(pool: &SqlitePool, name: &str, owner_id: Uuid) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO app_names (name, owner_id, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET owner_id = ?2",
    )
    .bind(name)
    .bind(owner_id.to_string())
    .bind(fmt_time(now()))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
