//! Two `q8s-server --runtime kubernetes` replicas on one cluster (the fake API server), one
//! PostgreSQL and one blob folder, as `deploy/kubernetes/` runs them: both see every pod of the
//! cluster, so neither may stop the other's instances; when the replica that launched an
//! instance is gone, the other takes it over — its volume too (a PVC of the cluster, not a
//! replica's disk) — without touching the pod.

mod common;

use std::time::{Duration, Instant};

use common::kubernetes::*;
use common::*;
use q8s_runtime_kubernetes::fake_api::FakeApi;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_cluster_and_take_over_without_touching_pods() {
    let api = FakeApi::new();
    let cluster = api.serve_tcp().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.kubeconfig(NAMESPACE)).unwrap();
    let blobs = format!("file://{}", dir.path().join("blobs").display());
    let database = q8s_testing::postgres::fresh_database();
    let args = |node: &str| {
        let mut args = kubernetes_args(kubeconfig.to_str().unwrap());
        args.extend(
            [
                "--database",
                &database,
                "--blob-store",
                &blobs,
                "--node-name",
                node,
                "--node-timeout",
                "2",
            ]
            .map(str::to_owned),
        );
        args
    };
    let a_args = args("a");
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let mut a = TestServer::start_with(&a_args).await;
    let b_args = args("b");
    let b_args: Vec<&str> = b_args.iter().map(String::as_str).collect();
    let b = TestServer::start_replica_of(&a, &b_args).await;
    let admin = a.admin_token.clone();

    let (_app_dir, bundle) = app_variant(
        "ai.h2o.q8s.kube.replicas",
        "0.1.0",
        &[(
            "Module = \"hello.app\"",
            "Module = \"hello.app\"\nVolumeMount = \"/data\"\nVolumeSize = \"1Gi\"",
        )],
    );
    let (status, app) = a.import(&admin, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = a
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    a.wait_for_status(&admin, &id, "RUNNING", Duration::from_secs(30))
        .await;
    let deployment = object(&api, APPS, "deployments", &id).unwrap();

    // B lists A's pod at every pass (`--reconcile-interval 1`): it leaves it alone.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let now = object(&api, APPS, "deployments", &id).unwrap();
    assert_eq!(now["spec"]["replicas"], 1, "B scaled A's instance: {now}");
    let (status, seen) = b.get(&admin, &format!("/instances/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["status"], "RUNNING", "{seen}");
    let page = b
        .instance_client(&id)
        .get(b.instance_url(&id, "/"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "through B");

    // A goes; B takes the instance over — volume and all — and the pod is left as it was.
    a.kill();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, seen) = b.get(&admin, &format!("/instances/{id}")).await;
        let log = b.log();
        if log.contains("took over instances") && seen["status"] == "RUNNING" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B did not take over: {seen}; log: {log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = object(&api, APPS, "deployments", &id).unwrap();
    assert_eq!(after["metadata"]["uid"], deployment["metadata"]["uid"]);
    assert_eq!(after["spec"]["replicas"], 1);
    // And B, now in charge, suspends and resumes it.
    let (status, body) = b
        .send(
            Method::POST,
            &admin,
            &format!("/instances/{id}/suspend"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    b.wait_for_status(&admin, &id, "SUSPENDED", Duration::from_secs(10))
        .await;
    assert!(object(&api, CORE, "persistentvolumeclaims", &id).is_some());
    let (status, body) = b
        .send(
            Method::POST,
            &admin,
            &format!("/instances/{id}/resume"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    b.wait_for_status(&admin, &id, "RUNNING", Duration::from_secs(30))
        .await;
    drop(cluster);
}
