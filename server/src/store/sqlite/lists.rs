//! The paged lists of [`Catalog`](crate::store::Catalog) on SQLite: apps and instances,
//! keyset-paged. Each query is built for its case (scope, filters, first page or not) so that
//! SQLite's planner sees plain conditions it can serve from an index (migration 0006), not
//! `?1 OR …` switches that force a scan of every row.

use sqlx::QueryBuilder;
use sqlx::sqlite::Sqlite;

use super::codec::{db_err, fmt_time};
use super::{SqliteStore, catalog};
use crate::store::{AppRecord, InstanceRecord, ListQuery, StoreResult, like_pattern};

/// What [`catalog::app_from_row`] reads, from `apps a JOIN users u`.
const APP_COLUMNS: &str = "SELECT a.id, a.owner_id, u.username AS owner, a.visibility,
    a.manifest, a.bundle_sha256, a.bundle_size, a.icon, a.screenshots, a.created_at,
    a.updated_at,
    (SELECT COUNT(*) FROM instances i
      WHERE i.app_id = a.id AND i.desired_state <> 'TERMINATED') AS instance_count
    FROM apps a JOIN users u ON u.id = a.owner_id WHERE 1";

/// What [`catalog::instance_from_row`] reads, from `instances i JOIN apps a JOIN users u`.
const INSTANCE_COLUMNS: &str = "SELECT i.id, i.app_id, a.name AS app_name,
    a.version AS app_version, a.title AS app_title, a.icon AS app_icon, i.owner_id,
    u.username AS owner, i.visibility, i.desired_state, i.status, i.status_message,
    i.asleep, i.restarts, i.created_at, i.updated_at
    FROM instances i JOIN apps a ON a.id = i.app_id JOIN users u ON u.id = i.owner_id WHERE 1";

/// ` AND` what the viewer may list of the rows of `alias` (`a` apps, `i` instances), and
/// the ids asked for (a range of the primary key).
fn push_scope(sql: &mut QueryBuilder<Sqlite>, q: &ListQuery, alias: &str) {
    if let Some((first, last)) = &q.id_range {
        sql.push(format_args!(" AND {alias}.id BETWEEN "))
            .push_bind(first.to_string())
            .push(" AND ")
            .push_bind(last.to_string());
    }
    match (q.include_shared, q.viewer_admin) {
        (true, true) => {}
        (true, false) => {
            sql.push(format_args!(" AND ({alias}.owner_id = "))
                .push_bind(q.viewer_id.to_string())
                .push(format_args!(" OR {alias}.visibility = 'ALL_USERS')"));
        }
        (false, _) => {
            sql.push(format_args!(" AND {alias}.owner_id = "))
                .push_bind(q.viewer_id.to_string());
        }
    }
}

/// ` AND` the query's scope, name and text for the apps of `alias`.
fn push_app_filters(sql: &mut QueryBuilder<Sqlite>, q: &ListQuery, alias: &str) {
    push_scope(sql, q, alias);
    if let Some(name) = &q.name {
        sql.push(format_args!(" AND {alias}.name = "))
            .push_bind(name.clone());
    }
    if let Some(text) = &q.text {
        // In the title, the description and each keyword (the elements of the `keywords` JSON
        // array, not its text).
        let pattern = like_pattern(text);
        sql.push(format_args!(
            " AND (lower(coalesce({alias}.title, '')) LIKE "
        ))
        .push_bind(pattern.clone())
        .push(format_args!(
            " ESCAPE '\\' OR lower(coalesce({alias}.description, '')) LIKE "
        ))
        .push_bind(pattern.clone())
        .push(format_args!(
            " ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each({alias}.keywords) AS k
                   WHERE lower(k.value) LIKE "
        ))
        .push_bind(pattern)
        .push(" ESCAPE '\\'))");
    }
}

impl SqliteStore {
    pub(super) async fn list_apps(&self, q: &ListQuery) -> StoreResult<Vec<AppRecord>> {
        let mut sql = QueryBuilder::<Sqlite>::new(APP_COLUMNS);
        push_app_filters(&mut sql, q, "a");
        if q.latest_only {
            // The last of its Name among the apps that match: no later one matches. The
            // (name, created_at, id) index answers this per row.
            sql.push(" AND NOT EXISTS (SELECT 1 FROM apps b WHERE b.name = a.name");
            push_app_filters(&mut sql, q, "b");
            sql.push(" AND (b.created_at, b.id) > (a.created_at, a.id))");
        }
        if let Some(after) = &q.page.after {
            if q.latest_only {
                sql.push(" AND a.name > ").push_bind(after.name.clone());
            } else {
                sql.push(" AND (a.name, a.created_at, a.id) > (")
                    .push_bind(after.name.clone())
                    .push(", ")
                    .push_bind(fmt_time(after.created_at))
                    .push(", ")
                    .push_bind(after.id.to_string())
                    .push(")");
            }
        }
        sql.push(" ORDER BY a.name, a.created_at, a.id LIMIT ")
            .push_bind(q.page.sql_limit());
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(catalog::app_from_row).collect()
    }

    pub(super) async fn list_instances(&self, q: &ListQuery) -> StoreResult<Vec<InstanceRecord>> {
        let mut sql = QueryBuilder::<Sqlite>::new(INSTANCE_COLUMNS);
        push_scope(&mut sql, q, "i");
        if let Some(statuses) = &q.statuses {
            sql.push(" AND i.status IN (SELECT value FROM json_each(")
                .push_bind(
                    serde_json::to_string(&statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                        .unwrap_or_default(),
                )
                .push("))");
        }
        if let Some(after) = &q.page.after {
            sql.push(" AND (i.created_at, i.id) < (")
                .push_bind(fmt_time(after.created_at))
                .push(", ")
                .push_bind(after.id.to_string())
                .push(")");
        }
        sql.push(" ORDER BY i.created_at DESC, i.id DESC LIMIT ")
            .push_bind(q.page.sql_limit());
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(catalog::instance_from_row).collect()
    }

    pub(super) async fn count_terminated(&self, q: &ListQuery) -> StoreResult<u64> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT COUNT(*) FROM instances i WHERE i.status = 'TERMINATED'",
        );
        push_scope(&mut sql, q, "i");
        let n: i64 = sql
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }
}
