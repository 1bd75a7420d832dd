//! The fake's watches (`GET <list path>?watch=true&resourceVersion=<v>`), as the API server
//! serves them: every change of an object is kept in a history with its `resourceVersion`; a
//! watch streams, one JSON line each, the `ADDED`, `MODIFIED` and `DELETED` events after the
//! version it names that its path and label selector match, `BOOKMARK`s (with
//! `allowWatchBookmarks=true`) carrying the latest version while nothing it watches changes, and
//! ends after `timeoutSeconds`. A watch from a version older than the history keeps (compacted,
//! as etcd does) gets one `ERROR` event with a `410 Expired` status, which tells a client to
//! list again. Tests can end every open watch (a dropped connection), expire the history, and
//! hold back the events of one kind (a watch that lags).

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::route::Route;
use super::{FakeApi, Key, State};

/// How many changes the history keeps before the oldest half is compacted.
const HISTORY: usize = 4096;
/// How often a quiet watch gets a bookmark.
const BOOKMARK_EVERY: Duration = Duration::from_millis(500);

/// One change of one object.
pub(super) struct Change {
    version: u64,
    key: Key,
    kind: &'static str,
    object: Value,
}

/// What the watches need of the fake's state.
#[derive(Default)]
pub(super) struct Watches {
    /// Every change still kept, oldest first.
    history: Vec<Change>,
    /// A watch may not start before this version: its changes are gone (`410`).
    compacted: u64,
    /// Bumped to end every open watch.
    epoch: u64,
    /// Plurals whose events are held back.
    held: BTreeSet<String>,
}

impl State {
    /// Stores `object` under `key` (its `resourceVersion` already set) and records the change.
    pub(super) fn store(&mut self, key: Key, object: Value) {
        let kind = if self.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.record(kind, key.clone(), object.clone());
        self.objects.insert(key, object);
    }

    /// Removes the object under `key`, recording its deletion at a new `resourceVersion`.
    pub(super) fn unstore(&mut self, key: &Key) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        // What was applied to it goes with it: an object made again starts afresh.
        self.applied.retain(|(k, _), _| k != key);
        object["metadata"]["resourceVersion"] = json!(self.next_version());
        self.record("DELETED", key.clone(), object.clone());
        Some(object)
    }

    fn record(&mut self, kind: &'static str, key: Key, object: Value) {
        let version = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.version);
        let watches = &mut self.watches;
        watches.history.push(Change {
            version,
            key,
            kind,
            object,
        });
        if watches.history.len() > HISTORY {
            let gone: Vec<Change> = watches.history.drain(..HISTORY / 2).collect();
            watches.compacted = gone.last().map_or(watches.compacted, |c| c.version);
        }
    }

    /// The events after `version` that `route` watches, as JSON lines.
    fn events_after(&self, version: u64, route: &Route) -> Vec<u8> {
        let mut lines = Vec::new();
        for change in self.watches.history.iter().filter(|c| c.version > version) {
            if route.holds(&change.key) && route.selects(&change.object) {
                let event = json!({"type": change.kind, "object": change.object});
                lines.extend(serde_json::to_vec(&event).unwrap_or_default());
                lines.push(b'\n');
            }
        }
        lines
    }

    /// Every stored object `route` watches, as `ADDED` events (a watch from version `0`).
    fn everything(&self, route: &Route) -> Vec<u8> {
        let mut lines = Vec::new();
        for object in self
            .objects
            .iter()
            .filter(|(k, v)| route.holds(k) && route.selects(v))
            .map(|(_, v)| v)
        {
            let event = json!({"type": "ADDED", "object": object});
            lines.extend(serde_json::to_vec(&event).unwrap_or_default());
            lines.push(b'\n');
        }
        lines
    }
}

impl FakeApi {
    /// Ends every open watch, as a dropped connection would; clients watch again from the
    /// last version they saw.
    pub fn drop_watches(&self) {
        self.lock().watches.epoch += 1;
        self.notify();
    }

    /// Ends every open watch and forgets every change so far (a compaction after a long
    /// disconnection): a watch from any version seen before is answered `410 Expired`, and its
    /// client must list again.
    pub fn expire_watches(&self) {
        let mut state = self.lock();
        let now = state.next_version().parse().unwrap_or(state.version);
        state.watches.history.clear();
        state.watches.compacted = now;
        state.watches.epoch += 1;
        drop(state);
        self.notify();
    }

    /// Holds back (`true`) or delivers from now on (`false`) the watch events of `plural`
    /// (`deployments`, `pods`, …): a watch that lags behind the store.
    pub fn hold_watch_events(&self, plural: &str, hold: bool) {
        let mut state = self.lock();
        if hold {
            state.watches.held.insert(plural.to_owned());
        } else {
            state.watches.held.remove(plural);
        }
        drop(state);
        self.notify();
    }

    /// Wakes the open watches: something changed.
    pub(super) fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// The body of a watch request: JSON lines until the timeout, an ended watch, or at once
    /// after a `410`.
    pub(super) fn watch(&self, route: Route) -> impl futures::Stream<Item = Bytes> + Send + use<> {
        let state = self.lock();
        let asked = route.query.get("resourceVersion").cloned();
        let timeout = route
            .query
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(1800);
        let mut cursor = Cursor {
            api: self.clone(),
            version: state.version,
            epoch: state.watches.epoch,
            deadline: Instant::now() + Duration::from_secs(timeout),
            bookmarks: route.query.get("allowWatchBookmarks").map(String::as_str) == Some("true"),
            next_bookmark: Instant::now() + BOOKMARK_EVERY,
            changed: self.changed.subscribe(),
            first: None,
            route,
        };
        match asked.as_deref() {
            None | Some("" | "0") => {
                cursor.first = Some(state.everything(&cursor.route));
            }
            Some(asked) => match asked.parse::<u64>() {
                Ok(v) if v >= state.watches.compacted => cursor.version = v,
                _ => {
                    let message = format!(
                        "too old resource version: {asked} ({})",
                        state.watches.compacted
                    );
                    let (_, status) = super::failure(410, "Expired", &message);
                    let event = json!({"type": "ERROR", "object": status});
                    let mut line = serde_json::to_vec(&event).unwrap_or_default();
                    line.push(b'\n');
                    cursor.first = Some(line);
                    cursor.epoch = u64::MAX;
                }
            },
        }
        drop(state);
        futures::stream::unfold(cursor, |mut cursor| async move {
            let chunk = cursor.next().await?;
            Some((Bytes::from(chunk), cursor))
        })
    }
}

/// Where one watch is.
struct Cursor {
    api: FakeApi,
    route: Route,
    /// The last version sent (or asked for).
    version: u64,
    /// The fake's epoch when the watch began; another one ends it.
    epoch: u64,
    deadline: Instant,
    bookmarks: bool,
    next_bookmark: Instant,
    changed: tokio::sync::watch::Receiver<u64>,
    /// What to send before anything else.
    first: Option<Vec<u8>>,
}

impl Cursor {
    async fn next(&mut self) -> Option<Vec<u8>> {
        if let Some(first) = self.first.take().filter(|f| !f.is_empty()) {
            return Some(first);
        }
        loop {
            {
                let state = self.api.lock();
                if state.watches.epoch != self.epoch {
                    return None;
                }
                if !state.watches.held.contains(&self.route.plural) {
                    let lines = state.events_after(self.version, &self.route);
                    let latest = state.version;
                    if !lines.is_empty() {
                        self.version = latest;
                        return Some(lines);
                    }
                    if self.bookmarks && Instant::now() >= self.next_bookmark {
                        self.next_bookmark = Instant::now() + BOOKMARK_EVERY;
                        if self.version < latest {
                            self.version = latest;
                            return Some(bookmark(&self.route, latest));
                        }
                    }
                }
            }
            if Instant::now() >= self.deadline {
                return None;
            }
            let wake = if self.bookmarks {
                self.deadline.min(self.next_bookmark)
            } else {
                self.deadline
            };
            let _ = tokio::time::timeout_at(wake, self.changed.changed()).await;
        }
    }
}

/// A `BOOKMARK` event at `version`, of the watched kind.
fn bookmark(route: &Route, version: u64) -> Vec<u8> {
    let (api_version, kind) = match route.plural.as_str() {
        "deployments" => ("apps/v1", "Deployment"),
        "networkpolicies" => ("networking.k8s.io/v1", "NetworkPolicy"),
        "services" => ("v1", "Service"),
        "secrets" => ("v1", "Secret"),
        "persistentvolumeclaims" => ("v1", "PersistentVolumeClaim"),
        _ => ("v1", "Pod"),
    };
    let event = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                       "metadata": {"resourceVersion": version.to_string()}}});
    let mut line = serde_json::to_vec(&event).unwrap_or_default();
    line.push(b'\n');
    line
}
