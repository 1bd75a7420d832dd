//! The metadata store: users, credentials, apps, instances and secrets.
//!
//! The server sees four traits, one per concern — [`Accounts`] (users, API tokens),
//! [`Sessions`] (what sign-in keeps: browser sessions, one-time codes, device authorizations),
//! [`Catalog`] (apps, app Names, instances) and [`Secrets`] — gathered in [`Stores`].
//! [`SqliteStore`] implements all four in one SQLite file in the data directory, and
//! [`PostgresStore`] in a PostgreSQL database that several server replicas share. The traits
//! speak in records and plain values, never in SQL: each implementation keeps its own SQL in
//! its folder (`sqlite/`, `postgres/`), held to the same behaviour by the `conformance`
//! suite. Uniqueness (user names, app name + version, app Name owners, user
//! codes) is enforced by database constraints and reported as [`StoreError::Conflict`], never
//! checked in code first.

mod cluster;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod list;
mod postgres;
mod schema;
pub mod snapshot;
mod sqlite;

use std::sync::Arc;

use q8s_core::manifest::Manifest;
use time::OffsetDateTime;
use uuid::Uuid;

pub use cluster::{Cluster, NodeRecord};
pub use list::{ListKey, ListQuery, Page};
pub use postgres::{PoolSettings, PostgresStore};
pub use sqlite::SqliteStore;

use q8s_runtime::InstanceStatus;

pub use q8s_core::api::Visibility;
pub use q8s_core::api::{SecretAccess, SecretAccessChange, SecretUsers};

/// What the owner wants an instance to be; reconciliation brings reality back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DesiredState {
    /// Should run (and is started again after a server restart).
    Running,
    /// Stopped by its owner, volume kept.
    Suspended,
    /// Stopped for good, volume removed.
    Terminated,
}

impl DesiredState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "RUNNING",
            DesiredState::Suspended => "SUSPENDED",
            DesiredState::Terminated => "TERMINATED",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RUNNING" => Some(DesiredState::Running),
            "SUSPENDED" => Some(DesiredState::Suspended),
            "TERMINATED" => Some(DesiredState::Terminated),
            _ => None,
        }
    }
}

/// A user account.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Stable id.
    pub id: Uuid,
    /// Unique sign-in name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// May manage users, secrets and everything else.
    pub admin: bool,
    /// When the account was created.
    pub created_at: OffsetDateTime,
}

/// An API token (its secret is only ever stored hashed).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Stable id, used to revoke it.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// A label chosen by the user (`q8s-cli on laptop`).
    pub name: String,
    /// When it was minted.
    pub created_at: OffsetDateTime,
    /// When it was last used, to within a minute (`None`: never).
    pub last_used_at: Option<OffsetDateTime>,
}

/// A sign-in session of a browser.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The user signed in.
    pub user_id: Uuid,
    /// For an instance host (`<id>.<domain>`): the only host the session is good for. `None`
    /// for the main site.
    pub host: Option<String>,
    /// After this the session is void.
    pub expires_at: OffsetDateTime,
}

/// A pending loopback (PKCE) authorization code.
#[derive(Debug, Clone)]
pub struct AuthCodeRecord {
    /// Who approved it.
    pub user_id: Uuid,
    /// The OAuth client (`q8s-cli`).
    pub client_id: String,
    /// The redirect URI it was issued for; the token request must repeat it.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// After this the code is void.
    pub expires_at: OffsetDateTime,
}

/// The state of a device authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceGrant {
    /// Nobody has approved or denied it yet.
    Pending,
    /// Approved by this user.
    Approved(Uuid),
    /// Denied.
    Denied,
}

/// A device authorization (RFC 8628).
#[derive(Debug, Clone)]
pub struct DeviceCodeRecord {
    /// The short code the user types on `/device`.
    pub user_code: String,
    /// What happened so far.
    pub grant: DeviceGrant,
    /// The polling interval the client must respect, in seconds.
    pub interval_secs: u32,
    /// The last poll, to answer `slow_down`.
    pub last_polled_at: Option<OffsetDateTime>,
    /// After this the codes are void.
    pub expires_at: OffsetDateTime,
}

/// A new app, about to be inserted (its bundle is already in the blob store).
#[derive(Debug, Clone)]
pub struct NewApp {
    /// Fresh id.
    pub id: Uuid,
    /// The importer.
    pub owner_id: Uuid,
    /// Who may see it.
    pub visibility: Visibility,
    /// The verified manifest (name and version come from it).
    pub manifest: Manifest,
    /// Hex sha256 of the bundle: its blob key.
    pub bundle_sha256: String,
    /// Bundle size in bytes.
    pub bundle_size: u64,
    /// Path of the icon inside the bundle.
    pub icon: Option<String>,
    /// Paths of the screenshots inside the bundle.
    pub screenshots: Vec<String>,
}

/// An app as stored.
#[derive(Debug, Clone)]
pub struct AppRecord {
    /// Stable id.
    pub id: Uuid,
    /// The importer's id.
    pub owner_id: Uuid,
    /// The importer's username.
    pub owner: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// The verified manifest.
    pub manifest: Manifest,
    /// Hex sha256 of the bundle.
    pub bundle_sha256: String,
    /// Bundle size in bytes.
    pub bundle_size: u64,
    /// Path of the icon inside the bundle.
    pub icon: Option<String>,
    /// Paths of the screenshots inside the bundle.
    pub screenshots: Vec<String>,
    /// Instances not yet terminated.
    pub instance_count: u64,
    /// Import time.
    pub created_at: OffsetDateTime,
    /// Last change (visibility).
    pub updated_at: OffsetDateTime,
}

/// A new instance, about to be inserted.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Fresh id.
    pub id: Uuid,
    /// The app it runs.
    pub app_id: Uuid,
    /// Who launched it.
    pub owner_id: Uuid,
    /// Who may see and open it.
    pub visibility: Visibility,
    /// The node (server replica) that runs it: the only one that starts it, stops it and
    /// writes its status.
    pub node: String,
}

/// An instance as stored.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    /// Stable id (also its host name).
    pub id: Uuid,
    /// The app it runs.
    pub app_id: Uuid,
    /// The app's name.
    pub app_name: String,
    /// The app's version.
    pub app_version: String,
    /// The app's title.
    pub app_title: Option<String>,
    /// The app's icon: its path in the bundle.
    pub app_icon: Option<String>,
    /// The launcher's id.
    pub owner_id: Uuid,
    /// The launcher's username.
    pub owner: String,
    /// Who may see and open it.
    pub visibility: Visibility,
    /// What the owner asked for.
    pub desired: DesiredState,
    /// What the runtime reported last.
    pub status: InstanceStatus,
    /// Why (pending reason, failure, last crash).
    pub status_message: Option<String>,
    /// Suspended by the server for being idle (`--idle-suspend`): the next request through the
    /// proxy wakes it. False for an instance suspended by hand, which does not wake by itself.
    pub asleep: bool,
    /// Restarts after crashes.
    pub restarts: u32,
    /// Launch time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A secret's name, keys and access rule (never its values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// The secret's name.
    pub name: String,
    /// Its keys, sorted.
    pub keys: Vec<String>,
    /// Who may use it (usernames and app Names sorted).
    pub access: SecretAccess,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. app name + version exists).
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A referenced row does not exist.
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// The disk holding the database is full: nothing was written.
    #[error("the database's disk is full")]
    Full,
    /// A stored value could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// What a write collided with, in the store's terms (the API chooses the error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// A user of that name exists.
    #[error("a user of that name exists")]
    UserName,
    /// A token has that hash (two random secrets never collide: a bug, not a user's mistake).
    #[error("a token has that hash")]
    TokenHash,
    /// A device authorization has that user code.
    #[error("a device authorization has that user code")]
    UserCode,
    /// An app of that name and version exists.
    #[error("an app of that name and version exists")]
    AppVersion,
    /// The app name belongs to another user.
    #[error("the app name belongs to another user")]
    AppOwner,
    /// The app has instances that are not terminated.
    #[error("the app has instances that are not terminated")]
    AppInstances,
}

/// `%text%` in lower case with `%`, `_` and `\` escaped, for `LIKE … ESCAPE '\'` against
/// lower-cased columns: how both SQL stores look for [`ListQuery::text`].
fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Short alias for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The stores the server uses, one per concern. One database usually backs them all
/// ([`Stores::new`]); each part of the server takes only the one it needs.
#[derive(Clone)]
pub struct Stores {
    /// Users and API tokens.
    pub accounts: Arc<dyn Accounts>,
    /// What sign-in keeps: browser sessions and one-time codes.
    pub sessions: Arc<dyn Sessions>,
    /// Apps, their Names and instances.
    pub catalog: Arc<dyn Catalog>,
    /// Secrets and their access rules.
    pub secrets: Arc<dyn Secrets>,
    /// The replicas sharing the store, the leader, where instances run.
    pub cluster: Arc<dyn Cluster>,
}

impl Stores {
    /// Every concern kept by one store.
    pub fn new<S: Accounts + Sessions + Catalog + Secrets + Cluster>(store: Arc<S>) -> Self {
        Stores {
            accounts: store.clone(),
            sessions: store.clone(),
            catalog: store.clone(),
            secrets: store.clone(),
            cluster: store,
        }
    }
}

/// Users and their API tokens.
#[async_trait::async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Checks that the database answers (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a user; [`Conflict::UserName`] when the name is taken.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        admin: bool,
    ) -> StoreResult<UserRecord>;
    /// The user with this id.
    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// The user with this name.
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Users by name (byte order), the part `page` asks for.
    async fn users(&self, page: &Page) -> StoreResult<Vec<UserRecord>>;
    /// How many users exist (zero on first start).
    async fn user_count(&self) -> StoreResult<u64>;

    /// Stores a token by its hash; [`Conflict::TokenHash`] when a token has that hash. Names
    /// are labels, not keys: a user may have several tokens of one name.
    async fn create_token(
        &self,
        user_id: Uuid,
        name: &str,
        token_hash: &str,
    ) -> StoreResult<TokenRecord>;
    /// The token with this hash and the user owning it.
    async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(TokenRecord, UserRecord)>>;
    /// The tokens of `user_id` (every user's when `None`), oldest first (creation time, then
    /// id), the part `page` asks for.
    async fn tokens(&self, user_id: Option<Uuid>, page: &Page) -> StoreResult<Vec<TokenRecord>>;
    /// Records that the token `id` was used at `at` (a later use already recorded stays).
    async fn record_token_use(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;
    /// Revokes a token of `user_id` (any user's when `user_id` is `None`); false if none.
    async fn delete_token(&self, id: Uuid, user_id: Option<Uuid>) -> StoreResult<bool>;
}

/// What sign-in keeps: browser sessions, loopback authorization codes, instance-host hand-off
/// codes and device authorizations, each by the hash of its secret and void after its expiry.
#[async_trait::async_trait]
pub trait Sessions: Send + Sync + 'static {
    /// Stores a session by its hash.
    async fn create_session(&self, session_hash: &str, session: &SessionRecord) -> StoreResult<()>;
    /// A session that has not expired.
    async fn session(&self, session_hash: &str) -> StoreResult<Option<SessionRecord>>;
    /// Signs a session out.
    async fn delete_session(&self, session_hash: &str) -> StoreResult<()>;

    /// Stores an authorization code by its hash.
    async fn create_auth_code(&self, code_hash: &str, code: &AuthCodeRecord) -> StoreResult<()>;
    /// Removes and returns the code: a code is redeemed at most once (the caller checks its
    /// expiry).
    async fn take_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCodeRecord>>;
    /// Stores a hand-off code for an instance host.
    async fn create_host_code(
        &self,
        code_hash: &str,
        user_id: Uuid,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Removes the hand-off code and returns its user when it had not expired.
    async fn take_host_code(&self, code_hash: &str) -> StoreResult<Option<Uuid>>;

    /// Stores a device authorization; [`Conflict::UserCode`] when the user code is taken.
    async fn create_device_code(
        &self,
        device_code_hash: &str,
        record: &DeviceCodeRecord,
    ) -> StoreResult<()>;
    /// The device authorization with this device code (expired or not: the caller answers
    /// `expired_token`).
    async fn device_code(&self, device_code_hash: &str) -> StoreResult<Option<DeviceCodeRecord>>;
    /// Records a poll and the (possibly raised) interval.
    async fn touch_device_code(
        &self,
        device_code_hash: &str,
        polled_at: OffsetDateTime,
        interval_secs: u32,
    ) -> StoreResult<()>;
    /// Approves or denies a pending authorization by its user code; false when there is no
    /// pending, unexpired authorization with that code.
    async fn decide_device_code(
        &self,
        user_code: &str,
        grant: DeviceGrant,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Forgets a device authorization (redeemed, denied or expired).
    async fn delete_device_code(&self, device_code_hash: &str) -> StoreResult<()>;

    /// Removes expired sessions and codes (device authorizations an hour after their expiry,
    /// so a late poll still hears `expired_token`).
    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<()>;

    /// Counts one failed attempt against `key` (a throttle's key, e.g. `sign-ins/address/…`)
    /// at `now`: a new window ending at `now + window` when the key has none running.
    /// Returns the failures in the key's window and when that window ends.
    async fn count_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: std::time::Duration,
    ) -> StoreResult<(u32, OffsetDateTime)>;
    /// Forgets the failures counted against `key`.
    async fn forget_failures(&self, key: &str) -> StoreResult<()>;
}

/// Apps, the Names they are imported under, and the instances that run them.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// Inserts an app, claiming its Name for its owner when nobody has it;
    /// [`Conflict::AppOwner`] when the Name belongs to another user (checked first, so it
    /// tells nothing of that user's versions), [`Conflict::AppVersion`] when name + version
    /// exists.
    async fn insert_app(&self, app: &NewApp) -> StoreResult<AppRecord>;
    /// The app with this id.
    async fn app(&self, id: Uuid) -> StoreResult<Option<AppRecord>>;
    /// Apps matching the query (`statuses` is ignored), by name (byte order), import time and
    /// id; with `latest_only` the last of each name among those matching.
    async fn apps(&self, query: &ListQuery) -> StoreResult<Vec<AppRecord>>;
    /// Changes an app's visibility.
    async fn set_app_visibility(&self, id: Uuid, visibility: Visibility) -> StoreResult<()>;
    /// Deletes an app with its terminated and FAILED instances (a FAILED instance runs
    /// nothing); returns the ids of the FAILED ones, for the runtime to clean up.
    /// [`Conflict::AppInstances`] while another instance is not terminated.
    async fn delete_app(&self, id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Whether any app refers to this bundle.
    async fn bundle_in_use(&self, sha256: &str) -> StoreResult<bool>;

    /// The user an app Name belongs to, if anyone imported it or was given it (Names compare
    /// without regard to case).
    async fn app_name_owner(&self, name: &str) -> StoreResult<Option<Uuid>>;
    /// Gives an app Name to a user, whether or not anyone had it.
    async fn set_app_name_owner(&self, name: &str, owner_id: Uuid) -> StoreResult<()>;

    /// Inserts an instance (PENDING, desired RUNNING).
    async fn insert_instance(&self, instance: &NewInstance) -> StoreResult<InstanceRecord>;
    /// The instance with this id.
    async fn instance(&self, id: Uuid) -> StoreResult<Option<InstanceRecord>>;
    /// Instances matching the query (`name`, `text` and `latest_only` are ignored), newest
    /// first (launch time, then id, both descending).
    async fn instances(&self, query: &ListQuery) -> StoreResult<Vec<InstanceRecord>>;
    /// How many terminated instances the query's scope holds (its other fields are ignored).
    async fn terminated_count(&self, query: &ListQuery) -> StoreResult<u64>;
    /// Every instance whose desired state is running and that is placed on `node` (what that
    /// node's reconciliation keeps running).
    async fn instances_to_run(&self, node: &str) -> StoreResult<Vec<InstanceRecord>>;
    /// Changes an instance's visibility.
    async fn set_instance_visibility(&self, id: Uuid, visibility: Visibility) -> StoreResult<()>;
    /// Sets what the owner wants, and the status that goes with asking for it; the instance is
    /// no longer asleep (a suspend by hand is not a sleep).
    async fn set_desired_state(
        &self,
        id: Uuid,
        desired: DesiredState,
        status: InstanceStatus,
    ) -> StoreResult<()>;
    /// Records what the runtime of `node` reports. Ignored unless the instance is placed on
    /// `node` (a node it was moved away from cannot overwrite what its new node says), and
    /// for a terminated instance unless the report says terminated too, so a late report
    /// cannot bring it back. A sleeping instance reported `SUSPENDED` without a message keeps
    /// the reason it sleeps.
    async fn set_instance_status(
        &self,
        id: Uuid,
        node: &str,
        status: InstanceStatus,
        message: Option<&str>,
        restarts: u32,
    ) -> StoreResult<()>;
    /// How many instances have each status.
    async fn instance_status_counts(&self) -> StoreResult<Vec<(InstanceStatus, u64)>>;
    /// Puts an instance to sleep: desired `SUSPENDED`, asleep, status `SUSPENDED` with
    /// `message` — only while it should run and is placed on `node` (a suspend by hand, a
    /// terminate or a move that came first wins). Whether it did.
    async fn put_to_sleep(&self, id: Uuid, node: &str, message: &str) -> StoreResult<bool>;
    /// Wakes a sleeping instance: desired `RUNNING`, no longer asleep, status `PENDING` with
    /// `message` — only while it is asleep, so that of concurrent wakes (on any replica) one
    /// does it. Whether this one did.
    async fn wake(&self, id: Uuid, message: &str) -> StoreResult<bool>;
    /// How many instances are asleep.
    async fn sleeping_count(&self) -> StoreResult<u64>;
}

/// Secrets: their values, and who may use them.
#[async_trait::async_trait]
pub trait Secrets: Send + Sync + 'static {
    /// Creates or replaces a secret with exactly these keys (at least one) and changes its rule
    /// as `change` says: a new secret starts admins-only, for any app. Usernames the change
    /// names must exist (the caller checks; unknown ones are left out).
    async fn put_secret(
        &self,
        name: &str,
        data: &[(String, String)],
        change: &SecretAccessChange,
    ) -> StoreResult<SecretRecord>;
    /// Changes a secret's rule, values untouched; `NotFound` when there is no such secret.
    async fn set_secret_access(
        &self,
        name: &str,
        change: &SecretAccessChange,
    ) -> StoreResult<SecretRecord>;
    /// Deletes a secret; false when it did not exist.
    async fn delete_secret(&self, name: &str) -> StoreResult<bool>;
    /// Secrets with their keys and rules, by name (byte order), the part `page` asks for.
    async fn secrets(&self, page: &Page) -> StoreResult<Vec<SecretRecord>>;
    /// One secret with its keys and rule.
    async fn secret(&self, name: &str) -> StoreResult<Option<SecretRecord>>;
    /// One value, for the runtime only.
    async fn secret_value(&self, name: &str, key: &str) -> StoreResult<Option<String>>;
}
