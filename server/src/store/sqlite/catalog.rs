//! [`Catalog`] on SQLite: apps, their Names and instances.

use q8s_core::manifest::Manifest;
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use uuid::Uuid;

use super::codec::{conflict_as, db_err, fmt_time, now, parse_time, parse_uuid, to_json};
use super::{SqliteStore, names};
use crate::store::{
    AppRecord, Catalog, Conflict, DesiredState, InstanceRecord, ListQuery, NewApp, NewInstance,
    StoreError, StoreResult, Visibility,
};
use q8s_runtime::InstanceStatus;
fn visibility(text: String) -> StoreResult<Visibility> {
    Visibility::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("visibility {text}")))
}

fn json<T: serde::de::DeserializeOwned>(text: String) -> StoreResult<T> {
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("json: {e}")))
}

pub(super) fn app_from_row(row: &SqliteRow) -> StoreResult<AppRecord> {
    let get = |name: &str| row.try_get::<String, _>(name).map_err(db_err);
    Ok(AppRecord {
        id: parse_uuid(get("id")?)?,
        owner_id: parse_uuid(get("owner_id")?)?,
        owner: get("owner")?,
        visibility: visibility(get("visibility")?)?,
        manifest: json::<Manifest>(get("manifest")?)?,
        bundle_sha256: get("bundle_sha256")?,
        bundle_size: row.try_get::<i64, _>("bundle_size").map_err(db_err)? as u64,
        icon: row.try_get("icon").map_err(db_err)?,
        screenshots: json(get("screenshots")?)?,
        instance_count: row.try_get::<i64, _>("instance_count").map_err(db_err)? as u64,
        created_at: parse_time(get("created_at")?)?,
        updated_at: parse_time(get("updated_at")?)?,
    })
}

/// Changes the visibility of the app or instance `id` (`table` says which).
async fn set_visibility(
    pool: &SqlitePool,
    table: &'static str,
    id: Uuid,
    visibility: Visibility,
) -> StoreResult<()> {
    let sql = match table {
        "apps" => "UPDATE apps SET visibility = ?, updated_at = ? WHERE id = ?",
        _ => "UPDATE instances SET visibility = ?, updated_at = ? WHERE id = ?",
    };
    let done = sqlx::query(sql)
        .bind(visibility.as_str())
        .bind(fmt_time(now()))
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) fn instance_from_row(row: &SqliteRow) -> StoreResult<InstanceRecord> {
    let get = |name: &str| row.try_get::<String, _>(name).map_err(db_err);
    let status = get("status")?;
    let desired = get("desired_state")?;
    Ok(InstanceRecord {
        id: parse_uuid(get("id")?)?,
        app_id: parse_uuid(get("app_id")?)?,
        app_name: get("app_name")?,
        app_version: get("app_version")?,
        app_title: row.try_get("app_title").map_err(db_err)?,
        app_icon: row.try_get("app_icon").map_err(db_err)?,
        owner_id: parse_uuid(get("owner_id")?)?,
        owner: get("owner")?,
        visibility: visibility(get("visibility")?)?,
        desired: DesiredState::parse(&desired)
            .ok_or_else(|| StoreError::Corrupt(format!("desired state {desired}")))?,
        status: status
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("status {status}")))?,
        status_message: row.try_get("status_message").map_err(db_err)?,
        asleep: row.try_get::<i64, _>("asleep").map_err(db_err)? != 0,
        restarts: row.try_get::<i64, _>("restarts").map_err(db_err)? as u32,
        created_at: parse_time(get("created_at")?)?,
        updated_at: parse_time(get("updated_at")?)?,
    })
}

#[async_trait::async_trait]
impl Catalog for SqliteStore {
    async fn insert_app(&self, app: &NewApp) -> StoreResult<AppRecord> {
        let manifest = to_json(&app.manifest)?;
        let keywords = to_json(&app.manifest.app.keywords)?;
        let screenshots = to_json(&app.screenshots)?;
        let created = fmt_time(now());
        // One transaction: the Name is claimed only with the app that claims it. Its first
        // statement writes, so concurrent imports queue on the database's write lock.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        names::claim(&mut tx, &app.manifest.app.name, app.owner_id, &created).await?;
        // The owner check is part of the insert, and comes before the version's uniqueness: a
        // row that is not inserted violates no constraint, so another user's import of an
        // existing version says `app-name-taken`, exactly as one of a new version.
        let done = sqlx::query(
            "INSERT INTO apps (id, name, version, owner_id, visibility, title, description, keywords,
                manifest, bundle_sha256, bundle_size, icon, screenshots, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14
             WHERE EXISTS (SELECT 1 FROM app_names WHERE name = ?2 AND owner_id = ?4)",
        )
        .bind(app.id.to_string())
        .bind(&app.manifest.app.name)
        .bind(&app.manifest.app.version)
        .bind(app.owner_id.to_string())
        .bind(app.visibility.as_str())
        .bind(app.manifest.app.title.as_deref())
        .bind(app.manifest.app.description.as_deref())
        .bind(keywords)
        .bind(manifest)
        .bind(&app.bundle_sha256)
        .bind(app.bundle_size as i64)
        .bind(app.icon.as_deref())
        .bind(screenshots)
        .bind(&created)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as(Conflict::AppVersion))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::AppOwner));
        }
        tx.commit().await.map_err(db_err)?;
        self.app(app.id).await?.ok_or(StoreError::NotFound)
    }

    async fn app(&self, id: Uuid) -> StoreResult<Option<AppRecord>> {
        let row = sqlx::query(
            "SELECT a.id, a.owner_id, u.username AS owner, a.visibility, a.manifest,
                a.bundle_sha256, a.bundle_size, a.icon, a.screenshots, a.created_at, a.updated_at,
                (SELECT COUNT(*) FROM instances i
                  WHERE i.app_id = a.id AND i.desired_state <> 'TERMINATED') AS instance_count
             FROM apps a JOIN users u ON u.id = a.owner_id WHERE a.id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn apps(&self, q: &ListQuery) -> StoreResult<Vec<AppRecord>> {
        self.list_apps(q).await
    }

    async fn set_app_visibility(&self, id: Uuid, visibility: Visibility) -> StoreResult<()> {
        set_visibility(&self.pool, "apps", id, visibility).await
    }

    async fn delete_app(&self, id: Uuid) -> StoreResult<Vec<Uuid>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // A FAILED instance runs nothing: it is terminated with its app instead of blocking it.
        // Within the transaction, so a resume cannot slip in between.
        let failed: Vec<String> = sqlx::query_scalar(
            "UPDATE instances SET desired_state = 'TERMINATED', status = 'TERMINATED',
                status_message = NULL, updated_at = ?1
             WHERE app_id = ?2 AND desired_state <> 'TERMINATED' AND status = 'FAILED'
             RETURNING id",
        )
        .bind(fmt_time(now()))
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        // One statement decides: the app goes only if no live instance refers to it, so an
        // instance created concurrently either blocks the delete or fails its foreign key.
        let done = sqlx::query(
            "DELETE FROM apps WHERE id = ?1 AND NOT EXISTS (
                SELECT 1 FROM instances WHERE app_id = ?1 AND desired_state <> 'TERMINATED')",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() > 0 {
            tx.commit().await.map_err(db_err)?;
            return failed.into_iter().map(parse_uuid).collect();
        }
        tx.rollback().await.map_err(db_err)?;
        match self.app(id).await? {
            Some(_) => Err(StoreError::Conflict(Conflict::AppInstances)),
            None => Err(StoreError::NotFound),
        }
    }

    async fn bundle_in_use(&self, sha256: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE bundle_sha256 = ?")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn app_name_owner(&self, name: &str) -> StoreResult<Option<Uuid>> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT owner_id FROM app_names WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        owner.map(parse_uuid).transpose()
    }

    async fn set_app_name_owner(&self, name: &str, owner_id: Uuid) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO app_names (name, owner_id, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET owner_id = ?2",
        )
        .bind(name)
        .bind(owner_id.to_string())
        .bind(fmt_time(now()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_instance(&self, instance: &NewInstance) -> StoreResult<InstanceRecord> {
        let created = fmt_time(now());
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query(
            "INSERT INTO instances (id, app_id, owner_id, visibility, desired_state, status,
                status_message, restarts, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, 'RUNNING', 'PENDING', NULL, 0, ?5, ?5
             WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?2)",
        )
        .bind(instance.id.to_string())
        .bind(instance.app_id.to_string())
        .bind(instance.owner_id.to_string())
        .bind(instance.visibility.as_str())
        .bind(&created)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("INSERT INTO placements (instance_id, node) VALUES (?, ?)")
            .bind(instance.id.to_string())
            .bind(&instance.node)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.instance(instance.id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn instance(&self, id: Uuid) -> StoreResult<Option<InstanceRecord>> {
        let row = sqlx::query(
            "SELECT i.id, i.app_id, a.name AS app_name, a.version AS app_version,
                a.title AS app_title, a.icon AS app_icon, i.owner_id,
                u.username AS owner, i.visibility, i.desired_state, i.status, i.status_message,
                i.asleep, i.restarts, i.created_at, i.updated_at
             FROM instances i JOIN apps a ON a.id = i.app_id JOIN users u ON u.id = i.owner_id
             WHERE i.id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(instance_from_row).transpose()
    }

    async fn instances(&self, q: &ListQuery) -> StoreResult<Vec<InstanceRecord>> {
        self.list_instances(q).await
    }

    async fn terminated_count(&self, q: &ListQuery) -> StoreResult<u64> {
        self.count_terminated(q).await
    }

    async fn instances_to_run(&self, node: &str) -> StoreResult<Vec<InstanceRecord>> {
        let rows = sqlx::query(
            "SELECT i.id, i.app_id, a.name AS app_name, a.version AS app_version,
                a.title AS app_title, a.icon AS app_icon, i.owner_id,
                u.username AS owner, i.visibility, i.desired_state, i.status, i.status_message,
                i.asleep, i.restarts, i.created_at, i.updated_at
             FROM instances i JOIN apps a ON a.id = i.app_id JOIN users u ON u.id = i.owner_id
                JOIN placements p ON p.instance_id = i.id
             WHERE i.desired_state = 'RUNNING' AND p.node = ? ORDER BY i.created_at",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(instance_from_row).collect()
    }

    async fn set_instance_visibility(&self, id: Uuid, visibility: Visibility) -> StoreResult<()> {
        set_visibility(&self.pool, "instances", id, visibility).await
    }

    async fn set_desired_state(
        &self,
        id: Uuid,
        desired: DesiredState,
        status: InstanceStatus,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE instances SET desired_state = ?, status = ?, status_message = NULL, asleep = 0,
                updated_at = ?
             WHERE id = ?",
        )
        .bind(desired.as_str())
        .bind(status.as_str())
        .bind(fmt_time(now()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_instance_status(
        &self,
        id: Uuid,
        node: &str,
        status: InstanceStatus,
        message: Option<&str>,
        restarts: u32,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE instances SET status = ?1, restarts = ?3, updated_at = ?4,
                status_message = CASE WHEN asleep = 1 AND ?1 = 'SUSPENDED' AND ?2 IS NULL
                    THEN status_message ELSE ?2 END
             WHERE id = ?5 AND (desired_state <> 'TERMINATED' OR ?1 = 'TERMINATED')
                AND EXISTS (SELECT 1 FROM placements WHERE instance_id = ?5 AND node = ?6)",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(i64::from(restarts))
        .bind(fmt_time(now()))
        .bind(id.to_string())
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn instance_status_counts(&self) -> StoreResult<Vec<(InstanceStatus, u64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM instances GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status").map_err(db_err)?;
                let n: i64 = row.try_get("n").map_err(db_err)?;
                let status = status
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("status {status}")))?;
                Ok((status, n as u64))
            })
            .collect()
    }

    async fn put_to_sleep(&self, id: Uuid, node: &str, message: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE instances SET desired_state = 'SUSPENDED', status = 'SUSPENDED',
                status_message = ?1, asleep = 1, updated_at = ?2
             WHERE id = ?3 AND desired_state = 'RUNNING'
                AND EXISTS (SELECT 1 FROM placements WHERE instance_id = ?3 AND node = ?4)",
        )
        .bind(message)
        .bind(fmt_time(now()))
        .bind(id.to_string())
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn wake(&self, id: Uuid, message: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE instances SET desired_state = 'RUNNING', status = 'PENDING',
                status_message = ?1, asleep = 0, updated_at = ?2
             WHERE id = ?3 AND asleep = 1 AND desired_state = 'SUSPENDED'",
        )
        .bind(message)
        .bind(fmt_time(now()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sleeping_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE asleep = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }
}
