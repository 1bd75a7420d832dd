//! [`Secrets`] on PostgreSQL: the access rule (`secret_access`, with its users and app Names)
//! and the values (`secrets`, one row per key, which belong to the rule's row). A secret
//! exists while it has a rule row; a write locks that row first, so two writes of one secret
//! (on any replicas) take turns.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::PostgresStore;
use super::codec::db_err;
use crate::store::{
    Page, SecretAccess, SecretAccessChange, SecretRecord, SecretUsers, Secrets, StoreError,
    StoreResult,
};

/// `(name, value)` rows of `sql` (which keeps the names from `first` to `last`), grouped by
/// name in the order the query gives.
async fn grouped(
    conn: &mut PgConnection,
    sql: &'static str,
    first: &str,
    last: &str,
) -> StoreResult<HashMap<String, Vec<String>>> {
    let rows = sqlx::query(sql)
        .bind(first)
        .bind(last)
        .fetch_all(conn)
        .await
        .map_err(db_err)?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for row in &rows {
        let name: String = row.try_get(0).map_err(db_err)?;
        out.entry(name)
            .or_default()
            .push(row.try_get(1).map_err(db_err)?);
    }
    Ok(out)
}

/// The secrets named `only` (any name when `None`), by name (bytes, COLLATE "C", as on SQLite),
/// with keys and rule: the part `page` asks for. The rules come first, then the keys, users and
/// app Names of the names from the page's first to its last.
async fn load(
    conn: &mut PgConnection,
    only: Option<&str>,
    page: &Page,
) -> StoreResult<Vec<SecretRecord>> {
    let rules = sqlx::query(
        "SELECT name, all_users, any_app FROM secret_access
         WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR name COLLATE \"C\" > $2)
         ORDER BY name COLLATE \"C\" LIMIT $3",
    )
    .bind(only)
    .bind(page.after.as_ref().map(|k| k.name.as_str()))
    .bind(page.limit.map(i64::from))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let (Some(first), Some(last)) = (rules.first(), rules.last()) else {
        return Ok(Vec::new());
    };
    let first: String = first.try_get("name").map_err(db_err)?;
    let last: String = last.try_get("name").map_err(db_err)?;
    let mut keys = grouped(
        conn,
        "SELECT name, key FROM secrets
         WHERE name COLLATE \"C\" >= $1 AND name COLLATE \"C\" <= $2
         ORDER BY name COLLATE \"C\", key COLLATE \"C\"",
        &first,
        &last,
    )
    .await?;
    let mut users = grouped(
        conn,
        "SELECT su.name, u.username FROM secret_access_users su JOIN users u ON u.id = su.user_id
         WHERE su.name COLLATE \"C\" >= $1 AND su.name COLLATE \"C\" <= $2
         ORDER BY su.name COLLATE \"C\", u.username COLLATE \"C\"",
        &first,
        &last,
    )
    .await?;
    let mut apps = grouped(
        conn,
        "SELECT name, app_name FROM secret_access_apps
         WHERE name COLLATE \"C\" >= $1 AND name COLLATE \"C\" <= $2
         ORDER BY name COLLATE \"C\", app_name COLLATE \"C\"",
        &first,
        &last,
    )
    .await?;
    rules
        .iter()
        .map(|row| {
            let name: String = row.try_get("name").map_err(db_err)?;
            let all_users: bool = row.try_get("all_users").map_err(db_err)?;
            let any_app: bool = row.try_get("any_app").map_err(db_err)?;
            let users = match all_users {
                true => SecretUsers::AllUsers,
                false => SecretUsers::Only(users.remove(&name).unwrap_or_default()),
            };
            let apps = (!any_app).then(|| apps.remove(&name).unwrap_or_default());
            Ok(SecretRecord {
                keys: keys.remove(&name).unwrap_or_default(),
                name,
                access: SecretAccess { users, apps },
            })
        })
        .collect()
}

/// Locks the rule row of `name` until the transaction ends; false when there is none.
async fn lock(conn: &mut PgConnection, name: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 FROM secret_access WHERE name = $1 FOR UPDATE")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?;
    Ok(row.is_some())
}

/// Makes `change` to the rule of `name` (whose `secret_access` row is locked).
async fn change_access(
    conn: &mut PgConnection,
    name: &str,
    change: &SecretAccessChange,
) -> StoreResult<()> {
    if let Some(users) = &change.users {
        let (all, listed) = match users {
            SecretUsers::AllUsers => (true, &[][..]),
            SecretUsers::Only(list) => (false, list.as_slice()),
        };
        sqlx::query("UPDATE secret_access SET all_users = $1 WHERE name = $2")
            .bind(all)
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM secret_access_users WHERE name = $1")
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        // Unknown usernames match no user and are left out.
        sqlx::query(
            "INSERT INTO secret_access_users (name, user_id)
             SELECT $1, id FROM users WHERE username = ANY($2)
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(listed)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    if let Some(apps) = &change.apps {
        sqlx::query("UPDATE secret_access SET any_app = $1 WHERE name = $2")
            .bind(apps.is_none())
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM secret_access_apps WHERE name = $1")
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        let listed: &[String] = apps.as_deref().unwrap_or_default();
        sqlx::query(
            "INSERT INTO secret_access_apps (name, app_name)
             SELECT $1, app FROM unnest($2::text[]) AS app
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(listed)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// The one record of `name`, read on `conn`.
async fn one(conn: &mut PgConnection, name: &str) -> StoreResult<SecretRecord> {
    load(conn, Some(name), &Page::all())
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

#[async_trait::async_trait]
impl Secrets for PostgresStore {
    async fn put_secret(
        &self,
        name: &str,
        data: &[(String, String)],
        change: &SecretAccessChange,
    ) -> StoreResult<SecretRecord> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // A new secret: admins only, any app (the columns' defaults). A concurrent first put
        // makes this wait on the primary key, then do nothing; the lock then orders the two.
        sqlx::query("INSERT INTO secret_access (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        lock(&mut tx, name).await?;
        sqlx::query("DELETE FROM secrets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let (keys, values): (Vec<&str>, Vec<&str>) = data
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .unzip();
        sqlx::query(
            "INSERT INTO secrets (name, key, value)
             SELECT $1, key, value FROM unnest($2::text[], $3::text[]) AS kv (key, value)",
        )
        .bind(name)
        .bind(keys)
        .bind(values)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        change_access(&mut tx, name, change).await?;
        let record = one(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn set_secret_access(
        &self,
        name: &str,
        change: &SecretAccessChange,
    ) -> StoreResult<SecretRecord> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // NotFound (and a rollback) before anything changes for an unknown name.
        if !lock(&mut tx, name).await? {
            return Err(StoreError::NotFound);
        }
        change_access(&mut tx, name, change).await?;
        let record = one(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn delete_secret(&self, name: &str) -> StoreResult<bool> {
        // The values, users and apps go with the rule (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM secret_access WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn secrets(&self, page: &Page) -> StoreResult<Vec<SecretRecord>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        load(&mut conn, None, page).await
    }

    async fn secret(&self, name: &str) -> StoreResult<Option<SecretRecord>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Ok(load(&mut conn, Some(name), &Page::all()).await?.pop())
    }

    async fn secret_value(&self, name: &str, key: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1 AND key = $2")
            .bind(name)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }
}
