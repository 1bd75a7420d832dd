//! The per-instance proxy: `http://<instance-id>.<domain>[:port]/…` reaches the instance's
//! upstream (Qd for Wave apps), HTTP and websockets alike, for whoever may see the instance —
//! `PRIVATE`: its owner and admins, `ALL_USERS`: every signed-in user.
//!
//! Callers prove who they are with `Authorization: Bearer <token>` or a session cookie for the
//! instance host. A browser without one is sent through the main site's sign-in
//! (`/_q8s/handoff`), which comes back to `/_q8s/auth?code=…&next=…` here: the one-time code
//! becomes a host-only session cookie. The q8s credentials are removed before the request goes
//! on, so apps never see them.
//!
//! Callers without valid credentials learn nothing about which instances exist: they are
//! answered before the instance is looked up, the same way for every id. A signed-in caller
//! who may not see an instance gets the same 404 as for an unknown one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use crate::auth::{self, Caller, ClientAddr, SESSION_COOKIE};
use crate::cluster::{self, Relayed};
use crate::idle::wake;
use crate::state::{AppState, Metrics};
use q8s_runtime::forward::{self, pages};
use q8s_runtime::{InstanceStatus, Upstream};

mod cache;
mod grants;
pub(crate) mod status;

pub(crate) use status::status_page;

/// How many threads serve instance hosts: one per core (`serve.rs`); each has its own upstream
/// connections and cache.
pub(crate) fn thread_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The path on instance hosts that turns a hand-off code into a session.
pub const AUTH_PATH: &str = "/_q8s/auth";

/// The instance a `Host` header names: `<uuid>.<domain>`, any port, any case.
pub fn instance_id_from_host(host: &str, domain: &str) -> Option<Uuid> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    // Case-insensitive, without allocating: this runs for every request the server gets.
    let name = name.trim_end_matches('.');
    let domain = domain.trim_end_matches('.');
    let split = name.len().checked_sub(domain.len())?;
    if !name.is_char_boundary(split) || !name[split..].eq_ignore_ascii_case(domain) {
        return None;
    }
    let label = name[..split].strip_suffix('.')?;
    // Only the canonical hyphenated form: one instance, one host name.
    if label.len() != 36 {
        return None;
    }
    Uuid::parse_str(label).ok()
}

/// The instance a request is for: its `Host` (or the authority of an absolute URI) is
/// `<uuid>.<domain>`.
pub fn instance_of<B>(request: &axum::http::Request<B>, domain: &str) -> Option<Uuid> {
    instance_id_from_host(host_of(request)?, domain)
}

fn host_of<B>(request: &axum::http::Request<B>) -> Option<&str> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
}

/// Answers a request for an instance host (the router sends every such request here; the
/// client's address, for `X-Forwarded-For`, comes from axum's `ConnectInfo`).
pub async fn handle(state: AppState, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    match instance_of(&request, &state.config.domain) {
        Some(id) => serve(&state, id, request, peer).await,
        None => unknown(),
    }
}

/// Answers a request for instance `id` (see [`instance_of`]) from a client at `peer`: forwards
/// it when the caller may see the instance and it runs, else a status page, a sign-in or a
/// 404. The server calls this before routing, for every request to an instance host.
pub async fn serve(
    state: &AppState,
    id: Uuid,
    mut request: Request,
    peer: Option<IpAddr>,
) -> Response {
    // Taken off every request, so that an instance never sees it; a wrong key is no relay.
    if state.node.relayed(request.headers_mut()) == Relayed::ByReplica {
        return relayed(state, id, request).await;
    }
    if request.uri().path() == AUTH_PATH {
        let host = host_of(&request).unwrap_or_default().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        return redeem(state, id, &host, &query).await;
    }
    // The requests of a page that is already open skip the store (see `grants`).
    let key = grants::credential_key(request.headers(), id);
    if let Some(grant) = key.as_ref().and_then(grants::lookup) {
        if let Some(upstream) = state.runtime.upstream(id) {
            return pass(state, id, upstream, request, &grant, peer, None).await;
        }
        if let Some(Some(upstream)) = cluster::remembered_peer(state, id) {
            let relay = Some(state.node.relay_key());
            return pass(state, id, upstream, request, &grant, peer, relay).await;
        }
    }
    let caller = match auth::caller_from_parts(state, request.headers(), ClientAddr(peer)).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return sign_in(state, id, &request),
        Err(refusal) => return refused(refusal),
    };
    let record = match state.store.catalog.instance(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return unknown(),
        Err(err) => {
            tracing::error!(instance = %id, "proxy cannot read the instance: {err}");
            return pages::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "q8s cannot look up this instance right now. Try again in a moment.",
            );
        }
    };
    if !caller.can_see(record.owner_id, record.visibility) {
        // As if it did not exist, like the API.
        return unknown();
    }
    if record.status == InstanceStatus::Terminated {
        return status_page(&record);
    }
    // Here, or on the replica that runs it; asleep here (or on a replica that is gone): woken.
    let (upstream, relay) = match state.runtime.upstream(id) {
        Some(upstream) => (upstream, None),
        None => match cluster::peer_upstream(state, id).await {
            Some(upstream) => (upstream, Some(state.node.relay_key())),
            None => match wake::upstream_after_wake(state, &record, is_page_load(&request)).await {
                Ok(upstream) => (upstream, None),
                Err(page) => return page,
            },
        },
    };
    let grant = Arc::new(grants::Grant::new(caller));
    if let Some(key) = key {
        grants::remember(key, grant.clone());
    }
    pass(state, id, upstream, request, &grant, peer, relay).await
}

/// A request another replica let in and relayed here, where the instance runs: forwarded as
/// that replica says (the user, the client's address) — after waking the instance when it is
/// asleep here — or, when it does not run here (any more), the page of its status.
async fn relayed(state: &AppState, id: Uuid, mut request: Request) -> Response {
    let upstream = match state.runtime.upstream(id) {
        Some(upstream) => upstream,
        None => match state.store.catalog.instance(id).await {
            Ok(Some(record)) => {
                match wake::upstream_after_wake(state, &record, is_page_load(&request)).await {
                    Ok(upstream) => upstream,
                    Err(page) => return page,
                }
            }
            _ => return pages::unanswered(),
        },
    };
    note_activity(state, id, &mut request);
    let headers = request.headers();
    let origin = forward::Origin {
        host: headers.get(header::HOST).cloned(),
        user: headers.get("x-forwarded-user").cloned(),
        peer: headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok()),
    };
    match forward::forward(&upstream, request, origin).await {
        Ok(response) => response,
        Err(why) => {
            tracing::debug!(instance = %id, "proxy (relayed): {why}");
            pages::unanswered()
        }
    }
}

/// Forwards a request the caller may make: to the instance, or, with `relay` (the relay key),
/// to the proxy of the replica that runs it.
async fn pass(
    state: &AppState,
    id: Uuid,
    upstream: Upstream,
    request: Request,
    grant: &grants::Grant,
    peer: Option<IpAddr>,
    relay: Option<&HeaderValue>,
) -> Response {
    Metrics::bump(&state.metrics.proxy_requests);
    let mut request = request;
    if relay.is_none() {
        note_activity(state, id, &mut request);
    }
    let origin = forward::Origin {
        host: request.headers().get(header::HOST).cloned().or_else(|| {
            let authority = request.uri().authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        }),
        user: grant.user.clone(),
        peer,
    };
    let mut request = without_q8s_credentials(request, &grant.caller);
    if let Some(relay) = relay {
        request
            .headers_mut()
            .insert(cluster::RELAY_HEADER, relay.clone());
    }
    let answer = cache::serve(
        state.config.proxy_cache,
        &state.metrics,
        id,
        upstream.key(),
        grant.user.as_ref(),
        request,
        async |request| forward::forward(&upstream, request, origin).await,
    )
    .await;
    match answer {
        Ok(response) => response,
        Err(why) => {
            tracing::debug!(instance = %id, "proxy: {why}");
            pages::unanswered()
        }
    }
}

/// Counts a request forwarded to an instance this replica runs as activity; a websocket stays
/// counted while it is open (see `idle`).
fn note_activity(state: &AppState, id: Uuid, request: &mut Request) {
    if let Some(socket) = state.idle.request(id, is_upgrade(request.headers())) {
        request
            .extensions_mut()
            .insert(forward::HeldWhileOpen(Arc::new(socket)));
    }
}

/// Whether a browser loads a page (it may be shown a page of q8s's own instead of the app's).
fn is_page_load(request: &Request) -> bool {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let navigates = matches!(*request.method(), Method::GET | Method::HEAD);
    wants_html && navigates && !is_upgrade(request.headers())
}

/// `GET /_q8s/auth?code=…&next=…`: the end of the hand-off from the main site.
async fn redeem(state: &AppState, id: Uuid, host: &str, query: &str) -> Response {
    let mut code = None;
    let mut next = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "code" => code = Some(value.into_owned()),
            "next" => next = Some(value.into_owned()),
            _ => {}
        }
    }
    let caller = match code {
        Some(code) => auth::redeem_host_code(state, id, &code).await,
        None => None,
    };
    let Some(caller) = caller else {
        return pages::page(
            StatusCode::FORBIDDEN,
            "This sign-in link has expired",
            "Sign-in links work once and for a minute only. Open the instance again to get a new one.",
        );
    };
    let visible = match state.store.catalog.instance(id).await {
        Ok(Some(record)) => caller.can_see(record.owner_id, record.visibility),
        _ => false,
    };
    if !visible {
        return unknown();
    }
    let cookie = match auth::host_session_cookie(state, &caller, host).await {
        Ok(cookie) => cookie,
        Err(err) => return err.into_response(),
    };
    let target = crate::web::safe_next(next.as_deref());
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// No valid credentials: browsers go through the main site's sign-in, scripts get 401.
fn sign_in(state: &AppState, id: Uuid, request: &Request) -> Response {
    if is_page_load(request) {
        let next = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("instance", &id.to_string())
            .append_pair("next", next)
            .finish();
        return Redirect::to(&format!("{}/_q8s/handoff?{query}", state.config.base_url()))
            .into_response();
    }
    let mut response = match auth::bearer(request.headers()) {
        Some(_) => pages::page(
            StatusCode::UNAUTHORIZED,
            "API token refused",
            &format!("{}.", capitalized(crate::error::TOKEN_REFUSED)),
        ),
        None => pages::page(
            StatusCode::UNAUTHORIZED,
            "Sign in required",
            "Open this instance from q8s in a browser, or send an API token as Authorization: \
             Bearer.",
        ),
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"q8s\""),
    );
    response
}

/// `text` with its first letter in upper case: an API message as a page's sentence.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A request refused before its credentials were looked at (two session cookies, a throttled
/// address).
fn refused(refusal: auth::Refusal) -> Response {
    let mut response = pages::page(refusal.status(), refusal.title(), &refusal.message());
    if let Some(seconds) = refusal.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn unknown() -> Response {
    pages::page(
        StatusCode::NOT_FOUND,
        "No such instance",
        "There is no instance at this address, or it is not shared with you.",
    )
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// The request minus what proved the caller's identity to q8s: apps never see a q8s token
/// or session.
fn without_q8s_credentials(mut request: Request, caller: &Caller) -> Request {
    let headers = request.headers_mut();
    if !caller.via_session {
        headers.remove(header::AUTHORIZATION);
    }
    // Most requests carry no session cookie: their cookies stay as they are.
    if !cookie_pairs(headers).any(is_session_cookie) {
        return request;
    }
    let others = cookie_pairs(headers)
        .filter(|pair| !is_session_cookie(pair))
        .collect::<Vec<_>>()
        .join(&b"; "[..]);
    let value = HeaderValue::from_bytes(&others).ok();
    headers.remove(header::COOKIE);
    if let Some(value) = value.filter(|_| !others.is_empty()) {
        headers.insert(header::COOKIE, value);
    }
    request
}

/// The `name=value` pairs of a request's `Cookie` headers, as bytes: a value an app set need
/// not be UTF-8, and the session cookie must be found beside it all the same.
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
}

fn is_session_cookie(pair: &[u8]) -> bool {
    pair.split(|&b| b == b'=').next() == Some(SESSION_COOKIE.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "22222222-3333-4444-5555-666666666666";

    #[test]
    fn instance_hosts_are_a_uuid_label_under_the_domain() {
        let id = Uuid::parse_str(ID).unwrap();
        for host in [
            format!("{ID}.localhost"),
            format!("{ID}.localhost:8008"),
            format!("{}.LOCALHOST:8008", ID.to_uppercase()),
            format!("{ID}.q8s.example.com."),
        ] {
            let domain = if host.contains("example") {
                "q8s.example.com"
            } else {
                "localhost"
            };
            assert_eq!(instance_id_from_host(&host, domain), Some(id), "{host}");
        }
        for host in [
            "localhost:8008".to_owned(),
            format!("x.{ID}.localhost"),
            format!("{ID}localhost"),
            format!("{ID}.otherhost"),
            format!("{}.localhost", ID.replace('-', "")),
            "[::1]:8008".to_owned(),
        ] {
            assert_eq!(instance_id_from_host(&host, "localhost"), None, "{host}");
        }
    }

    #[test]
    fn q8s_credentials_do_not_reach_the_app() {
        let caller = Caller {
            user_id: Uuid::nil(),
            username: "alice".into(),
            admin: false,
            via_session: false,
            token_id: None,
        };
        let request = Request::builder()
            .header(header::AUTHORIZATION, "Bearer q8s_secret")
            .header(header::COOKIE, "a=1; q8s_session=xyz; b=2")
            .body(axum::body::Body::empty())
            .unwrap();
        let request = without_q8s_credentials(request, &caller);
        assert!(request.headers().get(header::AUTHORIZATION).is_none());
        assert_eq!(request.headers()[header::COOKIE], "a=1; b=2");

        // Signed in by the session: the app's own Authorization stays, the cookie goes.
        let by_session = Caller {
            via_session: true,
            ..caller
        };
        let request = Request::builder()
            .header(header::AUTHORIZATION, "Basic app")
            .header(header::COOKIE, "q8s_session=xyz")
            .body(axum::body::Body::empty())
            .unwrap();
        let request = without_q8s_credentials(request, &by_session);
        assert_eq!(request.headers()[header::AUTHORIZATION], "Basic app");
        assert!(request.headers().get(header::COOKIE).is_none());

        // No session cookie: the cookies are passed on untouched.
        let request = Request::builder()
            .header(header::COOKIE, "a=1;b=2")
            .body(axum::body::Body::empty())
            .unwrap();
        let request = without_q8s_credentials(request, &by_session);
        assert_eq!(request.headers()[header::COOKIE], "a=1;b=2");

        // A cookie value that is not UTF-8 hides no session, and survives itself.
        let request = Request::builder()
            .header(
                header::COOKIE,
                HeaderValue::from_bytes(b"q8s_session=xyz; app=caf\xe9").unwrap(),
            )
            .header(header::COOKIE, "q8s_session=abc")
            .body(axum::body::Body::empty())
            .unwrap();
        let request = without_q8s_credentials(request, &by_session);
        let cookies: Vec<_> = request.headers().get_all(header::COOKIE).iter().collect();
        assert_eq!(cookies, [&HeaderValue::from_bytes(b"app=caf\xe9").unwrap()]);
    }
}
