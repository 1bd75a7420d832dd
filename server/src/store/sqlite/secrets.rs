//! [`Secrets`] on SQLite: the values (`secrets`, one row per key) and the access rule
//! (`secret_access` with its users and app Names). A secret exists while it has a
//! `secret_access` row; every write keeps both in one transaction.

use std::collections::HashMap;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection as _, Row};

use super::SqliteStore;
use super::codec::db_err;
use crate::store::{
    Page, SecretAccess, SecretAccessChange, SecretRecord, SecretUsers, Secrets, StoreError,
    StoreResult,
};
/// `(name, value)` rows of `sql` (which keeps the names from `first` to `last`), grouped by
/// name in the order the query gives.
async fn grouped(
    conn: &mut SqliteConnection,
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

/// The secrets named `only` (any name when `None`), by name, with keys and rule: the part
/// `page` asks for. The rules come first, then the keys, users and app Names of the names from
/// the page's first to its last.
async fn load(
    conn: &mut SqliteConnection,
    only: Option<&str>,
    page: &Page,
) -> StoreResult<Vec<SecretRecord>> {
    let rules = sqlx::query(
        "SELECT name, all_users, any_app FROM secret_access
         WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR name > ?2) ORDER BY name LIMIT ?3",
    )
    .bind(only)
    .bind(page.after.as_ref().map(|k| k.name.as_str()))
    .bind(page.sql_limit())
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
        "SELECT name, key FROM secrets WHERE name >= ?1 AND name <= ?2 ORDER BY name, key",
        &first,
        &last,
    )
    .await?;
    let mut users = grouped(
        conn,
        "SELECT su.name, u.username FROM secret_access_users su JOIN users u ON u.id = su.user_id
         WHERE su.name >= ?1 AND su.name <= ?2 ORDER BY su.name, u.username",
        &first,
        &last,
    )
    .await?;
    let mut apps = grouped(
        conn,
        "SELECT name, app_name FROM secret_access_apps
         WHERE name >= ?1 AND name <= ?2 ORDER BY name, app_name",
        &first,
        &last,
    )
    .await?;
    rules
        .iter()
        .map(|row| {
            let name: String = row.try_get("name").map_err(db_err)?;
            let all_users = row.try_get::<i64, _>("all_users").map_err(db_err)? != 0;
            let any_app = row.try_get::<i64, _>("any_app").map_err(db_err)? != 0;
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

/// Makes `change` to the rule of `name` (whose `secret_access` row exists).
async fn change_access(
    conn: &mut SqliteConnection,
    name: &str,
    change: &SecretAccessChange,
) -> StoreResult<()> {
    if let Some(users) = &change.users {
        let (all, listed) = match users {
            SecretUsers::AllUsers => (true, &[][..]),
            SecretUsers::Only(list) => (false, list.as_slice()),
        };
        sqlx::query("UPDATE secret_access SET all_users = ? WHERE name = ?")
            .bind(i64::from(all))
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM secret_access_users WHERE name = ?")
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        for username in listed {
            sqlx::query(
                "INSERT OR IGNORE INTO secret_access_users (name, user_id)
                 SELECT ?, id FROM users WHERE username = ?",
            )
            .bind(name)
            .bind(username)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        }
    }
    if let Some(apps) = &change.apps {
        sqlx::query("UPDATE secret_access SET any_app = ? WHERE name = ?")
            .bind(i64::from(apps.is_none()))
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM secret_access_apps WHERE name = ?")
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        for app in apps.iter().flatten() {
            sqlx::query("INSERT OR IGNORE INTO secret_access_apps (name, app_name) VALUES (?, ?)")
                .bind(name)
                .bind(app)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
    }
    Ok(())
}

/// The one record of `name`, read on `conn`.
async fn one(conn: &mut SqliteConnection, name: &str) -> StoreResult<SecretRecord> {
    load(conn, Some(name), &Page::all())
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

#[async_trait::async_trait]
impl Secrets for SqliteStore {
    async fn put_secret(
        &self,
        name: &str,
        data: &[(String, String)],
        change: &SecretAccessChange,
    ) -> StoreResult<SecretRecord> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let mut tx = conn.begin().await.map_err(db_err)?;
        sqlx::query("DELETE FROM secrets WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for (key, value) in data {
            sqlx::query("INSERT INTO secrets (name, key, value) VALUES (?, ?, ?)")
                .bind(name)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        // A new secret: admins only, any app (the columns' defaults).
        sqlx::query("INSERT OR IGNORE INTO secret_access (name) VALUES (?)")
            .bind(name)
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
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let mut tx = conn.begin().await.map_err(db_err)?;
        // Fails with NotFound (and rolls back) before anything changes for an unknown name.
        one(&mut tx, name).await?;
        change_access(&mut tx, name, change).await?;
        let record = one(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn delete_secret(&self, name: &str) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let mut tx = conn.begin().await.map_err(db_err)?;
        let values = sqlx::query("DELETE FROM secrets WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // The rule's users and apps go with it (ON DELETE CASCADE).
        let rule = sqlx::query("DELETE FROM secret_access WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(values.rows_affected() + rule.rows_affected() > 0)
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
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = ? AND key = ?")
            .bind(name)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }
}
