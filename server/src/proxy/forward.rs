//! Forwarding one request to an instance's upstream: HTTP with streaming bodies both ways over
//! pooled keep-alive connections, and websockets (the upgrade is forwarded, then bytes are
//! copied both ways until either side closes).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;

use super::upstream;

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
pub(crate) struct Origin<'a> {
    /// The `Host` the browser used.
    pub(crate) host: &'a str,
    /// The signed-in user.
    pub(crate) user: &'a str,
}

/// Sends `request` to `upstream` and returns its answer; `Err` when the upstream cannot be
/// reached (the caller answers 502).
pub(crate) async fn forward(
    upstream: SocketAddr,
    mut request: Request,
    origin: &Origin<'_>,
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
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    add_forwarded(headers, origin, peer);
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
    upstream: SocketAddr,
    mut request: Request,
    protocol: HeaderValue,
) -> Result<Response, String> {
    let client_side = hyper::upgrade::on(&mut request);
    let headers = request.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
    let stream = tokio::net::TcpStream::connect(upstream)
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

fn add_forwarded(headers: &mut HeaderMap, origin: &Origin<'_>, peer: Option<std::net::IpAddr>) {
    if let Some(peer) = peer {
        let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", value);
        }
    }
    if let Ok(host) = HeaderValue::from_str(origin.host) {
        headers.insert("x-forwarded-host", host);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    // Set by the proxy only: a value sent by the browser is replaced.
    headers.remove("x-forwarded-user");
    if let Ok(user) = HeaderValue::from_str(origin.user) {
        headers.insert("x-forwarded-user", user);
    }
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
        let origin = Origin {
            host: "abc.localhost:8008",
            user: "alice",
        };
        add_forwarded(&mut headers, &origin, Some([127, 0, 0, 1].into()));
        assert_eq!(headers["x-forwarded-user"], "alice");
        assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(headers["x-forwarded-host"], "abc.localhost:8008");
        assert_eq!(headers["x-forwarded-proto"], "http");
    }
}
