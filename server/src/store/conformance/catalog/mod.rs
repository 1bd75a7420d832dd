//! The checks of [`Catalog`](crate::store::Catalog): apps, their Names and instances.

mod instances;

use futures::future::BoxFuture;
use q8s_core::manifest::{App, Manifest, Runtime};
use q8s_runtime::InstanceStatus;
use uuid::Uuid;

use super::{Check, Subject, assert_between, conflict, next_millisecond, not_found, now, user};
use crate::store::{
    Conflict, DesiredState, ListQuery, NewApp, NewInstance, StoreError, UserRecord, Visibility,
};

/// The checks, in the order they run.
pub(super) const CHECKS: [Check; 10] = [
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
    ("instances_life_cycle", instances::instances_life_cycle),
    (
        "instance_lists_scope_and_order",
        instances::instance_lists_scope_and_order,
    ),
    ("sleep_and_wake", instances::sleep_and_wake),
    (
        "concurrent_imports_of_one_name",
        concurrent_imports_of_one_name,
    ),
    ("catalog_survives_a_reopen", catalog_survives_a_reopen),
];

/// A manifest with these fields (also for the stores' own tests).
pub(crate) fn manifest(name: &str, version: &str, title: &str, keywords: &[&str]) -> Manifest {
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
            idle_suspend: None,
        },
        env: Vec::new(),
    }
}

pub(crate) fn new_app(
    owner: &UserRecord,
    name: &str,
    version: &str,
    visibility: Visibility,
) -> NewApp {
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

pub(super) fn new_instance(
    app_id: Uuid,
    owner: &UserRecord,
    visibility: Visibility,
) -> NewInstance {
    NewInstance {
        id: Uuid::new_v4(),
        app_id,
        owner_id: owner.id,
        visibility,
        node: NODE.into(),
    }
}

/// A private instance of `app_id` placed on `node`.
pub(crate) fn new_instance_on(app_id: Uuid, owner: &UserRecord, node: &str) -> NewInstance {
    NewInstance {
        node: node.into(),
        ..new_instance(app_id, owner, Visibility::Private)
    }
}

/// The node the suite's instances are placed on.
pub(super) const NODE: &str = "node-a";

fn query(viewer: &UserRecord, include_shared: bool) -> ListQuery {
    ListQuery {
        viewer_id: viewer.id,
        viewer_admin: viewer.admin,
        include_shared,
        ..ListQuery::default()
    }
}

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
        insert(&alice, "a", "2.0.0", Private, "Ay", &["Charts", "Maps"]).await;
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
        // One keyword at a time, not the text a store keeps the list as (JSON on SQLite).
        assert_eq!(listed(text("maps")).await, ["a 2.0.0"]);
        assert_eq!(listed(text("s\",\"m")).await, Vec::<String>::new());
        assert_eq!(listed(text("[\"")).await, Vec::<String>::new());
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
            .set_instance_status(live.id, NODE, InstanceStatus::Failed, Some("crashed"), 3)
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
                .set_instance_status(instance.id, NODE, InstanceStatus::Running, Some("up"), 1)
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
