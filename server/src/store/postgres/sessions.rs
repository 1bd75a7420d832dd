//! [`Sessions`] on PostgreSQL: browser sessions (`sessions`), loopback authorization codes
//! (`auth_codes`), instance-host hand-off codes (`host_codes`) and device authorizations
//! (`device_codes`), each keyed by the hash of its secret. In the database, not in a
//! process's memory: a code issued by one replica is redeemed on any other.

use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::PostgresStore;
use super::codec::{self, Ts, conflict_as, db_err};
use crate::store::{
    AuthCodeRecord, Conflict, DeviceCodeRecord, DeviceGrant, SessionRecord, Sessions, StoreError,
    StoreResult,
};

fn grant_from_row(row: &PgRow) -> StoreResult<DeviceGrant> {
    let state: String = row.try_get("state").map_err(db_err)?;
    let user: Option<Uuid> = row.try_get("user_id").map_err(db_err)?;
    match (state.as_str(), user) {
        ("PENDING", _) => Ok(DeviceGrant::Pending),
        ("APPROVED", Some(user)) => Ok(DeviceGrant::Approved(user)),
        ("DENIED", _) => Ok(DeviceGrant::Denied),
        (other, _) => Err(StoreError::Corrupt(format!("device code state {other}"))),
    }
}

#[async_trait::async_trait]
impl Sessions for PostgresStore {
    async fn create_session(&self, session_hash: &str, session: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (session_hash, user_id, host, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session_hash)
        .bind(session.user_id)
        .bind(session.host.as_deref())
        .bind(codec::now())
        .bind(Ts::new(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&self, session_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT user_id, host, expires_at FROM sessions
             WHERE session_hash = $1 AND expires_at > $2",
        )
        .bind(session_hash)
        .bind(codec::now())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            user_id: row.try_get("user_id").map_err(db_err)?,
            host: row.try_get("host").map_err(db_err)?,
            expires_at: row.try_get::<Ts, _>("expires_at").map_err(db_err)?.0,
        }))
    }

    async fn delete_session(&self, session_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_auth_code(&self, code_hash: &str, code: &AuthCodeRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, user_id, client_id, redirect_uri, code_challenge,
                expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(code_hash)
        .bind(code.user_id)
        .bind(&code.client_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(Ts::new(code.expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCodeRecord>> {
        // DELETE … RETURNING consumes the code atomically: of two concurrent redemptions (on
        // any replicas) the second waits for the first and then finds nothing.
        let row = sqlx::query(
            "DELETE FROM auth_codes WHERE code_hash = $1
             RETURNING user_id, client_id, redirect_uri, code_challenge, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AuthCodeRecord {
            user_id: row.try_get("user_id").map_err(db_err)?,
            client_id: row.try_get("client_id").map_err(db_err)?,
            redirect_uri: row.try_get("redirect_uri").map_err(db_err)?,
            code_challenge: row.try_get("code_challenge").map_err(db_err)?,
            expires_at: row.try_get::<Ts, _>("expires_at").map_err(db_err)?.0,
        }))
    }

    async fn create_host_code(
        &self,
        code_hash: &str,
        user_id: Uuid,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO host_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(code_hash)
            .bind(user_id)
            .bind(Ts::new(expires_at))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn take_host_code(&self, code_hash: &str) -> StoreResult<Option<Uuid>> {
        let row = sqlx::query(
            "DELETE FROM host_codes WHERE code_hash = $1 RETURNING user_id, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: Ts = row.try_get("expires_at").map_err(db_err)?;
        if expires_at.0 <= codec::now().0 {
            return Ok(None);
        }
        Ok(Some(row.try_get("user_id").map_err(db_err)?))
    }

    async fn create_device_code(
        &self,
        device_code_hash: &str,
        record: &DeviceCodeRecord,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO device_codes (device_code_hash, user_code, state, user_id, interval_secs,
                last_polled_at, expires_at)
             VALUES ($1, $2, 'PENDING', NULL, $3, NULL, $4)",
        )
        .bind(device_code_hash)
        .bind(&record.user_code)
        .bind(i32::try_from(record.interval_secs).unwrap_or(i32::MAX))
        .bind(Ts::new(record.expires_at))
        .execute(&self.pool)
        .await
        .map_err(conflict_as(Conflict::UserCode))?;
        Ok(())
    }

    async fn device_code(&self, device_code_hash: &str) -> StoreResult<Option<DeviceCodeRecord>> {
        let row = sqlx::query(
            "SELECT user_code, state, user_id, interval_secs, last_polled_at, expires_at
             FROM device_codes WHERE device_code_hash = $1",
        )
        .bind(device_code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let last: Option<Ts> = row.try_get("last_polled_at").map_err(db_err)?;
        Ok(Some(DeviceCodeRecord {
            user_code: row.try_get("user_code").map_err(db_err)?,
            grant: grant_from_row(&row)?,
            interval_secs: row.try_get::<i32, _>("interval_secs").map_err(db_err)? as u32,
            last_polled_at: last.map(|t| t.0),
            expires_at: row.try_get::<Ts, _>("expires_at").map_err(db_err)?.0,
        }))
    }

    async fn touch_device_code(
        &self,
        device_code_hash: &str,
        polled_at: OffsetDateTime,
        interval_secs: u32,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE device_codes SET last_polled_at = $1, interval_secs = $2
             WHERE device_code_hash = $3",
        )
        .bind(Ts::new(polled_at))
        .bind(i32::try_from(interval_secs).unwrap_or(i32::MAX))
        .bind(device_code_hash)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn decide_device_code(
        &self,
        user_code: &str,
        grant: DeviceGrant,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (state, user) = match grant {
            DeviceGrant::Pending => return Ok(false),
            DeviceGrant::Approved(user) => ("APPROVED", Some(user)),
            DeviceGrant::Denied => ("DENIED", None),
        };
        // Of two concurrent decisions, the second re-reads the row the first changed and
        // finds it no longer PENDING.
        let done = sqlx::query(
            "UPDATE device_codes SET state = $1, user_id = $2
             WHERE user_code = $3 AND state = 'PENDING' AND expires_at > $4",
        )
        .bind(state)
        .bind(user)
        .bind(user_code)
        .bind(Ts::new(now))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_device_code(&self, device_code_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM device_codes WHERE device_code_hash = $1")
            .bind(device_code_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<()> {
        let now = Ts::new(now);
        for sql in [
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM auth_codes WHERE expires_at <= $1",
            "DELETE FROM host_codes WHERE expires_at <= $1",
            // Device codes stay a little past expiry so a late poll hears `expired_token`.
            "DELETE FROM device_codes WHERE expires_at + interval '1 hour' <= $1",
            "DELETE FROM sign_in_failures WHERE until <= $1",
        ] {
            sqlx::query(sql)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn count_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: std::time::Duration,
    ) -> StoreResult<(u32, OffsetDateTime)> {
        let row = sqlx::query(
            "INSERT INTO sign_in_failures AS f (key, failures, until) VALUES ($1, 1, $3)
             ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN f.until <= $2 THEN 1 ELSE f.failures + 1 END,
                until = CASE WHEN f.until <= $2 THEN $3 ELSE f.until END
             RETURNING failures, until",
        )
        .bind(key)
        .bind(Ts::new(now))
        .bind(Ts::new(now + window))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let failures: i32 = row.try_get("failures").map_err(db_err)?;
        let until: Ts = row.try_get("until").map_err(db_err)?;
        Ok((u32::try_from(failures).unwrap_or(0), until.0))
    }

    async fn forget_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
