//! The conformance suite of the stores: what the server relies on from
//! [`Accounts`](super::Accounts), [`Sessions`](super::Sessions), [`Catalog`](super::Catalog)
//! and [`Secrets`](super::Secrets), written against the traits only, so every implementation
//! runs the same checks.
//!
//! An implementation gives a [`Subject`] (a database of its own, empty at first) and calls
//! [`accounts`], [`sessions`], [`catalog`] and [`secrets`] from a test; each runs every check
//! of its trait on a fresh subject and panics naming the checks that failed. SQLite runs it in
//! `server/tests/store_conformance.rs`; the crate's `conformance` feature makes this module
//! public for an implementation in another crate.
//!
//! Covered: uniqueness and the [`Conflict`]s, not-found answers, the order of lists, what a
//! delete takes with it, time fields, lookups by hash, expiry of sessions and codes, concurrent
//! writers on two handles of one database, and what survives a reopen.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use q8s_core::manifest::{App, Manifest, Runtime};
use q8s_runtime::InstanceStatus;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AuthCodeRecord, Conflict, DesiredState, DeviceCodeRecord, DeviceGrant, ListQuery, NewApp,
    NewInstance, SecretAccess, SecretAccessChange, SecretUsers, SessionRecord, StoreError, Stores,
    UserRecord, Visibility,
};

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
    run("accounts", &ACCOUNTS, fresh).await;
}

/// Runs every check of [`Sessions`](super::Sessions), each on a fresh subject from `fresh`.
pub async fn sessions<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("sessions", &SESSIONS, fresh).await;
}

/// Runs every check of [`Catalog`](super::Catalog), each on a fresh subject from `fresh`.
pub async fn catalog<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("catalog", &CATALOG, fresh).await;
}

/// Runs every check of [`Secrets`](super::Secrets), each on a fresh subject from `fresh`.
pub async fn secrets<S: Subject, F: Future<Output = S>>(fresh: impl Fn() -> F) {
    run("secrets", &SECRETS, fresh).await;
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

const ACCOUNTS: [Check; 5] = [
    ("users_by_id_and_name", users_by_id_and_name),
    ("user_names_are_unique", user_names_are_unique),
    ("tokens_by_hash", tokens_by_hash),
    ("concurrent_sign_ups", concurrent_sign_ups),
    ("accounts_survive_a_reopen", accounts_survive_a_reopen),
];

const SESSIONS: [Check; 7] = [
    (
        "sessions_by_hash_until_expiry",
        sessions_by_hash_until_expiry,
    ),
    ("auth_codes_are_taken_once", auth_codes_are_taken_once),
    (
        "host_codes_expire_and_are_taken_once",
        host_codes_expire_and_are_taken_once,
    ),
    ("device_codes", device_codes),
    ("purge_removes_what_expired", purge_removes_what_expired),
    ("concurrent_redemptions", concurrent_redemptions),
    ("sessions_survive_a_reopen", sessions_survive_a_reopen),
];

const CATALOG: [Check; 9] = [
    ("apps_as_inserted", apps_as_inserted),
    (
        "app_versions_and_names_conflict",
        app_versions_and_names_conflict,
    ),
    (
        "app_lists_scope_filter_and_order",
        app_lists_scope_filter_and_order,
    ),
    ("visibility_changes", visibility_changes),
    ("deleting_an_app", deleting_an_app),
    ("instances_life_cycle", instances_life_cycle),
    (
        "instance_lists_scope_and_order",
        instance_lists_scope_and_order,
    ),
    (
        "concurrent_imports_of_one_name",
        concurrent_imports_of_one_name,
    ),
    ("catalog_survives_a_reopen", catalog_survives_a_reopen),
];

const SECRETS: [Check; 5] = [
    ("secrets_put_and_read", secrets_put_and_read),
    ("secret_access_rules", secret_access_rules),
    ("deleting_a_secret", deleting_a_secret),
    ("concurrent_secret_writes", concurrent_secret_writes),
    ("secrets_survive_a_reopen", secrets_survive_a_reopen),
];

// Helpers.

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

fn manifest(name: &str, version: &str, title: &str, keywords: &[&str]) -> Manifest {
    Manifest {
        app: App {
            name: name.into(),
            version: version.into(),
            title: Some(title.into()),
            description: Some(format!("The {title} app.")),
            category: None,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
        },
        runtime: Runtime {
            module: "app".into(),
            volume_mount: None,
            volume_size: None,
            memory_limit: None,
            memory_reservation: None,
        },
        env: Vec::new(),
    }
}

fn new_app(owner: &UserRecord, name: &str, version: &str, visibility: Visibility) -> NewApp {
    NewApp {
        id: Uuid::new_v4(),
        owner_id: owner.id,
        visibility,
        manifest: manifest(name, version, &format!("{name} {version}"), &[]),
        bundle_sha256: format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
        bundle_size: 1234,
        icon: Some("static/icon.png".into()),
        screenshots: vec!["static/one.png".into(), "static/two.png".into()],
    }
}

fn new_instance(app_id: Uuid, owner: &UserRecord, visibility: Visibility) -> NewInstance {
    NewInstance {
        id: Uuid::new_v4(),
        app_id,
        owner_id: owner.id,
        visibility,
    }
}

fn query(viewer: &UserRecord, include_shared: bool) -> ListQuery {
    ListQuery {
        viewer_id: viewer.id,
        viewer_admin: viewer.admin,
        include_shared,
        name: None,
        text: None,
    }
}

fn pending_device(user_code: &str, expires_at: OffsetDateTime) -> DeviceCodeRecord {
    DeviceCodeRecord {
        user_code: user_code.into(),
        grant: DeviceGrant::Pending,
        interval_secs: 5,
        last_polled_at: None,
        expires_at,
    }
}

fn auth_code(user_id: Uuid, expires_at: OffsetDateTime) -> AuthCodeRecord {
    AuthCodeRecord {
        user_id,
        client_id: "q8s-cli".into(),
        redirect_uri: "http://127.0.0.1:4711/callback".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        expires_at,
    }
}

fn users_change(users: &[&str]) -> SecretAccessChange {
    SecretAccessChange {
        users: Some(SecretUsers::Only(
            users.iter().map(|u| u.to_string()).collect(),
        )),
        apps: None,
    }
}

fn data(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// Accounts.

fn users_by_id_and_name(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let accounts = &stores.accounts;
        accounts.ping().await.unwrap();
        assert_eq!(accounts.user_count().await.unwrap(), 0);
        let before = now();
        let carol = user(&stores, "carol", false).await;
        let alice = user(&stores, "alice", true).await;
        let bob = user(&stores, "bob", false).await;
        let after = now();
        assert_between("created_at", alice.created_at, before, after);
        assert!(alice.admin && !bob.admin);
        assert_ne!(alice.id, bob.id);
        assert_same_user(&accounts.user(alice.id).await.unwrap().unwrap(), &alice);
        assert_same_user(
            &accounts.user_by_name("carol").await.unwrap().unwrap(),
            &carol,
        );
        assert!(accounts.user(Uuid::new_v4()).await.unwrap().is_none());
        assert!(accounts.user_by_name("dave").await.unwrap().is_none());
        assert_eq!(accounts.user_count().await.unwrap(), 3);
        let names: Vec<String> = accounts
            .users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["alice", "bob", "carol"], "users are listed by name");
    })
}

fn user_names_are_unique(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let alice = user(&stores, "alice", false).await;
        let again = stores.accounts.create_user("alice", "other", true).await;
        assert_eq!(conflict(again), Conflict::UserName);
        assert_eq!(stores.accounts.user_count().await.unwrap(), 1);
        let kept = stores
            .accounts
            .user_by_name("alice")
            .await
            .unwrap()
            .unwrap();
        assert_same_user(&kept, &alice);
    })
}

fn tokens_by_hash(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let accounts = &stores.accounts;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        let before = now();
        let laptop = accounts
            .create_token(alice.id, "laptop", "hash-1")
            .await
            .unwrap();
        assert_between("created_at", laptop.created_at, before, now());
        assert_eq!((laptop.user_id, laptop.name.as_str()), (alice.id, "laptop"));
        let owner = accounts.user_by_token("hash-1").await.unwrap().unwrap();
        assert_same_user(&owner, &alice);
        assert!(accounts.user_by_token("hash-2").await.unwrap().is_none());
        assert!(accounts.user_by_token("laptop").await.unwrap().is_none());

        // A hash is one token's: a second token with it would sign its bearer in as someone.
        let twice = accounts.create_token(bob.id, "desktop", "hash-1").await;
        assert_eq!(conflict(twice), Conflict::TokenName);
        assert_eq!(
            accounts.user_by_token("hash-1").await.unwrap().unwrap().id,
            alice.id
        );
        let bobs = accounts
            .create_token(bob.id, "laptop", "hash-3")
            .await
            .unwrap();

        // Only its owner (or anyone, for an admin: `None`) revokes a token.
        assert!(
            !accounts
                .delete_token(laptop.id, Some(bob.id))
                .await
                .unwrap()
        );
        assert!(accounts.user_by_token("hash-1").await.unwrap().is_some());
        assert!(
            accounts
                .delete_token(laptop.id, Some(alice.id))
                .await
                .unwrap()
        );
        assert!(accounts.user_by_token("hash-1").await.unwrap().is_none());
        assert!(
            !accounts
                .delete_token(laptop.id, Some(alice.id))
                .await
                .unwrap()
        );
        assert!(!accounts.delete_token(Uuid::new_v4(), None).await.unwrap());
        assert!(accounts.delete_token(bobs.id, None).await.unwrap());
        assert!(accounts.user_by_token("hash-3").await.unwrap().is_none());
        // A revoked token's hash is free again.
        accounts
            .create_token(alice.id, "laptop", "hash-1")
            .await
            .unwrap();
    })
}

fn concurrent_sign_ups(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // Two handles on one database, as two servers would have: every write lands, and of
        // the sign-ups racing for one name exactly one wins.
        let (one, two) = (s.open().await, s.open().await);
        let mut writes = Vec::new();
        for i in 0..24 {
            let accounts = if i % 2 == 0 { &one } else { &two }.accounts.clone();
            writes.push(tokio::spawn(async move {
                let own = accounts.create_user(&format!("user{i}"), "x", false).await;
                let contested = accounts.create_user("contested", "x", false).await;
                (own.map(|_| ()), contested.map(|_| ()))
            }));
        }
        let mut winners = 0;
        for write in writes {
            let (own, contested) = write.await.unwrap();
            own.unwrap();
            match contested {
                Ok(()) => winners += 1,
                Err(e) => assert!(
                    matches!(e, StoreError::Conflict(Conflict::UserName)),
                    "a losing sign-up hears the conflict, not {e:?}"
                ),
            }
        }
        assert_eq!(winners, 1);
        assert_eq!(one.accounts.user_count().await.unwrap(), 25);
        assert_eq!(two.accounts.users().await.unwrap().len(), 25);
    })
}

fn accounts_survive_a_reopen(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (alice, token) = {
            let stores = s.open().await;
            let alice = user(&stores, "alice", true).await;
            let token = stores
                .accounts
                .create_token(alice.id, "ci", "hash")
                .await
                .unwrap();
            (alice, token)
        };
        let stores = s.open().await;
        assert_same_user(
            &stores.accounts.user(alice.id).await.unwrap().unwrap(),
            &alice,
        );
        let owner = stores
            .accounts
            .user_by_token("hash")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(owner.id, alice.id);
        assert!(
            stores
                .accounts
                .delete_token(token.id, Some(alice.id))
                .await
                .unwrap()
        );
    })
}

// Sessions.

fn sessions_by_hash_until_expiry(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let sessions = &stores.sessions;
        let alice = user(&stores, "alice", false).await;
        let in_an_hour = now() + Duration::from_secs(3600);
        let main = SessionRecord {
            user_id: alice.id,
            host: None,
            expires_at: in_an_hour,
        };
        let host = SessionRecord {
            host: Some("0b7a.apps.example".into()),
            ..main.clone()
        };
        let gone = SessionRecord {
            expires_at: now() - Duration::from_secs(1),
            ..main.clone()
        };
        sessions.create_session("main", &main).await.unwrap();
        sessions.create_session("host", &host).await.unwrap();
        sessions.create_session("gone", &gone).await.unwrap();
        let got = sessions.session("main").await.unwrap().unwrap();
        assert_eq!(
            (got.user_id, got.host, got.expires_at),
            (alice.id, None, in_an_hour)
        );
        let got = sessions.session("host").await.unwrap().unwrap();
        assert_eq!(got.host.as_deref(), Some("0b7a.apps.example"));
        assert!(
            sessions.session("gone").await.unwrap().is_none(),
            "an expired session is no session"
        );
        assert!(sessions.session("other").await.unwrap().is_none());
        sessions.delete_session("main").await.unwrap();
        assert!(sessions.session("main").await.unwrap().is_none());
        assert!(sessions.session("host").await.unwrap().is_some());
        sessions.delete_session("never").await.unwrap();
    })
}

fn auth_codes_are_taken_once(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let sessions = &stores.sessions;
        let alice = user(&stores, "alice", false).await;
        let expires_at = now() + Duration::from_secs(60);
        let code = auth_code(alice.id, expires_at);
        sessions.create_auth_code("code", &code).await.unwrap();
        let got = sessions.take_auth_code("code").await.unwrap().unwrap();
        assert_eq!(got.user_id, alice.id);
        assert_eq!(got.client_id, code.client_id);
        assert_eq!(got.redirect_uri, code.redirect_uri);
        assert_eq!(got.code_challenge, code.code_challenge);
        assert_eq!(got.expires_at, expires_at);
        assert!(sessions.take_auth_code("code").await.unwrap().is_none());
        assert!(sessions.take_auth_code("other").await.unwrap().is_none());
    })
}

fn host_codes_expire_and_are_taken_once(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let sessions = &stores.sessions;
        let alice = user(&stores, "alice", false).await;
        let soon = now() + Duration::from_secs(60);
        sessions
            .create_host_code("live", alice.id, soon)
            .await
            .unwrap();
        sessions
            .create_host_code("late", alice.id, now() - Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            sessions.take_host_code("live").await.unwrap(),
            Some(alice.id)
        );
        assert_eq!(sessions.take_host_code("live").await.unwrap(), None);
        assert_eq!(
            sessions.take_host_code("late").await.unwrap(),
            None,
            "an expired hand-off code signs nobody in"
        );
        assert_eq!(sessions.take_host_code("other").await.unwrap(), None);
    })
}

fn device_codes(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let sessions = &stores.sessions;
        let alice = user(&stores, "alice", false).await;
        let now = now();
        let later = now + Duration::from_secs(600);
        sessions
            .create_device_code("dev-1", &pending_device("ABCD-EFGH", later))
            .await
            .unwrap();
        let taken = sessions
            .create_device_code("dev-2", &pending_device("ABCD-EFGH", later))
            .await;
        assert_eq!(conflict(taken), Conflict::UserCode);
        assert!(sessions.device_code("dev-2").await.unwrap().is_none());

        let got = sessions.device_code("dev-1").await.unwrap().unwrap();
        assert_eq!(got.user_code, "ABCD-EFGH");
        assert_eq!(got.grant, DeviceGrant::Pending);
        assert_eq!(
            (got.interval_secs, got.last_polled_at, got.expires_at),
            (5, None, later)
        );
        sessions.touch_device_code("dev-1", now, 10).await.unwrap();
        let got = sessions.device_code("dev-1").await.unwrap().unwrap();
        assert_eq!((got.interval_secs, got.last_polled_at), (10, Some(now)));

        // Deciding: only a pending, unexpired authorization, once.
        let approve = DeviceGrant::Approved(alice.id);
        assert!(
            !sessions
                .decide_device_code("ABCD-EFGH", DeviceGrant::Pending, now)
                .await
                .unwrap()
        );
        assert!(
            !sessions
                .decide_device_code("ZZZZ-ZZZZ", approve, now)
                .await
                .unwrap()
        );
        assert!(
            !sessions
                .decide_device_code("ABCD-EFGH", approve, later)
                .await
                .unwrap(),
            "an expired authorization cannot be approved"
        );
        assert!(
            sessions
                .decide_device_code("ABCD-EFGH", approve, now)
                .await
                .unwrap()
        );
        assert!(
            !sessions
                .decide_device_code("ABCD-EFGH", DeviceGrant::Denied, now)
                .await
                .unwrap(),
            "a decision is final"
        );
        let got = sessions.device_code("dev-1").await.unwrap().unwrap();
        assert_eq!(got.grant, approve);

        sessions
            .create_device_code("dev-3", &pending_device("WXYZ-WXYZ", later))
            .await
            .unwrap();
        assert!(
            sessions
                .decide_device_code("WXYZ-WXYZ", DeviceGrant::Denied, now)
                .await
                .unwrap()
        );
        let got = sessions.device_code("dev-3").await.unwrap().unwrap();
        assert_eq!(got.grant, DeviceGrant::Denied);

        sessions.delete_device_code("dev-1").await.unwrap();
        assert!(sessions.device_code("dev-1").await.unwrap().is_none());
        // Its user code is free again.
        sessions
            .create_device_code("dev-4", &pending_device("ABCD-EFGH", later))
            .await
            .unwrap();
    })
}

fn purge_removes_what_expired(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let sessions = &stores.sessions;
        let alice = user(&stores, "alice", false).await;
        let now = now();
        let (past, future) = (
            now - Duration::from_secs(1),
            now + Duration::from_secs(3600),
        );
        for (hash, expires_at) in [("old", past), ("new", future)] {
            let session = SessionRecord {
                user_id: alice.id,
                host: None,
                expires_at,
            };
            sessions.create_session(hash, &session).await.unwrap();
            sessions
                .create_auth_code(hash, &auth_code(alice.id, expires_at))
                .await
                .unwrap();
            sessions
                .create_host_code(hash, alice.id, expires_at)
                .await
                .unwrap();
        }
        // A device authorization stays an hour past its expiry, so a late poll hears
        // `expired_token`.
        for (hash, code, expires_at) in [
            (
                "long-gone",
                "AAAA-AAAA",
                now - Duration::from_secs(2 * 3600),
            ),
            ("just-gone", "BBBB-BBBB", now - Duration::from_secs(30 * 60)),
            ("live", "CCCC-CCCC", future),
        ] {
            sessions
                .create_device_code(hash, &pending_device(code, expires_at))
                .await
                .unwrap();
        }
        sessions.purge_expired(now).await.unwrap();
        assert!(
            sessions.take_auth_code("old").await.unwrap().is_none(),
            "the expired code is gone"
        );
        assert!(sessions.take_auth_code("new").await.unwrap().is_some());
        assert!(sessions.session("new").await.unwrap().is_some());
        assert_eq!(
            sessions.take_host_code("new").await.unwrap(),
            Some(alice.id)
        );
        assert!(sessions.device_code("long-gone").await.unwrap().is_none());
        assert!(sessions.device_code("just-gone").await.unwrap().is_some());
        assert!(sessions.device_code("live").await.unwrap().is_some());
        // Neither the expired session nor its hash stands in the way of a new one.
        let again = SessionRecord {
            user_id: alice.id,
            host: None,
            expires_at: future,
        };
        sessions.create_session("old", &again).await.unwrap();
    })
}

fn concurrent_redemptions(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // A code redeemed from two servers at once goes to exactly one of them.
        let (one, two) = (s.open().await, s.open().await);
        let alice = user(&one, "alice", false).await;
        let soon = now() + Duration::from_secs(60);
        for round in 0..4 {
            let code = format!("code-{round}");
            one.sessions
                .create_auth_code(&code, &auth_code(alice.id, soon))
                .await
                .unwrap();
            two.sessions
                .create_host_code(&code, alice.id, soon)
                .await
                .unwrap();
            let mut takes = Vec::new();
            for i in 0..12 {
                let sessions = if i % 2 == 0 { &one } else { &two }.sessions.clone();
                let code = code.clone();
                takes.push(tokio::spawn(async move {
                    let auth = sessions.take_auth_code(&code).await.unwrap();
                    let host = sessions.take_host_code(&code).await.unwrap();
                    (auth.is_some(), host.is_some())
                }));
            }
            let (mut auth, mut host) = (0, 0);
            for take in takes {
                let (a, h) = take.await.unwrap();
                auth += usize::from(a);
                host += usize::from(h);
            }
            assert_eq!((auth, host), (1, 1), "round {round}");
        }
    })
}

fn sessions_survive_a_reopen(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let soon = now() + Duration::from_secs(600);
        let alice = {
            let stores = s.open().await;
            let alice = user(&stores, "alice", false).await;
            let session = SessionRecord {
                user_id: alice.id,
                host: None,
                expires_at: soon,
            };
            stores
                .sessions
                .create_session("session", &session)
                .await
                .unwrap();
            stores
                .sessions
                .create_device_code("device", &pending_device("ABCD-EFGH", soon))
                .await
                .unwrap();
            alice
        };
        let stores = s.open().await;
        let session = stores.sessions.session("session").await.unwrap().unwrap();
        assert_eq!((session.user_id, session.expires_at), (alice.id, soon));
        let device = stores
            .sessions
            .device_code("device")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(device.user_code, "ABCD-EFGH");
    })
}

// Catalog.

fn apps_as_inserted(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let new = new_app(&alice, "ai.h2o.demo", "1.2.3", Visibility::AllUsers);
        let before = now();
        let app = catalog.insert_app(&new).await.unwrap();
        let after = now();
        assert_eq!((app.id, app.owner_id), (new.id, alice.id));
        assert_eq!(app.owner, "alice");
        assert_eq!(app.visibility, Visibility::AllUsers);
        assert_eq!(app.manifest, new.manifest);
        assert_eq!(
            (app.bundle_sha256.as_str(), app.bundle_size),
            (new.bundle_sha256.as_str(), 1234)
        );
        assert_eq!(app.icon, new.icon);
        assert_eq!(app.screenshots, new.screenshots);
        assert_eq!(app.instance_count, 0);
        assert_between("created_at", app.created_at, before, after);
        assert_eq!(app.updated_at, app.created_at);

        let read = catalog.app(app.id).await.unwrap().unwrap();
        assert_eq!(read.manifest, new.manifest);
        assert_eq!(
            (read.created_at, read.updated_at),
            (app.created_at, app.updated_at)
        );
        assert!(catalog.app(Uuid::new_v4()).await.unwrap().is_none());
        assert!(catalog.bundle_in_use(&new.bundle_sha256).await.unwrap());
        assert!(!catalog.bundle_in_use(&"f".repeat(64)).await.unwrap());
        assert_eq!(
            catalog.app_name_owner("ai.h2o.demo").await.unwrap(),
            Some(alice.id),
            "an import claims its Name"
        );
    })
}

fn app_versions_and_names_conflict(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        let private = Visibility::Private;
        catalog
            .insert_app(&new_app(&alice, "x", "1.0.0", private))
            .await
            .unwrap();
        let again = catalog
            .insert_app(&new_app(&alice, "x", "1.0.0", private))
            .await;
        assert_eq!(conflict(again), Conflict::AppVersion);
        catalog
            .insert_app(&new_app(&alice, "x", "2.0.0", private))
            .await
            .unwrap();
        // Another user hears that the Name is taken, whether or not the version exists, in
        // any case of the Name.
        for (name, version) in [("x", "3.0.0"), ("x", "1.0.0"), ("X", "4.0.0")] {
            let theirs = catalog
                .insert_app(&new_app(&bob, name, version, private))
                .await;
            assert_eq!(conflict(theirs), Conflict::AppOwner, "{name} {version}");
        }
        assert_eq!(catalog.app_name_owner("x").await.unwrap(), Some(alice.id));
        assert_eq!(catalog.app_name_owner("X").await.unwrap(), Some(alice.id));
        assert_eq!(catalog.app_name_owner("y").await.unwrap(), None);
        // Given to Bob, the Name takes his versions and refuses Alice's.
        catalog.set_app_name_owner("X", bob.id).await.unwrap();
        assert_eq!(catalog.app_name_owner("x").await.unwrap(), Some(bob.id));
        catalog
            .insert_app(&new_app(&bob, "x", "3.0.0", private))
            .await
            .unwrap();
        let hers = catalog
            .insert_app(&new_app(&alice, "x", "4.0.0", private))
            .await;
        assert_eq!(conflict(hers), Conflict::AppOwner);
        // A Name nobody had can be given too.
        catalog.set_app_name_owner("y", alice.id).await.unwrap();
        assert_eq!(catalog.app_name_owner("y").await.unwrap(), Some(alice.id));
        let refused = catalog
            .insert_app(&new_app(&bob, "y", "1.0.0", private))
            .await;
        assert_eq!(conflict(refused), Conflict::AppOwner);
        let all = ListQuery {
            viewer_admin: true,
            include_shared: true,
            ..query(&alice, true)
        };
        assert_eq!(catalog.apps(&all).await.unwrap().len(), 3);
    })
}

fn app_lists_scope_filter_and_order(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        let root = user(&stores, "root", true).await;
        let insert = async |owner: &UserRecord,
                            name: &str,
                            version: &str,
                            visibility: Visibility,
                            title: &str,
                            keywords: &[&str]| {
            let mut new = new_app(owner, name, version, visibility);
            new.manifest = manifest(name, version, title, keywords);
            catalog.insert_app(&new).await.unwrap();
            next_millisecond().await;
        };
        use Visibility::{AllUsers, Private};
        insert(&alice, "b", "1.0.0", Private, "Bee", &[]).await;
        insert(&alice, "a", "2.0.0", Private, "Ay", &["Charts"]).await;
        insert(&alice, "a", "1.0.0", Private, "Ay", &[]).await;
        insert(&bob, "c", "1.0.0", AllUsers, "Sea 50% off", &[]).await;
        insert(&bob, "d", "1.0.0", Private, "Dee 50 off", &[]).await;
        let listed = async |q: ListQuery| -> Vec<String> {
            catalog
                .apps(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|a| format!("{} {}", a.manifest.app.name, a.manifest.app.version))
                .collect()
        };
        // By name, then import time.
        assert_eq!(
            listed(query(&alice, false)).await,
            ["a 2.0.0", "a 1.0.0", "b 1.0.0"]
        );
        assert_eq!(
            listed(query(&alice, true)).await,
            ["a 2.0.0", "a 1.0.0", "b 1.0.0", "c 1.0.0"],
            "scope=all adds what others share"
        );
        assert_eq!(listed(query(&bob, false)).await, ["c 1.0.0", "d 1.0.0"]);
        assert!(listed(query(&root, false)).await.is_empty());
        assert_eq!(
            listed(query(&root, true)).await,
            ["a 2.0.0", "a 1.0.0", "b 1.0.0", "c 1.0.0", "d 1.0.0"],
            "an admin's scope=all is everything"
        );
        let named = ListQuery {
            name: Some("a".into()),
            ..query(&root, true)
        };
        assert_eq!(listed(named).await, ["a 2.0.0", "a 1.0.0"]);
        let text = |t: &str| ListQuery {
            text: Some(t.into()),
            ..query(&root, true)
        };
        assert_eq!(
            listed(text("CHART")).await,
            ["a 2.0.0"],
            "keywords, any case"
        );
        assert_eq!(listed(text("the bee")).await, ["b 1.0.0"], "description");
        assert_eq!(listed(text("50%")).await, ["c 1.0.0"], "`%` is a character");
        assert_eq!(listed(text("a_")).await, Vec::<String>::new());
    })
}

fn visibility_changes(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let app = catalog
            .insert_app(&new_app(&alice, "x", "1.0.0", Visibility::Private))
            .await
            .unwrap();
        let instance = catalog
            .insert_instance(&new_instance(app.id, &alice, Visibility::Private))
            .await
            .unwrap();
        next_millisecond().await;
        catalog
            .set_app_visibility(app.id, Visibility::AllUsers)
            .await
            .unwrap();
        let changed = catalog.app(app.id).await.unwrap().unwrap();
        assert_eq!(changed.visibility, Visibility::AllUsers);
        assert_eq!(changed.created_at, app.created_at);
        assert!(changed.updated_at > app.updated_at, "updated_at moves");
        catalog
            .set_instance_visibility(instance.id, Visibility::AllUsers)
            .await
            .unwrap();
        let changed = catalog.instance(instance.id).await.unwrap().unwrap();
        assert_eq!(changed.visibility, Visibility::AllUsers);
        assert!(changed.updated_at > instance.updated_at);
        assert_eq!(
            catalog.instance(instance.id).await.unwrap().unwrap().app_id,
            app.id
        );
        not_found(
            catalog
                .set_app_visibility(Uuid::new_v4(), Visibility::Private)
                .await,
        );
        not_found(
            catalog
                .set_instance_visibility(Uuid::new_v4(), Visibility::Private)
                .await,
        );
    })
}

fn deleting_an_app(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let private = Visibility::Private;
        let first = new_app(&alice, "x", "1.0.0", private);
        let mut second = new_app(&alice, "x", "2.0.0", private);
        second.bundle_sha256 = first.bundle_sha256.clone();
        let first = catalog.insert_app(&first).await.unwrap();
        let second = catalog.insert_app(&second).await.unwrap();

        // A live instance blocks the delete; a terminated one goes with the app.
        let live = catalog
            .insert_instance(&new_instance(first.id, &alice, private))
            .await
            .unwrap();
        let done = catalog
            .insert_instance(&new_instance(first.id, &alice, private))
            .await
            .unwrap();
        catalog
            .set_desired_state(
                done.id,
                DesiredState::Terminated,
                InstanceStatus::Terminated,
            )
            .await
            .unwrap();
        assert_eq!(
            catalog.app(first.id).await.unwrap().unwrap().instance_count,
            1,
            "terminated instances are not counted"
        );
        assert_eq!(
            conflict(catalog.delete_app(first.id).await),
            Conflict::AppInstances
        );
        assert!(catalog.instance(done.id).await.unwrap().is_some());
        // A FAILED instance runs nothing: it goes with its app, and its id comes back.
        catalog
            .set_instance_status(live.id, InstanceStatus::Failed, Some("crashed"), 3)
            .await
            .unwrap();
        assert_eq!(catalog.delete_app(first.id).await.unwrap(), [live.id]);
        assert!(catalog.app(first.id).await.unwrap().is_none());
        assert!(catalog.instance(live.id).await.unwrap().is_none());
        assert!(catalog.instance(done.id).await.unwrap().is_none());
        not_found(catalog.delete_app(first.id).await);
        not_found(
            catalog
                .insert_instance(&new_instance(first.id, &alice, private))
                .await,
        );

        // The bundle is in use while any app refers to it; the Name stays its owner's.
        assert!(catalog.bundle_in_use(&second.bundle_sha256).await.unwrap());
        assert!(catalog.delete_app(second.id).await.unwrap().is_empty());
        assert!(!catalog.bundle_in_use(&second.bundle_sha256).await.unwrap());
        assert_eq!(catalog.app_name_owner("x").await.unwrap(), Some(alice.id));
    })
}

fn instances_life_cycle(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let app = catalog
            .insert_app(&new_app(&alice, "x", "1.0.0", Visibility::Private))
            .await
            .unwrap();
        let new = new_instance(app.id, &alice, Visibility::AllUsers);
        let before = now();
        let instance = catalog.insert_instance(&new).await.unwrap();
        assert_between("created_at", instance.created_at, before, now());
        assert_eq!(instance.updated_at, instance.created_at);
        assert_eq!((instance.id, instance.app_id), (new.id, app.id));
        assert_eq!(
            (instance.app_name.as_str(), instance.app_version.as_str()),
            ("x", "1.0.0")
        );
        assert_eq!(
            (instance.owner_id, instance.owner.as_str()),
            (alice.id, "alice")
        );
        assert_eq!(instance.visibility, Visibility::AllUsers);
        assert_eq!(
            (instance.desired, instance.status),
            (DesiredState::Running, InstanceStatus::Pending)
        );
        assert_eq!((instance.status_message, instance.restarts), (None, 0));
        assert!(catalog.instance(Uuid::new_v4()).await.unwrap().is_none());
        not_found(
            catalog
                .insert_instance(&new_instance(Uuid::new_v4(), &alice, Visibility::Private))
                .await,
        );
        assert_eq!(
            catalog.app(app.id).await.unwrap().unwrap().instance_count,
            1
        );

        catalog
            .set_instance_status(instance.id, InstanceStatus::Running, Some("restarted"), 2)
            .await
            .unwrap();
        let got = catalog.instance(instance.id).await.unwrap().unwrap();
        assert_eq!(got.status, InstanceStatus::Running);
        assert_eq!(
            (got.status_message.as_deref(), got.restarts),
            (Some("restarted"), 2)
        );
        // Asking for a state clears the last message.
        catalog
            .set_desired_state(
                instance.id,
                DesiredState::Suspended,
                InstanceStatus::Suspended,
            )
            .await
            .unwrap();
        let got = catalog.instance(instance.id).await.unwrap().unwrap();
        assert_eq!(
            (got.desired, got.status, got.status_message),
            (DesiredState::Suspended, InstanceStatus::Suspended, None)
        );
        assert!(catalog.instances_to_run().await.unwrap().is_empty());
        catalog
            .set_desired_state(instance.id, DesiredState::Running, InstanceStatus::Pending)
            .await
            .unwrap();
        let to_run = catalog.instances_to_run().await.unwrap();
        assert_eq!(
            to_run.iter().map(|i| i.id).collect::<Vec<_>>(),
            [instance.id]
        );

        // Terminated: a late report cannot bring it back, but "terminated" is recorded.
        catalog
            .set_desired_state(
                instance.id,
                DesiredState::Terminated,
                InstanceStatus::Terminated,
            )
            .await
            .unwrap();
        catalog
            .set_instance_status(instance.id, InstanceStatus::Running, None, 0)
            .await
            .unwrap();
        let got = catalog.instance(instance.id).await.unwrap().unwrap();
        assert_eq!(got.status, InstanceStatus::Terminated);
        catalog
            .set_instance_status(
                instance.id,
                InstanceStatus::Terminated,
                Some("volume gone"),
                0,
            )
            .await
            .unwrap();
        let got = catalog.instance(instance.id).await.unwrap().unwrap();
        assert_eq!(got.status_message.as_deref(), Some("volume gone"));
        assert_eq!(
            catalog.app(app.id).await.unwrap().unwrap().instance_count,
            0
        );
        assert!(catalog.instances_to_run().await.unwrap().is_empty());
        not_found(
            catalog
                .set_desired_state(
                    Uuid::new_v4(),
                    DesiredState::Running,
                    InstanceStatus::Pending,
                )
                .await,
        );
    })
}

fn instance_lists_scope_and_order(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        let root = user(&stores, "root", true).await;
        let app = catalog
            .insert_app(&new_app(&alice, "x", "1.0.0", Visibility::AllUsers))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (owner, visibility) in [
            (&bob, Visibility::Private),
            (&alice, Visibility::Private),
            (&bob, Visibility::AllUsers),
            (&alice, Visibility::AllUsers),
        ] {
            let new = new_instance(app.id, owner, visibility);
            ids.push(catalog.insert_instance(&new).await.unwrap().id);
            next_millisecond().await;
        }
        let listed = async |q: ListQuery| -> Vec<Uuid> {
            let list = catalog.instances(&q).await.unwrap();
            list.into_iter().map(|i| i.id).collect()
        };
        // By launch time.
        assert_eq!(listed(query(&alice, false)).await, [ids[1], ids[3]]);
        assert_eq!(listed(query(&alice, true)).await, [ids[1], ids[2], ids[3]]);
        assert_eq!(listed(query(&bob, false)).await, [ids[0], ids[2]]);
        assert!(listed(query(&root, false)).await.is_empty());
        assert_eq!(listed(query(&root, true)).await, ids);
        assert_eq!(
            catalog
                .instances_to_run()
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect::<Vec<_>>(),
            ids
        );

        catalog
            .set_instance_status(ids[0], InstanceStatus::Running, None, 0)
            .await
            .unwrap();
        catalog
            .set_instance_status(ids[1], InstanceStatus::Running, None, 0)
            .await
            .unwrap();
        catalog
            .set_instance_status(ids[2], InstanceStatus::Failed, Some("no"), 0)
            .await
            .unwrap();
        let mut counts = catalog.instance_status_counts().await.unwrap();
        counts.sort_by_key(|(status, _)| status.as_str());
        assert_eq!(
            counts,
            [
                (InstanceStatus::Failed, 1),
                (InstanceStatus::Pending, 1),
                (InstanceStatus::Running, 2)
            ]
        );
    })
}

fn concurrent_imports_of_one_name(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // Users on two servers import versions of one new Name at once: the Name goes to one
        // of them, who gets every version in; the others hear `AppOwner`.
        let (one, two) = (s.open().await, s.open().await);
        let mut users = Vec::new();
        for i in 0..6 {
            users.push(user(&one, &format!("user{i}"), false).await);
        }
        let mut imports = Vec::new();
        for (i, owner) in users.iter().enumerate() {
            for version in ["1.0.0", "2.0.0"] {
                let catalog = if i % 2 == 0 { &one } else { &two }.catalog.clone();
                let new = new_app(owner, "contested", version, Visibility::Private);
                imports.push(tokio::spawn(async move {
                    (new.owner_id, catalog.insert_app(&new).await.map(|_| ()))
                }));
            }
        }
        let mut winners = Vec::new();
        for import in imports {
            match import.await.unwrap() {
                (owner, Ok(())) => winners.push(owner),
                (_, Err(e)) => assert!(
                    matches!(e, StoreError::Conflict(Conflict::AppOwner)),
                    "a losing import hears AppOwner, not {e:?}"
                ),
            }
        }
        let owner = two.catalog.app_name_owner("contested").await.unwrap();
        assert_eq!(winners.len(), 2, "both versions of the Name's owner");
        assert!(winners.iter().all(|w| Some(*w) == owner));
    })
}

fn catalog_survives_a_reopen(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (app, instance) = {
            let stores = s.open().await;
            let alice = user(&stores, "alice", false).await;
            let app = stores
                .catalog
                .insert_app(&new_app(&alice, "x", "1.0.0", Visibility::AllUsers))
                .await
                .unwrap();
            let instance = stores
                .catalog
                .insert_instance(&new_instance(app.id, &alice, Visibility::Private))
                .await
                .unwrap();
            stores
                .catalog
                .set_instance_status(instance.id, InstanceStatus::Running, Some("up"), 1)
                .await
                .unwrap();
            (app, instance)
        };
        let stores = s.open().await;
        let read = stores.catalog.app(app.id).await.unwrap().unwrap();
        assert_eq!(read.manifest, app.manifest);
        assert_eq!((read.created_at, read.instance_count), (app.created_at, 1));
        let read = stores.catalog.instance(instance.id).await.unwrap().unwrap();
        assert_eq!(
            (read.status, read.restarts, read.created_at),
            (InstanceStatus::Running, 1, instance.created_at)
        );
        assert_eq!(
            stores.catalog.app_name_owner("x").await.unwrap(),
            Some(app.owner_id)
        );
    })
}

// Secrets.

fn secrets_put_and_read(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let secrets = &stores.secrets;
        let nothing = SecretAccessChange::default();
        let record = secrets
            .put_secret("db", &data(&[("user", "u"), ("password", "p")]), &nothing)
            .await
            .unwrap();
        assert_eq!(record.name, "db");
        assert_eq!(record.keys, ["password", "user"], "keys sorted");
        assert_eq!(
            record.access,
            SecretAccess {
                users: SecretUsers::ADMINS_ONLY,
                apps: None
            },
            "a new secret is admins-only, for any app"
        );
        assert_eq!(
            secrets.secret_value("db", "password").await.unwrap(),
            Some("p".into())
        );
        assert_eq!(secrets.secret_value("db", "other").await.unwrap(), None);
        assert_eq!(secrets.secret_value("other", "user").await.unwrap(), None);
        assert_eq!(secrets.secret("db").await.unwrap(), Some(record));
        assert_eq!(secrets.secret("other").await.unwrap(), None);

        // A put replaces the keys and keeps the rule it does not change.
        secrets
            .set_secret_access("db", &users_change(&[]))
            .await
            .unwrap();
        secrets
            .set_secret_access(
                "db",
                &SecretAccessChange {
                    users: Some(SecretUsers::AllUsers),
                    apps: Some(Some(vec!["x".into()])),
                },
            )
            .await
            .unwrap();
        let record = secrets
            .put_secret("db", &data(&[("token", "t")]), &nothing)
            .await
            .unwrap();
        assert_eq!(record.keys, ["token"]);
        assert_eq!(record.access.users, SecretUsers::AllUsers);
        assert_eq!(record.access.apps, Some(vec!["x".into()]));
        assert_eq!(secrets.secret_value("db", "user").await.unwrap(), None);

        secrets
            .put_secret("cache", &data(&[("url", "redis://")]), &nothing)
            .await
            .unwrap();
        secrets
            .put_secret("api", &data(&[("key", "k")]), &users_change(&[]))
            .await
            .unwrap();
        let names: Vec<String> = secrets
            .secrets()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["api", "cache", "db"], "secrets are listed by name");
    })
}

fn secret_access_rules(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let secrets = &stores.secrets;
        user(&stores, "alice", false).await;
        user(&stores, "bob", false).await;
        not_found(secrets.set_secret_access("db", &users_change(&[])).await);
        assert_eq!(secrets.secret("db").await.unwrap(), None);
        let record = secrets
            .put_secret(
                "db",
                &data(&[("k", "v")]),
                &users_change(&["bob", "ghost", "alice"]),
            )
            .await
            .unwrap();
        assert_eq!(
            record.access.users,
            SecretUsers::Only(vec!["alice".into(), "bob".into()]),
            "usernames sorted, unknown ones left out"
        );
        let change = SecretAccessChange {
            users: None,
            apps: Some(Some(vec!["z".into(), "y".into()])),
        };
        let record = secrets.set_secret_access("db", &change).await.unwrap();
        assert_eq!(record.access.apps, Some(vec!["y".into(), "z".into()]));
        assert!(record.access.users.includes("bob"), "users untouched");
        assert_eq!(
            secrets.secret_value("db", "k").await.unwrap(),
            Some("v".into())
        );
        let change = SecretAccessChange {
            users: Some(SecretUsers::AllUsers),
            apps: Some(None),
        };
        let record = secrets.set_secret_access("db", &change).await.unwrap();
        assert_eq!(
            record.access,
            SecretAccess {
                users: SecretUsers::AllUsers,
                apps: None
            }
        );
        let record = secrets
            .set_secret_access("db", &users_change(&["bob"]))
            .await
            .unwrap();
        assert_eq!(record.access.users, SecretUsers::Only(vec!["bob".into()]));
        assert_eq!(secrets.secret("db").await.unwrap(), Some(record));
    })
}

fn deleting_a_secret(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let secrets = &stores.secrets;
        user(&stores, "alice", false).await;
        let change = SecretAccessChange {
            users: Some(SecretUsers::Only(vec!["alice".into()])),
            apps: Some(Some(vec!["x".into()])),
        };
        secrets
            .put_secret("db", &data(&[("k", "v")]), &change)
            .await
            .unwrap();
        assert!(secrets.delete_secret("db").await.unwrap());
        assert!(!secrets.delete_secret("db").await.unwrap());
        assert_eq!(secrets.secret("db").await.unwrap(), None);
        assert_eq!(secrets.secret_value("db", "k").await.unwrap(), None);
        assert!(secrets.secrets().await.unwrap().is_empty());
        // Its rule went with it: a secret of that name starts over.
        let record = secrets
            .put_secret("db", &data(&[("k", "w")]), &SecretAccessChange::default())
            .await
            .unwrap();
        assert_eq!(record.access, SecretAccess::default());
        assert_eq!(record.access.users, SecretUsers::ADMINS_ONLY);
    })
}

fn concurrent_secret_writes(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // Puts from two servers at once: every one lands whole (all keys of one put).
        let (one, two) = (s.open().await, s.open().await);
        let mut puts = Vec::new();
        for i in 0..16 {
            let secrets = if i % 2 == 0 { &one } else { &two }.secrets.clone();
            puts.push(tokio::spawn(async move {
                let own = format!("secret{i}");
                let value = i.to_string();
                let pairs = data(&[("a", &value), ("b", &value)]);
                let nothing = SecretAccessChange::default();
                secrets.put_secret(&own, &pairs, &nothing).await?;
                secrets.put_secret("shared", &pairs, &nothing).await
            }));
        }
        for put in puts {
            put.await.unwrap().unwrap();
        }
        let all = one.secrets.secrets().await.unwrap();
        assert_eq!(all.len(), 17);
        let a = two.secrets.secret_value("shared", "a").await.unwrap();
        let b = two.secrets.secret_value("shared", "b").await.unwrap();
        assert!(
            a.is_some() && a == b,
            "one put's values, not a mix: {a:?} {b:?}"
        );
    })
}

fn secrets_survive_a_reopen(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let record = {
            let stores = s.open().await;
            user(&stores, "alice", false).await;
            stores
                .secrets
                .put_secret("db", &data(&[("k", "v")]), &users_change(&["alice"]))
                .await
                .unwrap()
        };
        let stores = s.open().await;
        assert_eq!(stores.secrets.secret("db").await.unwrap(), Some(record));
        assert_eq!(
            stores.secrets.secret_value("db", "k").await.unwrap(),
            Some("v".into())
        );
    })
}
