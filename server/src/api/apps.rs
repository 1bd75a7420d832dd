//! `/apps`: import (the upload streamed and hashed here, then verified and stored by
//! `service::apps`), list, get, visibility, delete and the bundle, icon and screenshot
//! downloads.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use q8s_core::api::{AppVersions, CONTENT_DIGEST_HEADER, REPR_DIGEST_HEADER};
use serde_json::{Map, Value};

use super::extract::{ApiJson, ApiQuery, invalid_visibility};
use super::models::{self, App, AppListParams, ImportParams, Scope, VisibilityPatch};
use super::page::{List, PageRequest};
use super::parse_id;
use crate::auth::Caller;
use crate::blob::{BlobError, SpoolError, spool_upload};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::service;
use crate::state::{AppState, Metrics};
use crate::store::{AppRecord, ListKey, ListQuery, Visibility};

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(_) => ApiError::not_found("bundle"),
            other => ApiError::storage("storing the bundle", &other),
        }
    }
}

/// The app if the caller may see it; 404 otherwise (also for ids that are not UUIDs).
pub(super) async fn visible_app(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<AppRecord> {
    let id = parse_id(id, "app")?;
    match state.store.catalog.app(id).await? {
        Some(app) if caller.can_see(app.owner_id, app.visibility) => Ok(app),
        _ => Err(ApiError::not_found("app")),
    }
}

/// The app if the caller may change it: 404 when invisible, 403 when only visible.
async fn managed_app(state: &AppState, caller: &Caller, id: &str) -> ApiResult<AppRecord> {
    let app = visible_app(state, caller, id).await?;
    if !caller.can_manage(app.owner_id) {
        return Err(ApiError::forbidden(
            "only the app's owner or an admin may change it",
        ));
    }
    Ok(app)
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ErrorCode::BundleTooLarge,
        format!("the bundle is larger than the server's limit of {limit} bytes"),
    )
}

/// The sha256 the request's `Repr-Digest` (or `Content-Digest`) declares for its body;
/// 422 `invalid-request` when that header's sha-256 is malformed.
fn declared_sha256(headers: &HeaderMap) -> ApiResult<Option<String>> {
    for name in [REPR_DIGEST_HEADER, CONTENT_DIGEST_HEADER] {
        for value in headers.get_all(name) {
            let text = value.to_str().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("the {name} header is not text"),
                )
            })?;
            match q8s_core::api::declared_sha256(text) {
                Ok(Some(sha256)) => return Ok(Some(sha256)),
                Ok(None) => {}
                Err(e) => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("the {name} header is malformed: {e}"),
                    ));
                }
            }
        }
    }
    Ok(None)
}

/// Import a bundle.
///
/// The body is the `.qz` file. It is streamed to disk while hashed (never held in memory),
/// verified (within `--max-unpacked`, memory within the server's capacity), stored by its
/// sha256, and only then recorded. The App.Name must be unclaimed or the caller's.
#[utoipa::path(
    post, path = "/apps", tag = "apps",
    params(ImportParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The .qz bundle"),
    responses(
        (status = 201, description = "Imported", body = App),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "`app-name-taken`: the App.Name belongs to another user", body = ErrorBody),
        (status = 409, description = "`app-version-exists`", body = ErrorBody),
        (status = 413, description = "`bundle-too-large`", body = ErrorBody),
        (status = 422, description = "`invalid-bundle`, details hold the diagnostics (also past `--max-unpacked`, or memory above the server's capacity)", body = ErrorBody),
        (status = 507, description = "`insufficient-storage`: the server's disk is full", body = ErrorBody),
    )
)]
pub async fn import_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<App>)> {
    let result = import(&state, &caller, params, &headers, body).await;
    match &result {
        Ok(_) => Metrics::bump(&state.metrics.imports),
        Err(e) if e.status().is_client_error() => Metrics::bump(&state.metrics.imports_rejected),
        Err(_) => {}
    }
    result
}

async fn import(
    state: &AppState,
    caller: &Caller,
    params: ImportParams,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<App>)> {
    let limit = state.config.max_bundle_size;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let declared_sha256 = declared_sha256(headers)?;
    let early = declared_sha256
        .as_deref()
        .and_then(|sha| state.blobs.begin(sha, declared));
    let body = body.into_data_stream();
    let spooled = match spool_upload(body, &state.config.tmp_dir(), limit, early).await {
        Ok(s) => s,
        Err(SpoolError::TooLarge { limit }) => return Err(too_large(limit)),
        Err(SpoolError::Body(e)) => {
            return Err(ApiError::new(
                ErrorCode::UploadFailed,
                format!("reading the upload failed: {e}"),
            ));
        }
        Err(SpoolError::Io(e)) => return Err(ApiError::storage("receiving the upload", &e)),
    };
    if let Some(declared) = declared_sha256
        && declared != spooled.sha256
    {
        return Err(ApiError::new(
            ErrorCode::UploadFailed,
            format!(
                "the body's sha256 is {}, not the {declared} its digest header declares: the upload was damaged or cut short",
                spooled.sha256
            ),
        ));
    }
    state
        .metrics
        .bytes_received
        .fetch_add(spooled.size, std::sync::atomic::Ordering::Relaxed);
    let visibility = params.visibility.unwrap_or_default();
    let app = service::apps::import(state, caller, visibility, spooled).await?;
    Ok((StatusCode::CREATED, Json(models::app(app))))
}

/// List apps by Name: the latest version of each unless `versions=all`; a page of at most
/// `limit`, the next page's `cursor` in the `q8s-next-cursor` header.
#[utoipa::path(
    get, path = "/apps", tag = "apps",
    params(AppListParams),
    responses(
        (status = 200, description = "The apps", body = Vec<App>, headers(
            ("q8s-next-cursor" = String, description = "The `cursor` of the next page; absent on the last")
        )),
        (status = 400, description = "`invalid-cursor`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "`invalid-request`: an unknown `versions`, a `limit` out of range", body = ErrorBody),
    )
)]
pub async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AppListParams>,
) -> ApiResult<Response> {
    let versions = params.versions()?;
    let id_range = params.id_range()?;
    let request = PageRequest::new(List::Apps, params.limit, params.cursor.as_deref())?;
    let query = ListQuery {
        viewer_id: caller.user_id,
        viewer_admin: caller.admin,
        include_shared: params.scope.unwrap_or_default() == Scope::All,
        name: params.name.filter(|n| !n.is_empty()),
        text: params.q.filter(|q| !q.is_empty()),
        latest_only: versions == AppVersions::Latest,
        id_range,
        page: request.page.clone(),
        ..ListQuery::default()
    };
    let apps = state.store.catalog.apps(&query).await?;
    let (apps, next) = request.finish(apps, ListKey::of_app);
    let apps: Vec<App> = apps.into_iter().map(models::app).collect();
    Ok(next.answer(Json(apps)))
}

/// Get an app.
#[utoipa::path(
    get, path = "/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "App id (UUID)")),
    responses((status = 200, body = App), (status = 404, body = ErrorBody))
)]
pub async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<App>> {
    Ok(Json(models::app(visible_app(&state, &caller, &id).await?)))
}

/// Reads a visibility-only patch: any other field is `immutable-field`.
pub(super) fn visibility_patch(body: Map<String, Value>) -> ApiResult<Visibility> {
    let others: Vec<&String> = body.keys().filter(|k| *k != "visibility").collect();
    if !others.is_empty() {
        let names: Vec<Value> = others.iter().map(|k| Value::String((*k).clone())).collect();
        let list: Vec<&str> = others.iter().map(|k| k.as_str()).collect();
        return Err(ApiError::new(
            ErrorCode::ImmutableField,
            format!("only visibility can change; {} cannot", list.join(", ")),
        )
        .with_details(names));
    }
    let value = body
        .get("visibility")
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "visibility is required"))?;
    value.as_str().and_then(Visibility::parse).ok_or_else(|| {
        invalid_visibility(&match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    })
}

/// Change an app's visibility (the only thing that may change).
#[utoipa::path(
    patch, path = "/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "App id (UUID)")),
    request_body = VisibilityPatch,
    responses(
        (status = 200, body = App),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "`immutable-field` for any field but visibility", body = ErrorBody),
    )
)]
pub async fn patch_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<App>> {
    let app = managed_app(&state, &caller, &id).await?;
    let visibility = visibility_patch(body)?;
    state
        .store
        .catalog
        .set_app_visibility(app.id, visibility)
        .await?;
    let app = state
        .store
        .catalog
        .app(app.id)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    Ok(Json(models::app(app)))
}

/// Delete an app (refused while any of its instances is not terminated; FAILED ones, which run
/// nothing, are terminated with it).
#[utoipa::path(
    delete, path = "/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "App id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`app-has-instances`: an instance is neither TERMINATED nor FAILED", body = ErrorBody),
    )
)]
pub async fn delete_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = managed_app(&state, &caller, &id).await?;
    service::apps::delete(&state, &app).await?;
    tracing::info!(app = %app.id, by = %caller.username, "deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Download an app's bundle.
#[utoipa::path(
    get, path = "/apps/{id}/bundle", tag = "apps",
    params(("id" = String, Path, description = "App id (UUID)")),
    responses((status = 200, description = "The .qz file", body = Vec<u8>, content_type = "application/zip"), (status = 404, body = ErrorBody))
)]
pub async fn download_bundle(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let app = visible_app(&state, &caller, &id).await?;
    let stream = state.blobs.read(&app.bundle_sha256).await?;
    let name =
        q8s_core::bundle::bundle_file_name(&app.manifest.app.name, &app.manifest.app.version);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(app.bundle_size)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// One file of a verified bundle.
async fn bundle_entry(state: &AppState, app: &AppRecord, entry: String) -> ApiResult<Response> {
    let bytes = state.blobs.read_entry(&app.bundle_sha256, &entry).await?;
    let kind = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

/// Download an app's icon.
#[utoipa::path(
    get, path = "/apps/{id}/icon", tag = "apps",
    params(("id" = String, Path, description = "App id (UUID)")),
    responses((status = 200, description = "PNG or JPEG", body = Vec<u8>, content_type = "image/png"), (status = 404, body = ErrorBody))
)]
pub async fn download_icon(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let app = visible_app(&state, &caller, &id).await?;
    let icon = app
        .icon
        .clone()
        .ok_or_else(|| ApiError::not_found("icon"))?;
    bundle_entry(&state, &app, icon).await
}

/// Download an app's screenshot `n` (from 0, in the order of `screenshots`).
#[utoipa::path(
    get, path = "/apps/{id}/screenshots/{n}", tag = "apps",
    params(("id" = String, Path, description = "App id (UUID)"), ("n" = String, Path, description = "Index from 0")),
    responses((status = 200, description = "PNG or JPEG", body = Vec<u8>, content_type = "image/png"), (status = 404, body = ErrorBody))
)]
pub async fn download_screenshot(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
) -> ApiResult<Response> {
    let app = visible_app(&state, &caller, &id).await?;
    let shot = n
        .parse::<usize>()
        .ok()
        .and_then(|n| app.screenshots.get(n).cloned())
        .ok_or_else(|| ApiError::not_found("screenshot"))?;
    bundle_entry(&state, &app, shot).await
}
