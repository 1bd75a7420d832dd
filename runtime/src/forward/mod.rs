//! Forwarding one request to an instance's upstream: HTTP with streaming bodies both ways over
//! pooled keep-alive connections, and websockets (the upgrade is forwarded, then bytes are
//! copied both ways until either side closes).
//!
//! What a client says about where it comes from or who it is (`Forwarded`, `X-Real-IP`,
//! `X-Forwarded-*`, …) never reaches the app: the proxy drops it and sets its own
//! `X-Forwarded-*`. What an app says about q8s's cookies never reaches the browser: a
//! `Set-Cookie` for a q8s cookie name or for a wider domain than the instance's own host is
//! dropped.

use std::fmt::Write as _;
use std::net::IpAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;

use crate::Upstream;

pub mod pages;
mod upstream;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Who is asking, for the `X-Forwarded-*` headers.
pub struct Origin {
    /// The `Host` the browser used (`X-Forwarded-Host`).
    pub host: Option<HeaderValue>,
    /// The signed-in user (`X-Forwarded-User`).
    pub user: Option<HeaderValue>,
    /// The client's address (appended to `X-Forwarded-For`).
    pub peer: Option<IpAddr>,
}

/// Kept by a websocket forwarded through [`forward`] until either side closes it: put one in a
/// request's extensions and its `Drop` says when the websocket closed (the server counts open
/// websockets per instance this way). Dropped at once when the request is no upgrade or the
/// upgrade fails.
#[derive(Clone)]
pub struct HeldWhileOpen(pub std::sync::Arc<dyn Send + Sync>);

/// Sends `request` to `upstream` and returns its answer; `Err` when the upstream cannot be
/// reached (the caller answers 502).
pub async fn forward(
    upstream: &Upstream,
    mut request: Request,
    origin: Origin,
) -> Result<Response, String> {
    let upgrade = upgrade_protocol(request.headers());
    // Origin-form (`/path?query`) to the upstream; the browser's `Host` stays (Qd checks a
    // websocket's `Origin` against it).
    if request.uri().scheme().is_some() || request.uri().authority().is_some() {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        *request.uri_mut() =
            Uri::try_from(path).map_err(|err| format!("bad request path: {err}"))?;
    }
    let host = origin.host.clone();
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    add_forwarded(headers, origin);
    let mut response = match upgrade {
        None => {
            let response = upstream::send(upstream, request).await?;
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Some(protocol) => forward_upgrade(upstream, request, protocol).await?,
    };
    drop_foreign_cookies(response.headers_mut(), host.as_ref());
    Ok(response)
}

async fn forward_upgrade(
    upstream: &Upstream,
    mut request: Request,
    protocol: HeaderValue,
) -> Result<Response, String> {
    let held = request.extensions_mut().remove::<HeldWhileOpen>();
    let client_side = hyper::upgrade::on(&mut request);
    let headers = request.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
    let stream = upstream
        .connect()
        .await
        .map_err(|err| format!("the instance does not answer: {err}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| format!("the instance does not answer: {err}"))?;
    tokio::spawn(async move {
        if let Err(err) = connection.with_upgrades().await {
            tracing::debug!("proxied upgrade connection ended: {err}");
        }
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|err| format!("the instance does not answer: {err}"))?;
    if response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS {
        let upstream_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (client, upstream) = match tokio::try_join!(client_side, upstream_side) {
                Ok(both) => both,
                Err(err) => {
                    tracing::debug!("websocket upgrade through the proxy failed: {err}");
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            // Ends when either side closes; errors are ordinary disconnects.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            drop(held);
        });
    }
    let (mut parts, body) = response.into_parts();
    let switching = parts.status == axum::http::StatusCode::SWITCHING_PROTOCOLS;
    let upgrade = parts.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers);
    if let (true, Some(upgrade)) = (switching, upgrade) {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, upgrade);
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// The protocol a request asks to switch to (`Connection: upgrade` + `Upgrade: …`).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::try_from(name.trim()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_USER: HeaderName = HeaderName::from_static("x-forwarded-user");

/// Whether a request header (name in lower case, as `HeaderName` keeps it) claims something
/// about the client that only a proxy may say: where it connects from, the scheme, host, port
/// or path it used, who it is. Apps and frameworks trust these from "their" proxy, so the
/// client's own never pass. `X-Forwarded-*` and `X-Original-*` as a family; the rest by name.
fn is_forwarding_header(name: &str) -> bool {
    name.starts_with("x-forwarded")
        || name.starts_with("x-original-")
        || name.starts_with("x-auth-request-")
        || name.starts_with("x-ssl-client-")
        || matches!(
            name,
            "forwarded"
                | "x-real-ip"
                | "x-client-ip"
                | "client-ip"
                | "true-client-ip"
                | "cf-connecting-ip"
                | "fastly-client-ip"
                | "x-cluster-client-ip"
                | "x-proxyuser-ip"
                | "x-remote-ip"
                | "x-remote-addr"
                | "x-remote-user"
                | "remote-user"
                | "x-rewrite-url"
                | "x-host"
                | "x-scheme"
                | "x-url-scheme"
                | "front-end-https"
                | "x-client-cert"
                | "ssl-client-cert"
                | "ssl-client-verify"
        )
}

/// Replaces whatever the client claimed about itself (see [`is_forwarding_header`]) with what
/// the proxy knows: the peer's address (`X-Forwarded-For`, one address: nothing in front of
/// q8s is trusted to add to it), the host and scheme used, and the signed-in user.
fn add_forwarded(headers: &mut HeaderMap, origin: Origin) {
    // One pass over the names; most requests carry none of these, and then nothing is
    // allocated.
    let claimed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_forwarding_header(name.as_str()))
        .cloned()
        .collect();
    for name in claimed {
        headers.remove(name);
    }
    if let Some(peer) = origin.peer {
        let mut address = String::with_capacity(40);
        let _ = write!(address, "{peer}");
        if let Ok(value) = HeaderValue::try_from(address) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    if let Some(host) = origin.host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if let Some(user) = origin.user {
        headers.insert(X_FORWARDED_USER, user);
    }
}

/// Drops the `Set-Cookie` headers of an app's answer that would reach beyond its own host or
/// into q8s's cookies: a name starting with `q8s_` (any case, `__Host-`/`__Secure-` prefixed
/// too) or a `Domain` other than the instance host itself (the parent domain would carry the
/// cookie to the main site and every other instance). `host` is the request's `Host`.
fn drop_foreign_cookies(headers: &mut HeaderMap, host: Option<&HeaderValue>) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let host = host.map_or(&b""[..], |h| h.as_bytes());
    let host = match host.iter().rposition(|&b| b == b':') {
        Some(colon) if !host[colon..].contains(&b']') => &host[..colon],
        _ => host,
    };
    let all: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let (kept, dropped): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|cookie| cookie_stays_on(cookie.as_bytes(), host));
    if dropped.is_empty() {
        return;
    }
    for cookie in &dropped {
        let name = cookie
            .as_bytes()
            .split(|&b| b == b'=')
            .next()
            .unwrap_or_default();
        tracing::debug!(
            cookie = %String::from_utf8_lossy(name),
            "proxy: dropped an app's Set-Cookie for q8s's cookies or a wider domain"
        );
    }
    headers.remove(header::SET_COOKIE);
    for cookie in kept {
        headers.append(header::SET_COOKIE, cookie);
    }
}

/// Whether the `Set-Cookie` value `cookie` sets an app's own cookie for `host` only.
fn cookie_stays_on(cookie: &[u8], host: &[u8]) -> bool {
    let mut parts = cookie.split(|&b| b == b';');
    let name = parts
        .next()
        .and_then(|pair| pair.split(|&b| b == b'=').next())
        .unwrap_or_default()
        .trim_ascii();
    let unprefixed = [&b"__Host-"[..], b"__Secure-"]
        .iter()
        .find_map(|prefix| strip_prefix_ignore_case(name, prefix))
        .unwrap_or(name);
    if strip_prefix_ignore_case(unprefixed, b"q8s_").is_some() {
        return false;
    }
    parts.all(|attribute| {
        let (key, value) = match attribute.iter().position(|&b| b == b'=') {
            Some(eq) => (&attribute[..eq], &attribute[eq + 1..]),
            None => (attribute, &b""[..]),
        };
        if !key.trim_ascii().eq_ignore_ascii_case(b"domain") {
            return true;
        }
        let domain = value.trim_ascii();
        let domain = domain.strip_prefix(b".").unwrap_or(domain);
        !host.is_empty() && domain.eq_ignore_ascii_case(host)
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_including_those_named_by_connection() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn recognizes_websocket_upgrades() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(upgrade_protocol(&headers), None);
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert_eq!(upgrade_protocol(&headers).unwrap(), "websocket");
    }

    #[test]
    fn forwarded_headers_replace_what_the_client_claims() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-user", HeaderValue::from_static("admin"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.insert("x-forwarded-host", HeaderValue::from_static("evil"));
        headers.insert("x-forwarded-port", HeaderValue::from_static("443"));
        headers.insert("forwarded", HeaderValue::from_static("for=10.0.0.1"));
        headers.insert("x-real-ip", HeaderValue::from_static("10.0.0.1"));
        headers.insert("x-original-url", HeaderValue::from_static("/admin"));
        headers.insert("true-client-ip", HeaderValue::from_static("10.0.0.1"));
        headers.insert("x-app", HeaderValue::from_static("kept"));
        let origin = Origin {
            host: Some(HeaderValue::from_static("abc.localhost:8008")),
            user: Some(HeaderValue::from_static("alice")),
            peer: Some([127, 0, 0, 1].into()),
        };
        add_forwarded(&mut headers, origin);
        assert_eq!(headers["x-forwarded-user"], "alice");
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(headers["x-forwarded-host"], "abc.localhost:8008");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-app"], "kept");
        assert_eq!(headers.len(), 5, "{headers:?}");

        let origin = Origin {
            host: None,
            user: None,
            peer: Some([10, 0, 0, 2].into()),
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-user", HeaderValue::from_static("admin"));
        add_forwarded(&mut headers, origin);
        assert_eq!(headers["x-forwarded-for"], "10.0.0.2");
        assert!(!headers.contains_key("x-forwarded-user"));
        assert!(!headers.contains_key("x-forwarded-host"));
    }

    #[test]
    fn apps_set_their_own_cookies_for_their_own_host_only() {
        let host = HeaderValue::from_static("abc.localhost:8008");
        let mut headers = HeaderMap::new();
        for cookie in [
            "app=1; Path=/",
            "q8s_session=planted; Path=/",
            "Q8S_Session=planted",
            "q8s_other=1",
            "__Host-q8s_session=1; Secure; Path=/",
            "__secure-Q8S_x=1; Secure",
            "wide=1; Domain=localhost",
            "wide2=1; Path=/; domain=.LOCALHOST",
            "sibling=1; Domain=other.localhost",
            "mine=1; Domain=ABC.localhost; Path=/",
            "dotted=1; Domain=.abc.localhost",
            "q8s=1; Path=/q8s_session",
        ] {
            headers.append(header::SET_COOKIE, HeaderValue::from_static(cookie));
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        drop_foreign_cookies(&mut headers, Some(&host));
        let kept: Vec<_> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
            .collect();
        assert_eq!(kept, ["app", "mine", "dotted", "q8s"]);
        assert!(headers.contains_key(header::CONTENT_TYPE));

        // Without a host to compare with, no Domain cookie passes.
        let mut headers = HeaderMap::new();
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("a=1; Domain=x"),
        );
        drop_foreign_cookies(&mut headers, None);
        assert!(!headers.contains_key(header::SET_COOKIE));
    }

    #[tokio::test]
    async fn the_upstream_gets_what_the_app_should_see_and_the_body_streams_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // An upstream that answers with the request it received, head and body.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.ends_with(b"\r\n\r\nhello") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early");
                seen.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nconnection: keep-alive, x-hop\r\nx-hop: 1\r\n\
                 content-length: {}\r\n\r\n",
                seen.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(&seen).await.unwrap();
        });
        let request = Request::post("http://abc.localhost:8008/path?q=1")
            .header(header::HOST, "abc.localhost:8008")
            .header(header::CONNECTION, "keep-alive, x-private")
            .header("x-private", "1")
            .header("x-forwarded-user", "mallory")
            .header(header::CONTENT_LENGTH, "5")
            .body(Body::from("hello"))
            .unwrap();
        let origin = Origin {
            host: Some(HeaderValue::from_static("abc.localhost:8008")),
            user: Some(HeaderValue::from_static("alice")),
            peer: Some([127, 0, 0, 1].into()),
        };
        let response = forward(&Upstream::host(upstream), request, origin)
            .await
            .unwrap();
        assert!(!response.headers().contains_key("x-hop"));
        assert!(!response.headers().contains_key(header::CONNECTION));
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let seen = String::from_utf8(body.to_vec()).unwrap();
        assert!(seen.starts_with("POST /path?q=1 HTTP/1.1\r\n"), "{seen}");
        for line in [
            "host: abc.localhost:8008",
            "x-forwarded-for: 127.0.0.1",
            "x-forwarded-host: abc.localhost:8008",
            "x-forwarded-proto: http",
            "x-forwarded-user: alice",
        ] {
            assert!(
                seen.contains(&format!("\r\n{line}\r\n")),
                "{line} in {seen}"
            );
        }
        assert!(
            !seen.contains("x-private") && !seen.contains("mallory"),
            "{seen}"
        );
    }
}
