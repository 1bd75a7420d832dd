//! An app's use cases: import (a spooled upload verified, checked against the server's limits
//! and the Name's owner, stored) and delete (with what the runtime keeps of its failed
//! instances). The caller has received the upload or checked that the app may be managed.

use std::io::BufReader;
use std::time::{Duration, Instant};

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
/// does not verify or asks for more memory than the server has, 403 `app-name-taken` when the
/// Name is another user's, 409 `app-version-exists` when the version exists. A refused import
/// keeps no app; a bundle it already stored (refused by the insert, after a race) is an orphan
/// like a deleted app's, removed once past `--blob-grace`.
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
    let verifying = Instant::now();
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
    let (sha256, size, received) = (spooled.sha256.clone(), spooled.size, spooled.took);
    let storing = Instant::now();
    let verified = storing - verifying;
    state
        .blobs
        .adopt(&sha256, spooled.file, spooled.early)
        .await?;
    let stored = storing.elapsed();
    #[cfg(debug_assertions)]
    pause_before_insert().await;
    let inserting = Instant::now();
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
    let refused = match state.store.catalog.insert_app(&new).await {
        Ok(app) => {
            // The phases' times (receive and hash, verify, store, insert): where an import's
            // time goes, per store (bench/README.md).
            let ms = |d: Duration| d.as_millis() as u64;
            tracing::info!(
                app = %app.id, name = %new.manifest.app.name, version = %new.manifest.app.version,
                owner = %caller.username, size, received_ms = ms(received),
                verified_ms = ms(verified), stored_ms = ms(stored),
                inserted_ms = ms(inserting.elapsed()), "imported"
            );
            return Ok(app);
        }
        Err(StoreError::Conflict(Conflict::AppOwner)) => name_taken(&new.manifest.app.name),
        Err(StoreError::Conflict(_)) => ApiError::new(
            ErrorCode::AppVersionExists,
            format!(
                "app {} {} already exists; bump App.Version to import a new version",
                new.manifest.app.name, new.manifest.app.version
            ),
        ),
        Err(e) => e.into(),
    };
    // The refusal is the answer: a bundle that cannot be removed now goes with a later sweep.
    if let Err(e) = remove_if_orphan(state, &sha256).await {
        tracing::warn!(%sha256, error = %e.message, "leaving a refused import's bundle to the sweep");
    }
    Err(refused)
}

/// Removes the bundle `sha256` of a deleted app or a refused import when no app names it and it
/// is past the grace period; a younger one goes with a later sweep. Another import of the same
/// bytes (on this replica or another) may have stored it again and not yet inserted its app:
/// "no app names it" alone would remove the bundle under that app.
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

/// Debug builds only (never compiled into a release): waits `Q8S_TEST_PAUSE_BEFORE_INSERT_MS`
/// milliseconds between storing an import's bundle and inserting its app, so that a test can
/// interleave two imports at that point (`server/tests/import_race.rs`).
#[cfg(debug_assertions)]
async fn pause_before_insert() {
    let pause = std::env::var("Q8S_TEST_PAUSE_BEFORE_INSERT_MS").ok();
    if let Some(ms) = pause.and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
