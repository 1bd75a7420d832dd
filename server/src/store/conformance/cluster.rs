//! The checks of [`Cluster`](crate::store::Cluster): nodes and heartbeats, placements moved by
//! compare-and-set, status writes only from the node an instance is placed on, the relay key.

use std::time::Duration;

use futures::future::BoxFuture;
use q8s_runtime::InstanceStatus;
use uuid::Uuid;

use super::catalog::{new_app, new_instance_on};
use super::{Check, Subject, user};
use crate::store::{DesiredState, Stores, Visibility};

pub(super) const CHECKS: [Check; 5] = [
    (
        "heartbeats_name_the_living_nodes",
        heartbeats_name_the_living_nodes,
    ),
    (
        "placements_move_by_compare_and_set",
        placements_move_by_compare_and_set,
    ),
    (
        "only_the_placed_node_writes_status",
        only_the_placed_node_writes_status,
    ),
    (
        "placements_of_instances_to_run",
        placements_of_instances_to_run,
    ),
    ("the_first_relay_key_stays", the_first_relay_key_stays),
];

/// An app of alice's with one instance placed on `node`.
async fn instance_on(stores: &Stores, node: &str) -> Uuid {
    let alice = match stores.accounts.user_by_name("alice").await.unwrap() {
        Some(alice) => alice,
        None => user(stores, "alice", false).await,
    };
    let app = stores
        .catalog
        .insert_app(&new_app(
            &alice,
            "x",
            &format!("1.0.{}", Uuid::new_v4().as_u128() % 100_000),
            Visibility::Private,
        ))
        .await
        .unwrap();
    let new = new_instance_on(app.id, &alice, node);
    stores.catalog.insert_instance(&new).await.unwrap().id
}

fn heartbeats_name_the_living_nodes(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let cluster = &stores.cluster;
        assert!(
            cluster
                .nodes(Duration::from_secs(60))
                .await
                .unwrap()
                .is_empty()
        );
        cluster
            .heartbeat("b", "http://10.0.0.2:8008")
            .await
            .unwrap();
        cluster
            .heartbeat("a", "http://10.0.0.1:8008")
            .await
            .unwrap();
        cluster
            .heartbeat("a", "http://10.0.0.9:8008")
            .await
            .unwrap();
        let nodes = cluster.nodes(Duration::from_secs(60)).await.unwrap();
        let named: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.address.as_str()))
            .collect();
        assert_eq!(
            named,
            [("a", "http://10.0.0.9:8008"), ("b", "http://10.0.0.2:8008")]
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
        cluster
            .heartbeat("b", "http://10.0.0.2:8008")
            .await
            .unwrap();
        let alive = cluster.nodes(Duration::from_secs(1)).await.unwrap();
        assert_eq!(
            alive.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["b"],
            "a node silent for longer than the window is not alive"
        );
    })
}

fn placements_move_by_compare_and_set(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let cluster = &stores.cluster;
        let id = instance_on(&stores, "a").await;
        assert_eq!(cluster.placement(id).await.unwrap().as_deref(), Some("a"));
        assert!(
            !cluster.place(id, Some("z"), "b").await.unwrap(),
            "not on z"
        );
        assert!(!cluster.place(id, None, "b").await.unwrap(), "it is placed");
        assert!(cluster.place(id, Some("a"), "b").await.unwrap());
        assert!(
            !cluster.place(id, Some("a"), "c").await.unwrap(),
            "the second of two moves from a loses"
        );
        assert_eq!(cluster.placement(id).await.unwrap().as_deref(), Some("b"));
        let unknown = Uuid::new_v4();
        assert!(!cluster.place(unknown, None, "b").await.unwrap());
        assert_eq!(cluster.placement(unknown).await.unwrap(), None);
        // Two handles racing to move it: exactly one wins.
        let other = s.open().await;
        let (one, two) = tokio::join!(
            cluster.place(id, Some("b"), "c"),
            other.cluster.place(id, Some("b"), "d")
        );
        assert!(one.unwrap() ^ two.unwrap(), "exactly one move wins");
        let second = instance_on(&stores, "c").await;
        assert_eq!(cluster.place_all("e").await.unwrap(), 2);
        assert_eq!(
            cluster.placement(second).await.unwrap().as_deref(),
            Some("e")
        );
        assert_eq!(cluster.place_all("e").await.unwrap(), 0);
        // The placement goes with its instance.
        stores
            .catalog
            .set_desired_state(second, DesiredState::Terminated, InstanceStatus::Terminated)
            .await
            .unwrap();
        let app = stores
            .catalog
            .instance(second)
            .await
            .unwrap()
            .unwrap()
            .app_id;
        stores.catalog.delete_app(app).await.unwrap();
        assert_eq!(cluster.placement(second).await.unwrap(), None);
    })
}

fn only_the_placed_node_writes_status(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let catalog = &stores.catalog;
        let id = instance_on(&stores, "a").await;
        catalog
            .set_instance_status(id, "a", InstanceStatus::Running, None, 0)
            .await
            .unwrap();
        catalog
            .set_instance_status(id, "b", InstanceStatus::Failed, Some("from b"), 7)
            .await
            .unwrap();
        let now = catalog.instance(id).await.unwrap().unwrap();
        assert_eq!(
            (now.status, now.restarts),
            (InstanceStatus::Running, 0),
            "a node the instance is not placed on wrote its status"
        );
        assert!(stores.cluster.place(id, Some("a"), "b").await.unwrap());
        catalog
            .set_instance_status(id, "a", InstanceStatus::Suspended, Some("late"), 0)
            .await
            .unwrap();
        catalog
            .set_instance_status(id, "b", InstanceStatus::Starting, None, 1)
            .await
            .unwrap();
        let now = catalog.instance(id).await.unwrap().unwrap();
        assert_eq!((now.status, now.restarts), (InstanceStatus::Starting, 1));
    })
}

fn placements_of_instances_to_run(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let on_a = instance_on(&stores, "a").await;
        let on_b = instance_on(&stores, "b").await;
        let suspended = instance_on(&stores, "a").await;
        stores
            .catalog
            .set_desired_state(
                suspended,
                DesiredState::Suspended,
                InstanceStatus::Suspended,
            )
            .await
            .unwrap();
        let ids = |list: Vec<crate::store::InstanceRecord>| {
            list.into_iter().map(|i| i.id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(stores.catalog.instances_to_run("a").await.unwrap()),
            [on_a]
        );
        assert_eq!(
            ids(stores.catalog.instances_to_run("b").await.unwrap()),
            [on_b]
        );
        assert!(
            stores
                .catalog
                .instances_to_run("c")
                .await
                .unwrap()
                .is_empty()
        );
        // Orphans: what should run on a node that is not alive (neither said so yet).
        let window = Duration::from_secs(60);
        let mut all = stores.cluster.orphans(window).await.unwrap();
        all.sort();
        let mut want = vec![(on_a, Some("a".to_owned())), (on_b, Some("b".to_owned()))];
        want.sort();
        assert_eq!(all, want);
        stores.cluster.heartbeat("a", "http://a").await.unwrap();
        let orphans = stores.cluster.orphans(window).await.unwrap();
        assert_eq!(orphans, [(on_b, Some("b".to_owned()))], "a is alive");
        stores.cluster.heartbeat("b", "http://b").await.unwrap();
        assert!(stores.cluster.orphans(window).await.unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        stores.cluster.heartbeat("a", "http://a").await.unwrap();
        let orphans = stores
            .cluster
            .orphans(Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(orphans, [(on_b, Some("b".to_owned()))], "b went silent");
    })
}

fn the_first_relay_key_stays(s: &dyn Subject) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let stores = s.open().await;
        let other = s.open().await;
        let (one, two) = tokio::join!(
            stores.cluster.relay_key("first"),
            other.cluster.relay_key("second")
        );
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one, two, "both replicas use one key");
        assert!(one == "first" || one == "second");
        assert_eq!(stores.cluster.relay_key("third").await.unwrap(), one);
    })
}
