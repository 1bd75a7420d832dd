//! The checks of [`Secrets`](crate::store::Secrets): values, keys and access rules.

use futures::future::BoxFuture;

use super::{Check, Subject, not_found, user};
use crate::store::{Page, SecretAccess, SecretAccessChange, SecretUsers};

/// The checks, in the order they run.
pub(super) const CHECKS: [Check; 5] = [
    ("secrets_put_and_read", secrets_put_and_read),
    ("secret_access_rules", secret_access_rules),
    ("deleting_a_secret", deleting_a_secret),
    ("concurrent_secret_writes", concurrent_secret_writes),
    ("secrets_survive_a_reopen", secrets_survive_a_reopen),
];

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
            .secrets(&Page::all())
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
        assert!(secrets.secrets(&Page::all()).await.unwrap().is_empty());
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
        let all = one.secrets.secrets(&Page::all()).await.unwrap();
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
