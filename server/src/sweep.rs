//! Frees the disk of what no app uses any more: the runtime's extracted bundles and the
//! environments only they used. A sweep runs at start, every `--gc-interval` and right after an
//! app is deleted; the store says which bundles apps still use, the runtime keeps whatever its
//! instances use or prepare. The periodic sweep also removes stored bundles no app names once
//! past `--blob-grace`, at most every quarter of it (a pass lists the whole blob store).

use std::time::{Duration, Instant};

use crate::blob::orphans;
use crate::state::AppState;

/// One sweep.
pub(crate) async fn sweep(state: &AppState) {
    let mut unused = Vec::new();
    for sha256 in state.runtime.extracted_bundles() {
        match state.store.catalog.bundle_in_use(&sha256).await {
            Ok(true) => {}
            Ok(false) => unused.push(sha256),
            Err(e) => {
                tracing::warn!(error = %e, "garbage collection skipped: the store did not answer");
                return;
            }
        }
    }
    let collected = state.runtime.collect_garbage(&unused).await;
    if collected.bundles + collected.environments > 0 {
        tracing::info!(
            bundles = collected.bundles,
            environments = collected.environments,
            "removed extracted bundles and environments no app uses"
        );
    }
}

/// Sweeps now and then every `every`, until aborted; removes orphaned blobs every
/// `--blob-grace / 4` or `every`, whichever is longer (the start removed them just before).
pub(crate) async fn sweep_periodically(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let grace = state.config.blob_grace;
    let orphans_every = (grace / 4).max(every);
    let mut orphans_last = Instant::now();
    loop {
        tick.tick().await;
        sweep(&state).await;
        if orphans_last.elapsed() >= orphans_every {
            orphans_last = Instant::now();
            let catalog = state.store.catalog.as_ref();
            if let Err(e) = orphans::remove_orphans(catalog, state.blobs.as_ref(), grace).await {
                tracing::warn!(error = %e, "removing stored bundles no app names");
            }
        }
    }
}
