//! [`Catalog`] on PostgreSQL: apps, their Names (`app_names`, unique without regard to case
//! by an index on `lower(name)`) and instances.

use q8s_core::manifest::Manifest;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use super::PostgresStore;
use super::codec::{Ts, conflict_as, db_err, from_json, now, to_json};
use crate::store::{
    AppRecord, Catalog, Conflict, DesiredState, InstanceRecord, ListQuery, NewApp, NewInstance,
    StoreError, StoreResult, Visibility,
};
use q8s_runtime::InstanceStatus;

fn visibility(text: String) -> StoreResult<Visibility> {
    Visibility::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("visibility {text}")))
}

/// The columns [`app_from_row`] reads, from `apps a JOIN users u` (a literal, as sqlx wants).
macro_rules! app_columns {
    () => {
        "a.id, a.owner_id, u.username AS owner, a.visibility, a.manifest::text AS manifest,
         a.bundle_sha256, a.bundle_size, a.icon, a.screenshots::text AS screenshots,
         a.created_at, a.updated_at,
         (SELECT COUNT(*) FROM instances i
           WHERE i.app_id = a.id AND i.desired_state <> 'TERMINATED') AS instance_count"
    };
}

/// The columns [`instance_from_row`] reads, from `instances i JOIN apps a JOIN users u`.
macro_rules! instance_columns {
    () => {
        "i.id, i.app_id, a.name AS app_name, a.version AS app_version, a.title AS app_title,
         a.icon AS app_icon, i.owner_id, u.username AS owner, i.visibility, i.desired_state,
         i.status, i.status_message, i.asleep, i.restarts, i.created_at, i.updated_at
         FROM instances i JOIN apps a ON a.id = i.app_id JOIN users u ON u.id = i.owner_id"
    };
}

pub(super) fn app_from_row(row: &PgRow) -> StoreResult<AppRecord> {
    let get = |name: &str| row.try_get::<String, _>(name).map_err(db_err);
    Ok(AppRecord {
        id: row.try_get("id").map_err(db_err)?,
        owner_id: row.try_get("owner_id").map_err(db_err)?,
        owner: get("owner")?,
        visibility: visibility(get("visibility")?)?,
        manifest: from_json::<Manifest>(&get("manifest")?)?,
        bundle_sha256: get("bundle_sha256")?,
        bundle_size: row.try_get::<i64, _>("bundle_size").map_err(db_err)? as u64,
        icon: row.try_get("icon").map_err(db_err)?,
        screenshots: from_json(&get("screenshots")?)?,
        instance_count: row.try_get::<i64, _>("instance_count").map_err(db_err)? as u64,
        created_at: row.try_get::<Ts, _>("created_at").map_err(db_err)?.0,
        updated_at: row.try_get::<Ts, _>("updated_at").map_err(db_err)?.0,
    })
}

pub(super) fn instance_from_row(row: &PgRow) -> StoreResult<InstanceRecord> {
    let get = |name: &str| row.try_get::<String, _>(name).map_err(db_err);
    let status = get("status")?;
    let desired = get("desired_state")?;
    Ok(InstanceRecord {
        id: row.try_get("id").map_err(db_err)?,
        app_id: row.try_get("app_id").map_err(db_err)?,
        app_name: get("app_name")?,
        app_version: get("app_version")?,
        app_title: row.try_get("app_title").map_err(db_err)?,
        app_icon: row.try_get("app_icon").map_err(db_err)?,
        owner_id: row.try_get("owner_id").map_err(db_err)?,
        owner: get("owner")?,
        visibility: visibility(get("visibility")?)?,
        desired: DesiredState::parse(&desired)
            .ok_or_else(|| StoreError::Corrupt(format!("desired state {desired}")))?,
        status: status
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("status {status}")))?,
        status_message: row.try_get("status_message").map_err(db_err)?,
        asleep: row.try_get("asleep").map_err(db_err)?,
        restarts: row.try_get::<i32, _>("restarts").map_err(db_err)? as u32,
        created_at: row.try_get::<Ts, _>("created_at").map_err(db_err)?.0,
        updated_at: row.try_get::<Ts, _>("updated_at").map_err(db_err)?.0,
    })
}

/// Changes the visibility of the app or instance `id` (`table` says which).
async fn set_visibility(
    pool: &PgPool,
    table: &'static str,
    id: Uuid,
    visibility: Visibility,
) -> StoreResult<()> {
    let sql = match table {
        "apps" => "UPDATE apps SET visibility = $1, updated_at = $2 WHERE id = $3",
        _ => "UPDATE instances SET visibility = $1, updated_at = $2 WHERE id = $3",
    };
    let done = sqlx::query(sql)
        .bind(visibility.as_str())
        .bind(now())
        .bind(id)
        .execute(pool)
        .await
        .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[async_trait::async_trait]
impl Catalog for PostgresStore {
    async fn insert_app(&self, app: &NewApp) -> StoreResult<AppRecord> {
        let manifest = to_json(&app.manifest)?;
        let keywords = to_json(&app.manifest.app.keywords)?;
        let screenshots = to_json(&app.screenshots)?;
        let created = now();
        // One transaction: the Name is claimed only with the app that claims it. Of two
        // concurrent first claims, the second waits on the unique index for the first to
        // commit or roll back, then does nothing (or claims the Name).
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO app_names (name, owner_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT ((lower(name))) DO NOTHING",
        )
        .bind(&app.manifest.app.name)
        .bind(app.owner_id)
        .bind(created)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // The owner check is part of the insert, and comes before the version's uniqueness:
        // another user's import of an existing version says `app-name-taken`, as one of a new
        // version does. A statement sees what committed before it began, so the claim above
        // (or the concurrent one it waited for) is visible here.
        let done = sqlx::query(
            "INSERT INTO apps (id, name, version, owner_id, visibility, title, description,
                keywords, manifest, bundle_sha256, bundle_size, icon, screenshots, created_at,
                updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12, $13::jsonb,
                $14, $14
             WHERE EXISTS (SELECT 1 FROM app_names WHERE lower(name) = lower($2) AND owner_id = $4)",
        )
        .bind(app.id)
        .bind(&app.manifest.app.name)
        .bind(&app.manifest.app.version)
        .bind(app.owner_id)
        .bind(app.visibility.as_str())
        .bind(app.manifest.app.title.as_deref())
        .bind(app.manifest.app.description.as_deref())
        .bind(keywords)
        .bind(manifest)
        .bind(&app.bundle_sha256)
        .bind(i64::try_from(app.bundle_size).unwrap_or(i64::MAX))
        .bind(app.icon.as_deref())
        .bind(screenshots)
        .bind(created)
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
        let sql = concat!(
            "SELECT ",
            app_columns!(),
            " FROM apps a JOIN users u ON u.id = a.owner_id WHERE a.id = $1"
        );
        let row = sqlx::query(sql)
            .bind(id)
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
        // The app's row first, FOR UPDATE: a launch in flight holds a key-share lock on it
        // (its foreign key) until it commits, so this waits for it, and the statements below
        // see its instance; a launch after this waits for the delete and then fails its
        // foreign key.
        let exists = sqlx::query("SELECT 1 FROM apps WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        // A FAILED instance runs nothing: it is terminated with its app instead of blocking it.
        let failed: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE instances SET desired_state = 'TERMINATED', status = 'TERMINATED',
                status_message = NULL, updated_at = $1
             WHERE app_id = $2 AND desired_state <> 'TERMINATED' AND status = 'FAILED'
             RETURNING id",
        )
        .bind(now())
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let done = sqlx::query(
            "DELETE FROM apps WHERE id = $1 AND NOT EXISTS (
                SELECT 1 FROM instances WHERE app_id = $1 AND desired_state <> 'TERMINATED')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::Conflict(Conflict::AppInstances));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(failed)
    }

    async fn bundle_in_use(&self, sha256: &str) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM apps WHERE bundle_sha256 = $1)")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn app_name_owner(&self, name: &str) -> StoreResult<Option<Uuid>> {
        sqlx::query_scalar("SELECT owner_id FROM app_names WHERE lower(name) = lower($1)")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn set_app_name_owner(&self, name: &str, owner_id: Uuid) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO app_names (name, owner_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT ((lower(name))) DO UPDATE SET owner_id = EXCLUDED.owner_id",
        )
        .bind(name)
        .bind(owner_id)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_instance(&self, instance: &NewInstance) -> StoreResult<InstanceRecord> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // The foreign key decides against a concurrent delete of the app: NotFound.
        let done = sqlx::query(
            "INSERT INTO instances (id, app_id, owner_id, visibility, desired_state, status,
                status_message, restarts, created_at, updated_at)
             SELECT $1, $2, $3, $4, 'RUNNING', 'PENDING', NULL, 0, $5, $5
             WHERE EXISTS (SELECT 1 FROM apps WHERE id = $2)",
        )
        .bind(instance.id)
        .bind(instance.app_id)
        .bind(instance.owner_id)
        .bind(instance.visibility.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound,
            _ => db_err(e),
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("INSERT INTO placements (instance_id, node) VALUES ($1, $2)")
            .bind(instance.id)
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
        let sql = concat!("SELECT ", instance_columns!(), " WHERE i.id = $1");
        let row = sqlx::query(sql)
            .bind(id)
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
        let sql = concat!(
            "SELECT ",
            instance_columns!(),
            " JOIN placements p ON p.instance_id = i.id",
            " WHERE i.desired_state = 'RUNNING' AND p.node = $1 ORDER BY i.created_at, i.id"
        );
        let rows = sqlx::query(sql)
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
            "UPDATE instances SET desired_state = $1, status = $2, status_message = NULL,
                asleep = false, updated_at = $3
             WHERE id = $4",
        )
        .bind(desired.as_str())
        .bind(status.as_str())
        .bind(now())
        .bind(id)
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
        // A concurrent terminate is re-read before this row is written: the condition holds
        // against the latest version of the row. The placement row is share-locked, so a
        // concurrent move (`Cluster::place`) waits for this write or this write sees the move.
        sqlx::query(
            "WITH placed AS (
                SELECT 1 FROM placements WHERE instance_id = $5 AND node = $6 FOR SHARE)
             UPDATE instances SET status = $1, restarts = $3, updated_at = $4,
                status_message = CASE WHEN asleep AND $1 = 'SUSPENDED' AND $2::text IS NULL
                    THEN status_message ELSE $2 END
             WHERE id = $5 AND (desired_state <> 'TERMINATED' OR $1 = 'TERMINATED')
                AND EXISTS (SELECT 1 FROM placed)",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(i32::try_from(restarts).unwrap_or(i32::MAX))
        .bind(now())
        .bind(id)
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
        // As for status writes: the placement row is share-locked, so a concurrent move waits.
        let done = sqlx::query(
            "WITH placed AS (
                SELECT 1 FROM placements WHERE instance_id = $3 AND node = $4 FOR SHARE)
             UPDATE instances SET desired_state = 'SUSPENDED', status = 'SUSPENDED',
                status_message = $1, asleep = true, updated_at = $2
             WHERE id = $3 AND desired_state = 'RUNNING' AND EXISTS (SELECT 1 FROM placed)",
        )
        .bind(message)
        .bind(now())
        .bind(id)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn wake(&self, id: Uuid, message: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE instances SET desired_state = 'RUNNING', status = 'PENDING',
                status_message = $1, asleep = false, updated_at = $2
             WHERE id = $3 AND asleep AND desired_state = 'SUSPENDED'",
        )
        .bind(message)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sleeping_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE asleep")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }
}
