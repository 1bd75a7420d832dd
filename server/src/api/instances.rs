//! `/instances`: launch (with the secret checks), list, get, visibility, suspend, resume,
//! terminate and logs.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::apps::{visibility_patch, visible_app};
use super::extract::{ApiJson, ApiQuery};
use super::models::{
    self, Instance, InstanceListParams, LogParams, NewInstanceBody, Scope, VisibilityPatch,
};
use super::parse_id;
use super::secrets::{self, Launcher};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::state::AppState;
use crate::store::{
    AppRecord, DesiredState, InstanceRecord, ListQuery, NewInstance, Store, UserRecord,
};
use q8s_runtime::{
    BundleSource, InstanceSpec, InstanceStatus, RuntimeError, StatusSink, StatusUpdate, StopMode,
};

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

/// Writes the runtime's status reports to the instance rows.
pub struct StoreStatusSink(pub std::sync::Arc<dyn Store>);

#[async_trait::async_trait]
impl StatusSink for StoreStatusSink {
    async fn update(&self, instance_id: Uuid, update: StatusUpdate) {
        let message = update.message.as_deref();
        if let Err(e) = self
            .0
            .set_instance_status(instance_id, update.status, message, update.restarts)
            .await
        {
            tracing::error!(instance = %instance_id, error = %e, "recording an instance status");
        }
    }
}

/// The owner of `instance` (whom it runs for).
async fn owner_of(state: &AppState, instance: &InstanceRecord) -> ApiResult<UserRecord> {
    state
        .store
        .user(instance.owner_id)
        .await?
        .ok_or_else(|| ApiError::internal("finding the instance's owner", instance.owner_id))
}

/// Builds what the runtime needs to run `instance_id` of `app` for `launcher`: the bundle as a
/// local file and every `[[Env]]` resolved from its secret — 403 `secret-forbidden` or 422
/// `missing-secret` when that cannot be (`secrets::environment`).
pub async fn instance_spec(
    state: &AppState,
    app: &AppRecord,
    instance_id: Uuid,
    launcher: Launcher<'_>,
) -> ApiResult<InstanceSpec> {
    let env = secrets::environment(state, app, launcher).await?;
    let runtime = &app.manifest.runtime;
    Ok(InstanceSpec {
        instance_id,
        app_id: app.id,
        owner_id: app.owner_id,
        app_name: app.manifest.app.name.clone(),
        app_version: app.manifest.app.version.clone(),
        bundle_sha256: app.bundle_sha256.clone(),
        bundle: BundleSource::LocalFile(state.blobs.local_path(&app.bundle_sha256).await?),
        module: runtime.module.clone(),
        env,
        volume_mount: runtime.volume_mount.clone(),
        volume_size: runtime.volume_size_bytes(),
        memory_limit: runtime.memory_limit_bytes(),
        memory_reservation: runtime.memory_reservation_bytes(),
        instance_url: state.config.instance_url(instance_id),
    })
}

async fn visible_instance(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<InstanceRecord> {
    let id = parse_id(id, "instance")?;
    match state.store.instance(id).await? {
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
        .instance(id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(Json(models::instance(record, &state.config)))
}

fn not_terminated(instance: &InstanceRecord) -> ApiResult<()> {
    if instance.desired == DesiredState::Terminated {
        return Err(ApiError::new(
            ErrorCode::InstanceTerminated,
            "the instance was terminated; launch a new one",
        ));
    }
    Ok(())
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
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?
    };
    let id = Uuid::new_v4();
    // The secret checks run before anything is recorded.
    let spec = instance_spec(&state, &app, id, Launcher::caller(&caller)).await?;
    let new = NewInstance {
        id,
        app_id: app.id,
        owner_id: caller.user_id,
        visibility: body.visibility.unwrap_or_default(),
    };
    state.store.insert_instance(&new).await?;
    if let Err(e) = state.runtime.start(spec).await {
        let message = format!("could not start: {e}");
        state
            .store
            .set_instance_status(id, InstanceStatus::Failed, Some(&message), 0)
            .await?;
        return Err(e.into());
    }
    tracing::info!(instance = %id, app = %app.id, owner = %caller.username, "launched");
    Ok((StatusCode::CREATED, answer(&state, id).await?))
}

/// List instances.
#[utoipa::path(
    get, path = "/instances", tag = "instances",
    params(InstanceListParams),
    responses((status = 200, body = Vec<Instance>), (status = 401, body = ErrorBody))
)]
pub async fn list_instances(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<InstanceListParams>,
) -> ApiResult<Json<Vec<Instance>>> {
    let query = ListQuery {
        viewer_id: caller.user_id,
        viewer_admin: caller.admin,
        include_shared: params.scope.unwrap_or_default() == Scope::All,
        ..ListQuery::default()
    };
    let records = state.store.instances(&query).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| models::instance(r, &state.config))
            .collect(),
    ))
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
    not_terminated(&instance)?;
    state
        .store
        .set_desired_state(
            instance.id,
            DesiredState::Suspended,
            InstanceStatus::Suspended,
        )
        .await?;
    state.runtime.stop(instance.id, StopMode::Suspend).await?;
    state
        .store
        .set_instance_status(
            instance.id,
            InstanceStatus::Suspended,
            None,
            instance.restarts,
        )
        .await?;
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
    not_terminated(&instance)?;
    let app = state
        .store
        .app(instance.app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    // The instance runs for its owner: their rights count, also when an admin resumes it.
    let owner = owner_of(&state, &instance).await?;
    let spec = instance_spec(&state, &app, instance.id, Launcher::user(&owner)).await?;
    if instance.desired != DesiredState::Running || instance.status == InstanceStatus::Failed {
        state
            .store
            .set_desired_state(instance.id, DesiredState::Running, InstanceStatus::Pending)
            .await?;
    }
    state.runtime.start(spec).await?;
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
    state
        .store
        .set_desired_state(
            instance.id,
            DesiredState::Terminated,
            InstanceStatus::Terminated,
        )
        .await?;
    state.runtime.stop(instance.id, StopMode::Terminate).await?;
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
