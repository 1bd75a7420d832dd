//! [`Accounts`] on PostgreSQL: the `users` and `tokens` tables.

use sqlx::postgres::{PgRow, Postgres};
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PostgresStore;
use super::codec::{self, Ts, conflict_as, db_err};
use crate::store::{Accounts, Conflict, Page, StoreResult, TokenRecord, UserRecord};

/// The columns [`token_from_row`] reads, from `tokens t` (a literal, as sqlx wants its SQL).
macro_rules! token_columns {
    () => {
        "t.id AS token_id, t.user_id AS token_user_id, t.name AS token_name, \
         t.created_at AS token_created_at, t.last_used_at AS token_last_used_at"
    };
}

fn token_from_row(row: &PgRow) -> StoreResult<TokenRecord> {
    let last_used: Option<Ts> = row.try_get("token_last_used_at").map_err(db_err)?;
    Ok(TokenRecord {
        id: row.try_get("token_id").map_err(db_err)?,
        user_id: row.try_get("token_user_id").map_err(db_err)?,
        name: row.try_get("token_name").map_err(db_err)?,
        created_at: row.try_get::<Ts, _>("token_created_at").map_err(db_err)?.0,
        last_used_at: last_used.map(|t| t.0),
    })
}

fn user_from_row(row: &PgRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id").map_err(db_err)?,
        username: row.try_get("username").map_err(db_err)?,
        password_hash: row.try_get("password_hash").map_err(db_err)?,
        admin: row.try_get("admin").map_err(db_err)?,
        created_at: row.try_get::<Ts, _>("created_at").map_err(db_err)?.0,
    })
}

#[async_trait::async_trait]
impl Accounts for PostgresStore {
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
            created_at: codec::now().0,
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, admin, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(admin)
        .bind(Ts(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(conflict_as(Conflict::UserName))?;
        Ok(user)
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let sql = "SELECT id, username, password_hash, admin, created_at FROM users WHERE id = $1";
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let sql =
            "SELECT id, username, password_hash, admin, created_at FROM users WHERE username = $1";
        let row = sqlx::query(sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self, page: &Page) -> StoreResult<Vec<UserRecord>> {
        // Byte order (COLLATE "C"), as SQLite sorts: not the database's locale.
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT id, username, password_hash, admin, created_at FROM users WHERE true",
        );
        if let Some(after) = &page.after {
            sql.push(" AND username COLLATE \"C\" > ")
                .push_bind(after.name.clone());
        }
        sql.push(" ORDER BY username COLLATE \"C\" LIMIT ")
            .push_bind(page.limit.map(i64::from));
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
            created_at: codec::now().0,
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO tokens (id, user_id, name, token_hash, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token.id)
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(Ts(token.created_at))
        .execute(&self.pool)
        .await
        .map_err(conflict_as(Conflict::TokenHash))?;
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
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
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
        let mut sql = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens t WHERE true"
        ));
        if let Some(user_id) = user_id {
            sql.push(" AND t.user_id = ").push_bind(user_id);
        }
        if let Some(after) = &page.after {
            sql.push(" AND (t.created_at, t.id) > (")
                .push_bind(Ts::new(after.created_at))
                .push(", ")
                .push_bind(after.id)
                .push(")");
        }
        sql.push(" ORDER BY t.created_at, t.id LIMIT ")
            .push_bind(page.limit.map(i64::from));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn record_token_use(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE tokens SET last_used_at = $2
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id)
        .bind(Ts::new(at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_token(&self, id: Uuid, user_id: Option<Uuid>) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM tokens WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)")
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
