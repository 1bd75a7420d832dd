//! Idle instances sleep, and wake on request. The proxy notes when each instance it forwards to
//! was last asked something and how many websockets to it are open ([`Activity`]: an atomic
//! time and counter per instance, nothing else per request). A sweep puts to sleep the
//! instances this replica runs that went without a request and without an open websocket for
//! longer than their limit — the app's `Runtime.IdleSuspend`, else `--idle-suspend`: their
//! processes stop as on a suspend (the volume stays), the status is `SUSPENDED` with
//! `asleep: idle for …`, and the store marks them asleep. The next request through the proxy
//! wakes one ([`wake`]). A suspend by hand is not a sleep: such an instance waits for a resume.
//!
//! The sweep runs on every replica for the instances its runtime runs, and the store puts an
//! instance to sleep only for the replica it is placed on.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use q8s_runtime::{InstanceStatus, StopMode};
use uuid::Uuid;

use crate::state::{AppState, Metrics};

pub(crate) mod wake;

/// The sweep's longest pause between passes: an app that asks for sleep itself may be launched
/// at any time (a pass reads what the runtime runs from memory, and each instance's limit once).
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// Its shortest pause, whatever the limits.
const SHORTEST_PAUSE: Duration = Duration::from_millis(200);

/// What the proxy saw of each instance lately: when it was last asked something, its open
/// websockets, whether a wake is under way.
#[derive(Default)]
pub struct Activity {
    tracks: RwLock<HashMap<Uuid, Arc<Track>>>,
}

/// One instance's activity.
pub(crate) struct Track {
    /// Milliseconds since [`epoch`] at the last request (or at the last websocket closing).
    last: AtomicU64,
    /// Websockets open through the proxy.
    sockets: AtomicU32,
    /// A request of this replica is waking the instance.
    waking: AtomicBool,
    /// Its limit, read once from its app's manifest or the setting (`None`: never sleeps).
    limit: OnceLock<Option<Duration>>,
    /// Held while the instance is put to sleep or woken, so that the two never overlap here.
    busy: tokio::sync::Mutex<()>,
}

/// The time every [`Track`] counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Activity {
    /// The track of instance `id`, made on first use.
    pub(crate) fn track(&self, id: Uuid) -> Arc<Track> {
        let tracks = self.tracks.read().unwrap_or_else(|e| e.into_inner());
        if let Some(track) = tracks.get(&id) {
            return Arc::clone(track);
        }
        drop(tracks);
        let mut tracks = self.tracks.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(tracks.entry(id).or_insert_with(|| {
            Arc::new(Track {
                last: AtomicU64::new(now_ms()),
                sockets: AtomicU32::new(0),
                waking: AtomicBool::new(false),
                limit: OnceLock::new(),
                busy: tokio::sync::Mutex::new(()),
            })
        }))
    }

    /// A request for instance `id` is being forwarded to it; with a websocket upgrade, what
    /// the connection keeps until it closes ([`q8s_runtime::forward::HeldWhileOpen`]).
    pub(crate) fn request(&self, id: Uuid, upgrade: bool) -> Option<OpenSocket> {
        if !upgrade {
            // The common case: one shared lock, one map lookup, one relaxed store.
            let tracks = self.tracks.read().unwrap_or_else(|e| e.into_inner());
            if let Some(track) = tracks.get(&id) {
                track.touch();
                return None;
            }
        }
        let track = self.track(id);
        track.touch();
        upgrade.then(|| {
            track.sockets.fetch_add(1, Ordering::Relaxed);
            OpenSocket(track)
        })
    }

    /// Forgets the instances not in `keep` with nothing open and no wake under way.
    fn forget_others(&self, keep: &HashSet<Uuid>) {
        let mut tracks = self.tracks.write().unwrap_or_else(|e| e.into_inner());
        tracks.retain(|id, track| {
            keep.contains(id)
                || track.sockets.load(Ordering::Relaxed) > 0
                || track.waking.load(Ordering::Relaxed)
                || Arc::strong_count(track) > 1
        });
    }
}

impl Track {
    fn touch(&self) {
        self.last.store(now_ms(), Ordering::Relaxed);
    }

    /// How long since the last request.
    fn idle_for(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

/// An open websocket: counted until dropped, and its closing counts as activity.
pub(crate) struct OpenSocket(Arc<Track>);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// How long instance `id` may be idle: its app's `Runtime.IdleSuspend` (`never` for none),
/// else `--idle-suspend`. `None` also when the store cannot say now (asked again next time).
async fn limit(state: &AppState, id: Uuid, track: &Track) -> Option<Duration> {
    if let Some(limit) = track.limit.get() {
        return *limit;
    }
    let record = state.store.catalog.instance(id).await.ok()??;
    let app = state.store.catalog.app(record.app_id).await.ok()??;
    let limit = match app.manifest.runtime.idle_suspend() {
        Some(own) => own,
        None => state.config.idle_suspend,
    };
    *track.limit.get_or_init(|| limit)
}

/// One pass: puts to sleep the instances that were idle too long; the shortest limit it saw.
/// `running` holds the instances the previous pass saw running: an instance's idle time counts
/// from when a pass first sees it running (so a resumed or restarted one gets its full time).
pub(crate) async fn sweep(state: &AppState, running: &mut HashSet<Uuid>) -> Option<Duration> {
    let observed = match state.runtime.list().await {
        Ok(observed) => observed,
        Err(e) => {
            tracing::warn!(error = %e, "idle sweep skipped: the runtime did not answer");
            return None;
        }
    };
    let mut shortest: Option<Duration> = None;
    let mut now_running = HashSet::new();
    for o in observed {
        if o.status != InstanceStatus::Running {
            continue;
        }
        let id = o.instance_id;
        now_running.insert(id);
        let track = state.idle.track(id);
        if !running.contains(&id) {
            track.touch();
        }
        let Some(limit) = limit(state, id, &track).await else {
            continue;
        };
        shortest = Some(shortest.map_or(limit, |s| s.min(limit)));
        if track.sockets.load(Ordering::Relaxed) == 0 && track.idle_for() >= limit {
            put_to_sleep(state, id, &track, limit).await;
        }
    }
    state.idle.forget_others(&now_running);
    *running = now_running;
    shortest
}

/// Puts instance `id` to sleep, unless it was asked something meanwhile, was suspended,
/// terminated or moved (the store decides), or is no longer this replica's.
async fn put_to_sleep(state: &AppState, id: Uuid, track: &Track, limit: Duration) {
    let _busy = track.busy.lock().await;
    if track.idle_for() < limit || track.sockets.load(Ordering::Relaxed) > 0 {
        return;
    }
    let idle = q8s_core::duration::format(limit);
    let message = format!("asleep: idle for {idle}");
    let node = &state.node.name;
    match state.store.catalog.put_to_sleep(id, node, &message).await {
        Ok(true) => Metrics::bump(&state.metrics.instance_sleeps),
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(instance = %id, error = %e, "cannot put an idle instance to sleep");
            return;
        }
    }
    state
        .runtime
        .note(id, &format!("suspended after {idle} idle"))
        .await;
    // The stop reports SUSPENDED; the store keeps the sleep's reason with it.
    if let Err(e) = state.runtime.stop(id, StopMode::Suspend).await {
        // The store says asleep: the reconciler stops what still runs.
        tracing::warn!(instance = %id, error = %e, "stopping an idle instance");
    }
    tracing::info!(instance = %id, "asleep after {idle} idle");
}

/// The pause after a pass whose shortest limit was `shortest`: a quarter of it, so an instance
/// sleeps at most a quarter late.
fn pause(shortest: Option<Duration>, setting: Option<Duration>) -> Duration {
    let limit = match (shortest, setting) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(LONGEST_PAUSE * 4),
    };
    (limit / 4).clamp(SHORTEST_PAUSE, LONGEST_PAUSE)
}

/// Sweeps until aborted.
pub(crate) async fn sweep_periodically(state: AppState) {
    let mut running = HashSet::new();
    let mut shortest = None;
    loop {
        tokio::time::sleep(pause(shortest, state.config.idle_suspend)).await;
        shortest = sweep(&state, &mut running).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_follows_the_shortest_limit() {
        let s = Duration::from_secs;
        assert_eq!(pause(None, None), LONGEST_PAUSE);
        assert_eq!(pause(None, Some(s(2))), Duration::from_millis(500));
        assert_eq!(pause(Some(s(8)), Some(s(1800))), s(2));
        assert_eq!(pause(Some(s(12)), None), s(3));
        assert_eq!(pause(Some(s(3600)), None), LONGEST_PAUSE);
        assert_eq!(pause(Some(Duration::ZERO), None), SHORTEST_PAUSE);
    }

    #[test]
    fn websockets_count_while_open_and_their_closing_is_activity() {
        let activity = Activity::default();
        let id = Uuid::new_v4();
        assert!(activity.request(id, false).is_none());
        let track = activity.track(id);
        track.last.store(0, Ordering::Relaxed);
        let socket = activity.request(id, true).unwrap();
        let second = activity.request(id, true).unwrap();
        assert_eq!(track.sockets.load(Ordering::Relaxed), 2);
        drop(socket);
        track.last.store(0, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(5));
        drop(second);
        assert_eq!(track.sockets.load(Ordering::Relaxed), 0);
        assert!(
            track.last.load(Ordering::Relaxed) > 0,
            "the close was no activity"
        );
        // Not forgotten while someone holds it; then forgotten unless kept.
        activity.forget_others(&HashSet::new());
        assert_eq!(activity.tracks.read().unwrap().len(), 1);
        drop(track);
        activity.forget_others(&HashSet::from([id]));
        assert_eq!(activity.tracks.read().unwrap().len(), 1);
        activity.forget_others(&HashSet::new());
        assert!(activity.tracks.read().unwrap().is_empty());
    }
}
