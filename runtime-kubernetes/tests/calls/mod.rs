//! What the call-sequence tests share: kube's `Client` over a `tower-test` double, answering
//! each request as the test says and returning what was sent.
#![allow(dead_code)] // not every test binary uses every helper

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use q8s_runtime::InstanceSpec;
use q8s_runtime_kubernetes::KubernetesSettings;
use q8s_runtime_kubernetes::apply::Cluster;
use q8s_runtime_kubernetes::manifest::{InstanceObjects, Replicas};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common;

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

pub const NS: &str = "q8s-instances";

/// One request as the double saw it.
#[derive(Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Value,
}

pub fn cluster() -> (Cluster, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, NS);
    let cluster = Cluster::new(client, NS).with_conflict_delay(Duration::from_millis(1));
    (cluster, handle)
}

/// Takes the next request and answers it with `status` and `body`.
pub async fn answer(handle: &mut Handle, status: u16, body: Value) -> Seen {
    let (request, respond) = tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("a request within 10 s")
        .expect("a request, not the end");
    let (parts, body_in) = request.into_parts();
    let bytes = body_in.collect_bytes().await.unwrap();
    let query = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned()),
        body: if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON body")
        },
    };
    let response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    respond.send_response(response);
    seen
}

/// What the API server answers for an error.
pub fn failure(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// The object as the API server would store it (a uid and resourceVersion added).
pub fn stored(object: &Value) -> Value {
    let mut object = object.clone();
    object["metadata"]["uid"] = json!(Uuid::new_v4().to_string());
    object["metadata"]["resourceVersion"] = json!("1");
    object
}

/// The empty list answer.
pub fn list_of(kind: &str, items: Vec<Value>, token: Option<&str>) -> Value {
    let mut metadata = json!({"resourceVersion": "9"});
    if let Some(token) = token {
        metadata["continue"] = json!(token);
    }
    json!({"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": items})
}

pub fn spec() -> InstanceSpec {
    common::spec_with("cd", "t0k3n", "s3cr3t")
}

pub fn objects(spec: &InstanceSpec) -> InstanceObjects {
    let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    InstanceObjects::build(spec, &settings, Replicas::Running).unwrap()
}

/// The paths of the five applies, in order.
pub fn apply_paths(id: Uuid) -> [String; 5] {
    let name = format!("q8s-{id}");
    [
        format!("/api/v1/namespaces/{NS}/secrets/{name}"),
        format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}"),
        format!("/api/v1/namespaces/{NS}/services/{name}"),
        format!("/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/{name}"),
        format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}"),
    ]
}

pub fn assert_server_side_apply(seen: &Seen, path: &str) {
    assert_eq!(seen.method, "PATCH", "{seen:?}");
    assert_eq!(seen.path, path);
    assert_eq!(
        seen.query,
        BTreeMap::from([
            ("fieldManager".to_owned(), "q8s".to_owned()),
            ("force".to_owned(), "true".to_owned()),
        ]),
        "{path}"
    );
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
}

/// Answers the five applies of `objects` with success; returns what was sent.
pub async fn answer_applies(handle: &mut Handle, objects: &InstanceObjects) -> Vec<Seen> {
    let bodies = [
        serde_json::to_value(&objects.secret).unwrap(),
        serde_json::to_value(objects.volume.as_ref().unwrap()).unwrap(),
        serde_json::to_value(&objects.service).unwrap(),
        serde_json::to_value(&objects.network_policy).unwrap(),
        serde_json::to_value(&objects.deployment).unwrap(),
    ];
    let mut seen = Vec::new();
    for body in &bodies {
        seen.push(answer(handle, 200, stored(body)).await);
    }
    seen
}
