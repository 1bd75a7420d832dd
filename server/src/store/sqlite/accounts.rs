//! [`Accounts`] on SQLite: the `users` and `tokens` tables.

use sqlx::sqlite::Sqlite;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{self, db_err, fmt_time, parse_time, parse_uuid};
use crate::store::{Accounts, Conflict, Page, StoreResult, TokenRecord, UserRecord};

/// The columns [`token_from_row`] reads, from `tokens t` (a literal, as sqlx wants its SQL).
macro_rules! token_columns {
    () => {
        "t.id AS token_id, t.user_id AS token_user_id, t.name AS token_name, \
         t.created_at AS token_created_at, t.last_used_at AS token_last_used_at"
    };
}

fn token_from_row(row: &SqliteRow) -> StoreResult<TokenRecord> {
    let last_used: Option<String> = row.try_get("token_last_used_at").map_err(db_err)?;
    Ok(TokenRecord {
        id: parse_uuid(row.try_get("token_id").map_err(db_err)?)?,
        user_id: parse_uuid(row.try_get("token_user_id").map_err(db_err)?)?,
        name: row.try_get("token_name").map_err(db_err)?,
        created_at: parse_time(row.try_get("token_created_at").map_err(db_err)?)?,
        last_used_at: last_used.map(parse_time).transpose()?,
    })
}

pub(super) fn user_from_row(row: &SqliteRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: parse_uuid(row.try_get("id").map_err(db_err)?)?,
        username: row.try_get("username").map_err(db_err)?,
        password_hash: row.try_get("password_hash").map_err(db_err)?,
        admin: row.try_get::<i64, _>("admin").map_err(db_err)? != 0,
        created_at: parse_time(row.try_get("created_at").map_err(db_err)?)?,
    })
}

#[async_trait::async_trait]
impl Accounts for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        admin: bool,
    ) -> StoreResult<UserRecord> {
        let user = UserRecord {
            id: Uuid::new_v4(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            admin,
            created_at: codec::now(),
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, admin, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.id.to_string())
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(i64::from(admin))
        .bind(fmt_time(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(codec::conflict_as(Conflict::UserName))?;
        Ok(user)
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let sql = "SELECT id, username, password_hash, admin, created_at FROM users WHERE id = ?";
        let row = sqlx::query(sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let sql =
            "SELECT id, username, password_hash, admin, created_at FROM users WHERE username = ?";
        let row = sqlx::query(sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self, page: &Page) -> StoreResult<Vec<UserRecord>> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT id, username, password_hash, admin, created_at FROM users WHERE 1",
        );
        if let Some(after) = &page.after {
            sql.push(" AND username > ").push_bind(after.name.clone());
        }
        sql.push(" ORDER BY username LIMIT ")
            .push_bind(page.sql_limit());
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }

    async fn create_token(
        &self,
        user_id: Uuid,
        name: &str,
        token_hash: &str,
    ) -> StoreResult<TokenRecord> {
        let token = TokenRecord {
            id: Uuid::new_v4(),
            user_id,
            name: name.to_owned(),
            created_at: codec::now(),
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO tokens (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token.id.to_string())
        .bind(user_id.to_string())
        .bind(name)
        .bind(token_hash)
        .bind(fmt_time(token.created_at))
        .execute(&self.pool)
        .await
        .map_err(codec::conflict_as(Conflict::TokenHash))?;
        Ok(token)
    }

    async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(TokenRecord, UserRecord)>> {
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            ", u.id, u.username, u.password_hash, u.admin, u.created_at
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?"
        );
        let row = sqlx::query(sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref()
            .map(|row| Ok((token_from_row(row)?, user_from_row(row)?)))
            .transpose()
    }

    async fn tokens(&self, user_id: Option<Uuid>, page: &Page) -> StoreResult<Vec<TokenRecord>> {
        let mut sql = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens t WHERE 1"
        ));
        if let Some(user_id) = user_id {
            sql.push(" AND t.user_id = ").push_bind(user_id.to_string());
        }
        if let Some(after) = &page.after {
            sql.push(" AND (t.created_at, t.id) > (")
                .push_bind(fmt_time(after.created_at))
                .push(", ")
                .push_bind(after.id.to_string())
                .push(")");
        }
        sql.push(" ORDER BY t.created_at, t.id LIMIT ")
            .push_bind(page.sql_limit());
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn record_token_use(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        // RFC 3339 UTC text with fixed precision sorts as time does.
        sqlx::query(
            "UPDATE tokens SET last_used_at = ?2
             WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
        )
        .bind(id.to_string())
        .bind(fmt_time(at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_token(&self, id: Uuid, user_id: Option<Uuid>) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)")
            .bind(id.to_string())
            .bind(user_id.map(|u| u.to_string()))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
