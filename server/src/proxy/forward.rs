//! Forwarding one request to an instance's upstream: HTTP with streaming bodies both ways over
//! pooled keep-alive connections, and websockets (the upgrade is forwarded, then bytes are
//! copied both ways until either side closes).

use std::fmt::Write as _;
use std::net::IpAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;

use super::upstream;
use crate::runtime::Upstream;

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
pub(crate) struct Origin {
    /// The `Host` the browser used (`X-Forwarded-Host`).
    pub(crate) host: Option<HeaderValue>,
    /// The signed-in user (`X-Forwarded-User`).
    pub(crate) user: Option<HeaderValue>,
    /// The client's address (appended to `X-Forwarded-For`).
    pub(crate) peer: Option<IpAddr>,
}

/// Sends `request` to `upstream` and returns its answer; `Err` when the upstream cannot be
/// reached (the caller answers 502).
pub(crate) async fn forward(
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
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    add_forwarded(headers, origin);
    match upgrade {
        None => {
            let response = upstream::send(upstream, request).await?;
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, Body::new(body)))
        }
        Some(protocol) => forward_upgrade(upstream, request, protocol).await,
    }
}

async fn forward_upgrade(
    upstream: &Upstream,
    mut request: Request,
    protocol: HeaderValue,
) -> Result<Response, String> {
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

fn add_forwarded(headers: &mut HeaderMap, origin: Origin) {
    if let Some(peer) = origin.peer {
        let mut chain = String::with_capacity(64);
        if let Some(earlier) = headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            chain.push_str(earlier);
            chain.push_str(", ");
        }
        let _ = write!(chain, "{peer}");
        if let Ok(value) = HeaderValue::try_from(chain) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    match origin.host {
        Some(host) => headers.insert(X_FORWARDED_HOST, host),
        None => headers.remove(X_FORWARDED_HOST),
    };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    // Set by the proxy only: a value sent by the browser is replaced.
    match origin.user {
        Some(user) => headers.insert(X_FORWARDED_USER, user),
        None => headers.remove(X_FORWARDED_USER),
    };
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
        let origin = Origin {
            host: Some(HeaderValue::from_static("abc.localhost:8008")),
            user: Some(HeaderValue::from_static("alice")),
            peer: Some([127, 0, 0, 1].into()),
        };
        add_forwarded(&mut headers, origin);
        assert_eq!(headers["x-forwarded-user"], "alice");
        assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(headers["x-forwarded-host"], "abc.localhost:8008");
        assert_eq!(headers["x-forwarded-proto"], "http");

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
