//! The watch requests of `KubernetesRuntime`: kube's `Client` over a `tower-test` double that
//! records every request and answers it from a script, as an API server would — the three
//! lists that fill the caches, the watches from the lists' `resourceVersion`, a watch whose
//! stream ends (a dropped connection) watched again from the last bookmark without a list, and
//! a watch answered with a `410 Expired` ERROR event (what the API server sends for a compacted
//! version) listed again, the new list's content becoming the status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use q8s_runtime::conformance::Recorder;
use q8s_runtime::{InstanceStatus, Runtime};
use q8s_runtime_kubernetes::{KubernetesRuntime, KubernetesSettings};
use serde_json::{Value, json};
use uuid::Uuid;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const NS: &str = "q8s-instances";
const WAIT: Duration = Duration::from_secs(10);
const MANAGED: &str = "app.kubernetes.io/managed-by=q8s";

/// One request as the double saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// `deployments`, `pods`, `services`.
    plural: String,
    watch: bool,
    query: BTreeMap<String, String>,
}

/// What the double answers: a status and body, or nothing (the request hangs, as a watch with
/// nothing to say does).
type Script = Box<dyn Fn(&Seen, usize) -> Option<(u16, Vec<u8>)> + Send>;

/// Answers every request from `script` (given the request and how many requests of the same
/// kind and sort came before it), recording them in `seen`.
fn serve(mut handle: Handle, seen: Arc<Mutex<Vec<Seen>>>, script: Script) {
    tokio::spawn(async move {
        let mut hanging = Vec::new();
        while let Some((request, respond)) = handle.next_request().await {
            let (parts, _) = request.into_parts();
            let path: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
            let query: BTreeMap<String, String> =
                form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            let request = Seen {
                method: parts.method.to_string(),
                plural: path.last().unwrap().to_string(),
                watch: query.get("watch").map(String::as_str) == Some("true"),
                query,
            };
            let before = {
                let mut seen = seen.lock().unwrap();
                let n = seen
                    .iter()
                    .filter(|s| s.plural == request.plural && s.watch == request.watch)
                    .count();
                seen.push(request.clone());
                n
            };
            match script(&request, before) {
                Some((status, body)) => {
                    let response = Response::builder()
                        .status(status)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Body::from(body))
                        .unwrap();
                    respond.send_response(response);
                }
                None => hanging.push(respond),
            }
        }
    });
}

fn list(kind: &str, version: &str, items: Vec<Value>) -> Option<(u16, Vec<u8>)> {
    let body = json!({"kind": format!("{kind}List"), "apiVersion": "v1",
                      "metadata": {"resourceVersion": version}, "items": items});
    Some((200, serde_json::to_vec(&body).unwrap()))
}

/// A watch body: one JSON line per event, then the end of the stream.
fn events(events: &[Value]) -> Option<(u16, Vec<u8>)> {
    let mut body = Vec::new();
    for event in events {
        body.extend(serde_json::to_vec(event).unwrap());
        body.push(b'\n');
    }
    Some((200, body))
}

fn labels(id: Uuid) -> Value {
    json!({"app.kubernetes.io/managed-by": "q8s", "q8s.dev/instance": id.to_string()})
}

fn deployment(id: Uuid, version: &str, replicas: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": format!("q8s-{id}"), "namespace": NS, "uid": "d-1",
                        "resourceVersion": version, "generation": 1, "labels": labels(id)},
           "spec": {"replicas": replicas, "selector": {}, "template": {}}})
}

fn ready_pod(id: Uuid) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("q8s-{id}-a"), "namespace": NS, "uid": "p-1",
                        "resourceVersion": "6", "labels": labels(id),
                        "creationTimestamp": "2026-01-01T00:00:00Z"},
           "status": {"phase": "Running",
                      "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn service(id: Uuid) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": format!("q8s-{id}"), "namespace": NS, "uid": "s-1",
                        "resourceVersion": "7", "labels": labels(id)},
           "spec": {"clusterIP": "10.0.0.7"}})
}

fn gone() -> Value {
    json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
           "status": "Failure", "message": "too old resource version: 10 (14)",
           "reason": "Expired", "code": 410}})
}

fn bookmark(kind: &str, version: &str) -> Value {
    json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": "v1",
           "metadata": {"resourceVersion": version}}})
}

/// Waits until `seen` holds `n` requests of `plural` of the sort `watch`.
async fn until(seen: &Arc<Mutex<Vec<Seen>>>, plural: &str, watch: bool, n: usize) -> Vec<Seen> {
    let of = || -> Vec<Seen> {
        let seen = seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.plural == plural && s.watch == watch)
            .cloned()
            .collect()
    };
    let waited = tokio::time::timeout(WAIT, async {
        while of().len() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{n} of {plural} (watch {watch}): {:#?}",
        of()
    );
    of()
}

#[tokio::test]
async fn lists_then_watches_a_dropped_watch_resumes_and_a_410_lists_again() {
    let id = Uuid::new_v4();
    let (service_double, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    serve(
        handle,
        Arc::clone(&seen),
        Box::new(
            move |request, n| match (request.plural.as_str(), request.watch, n) {
                // The caches' lists, at version 10.
                ("deployments", false, 0) => list("Deployment", "10", vec![deployment(id, "5", 1)]),
                ("pods", false, 0) => list("Pod", "10", vec![ready_pod(id)]),
                ("services", false, 0) => list("Service", "10", vec![service(id)]),
                // Deployments: the watch from 10 learns that 10 is compacted away; the new list
                // (at 20) has the instance at zero replicas; its watch then waits.
                ("deployments", true, 0) => events(&[gone()]),
                ("deployments", false, 1) => {
                    list("Deployment", "20", vec![deployment(id, "19", 0)])
                }
                // Pods: a bookmark at 15, then the connection drops; the next watch waits.
                ("pods", true, 0) => events(&[bookmark("Pod", "15")]),
                _ => None,
            },
        ),
    );
    let client = kube::Client::new(service_double, NS);
    let sink = Arc::new(Recorder::default());
    let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    let runtime = KubernetesRuntime::new(client, settings, sink.clone(), Duration::from_millis(10))
        .await
        .unwrap();

    // Filled from the lists, without reporting what the store already has.
    assert_eq!(
        runtime.upstream(id).map(|u| u.authority()),
        Some("10.0.0.7:10101".to_owned())
    );
    assert!(sink.history(id).is_empty());
    for plural in ["deployments", "pods", "services"] {
        let lists = until(&seen, plural, false, 1).await;
        let query = &lists[0].query;
        assert_eq!(lists[0].method, "GET");
        assert_eq!(query["labelSelector"], MANAGED, "{plural}");
        assert_eq!(query["limit"], "500", "{plural}");
        assert!(
            !query.contains_key("resourceVersion"),
            "{plural}: the most recent"
        );
        let watches = until(&seen, plural, true, 1).await;
        let query = &watches[0].query;
        assert_eq!(query["labelSelector"], MANAGED, "{plural}");
        assert_eq!(
            query["resourceVersion"], "10",
            "{plural}: from the list's version"
        );
        assert_eq!(query["allowWatchBookmarks"], "true", "{plural}");
        assert_eq!(query["timeoutSeconds"], "290", "{plural}");
    }

    // The dropped pods watch: watched again from the bookmark, no list.
    let watches = until(&seen, "pods", true, 2).await;
    assert_eq!(watches[1].query["resourceVersion"], "15");
    // The 410: listed again (after the backoff), watched from the new list's version.
    until(&seen, "deployments", false, 2).await;
    let watches = until(&seen, "deployments", true, 2).await;
    assert_eq!(watches[1].query["resourceVersion"], "20");
    // What the new list says is the status.
    let suspended = sink.wait_status(id, InstanceStatus::Suspended, WAIT).await;
    assert_eq!(suspended.restarts, 0);
    assert!(runtime.upstream(id).is_none());

    // Nothing else was asked: no list of pods or services after the first, no writes.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.method == "GET"), "{seen:#?}");
    for plural in ["pods", "services"] {
        let lists = seen.iter().filter(|s| s.plural == plural && !s.watch);
        assert_eq!(lists.count(), 1, "{plural}: {seen:#?}");
    }
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_cluster_that_refuses_the_list_fails_the_runtime_with_the_api_s_answer() {
    let (service_double, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    serve(
        handle,
        Arc::clone(&seen),
        Box::new(|request, _| {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "reason": "Forbidden", "code": 403,
                "message": format!("cannot list resource \"{}\"", request.plural)});
            Some((403, serde_json::to_vec(&status).unwrap()))
        }),
    );
    let client = kube::Client::new(service_double, NS);
    let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    let sink = Arc::new(Recorder::default());
    let result = tokio::time::timeout(
        WAIT,
        KubernetesRuntime::new(client, settings, sink, Duration::from_millis(10)),
    )
    .await
    .expect("an answer, not a wait for the backoff");
    let Err(q8s_runtime::RuntimeError::Io { source, .. }) = result.map(|_| ()) else {
        panic!("the runtime started");
    };
    assert_eq!(
        source.kind(),
        std::io::ErrorKind::PermissionDenied,
        "{source}"
    );
    assert!(source.to_string().contains("403"), "{source}");
}
