//! A request for a sleeping instance wakes it: the first starts it (once, whatever the number
//! of requests at once: the store's compare-and-set decides), and every request waits until
//! the instance answers, then goes on. A browser's page load waits a few seconds at most, then
//! gets the "starting" page, which reloads by itself. A wake that fails answers why.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use q8s_runtime::forward::pages;
use q8s_runtime::{InstanceStatus, Upstream};

use crate::proxy::status_page;
use crate::service::instances as lifecycle;
use crate::state::{AppState, Metrics};
use crate::store::{DesiredState, InstanceRecord};

/// How long a browser's page load waits for a wake before it gets the "starting" page.
const PAGE_HOLD: Duration = Duration::from_secs(5);
/// How often a waiting request looks for the instance's upstream (in memory).
const POLL: Duration = Duration::from_millis(10);
/// Every how many polls it reads the instance's status (did the start fail?).
const STATUS_EVERY: u32 = 20;

/// The upstream of `record`, which has none right now: when it sleeps, or this replica is
/// waking it, once it answers (woken here first when it sleeps). Otherwise — it is suspended by
/// hand, starting for another reason, failed — or when the wake fails or takes too long, the
/// page to answer with. `page_load`: a browser navigates (it gets the "starting" page soon).
pub(crate) async fn upstream_after_wake(
    state: &AppState,
    record: &InstanceRecord,
    page_load: bool,
) -> Result<Upstream, Response> {
    let id = record.id;
    let track = state.idle.track(id);
    if record.asleep {
        let _busy = track.busy.lock().await;
        if !track.waking.swap(true, Ordering::SeqCst) {
            match lifecycle::wake(state, record).await {
                Ok(true) => {
                    Metrics::bump(&state.metrics.instance_wakes);
                    tracing::info!(instance = %id, "woken by a request");
                }
                // Woken by another replica or resumed meanwhile: wait all the same.
                Ok(false) => {}
                Err(e) => {
                    track.waking.store(false, Ordering::SeqCst);
                    tracing::info!(instance = %id, error = %e.message, "cannot wake");
                    return Err(wake_failed(&e.message));
                }
            }
        }
    } else if !track.waking.load(Ordering::SeqCst) {
        return Err(status_page(record));
    }
    let hold = if page_load {
        PAGE_HOLD
    } else {
        state.config.start_timeout * 2
    };
    let started = Instant::now();
    let mut polls = 0u32;
    loop {
        if let Some(upstream) = state.runtime.upstream(id) {
            track.waking.store(false, Ordering::SeqCst);
            return Ok(upstream);
        }
        polls += 1;
        if polls.is_multiple_of(STATUS_EVERY) {
            match state.store.catalog.instance(id).await {
                Ok(Some(now)) => {
                    if let Some(cause) = failure(&now) {
                        track.waking.store(false, Ordering::SeqCst);
                        return Err(wake_failed(cause));
                    }
                    if now.desired != DesiredState::Running {
                        track.waking.store(false, Ordering::SeqCst);
                        return Err(status_page(&now));
                    }
                    if started.elapsed() >= hold {
                        return Err(status_page(&now));
                    }
                }
                Ok(None) => return Err(status_page(record)),
                Err(e) => tracing::warn!(instance = %id, error = %e, "reading a waking instance"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Why a start failed, from the instance's status: `FAILED`, or a crash (the runtime says it
/// restarts it, with the reason).
fn failure(record: &InstanceRecord) -> Option<&str> {
    match record.status {
        InstanceStatus::Failed => Some(
            record
                .status_message
                .as_deref()
                .unwrap_or("it could not be started"),
        ),
        InstanceStatus::Starting => record.status_message.as_deref(),
        _ => None,
    }
}

/// The page of a wake that failed, saying why.
fn wake_failed(cause: &str) -> Response {
    pages::page(
        StatusCode::BAD_GATEWAY,
        "The instance could not wake up",
        &format!(
            "It was asleep after being idle, and starting it failed: {}.",
            cause.trim_end_matches('.')
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_fails_when_the_instance_failed_or_crashed() {
        let mut record = crate::proxy::status::tests::record(InstanceStatus::Starting);
        record.status_message = None;
        assert_eq!(failure(&record), None, "starting");
        record.status_message = Some("the app exited with status 1; restart 1 in 1.0s".into());
        assert_eq!(
            failure(&record),
            Some("the app exited with status 1; restart 1 in 1.0s")
        );
        record.status = InstanceStatus::Pending;
        record.status_message = Some(lifecycle::WAKING.into());
        assert_eq!(failure(&record), None, "pending");
        record.status = InstanceStatus::Failed;
        record.status_message = None;
        assert_eq!(failure(&record), Some("it could not be started"));
    }
}
