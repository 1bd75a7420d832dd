//! The conformance suite of the stores: what the server relies on from
//! [`Accounts`](super::Accounts), [`Sessions`](super::Sessions), [`Catalog`](super::Catalog)
//! and [`Secrets`](super::Secrets), written against the traits only, so every implementation
//! runs the same checks.
//!
//! An implementation gives a [`Subject`] (a database of its own, empty at first) and calls
//! [`accounts()`], [`sessions()`], [`catalog()`] and [`secrets()`] from a test; each runs every
//! check of its trait (in the file of that name) on a fresh subject and panics naming the
//! checks that failed. SQLite runs it in
//! `server/tests/store_conformance.rs`; the crate's `conformance` feature makes this module
//! public for an implementation in another crate.
//!
//! Covered: uniqueness and the [`Conflict`]s, not-found answers, the order of lists and their
//! pages (also while rows are written between pages), what a
//! delete takes with it, time fields, lookups by hash, expiry of sessions and codes, concurrent
//! writers on two handles of one database, and what survives a reopen.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use time::OffsetDateTime;

use super::{Conflict, StoreError, Stores, UserRecord};

mod accounts;
pub(crate) mod catalog;
mod cluster;
mod paging;
mod secrets;
mod sessions;

/// A database under test.
#[async_trait::async_trait]
pub trait Subject: Send + Sync {
    /// The stores on this subject's database. Every call opens the same database: after the
    /// stores of an earlier call are dropped, a reopen; while they are alive, a second server
    /// on it.
    async fn open(&self) -> Stores;
}

/// One check: a name and what it does with a fresh subject.
type Check = (
    &'static str,
    for<'a> fn(&'a dyn Subject) -> BoxFuture<'a, ()>,
);

/// Runs every check of [`Accounts`](super::Accounts), each on a fresh subject from `fresh`.
pub async fn accounts<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("accounts", &accounts::CHECKS, fresh).await;
}

/// Runs every check of [`Sessions`](super::Sessions), each on a fresh subject from `fresh`.
pub async fn sessions<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("sessions", &sessions::CHECKS, fresh).await;
}

/// Runs every check of [`Catalog`](super::Catalog), each on a fresh subject from `fresh`.
pub async fn catalog<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("catalog", &catalog::CHECKS, fresh).await;
}

/// Runs every check of [`Cluster`](super::Cluster), each on a fresh subject from `fresh`.
pub async fn cluster<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("cluster", &cluster::CHECKS, fresh).await;
}

/// Runs every check of the paged lists (apps, instances, users, tokens, secrets), each on a
/// fresh subject from `fresh`.
pub async fn paging<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("paging", &paging::CHECKS, fresh).await;
}

/// Runs every check of [`Secrets`](super::Secrets), each on a fresh subject from `fresh`.
pub async fn secrets<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("secrets", &secrets::CHECKS, fresh).await;
}

/// Runs `checks` one after the other, then panics naming those that failed (each failure's
/// own message is printed as it happens).
async fn run<S: Subject, F: Future<Output = S>>(
    suite: &str,
    checks: &[Check],
    fresh: impl Fn() -> F,
) {
    let mut failed = Vec::new();
    for (name, check) in checks {
        let subject = fresh().await;
        if AssertUnwindSafe(check(&subject))
            .catch_unwind()
            .await
            .is_err()
        {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "{suite}: {} of {} checks failed: {}",
        failed.len(),
        checks.len(),
        failed.join(", ")
    );
}

// Helpers shared by the checks of every trait.

/// Now, to the millisecond (what every store keeps of a time).
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .expect("milliseconds are valid nanoseconds")
}

/// Asserts `t` lies between `before` and `after` (both taken by the caller around the write).
fn assert_between(what: &str, t: OffsetDateTime, before: OffsetDateTime, after: OffsetDateTime) {
    assert!(
        before <= t && t <= after,
        "{what} {t} is not between {before} and {after}"
    );
}

/// Asserts two records of one user match field by field.
fn assert_same_user(got: &UserRecord, want: &UserRecord) {
    assert_eq!(got.id, want.id);
    assert_eq!(got.username, want.username);
    assert_eq!(got.password_hash, want.password_hash);
    assert_eq!(got.admin, want.admin);
    assert_eq!(got.created_at, want.created_at);
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Conflict {
    match result {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

/// Distinct creation times for records whose list order is by time: the stores keep
/// milliseconds, so two writes in the same millisecond would tie.
async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

async fn user(stores: &Stores, name: &str, admin: bool) -> UserRecord {
    stores
        .accounts
        .create_user(name, &format!("hash of {name}"), admin)
        .await
        .unwrap()
}
