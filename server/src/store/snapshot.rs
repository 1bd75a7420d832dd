//! Every row of a store, in plain values: what `q8s-server migrate-data` reads from one store
//! ([`SqliteStore::export`](super::SqliteStore::export)) and writes into another
//! ([`PostgresStore::import`](super::PostgresStore::import)). One field per column, so nothing
//! a record type leaves out (token hashes, sessions, codes, times) is lost on the way.

use time::OffsetDateTime;
use uuid::Uuid;

/// A row of `users`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub admin: bool,
    pub created_at: OffsetDateTime,
}

/// A row of `tokens`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct TokenRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub token_hash: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A row of `sessions`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct SessionRow {
    pub session_hash: String,
    pub user_id: Uuid,
    pub host: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A row of `auth_codes`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct AuthCodeRow {
    pub code_hash: String,
    pub user_id: Uuid,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: OffsetDateTime,
}

/// A row of `host_codes`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct HostCodeRow {
    pub code_hash: String,
    pub user_id: Uuid,
    pub expires_at: OffsetDateTime,
}

/// A row of `device_codes`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct DeviceCodeRow {
    pub device_code_hash: String,
    pub user_code: String,
    /// `PENDING`, `APPROVED` or `DENIED`.
    pub state: String,
    pub user_id: Option<Uuid>,
    pub interval_secs: i64,
    pub last_polled_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
}

/// A row of `app_names`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct AppNameRow {
    pub name: String,
    pub owner_id: Uuid,
    pub created_at: OffsetDateTime,
}

/// A row of `apps`; `keywords`, `manifest` and `screenshots` are JSON text.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct AppRow {
    pub id: Uuid,
    pub name: String,
    pub version: String,
    pub owner_id: Uuid,
    pub visibility: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub keywords: String,
    pub manifest: String,
    pub bundle_sha256: String,
    pub bundle_size: i64,
    pub icon: Option<String>,
    pub screenshots: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A row of `instances`.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct InstanceRow {
    pub id: Uuid,
    pub app_id: Uuid,
    pub owner_id: Uuid,
    pub visibility: String,
    pub desired_state: String,
    pub status: String,
    pub status_message: Option<String>,
    pub asleep: bool,
    pub restarts: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The node it is placed on (`placements`), if any: a replica started on the old data
    /// directory (whose `node-name` it keeps) runs it, and its volume, again.
    pub node: Option<String>,
}

/// A secret's rule (`secret_access`), its key rows (`secrets`), its users and app Names.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct SecretRow {
    pub name: String,
    pub all_users: bool,
    pub any_app: bool,
    /// `(key, value)`.
    pub values: Vec<(String, String)>,
    pub user_ids: Vec<Uuid>,
    pub app_names: Vec<String>,
}

/// Every row of a store.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)]
pub struct Snapshot {
    pub users: Vec<UserRow>,
    pub tokens: Vec<TokenRow>,
    pub sessions: Vec<SessionRow>,
    pub auth_codes: Vec<AuthCodeRow>,
    pub host_codes: Vec<HostCodeRow>,
    pub device_codes: Vec<DeviceCodeRow>,
    pub app_names: Vec<AppNameRow>,
    pub apps: Vec<AppRow>,
    pub instances: Vec<InstanceRow>,
    pub secrets: Vec<SecretRow>,
}

impl Snapshot {
    /// `users 3, tokens 4, …`: what it holds, for progress lines.
    pub fn summary(&self) -> String {
        format!(
            "{} users, {} tokens, {} sessions, {} sign-in codes, {} app names, {} apps, \
             {} instances, {} secrets",
            self.users.len(),
            self.tokens.len(),
            self.sessions.len(),
            self.auth_codes.len() + self.host_codes.len() + self.device_codes.len(),
            self.app_names.len(),
            self.apps.len(),
            self.instances.len(),
            self.secrets.len(),
        )
    }
}
