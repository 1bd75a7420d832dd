//! The checks of instances in the catalog: their life cycle, lists, scopes and order.

use super::*;

pub(super) fn instances_life_cycle(s: &dyn Subject) -> BoxFuture<'_, ()> {
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
            .set_instance_status(
                instance.id,
                NODE,
                InstanceStatus::Running,
                Some("restarted"),
                2,
            )
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
        assert!(catalog.instances_to_run(NODE).await.unwrap().is_empty());
        catalog
            .set_desired_state(instance.id, DesiredState::Running, InstanceStatus::Pending)
            .await
            .unwrap();
        let to_run = catalog.instances_to_run(NODE).await.unwrap();
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
            .set_instance_status(instance.id, NODE, InstanceStatus::Running, None, 0)
            .await
            .unwrap();
        let got = catalog.instance(instance.id).await.unwrap().unwrap();
        assert_eq!(got.status, InstanceStatus::Terminated);
        catalog
            .set_instance_status(
                instance.id,
                NODE,
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
        assert!(catalog.instances_to_run(NODE).await.unwrap().is_empty());
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

pub(super) fn instance_lists_scope_and_order(s: &dyn Subject) -> BoxFuture<'_, ()> {
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
        // Newest first.
        assert_eq!(listed(query(&alice, false)).await, [ids[3], ids[1]]);
        assert_eq!(listed(query(&alice, true)).await, [ids[3], ids[2], ids[1]]);
        assert_eq!(listed(query(&bob, false)).await, [ids[2], ids[0]]);
        assert!(listed(query(&root, false)).await.is_empty());
        let newest_first: Vec<Uuid> = ids.iter().rev().copied().collect();
        assert_eq!(listed(query(&root, true)).await, newest_first);
        assert_eq!(
            catalog
                .instances_to_run(NODE)
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect::<Vec<_>>(),
            ids
        );

        catalog
            .set_instance_status(ids[0], NODE, InstanceStatus::Running, None, 0)
            .await
            .unwrap();
        catalog
            .set_instance_status(ids[1], NODE, InstanceStatus::Running, None, 0)
            .await
            .unwrap();
        catalog
            .set_instance_status(ids[2], NODE, InstanceStatus::Failed, Some("no"), 0)
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

/// Idle instances are put to sleep and woken by compare-and-set: a suspend by hand is not a
/// sleep, and of two wakes one does it.
pub(super) fn sleep_and_wake(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let alice = user(&stores, "alice", false).await;
        let app = catalog
            .insert_app(&new_app(&alice, "x", "1.0.0", Visibility::Private))
            .await
            .unwrap();
        let id = catalog
            .insert_instance(&new_instance(app.id, &alice, Visibility::Private))
            .await
            .unwrap()
            .id;
        assert!(!catalog.instance(id).await.unwrap().unwrap().asleep);
        assert_eq!(catalog.sleeping_count().await.unwrap(), 0);

        // Only the node it is placed on puts it to sleep.
        assert!(!catalog.put_to_sleep(id, "node-b", "asleep").await.unwrap());
        assert!(
            !catalog
                .put_to_sleep(Uuid::new_v4(), NODE, "asleep")
                .await
                .unwrap()
        );
        assert!(!catalog.wake(id, "waking").await.unwrap(), "woke one awake");
        assert!(
            catalog
                .put_to_sleep(id, NODE, "asleep: idle for 2s")
                .await
                .unwrap()
        );
        let got = catalog.instance(id).await.unwrap().unwrap();
        assert_eq!(
            (
                got.desired,
                got.status,
                got.status_message.as_deref(),
                got.asleep
            ),
            (
                DesiredState::Suspended,
                InstanceStatus::Suspended,
                Some("asleep: idle for 2s"),
                true
            )
        );
        assert!(catalog.instances_to_run(NODE).await.unwrap().is_empty());
        assert_eq!(catalog.sleeping_count().await.unwrap(), 1);
        // Asleep already: not again.
        assert!(!catalog.put_to_sleep(id, NODE, "asleep").await.unwrap());
        // The runtime's report of the stop keeps it asleep, with its reason.
        catalog
            .set_instance_status(id, NODE, InstanceStatus::Suspended, None, 3)
            .await
            .unwrap();
        let got = catalog.instance(id).await.unwrap().unwrap();
        assert_eq!(
            (got.asleep, got.status_message.as_deref(), got.restarts),
            (true, Some("asleep: idle for 2s"), 3)
        );

        // Two wakes at once: one does it.
        let (a, b) = futures::join!(catalog.wake(id, "woken"), catalog.wake(id, "woken"));
        assert!(a.unwrap() ^ b.unwrap(), "both or neither woke it");
        let got = catalog.instance(id).await.unwrap().unwrap();
        assert_eq!(
            (
                got.desired,
                got.status,
                got.status_message.as_deref(),
                got.asleep
            ),
            (
                DesiredState::Running,
                InstanceStatus::Pending,
                Some("woken"),
                false
            )
        );
        assert_eq!(catalog.instances_to_run(NODE).await.unwrap().len(), 1);

        // A suspend by hand is not a sleep, also of a sleeping instance: nothing wakes it.
        assert!(catalog.put_to_sleep(id, NODE, "asleep").await.unwrap());
        catalog
            .set_desired_state(id, DesiredState::Suspended, InstanceStatus::Suspended)
            .await
            .unwrap();
        let got = catalog.instance(id).await.unwrap().unwrap();
        assert_eq!((got.desired, got.asleep), (DesiredState::Suspended, false));
        assert!(!catalog.wake(id, "woken").await.unwrap());
        assert!(!catalog.put_to_sleep(id, NODE, "asleep").await.unwrap());
        assert_eq!(catalog.sleeping_count().await.unwrap(), 0);

        // Resumed by hand, then asleep, then terminated: no wake brings it back.
        catalog
            .set_desired_state(id, DesiredState::Running, InstanceStatus::Pending)
            .await
            .unwrap();
        assert!(catalog.put_to_sleep(id, NODE, "asleep").await.unwrap());
        catalog
            .set_desired_state(id, DesiredState::Terminated, InstanceStatus::Terminated)
            .await
            .unwrap();
        assert!(!catalog.wake(id, "woken").await.unwrap());
        assert!(!catalog.instance(id).await.unwrap().unwrap().asleep);
    })
}
