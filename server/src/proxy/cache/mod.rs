//! The proxy's cache of what instances answer: an HTTP cache (RFC 9111) in front of each
//! instance, partitioned by user.
//!
//! Static files make most of a page load. Qd serves the Wave UI's script, fonts and manifest
//! with `Last-Modified` and no `Cache-Control`, which HTTP lets a cache keep for a tenth of their
//! age (heuristic freshness, §4.2.2). Kept here, they are answered without the round trip to Qd
//! over loopback TCP — most of what a proxied request costs — and without Qd compressing its
//! 2.7 MB script again for every page load.
//!
//! What is kept:
//! - answers `200` to `GET` with a freshness lifetime: `s-maxage`, `max-age`, `Expires`, else a
//!   tenth of the time since `Last-Modified`; at most [`freshness::MAX_FRESHNESS`], or
//!   [`freshness::MAX_HEURISTIC`]
//!   for a heuristic one, so a file an app rewrites is seen within a minute at worst;
//! - never answers with `no-store`, `private`, `no-cache`, `Set-Cookie`, trailers or a `Vary` on
//!   anything but `Accept-Encoding`, nor answers to requests carrying cookies or an
//!   `Authorization` of the app's own (the q8s credentials are gone by then).
//!
//! Answers are keyed by instance and upstream address (a restarted instance starts afresh),
//! target (`/path?query`), the signed-in user (an app may answer each user differently, by
//! `X-Forwarded-User`, without saying so) and `Accept-Encoding` (Qd compresses without saying
//! `Vary`). Requests with `Range` or conditionals (`If-*`) go to the instance; so do those with
//! `Cache-Control: no-cache` or `max-age=0` (a browser's reload), whose answer replaces the kept
//! one. `POST`, `PUT`, `PATCH` and `DELETE` drop every user's entries for their target (§4.4),
//! in every thread's cache (see the `store` module).
//!
//! Each thread serving instance hosts has a cache of its own, with an equal share of the
//! configured size (`--proxy-cache`, default 64 MiB): nothing is locked on the way. An entry
//! may take a quarter of its cache; when a new one does not fit, the oldest go first.

use q8s_runtime::UpstreamKey;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use uuid::Uuid;

use crate::state::Metrics;

mod freshness;
mod store;

use freshness::{Directives, freshness, pragma_no_cache};
#[cfg(test)]
use store::stats;
use store::{invalidate, lookup, store};

/// Where an answer came from: instance, upstream, and the request target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Target {
    instance: Uuid,
    upstream: UpstreamKey,
    target: Box<str>,
}

/// A cacheable request: its target, and what else its answer may depend on.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    target: Target,
    user: Option<HeaderValue>,
    accept_encoding: Option<HeaderValue>,
}

/// What the cache does with a request.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Nothing: the request goes to the instance and its answer is not kept.
    Bypass,
    /// Answer from the cache; else forward and keep the answer if it may be kept.
    Lookup(Key),
    /// Forward (the client asks for a fresh answer) and keep the answer if it may be kept.
    Refresh(Key),
}

/// Serves `request` (for instance `instance` at `upstream`, from the signed-in `user`) from
/// this thread's cache, or through `forward` and keeps the answer when HTTP allows.
/// `total_size` is the configured size of all the threads' caches; 0 turns caching off.
pub(crate) async fn serve(
    total_size: u64,
    metrics: &Metrics,
    instance: Uuid,
    upstream: UpstreamKey,
    user: Option<&HeaderValue>,
    request: Request,
    forward: impl AsyncFnOnce(Request) -> Result<Response, String>,
) -> Result<Response, String> {
    if total_size == 0 {
        return forward(request).await;
    }
    let head = request.method() == Method::HEAD;
    match plan(instance, upstream, user, &request) {
        Plan::Bypass => forward(request).await,
        Plan::Lookup(key) => {
            if let Some(hit) = lookup(&key, head, Instant::now()) {
                Metrics::bump(&metrics.proxy_cache_hits);
                return Ok(hit);
            }
            keep_if_get(forward(request).await, key, head, total_size)
        }
        Plan::Refresh(key) => keep_if_get(forward(request).await, key, head, total_size),
    }
}

fn keep_if_get(
    answer: Result<Response, String>,
    key: Key,
    head: bool,
    total_size: u64,
) -> Result<Response, String> {
    match answer {
        Ok(response) if !head => Ok(keep(key, response, share(total_size), SystemTime::now())),
        other => other,
    }
}

/// The part of `total` each thread's cache has.
fn share(total: u64) -> usize {
    let threads = super::thread_count() as u64;
    usize::try_from(total / threads).unwrap_or(usize::MAX)
}

/// What the cache may do with `request`, as the upstream will get it (q8s credentials gone).
/// Unsafe methods drop what is kept for their target on the way.
pub(crate) fn plan(
    instance: Uuid,
    upstream: UpstreamKey,
    user: Option<&HeaderValue>,
    request: &Request,
) -> Plan {
    let target = || Target {
        instance,
        upstream,
        target: request
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .into(),
    };
    let method = request.method();
    if *method != Method::GET && *method != Method::HEAD {
        if !method.is_safe() {
            invalidate(&target());
        }
        return Plan::Bypass;
    }
    let headers = request.headers();
    let passes_by = [
        header::RANGE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
        header::COOKIE,
        header::AUTHORIZATION,
        header::UPGRADE,
        header::TRANSFER_ENCODING,
    ]
    .iter()
    .any(|name| headers.contains_key(name));
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0");
    if passes_by || has_body {
        return Plan::Bypass;
    }
    let directives = Directives::of(headers);
    let key = Key {
        target: target(),
        user: user.cloned(),
        accept_encoding: headers.get(header::ACCEPT_ENCODING).cloned(),
    };
    if directives.no_store {
        Plan::Bypass
    } else if directives.no_cache || directives.max_age == Some(0) || pragma_no_cache(headers) {
        Plan::Refresh(key)
    } else {
        Plan::Lookup(key)
    }
}

/// `response` as it goes to the client; when it may be kept, its body is copied on the way and
/// the copy kept once the body has ended (a client that goes away early leaves nothing).
fn keep(key: Key, response: Response, capacity: usize, now: SystemTime) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let Some(fresh) = freshness(response.headers(), now) else {
        return response;
    };
    let limit = capacity / 4;
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|length| length > limit) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let stored = Instant::now();
    let age = parts
        .headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let pending = Pending {
        key,
        headers: parts.headers.clone(),
        stored,
        expires: stored + fresh,
        age,
        capacity,
    };
    let tee = Tee {
        inner: body,
        copy: Some(BytesMut::with_capacity(length.unwrap_or(0))),
        limit,
        length,
        pending: Some(pending),
    };
    Response::from_parts(parts, Body::new(tee))
}

/// What becomes an entry once the body is complete.
struct Pending {
    key: Key,
    headers: HeaderMap,
    stored: Instant,
    expires: Instant,
    age: u64,
    capacity: usize,
}

/// A body passed on as it is, and copied up to `limit` bytes on the way.
struct Tee {
    inner: Body,
    copy: Option<BytesMut>,
    limit: usize,
    /// Its `Content-Length`, if it has one.
    length: Option<usize>,
    pending: Option<Pending>,
}

impl hyper::body::Body for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        let complete = match &frame {
            Some(Ok(frame)) => match (frame.data_ref(), &mut this.copy) {
                (Some(data), Some(copy)) if copy.len() + data.len() <= this.limit => {
                    copy.extend_from_slice(data);
                    // A server writing a body of known length stops polling once it has it
                    // all: its end may never be seen.
                    this.inner.is_end_stream()
                        || this.length.is_some_and(|length| copy.len() == length)
                }
                // Too large, or trailers.
                _ => {
                    this.copy = None;
                    false
                }
            },
            Some(Err(_)) => {
                this.copy = None;
                false
            }
            None => true,
        };
        if complete && let (Some(copy), Some(pending)) = (this.copy.take(), this.pending.take()) {
            store(pending, copy.freeze());
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::body::Body as _;

    use super::*;

    const ADDR: std::net::SocketAddr =
        std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 10101);

    fn upstream() -> UpstreamKey {
        q8s_runtime::Upstream::host(ADDR).key()
    }

    pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn get(path: &str, pairs: &[(&str, &str)]) -> Request {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        *request.headers_mut() = headers(pairs);
        request
    }

    fn alice() -> HeaderValue {
        HeaderValue::from_static("alice")
    }

    fn plan_of(request: &Request) -> Plan {
        plan(Uuid::nil(), upstream(), Some(&alice()), request)
    }

    #[test]
    fn requests_that_need_the_instance_pass_by() {
        for pairs in [
            &[("range", "bytes=0-10")][..],
            &[("if-none-match", "\"x\"")],
            &[("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT")],
            &[("cookie", "app=1")],
            &[("authorization", "Basic YTpi")],
            &[("cache-control", "no-store")],
            &[("upgrade", "websocket"), ("connection", "upgrade")],
            &[("content-length", "3")],
        ] {
            assert!(
                matches!(plan_of(&get("/a.js", pairs)), Plan::Bypass),
                "{pairs:?}"
            );
        }
        let post = Request::post("/a.js").body(Body::empty()).unwrap();
        assert!(matches!(plan_of(&post), Plan::Bypass));
        for pairs in [
            &[("cache-control", "no-cache")][..],
            &[("cache-control", "max-age=0")],
            &[("pragma", "no-cache")],
        ] {
            assert!(
                matches!(plan_of(&get("/a.js", pairs)), Plan::Refresh(_)),
                "{pairs:?}"
            );
        }
        assert!(matches!(
            plan_of(&get("/a.js", &[("accept-encoding", "gzip")])),
            Plan::Lookup(_)
        ));
    }

    fn key(path: &str, user: &'static str, encoding: Option<&'static str>) -> Key {
        Key {
            target: Target {
                instance: Uuid::nil(),
                upstream: upstream(),
                target: path.into(),
            },
            user: Some(HeaderValue::from_static(user)),
            accept_encoding: encoding.map(HeaderValue::from_static),
        }
    }

    /// Sends `body` through `keep` as an upstream answer with `max-age`, to the end.
    async fn answer(key: Key, body: &'static str, max_age: u64, capacity: usize) -> Bytes {
        let response = Response::builder()
            .header(header::CACHE_CONTROL, format!("max-age={max_age}"))
            .header(header::CONTENT_TYPE, "text/javascript")
            .body(Body::from(body))
            .unwrap();
        let response = keep(key, response, capacity, SystemTime::now());
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_kept_answer_is_served_with_its_age_to_the_same_user_and_encoding_only() {
        let k = key("/kept.js", "alice", Some("gzip"));
        assert!(lookup(&k, false, Instant::now()).is_none());
        assert_eq!(
            answer(k.clone(), "let a = 1;", 60, 1 << 20).await,
            "let a = 1;"
        );

        let hit = lookup(&k, false, Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(hit.status(), StatusCode::OK);
        assert_eq!(hit.headers()[header::AGE], "5");
        assert_eq!(hit.headers()[header::CONTENT_LENGTH], "10");
        assert_eq!(hit.headers()[header::CONTENT_TYPE], "text/javascript");
        let body = axum::body::to_bytes(hit.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, "let a = 1;");

        // HEAD: the same head, no body.
        let head = lookup(&k, true, Instant::now()).unwrap();
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "10");
        assert!(head.into_body().is_end_stream());

        // Another user, another encoding, another instance: not theirs.
        assert!(lookup(&key("/kept.js", "bob", Some("gzip")), false, Instant::now()).is_none());
        assert!(lookup(&key("/kept.js", "alice", None), false, Instant::now()).is_none());
        let mut other = k.clone();
        other.target.instance = Uuid::from_u128(1);
        assert!(lookup(&other, false, Instant::now()).is_none());

        // Expired: gone.
        assert!(lookup(&k, false, Instant::now() + Duration::from_secs(61)).is_none());
        assert!(lookup(&k, false, Instant::now()).is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unsafe_request_drops_every_users_answers_for_its_target() {
        let a = key("/data.json", "alice", None);
        let b = key("/data.json", "bob", None);
        answer(a.clone(), "{}", 60, 1 << 20).await;
        answer(b.clone(), "{}", 60, 1 << 20).await;
        assert!(lookup(&b, false, Instant::now()).is_some());
        let post = Request::post("/data.json").body(Body::empty()).unwrap();
        assert!(matches!(
            plan(Uuid::nil(), upstream(), Some(&alice()), &post),
            Plan::Bypass
        ));
        assert!(lookup(&a, false, Instant::now()).is_none());
        assert!(lookup(&b, false, Instant::now()).is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unsafe_request_on_another_thread_reaches_this_threads_cache() {
        let k = key("/shared.json", "alice", None);
        answer(k.clone(), "{}", 60, 1 << 20).await;
        assert!(lookup(&k, false, Instant::now()).is_some());
        std::thread::spawn(|| {
            let delete = Request::delete("/shared.json").body(Body::empty()).unwrap();
            plan(Uuid::nil(), upstream(), Some(&alice()), &delete);
        })
        .join()
        .unwrap();
        assert!(lookup(&k, false, Instant::now()).is_none());
        // Kept again afterwards, and found.
        answer(k.clone(), "{}", 60, 1 << 20).await;
        assert!(lookup(&k, false, Instant::now()).is_some());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_cache_keeps_to_its_size_oldest_out_first() {
        let capacity = 4096;
        let before = stats();
        for i in 0..40 {
            answer(
                key(&format!("/f{i}"), "alice", None),
                "0123456789",
                60,
                capacity,
            )
            .await;
        }
        let (count, size) = stats();
        assert!(size <= capacity, "{size}");
        assert!(count < 40 && count > before.0, "{count}");
        assert!(lookup(&key("/f39", "alice", None), false, Instant::now()).is_some());
        assert!(lookup(&key("/f0", "alice", None), false, Instant::now()).is_none());

        // Bigger than a quarter of the cache: passed on, not kept.
        let big = "x".repeat(2000).leak();
        let k = key("/big", "alice", None);
        assert_eq!(answer(k.clone(), big, 60, capacity).await.len(), 2000);
        assert!(lookup(&k, false, Instant::now()).is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_of_known_length_is_kept_once_all_of_it_went_out() {
        use futures::StreamExt as _;
        use http_body_util::BodyExt as _;
        // As hyper's server does: it stops polling once Content-Length bytes are written, so
        // the end of this body, which never comes, is not needed.
        let k = key("/length.js", "alice", None);
        let chunks = futures::stream::iter([Bytes::from("ab"), Bytes::from("c")])
            .map(Ok::<_, std::io::Error>)
            .chain(futures::stream::pending());
        let response = Response::builder()
            .header(header::CACHE_CONTROL, "max-age=60")
            .header(header::CONTENT_LENGTH, "3")
            .body(Body::from_stream(chunks))
            .unwrap();
        let mut body = keep(k.clone(), response, 1 << 20, SystemTime::now()).into_body();
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "ab"
        );
        assert!(lookup(&k, false, Instant::now()).is_none());
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "c"
        );
        drop(body);
        let hit = lookup(&k, false, Instant::now()).unwrap();
        let body = axum::body::to_bytes(hit.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, "abc");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_not_read_to_its_end_is_not_kept() {
        let k = key("/partial.js", "alice", None);
        let response = Response::builder()
            .header(header::CACHE_CONTROL, "max-age=60")
            .body(Body::from("abc"))
            .unwrap();
        drop(keep(k.clone(), response, 1 << 20, SystemTime::now()));
        assert!(lookup(&k, false, Instant::now()).is_none());

        // Not a 200: not kept either.
        let response = Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CACHE_CONTROL, "max-age=60")
            .body(Body::from("no"))
            .unwrap();
        let response = keep(k.clone(), response, 1 << 20, SystemTime::now());
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(lookup(&k, false, Instant::now()).is_none());
    }
}
