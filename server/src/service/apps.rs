//! An app's use cases: import (a spooled upload verified, checked against the server's limits
//! and the Name's owner, stored) and delete (with what the runtime keeps of its failed
//! instances). The caller has received the upload or checked that the app may be managed.

use std::io::BufReader;

use q8s_core::bundle::BundleError;
use q8s_runtime::StopMode;
use uuid::Uuid;

use crate::api::name_taken;
use crate::auth::Caller;
use crate::blob::{Spooled, orphans};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::{AppRecord, Conflict, NewApp, StoreError, Visibility};

/// 422 `invalid-bundle` with every diagnostic as a detail.
fn invalid_bundle(message: String, diagnostics: &[q8s_core::Diagnostic]) -> ApiError {
    let details = diagnostics
        .iter()
        .filter_map(|d| serde_json::to_value(d).ok())
        .collect();
    ApiError::new(ErrorCode::InvalidBundle, message).with_details(details)
}

/// Imports the bundle in `spooled` for `caller` with `visibility`: 422 `invalid-bundle` when it
/// does not verify or asks for more memory than the server has, 409 when the Name is another
/// user's or the version exists. Nothing of a refused import is kept.
pub async fn import(
    state: &AppState,
    caller: &Caller,
    visibility: Visibility,
    spooled: Spooled,
) -> ApiResult<AppRecord> {
    if spooled.size == 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidBundle,
            "the body is empty: send the .qz file",
        ));
    }
    let (path, limits) = (spooled.file.to_path_buf(), state.config.archive_limits());
    let inspected = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|source| BundleError::Io {
            context: "opening the upload".into(),
            source,
        })?;
        q8s_core::bundle::inspect_archive(BufReader::with_capacity(1 << 16, file), limits)
    })
    .await
    .map_err(|e| ApiError::internal("verifying the bundle", e))?;
    let report = match inspected {
        Ok(report) => report,
        Err(BundleError::Invalid(diagnostics)) => {
            let message = BundleError::Invalid(diagnostics.clone()).to_string();
            return Err(invalid_bundle(message, &diagnostics));
        }
        Err(BundleError::Io { context, source }) => {
            // Reading our own file does not fail; a short or garbled archive does.
            return Err(ApiError::new(
                ErrorCode::InvalidBundle,
                format!("the bundle cannot be read as a .qz archive ({context}: {source})"),
            ));
        }
    };
    let manifest = match report
        .content
        .manifest
        .clone()
        .filter(|_| report.is_valid())
    {
        Some(m) => m,
        None => {
            let diagnostics = &report.content.diagnostics;
            let first = diagnostics.iter().find(|d| d.is_error());
            let message = first.map_or("the bundle is invalid".into(), |d| d.message.clone());
            return Err(invalid_bundle(message, diagnostics));
        }
    };
    if let Some(ceiling) = state.config.instance_memory_ceiling() {
        let above = manifest.runtime.check_memory_capacity(ceiling);
        if let Some(first) = above.first() {
            return Err(invalid_bundle(first.message.clone(), &above));
        }
    }
    // Another user's Name is refused before anything is stored; the insert decides again,
    // atomically, for a Name claimed or transferred meanwhile.
    let name_owner = state
        .store
        .catalog
        .app_name_owner(&manifest.app.name)
        .await?;
    if name_owner.is_some_and(|owner| owner != caller.user_id) {
        return Err(name_taken(&manifest.app.name));
    }
    let sha256 = spooled.sha256.clone();
    let size = spooled.size;
    state
        .blobs
        .adopt(&sha256, spooled.file, spooled.early)
        .await?;
    let new = NewApp {
        id: Uuid::new_v4(),
        owner_id: caller.user_id,
        visibility,
        manifest,
        bundle_sha256: sha256.clone(),
        bundle_size: size,
        icon: report.content.icon.clone(),
        screenshots: report.content.screenshots.clone(),
    };
    match state.store.catalog.insert_app(&new).await {
        Ok(app) => {
            tracing::info!(app = %app.id, name = %new.manifest.app.name, version = %new.manifest.app.version, owner = %caller.username, "imported");
            Ok(app)
        }
        Err(StoreError::Conflict(conflict)) => {
            // A different bundle of the same version may have won; identical bytes are the
            // winner's blob and stay.
            if !state.store.catalog.bundle_in_use(&sha256).await? {
                state.blobs.delete(&sha256).await?;
            }
            if conflict == Conflict::AppOwner {
                return Err(name_taken(&new.manifest.app.name));
            }
            Err(ApiError::new(
                ErrorCode::AppVersionExists,
                format!(
                    "app {} {} already exists; bump App.Version to import a new version",
                    new.manifest.app.name, new.manifest.app.version
                ),
            ))
        }
        Err(e) => {
            if !state
                .store
                .catalog
                .bundle_in_use(&sha256)
                .await
                .unwrap_or(true)
            {
                let _ = state.blobs.delete(&sha256).await;
            }
            Err(e.into())
        }
    }
}

/// Removes a deleted app's bundle `sha256` when no app names it and it is past the grace
/// period (another replica may be importing the same bytes again); a younger one goes with a
/// later sweep.
async fn remove_if_orphan(state: &AppState, sha256: &str) -> ApiResult<()> {
    let (catalog, grace) = (state.store.catalog.as_ref(), state.config.blob_grace);
    orphans::remove_if_orphan(catalog, state.blobs.as_ref(), sha256, grace).await?;
    Ok(())
}

/// Deletes `app` (409 `app-has-instances` while an instance is neither `TERMINATED` nor
/// `FAILED`), its failed instances' remains in the runtime, and its bundle when no other app
/// uses it (now, or with a later sweep while it is younger than `--blob-grace`); a sweep then
/// removes its extracted bundle and environment.
pub async fn delete(state: &AppState, app: &AppRecord) -> ApiResult<()> {
    let failed = match state.store.catalog.delete_app(app.id).await {
        Ok(failed) => failed,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                ErrorCode::AppHasInstances,
                "the app has instances that are not terminated; terminate them first",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    // FAILED instances went with the app: whatever the runtime keeps of them (a volume, a
    // log's handle) goes too.
    for instance in failed {
        if let Err(e) = state.runtime.stop(instance, StopMode::Terminate).await {
            tracing::warn!(%instance, error = %e, "cleaning up a failed instance of a deleted app");
        }
    }
    remove_if_orphan(state, &app.bundle_sha256).await?;
    // Its extracted bundle and environment go now rather than with the next periodic sweep.
    let sweeping = state.clone();
    tokio::spawn(async move { crate::sweep::sweep(&sweeping).await });
    Ok(())
}
