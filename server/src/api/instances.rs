//! `/instances`: launch, list, get, visibility, suspend, resume, terminate and logs. Who may
//! see and manage what is checked here; the life cycle itself is `service::instances`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::apps::{visibility_patch, visible_app};
use super::extract::{ApiJson, ApiQuery, read_body};
use super::models::{
    self, Instance, InstanceListParams, LogParams, NewInstanceBody, Scope, VisibilityPatch,
};
use super::page::{List, PageRequest};
use super::parse_id;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::service::instances as lifecycle;
use crate::state::AppState;
use crate::store::{InstanceRecord, ListKey, ListQuery};
use q8s_core::api::{InstanceStatus, StatusFilter, TERMINATED_OMITTED_HEADER};
use q8s_runtime::RuntimeError;

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        let code = match &e {
            RuntimeError::ShuttingDown => ErrorCode::RuntimeShuttingDown,
            RuntimeError::InvalidSpec(_) => ErrorCode::InvalidInstanceSpec,
            RuntimeError::Io { .. } => ErrorCode::RuntimeIo,
        };
        if code == ErrorCode::RuntimeIo {
            tracing::error!(error = %e, "runtime error");
        }
        ApiError::new(code, e.to_string())
    }
}

async fn visible_instance(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<InstanceRecord> {
    let id = parse_id(id, "instance")?;
    match state.store.catalog.instance(id).await? {
        Some(i) if caller.can_see(i.owner_id, i.visibility) => Ok(i),
        _ => Err(ApiError::not_found("instance")),
    }
}

async fn managed_instance(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<InstanceRecord> {
    let instance = visible_instance(state, caller, id).await?;
    if !caller.can_manage(instance.owner_id) {
        return Err(ApiError::forbidden(
            "only the instance's owner or an admin may do this",
        ));
    }
    Ok(instance)
}

async fn answer(state: &AppState, id: Uuid) -> ApiResult<Json<Instance>> {
    let record = state
        .store
        .catalog
        .instance(id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(Json(models::instance(record, &state.config)))
}

/// Launch an instance of an app.
#[utoipa::path(
    post, path = "/apps/{id}/instances", tag = "instances",
    params(("id" = String, Path, description = "App id (UUID)")),
    request_body(content = NewInstanceBody, description = "Optional; visibility defaults to PRIVATE"),
    responses(
        (status = 201, body = Instance), (status = 404, body = ErrorBody),
        (status = 403, description = "`secret-forbidden`: details name each secret the caller may not use in this app", body = ErrorBody),
        (status = 422, description = "`missing-secret`: details name each absent secret/key", body = ErrorBody),
    )
)]
pub async fn create_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Instance>)> {
    let app = visible_app(&state, &caller, &id).await?;
    let body: NewInstanceBody = if body.iter().all(u8::is_ascii_whitespace) {
        NewInstanceBody::default()
    } else {
        read_body(&body)?
    };
    let visibility = body.visibility.unwrap_or_default();
    let id = lifecycle::launch(&state, &app, &caller, visibility).await?;
    tracing::info!(instance = %id, app = %app.id, owner = %caller.username, "launched");
    Ok((StatusCode::CREATED, answer(&state, id).await?))
}

/// List instances: the live ones (not `TERMINATED`) newest first unless `status` says
/// otherwise; the `q8s-terminated-omitted` header counts the terminated ones left out. A page
/// of at most `limit`, the next page's `cursor` in the `q8s-next-cursor` header.
#[utoipa::path(
    get, path = "/instances", tag = "instances",
    params(InstanceListParams),
    responses(
        (status = 200, body = Vec<Instance>, headers(
            ("q8s-terminated-omitted" = u64, description = "How many terminated instances the list leaves out"),
            ("q8s-next-cursor" = String, description = "The `cursor` of the next page; absent on the last")
        )),
        (status = 400, description = "`invalid-cursor`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "`invalid-request`: an unknown `status`, a `limit` out of range", body = ErrorBody),
    )
)]
pub async fn list_instances(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<InstanceListParams>,
) -> ApiResult<Response> {
    let status = params.status()?;
    let request = PageRequest::new(List::Instances, params.limit, params.cursor.as_deref())?;
    let statuses = match &status {
        StatusFilter::All => None,
        filter => Some(
            InstanceStatus::ALL
                .into_iter()
                .filter(|s| filter.admits(*s))
                .collect(),
        ),
    };
    let query = ListQuery {
        viewer_id: caller.user_id,
        viewer_admin: caller.admin,
        include_shared: params.scope.unwrap_or_default() == Scope::All,
        statuses,
        id_range: params.id_range()?,
        page: request.page.clone(),
        ..ListQuery::default()
    };
    let terminated_omitted = if status.admits(InstanceStatus::Terminated) {
        0
    } else {
        state.store.catalog.terminated_count(&query).await?
    };
    let records = state.store.catalog.instances(&query).await?;
    let (records, next) = request.finish(records, |r| ListKey::time(r.created_at, r.id));
    let list: Vec<Instance> = records
        .into_iter()
        .map(|r| models::instance(r, &state.config))
        .collect();
    Ok(next.answer((
        [(TERMINATED_OMITTED_HEADER, terminated_omitted.to_string())],
        Json(list),
    )))
}

/// Get an instance.
#[utoipa::path(
    get, path = "/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "Instance id (UUID)")),
    responses((status = 200, body = Instance), (status = 404, body = ErrorBody))
)]
pub async fn get_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Instance>> {
    let instance = visible_instance(&state, &caller, &id).await?;
    Ok(Json(models::instance(instance, &state.config)))
}

/// Change an instance's visibility.
#[utoipa::path(
    patch, path = "/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "Instance id (UUID)")),
    request_body = VisibilityPatch,
    responses((status = 200, body = Instance), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn patch_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<Instance>> {
    let instance = managed_instance(&state, &caller, &id).await?;
    let visibility = visibility_patch(body)?;
    state
        .store
        .catalog
        .set_instance_visibility(instance.id, visibility)
        .await?;
    answer(&state, instance.id).await
}

/// Suspend an instance: its processes stop, its volume stays.
#[utoipa::path(
    post, path = "/instances/{id}/suspend", tag = "instances",
    params(("id" = String, Path, description = "Instance id (UUID)")),
    responses((status = 200, body = Instance), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn suspend_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Instance>> {
    let instance = managed_instance(&state, &caller, &id).await?;
    lifecycle::suspend(&state, &instance).await?;
    answer(&state, instance.id).await
}

/// Resume a suspended (or failed) instance.
#[utoipa::path(
    post, path = "/instances/{id}/resume", tag = "instances",
    params(("id" = String, Path, description = "Instance id (UUID)")),
    responses((status = 200, body = Instance), (status = 403, description = "`secret-forbidden` (the owner's rights count)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn resume_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Instance>> {
    let instance = managed_instance(&state, &caller, &id).await?;
    lifecycle::resume(&state, &instance).await?;
    answer(&state, instance.id).await
}

/// Terminate an instance: processes stopped, volume removed. The record stays, TERMINATED.
#[utoipa::path(
    delete, path = "/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "Instance id (UUID)")),
    responses((status = 204, description = "Terminated"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn terminate_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let instance = managed_instance(&state, &caller, &id).await?;
    lifecycle::terminate(&state, &instance).await?;
    tracing::info!(instance = %instance.id, by = %caller.username, "terminated");
    Ok(StatusCode::NO_CONTENT)
}

/// An instance's log: installer, Qd and app lines, each prefixed `yyyy/mm/dd HH:MM:SS # `.
#[utoipa::path(
    get, path = "/instances/{id}/logs", tag = "instances",
    params(("id" = String, Path, description = "Instance id (UUID)"), LogParams),
    responses((status = 200, description = "Chunked text", body = String, content_type = "text/plain"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn instance_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<Response> {
    let instance = managed_instance(&state, &caller, &id).await?;
    let stream = state
        .runtime
        .logs(instance.id, params.tail, params.follow.unwrap_or(false))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
