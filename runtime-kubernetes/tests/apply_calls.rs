//! The call sequence of the Kubernetes runtime: kube's `Client` over a tower service double
//! (`tower-test`) that checks every request — method, path, query (`fieldManager=q8s`,
//! `force=true`), content type, body — and answers it as an API server would, errors
//! included (`404`, `409`, `410`, `403`, `422`).

mod calls;
mod common;

use q8s_runtime::RuntimeError;
use serde_json::{Value, json};
use uuid::Uuid;

use calls::*;

#[tokio::test]
async fn apply_sends_every_object_by_server_side_apply_in_order() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move { cluster.apply(&objects).await }
    });
    let seen = answer_applies(&mut handle, &objects).await;
    let deployment = call.await.unwrap().unwrap();
    assert!(
        deployment.metadata.uid.is_some(),
        "the stored Deployment comes back"
    );
    for (seen, path) in seen.iter().zip(apply_paths(spec.instance_id)) {
        assert_server_side_apply(seen, &path);
    }
    // The bodies are the objects, kind and apiVersion included (what apply needs).
    assert_eq!(seen[0].body, serde_json::to_value(&objects.secret).unwrap());
    assert_eq!(seen[4].body["kind"], "Deployment");
    assert_eq!(seen[4].body["apiVersion"], "apps/v1");
    assert_eq!(seen[4].body["spec"]["replicas"], 1);
    // The secret's value goes to the Secret only.
    for other in &seen[1..] {
        assert!(!other.body.to_string().contains("czNjcjN0")); // base64 of s3cr3t
        assert!(!other.body.to_string().contains("s3cr3t"));
    }
}

#[tokio::test]
async fn applying_twice_sends_the_same_requests() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move {
            cluster.apply(&objects).await.unwrap();
            cluster.apply(&objects).await.unwrap();
        }
    });
    let first = answer_applies(&mut handle, &objects).await;
    let second = answer_applies(&mut handle, &objects).await;
    call.await.unwrap();
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((&a.path, &a.query, &a.body), (&b.path, &b.query, &b.body));
    }
}

#[tokio::test]
async fn a_conflict_is_applied_again_and_the_sequence_goes_on() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move { cluster.apply(&objects).await }
    });
    let paths = apply_paths(spec.instance_id);
    // The Secret: two conflicts (an old one still being deleted), then stored.
    let conflict = failure(409, "Conflict", "object is being deleted");
    for _ in 0..2 {
        let seen = answer(&mut handle, 409, conflict.clone()).await;
        assert_server_side_apply(&seen, &paths[0]);
    }
    let secret = serde_json::to_value(&objects.secret).unwrap();
    assert_server_side_apply(&answer(&mut handle, 200, stored(&secret)).await, &paths[0]);
    let rest = [
        serde_json::to_value(objects.volume.as_ref().unwrap()).unwrap(),
        serde_json::to_value(&objects.service).unwrap(),
        serde_json::to_value(&objects.network_policy).unwrap(),
        serde_json::to_value(&objects.deployment).unwrap(),
    ];
    for (body, path) in rest.iter().zip(&paths[1..]) {
        assert_server_side_apply(&answer(&mut handle, 200, stored(body)).await, path);
    }
    call.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_conflict_that_stays_is_an_error_and_nothing_after_it_is_applied() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move { cluster.apply(&objects).await }
    });
    let conflict = failure(409, "Conflict", "object is being deleted");
    for _ in 0..5 {
        answer(&mut handle, 409, conflict.clone()).await;
    }
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cluster-conflict");
    assert!(err.to_string().contains("object is being deleted"), "{err}");
    drop(cluster);
    assert!(
        handle.next_request().await.is_none(),
        "applied after the error"
    );
}

#[tokio::test]
async fn an_invalid_object_is_not_tried_again() {
    let (cluster, mut handle) = cluster();
    let spec = spec();
    let objects = objects(&spec);
    let call = tokio::spawn({
        let (cluster, objects) = (cluster.clone(), objects.clone());
        async move { cluster.apply(&objects).await }
    });
    let invalid = failure(
        422,
        "Invalid",
        "Secret \"x\" is invalid: data[a b]: Invalid value",
    );
    answer(&mut handle, 422, invalid).await;
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cluster-invalid");
    let runtime: RuntimeError = err.into();
    assert!(runtime.to_string().contains("Invalid value"), "{runtime}");
    drop(cluster);
    assert!(handle.next_request().await.is_none());
}

#[tokio::test]
async fn suspend_scales_the_deployment_to_zero_and_a_missing_one_is_no_error() {
    let (cluster, mut handle) = cluster();
    let id = Uuid::new_v4();
    let call = tokio::spawn({
        let cluster = cluster.clone();
        async move { (cluster.suspend(id).await, cluster.suspend(id).await) }
    });
    let scale = json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                       "metadata": {"name": format!("q8s-{id}"), "namespace": NS},
                       "spec": {"replicas": 0}, "status": {"replicas": 1}});
    let seen = answer(&mut handle, 200, scale).await;
    assert_eq!(seen.method, "PATCH");
    assert_eq!(
        seen.path,
        format!("/apis/apps/v1/namespaces/{NS}/deployments/q8s-{id}/scale")
    );
    assert_eq!(
        seen.query.get("fieldManager").map(String::as_str),
        Some("q8s")
    );
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(seen.body, json!({"spec": {"replicas": 0}}));
    answer(&mut handle, 404, failure(404, "NotFound", "not found")).await;
    let (first, second) = call.await.unwrap();
    assert!(first.unwrap());
    assert!(!second.unwrap());
}

#[tokio::test]
async fn a_token_refresh_patches_the_secret_s_two_keys_and_a_missing_secret_is_no_error() {
    let (cluster, mut handle) = cluster();
    let id = Uuid::new_v4();
    let call = tokio::spawn({
        let cluster = cluster.clone();
        async move {
            (
                cluster
                    .refresh_bundle(id, "http://s/b", Some("q8si_t"))
                    .await,
                cluster.refresh_bundle(id, "http://s/b", None).await,
            )
        }
    });
    let secret = json!({"kind": "Secret", "apiVersion": "v1",
                        "metadata": {"name": format!("q8s-{id}"), "namespace": NS}});
    let seen = answer(&mut handle, 200, secret).await;
    assert_eq!(seen.method, "PATCH");
    assert_eq!(
        seen.path,
        format!("/api/v1/namespaces/{NS}/secrets/q8s-{id}")
    );
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    // base64 of `http://s/b` and `q8si_t`: nothing else of the Secret is sent.
    assert_eq!(
        seen.body,
        json!({"data": {"q8s.bundle-url": "aHR0cDovL3MvYg==", "q8s.bundle-token": "cThzaV90"}})
    );
    let seen = answer(&mut handle, 404, failure(404, "NotFound", "not found")).await;
    assert_eq!(
        seen.body,
        json!({"data": {"q8s.bundle-url": "aHR0cDovL3MvYg=="}})
    );
    let (first, second) = call.await.unwrap();
    assert!(first.unwrap());
    assert!(!second.unwrap());
}

#[tokio::test]
async fn terminate_deletes_by_label_and_what_is_gone_is_no_error() {
    let (cluster, mut handle) = cluster();
    let id = Uuid::new_v4();
    let call = tokio::spawn({
        let cluster = cluster.clone();
        async move { cluster.terminate(id).await }
    });
    // The Deployment is gone already (a second terminate): 404, and the rest still goes.
    let seen = answer(&mut handle, 404, failure(404, "NotFound", "gone")).await;
    assert_eq!(seen.method, "DELETE");
    assert_eq!(
        seen.path,
        format!("/apis/apps/v1/namespaces/{NS}/deployments/q8s-{id}")
    );
    assert_eq!(seen.body["propagationPolicy"], "Background");
    let selector = format!("app.kubernetes.io%2Fmanaged-by%3Dq8s%2Cq8s.dev%2Finstance%3D{id}");
    for (path, kind) in [
        (format!("/api/v1/namespaces/{NS}/services"), "ServiceList"),
        (
            format!("/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"),
            "NetworkPolicyList",
        ),
        (format!("/api/v1/namespaces/{NS}/secrets"), "SecretList"),
        (
            format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"),
            "PersistentVolumeClaimList",
        ),
    ] {
        let seen = answer(&mut handle, 200, list_of(kind, vec![], None)).await;
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("DELETE", path.as_str())
        );
        assert_eq!(seen.query.get("labelSelector"), Some(&selector), "{seen:?}");
    }
    call.await.unwrap().unwrap();
}

#[tokio::test]
async fn terminate_stops_at_a_refusal_and_says_so() {
    let (cluster, mut handle) = cluster();
    let id = Uuid::new_v4();
    let call = tokio::spawn({
        let cluster = cluster.clone();
        async move { cluster.terminate(id).await }
    });
    let deleted = json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
    answer(&mut handle, 200, deleted).await;
    answer(&mut handle, 200, list_of("ServiceList", vec![], None)).await;
    answer(&mut handle, 200, list_of("NetworkPolicyList", vec![], None)).await;
    let forbidden = failure(
        403,
        "Forbidden",
        "secrets is forbidden: User \"system:serviceaccount:q8s:q8s-server\" cannot deletecollection",
    );
    answer(&mut handle, 403, forbidden).await;
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cluster-forbidden");
    let runtime: RuntimeError = err.into();
    let RuntimeError::Io { source, .. } = &runtime else {
        panic!("{runtime:?}")
    };
    assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
    drop(cluster);
    assert!(
        handle.next_request().await.is_none(),
        "went on after a refusal"
    );
}

fn deployment_item(id: Uuid) -> Value {
    json!({"metadata": {"name": format!("q8s-{id}"), "namespace": NS,
                        "labels": {"app.kubernetes.io/managed-by": "q8s"}},
           "spec": {"selector": {}, "template": {}}})
}

#[tokio::test]
async fn a_list_whose_continue_token_expired_starts_again() {
    let (cluster, mut handle) = cluster();
    let call = tokio::spawn({
        let cluster = cluster.clone();
        async move { cluster.deployments().await }
    });
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let first = answer(
        &mut handle,
        200,
        list_of("DeploymentList", vec![deployment_item(a)], Some("t1")),
    )
    .await;
    assert_eq!(
        first.path,
        format!("/apis/apps/v1/namespaces/{NS}/deployments")
    );
    assert_eq!(
        first.query.get("labelSelector").map(String::as_str),
        Some("app.kubernetes.io%2Fmanaged-by%3Dq8s")
    );
    assert_eq!(first.query.get("limit").map(String::as_str), Some("500"));
    assert!(!first.query.contains_key("continue"));
    let expired = failure(410, "Expired", "The provided continue parameter is too old");
    let second = answer(&mut handle, 410, expired).await;
    assert_eq!(second.query.get("continue").map(String::as_str), Some("t1"));
    // Again from the start: a fresh snapshot, where `a` is gone.
    let again = answer(
        &mut handle,
        200,
        list_of("DeploymentList", vec![deployment_item(b)], Some("t2")),
    )
    .await;
    assert!(!again.query.contains_key("continue"));
    let last = answer(
        &mut handle,
        200,
        list_of("DeploymentList", vec![deployment_item(c)], None),
    )
    .await;
    assert_eq!(last.query.get("continue").map(String::as_str), Some("t2"));
    let names: Vec<String> = call
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|d| d.metadata.name.unwrap())
        .collect();
    assert_eq!(names, [format!("q8s-{b}"), format!("q8s-{c}")]);
}

#[tokio::test]
async fn a_gone_first_page_is_an_error_not_a_loop() {
    let (cluster, mut handle) = cluster();
    let id = Uuid::new_v4();
    let call = tokio::spawn({
        let cluster = cluster.clone();
        async move { cluster.pods(id).await }
    });
    let gone = failure(410, "Gone", "too old resource version");
    let seen = answer(&mut handle, 410, gone).await;
    assert_eq!(seen.path, format!("/api/v1/namespaces/{NS}/pods"));
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cluster-refused");
    drop(cluster);
    assert!(handle.next_request().await.is_none());
}
