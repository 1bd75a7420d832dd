//! One origin for the site: a browser that opens the site under another host name (typically
//! `http://127.0.0.1:8008` when the server's URL is `http://localhost:8008`) is sent to the
//! server's URL before it signs in. A session cookie belongs to the host name it was set on,
//! and the hand-off to instances goes through the server's URL: signed in under another name,
//! a user would meet a second sign-in form when opening an app.
//!
//! Only the host name counts (cookies ignore ports; a TLS proxy in front may serve another
//! port); only page loads are redirected (`GET`, `HEAD`) and never the API, health checks,
//! metrics or any request carrying `Authorization`, which work under every name the server
//! answers to. Instance hosts never get here: they are the proxy's (see `route_instance_hosts`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::state::AppState;

/// Paths that answer under every host name: programs call them, not browsers.
const ANY_HOST: &[&str] = &["/api/", "/healthz", "/readyz", "/metrics"];

/// Sends page loads of the site under another host name to the server's URL.
pub async fn canonical_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = crate::request_host(&request);
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let target = redirect_target(
        request.method(),
        request.headers(),
        host,
        path,
        &state.config.domain,
        &state.config.base_url(),
    );
    match target {
        Some(target) => Redirect::temporary(&target).into_response(),
        None => next.run(request).await,
    }
}

/// Where a request for `path` under `host` is sent, if elsewhere: `base_url` + `path` when it
/// is a page load under a host name other than `domain`.
fn redirect_target(
    method: &Method,
    headers: &HeaderMap,
    host: Option<&str>,
    path: &str,
    domain: &str,
    base_url: &str,
) -> Option<String> {
    if !matches!(*method, Method::GET | Method::HEAD)
        || headers.contains_key(header::AUTHORIZATION)
        || ANY_HOST
            .iter()
            .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
    {
        return None;
    }
    let host = host?;
    let name = match host.find(']') {
        Some(end) => &host[..=end],
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.');
    if name.eq_ignore_ascii_case(domain.trim_end_matches('.')) {
        return None;
    }
    Some(format!("{base_url}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://localhost:8008";

    fn target(method: Method, host: &str, path: &str, bearer: bool) -> Option<String> {
        let mut headers = HeaderMap::new();
        if bearer {
            headers.insert(header::AUTHORIZATION, "Bearer q8s_x".parse().unwrap());
        }
        redirect_target(&method, &headers, Some(host), path, "localhost", BASE)
    }

    #[test]
    fn pages_under_another_name_go_to_the_servers_url() {
        for (host, path) in [
            ("127.0.0.1:8008", "/"),
            ("127.0.0.1:8008", "/login?next=%2Fdevice"),
            ("[::1]:8008", "/device?user_code=ABCD-EFGH"),
            ("192.168.1.5:8008", "/oauth/authorize?client_id=q8s-cli"),
            ("q8s.localhost:8008", "/index.js"),
        ] {
            assert_eq!(
                target(Method::GET, host, path, false),
                Some(format!("{BASE}{path}")),
                "{host}{path}"
            );
        }
        assert!(target(Method::HEAD, "127.0.0.1:8008", "/", false).is_some());
    }

    #[test]
    fn the_servers_own_name_stays_whatever_its_case_port_or_final_dot() {
        for host in [
            "localhost:8008",
            "LOCALHOST:8008",
            "localhost.:8008",
            "localhost",
            "localhost:443",
        ] {
            assert_eq!(target(Method::GET, host, "/", false), None, "{host}");
        }
    }

    #[test]
    fn programs_work_under_every_name() {
        let host = "127.0.0.1:8008";
        // Forms, the API, health checks and anything with a token are not page loads.
        assert_eq!(target(Method::POST, host, "/login", false), None);
        assert_eq!(target(Method::GET, host, "/api/v1/me", false), None);
        assert_eq!(target(Method::GET, host, "/healthz", false), None);
        assert_eq!(target(Method::GET, host, "/metrics", false), None);
        assert_eq!(target(Method::GET, host, "/", true), None);
        // Without a Host there is nothing to compare.
        let none = redirect_target(
            &Method::GET,
            &HeaderMap::new(),
            None,
            "/",
            "localhost",
            BASE,
        );
        assert_eq!(none, None);
        // A path that merely starts like one of them is a page.
        assert!(target(Method::GET, host, "/apis", false).is_some());
    }
}
