//! The runtime on a client made from a kubeconfig, over TCP: the fake API server on a loopback
//! port, `kube::Config`'s own code path (what `q8s-server --runtime kubernetes` will use), and
//! the errors an operator sees for a bad file or a cluster that does not answer.

use std::sync::Arc;
use std::time::Duration;

use q8s_runtime::conformance::Recorder;
use q8s_runtime::{BundleSource, InstanceSpec, InstanceStatus, Runtime, RuntimeError, StopMode};
use q8s_runtime_kubernetes::fake_api::FakeApi;
use q8s_runtime_kubernetes::{KubernetesRuntime, KubernetesSettings, connect};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use uuid::Uuid;

const NS: &str = "q8s-instances";

fn spec() -> InstanceSpec {
    InstanceSpec {
        instance_id: Uuid::new_v4(),
        app_id: Uuid::new_v4(),
        owner_id: Uuid::new_v4(),
        app_name: "hello".into(),
        app_version: "1.0.0".into(),
        bundle_sha256: "ef".repeat(32),
        bundle: BundleSource::Url {
            url: "https://q8s.example.com/v1/bundles/efef".into(),
            token: None,
        },
        module: "hello.app".into(),
        env: Vec::new(),
        volume_mount: None,
        volume_size: None,
        memory_limit: None,
        memory_reservation: None,
        instance_url: "https://x.q8s.example.com/".into(),
    }
}

fn settings() -> KubernetesSettings {
    KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0")
}

#[tokio::test]
async fn an_instance_runs_through_a_kubeconfig_over_tcp() {
    let api = FakeApi::new();
    let server = api.serve_tcp().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, server.kubeconfig(NS)).unwrap();

    let client = connect::client(Some(&kubeconfig)).await.unwrap();
    let sink = Arc::new(Recorder::default());
    let runtime =
        KubernetesRuntime::new(client, settings(), sink.clone(), Duration::from_millis(20))
            .await
            .unwrap();
    let spec = spec();
    let id = spec.instance_id;
    runtime.start(spec).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, Duration::from_secs(10))
        .await;
    // The upstream answers: the fake pod behind the Service's ClusterIP.
    let upstream = runtime.upstream(id).unwrap();
    let mut stream = upstream.connect().await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(
        answer.ends_with(&format!("fake pod q8s-{id}-fake")),
        "{answer}"
    );

    runtime.stop(id, StopMode::Terminate).await.unwrap();
    assert!(api.is_empty());
    // Every call went over TCP, into this namespace.
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.starts_with("PATCH")));
    assert!(
        requests
            .iter()
            .all(|r| r.contains(&format!("/namespaces/{NS}/"))),
        "{requests:#?}"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_kubeconfig_that_is_missing_or_broken_says_which_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = connect::client(Some(&missing))
        .await
        .err()
        .expect("an error");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    let broken = dir.path().join("broken");
    std::fs::write(&broken, "apiVersion: v1\nkind: Config\nclusters: [").unwrap();
    let err = connect::client(Some(&broken))
        .await
        .err()
        .expect("an error");
    assert!(err.to_string().contains("broken"), "{err}");

    // A context naming a cluster that is not in the file.
    let dangling = dir.path().join("dangling");
    std::fs::write(
        &dangling,
        "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: c\n  context:\n    cluster: gone\n    user: u\ncurrent-context: c\n",
    )
    .unwrap();
    let err = connect::client(Some(&dangling))
        .await
        .err()
        .expect("an error");
    assert!(err.to_string().contains("dangling"), "{err}");
}

#[tokio::test]
async fn a_cluster_that_does_not_answer_fails_the_runtime_at_once() {
    // A port nobody listens on: take one, then close it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context:\n    cluster: x\n    user: u\ncurrent-context: x\n"
    );
    std::fs::write(&kubeconfig, text).unwrap();
    let client = connect::client(Some(&kubeconfig)).await.unwrap();
    let sink = Arc::new(Recorder::default());
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        KubernetesRuntime::new(client, settings(), sink, Duration::from_millis(20)),
    )
    .await
    .expect("an answer within 30 s")
    .map(|_| ());
    let Err(RuntimeError::Io { source, .. }) = result else {
        panic!("not an I/O error");
    };
    assert_eq!(
        source.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{source}"
    );
    assert!(source.to_string().contains("did not answer"), "{source}");
}
