//! Writing a [`Snapshot`] into an empty PostgreSQL store (for `q8s-server migrate-data`): all
//! of it in one transaction, so an interrupted import leaves the database as empty as it was.

use sqlx::{Postgres, Transaction};

use super::PostgresStore;
use super::codec::Ts;
use crate::store::snapshot::Snapshot;
use crate::store::{StoreError, StoreResult};

/// The tables that hold data (sqlx's own table aside), in an order that inserts parents first.
const TABLES: [&str; 14] = [
    "users",
    "tokens",
    "sessions",
    "auth_codes",
    "host_codes",
    "device_codes",
    "app_names",
    "apps",
    "instances",
    "placements",
    "secret_access",
    "secrets",
    "secret_access_users",
    "secret_access_apps",
];

fn opt(t: Option<time::OffsetDateTime>) -> Option<Ts> {
    t.map(Ts::new)
}

impl PostgresStore {
    /// What the store holds, e.g. `users: 3, apps: 2`; `None` when every table is empty.
    pub async fn holds(&self) -> StoreResult<Option<String>> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let held = held(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(held)
    }

    /// Writes every row of `snapshot` in one transaction; refused, with nothing written, when
    /// the database already holds data (checked under a lock on `users`, so two imports at
    /// once cannot both find it empty).
    pub async fn import(&self, snapshot: &Snapshot) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        sqlx::query("LOCK TABLE users IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        if let Some(held) = held(&mut tx).await? {
            return Err(StoreError::Database(format!(
                "{} already holds data ({held}): nothing was written",
                self.target
            )));
        }
        write(&mut tx, snapshot).await.map_err(|e| self.failed(e))?;
        tx.commit().await.map_err(|e| self.failed(e))
    }
}

async fn held(tx: &mut Transaction<'_, Postgres>) -> StoreResult<Option<String>> {
    let mut held = Vec::new();
    for table in TABLES {
        // Table names from the constant above, never from input.
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let count: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        if count > 0 {
            held.push(format!("{table}: {count}"));
        }
    }
    Ok((!held.is_empty()).then(|| held.join(", ")))
}

async fn write(tx: &mut Transaction<'_, Postgres>, s: &Snapshot) -> Result<(), sqlx::Error> {
    for u in &s.users {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, admin, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(u.admin)
        .bind(Ts::new(u.created_at))
        .execute(&mut **tx)
        .await?;
    }
    for t in &s.tokens {
        sqlx::query(
            "INSERT INTO tokens (id, user_id, name, token_hash, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id)
        .bind(t.user_id)
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(Ts::new(t.created_at))
        .bind(opt(t.last_used_at))
        .execute(&mut **tx)
        .await?;
    }
    for x in &s.sessions {
        sqlx::query(
            "INSERT INTO sessions (session_hash, user_id, host, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&x.session_hash)
        .bind(x.user_id)
        .bind(x.host.as_deref())
        .bind(Ts::new(x.created_at))
        .bind(Ts::new(x.expires_at))
        .execute(&mut **tx)
        .await?;
    }
    for c in &s.auth_codes {
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, user_id, client_id, redirect_uri, code_challenge,
                expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.code_hash)
        .bind(c.user_id)
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(Ts::new(c.expires_at))
        .execute(&mut **tx)
        .await?;
    }
    for c in &s.host_codes {
        sqlx::query("INSERT INTO host_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(&c.code_hash)
            .bind(c.user_id)
            .bind(Ts::new(c.expires_at))
            .execute(&mut **tx)
            .await?;
    }
    for d in &s.device_codes {
        sqlx::query(
            "INSERT INTO device_codes (device_code_hash, user_code, state, user_id, interval_secs,
                last_polled_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&d.device_code_hash)
        .bind(&d.user_code)
        .bind(&d.state)
        .bind(d.user_id)
        .bind(i32::try_from(d.interval_secs).unwrap_or(i32::MAX))
        .bind(opt(d.last_polled_at))
        .bind(Ts::new(d.expires_at))
        .execute(&mut **tx)
        .await?;
    }
    for n in &s.app_names {
        sqlx::query("INSERT INTO app_names (name, owner_id, created_at) VALUES ($1, $2, $3)")
            .bind(&n.name)
            .bind(n.owner_id)
            .bind(Ts::new(n.created_at))
            .execute(&mut **tx)
            .await?;
    }
    for a in &s.apps {
        sqlx::query(
            "INSERT INTO apps (id, name, version, owner_id, visibility, title, description,
                keywords, manifest, bundle_sha256, bundle_size, icon, screenshots, created_at,
                updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12,
                $13::jsonb, $14, $15)",
        )
        .bind(a.id)
        .bind(&a.name)
        .bind(&a.version)
        .bind(a.owner_id)
        .bind(&a.visibility)
        .bind(a.title.as_deref())
        .bind(a.description.as_deref())
        .bind(&a.keywords)
        .bind(&a.manifest)
        .bind(&a.bundle_sha256)
        .bind(a.bundle_size)
        .bind(a.icon.as_deref())
        .bind(&a.screenshots)
        .bind(Ts::new(a.created_at))
        .bind(Ts::new(a.updated_at))
        .execute(&mut **tx)
        .await?;
    }
    for i in &s.instances {
        sqlx::query(
            "INSERT INTO instances (id, app_id, owner_id, visibility, desired_state, status,
                status_message, asleep, restarts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(i.id)
        .bind(i.app_id)
        .bind(i.owner_id)
        .bind(&i.visibility)
        .bind(&i.desired_state)
        .bind(&i.status)
        .bind(i.status_message.as_deref())
        .bind(i.asleep)
        .bind(i32::try_from(i.restarts).unwrap_or(i32::MAX))
        .bind(Ts::new(i.created_at))
        .bind(Ts::new(i.updated_at))
        .execute(&mut **tx)
        .await?;
        if let Some(node) = &i.node {
            sqlx::query("INSERT INTO placements (instance_id, node) VALUES ($1, $2)")
                .bind(i.id)
                .bind(node)
                .execute(&mut **tx)
                .await?;
        }
    }
    for secret in &s.secrets {
        sqlx::query("INSERT INTO secret_access (name, all_users, any_app) VALUES ($1, $2, $3)")
            .bind(&secret.name)
            .bind(secret.all_users)
            .bind(secret.any_app)
            .execute(&mut **tx)
            .await?;
        for (key, value) in &secret.values {
            sqlx::query("INSERT INTO secrets (name, key, value) VALUES ($1, $2, $3)")
                .bind(&secret.name)
                .bind(key)
                .bind(value)
                .execute(&mut **tx)
                .await?;
        }
        for user_id in &secret.user_ids {
            sqlx::query("INSERT INTO secret_access_users (name, user_id) VALUES ($1, $2)")
                .bind(&secret.name)
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
        }
        for app_name in &secret.app_names {
            sqlx::query("INSERT INTO secret_access_apps (name, app_name) VALUES ($1, $2)")
                .bind(&secret.name)
                .bind(app_name)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}
