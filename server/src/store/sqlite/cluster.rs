//! [`Cluster`] on SQLite: one server uses the file, so it always leads and every instance is
//! its own; the tables are kept all the same, so that the code above does not tell the stores
//! apart.

use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{db_err, fmt_time, now, parse_time, parse_uuid};
use crate::store::{Cluster, NodeRecord, StoreResult};

#[async_trait::async_trait]
impl Cluster for SqliteStore {
    fn exclusive(&self) -> bool {
        true
    }

    async fn heartbeat(&self, name: &str, address: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO nodes (name, address, seen_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET address = ?2, seen_at = ?3",
        )
        .bind(name)
        .bind(address)
        .bind(fmt_time(now()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn nodes(&self, alive_within: Duration) -> StoreResult<Vec<NodeRecord>> {
        let since = now() - alive_within;
        let rows = sqlx::query(
            "SELECT name, address, seen_at FROM nodes WHERE seen_at >= ? ORDER BY name",
        )
        .bind(fmt_time(since))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(NodeRecord {
                    name: row.try_get("name").map_err(db_err)?,
                    address: row.try_get("address").map_err(db_err)?,
                    seen_at: parse_time(row.try_get("seen_at").map_err(db_err)?)?,
                })
            })
            .collect()
    }

    async fn lead(&self) -> StoreResult<bool> {
        Ok(true)
    }

    async fn relay_key(&self, candidate: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO cluster_key (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
            .bind(candidate)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        sqlx::query_scalar("SELECT key FROM cluster_key WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn placement(&self, id: Uuid) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT node FROM placements WHERE instance_id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn place(&self, id: Uuid, from: Option<&str>, to: &str) -> StoreResult<bool> {
        let done = match from {
            Some(from) => {
                sqlx::query("UPDATE placements SET node = ? WHERE instance_id = ? AND node = ?")
                    .bind(to)
                    .bind(id.to_string())
                    .bind(from)
                    .execute(&self.pool)
                    .await
            }
            None => {
                sqlx::query(
                    "INSERT INTO placements (instance_id, node)
                     SELECT id, ? FROM instances WHERE id = ?
                     ON CONFLICT (instance_id) DO NOTHING",
                )
                .bind(to)
                .bind(id.to_string())
                .execute(&self.pool)
                .await
            }
        }
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn place_all(&self, node: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "INSERT INTO placements (instance_id, node) SELECT id, ?1 FROM instances WHERE true
             ON CONFLICT (instance_id) DO UPDATE SET node = ?1 WHERE node <> ?1",
        )
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn orphans(&self, alive_within: Duration) -> StoreResult<Vec<(Uuid, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT i.id, p.node FROM instances i LEFT JOIN placements p ON p.instance_id = i.id
             WHERE i.desired_state = 'RUNNING' AND NOT EXISTS (
                SELECT 1 FROM nodes n WHERE n.name = p.node AND n.seen_at >= ?)
             ORDER BY i.created_at",
        )
        .bind(fmt_time(now() - alive_within))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_uuid(row.try_get("id").map_err(db_err)?)?,
                    row.try_get("node").map_err(db_err)?,
                ))
            })
            .collect()
    }
}
