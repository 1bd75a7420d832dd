//! The checks of [`Accounts`](crate::store::Accounts): users and API tokens.

use futures::future::BoxFuture;
use uuid::Uuid;

use std::sync::Arc;
use std::time::Duration;

use super::{
    Check, Subject, assert_between, assert_same_user, conflict, next_millisecond, now, user,
};
use crate::store::{Accounts, Conflict, Page, StoreError, StoreResult, TokenRecord, UserRecord};

/// The owner of the token with hash `hash`.
async fn owner_of(accounts: &Arc<dyn Accounts>, hash: &str) -> StoreResult<Option<UserRecord>> {
    Ok(accounts.token_by_hash(hash).await?.map(|(_, user)| user))
}

/// The checks, in the order they run.
pub(super) const CHECKS: [Check; 7] = [
    ("users_by_id_and_name", users_by_id_and_name),
    ("user_names_are_unique", user_names_are_unique),
    ("tokens_by_hash", tokens_by_hash),
    (
        "tokens_listed_without_secrets",
        tokens_listed_without_secrets,
    ),
    ("token_use_is_recorded", token_use_is_recorded),
    ("concurrent_sign_ups", concurrent_sign_ups),
    ("accounts_survive_a_reopen", accounts_survive_a_reopen),
];

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
            .users(&Page::all())
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
        let owner = owner_of(accounts, "hash-1").await.unwrap().unwrap();
        assert_same_user(&owner, &alice);
        assert!(owner_of(accounts, "hash-2").await.unwrap().is_none());
        assert!(owner_of(accounts, "laptop").await.unwrap().is_none());

        // A hash is one token's: a second token with it would sign its bearer in as someone.
        let twice = accounts.create_token(bob.id, "desktop", "hash-1").await;
        assert_eq!(conflict(twice), Conflict::TokenHash);
        assert_eq!(
            owner_of(accounts, "hash-1").await.unwrap().unwrap().id,
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
        assert!(owner_of(accounts, "hash-1").await.unwrap().is_some());
        assert!(
            accounts
                .delete_token(laptop.id, Some(alice.id))
                .await
                .unwrap()
        );
        assert!(owner_of(accounts, "hash-1").await.unwrap().is_none());
        assert!(
            !accounts
                .delete_token(laptop.id, Some(alice.id))
                .await
                .unwrap()
        );
        assert!(!accounts.delete_token(Uuid::new_v4(), None).await.unwrap());
        assert!(accounts.delete_token(bobs.id, None).await.unwrap());
        assert!(owner_of(accounts, "hash-3").await.unwrap().is_none());
        // A revoked token's hash is free again.
        accounts
            .create_token(alice.id, "laptop", "hash-1")
            .await
            .unwrap();
    })
}

fn tokens_listed_without_secrets(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let accounts = &stores.accounts;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        assert!(
            accounts
                .tokens(Some(alice.id), &Page::all())
                .await
                .unwrap()
                .is_empty()
        );
        let first = accounts
            .create_token(alice.id, "ci", "hash-1")
            .await
            .unwrap();
        next_millisecond().await;
        let bobs = accounts.create_token(bob.id, "ci", "hash-2").await.unwrap();
        next_millisecond().await;
        // Names are labels: a second token of one name is a token of its own.
        let second = accounts
            .create_token(alice.id, "ci", "hash-3")
            .await
            .unwrap();
        assert_ne!(first.id, second.id);
        let ids = |tokens: Vec<TokenRecord>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(
            ids(accounts.tokens(Some(alice.id), &Page::all()).await.unwrap()),
            [first.id, second.id],
            "a user's tokens, oldest first, and only theirs"
        );
        assert_eq!(
            ids(accounts.tokens(Some(bob.id), &Page::all()).await.unwrap()),
            [bobs.id]
        );
        assert_eq!(
            ids(accounts.tokens(None, &Page::all()).await.unwrap()),
            [first.id, bobs.id, second.id],
            "everyone's, oldest first"
        );
        let listed = &accounts.tokens(Some(alice.id), &Page::all()).await.unwrap()[0];
        assert_eq!(
            (listed.user_id, listed.name.as_str(), listed.created_at),
            (alice.id, "ci", first.created_at)
        );
        assert_eq!(listed.last_used_at, None, "never used yet");
        // A revoked token is no longer listed, and its sibling of the same name stays.
        assert!(
            accounts
                .delete_token(first.id, Some(alice.id))
                .await
                .unwrap()
        );
        assert_eq!(
            ids(accounts.tokens(Some(alice.id), &Page::all()).await.unwrap()),
            [second.id]
        );
        assert!(owner_of(accounts, "hash-3").await.unwrap().is_some());
        assert_eq!(accounts.tokens(None, &Page::all()).await.unwrap().len(), 2);
    })
}

fn token_use_is_recorded(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let accounts = &stores.accounts;
        let alice = user(&stores, "alice", false).await;
        let token = accounts
            .create_token(alice.id, "ci", "hash-1")
            .await
            .unwrap();
        next_millisecond().await;
        let other = accounts
            .create_token(alice.id, "ci", "hash-2")
            .await
            .unwrap();
        let (found, owner) = accounts.token_by_hash("hash-1").await.unwrap().unwrap();
        assert_eq!(
            (found.id, owner.id, found.last_used_at),
            (token.id, alice.id, None)
        );
        let used = now();
        accounts.record_token_use(token.id, used).await.unwrap();
        let (found, _) = accounts.token_by_hash("hash-1").await.unwrap().unwrap();
        assert_eq!(found.last_used_at, Some(used));
        assert_eq!(
            accounts
                .token_by_hash("hash-2")
                .await
                .unwrap()
                .unwrap()
                .0
                .last_used_at,
            None,
            "only that token's use is recorded"
        );
        // Two servers may record uses out of order: the later one stays.
        accounts
            .record_token_use(token.id, used - Duration::from_secs(90))
            .await
            .unwrap();
        let later = used + Duration::from_secs(60);
        accounts.record_token_use(token.id, later).await.unwrap();
        let listed = accounts.tokens(Some(alice.id), &Page::all()).await.unwrap();
        assert_eq!(listed[0].last_used_at, Some(later));
        assert_eq!(listed[1].id, other.id);
        // The use of a revoked token records nothing and fails nothing.
        assert!(accounts.delete_token(token.id, None).await.unwrap());
        accounts.record_token_use(token.id, now()).await.unwrap();
        assert!(accounts.token_by_hash("hash-1").await.unwrap().is_none());
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
        assert_eq!(two.accounts.users(&Page::all()).await.unwrap().len(), 25);
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
        let owner = owner_of(&stores.accounts, "hash").await.unwrap().unwrap();
        assert_eq!(owner.id, alice.id);
        stores
            .accounts
            .record_token_use(token.id, now())
            .await
            .unwrap();
        drop(stores);
        let stores = s.open().await;
        let listed = stores
            .accounts
            .tokens(Some(alice.id), &Page::all())
            .await
            .unwrap();
        assert!(
            listed[0].last_used_at.is_some(),
            "a token's last use survives"
        );
        assert!(
            stores
                .accounts
                .delete_token(token.id, Some(alice.id))
                .await
                .unwrap()
        );
    })
}
