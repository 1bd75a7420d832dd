//! [`Sessions`] on SQLite: browser sessions (`sessions`), loopback authorization codes
//! (`auth_codes`), instance-host hand-off codes (`host_codes`) and device authorizations
//! (`device_codes`), each keyed by the hash of its secret.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{self, db_err, fmt_time, parse_time, parse_uuid};
use crate::store::{
    AuthCodeRecord, Conflict, DeviceCodeRecord, DeviceGrant, SessionRecord, Sessions, StoreError,
    StoreResult,
};

fn grant_from_row(row: &SqliteRow) -> StoreResult<DeviceGrant> {
    let state: String = row.try_get("state").map_err(db_err)?;
    let user: Option<String> = row.try_get("user_id").map_err(db_err)?;
    match (state.as_str(), user) {
        ("PENDING", _) => Ok(DeviceGrant::Pending),
        ("APPROVED", Some(user)) => Ok(DeviceGrant::Approved(parse_uuid(user)?)),
        ("DENIED", _) => Ok(DeviceGrant::Denied),
        (other, _) => Err(StoreError::Corrupt(format!("device code state {other}"))),
    }
}

#[async_trait::async_trait]
impl Sessions for SqliteStore {
    async fn create_session(&self, session_hash: &str, session: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (session_hash, user_id, host, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(session_hash)
        .bind(session.user_id.to_string())
        .bind(session.host.as_deref())
        .bind(fmt_time(codec::now()))
        .bind(fmt_time(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&self, session_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT user_id, host, expires_at FROM sessions WHERE session_hash = ? AND expires_at > ?",
        )
        .bind(session_hash)
        .bind(fmt_time(codec::now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            user_id: parse_uuid(row.try_get("user_id").map_err(db_err)?)?,
            host: row.try_get("host").map_err(db_err)?,
            expires_at: parse_time(row.try_get("expires_at").map_err(db_err)?)?,
        }))
    }

    async fn delete_session(&self, session_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE session_hash = ?")
            .bind(session_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_auth_code(&self, code_hash: &str, code: &AuthCodeRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, user_id, client_id, redirect_uri, code_challenge, expires_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(code_hash)
        .bind(code.user_id.to_string())
        .bind(&code.client_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(fmt_time(code.expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCodeRecord>> {
        // DELETE … RETURNING consumes the code atomically: two concurrent redemptions cannot
        // both get it.
        let row = sqlx::query(
            "DELETE FROM auth_codes WHERE code_hash = ?
             RETURNING user_id, client_id, redirect_uri, code_challenge, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AuthCodeRecord {
            user_id: parse_uuid(row.try_get("user_id").map_err(db_err)?)?,
            client_id: row.try_get("client_id").map_err(db_err)?,
            redirect_uri: row.try_get("redirect_uri").map_err(db_err)?,
            code_challenge: row.try_get("code_challenge").map_err(db_err)?,
            expires_at: parse_time(row.try_get("expires_at").map_err(db_err)?)?,
        }))
    }

    async fn create_host_code(
        &self,
        code_hash: &str,
        user_id: Uuid,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO host_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)")
            .bind(code_hash)
            .bind(user_id.to_string())
            .bind(fmt_time(expires_at))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn take_host_code(&self, code_hash: &str) -> StoreResult<Option<Uuid>> {
        let row =
            sqlx::query("DELETE FROM host_codes WHERE code_hash = ? RETURNING user_id, expires_at")
                .bind(code_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = parse_time(row.try_get("expires_at").map_err(db_err)?)?;
        if expires_at <= codec::now() {
            return Ok(None);
        }
        Ok(Some(parse_uuid(row.try_get("user_id").map_err(db_err)?)?))
    }

    async fn create_device_code(
        &self,
        device_code_hash: &str,
        record: &DeviceCodeRecord,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO device_codes (device_code_hash, user_code, state, user_id, interval_secs, last_polled_at, expires_at)
             VALUES (?, ?, 'PENDING', NULL, ?, NULL, ?)",
        )
        .bind(device_code_hash)
        .bind(&record.user_code)
        .bind(i64::from(record.interval_secs))
        .bind(fmt_time(record.expires_at))
        .execute(&self.pool)
        .await
        .map_err(codec::conflict_as(Conflict::UserCode))?;
        Ok(())
    }

    async fn device_code(&self, device_code_hash: &str) -> StoreResult<Option<DeviceCodeRecord>> {
        let row = sqlx::query(
            "SELECT user_code, state, user_id, interval_secs, last_polled_at, expires_at
             FROM device_codes WHERE device_code_hash = ?",
        )
        .bind(device_code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let last: Option<String> = row.try_get("last_polled_at").map_err(db_err)?;
        Ok(Some(DeviceCodeRecord {
            user_code: row.try_get("user_code").map_err(db_err)?,
            grant: grant_from_row(&row)?,
            interval_secs: row.try_get::<i64, _>("interval_secs").map_err(db_err)? as u32,
            last_polled_at: last.map(parse_time).transpose()?,
            expires_at: parse_time(row.try_get("expires_at").map_err(db_err)?)?,
        }))
    }

    async fn touch_device_code(
        &self,
        device_code_hash: &str,
        polled_at: OffsetDateTime,
        interval_secs: u32,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE device_codes SET last_polled_at = ?, interval_secs = ? WHERE device_code_hash = ?",
        )
        .bind(fmt_time(polled_at))
        .bind(i64::from(interval_secs))
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
            DeviceGrant::Approved(user) => ("APPROVED", Some(user.to_string())),
            DeviceGrant::Denied => ("DENIED", None),
        };
        let done = sqlx::query(
            "UPDATE device_codes SET state = ?, user_id = ?
             WHERE user_code = ? AND state = 'PENDING' AND expires_at > ?",
        )
        .bind(state)
        .bind(user)
        .bind(user_code)
        .bind(fmt_time(now))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_device_code(&self, device_code_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM device_codes WHERE device_code_hash = ?")
            .bind(device_code_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<()> {
        // Device codes stay a little past expiry so a late poll hears `expired_token`.
        let device_cutoff = fmt_time(now - time::Duration::hours(1));
        let now = fmt_time(now);
        for (sql, cutoff) in [
            ("DELETE FROM sessions WHERE expires_at <= ?", &now),
            ("DELETE FROM auth_codes WHERE expires_at <= ?", &now),
            ("DELETE FROM host_codes WHERE expires_at <= ?", &now),
            (
                "DELETE FROM device_codes WHERE expires_at <= ?",
                &device_cutoff,
            ),
            ("DELETE FROM sign_in_failures WHERE until <= ?", &now),
        ] {
            // RFC 3339 UTC text with fixed precision sorts as time does.
            sqlx::query(sql)
                .bind(cutoff)
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
            "INSERT INTO sign_in_failures AS f (key, failures, until) VALUES (?1, 1, ?3)
             ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN f.until <= ?2 THEN 1 ELSE f.failures + 1 END,
                until = CASE WHEN f.until <= ?2 THEN ?3 ELSE f.until END
             RETURNING failures, until",
        )
        .bind(key)
        .bind(fmt_time(now))
        .bind(fmt_time(now + window))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let failures: i64 = row.try_get("failures").map_err(db_err)?;
        let until: String = row.try_get("until").map_err(db_err)?;
        Ok((u32::try_from(failures).unwrap_or(0), parse_time(until)?))
    }

    async fn forget_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
