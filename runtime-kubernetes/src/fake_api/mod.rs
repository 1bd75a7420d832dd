//! A stateful fake of the Kubernetes API server, for tests (`scale-out.md`, "How we test what
//! this machine cannot run", level 3): a tower service that [`kube::Client`] runs over, keeping
//! objects in memory.
//!
//! What it does, as the API server does: namespaced get, list (with equality label selectors),
//! delete and delete-collection, the objects a deleted one owns deleted (or orphaned) after the
//! delete's `propagationPolicy` (`gc.rs`); server-side apply (`PATCH` with
//! `application/apply-patch+yaml`, a `fieldManager` required) as create-or-merge, where a
//! field the manager applied before and no longer sends is removed (`merge.rs`) and an apply
//! that changes nothing keeps the `resourceVersion`; a merge patch of an object or of a
//! Deployment's `scale` subresource; `uid`, `resourceVersion`, `generation` and `creationTimestamp` set by
//! the server; `404`, `409` and `422` answers as `Status` objects; a fake kubelet
//! ([`Kubelet`]) that gives each Deployment its pod, in the state the test chose; a ClusterIP
//! on the loopback range for every Service, where a ready pod answers HTTP; watches with
//! bookmarks and `410 Expired` for compacted versions (`watch.rs`). `pods/log` gives fixed lines
//! (three for the `instance` container, two for any other).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::StreamExt as _;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::Frame;
use kube::client::Body;
use serde_json::{Value, json};

mod gc;
mod kubelet;
mod merge;
mod network;
mod route;
mod tcp;
mod watch;

pub use kubelet::Kubelet;
use route::Route;
pub use tcp::FakeApiServer;

/// The fake API server; clones share one store.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    /// Bumped after every change, to wake the open watches.
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for FakeApi {
    fn default() -> FakeApi {
        FakeApi {
            state: Arc::default(),
            changed: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

#[derive(Default)]
struct State {
    /// Objects by (API prefix, namespace, plural, name).
    objects: BTreeMap<Key, Value>,
    /// The last `resourceVersion` given.
    version: u64,
    /// Every request so far: method and path with query.
    requests: Vec<String>,
    /// What the pods the fake makes do.
    kubelet: Kubelet,
    /// How long a list's answer takes to arrive (read at once, sent after the delay: a
    /// client acting on it acts on the past).
    list_delay: std::time::Duration,
    /// ClusterIPs and what answers on them.
    network: network::Network,
    /// The history of changes the watches read.
    watches: watch::Watches,
    /// What each field manager last applied to each object (its "applied configuration").
    applied: BTreeMap<(Key, String), Value>,
}

type Key = (String, String, String, String);

impl FakeApi {
    /// An empty API server.
    pub fn new() -> FakeApi {
        FakeApi::default()
    }

    /// A client of it, with `namespace` as its default.
    pub fn client(&self, namespace: &str) -> kube::Client {
        kube::Client::new(self.clone(), namespace)
    }

    /// The stored object (as JSON), if any: `prefix` is `api/v1` or `apis/<group>/<version>`.
    pub fn get(&self, prefix: &str, namespace: &str, plural: &str, name: &str) -> Option<Value> {
        let key = (prefix.into(), namespace.into(), plural.into(), name.into());
        self.lock().objects.get(&key).cloned()
    }

    /// Stores `object` as a client's create would (for setting up a test).
    pub fn put(&self, prefix: &str, namespace: &str, plural: &str, object: Value) {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut state = self.lock();
        let stored = state.created(object, namespace);
        state.store(
            (prefix.into(), namespace.into(), plural.into(), name),
            stored,
        );
        state.sync_pods();
        drop(state);
        self.notify();
    }

    /// How many objects it stores, pods left out.
    pub fn len(&self) -> usize {
        let mut state = self.lock();
        state.sync_pods();
        state.objects.keys().filter(|k| k.2 != "pods").count()
    }

    /// Whether it stores nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the pods behave as `kubelet` says from now on (pods already made change too).
    pub fn set_kubelet(&self, kubelet: Kubelet) {
        let mut state = self.lock();
        state.kubelet = kubelet;
        state.sync_pods();
        drop(state);
        self.notify();
    }

    /// Delays every list's answer by `delay` from now on (its content is read at once).
    pub fn set_list_delay(&self, delay: std::time::Duration) {
        self.lock().list_delay = delay;
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, method: &Method, uri: &http::Uri, content_type: &str, body: &[u8]) -> Reply {
        let mut state = self.lock();
        state.requests.push(format!("{method} {uri}"));
        state.sync_pods();
        let Some(route) = Route::parse(uri) else {
            return failure(404, "NotFound", &format!("the server could not find {uri}"));
        };
        let body = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(body) => body,
                Err(err) => return failure(400, "BadRequest", &format!("body: {err}")),
            }
        };
        let reply = state.serve(method, &route, content_type, body);
        // What the controllers do at once: the Deployments' pods.
        state.sync_pods();
        reply
    }
}

/// An answer: status and JSON body.
type Reply = (u16, Value);

fn failure(code: u16, reason: &str, message: &str) -> Reply {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Failure", "message": message, "reason": reason, "code": code});
    (code, body)
}

impl State {
    fn next_version(&mut self) -> String {
        self.version += 1;
        self.version.to_string()
    }

    /// `object` with what the server sets on create.
    fn created(&mut self, mut object: Value, namespace: &str) -> Value {
        let version = self.next_version();
        let meta = &mut object["metadata"];
        meta["namespace"] = json!(namespace);
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["resourceVersion"] = json!(version);
        meta["generation"] = json!(1);
        meta["creationTimestamp"] = json!(format!("2026-01-01T00:00:{:02}Z", self.version % 60));
        object
    }

    fn serve(&mut self, method: &Method, route: &Route, content_type: &str, body: Value) -> Reply {
        let key = route.key();
        match (method.as_str(), &route.name, route.subresource.as_deref()) {
            ("GET", Some(_), None) => match self.objects.get(&key) {
                Some(object) => (200, object.clone()),
                None => not_found(route),
            },
            ("GET", None, None) => (200, self.list(route)),
            ("GET", Some(name), Some("log")) if route.plural == "pods" => {
                if !self.objects.contains_key(&key) {
                    return not_found(route);
                }
                // Three lines a pod; the text is the answer (a string body is sent as is).
                let container = route
                    .query
                    .get("container")
                    .map_or("instance", String::as_str);
                let lines: Vec<String> = match container {
                    "instance" => (1..=3).map(|n| format!("{name}: line {n}\n")).collect(),
                    other => (1..=2)
                        .map(|n| format!("{name} {other}: line {n}\n"))
                        .collect(),
                };
                let tail = route.query.get("tailLines").and_then(|t| t.parse().ok());
                let skip = tail.map_or(0, |t: usize| lines.len().saturating_sub(t));
                (200, Value::String(lines[skip..].concat()))
            }
            ("DELETE", Some(_), None) => match self.delete(&key, &body) {
                Some(_) => (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                ),
                None => not_found(route),
            },
            ("DELETE", None, None) => {
                let list = self.list(route);
                let keys: Vec<Key> = self
                    .objects
                    .iter()
                    .filter(|(k, v)| route.holds(k) && route.selects(v))
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in &keys {
                    self.delete(key, &body);
                }
                (200, list)
            }
            ("PATCH", Some(_), None) if content_type == "application/apply-patch+yaml" => {
                self.apply(route, body)
            }
            ("PATCH", Some(_), Some("scale")) if content_type == "application/merge-patch+json" => {
                self.scale(route, &body)
            }
            ("PATCH", Some(_), None) if content_type == "application/merge-patch+json" => {
                self.merge_patch(route, &body)
            }
            _ => failure(
                405,
                "MethodNotAllowed",
                &format!("{method} is not served here"),
            ),
        }
    }

    fn list(&self, route: &Route) -> Value {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|(k, v)| route.holds(k) && route.selects(v))
            .map(|(_, v)| v.clone())
            .collect();
        json!({"kind": "List", "apiVersion": "v1",
               "metadata": {"resourceVersion": self.version.to_string()}, "items": items})
    }

    /// Server-side apply as create-or-merge.
    fn apply(&mut self, route: &Route, applied: Value) -> Reply {
        if route.query.get("fieldManager").is_none_or(String::is_empty) {
            return failure(
                422,
                "Invalid",
                "PATCH of type apply requires a fieldManager",
            );
        }
        let name = route.name.clone().unwrap_or_default();
        if applied["metadata"]["name"].as_str() != Some(name.as_str()) {
            return failure(
                400,
                "BadRequest",
                "the name of the object does not match the URL",
            );
        }
        if applied.get("kind").is_none() || applied.get("apiVersion").is_none() {
            return failure(400, "BadRequest", "apply needs kind and apiVersion");
        }
        let key = route.key();
        let manager = route.query.get("fieldManager").cloned().unwrap_or_default();
        let before = self
            .applied
            .insert((key.clone(), manager.clone()), applied.clone());
        let Some(stored) = self.objects.get(&key).cloned() else {
            let mut object = self.created(applied, &route.namespace);
            if route.plural == "services" {
                self.network.assign(&mut object);
            }
            self.store(key, object.clone());
            return (201, object);
        };
        if let Err(reply) = immutable_unchanged(&stored, &applied) {
            // Refused: the manager's last applied configuration is what it was.
            match before {
                Some(before) => self.applied.insert((key, manager), before),
                None => self.applied.remove(&(key, manager)),
            };
            return reply;
        }
        let mut merged = stored.clone();
        if let Some(before) = &before {
            merge::prune(&mut merged, before, &applied);
        }
        merge::merge(&mut merged, &applied);
        if merged != stored {
            merged["metadata"]["resourceVersion"] = json!(self.next_version());
            if merged.get("spec") != stored.get("spec") {
                let generation = stored["metadata"]["generation"].as_i64().unwrap_or(1);
                merged["metadata"]["generation"] = json!(generation + 1);
            }
            self.store(key, merged.clone());
        }
        (200, merged)
    }

    /// A JSON merge patch of an existing object (maps merged, the rest replaced).
    fn merge_patch(&mut self, route: &Route, patch: &Value) -> Reply {
        let key = route.key();
        let Some(stored) = self.objects.get(&key).cloned() else {
            return not_found(route);
        };
        let mut merged = stored.clone();
        merge::merge(&mut merged, patch);
        if merged != stored {
            merged["metadata"]["resourceVersion"] = json!(self.next_version());
            self.store(key, merged.clone());
        }
        (200, merged)
    }

    fn scale(&mut self, route: &Route, patch: &Value) -> Reply {
        if route.plural != "deployments" {
            return not_found(route);
        }
        let key = route.key();
        let Some(stored) = self.objects.get(&key).cloned() else {
            return not_found(route);
        };
        let Some(replicas) = patch["spec"]["replicas"].as_i64() else {
            return failure(422, "Invalid", "spec.replicas: Required value");
        };
        let mut object = stored.clone();
        object["spec"]["replicas"] = json!(replicas);
        if object != stored {
            object["metadata"]["resourceVersion"] = json!(self.next_version());
            self.store(key, object.clone());
        }
        let scale = json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                           "metadata": {"name": route.name, "namespace": route.namespace},
                           "spec": {"replicas": replicas}, "status": {"replicas": replicas}});
        (200, scale)
    }
}

/// The API server refuses to change a Deployment's selector (`422`).
fn immutable_unchanged(stored: &Value, applied: &Value) -> Result<(), Reply> {
    let (before, after) = (&stored["spec"]["selector"], &applied["spec"]["selector"]);
    if stored["kind"] == "Deployment" && !after.is_null() && before != after {
        return Err(failure(
            422,
            "Invalid",
            "spec.selector: Invalid value: field is immutable",
        ));
    }
    Ok(())
}

fn not_found(route: &Route) -> Reply {
    let name = route.name.as_deref().unwrap_or_default();
    failure(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", route.plural),
    )
}

/// A response body: whole, or a watch's stream of lines.
pub type FakeBody = UnsyncBoxBody<Bytes, Infallible>;

impl tower_service::Service<Request<Body>> for FakeApi {
    type Response = Response<FakeBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<FakeBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let api = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            Ok(api.answer(&parts, &bytes).await)
        })
    }
}

impl FakeApi {
    /// The answer to a request, after the list delay; a watch's body streams.
    async fn answer(&self, parts: &http::request::Parts, bytes: &[u8]) -> Response<FakeBody> {
        let route = Route::parse(&parts.uri);
        if parts.method == Method::GET
            && let Some(route) = route.as_ref().filter(|r| r.is_watch())
        {
            let mut state = self.lock();
            state
                .requests
                .push(format!("{} {}", parts.method, parts.uri));
            drop(state);
            let lines = self.watch(route.clone()).map(|b| Ok(Frame::data(b)));
            return respond(
                StatusCode::OK,
                "application/json",
                StreamBody::new(lines).boxed_unsync(),
            );
        }
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (code, body) = self.handle(&parts.method, &parts.uri, &content_type, bytes);
        self.notify();
        let is_list = parts.method == Method::GET && route.is_some_and(|r| r.name.is_none());
        let delay = self.lock().list_delay;
        if is_list && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let (bytes, kind) = match body {
            Value::String(text) => (text.into_bytes(), "text/plain"),
            body => (
                serde_json::to_vec(&body).unwrap_or_default(),
                "application/json",
            ),
        };
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        respond(status, kind, Full::new(Bytes::from(bytes)).boxed_unsync())
    }
}

fn respond(status: StatusCode, kind: &'static str, body: FakeBody) -> Response<FakeBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(kind),
    );
    response
}
