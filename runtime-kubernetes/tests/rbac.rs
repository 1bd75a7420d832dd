//! The runtime's RBAC (`deploy/kubernetes/rbac.yaml`) is exactly what it uses: every request
//! `KubernetesRuntime` sends through a whole life of instances (start, watch, logs, suspend,
//! resume, a failed instance restarted, terminate, list) is allowed by the Role, and every
//! rule of the Role is used by some request.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use q8s_runtime::conformance::Recorder;
use q8s_runtime::{InstanceStatus, Runtime, StopMode};
use q8s_runtime_kubernetes::fake_api::{FakeApi, Kubelet};
use q8s_runtime_kubernetes::{KubernetesRuntime, KubernetesSettings};
use serde_json::Value;

const NS: &str = "q8s-instances";
const WAIT: Duration = Duration::from_secs(10);

/// (API group, resource, verb).
type Permission = (String, String, String);

/// What the Role allows.
fn role() -> BTreeSet<Permission> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let role = docs.iter().find(|d| d["kind"] == "Role").expect("a Role");
    assert_eq!(
        role["metadata"]["namespace"], NS,
        "the Role is for the instances' namespace"
    );
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut allowed = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    allowed.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    allowed
}

/// What a request (`METHOD /path?query`, as the fake records it) needs, as the API server's
/// authorizer sees it.
fn needs(request: &str) -> Vec<Permission> {
    let (method, target) = request.split_once(' ').unwrap();
    let path = target.split('?').next().unwrap();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _, rest @ ..] => (*group, rest),
        _ => panic!("{request}"),
    };
    let ["namespaces", ns, plural, rest @ ..] = rest else {
        panic!("not namespaced: {request}");
    };
    assert_eq!(
        *ns, NS,
        "a request outside the instances' namespace: {request}"
    );
    let (resource, named) = match rest {
        [] => (plural.to_string(), false),
        [_] => (plural.to_string(), true),
        [_, sub] => (format!("{plural}/{sub}"), true),
        _ => panic!("{request}"),
    };
    let verbs: &[&str] = match (method, named) {
        ("GET", true) => &["get"],
        ("GET", false) if target.contains("watch=true") => &["watch"],
        ("GET", false) => &["list"],
        // An apply may create; a merge patch of a subresource never does.
        ("PATCH", true) if resource.contains('/') => &["patch"],
        ("PATCH", true) => &["patch", "create"],
        ("DELETE", true) => &["delete"],
        ("DELETE", false) => &["deletecollection"],
        _ => panic!("{request}"),
    };
    verbs
        .iter()
        .map(|verb| (group.to_owned(), resource.clone(), verb.to_string()))
        .collect()
}

#[tokio::test]
async fn the_role_allows_what_the_runtime_does_and_no_more() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    let runtime = KubernetesRuntime::new(
        api.client(NS),
        settings,
        sink.clone(),
        Duration::from_millis(20),
    )
    .await
    .unwrap();
    let spec = common::spec();
    let id = spec.instance_id;
    runtime.start(spec.clone()).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, WAIT).await;
    let _ = runtime
        .logs(id, Some(10), false)
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    runtime.stop(id, StopMode::Suspend).await.unwrap();
    runtime.start(spec.clone()).await.unwrap();
    api.set_kubelet(Kubelet::CrashLoop(5));
    sink.wait_status(id, InstanceStatus::Failed, WAIT).await;
    api.set_kubelet(Kubelet::Ready);
    runtime.start(spec.clone()).await.unwrap();
    runtime.list().await.unwrap();
    runtime.stop(id, StopMode::Terminate).await.unwrap();
    runtime.shutdown().await;

    let allowed = role();
    let mut used = BTreeSet::new();
    for request in api.requests() {
        for permission in needs(&request) {
            assert!(
                allowed.contains(&permission),
                "{request} needs {permission:?}, which the Role does not give"
            );
            used.insert(permission);
        }
    }
    let unused: Vec<_> = allowed.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the Role gives what the runtime never uses: {unused:?}"
    );
}
