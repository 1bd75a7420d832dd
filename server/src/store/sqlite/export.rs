//! Reading every row of the SQLite store into a [`Snapshot`] (for `q8s-server migrate-data`).

use std::collections::BTreeMap;

use super::SqliteStore;
use super::codec::{db_err, parse_time, parse_uuid};
use crate::store::StoreResult;
use crate::store::snapshot::*;

fn opt_time(text: Option<String>) -> StoreResult<Option<time::OffsetDateTime>> {
    text.map(parse_time).transpose()
}

impl SqliteStore {
    /// Every row of the store, read in one transaction (a consistent picture even if a server
    /// still wrote to it; stop the server first all the same).
    pub async fn export(&self) -> StoreResult<Snapshot> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut out = Snapshot::default();

        let rows: Vec<(String, String, String, i64, String)> = sqlx::query_as(
            "SELECT id, username, password_hash, admin, created_at FROM users ORDER BY created_at",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for (id, username, password_hash, admin, created_at) in rows {
            out.users.push(UserRow {
                id: parse_uuid(id)?,
                username,
                password_hash,
                admin: admin != 0,
                created_at: parse_time(created_at)?,
            });
        }

        let rows: Vec<(String, String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, user_id, name, token_hash, created_at, last_used_at FROM tokens",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for (id, user_id, name, token_hash, created_at, last_used_at) in rows {
            out.tokens.push(TokenRow {
                id: parse_uuid(id)?,
                user_id: parse_uuid(user_id)?,
                name,
                token_hash,
                created_at: parse_time(created_at)?,
                last_used_at: opt_time(last_used_at)?,
            });
        }

        let rows: Vec<(String, String, Option<String>, String, String)> = sqlx::query_as(
            "SELECT session_hash, user_id, host, created_at, expires_at FROM sessions",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for (session_hash, user_id, host, created_at, expires_at) in rows {
            out.sessions.push(SessionRow {
                session_hash,
                user_id: parse_uuid(user_id)?,
                host,
                created_at: parse_time(created_at)?,
                expires_at: parse_time(expires_at)?,
            });
        }

        let rows: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
            "SELECT code_hash, user_id, client_id, redirect_uri, code_challenge, expires_at
             FROM auth_codes",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for (code_hash, user_id, client_id, redirect_uri, code_challenge, expires_at) in rows {
            out.auth_codes.push(AuthCodeRow {
                code_hash,
                user_id: parse_uuid(user_id)?,
                client_id,
                redirect_uri,
                code_challenge,
                expires_at: parse_time(expires_at)?,
            });
        }

        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT code_hash, user_id, expires_at FROM host_codes")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        for (code_hash, user_id, expires_at) in rows {
            out.host_codes.push(HostCodeRow {
                code_hash,
                user_id: parse_uuid(user_id)?,
                expires_at: parse_time(expires_at)?,
            });
        }

        type DeviceCode = (
            String,
            String,
            String,
            Option<String>,
            i64,
            Option<String>,
            String,
        );
        let rows: Vec<DeviceCode> = sqlx::query_as(
            "SELECT device_code_hash, user_code, state, user_id, interval_secs, last_polled_at,
                expires_at FROM device_codes",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for (hash, user_code, state, user_id, interval_secs, last_polled_at, expires_at) in rows {
            out.device_codes.push(DeviceCodeRow {
                device_code_hash: hash,
                user_code,
                state,
                user_id: user_id.map(parse_uuid).transpose()?,
                interval_secs,
                last_polled_at: opt_time(last_polled_at)?,
                expires_at: parse_time(expires_at)?,
            });
        }

        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT name, owner_id, created_at FROM app_names")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        for (name, owner_id, created_at) in rows {
            out.app_names.push(AppNameRow {
                name,
                owner_id: parse_uuid(owner_id)?,
                created_at: parse_time(created_at)?,
            });
        }

        let rows: Vec<AppColumns> = sqlx::query_as(
            "SELECT id, name, version, owner_id, visibility, title, description, keywords,
                manifest, bundle_sha256, bundle_size, icon, screenshots, created_at, updated_at
             FROM apps ORDER BY created_at",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for row in rows {
            out.apps.push(app_row(row)?);
        }

        type Instance = (
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            bool,
            i64,
            String,
            String,
            Option<String>,
        );
        let rows: Vec<Instance> = sqlx::query_as(
            "SELECT i.id, i.app_id, i.owner_id, i.visibility, i.desired_state, i.status,
                i.status_message, i.asleep, i.restarts, i.created_at, i.updated_at, p.node
             FROM instances i LEFT JOIN placements p ON p.instance_id = i.id
             ORDER BY i.created_at",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for (
            id,
            app_id,
            owner_id,
            visibility,
            desired,
            status,
            message,
            asleep,
            restarts,
            c,
            u,
            node,
        ) in rows
        {
            out.instances.push(InstanceRow {
                id: parse_uuid(id)?,
                app_id: parse_uuid(app_id)?,
                owner_id: parse_uuid(owner_id)?,
                visibility,
                desired_state: desired,
                status,
                status_message: message,
                asleep,
                restarts,
                created_at: parse_time(c)?,
                updated_at: parse_time(u)?,
                node,
            });
        }

        out.secrets = secrets(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }
}

type AppColumns = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
    String,
    String,
);

fn app_row(row: AppColumns) -> StoreResult<AppRow> {
    let (id, name, version, owner_id, visibility, title, description, keywords, manifest) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
    );
    Ok(AppRow {
        id: parse_uuid(id)?,
        name,
        version,
        owner_id: parse_uuid(owner_id)?,
        visibility,
        title,
        description,
        keywords,
        manifest,
        bundle_sha256: row.9,
        bundle_size: row.10,
        icon: row.11,
        screenshots: row.12,
        created_at: parse_time(row.13)?,
        updated_at: parse_time(row.14)?,
    })
}

/// Every secret: its rule, values, users and app Names. A secret with values but no rule row
/// (none should be left since migration 0003) gets the rule a new secret starts with.
async fn secrets(tx: &mut sqlx::SqliteConnection) -> StoreResult<Vec<SecretRow>> {
    let mut by_name: BTreeMap<String, SecretRow> = BTreeMap::new();
    let blank = |name: &str| SecretRow {
        name: name.to_owned(),
        all_users: false,
        any_app: true,
        values: Vec::new(),
        user_ids: Vec::new(),
        app_names: Vec::new(),
    };
    let rules: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT name, all_users, any_app FROM secret_access")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
    for (name, all_users, any_app) in rules {
        let mut row = blank(&name);
        row.all_users = all_users != 0;
        row.any_app = any_app != 0;
        by_name.insert(name, row);
    }
    let values: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, key, value FROM secrets ORDER BY name, key")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
    for (name, key, value) in values {
        by_name
            .entry(name.clone())
            .or_insert_with(|| blank(&name))
            .values
            .push((key, value));
    }
    let users: Vec<(String, String)> =
        sqlx::query_as("SELECT name, user_id FROM secret_access_users")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
    for (name, user_id) in users {
        if let Some(row) = by_name.get_mut(&name) {
            row.user_ids.push(parse_uuid(user_id)?);
        }
    }
    let apps: Vec<(String, String)> =
        sqlx::query_as("SELECT name, app_name FROM secret_access_apps")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
    for (name, app_name) in apps {
        if let Some(row) = by_name.get_mut(&name) {
            row.app_names.push(app_name);
        }
    }
    Ok(by_name.into_values().collect())
}
