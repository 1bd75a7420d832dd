//! The checks of [`Sessions`](crate::store::Sessions): browser sessions, one-time codes and
//! device authorizations, their expiry and their purge.

use std::time::Duration;

use futures::future::BoxFuture;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Check, Subject, conflict, now, user};
use crate::store::{AuthCodeRecord, Conflict, DeviceCodeRecord, DeviceGrant, SessionRecord};

/// The checks, in the order they run.
pub(super) const CHECKS: [Check; 8] = [
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
    (
        "failures_count_per_key_and_window",
        failures_count_per_key_and_window,
    ),
];

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

fn failures_count_per_key_and_window(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let other = s.open().await;
        let window = Duration::from_secs(60);
        let start = now();
        let count = |stores: &crate::store::Stores, key: &'static str, at: OffsetDateTime| {
            let sessions = stores.sessions.clone();
            async move { sessions.count_failure(key, at, window).await.unwrap() }
        };
        let end = start + window;
        assert_eq!(
            count(&stores, "sign-ins/account/bob", start).await,
            (1, end)
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(count(&other, "sign-ins/account/bob", later).await, (2, end));
        assert_eq!(
            count(&stores, "sign-ins/address/10.0.0.1", later).await.0,
            1
        );
        // Two replicas counting at once lose no failure.
        let (a, b) = tokio::join!(
            count(&stores, "sign-ins/account/bob", later),
            count(&other, "sign-ins/account/bob", later)
        );
        let mut both = [a.0, b.0];
        both.sort_unstable();
        assert_eq!(both, [3, 4]);
        // Once its window ended, a key starts a new one.
        let next = end + Duration::from_secs(1);
        assert_eq!(
            count(&stores, "sign-ins/account/bob", next).await,
            (1, next + window)
        );
        stores
            .sessions
            .forget_failures("sign-ins/account/bob")
            .await
            .unwrap();
        assert_eq!(count(&stores, "sign-ins/account/bob", next).await.0, 1);
        // Purged once the window has ended.
        stores.sessions.purge_expired(next + window).await.unwrap();
        assert_eq!(count(&stores, "sign-ins/account/bob", next).await.0, 1);
        assert_eq!(count(&stores, "sign-ins/address/10.0.0.1", next).await.0, 1);
    })
}
