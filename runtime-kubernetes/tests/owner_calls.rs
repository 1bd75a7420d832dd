//! The call sequence of an apply with owner references (`Cluster::apply_owned`), over a
//! `tower-test` double: the Deployment's uid read first; for a new instance (`404`) the four
//! objects without an owner, the Deployment, then the four again owned by the uid the apply
//! returned; for an existing one, one apply each, owned by its uid. A refused `get` applies
//! nothing.

mod calls;
mod common;

use serde_json::{Value, json};
use uuid::Uuid;

use calls::*;

fn owner(id: Uuid, uid: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("q8s-{id}"),
            "uid": uid, "controller": false, "blockOwnerDeletion": false}])
}

fn deployment_path(id: Uuid) -> String {
    format!("/apis/apps/v1/namespaces/{NS}/deployments/q8s-{id}")
}

#[tokio::test]
async fn a_new_instance_is_applied_then_its_objects_are_given_their_owner() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let id = spec.instance_id;
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move { cluster.apply_owned(&objects).await }
    });
    let get = answer(&mut handle, 404, failure(404, "NotFound", "not found")).await;
    assert_eq!(
        (get.method.as_str(), get.path.clone()),
        ("GET", deployment_path(id))
    );
    let paths = apply_paths(id);
    let mut first = Vec::new();
    for path in &paths[..4] {
        let seen = answer(&mut handle, 201, json!({})).await;
        assert_server_side_apply(&seen, path);
        first.push(seen);
    }
    for seen in &first {
        assert!(
            seen.body["metadata"]["ownerReferences"].is_null(),
            "{seen:?}"
        );
    }
    let mut deployment = serde_json::to_value(&objects.deployment).unwrap();
    deployment["metadata"]["uid"] = json!("d-42");
    let seen = answer(&mut handle, 201, deployment).await;
    assert_server_side_apply(&seen, &paths[4]);
    assert!(seen.body["metadata"]["ownerReferences"].is_null());
    for (path, before) in paths[..4].iter().zip(&first) {
        let seen = answer(&mut handle, 200, json!({})).await;
        assert_server_side_apply(&seen, path);
        assert_eq!(seen.body["metadata"]["ownerReferences"], owner(id, "d-42"));
        // Nothing else differs from the first apply.
        let mut without = seen.body.clone();
        without["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
        assert_eq!(&without, &before.body);
    }
    let applied = call.await.unwrap().unwrap();
    assert_eq!(applied.metadata.uid.as_deref(), Some("d-42"));
}

#[tokio::test]
async fn an_existing_instance_is_applied_once_owned_by_its_deployment() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let id = spec.instance_id;
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move { cluster.apply_owned(&objects).await }
    });
    let mut deployment = serde_json::to_value(&objects.deployment).unwrap();
    deployment["metadata"]["uid"] = json!("d-7");
    let get = answer(&mut handle, 200, deployment.clone()).await;
    assert_eq!(get.path, deployment_path(id));
    let paths = apply_paths(id);
    for path in &paths[..4] {
        let seen = answer(&mut handle, 200, json!({})).await;
        assert_server_side_apply(&seen, path);
        assert_eq!(seen.body["metadata"]["ownerReferences"], owner(id, "d-7"));
    }
    let seen = answer(&mut handle, 200, deployment).await;
    assert_server_side_apply(&seen, &paths[4]);
    call.await.unwrap().unwrap();
    // And no second round.
    let more = tokio::time::timeout(std::time::Duration::from_millis(200), handle.next_request());
    assert!(more.await.is_err(), "a request after the Deployment");
}

#[tokio::test]
async fn a_refused_get_applies_nothing() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move { cluster.apply_owned(&objects).await }
    });
    answer(
        &mut handle,
        403,
        failure(403, "Forbidden", "cannot get deployments"),
    )
    .await;
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cluster-forbidden", "{err}");
    assert!(err.to_string().contains("get Deployment"), "{err}");
    let more = tokio::time::timeout(std::time::Duration::from_millis(200), handle.next_request());
    assert!(more.await.is_err(), "applied after a refused get");
}
