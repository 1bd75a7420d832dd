//! `q8s-server --runtime kubernetes` end to end, over TCP against the fake API server of
//! `q8s-runtime-kubernetes` (a kubeconfig names it; its fake kubelet makes ready pods whose
//! Service answers HTTP on a loopback ClusterIP): import, launch → RUNNING, status, logs and the
//! proxy; the pod's bundle download with its instance token and the attacks on it; suspend and
//! resume keep the volume; a restarted server adopts what runs without applying anything;
//! terminate deletes every object of the instance. No real cluster runs here
//! (docs/kubernetes.md says what only one can prove).

mod common;

use std::time::{Duration, Instant};

use common::kubernetes::*;
use common::*;
use q8s_runtime_kubernetes::fake_api::FakeApi;
use reqwest::StatusCode;
use serde_json::Value;

/// `GET /api/v1/instances/{id}/bundle` with `token` (none when `None`).
fn uid_and_version(object: &Value) -> (String, String) {
    (
        object["metadata"]["uid"].as_str().unwrap().to_owned(),
        object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// Waits until `gone(api)` holds (10 s at most).
async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_runs_instances_as_pods_and_adopts_them_after_a_restart() {
    let api = FakeApi::new();
    let cluster = api.serve_tcp().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.kubeconfig(NAMESPACE)).unwrap();
    let args = kubernetes_args(kubeconfig.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start_with(&args).await;
    let admin = server.admin_token.clone();

    // An app with a volume: import, launch, RUNNING once the fake kubelet's pod is ready.
    let (_dir, bundle) = app_variant(
        "ai.h2o.q8s.kube",
        "0.1.0",
        &[(
            "Module = \"hello.app\"",
            "Module = \"hello.app\"\nVolumeMount = \"/data\"\nVolumeSize = \"1Gi\"",
        )],
    );
    let (status, app) = server.import(&admin, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();
    let (status, instance) = server.launch(&admin, &app_id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    let running = server
        .wait_for_status(&admin, &id, "RUNNING", Duration::from_secs(30))
        .await;
    assert_eq!(running["restarts"], 0, "{running}");
    let deployment = object(&api, APPS, "deployments", &id).expect("a Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(
        deployment["metadata"]["annotations"]["q8s.dev/bundle-sha256"], app["bundle"]["sha256"],
        "{deployment}"
    );
    let pvc = object(&api, CORE, "persistentvolumeclaims", &id).expect("a PVC");
    assert_eq!(pvc["spec"]["storageClassName"], "fast");

    // Through the proxy: the pod behind the instance's Service answers.
    let page = server
        .instance_client(&id)
        .get(server.instance_url(&id, "/"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().starts_with("fake pod q8s-"),
        "the proxy reached no pod"
    );
    // Logs: the install's output (the init container) first, then the app's.
    let (status, _) = server.get(&admin, &format!("/instances/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let logs = server
        .client
        .get(server.api(&format!("/instances/{id}/logs")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(logs.status(), StatusCode::OK);
    let logs = logs.text().await.unwrap();
    let prepare = logs.find("prepare: line 1").expect(&logs);
    let instance_line = logs.find(": line 3").expect(&logs);
    assert!(prepare < instance_line, "{logs}");

    // The pod's download: its token gets exactly its bundle.
    let token = secret_token(&api, &id);
    let (status, bytes) = fetch_bundle(&server, &id, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sha256_hex(&bytes),
        app["bundle"]["sha256"].as_str().unwrap()
    );
    // Attacks: another instance's token, a user's API token, none, a forged one.
    let (status, other) = server.launch(&admin, &app_id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other_id = other["id"].as_str().unwrap().to_owned();
    let other_token = secret_token(&api, &other_id);
    assert_ne!(other_token, token);
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for (what, bad) in [
        ("another instance's token", Some(other_token.as_str())),
        ("the admin's API token", Some(admin.as_str())),
        ("no token", None),
        ("a forged token", Some(forged.as_str())),
    ] {
        let (status, body) = fetch_bundle(&server, &id, bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(!body.starts_with(b"PK"), "{what}: a bundle was sent");
    }
    // The instance token signs nobody in to the API.
    let (status, _) = server.get(&token, "/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A token after terminate: refused.
    let (status, _) = server
        .send(
            Method::DELETE,
            &admin,
            &format!("/instances/{other_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fetch_bundle(&server, &other_id, Some(&other_token)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a terminated instance's token"
    );
    wait_until("the terminated instance's objects go", || {
        object(&api, APPS, "deployments", &other_id).is_none()
            && object(&api, CORE, "secrets", &other_id).is_none()
    })
    .await;

    // Suspend: 0 replicas, the volume kept; resume: the same volume, RUNNING again.
    let pvc_uid = pvc["metadata"]["uid"].clone();
    let (status, body) = server
        .send(
            Method::POST,
            &admin,
            &format!("/instances/{id}/suspend"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
        .wait_for_status(&admin, &id, "SUSPENDED", Duration::from_secs(10))
        .await;
    let deployment = object(&api, APPS, "deployments", &id).unwrap();
    assert_eq!(deployment["spec"]["replicas"], 0);
    let kept = object(&api, CORE, "persistentvolumeclaims", &id).expect("the PVC is kept");
    assert_eq!(kept["metadata"]["uid"], pvc_uid);
    let (status, body) = server
        .send(
            Method::POST,
            &admin,
            &format!("/instances/{id}/resume"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
        .wait_for_status(&admin, &id, "RUNNING", Duration::from_secs(30))
        .await;
    let pvc = object(&api, CORE, "persistentvolumeclaims", &id).unwrap();
    assert_eq!(pvc["metadata"]["uid"], pvc_uid, "resume made a new volume");

    // A restarted server finds the pod running and applies nothing.
    let before: Vec<_> = [
        (APPS, "deployments"),
        (CORE, "services"),
        (CORE, "secrets"),
        (CORE, "persistentvolumeclaims"),
    ]
    .iter()
    .map(|(prefix, plural)| uid_and_version(&object(&api, prefix, plural, &id).unwrap()))
    .collect();
    let applied_before = api.requests().len();
    let server = server.restart().await;
    server
        .wait_for_status(&admin, &id, "RUNNING", Duration::from_secs(10))
        .await;
    // A few reconcile passes (`--reconcile-interval 1`) and watch events.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<_> = [
        (APPS, "deployments"),
        (CORE, "services"),
        (CORE, "secrets"),
        (CORE, "persistentvolumeclaims"),
    ]
    .iter()
    .map(|(prefix, plural)| uid_and_version(&object(&api, prefix, plural, &id).unwrap()))
    .collect();
    assert_eq!(
        before, after,
        "the restarted server changed the instance's objects"
    );
    let changes: Vec<String> = api.requests()[applied_before..]
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect();
    assert!(changes.is_empty(), "after the restart: {changes:?}");
    let page = server
        .instance_client(&id)
        .get(server.instance_url(&id, "/"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // Terminate: every object labelled with the instance goes, the volume too.
    let (status, _) = server
        .send(Method::DELETE, &admin, &format!("/instances/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_until("every object of the instance goes", || api.is_empty()).await;
    let (status, _) = fetch_bundle(&server, &id, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token after terminate");
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cpu_storage_egress_and_dns_settings_reach_the_pod_and_its_network_policy() {
    let api = FakeApi::new();
    let cluster = api.serve_tcp().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.kubeconfig(NAMESPACE)).unwrap();
    let mut args = kubernetes_args(kubeconfig.to_str().unwrap());
    args.extend(
        [
            "--kubernetes-cpu-request",
            "250m",
            "--kubernetes-ephemeral-storage",
            "8Gi",
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Two as flags, two as variables: both ways reach the runtime.
    let server = TestServer::start_with_env(
        &args,
        &[
            // A cluster whose package index sits in 10.0.0.0/8 leaves that range out.
            (
                "Q8S_SERVER_KUBERNETES_EGRESS_DENIED",
                "172.16.0.0/12,169.254.0.0/16,fe80::/10",
            ),
            (
                "Q8S_SERVER_KUBERNETES_DNS_PODS",
                "dns-system/app.kubernetes.io/name=coredns",
            ),
        ],
    )
    .await;
    let admin = server.admin_token.clone();
    let (_, id) = server.launch_hello(&admin).await;
    server
        .wait_for_status(&admin, &id, "RUNNING", Duration::from_secs(30))
        .await;

    let deployment = object(&api, APPS, "deployments", &id).expect("a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    for container in [&pod["initContainers"][0], &pod["containers"][0]] {
        let resources = &container["resources"];
        assert_eq!(resources["requests"]["cpu"], "250m", "{container}");
        assert_eq!(resources["requests"]["ephemeral-storage"], "8Gi");
        assert_eq!(resources["limits"]["ephemeral-storage"], "8Gi");
        assert!(resources["limits"]["cpu"].is_null(), "no CPU limit");
    }
    let policy = object(&api, NETWORKING, "networkpolicies", &id).expect("a NetworkPolicy");
    let egress = policy["spec"]["egress"].as_array().unwrap();
    let dns = &egress[0]["to"][0];
    assert_eq!(
        dns["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "dns-system"
    );
    assert_eq!(
        dns["podSelector"]["matchLabels"],
        serde_json::json!({"app.kubernetes.io/name": "coredns"})
    );
    let blocks: Vec<&Value> = egress
        .iter()
        .flat_map(|rule| rule["to"].as_array().unwrap())
        .filter_map(|peer| peer.get("ipBlock"))
        .collect();
    assert_eq!(
        blocks,
        [
            &serde_json::json!({"cidr": "0.0.0.0/0", "except": ["172.16.0.0/12", "169.254.0.0/16"]}),
            &serde_json::json!({"cidr": "::/0", "except": ["fe80::/10"]}),
        ],
        "{policy}"
    );
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_settings_and_an_unreachable_cluster_stop_the_start_with_why() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_q8s-server"));
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(binary)
            .arg("--data-dir")
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} started");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = run(&["--runtime", "kubernetes", "--kubernetes-image", "x"]);
    assert!(err.contains("--kubernetes-namespace"), "{err}");
    let err = run(&["--kubernetes-namespace", "q8s"]);
    assert!(err.contains("a setting of --runtime kubernetes"), "{err}");
    // Complete settings, but nothing answers where the kubeconfig points.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let port = free_port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: \
             http://127.0.0.1:{port}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: gone\n  \
             context:\n    cluster: gone\n    user: u\ncurrent-context: gone\n"
        ),
    )
    .unwrap();
    let mut args = kubernetes_args(kubeconfig.to_str().unwrap());
    args.truncate(args.len() - 2);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = run(&args);
    assert!(err.contains("--runtime kubernetes"), "{err}");

    // `check` says whether the cluster answers: not there, then the fake.
    let check = |kubeconfig: &std::path::Path| {
        let mut args = kubernetes_args(kubeconfig.to_str().unwrap());
        args.truncate(args.len() - 2);
        let output = std::process::Command::new(binary)
            .arg("--data-dir")
            .arg(data.path())
            .args(&args)
            .arg("check")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let line = stdout
            .lines()
            .find(|l| l.contains("runtime"))
            .unwrap_or_else(|| panic!("no runtime line: {stdout}"))
            .to_owned();
        (output.status.success(), line)
    };
    let (ok, line) = check(&kubeconfig);
    assert!(
        !ok && line.contains("listing Deployments in `q8s-instances`"),
        "{line}"
    );
    let api = FakeApi::new();
    let cluster = api.serve_tcp().await.unwrap();
    std::fs::write(&kubeconfig, cluster.kubeconfig(NAMESPACE)).unwrap();
    let (ok, line) = check(&kubeconfig);
    assert!(ok, "{line}");
    assert!(
        line.contains("kubernetes: namespace `q8s-instances` answers, 0 instance Deployment(s)"),
        "{line}"
    );
}
