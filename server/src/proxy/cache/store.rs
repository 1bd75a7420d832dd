//! Where the proxy's cache keeps answers: one store per thread serving instance hosts, bounded
//! in size, oldest out first, and the invalidations that reach every thread's store.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;

use super::{Key, Pending, Target};

/// A kept answer.
struct Entry {
    user: Option<HeaderValue>,
    accept_encoding: Option<HeaderValue>,
    stored: Instant,
    expires: Instant,
    /// Its `Age` when stored, in seconds.
    age: u64,
    headers: HeaderMap,
    body: Bytes,
    /// What it counts against the cache's size.
    size: usize,
}

impl Entry {
    fn matches(&self, key: &Key) -> bool {
        self.user == key.user && self.accept_encoding == key.accept_encoding
    }

    fn response(&self, head: bool, now: Instant) -> Response {
        let age = self.age + now.duration_since(self.stored).as_secs();
        let body = if head {
            Body::empty()
        } else {
            Body::from(self.body.clone())
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.clone_from(&self.headers);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        headers.insert(header::AGE, HeaderValue::from(age));
        response
    }
}

/// One thread's cache.
#[derive(Default)]
struct Cache {
    entries: HashMap<Target, Vec<Entry>>,
    /// Insertion order, for eviction: target and the entry's `stored`. Records of entries
    /// already gone are skipped when met.
    order: VecDeque<(Target, Instant)>,
    count: usize,
    size: usize,
    /// The last of [`INVALIDATIONS`] applied here.
    seen: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

impl Cache {
    fn lookup(&mut self, key: &Key, head: bool, now: Instant) -> Option<Response> {
        let entries = self.entries.get_mut(&key.target)?;
        let at = entries.iter().position(|e| e.matches(key))?;
        if entries[at].expires > now {
            return Some(entries[at].response(head, now));
        }
        let gone = entries.swap_remove(at);
        if entries.is_empty() {
            self.entries.remove(&key.target);
        }
        self.forget(&gone);
        None
    }

    fn forget(&mut self, entry: &Entry) {
        self.count -= 1;
        self.size -= entry.size;
    }

    fn invalidate(&mut self, target: &Target) {
        for gone in self.entries.remove(target).unwrap_or_default() {
            self.forget(&gone);
        }
    }

    fn insert(&mut self, target: Target, entry: Entry, capacity: usize) {
        if entry.size > capacity / 4 {
            return;
        }
        if let Some(entries) = self.entries.get_mut(&target)
            && let Some(at) = entries
                .iter()
                .position(|e| e.user == entry.user && e.accept_encoding == entry.accept_encoding)
        {
            let gone = entries.swap_remove(at);
            self.forget(&gone);
        }
        while self.size + entry.size > capacity {
            let Some((oldest, stored)) = self.order.pop_front() else {
                break;
            };
            if let Some(entries) = self.entries.get_mut(&oldest)
                && let Some(at) = entries.iter().position(|e| e.stored == stored)
            {
                let gone = entries.swap_remove(at);
                if entries.is_empty() {
                    self.entries.remove(&oldest);
                }
                self.forget(&gone);
            }
        }
        // Records of replaced or invalidated entries pile up without eviction: drop them.
        if self.order.len() > 2 * self.count + 64 {
            let entries = &self.entries;
            self.order.retain(|(target, stored)| {
                entries
                    .get(target)
                    .is_some_and(|list| list.iter().any(|e| e.stored == *stored))
            });
        }
        self.count += 1;
        self.size += entry.size;
        self.order.push_back((target.clone(), entry.stored));
        self.entries.entry(target).or_default().push(entry);
    }
}

/// Targets that unsafe requests invalidated, numbered, for the other threads' caches: each
/// applies those it has not seen before its next lookup. A lookup reads one atomic number
/// unless there is something new; unsafe requests are rare next to page loads.
struct Invalidations {
    latest: AtomicU64,
    recent: Mutex<VecDeque<(u64, Target)>>,
}

/// How many invalidations are kept for threads that have not seen them; a thread further
/// behind empties its cache.
const KEPT_INVALIDATIONS: usize = 1024;

static INVALIDATIONS: Invalidations = Invalidations {
    latest: AtomicU64::new(0),
    recent: Mutex::new(VecDeque::new()),
};

impl Cache {
    /// Applies the invalidations other threads recorded since this cache last looked.
    fn catch_up(&mut self) {
        let latest = INVALIDATIONS.latest.load(Ordering::Acquire);
        if latest == self.seen {
            return;
        }
        let recent = INVALIDATIONS
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let seen = self.seen;
        let missed = recent.front().is_none_or(|(first, _)| *first > seen + 1);
        if missed {
            // Too far behind to know what changed: start afresh.
            *self = Cache::default();
        } else {
            for (_, target) in recent.iter().filter(|(n, _)| *n > seen) {
                self.invalidate(target);
            }
        }
        self.seen = recent.back().map_or(latest, |(n, _)| *n);
    }
}

pub(super) fn lookup(key: &Key, head: bool, now: Instant) -> Option<Response> {
    CACHE
        .try_with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.catch_up();
            cache.lookup(key, head, now)
        })
        .ok()
        .flatten()
}

/// Drops every kept answer for `target`, in this thread's cache now and in the others' before
/// their next lookup.
pub(super) fn invalidate(target: &Target) {
    {
        let mut recent = INVALIDATIONS
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let number = INVALIDATIONS.latest.load(Ordering::Relaxed) + 1;
        recent.push_back((number, target.clone()));
        if recent.len() > KEPT_INVALIDATIONS {
            recent.pop_front();
        }
        INVALIDATIONS.latest.store(number, Ordering::Release);
    }
    let _ = CACHE.try_with(|cache| cache.borrow_mut().invalidate(target));
}

pub(super) fn store(pending: Pending, body: Bytes) {
    let Pending {
        key,
        headers,
        stored,
        expires,
        age,
        capacity,
    } = pending;
    let size = body.len()
        + key.target.target.len()
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum::<usize>()
        + 256;
    let entry = Entry {
        user: key.user,
        accept_encoding: key.accept_encoding,
        stored,
        expires,
        age,
        headers,
        body,
        size,
    };
    let _ = CACHE.try_with(|cache| cache.borrow_mut().insert(key.target, entry, capacity));
}

/// Counts for tests: entries and bytes in this thread's cache.
#[cfg(test)]
pub(super) fn stats() -> (usize, usize) {
    CACHE.with(|cache| {
        let cache = cache.borrow();
        (cache.count, cache.size)
    })
}
