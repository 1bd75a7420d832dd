//! The JSON shapes of the API: the answers are core's `q8s_core::api::types` — the very types
//! the clients (CLI, Python, wasm) read them with — built here from store records; the
//! request bodies and queries only the server reads are defined here.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub use q8s_core::api::AppName;
pub use q8s_core::api::{
    App, BundleRef, CreatedToken, CreatedUser, EnvVar, Instance, RuntimeSettings,
    SecretAccessChange, SecretInfo as Secret, SecretWrite, Token, User,
};

use q8s_core::api::{AppVersions, StatusFilter, UnknownValue};

use crate::config::Config;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{AppRecord, InstanceRecord, Visibility};
pub use crate::timestamp::rfc3339;

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The JSON form of a stored app.
pub fn app(r: AppRecord) -> App {
    let m = r.manifest;
    let base = format!("{}.{}", m.app.name, m.app.version);
    App {
        id: r.id.to_string(),
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
            idle_suspend: m.runtime.idle_suspend,
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

/// The JSON form of a stored instance.
pub fn instance(r: InstanceRecord, config: &Config) -> Instance {
    Instance {
        url: config.instance_url(r.id),
        id: r.id.to_string(),
        app_id: r.app_id.to_string(),
        app_icon_location: r
            .app_icon
            .as_deref()
            .map(|i| format!("{}.{}/{}", r.app_name, r.app_version, file_name(i))),
        app_name: r.app_name,
        app_version: r.app_version,
        app_title: r.app_title,
        owner: r.owner,
        visibility: r.visibility,
        status: r.status,
        status_message: r.status_message,
        restarts: r.restarts,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
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
    /// Only apps whose id starts with this (any case): how a short id is looked up.
    pub id_prefix: Option<String>,
    /// `latest` (default): the most recently imported version of each Name; `all`: every
    /// version.
    pub versions: Option<String>,
    /// How many items a page holds: 1 to 1000, 100 when left out.
    pub limit: Option<u32>,
    /// Where the page starts: the `q8s-next-cursor` header of the page before (left out: the
    /// first page).
    pub cursor: Option<String>,
}

/// Query of `GET /instances`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstanceListParams {
    /// `mine` (default) or `all`.
    pub scope: Option<Scope>,
    /// `live` (default): every status but `TERMINATED`; `all`; or statuses separated by
    /// commas (`RUNNING,FAILED`, any case). The `q8s-terminated-omitted` response header
    /// counts the terminated instances the list leaves out.
    pub status: Option<String>,
    /// Only instances whose id starts with this (any case): how a short id is looked up.
    pub id_prefix: Option<String>,
    /// How many items a page holds: 1 to 1000, 100 when left out.
    pub limit: Option<u32>,
    /// Where the page starts: the `q8s-next-cursor` header of the page before (left out: the
    /// first page).
    pub cursor: Option<String>,
}

impl AppListParams {
    /// The `versions` parameter; an unknown value is a 422 naming it.
    pub fn versions(&self) -> ApiResult<AppVersions> {
        query_value("versions", self.versions.as_deref())
    }

    /// The ids `id_prefix` names; 422 when it starts no id.
    pub fn id_range(&self) -> ApiResult<Option<(Uuid, Uuid)>> {
        id_range(self.id_prefix.as_deref())
    }
}

impl InstanceListParams {
    /// The `status` parameter; an unknown value is a 422 naming it.
    pub fn status(&self) -> ApiResult<StatusFilter> {
        query_value("status", self.status.as_deref())
    }

    /// The ids `id_prefix` names; 422 when it starts no id.
    pub fn id_range(&self) -> ApiResult<Option<(Uuid, Uuid)>> {
        id_range(self.id_prefix.as_deref())
    }
}

/// The first and last id starting with `prefix` (core's rule); 422 when no id can.
fn id_range(prefix: Option<&str>) -> ApiResult<Option<(Uuid, Uuid)>> {
    let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let range = q8s_core::api::id_prefix_range(prefix).and_then(|(first, last)| {
        Some((Uuid::parse_str(&first).ok()?, Uuid::parse_str(&last).ok()?))
    });
    match range {
        Some(range) => Ok(Some(range)),
        None => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "id_prefix `{prefix}` starts no id: ids are UUIDs such as \
                 0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01 (hex digits, dashes at 9, 14, 19 and 24)"
            ),
        )),
    }
}

/// A query parameter read with its core parser; absent is the default.
fn query_value<T>(name: &str, text: Option<&str>) -> ApiResult<T>
where
    T: std::str::FromStr<Err = UnknownValue> + Default,
{
    text.map_or_else(
        || Ok(T::default()),
        |text| {
            text.parse().map_err(|e: UnknownValue| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("query parameter `{name}`: {e}"),
                )
            })
        },
    )
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

/// Body of `POST /tokens`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// A label for the token [default: `api`].
    pub name: Option<String>,
}

/// Query of `GET /tokens`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenListParams {
    /// `mine` (default) or `all`: every user's tokens (admins only).
    pub scope: Option<Scope>,
    /// How many items a page holds: 1 to 1000, 100 when left out.
    pub limit: Option<u32>,
    /// Where the page starts: the `q8s-next-cursor` header of the page before (left out: the
    /// first page).
    pub cursor: Option<String>,
}

/// Query of the lists without filters (`GET /users`, `GET /secrets`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items a page holds: 1 to 1000, 100 when left out.
    pub limit: Option<u32>,
    /// Where the page starts: the `q8s-next-cursor` header of the page before (left out: the
    /// first page).
    pub cursor: Option<String>,
}

/// Body of `PUT /app-names/{name}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppNameBody {
    /// The username the Name goes to.
    pub owner: String,
}

/// Answer of `/healthz`: the process serves (nothing else is asked).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    pub status: String,
}

/// Answer of `/readyz`: whether this replica can serve requests now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The metadata store answers.
    pub store: bool,
    /// The blob store answers.
    pub blob_store: bool,
    /// What does not answer (`store`, `blob_store`); empty when ready.
    pub failing: Vec<String>,
}
