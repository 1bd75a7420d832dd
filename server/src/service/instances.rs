//! An instance's life cycle: launch (the secret checks first), suspend, resume, terminate, and
//! the status reports of the runtime written to the instance rows. The caller has checked that
//! the instance or app may be managed.

use std::sync::Arc;

use q8s_runtime::{BundleSource, InstanceSpec, InstanceStatus, StatusSink, StatusUpdate, StopMode};
use uuid::Uuid;

use crate::api::Launcher;
use crate::api::secrets;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::{
    AppRecord, Catalog, DesiredState, InstanceRecord, NewInstance, UserRecord, Visibility,
};

/// Writes the status reports of one node's runtime to the instance rows (those of the
/// instances placed on that node: see [`Catalog::set_instance_status`]).
pub struct StoreStatusSink {
    /// Where the rows are.
    pub catalog: Arc<dyn Catalog>,
    /// The node whose runtime reports.
    pub node: String,
}

#[async_trait::async_trait]
impl StatusSink for StoreStatusSink {
    async fn update(&self, instance_id: Uuid, update: StatusUpdate) {
        let message = update.message.as_deref();
        if let Err(e) = self
            .catalog
            .set_instance_status(
                instance_id,
                &self.node,
                update.status,
                message,
                update.restarts,
            )
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
        .accounts
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
        bundle: bundle_source(state, app, instance_id).await?,
        module: runtime.module.clone(),
        env,
        volume_mount: runtime.volume_mount.clone(),
        volume_size: runtime.volume_size_bytes(),
        memory_limit: runtime.memory_limit_bytes(),
        memory_reservation: runtime.memory_reservation_bytes(),
        instance_url: state.config.instance_url(instance_id),
    })
}

/// Where the runtime gets the bundle: a file of this host for the local runtime; the server's
/// URL with a new download token for pods (`--runtime kubernetes`).
pub(crate) async fn bundle_source(
    state: &AppState,
    app: &AppRecord,
    instance_id: Uuid,
) -> ApiResult<BundleSource> {
    let Some(kubernetes) = &state.config.kubernetes else {
        return Ok(BundleSource::LocalFile(
            state.blobs.local_path(&app.bundle_sha256).await?,
        ));
    };
    let now = time::OffsetDateTime::now_utc();
    let token = state
        .bundle_tokens
        .mint(instance_id, &app.bundle_sha256, now)
        .ok_or_else(|| ApiError::internal("a bundle token", &app.bundle_sha256))?;
    Ok(BundleSource::Url {
        url: kubernetes.bundle_url(instance_id),
        token: Some(token),
    })
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

/// Launches an instance of `app` for `caller`: the secret checks run before anything is
/// recorded; a start the runtime refuses leaves the instance `FAILED` with why. Its id.
pub async fn launch(
    state: &AppState,
    app: &AppRecord,
    caller: &Caller,
    visibility: Visibility,
) -> ApiResult<Uuid> {
    let id = Uuid::new_v4();
    // The secret checks run before anything is recorded.
    let spec = instance_spec(state, app, id, Launcher::caller(caller)).await?;
    let new = NewInstance {
        id,
        app_id: app.id,
        owner_id: caller.user_id,
        visibility,
        node: state.node.name.clone(),
    };
    state.store.catalog.insert_instance(&new).await?;
    if let Err(e) = state.runtime.start(spec).await {
        let message = format!("could not start: {e}");
        state
            .store
            .catalog
            .set_instance_status(
                id,
                &state.node.name,
                InstanceStatus::Failed,
                Some(&message),
                0,
            )
            .await?;
        return Err(e.into());
    }
    Ok(id)
}

/// Suspends `instance`: its processes stop, its volume stays (409 `instance-terminated` once
/// terminated).
pub async fn suspend(state: &AppState, instance: &InstanceRecord) -> ApiResult<()> {
    not_terminated(instance)?;
    crate::cluster::take(state, instance.id).await?;
    state
        .store
        .catalog
        .set_desired_state(
            instance.id,
            DesiredState::Suspended,
            InstanceStatus::Suspended,
        )
        .await?;
    state.runtime.stop(instance.id, StopMode::Suspend).await?;
    state
        .store
        .catalog
        .set_instance_status(
            instance.id,
            &state.node.name,
            InstanceStatus::Suspended,
            None,
            instance.restarts,
        )
        .await?;
    Ok(())
}

/// Resumes a suspended (or failed) `instance`, for its owner: their rights to the secrets
/// count, also when an admin resumes it.
pub async fn resume(state: &AppState, instance: &InstanceRecord) -> ApiResult<()> {
    not_terminated(instance)?;
    let app = state
        .store
        .catalog
        .app(instance.app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    // The instance runs for its owner: their rights count, also when an admin resumes it.
    let owner = owner_of(state, instance).await?;
    let spec = instance_spec(state, &app, instance.id, Launcher::user(&owner)).await?;
    claim_for_resume(state, instance, &app).await?;
    if instance.desired != DesiredState::Running || instance.status == InstanceStatus::Failed {
        state
            .store
            .catalog
            .set_desired_state(instance.id, DesiredState::Running, InstanceStatus::Pending)
            .await?;
    }
    state.runtime.start(spec).await?;
    Ok(())
}

/// What a sleeping instance's status says while it wakes.
pub const WAKING: &str = "waking up: a request came";

/// Wakes `instance`, asleep after being idle, for a request through the proxy: started as on a
/// resume (for its owner, placed here), but only while it is still asleep, so that of
/// concurrent wakes on any replica one starts it. Whether this one did. An error says why it
/// cannot wake: before anything changed (a secret it cannot have, its volume's replica gone),
/// or the runtime refused the start (then it is `FAILED` with the reason).
pub async fn wake(state: &AppState, instance: &InstanceRecord) -> ApiResult<bool> {
    let app = state
        .store
        .catalog
        .app(instance.app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    let owner = owner_of(state, instance).await?;
    let spec = instance_spec(state, &app, instance.id, Launcher::user(&owner)).await?;
    claim_for_resume(state, instance, &app).await?;
    if !state.store.catalog.wake(instance.id, WAKING).await? {
        return Ok(false);
    }
    state.runtime.note(instance.id, "woken by a request").await;
    if let Err(e) = state.runtime.start(spec).await {
        let message = format!("could not wake: {e}");
        state
            .store
            .catalog
            .set_instance_status(
                instance.id,
                &state.node.name,
                InstanceStatus::Failed,
                Some(&message),
                instance.restarts,
            )
            .await?;
        return Err(e.into());
    }
    Ok(true)
}

/// Terminates `instance`: processes stopped, volume removed; the record stays, `TERMINATED`.
pub async fn terminate(state: &AppState, instance: &InstanceRecord) -> ApiResult<()> {
    crate::cluster::take(state, instance.id).await?;
    state
        .store
        .catalog
        .set_desired_state(
            instance.id,
            DesiredState::Terminated,
            InstanceStatus::Terminated,
        )
        .await?;
    state.runtime.stop(instance.id, StopMode::Terminate).await?;
    Ok(())
}

/// Places `instance` on this replica before it resumes here (a living replica that runs it got
/// the request relayed instead: see `cluster`). An instance with a volume stays where its
/// volume is: 503 `replica-unavailable` while that replica is gone.
async fn claim_for_resume(
    state: &AppState,
    instance: &InstanceRecord,
    app: &AppRecord,
) -> ApiResult<()> {
    if app.manifest.runtime.volume_mount.is_some()
        && let Some(node) = state.store.cluster.placement(instance.id).await?
        && node != state.node.name
    {
        return Err(ApiError::new(
            ErrorCode::ReplicaUnavailable,
            format!(
                "its volume is on replica `{node}`, which is not running; start that replica \
                 again, or terminate the instance and launch a new one"
            ),
        ));
    }
    crate::cluster::take(state, instance.id).await?;
    Ok(())
}
