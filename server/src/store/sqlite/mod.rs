//! [`Store`] on SQLite: one file in the data directory, WAL mode, migrations embedded in the
//! binary. Every SQL statement of the server lives under this folder.

mod catalog;
mod codec;
mod names;
mod secrets;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use time::OffsetDateTime;
use uuid::Uuid;

use self::codec::{db_err, fmt_time, parse_time, parse_uuid};
use super::{
    AppRecord, AuthCodeRecord, Conflict, DesiredState, DeviceCodeRecord, DeviceGrant,
    InstanceRecord, ListQuery, NewApp, NewInstance, SecretAccessChange, SecretRecord,
    SessionRecord, Store, StoreError, StoreResult, TokenRecord, UserRecord, Visibility,
};
use q8s_runtime::InstanceStatus;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it, mode 0600, when missing) the database at `url` (`sqlite://<path>`)
    /// and applies the migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        create_private_file(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrating the database: {e}")))?;
        Ok(SqliteStore { pool })
    }
}

/// The database holds secret values: nobody but the server's user may read it. A new file is
/// created 0600 (SQLite gives the `-wal` and `-shm` files the permissions of the database
/// file); an existing one others could read (left by an older server, or copied in) is made
/// 0600, with its `-wal` and `-shm`.
fn create_private_file(path: &Path) -> StoreResult<()> {
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        return Ok(());
    }
    if path.exists() {
        return restrict_existing(path);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(format!(
            "creating {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(unix)]
fn restrict_existing(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| StoreError::Database(format!("making {} private: {e}", file.display())),
            )?;
            tracing::warn!(file = %file.display(), was = format!("{mode:o}"), "the database was readable by others: now 0600");
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_existing(_path: &Path) -> StoreResult<()> {
    Ok(())
}

fn user_from_row(row: &SqliteRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: parse_uuid(row.try_get("id").map_err(db_err)?)?,
        username: row.try_get("username").map_err(db_err)?,
        password_hash: row.try_get("password_hash").map_err(db_err)?,
        admin: row.try_get::<i64, _>("admin").map_err(db_err)? != 0,
        created_at: parse_time(row.try_get("created_at").map_err(db_err)?)?,
    })
}

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
impl Store for SqliteStore {
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

    async fn users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT id, username, password_hash, admin, created_at FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
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
        .map_err(codec::conflict_as(Conflict::TokenName))?;
        Ok(token)
    }

    async fn user_by_token(&self, token_hash: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.password_hash, u.admin, u.created_at
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(user_from_row).transpose()
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
        let now = fmt_time(now);
        for sql in [
            "DELETE FROM sessions WHERE expires_at <= ?",
            "DELETE FROM auth_codes WHERE expires_at <= ?",
            "DELETE FROM host_codes WHERE expires_at <= ?",
            // Device codes stay a little past expiry so a late poll hears `expired_token`.
            "DELETE FROM device_codes WHERE datetime(expires_at, '+1 hour') <= datetime(?)",
        ] {
            sqlx::query(sql)
                .bind(&now)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn insert_app(&self, app: &NewApp) -> StoreResult<AppRecord> {
        catalog::insert_app(&self.pool, app).await
    }

    async fn app(&self, id: Uuid) -> StoreResult<Option<AppRecord>> {
        catalog::app(&self.pool, id).await
    }

    async fn apps(&self, query: &ListQuery) -> StoreResult<Vec<AppRecord>> {
        catalog::apps(&self.pool, query).await
    }

    async fn set_app_visibility(&self, id: Uuid, visibility: Visibility) -> StoreResult<()> {
        catalog::set_visibility(&self.pool, "apps", id, visibility).await
    }

    async fn delete_app(&self, id: Uuid) -> StoreResult<Vec<Uuid>> {
        catalog::delete_app(&self.pool, id).await
    }

    async fn bundle_in_use(&self, sha256: &str) -> StoreResult<bool> {
        catalog::bundle_in_use(&self.pool, sha256).await
    }

    async fn app_name_owner(&self, name: &str) -> StoreResult<Option<Uuid>> {
        names::owner(&self.pool, name).await
    }

    async fn set_app_name_owner(&self, name: &str, owner_id: Uuid) -> StoreResult<()> {
        names::set_owner(&self.pool, name, owner_id).await
    }

    async fn insert_instance(&self, instance: &NewInstance) -> StoreResult<InstanceRecord> {
        catalog::insert_instance(&self.pool, instance).await
    }

    async fn instance(&self, id: Uuid) -> StoreResult<Option<InstanceRecord>> {
        catalog::instance(&self.pool, id).await
    }

    async fn instances(&self, query: &ListQuery) -> StoreResult<Vec<InstanceRecord>> {
        catalog::instances(&self.pool, query).await
    }

    async fn instances_to_run(&self) -> StoreResult<Vec<InstanceRecord>> {
        catalog::instances_to_run(&self.pool).await
    }

    async fn set_instance_visibility(&self, id: Uuid, visibility: Visibility) -> StoreResult<()> {
        catalog::set_visibility(&self.pool, "instances", id, visibility).await
    }

    async fn set_desired_state(
        &self,
        id: Uuid,
        desired: DesiredState,
        status: InstanceStatus,
    ) -> StoreResult<()> {
        catalog::set_desired_state(&self.pool, id, desired, status).await
    }

    async fn set_instance_status(
        &self,
        id: Uuid,
        status: InstanceStatus,
        message: Option<&str>,
        restarts: u32,
    ) -> StoreResult<()> {
        catalog::set_instance_status(&self.pool, id, status, message, restarts).await
    }

    async fn instance_status_counts(&self) -> StoreResult<Vec<(InstanceStatus, u64)>> {
        catalog::instance_status_counts(&self.pool).await
    }

    async fn put_secret(
        &self,
        name: &str,
        data: &[(String, String)],
        change: &SecretAccessChange,
    ) -> StoreResult<SecretRecord> {
        secrets::put_secret(&self.pool, name, data, change).await
    }

    async fn set_secret_access(
        &self,
        name: &str,
        change: &SecretAccessChange,
    ) -> StoreResult<SecretRecord> {
        secrets::set_secret_access(&self.pool, name, change).await
    }

    async fn delete_secret(&self, name: &str) -> StoreResult<bool> {
        secrets::delete_secret(&self.pool, name).await
    }

    async fn secrets(&self) -> StoreResult<Vec<SecretRecord>> {
        secrets::secrets(&self.pool).await
    }

    async fn secret(&self, name: &str) -> StoreResult<Option<SecretRecord>> {
        secrets::secret(&self.pool, name).await
    }

    async fn secret_value(&self, name: &str, key: &str) -> StoreResult<Option<String>> {
        secrets::secret_value(&self.pool, name, key).await
    }
}
