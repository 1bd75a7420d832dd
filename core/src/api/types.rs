//! The JSON shapes of the q8s REST API (`/api/v1`), field for field as the server writes them.
//!
//! Ids are kept as strings and times as the server's RFC 3339 text, so a value read from the
//! server and written again is the same JSON (the CLI's `-o json` relies on it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::secret::SecretAccess;

/// Who may see an app or an instance besides its owner and the admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Visibility {
    /// Its owner and admins.
    #[default]
    Private,
    /// Every signed-in user.
    AllUsers,
}

impl Visibility {
    /// Both values, `PRIVATE` first.
    pub const ALL: [Visibility; 2] = [Visibility::Private, Visibility::AllUsers];

    /// The wire form: `PRIVATE` or `ALL_USERS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "PRIVATE",
            Visibility::AllUsers => "ALL_USERS",
        }
    }

    /// The exact wire form only (what the API and the store accept; [`FromStr`] is the
    /// lenient parse for people).
    pub fn parse(text: &str) -> Option<Self> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that is not a [`Visibility`] or an [`InstanceStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {expected}")]
pub struct UnknownValue {
    /// The text given.
    pub value: String,
    /// What would have been accepted, in words.
    pub expected: &'static str,
}

impl FromStr for Visibility {
    type Err = UnknownValue;

    /// Accepts the wire forms in any case, and `ALL-USERS`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "PRIVATE" => Ok(Visibility::Private),
            "ALL_USERS" => Ok(Visibility::AllUsers),
            _ => Err(UnknownValue {
                value: s.to_owned(),
                expected: "PRIVATE or ALL_USERS",
            }),
        }
    }
}

/// Where an instance is in its life: `PENDING` → `STARTING` → `RUNNING`, and `SUSPENDED`,
/// `FAILED`, `TERMINATED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    /// Accepted, waiting for memory or preparation.
    Pending,
    /// Extracting, installing or waiting for the app to answer.
    Starting,
    /// Serving.
    Running,
    /// Stopped by its owner; the volume is kept.
    Suspended,
    /// Could not start, or crashed too often; `status_message` says why.
    Failed,
    /// Stopped for good.
    Terminated,
}

impl InstanceStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [InstanceStatus; 6] = [
        InstanceStatus::Pending,
        InstanceStatus::Starting,
        InstanceStatus::Running,
        InstanceStatus::Suspended,
        InstanceStatus::Failed,
        InstanceStatus::Terminated,
    ];

    /// The wire form (`RUNNING`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Pending => "PENDING",
            InstanceStatus::Starting => "STARTING",
            InstanceStatus::Running => "RUNNING",
            InstanceStatus::Suspended => "SUSPENDED",
            InstanceStatus::Failed => "FAILED",
            InstanceStatus::Terminated => "TERMINATED",
        }
    }

    /// True for the statuses an instance leaves only when someone acts: `RUNNING`,
    /// `SUSPENDED`, `FAILED` and `TERMINATED`.
    pub fn is_settled(self) -> bool {
        !matches!(self, InstanceStatus::Pending | InstanceStatus::Starting)
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstanceStatus {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InstanceStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownValue {
                value: s.to_owned(),
                expected: "an instance status (PENDING, STARTING, RUNNING, SUSPENDED, FAILED, TERMINATED)",
            })
    }
}

/// An imported app version (`GET /apps/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct App {
    /// Stable id (a UUID).
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
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
    /// Import time, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// Last change, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    /// The stored bundle.
    pub bundle: BundleRef,
    /// `<name>.<version>/<icon file name>`, when the bundle has an icon.
    pub icon_location: Option<String>,
    /// `<name>.<version>/<file name>` of each screenshot (download with
    /// `/apps/{id}/screenshots/{n}`, `n` from 0).
    pub screenshots: Vec<String>,
    /// `[Runtime]` of the manifest.
    pub runtime: RuntimeSettings,
    /// `[[Env]]` of the manifest.
    pub env: Vec<EnvVar>,
    /// Instances that are not terminated.
    pub instance_count: u64,
}

impl App {
    /// `Title Version` as lists show it (the name when there is no title).
    pub fn title_and_version(&self) -> String {
        format!(
            "{} {}",
            self.title.as_deref().unwrap_or(&self.name),
            self.version
        )
    }
}

/// Where an app's bundle is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BundleRef {
    /// `<name>.<version>.qz`.
    pub location: String,
    /// Lowercase hex sha256 of the bundle.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// `[Runtime]` of a manifest, as written there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// `Runtime.IdleSuspend` (a duration such as `30m`, or `never`).
    #[serde(default)]
    pub idle_suspend: Option<String>,
}

/// One `[[Env]]` entry: a variable filled from a secret's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVar {
    /// Environment variable name.
    pub name: String,
    /// Secret name.
    pub secret: String,
    /// Key in the secret.
    pub secret_key: String,
}

/// A running (or stopped) copy of an app (`GET /instances/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Instance {
    /// Stable id (a UUID); the instance is reached at `http://<id>.<domain>:<port>/`.
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    /// The app it runs.
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub app_id: String,
    /// The app's name.
    pub app_name: String,
    /// The app's version.
    pub app_version: String,
    /// The app's `App.Title`, if it has one (cards and tables show it before the Name).
    #[serde(default)]
    pub app_title: Option<String>,
    /// The app's icon, as its `icon_location` (fetched from `GET /apps/{app_id}/icon`).
    #[serde(default)]
    pub app_icon_location: Option<String>,
    /// Who launched it.
    pub owner: String,
    /// Who may see and open it.
    pub visibility: Visibility,
    /// `PENDING` → `STARTING` → `RUNNING`; `SUSPENDED`, `FAILED`, `TERMINATED`.
    pub status: InstanceStatus,
    /// Why: a pending reason, a failure, the last crash (such as `OOMKilled`).
    pub status_message: Option<String>,
    /// Restarts after crashes.
    pub restarts: u32,
    /// Where to open it.
    pub url: String,
    /// Launch time, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// Last change, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
}

/// A secret's name and keys (values are never returned), and for admins its access rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Secret))]
pub struct SecretInfo {
    /// The secret's name.
    pub name: String,
    /// Its keys.
    pub keys: Vec<String>,
    /// Who may use it: in admins' answers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<SecretAccess>,
}

/// An app Name and the user it belongs to: only they import versions under it (answer of
/// `PUT /app-names/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppName {
    /// The `App.Name`.
    pub name: String,
    /// The username of its owner.
    pub owner: String,
}

/// A user account; also the answer of `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Sign-in name.
    pub username: String,
    /// Admins manage users, secrets and every app and instance.
    pub admin: bool,
    /// Creation time, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
}

/// Who the client is signed in as (`GET /me`).
pub type Me = User;

/// The answer of `POST /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedUser {
    /// The new user.
    pub user: User,
    /// The generated password, when none was given (shown once).
    pub password: Option<String>,
}

/// The answer of `POST /tokens`: the token is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    /// Id, to revoke it with `DELETE /tokens/{id}`.
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    /// Its label.
    pub name: String,
    /// The secret to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Creation time, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
}

/// An API token as `GET /tokens` lists it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    /// Id, to revoke it with `DELETE /tokens/{id}`.
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    /// Its label (several tokens may share one).
    pub name: String,
    /// The username of its owner.
    pub owner: String,
    /// Creation time, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// When it was last used, RFC 3339 UTC, to within a minute; `null` if never.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_used_at: Option<String>,
    /// Whether it is the token this very request was sent with.
    pub current: bool,
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, as the server says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable kebab-case code, e.g. `app-version-exists` (every one is in `docs/api.md`).
    pub code: String,
    /// One sentence for people.
    pub message: String,
    /// Structured details: diagnostics of a bad bundle, missing secrets, …
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>, required = true))]
    pub details: Vec<serde_json::Value>,
}

/// The answer of `POST /oauth/device/code` (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    /// The secret the client polls with.
    pub device_code: String,
    /// What the user types, `XXXX-XXXX`.
    pub user_code: String,
    /// The page where the user types it.
    pub verification_uri: String,
    /// The same page with the code filled in.
    pub verification_uri_complete: Option<String>,
    /// Seconds between polls.
    pub interval: u64,
    /// Seconds the codes stay valid.
    pub expires_in: u64,
}

/// A successful answer of `POST /oauth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAnswer {
    /// The new API token.
    pub access_token: String,
    /// Its id, to revoke it with `DELETE /api/v1/tokens/{id}` (a q8s extension: absent from
    /// older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Always `Bearer`.
    pub token_type: String,
}

/// An error answer of `POST /oauth/token` (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    /// `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, `invalid_grant`…
    pub error: String,
    /// One sentence for people.
    pub error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_round_trips_the_documented_json() {
        let doc = json!({
            "id": "0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01",
            "name": "ai.h2o.q8s.hello", "version": "0.1.0",
            "title": "Hello q8s", "description": "A small H2O Wave app", "category": "Other",
            "keywords": ["hello", "example", "wave"],
            "owner": "admin", "visibility": "ALL_USERS",
            "created_at": "2026-11-28T07:40:02.113Z", "updated_at": "2026-11-28T07:40:02.113Z",
            "bundle": {"location": "ai.h2o.q8s.hello.0.1.0.qz", "sha256": "9f2c", "size": 41873},
            "icon_location": "ai.h2o.q8s.hello.0.1.0/icon.png",
            "screenshots": ["ai.h2o.q8s.hello.0.1.0/screenshot-1.png"],
            "runtime": {"module": "hello.app", "volume_mount": null, "volume_size": null,
                        "memory_limit": "256Mi", "memory_reservation": "128Mi",
                        "idle_suspend": null},
            "env": [{"name": "TOKEN", "secret": "s", "secret_key": "k"}],
            "instance_count": 0
        });
        let app: App = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(app.visibility, Visibility::AllUsers);
        assert_eq!(app.title_and_version(), "Hello q8s 0.1.0");
        assert_eq!(serde_json::to_value(&app).unwrap(), doc);
    }

    #[test]
    fn instance_round_trips() {
        let doc = json!({"id": "5d0e", "app_id": "0b5c", "app_name": "ai.h2o.q8s.hello",
            "app_version": "0.1.0", "app_title": "Hello q8s",
            "app_icon_location": "ai.h2o.q8s.hello.0.1.0/icon.png", "owner": "admin", "visibility": "PRIVATE",
            "status": "PENDING", "status_message": null, "restarts": 0,
            "url": "http://5d0e.localhost:8008/", "created_at": "t", "updated_at": "t"});
        let instance: Instance = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(instance.status, InstanceStatus::Pending);
        assert_eq!(serde_json::to_value(&instance).unwrap(), doc);
    }

    #[test]
    fn words_parse_in_any_case() {
        assert_eq!(
            "all_users".parse::<Visibility>().unwrap(),
            Visibility::AllUsers
        );
        assert_eq!(
            "ALL-USERS".parse::<Visibility>().unwrap(),
            Visibility::AllUsers
        );
        assert!("public".parse::<Visibility>().is_err());
        assert_eq!(
            "running".parse::<InstanceStatus>().unwrap(),
            InstanceStatus::Running
        );
        assert!(InstanceStatus::Failed.is_settled() && !InstanceStatus::Starting.is_settled());
        for status in InstanceStatus::ALL {
            assert_eq!(status.as_str().parse::<InstanceStatus>().unwrap(), status);
        }
    }

    #[test]
    fn error_details_default_to_empty() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error": {"code": "not-found", "message": "app not found"}}"#)
                .unwrap();
        assert!(body.error.details.is_empty());
    }
}
