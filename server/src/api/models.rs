//! The JSON shapes of the API (service design: App, Instance, …) and their conversion from
//! store records.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::config::Config;
use crate::runtime::InstanceStatus;
use crate::store::{AppRecord, InstanceRecord, Visibility};

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An imported app version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct App {
    /// Stable id.
    pub id: Uuid,
    /// `App.Name` of the manifest.
    pub name: String,
    /// `App.Version`.
    pub version: String,
    /// `App.Title`.
    pub title: Option<String>,
    /// `App.Description`.
    pub description: Option<String>,
    /// `App.Category`.
    pub category: Option<String>,
    /// `App.Keywords`.
    pub keywords: Vec<String>,
    /// The importer's username.
    pub owner: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// Import time (RFC 3339 UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last change (RFC 3339 UTC).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The bundle.
    pub bundle: BundleRef,
    /// `<name>.<version>/<icon file name>`, or null.
    pub icon_location: Option<String>,
    /// `<name>.<version>/<screenshot file name>` for each screenshot (download with
    /// `/apps/{id}/screenshots/{n}`, `n` from 0).
    pub screenshots: Vec<String>,
    /// `[Runtime]` of the manifest, as written.
    pub runtime: RuntimeSettings,
    /// `[[Env]]` of the manifest.
    pub env: Vec<EnvVar>,
    /// Instances not terminated.
    pub instance_count: u64,
}

/// Where an app's bundle is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BundleRef {
    /// `<name>.<version>.qz`.
    pub location: String,
    /// Lowercase hex sha256 of the bundle.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// `[Runtime]` of a manifest.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuntimeSettings {
    /// `Runtime.Module`.
    pub module: String,
    /// `Runtime.VolumeMount`.
    pub volume_mount: Option<String>,
    /// `Runtime.VolumeSize` (a quantity such as `1Gi`).
    pub volume_size: Option<String>,
    /// `Runtime.MemoryLimit`.
    pub memory_limit: Option<String>,
    /// `Runtime.MemoryReservation`.
    pub memory_reservation: Option<String>,
}

/// One `[[Env]]` entry: a variable filled from a secret's key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnvVar {
    /// Environment variable name.
    pub name: String,
    /// Secret name.
    pub secret: String,
    /// Key in the secret.
    pub secret_key: String,
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl From<AppRecord> for App {
    fn from(r: AppRecord) -> Self {
        let m = r.manifest;
        let base = format!("{}.{}", m.app.name, m.app.version);
        App {
            id: r.id,
            bundle: BundleRef {
                location: q8s_core::bundle::bundle_file_name(&m.app.name, &m.app.version),
                sha256: r.bundle_sha256,
                size: r.bundle_size,
            },
            icon_location: r
                .icon
                .as_deref()
                .map(|i| format!("{base}/{}", file_name(i))),
            screenshots: r
                .screenshots
                .iter()
                .map(|s| format!("{base}/{}", file_name(s)))
                .collect(),
            name: m.app.name,
            version: m.app.version,
            title: m.app.title,
            description: m.app.description,
            category: m.app.category,
            keywords: m.app.keywords,
            owner: r.owner,
            visibility: r.visibility,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            runtime: RuntimeSettings {
                module: m.runtime.module,
                volume_mount: m.runtime.volume_mount,
                volume_size: m.runtime.volume_size,
                memory_limit: m.runtime.memory_limit,
                memory_reservation: m.runtime.memory_reservation,
            },
            env: m
                .env
                .into_iter()
                .map(|e| EnvVar {
                    name: e.name,
                    secret: e.secret,
                    secret_key: e.secret_key,
                })
                .collect(),
            instance_count: r.instance_count,
        }
    }
}

/// A running (or stopped) copy of an app.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Instance {
    /// Stable id; the instance is reached at `http://<id>.<domain>:<port>/`.
    pub id: Uuid,
    /// The app it runs.
    pub app_id: Uuid,
    /// The app's name.
    pub app_name: String,
    /// The app's version.
    pub app_version: String,
    /// Who launched it.
    pub owner: String,
    /// Who may see and open it.
    pub visibility: Visibility,
    /// `PENDING` → `STARTING` → `RUNNING`; `SUSPENDED`, `FAILED`, `TERMINATED`.
    pub status: InstanceStatus,
    /// Why (pending reason, failure, last crash such as `OOMKilled`).
    pub status_message: Option<String>,
    /// Restarts after crashes.
    pub restarts: u32,
    /// Where to open it.
    pub url: String,
    /// Launch time (RFC 3339 UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last change (RFC 3339 UTC).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl Instance {
    /// The JSON form of a stored instance.
    pub fn from_record(r: InstanceRecord, config: &Config) -> Self {
        Instance {
            url: config.instance_url(r.id),
            id: r.id,
            app_id: r.app_id,
            app_name: r.app_name,
            app_version: r.app_version,
            owner: r.owner,
            visibility: r.visibility,
            status: r.status,
            status_message: r.status_message,
            restarts: r.restarts,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// `scope` of list endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The caller's own.
    #[default]
    Mine,
    /// Own plus everything shared with all users (admins: everything).
    All,
}

/// Query of `GET /apps`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppListParams {
    /// `mine` (default) or `all`.
    pub scope: Option<Scope>,
    /// Only apps with exactly this name.
    pub name: Option<String>,
    /// Only apps whose title, description or keywords contain this text (any case).
    pub q: Option<String>,
}

/// Query of `GET /instances`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstanceListParams {
    /// `mine` (default) or `all`.
    pub scope: Option<Scope>,
}

/// Query of `POST /apps`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Who may see the app [default: PRIVATE].
    pub visibility: Option<Visibility>,
}

/// Body of the visibility PATCH endpoints: only `visibility` may change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VisibilityPatch {
    /// The new visibility.
    pub visibility: Visibility,
}

/// Body of `POST /apps/{id}/instances`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInstanceBody {
    /// Who may see and open the instance [default: PRIVATE].
    pub visibility: Option<Visibility>,
}

/// Query of `GET /instances/{id}/logs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Only the last `tail` lines.
    pub tail: Option<usize>,
    /// Keep the stream open until the instance stops.
    pub follow: Option<bool>,
}

/// A secret's name and keys (values are never returned).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Secret {
    /// The secret's name.
    pub name: String,
    /// Its keys.
    pub keys: Vec<String>,
}

/// Body of `PUT /secrets/{name}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// Key → value.
    pub data: std::collections::BTreeMap<String, String>,
}

/// A user account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Sign-in name.
    pub username: String,
    /// Admins manage users, secrets and every app and instance.
    pub admin: bool,
    /// Creation time (RFC 3339 UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Body of `POST /users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Sign-in name: lowercase letters, digits, `.`, `_`, `-` (1–64, starting with a letter
    /// or digit).
    pub username: String,
    /// The password; generated (and returned once) when absent.
    pub password: Option<String>,
    /// Make the user an admin.
    #[serde(default)]
    pub admin: bool,
}

/// Answer of `POST /users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    /// The new user.
    pub user: User,
    /// The generated password, when none was given (shown once).
    pub password: Option<String>,
}

/// Body of `POST /tokens`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// A label for the token [default: `api`].
    pub name: Option<String>,
}

/// Answer of `POST /tokens`: the token is shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// Id, to revoke it with `DELETE /tokens/{id}`.
    pub id: Uuid,
    /// The label.
    pub name: String,
    /// The secret: send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Creation time (RFC 3339 UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Answer of `/healthz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The metadata store answers.
    pub store: bool,
    /// The blob store answers.
    pub blob_store: bool,
}
