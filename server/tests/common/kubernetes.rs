//! The fake cluster of the Kubernetes tests: the server's flags for it and what its objects
//! hold.

use base64::Engine as _;
use q8s_runtime_kubernetes::fake_api::FakeApi;
use reqwest::StatusCode;
use serde_json::Value;

use super::TestServer;

pub const NAMESPACE: &str = "q8s-instances";
pub const CORE: &str = "api/v1";
pub const APPS: &str = "apis/apps/v1";
pub const NETWORKING: &str = "apis/networking.k8s.io/v1";

/// The server's flags for the fake cluster whose kubeconfig is `kubeconfig`.
pub fn kubernetes_args(kubeconfig: &str) -> Vec<String> {
    [
        "--runtime",
        "kubernetes",
        "--kubeconfig",
        kubeconfig,
        "--kubernetes-namespace",
        NAMESPACE,
        "--kubernetes-image",
        "q8s-runtime:test",
        "--kubernetes-server-url",
        "http://q8s-server.q8s-system.svc:8008",
        "--kubernetes-storage-class",
        "fast",
        "--reconcile-interval",
        "1",
    ]
    .map(str::to_owned)
    .to_vec()
}

pub fn object(api: &FakeApi, prefix: &str, plural: &str, id: &str) -> Option<Value> {
    api.get(prefix, NAMESPACE, plural, &format!("q8s-{id}"))
}

/// The download token the instance's Secret holds (what the pod's init container sends).
pub fn secret_token(api: &FakeApi, id: &str) -> String {
    let secret = object(api, CORE, "secrets", id).expect("the instance's Secret");
    let encoded = secret["data"]["q8s.bundle-token"].as_str().unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    String::from_utf8(raw).unwrap()
}

/// A fake cluster on a loopback port and a `q8s-server --runtime kubernetes` using it (through
/// a kubeconfig in the returned folder), with `extra` flags.
pub async fn server_on_fake_cluster(
    extra: &[&str],
) -> (
    FakeApi,
    q8s_runtime_kubernetes::fake_api::FakeApiServer,
    tempfile::TempDir,
    super::TestServer,
) {
    let api = FakeApi::new();
    let cluster = api.serve_tcp().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.kubeconfig(NAMESPACE)).unwrap();
    let args = kubernetes_args(kubeconfig.to_str().unwrap());
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let server = super::TestServer::start_with(&args).await;
    (api, cluster, dir, server)
}

/// The environment the kubelet would give `container` (`prepare` or `instance`) of instance
/// `id`'s pod: the values of its Deployment's pod template, those from the Secret decoded.
pub fn container_env(api: &FakeApi, id: &str, container: &str) -> Vec<(String, String)> {
    let deployment = object(api, APPS, "deployments", id).expect("the Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    let containers = spec["initContainers"]
        .as_array()
        .into_iter()
        .chain(spec["containers"].as_array())
        .flatten();
    let found = containers
        .into_iter()
        .find(|c| c["name"] == container)
        .unwrap_or_else(|| panic!("no container {container}"));
    let secret = object(api, CORE, "secrets", id).expect("the Secret");
    found["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            let name = var["name"].as_str().unwrap().to_owned();
            let value = match var["value"].as_str() {
                Some(value) => value.to_owned(),
                None => {
                    let key = var["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
                    let encoded = secret["data"][key].as_str().unwrap();
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .unwrap();
                    String::from_utf8(raw).unwrap()
                }
            };
            (name, value)
        })
        .collect()
}

/// The pod's bundle download: `GET /instances/{id}/bundle` with `token` as its bearer.
pub async fn fetch_bundle(
    server: &TestServer,
    id: &str,
    token: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut request = server
        .client
        .get(server.api(&format!("/instances/{id}/bundle")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}
