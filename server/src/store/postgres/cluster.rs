//! [`Cluster`] on PostgreSQL: replicas say they are alive in `nodes` (by the database's
//! clock), one of them leads while it holds a session advisory lock on a connection of its
//! own (the database releases it when that connection dies: a killed replica loses the lead at
//! once), and placements move only by compare-and-set.

use std::time::Duration;

use sqlx::Connection as _;
use sqlx::Row;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::PostgresStore;
use super::codec::{Ts, db_err};
use crate::store::{Cluster, NodeRecord, StoreError, StoreResult};

/// The advisory lock whose holder leads ("q8s" and 1).
const LEADER_LOCK: i64 = 0x0071_3873_0000_0001;
/// How long the leader's check of its own connection may take before the lead counts as lost.
const LEAD_CHECK: Duration = Duration::from_secs(2);

/// The connection the lead is held on (kept by followers too, so that trying again costs no
/// new connection).
#[derive(Debug, Default)]
pub(super) struct Lead {
    connection: Option<PgConnection>,
    held: bool,
}

impl PostgresStore {
    async fn try_lead(&self, lead: &mut Lead) -> StoreResult<bool> {
        if lead.connection.is_none() {
            let connection =
                tokio::time::timeout(LEAD_CHECK, PgConnection::connect_with(&self.options))
                    .await
                    .map_err(|_| StoreError::Database("connecting for the lead: no answer".into()))?
                    .map_err(db_err)?;
            lead.connection = Some(connection);
            lead.held = false;
        }
        let Some(connection) = lead.connection.as_mut() else {
            return Ok(false);
        };
        let query = if lead.held {
            // The lock is ours as long as this connection lives.
            sqlx::query_scalar("SELECT true")
        } else {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LEADER_LOCK)
        };
        match tokio::time::timeout(LEAD_CHECK, query.fetch_one(connection)).await {
            Ok(Ok(held)) => {
                lead.held = held;
                Ok(held)
            }
            failed => {
                // A connection that fails or hangs may have lost the lock: let it go (the
                // database releases the lock when it notices) and start over next time.
                if let Some(connection) = lead.connection.take() {
                    let _ = tokio::time::timeout(LEAD_CHECK, connection.close()).await;
                }
                lead.held = false;
                match failed {
                    Ok(Err(e)) => Err(db_err(e)),
                    _ => Err(StoreError::Database("the lead's connection hangs".into())),
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Cluster for PostgresStore {
    fn exclusive(&self) -> bool {
        false
    }

    async fn heartbeat(&self, name: &str, address: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO nodes (name, address, seen_at) VALUES ($1, $2, now())
             ON CONFLICT (name) DO UPDATE SET address = $2, seen_at = now()",
        )
        .bind(name)
        .bind(address)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn nodes(&self, alive_within: Duration) -> StoreResult<Vec<NodeRecord>> {
        let rows = sqlx::query(
            "SELECT name, address, seen_at FROM nodes
             WHERE seen_at >= now() - make_interval(secs => $1) ORDER BY name",
        )
        .bind(alive_within.as_secs_f64())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(NodeRecord {
                    name: row.try_get("name").map_err(db_err)?,
                    address: row.try_get("address").map_err(db_err)?,
                    seen_at: row.try_get::<Ts, _>("seen_at").map_err(db_err)?.0,
                })
            })
            .collect()
    }

    async fn lead(&self) -> StoreResult<bool> {
        let mut lead = self.lead.lock().await;
        self.try_lead(&mut lead).await
    }

    async fn relay_key(&self, candidate: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO cluster_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
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
        sqlx::query_scalar("SELECT node FROM placements WHERE instance_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn place(&self, id: Uuid, from: Option<&str>, to: &str) -> StoreResult<bool> {
        let done = match from {
            Some(from) => {
                sqlx::query("UPDATE placements SET node = $1 WHERE instance_id = $2 AND node = $3")
                    .bind(to)
                    .bind(id)
                    .bind(from)
                    .execute(&self.pool)
                    .await
            }
            None => {
                sqlx::query(
                    "INSERT INTO placements (instance_id, node)
                     SELECT id, $1 FROM instances WHERE id = $2
                     ON CONFLICT (instance_id) DO NOTHING",
                )
                .bind(to)
                .bind(id)
                .execute(&self.pool)
                .await
            }
        }
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn place_all(&self, node: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "INSERT INTO placements (instance_id, node) SELECT id, $1 FROM instances
             ON CONFLICT (instance_id) DO UPDATE SET node = $1 WHERE placements.node <> $1",
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
                SELECT 1 FROM nodes n
                WHERE n.name = p.node AND n.seen_at >= now() - make_interval(secs => $1))
             ORDER BY i.created_at, i.id",
        )
        .bind(alive_within.as_secs_f64())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("id").map_err(db_err)?,
                    row.try_get("node").map_err(db_err)?,
                ))
            })
            .collect()
    }
}
