//! The checks of paged lists: for apps, instances, users, tokens and secrets, the pages of
//! every size concatenate to the whole list, and rows written between two pages neither repeat
//! a row nor hide one that was there when the walk began.

use std::collections::HashSet;

use futures::future::BoxFuture;
use q8s_runtime::InstanceStatus;
use uuid::Uuid;

use super::catalog::{manifest, new_app, new_instance};
use super::{Check, Subject, next_millisecond, user};
use crate::store::{
    Catalog, DesiredState, ListKey, ListQuery, Page, SecretAccessChange, Stores, UserRecord,
    Visibility,
};

/// The checks, in the order they run.
pub(super) const CHECKS: [Check; 4] = [
    ("app_pages", app_pages),
    ("app_pages_while_importing", app_pages_while_importing),
    ("instance_pages", instance_pages),
    ("account_and_secret_pages", account_and_secret_pages),
];

/// Walks a list page by page (`limit` items each, `$fetch` reading the page `$page`) and is
/// the items in order. A macro, not a function taking an async closure: the checks' futures
/// must be `Send`.
macro_rules! walk {
    ($limit:expr, $key:expr, |$page:ident| $fetch:expr) => {{
        let limit: u32 = $limit;
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let $page = Page {
                after: after.clone(),
                limit: Some(limit),
            };
            let page = $fetch;
            assert!(page.len() <= limit as usize, "a page longer than its limit");
            let Some(last) = page.last() else { break all };
            after = Some(($key)(last));
            all.extend(page);
        }
    }};
}

fn app_query(viewer: &UserRecord, include_shared: bool, latest_only: bool) -> ListQuery {
    ListQuery {
        viewer_id: viewer.id,
        viewer_admin: viewer.admin,
        include_shared,
        latest_only,
        ..ListQuery::default()
    }
}

async fn app_ids(catalog: &dyn Catalog, q: &ListQuery) -> Vec<Uuid> {
    catalog
        .apps(q)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect()
}

async fn app_walk(catalog: &dyn Catalog, q: &ListQuery, limit: u32) -> Vec<Uuid> {
    let apps: Vec<crate::store::AppRecord> = walk!(limit, ListKey::of_app, |page| {
        let q = ListQuery { page, ..q.clone() };
        catalog.apps(&q).await.unwrap()
    });
    apps.into_iter().map(|a| a.id).collect()
}

/// Imports `name` `version` (its time distinct from the last import's).
async fn import(stores: &Stores, owner: &UserRecord, name: &str, version: &str, shared: bool) {
    let visibility = match shared {
        true => Visibility::AllUsers,
        false => Visibility::Private,
    };
    let mut new = new_app(owner, name, version, visibility);
    new.manifest = manifest(name, version, &format!("{name} title"), &["paged"]);
    stores.catalog.insert_app(&new).await.unwrap();
}

fn app_pages(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &*stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        let root = user(&stores, "root", true).await;
        // Names in byte order differ from a locale's ("Q" < "a" < "b"); several versions of
        // some Names, several imports within one millisecond.
        for (i, name) in ["b", "a", "Q", "a.x", "c", "a-1", "Zed", "d"]
            .iter()
            .enumerate()
        {
            let owner = if i % 3 == 0 { &bob } else { &alice };
            for v in 0..(i % 3 + 1) {
                import(&stores, owner, name, &format!("1.{v}.0"), i % 2 == 0).await;
            }
        }
        let text = ListQuery {
            text: Some("TITLE".into()),
            ..app_query(&alice, true, false)
        };
        let named = ListQuery {
            name: Some("a".into()),
            ..app_query(&root, true, false)
        };
        for q in [
            app_query(&root, true, true),
            app_query(&root, true, false),
            app_query(&alice, true, true),
            app_query(&alice, false, false),
            app_query(&bob, false, true),
            text,
            named,
        ] {
            let whole = app_ids(catalog, &q).await;
            assert!(!whole.is_empty(), "{q:?}");
            for limit in [1, 2, 5, 100] {
                assert_eq!(
                    app_walk(catalog, &q, limit).await,
                    whole,
                    "{q:?} by {limit}"
                );
            }
        }
        // Latest: one per Name, the last imported.
        let latest = catalog.apps(&app_query(&root, true, true)).await.unwrap();
        let names: Vec<&str> = latest
            .iter()
            .map(|a| a.manifest.app.name.as_str())
            .collect();
        assert_eq!(names, ["Q", "Zed", "a", "a-1", "a.x", "b", "c", "d"]);
        let a = latest.iter().find(|a| a.manifest.app.name == "a").unwrap();
        assert_eq!(a.manifest.app.version, "1.1.0");
    })
}

fn app_pages_while_importing(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &*stores.catalog;
        let root = user(&stores, "root", true).await;
        for i in 0..12 {
            import(
                &stores,
                &root,
                &format!("m{:02}", i / 2),
                &format!("{i}.0.0"),
                true,
            )
            .await;
        }
        for latest_only in [false, true] {
            let q = app_query(&root, true, latest_only);
            let before = app_ids(catalog, &q).await;
            let mut seen = Vec::new();
            let mut after = None;
            let mut round = 0;
            let mut behind = Vec::new();
            loop {
                let page = ListQuery {
                    page: Page {
                        after: after.clone(),
                        limit: Some(3),
                    },
                    ..q.clone()
                };
                let page = catalog.apps(&page).await.unwrap();
                let Some(last) = page.last() else { break };
                after = Some(ListKey::of_app(last));
                seen.extend(page.iter().map(|a| (a.id, a.manifest.app.name.clone())));
                // Between pages: a Name before the cursor, one after it, and a new version of a
                // Name already listed.
                round += 1;
                // Before every name of this walk: "0…" sorts before the letters, and this
                // walk's "00…" (or "0…") before the names the walk before left.
                let zeros = if latest_only { "00" } else { "0" };
                let first = format!("{zeros}{round:02}");
                import(&stores, &root, &first, "1.0.0", true).await;
                behind.push(first);
                import(
                    &stores,
                    &root,
                    &format!("z{latest_only}{round}"),
                    "1.0.0",
                    true,
                )
                .await;
                import(
                    &stores,
                    &root,
                    "m00",
                    &format!("9.{round}.{latest_only}"),
                    true,
                )
                .await;
            }
            let ids: Vec<Uuid> = seen.iter().map(|(id, _)| *id).collect();
            let unique: HashSet<Uuid> = ids.iter().copied().collect();
            assert_eq!(unique.len(), ids.len(), "no app twice");
            if latest_only {
                let names: HashSet<&String> = seen.iter().map(|(_, n)| n).collect();
                assert_eq!(names.len(), seen.len(), "no Name twice");
                for name in ["m00", "m01", "m05"] {
                    assert!(names.contains(&name.to_owned()), "{name} listed");
                }
            } else {
                for id in &before {
                    assert!(unique.contains(id), "an app there all along is listed");
                }
            }
            let in_order = seen.windows(2).all(|w| w[0].1 <= w[1].1);
            assert!(in_order, "by Name: {seen:?}");
            assert!(
                seen.iter().any(|(_, n)| n.starts_with('z')),
                "names after the cursor"
            );
            assert!(
                !seen.iter().any(|(_, n)| behind.contains(n)),
                "names behind the cursor"
            );
        }
    })
}

fn instance_pages(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &*stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        let root = user(&stores, "root", true).await;
        let app = catalog
            .insert_app(&new_app(&alice, "x", "1.0.0", Visibility::AllUsers))
            .await
            .unwrap();
        let mut launched = Vec::new();
        for i in 0..14 {
            let owner = if i % 2 == 0 { &alice } else { &bob };
            let visibility = match i % 3 {
                0 => Visibility::AllUsers,
                _ => Visibility::Private,
            };
            let id = catalog
                .insert_instance(&new_instance(app.id, owner, visibility))
                .await
                .unwrap()
                .id;
            match i % 4 {
                0 => catalog
                    .set_desired_state(id, DesiredState::Terminated, InstanceStatus::Terminated)
                    .await
                    .unwrap(),
                1 => catalog
                    .set_instance_status(id, super::catalog::NODE, InstanceStatus::Running, None, 0)
                    .await
                    .unwrap(),
                _ => {}
            }
            launched.push(id);
            // Newest first is by launch time; ties (same millisecond) go by id.
            next_millisecond().await;
        }
        let live: Vec<InstanceStatus> = InstanceStatus::ALL
            .into_iter()
            .filter(|s| *s != InstanceStatus::Terminated)
            .collect();
        let query =
            |viewer: &UserRecord, shared: bool, statuses: Option<Vec<InstanceStatus>>| ListQuery {
                viewer_id: viewer.id,
                viewer_admin: viewer.admin,
                include_shared: shared,
                statuses,
                ..ListQuery::default()
            };
        let ids = |list: Vec<crate::store::InstanceRecord>| -> Vec<Uuid> {
            list.into_iter().map(|i| i.id).collect()
        };
        let everything = query(&root, true, None);
        let newest_first: Vec<Uuid> = launched.iter().rev().copied().collect();
        assert_eq!(
            ids(catalog.instances(&everything).await.unwrap()),
            newest_first
        );
        for q in [
            everything.clone(),
            query(&root, true, Some(live.clone())),
            query(&alice, true, Some(live.clone())),
            query(&bob, false, None),
            query(&bob, true, Some(vec![InstanceStatus::Running])),
        ] {
            let whole = ids(catalog.instances(&q).await.unwrap());
            assert!(!whole.is_empty(), "{q:?}");
            for limit in [1, 3, 4, 100] {
                let walked = walk!(
                    limit,
                    |i: &crate::store::InstanceRecord| ListKey::time(i.created_at, i.id),
                    |page| {
                        let q = ListQuery { page, ..q.clone() };
                        catalog.instances(&q).await.unwrap()
                    }
                );
                assert_eq!(ids(walked), whole, "{q:?} by {limit}");
            }
        }
        assert_eq!(catalog.terminated_count(&everything).await.unwrap(), 4);
        assert_eq!(
            catalog
                .terminated_count(&query(&alice, false, None))
                .await
                .unwrap(),
            4,
            "the terminated ones are alice's (every fourth launch)"
        );
        assert_eq!(
            catalog
                .terminated_count(&query(&bob, false, None))
                .await
                .unwrap(),
            0
        );

        // Launches between pages are newer than any page's cursor: later pages never show them
        // and every instance there at the start comes exactly once.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let q = ListQuery {
                page: Page {
                    after: after.clone(),
                    limit: Some(4),
                },
                ..everything.clone()
            };
            let page = catalog.instances(&q).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(ListKey::time(last.created_at, last.id));
            seen.extend(ids(page));
            catalog
                .insert_instance(&new_instance(app.id, &bob, Visibility::Private))
                .await
                .unwrap();
        }
        assert_eq!(seen, newest_first);
    })
}

fn account_and_secret_pages(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let alice = user(&stores, "alice", false).await;
        let bob = user(&stores, "bob", false).await;
        for name in ["m", "b.1", "z", "b-1", "k"] {
            user(&stores, name, false).await;
        }
        for i in 0..9 {
            let owner = if i % 3 == 0 { &bob } else { &alice };
            stores
                .accounts
                .create_token(owner.id, "same name", &format!("hash {i}"))
                .await
                .unwrap();
        }
        for name in ["db", "api-key", "Z", "cache", "b"] {
            let data = [("k".to_owned(), "v".to_owned())];
            stores
                .secrets
                .put_secret(name, &data, &SecretAccessChange::default())
                .await
                .unwrap();
        }
        let accounts = &*stores.accounts;
        let secrets = &*stores.secrets;
        let whole_users = accounts.users(&Page::all()).await.unwrap();
        assert_eq!(whole_users.len(), 7);
        for limit in [1, 2, 3, 7] {
            let walked: Vec<UserRecord> = walk!(
                limit,
                |u: &UserRecord| ListKey::name(u.username.clone()),
                |page| accounts.users(&page).await.unwrap()
            );
            let names = |l: &[UserRecord]| l.iter().map(|u| u.username.clone()).collect::<Vec<_>>();
            assert_eq!(names(&walked), names(&whole_users), "users by {limit}");

            for owner in [None, Some(alice.id), Some(bob.id)] {
                let whole: Vec<Uuid> = accounts
                    .tokens(owner, &Page::all())
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| t.id)
                    .collect();
                let walked: Vec<crate::store::TokenRecord> = walk!(
                    limit,
                    |t: &crate::store::TokenRecord| ListKey::time(t.created_at, t.id),
                    |page| accounts.tokens(owner, &page).await.unwrap()
                );
                let walked: Vec<Uuid> = walked.into_iter().map(|t| t.id).collect();
                assert_eq!(walked, whole, "tokens of {owner:?} by {limit}");
            }

            let whole = secrets.secrets(&Page::all()).await.unwrap();
            let walked: Vec<crate::store::SecretRecord> = walk!(
                limit,
                |s: &crate::store::SecretRecord| ListKey::name(s.name.clone()),
                |page| secrets.secrets(&page).await.unwrap()
            );
            assert_eq!(walked, whole, "secrets by {limit}");
        }
        let names: Vec<String> = secrets
            .secrets(&Page::all())
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["Z", "api-key", "b", "cache", "db"], "byte order");
    })
}
