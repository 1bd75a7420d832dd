//! Keep-alive HTTP/1 connections to instance upstreams, each driven by the request using it.
//!
//! A general-purpose client (hyper-util's) runs every connection as a task of its own and
//! hands each request and response across channels between that task and the caller's: two
//! extra task wake-ups per request, often on another worker thread. Here the task that serves
//! the browser's request also drives the upstream connection — while waiting for the answer,
//! then through [`DrivenBody`] while the answer's body streams out — so a proxied request
//! costs no more wake-ups than the socket reads and writes it needs. An idle connection waits
//! in its thread's [`Pool`] (per upstream address, at most [`MAX_IDLE_PER_UPSTREAM`], for at
//! most [`IDLE_TIMEOUT`]) until the next request on that thread takes it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use futures::FutureExt as _;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{Upstream, UpstreamKey};

/// Idle connections kept per upstream address.
pub(crate) const MAX_IDLE_PER_UPSTREAM: usize = 64;
/// How long an idle connection is kept (an instance's Qd may close it sooner).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

type Io = TokioIo<TcpStream>;

/// One HTTP/1 connection to an upstream: the sending half and the connection state machine,
/// which only makes progress while someone polls it.
struct Conn {
    sender: SendRequest<Body>,
    conn: Pin<Box<Connection<Io, Body>>>,
}

impl Conn {
    async fn open(upstream: &Upstream) -> Result<Conn, String> {
        let stream = upstream
            .connect()
            .await
            .map_err(|err| format!("the instance does not answer: {err}"))?;
        // Requests and answers are written whole; do not wait for more to fill a segment.
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| format!("the instance does not answer: {err}"))?;
        Ok(Conn {
            sender,
            conn: Box::pin(conn),
        })
    }

    /// Lets the connection catch up on what happened without waiting: a pooled connection
    /// the upstream closed ends here. False when the connection is over.
    fn catch_up(&mut self) -> bool {
        match self.conn.as_mut().now_or_never() {
            Some(_) => false,
            None => !self.sender.is_closed(),
        }
    }
}

/// Idle connections, by upstream address, oldest first.
#[derive(Default)]
struct Pool {
    by_upstream: HashMap<UpstreamKey, Vec<(Instant, Conn)>>,
    last_sweep: Option<Instant>,
}

thread_local! {
    /// One pool per thread. The proxy's threads each serve their own connections, so a
    /// request finds a connection that its own thread's event loop watches, and nothing is
    /// shared or locked. (On a multi-threaded runtime a connection returns to the pool of the
    /// worker that finished the exchange; any pool will do.)
    static POOL: RefCell<Pool> = RefCell::default();
}

impl Pool {
    /// An idle connection to `upstream` from this thread's pool that can take a request.
    fn take(upstream: UpstreamKey) -> Option<Conn> {
        loop {
            let (since, mut conn) = POOL
                .try_with(|pool| pool.borrow_mut().by_upstream.get_mut(&upstream)?.pop())
                .ok()??;
            // A stale connection is dropped (closed) here.
            if since.elapsed() < IDLE_TIMEOUT && conn.catch_up() && conn.sender.is_ready() {
                return Some(conn);
            }
        }
    }

    /// Keeps a connection whose exchange is complete for the next request, if it can take one.
    fn put(upstream: UpstreamKey, mut conn: Conn) {
        if !conn.catch_up() || !conn.sender.is_ready() {
            return;
        }
        let now = Instant::now();
        let mut stale = Vec::new(); // closed once the pool is let go
        let _ = POOL.try_with(|pool| {
            let pool = &mut *pool.borrow_mut();
            // Now and then, drop what expired everywhere (e.g. upstreams of stopped instances).
            if pool
                .last_sweep
                .is_none_or(|last| now.duration_since(last) > IDLE_TIMEOUT)
            {
                pool.last_sweep = Some(now);
                for conns in pool.by_upstream.values_mut() {
                    let expired = conns
                        .partition_point(|(since, _)| now.duration_since(*since) >= IDLE_TIMEOUT);
                    stale.extend(conns.drain(..expired).map(|(_, conn)| conn));
                }
                pool.by_upstream.retain(|_, conns| !conns.is_empty());
            }
            let conns = pool.by_upstream.entry(upstream).or_default();
            if conns.len() >= MAX_IDLE_PER_UPSTREAM {
                stale.push(conns.remove(0).1);
            }
            conns.push((now, conn));
        });
    }
}

/// Sends `request` (origin-form URI, `Host` set) to `upstream` over a pooled connection or a
/// new one, and returns the answer; its body keeps driving the connection and gives it back
/// to the pool once read to the end. A pooled connection that turns out to be closed before
/// the request went out is replaced by a new one.
pub(crate) async fn send(
    upstream: &Upstream,
    mut request: Request<Body>,
) -> Result<Response<DrivenBody>, String> {
    let key = upstream.key();
    loop {
        let (mut conn, pooled) = match Pool::take(key) {
            Some(conn) => (conn, true),
            None => (Conn::open(upstream).await?, false),
        };
        let result = {
            let mut answer = pin!(conn.sender.try_send_request(request));
            let driving = &mut conn.conn;
            poll_fn(|cx| {
                if let Poll::Ready(result) = answer.as_mut().poll(cx) {
                    return Poll::Ready(result);
                }
                // The connection reads the answer while the request waits for it. When it ends
                // first, the request's future now holds why (and the request, if unsent).
                match driving.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(_) => answer.as_mut().poll(cx),
                }
            })
            .await
        };
        match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let body = DrivenBody {
                    body,
                    conn: Some(conn),
                    upstream: key,
                };
                return Ok(Response::from_parts(parts, body));
            }
            Err(mut err) => match err.take_message() {
                // Never written: safe to send again, on a new connection.
                Some(unsent) if pooled => request = unsent,
                _ => return Err(format!("the instance does not answer: {}", err.error())),
            },
        }
    }
}

/// An upstream answer's body that drives its connection while it is read, and returns the
/// connection to the pool when it has been read to the end.
pub(crate) struct DrivenBody {
    body: Incoming,
    conn: Option<Conn>,
    upstream: UpstreamKey,
}

impl hyper::body::Body for DrivenBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Some(conn) = &mut this.conn
            && conn.conn.as_mut().poll(cx).is_ready()
        {
            // The connection is over; what it read is already in the body's channel.
            this.conn = None;
        }
        let frame = std::task::ready!(Pin::new(&mut this.body).poll_frame(cx));
        if frame.is_none()
            && let Some(conn) = this.conn.take()
        {
            Pool::put(this.upstream, conn);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for DrivenBody {
    fn drop(&mut self) {
        // A body known to be complete is often dropped without being polled to its end (the
        // server stops at `is_end_stream`); its connection is still good. One dropped half-way
        // is not: the rest of the answer is on the wire, so the connection closes with it.
        if let Some(conn) = self.conn.take()
            && self.body.is_end_stream()
        {
            Pool::put(self.upstream, conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// An upstream answering each request on a connection with `body`; counts connections.
    async fn upstream(
        body: &'static str,
    ) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted, count) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                accepted.send(()).unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            socket.write_all(answer.as_bytes()).await.unwrap();
                        }
                    }
                });
            }
        });
        (addr, count)
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path)
            .header("host", "test")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn connections_are_reused_once_an_answer_is_read() {
        let (addr, mut connections) = upstream("hello").await;
        for _ in 0..5 {
            let response = send(&Upstream::host(addr), get("/")).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "hello");
        }
        // Dropped after its last byte but before its end was polled (what a server does
        // with a body of known length): reused too.
        let mut body = send(&Upstream::host(addr), get("/"))
            .await
            .unwrap()
            .into_body();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "hello");
        assert!(body.is_end_stream());
        drop(body);
        let response = send(&Upstream::host(addr), get("/")).await.unwrap();
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "hello"
        );
        assert_eq!(connections.recv().await, Some(()));
        assert!(connections.try_recv().is_err(), "one connection for all");

        // Dropped half-way: that connection closes, the next request opens another.
        let response = send(&Upstream::host(addr), get("/")).await.unwrap();
        drop(response);
        let response = send(&Upstream::host(addr), get("/")).await.unwrap();
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "hello"
        );
        assert_eq!(connections.recv().await, Some(()));
    }

    #[tokio::test]
    async fn named_upstreams_are_resolved_and_pooled_apart() {
        let (a, mut a_connections) = upstream("a").await;
        let (b, _b_connections) = upstream("b").await;
        let body = async |upstream: &Upstream| {
            let response = send(upstream, get("/")).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        };
        let named_a = Upstream::named("localhost", a.port());
        let named_b = Upstream::named("localhost", b.port());
        for _ in 0..3 {
            assert_eq!(body(&named_a).await, "a");
            assert_eq!(body(&named_b).await, "b");
        }
        assert_eq!(a_connections.recv().await, Some(()));
        assert!(
            a_connections.try_recv().is_err(),
            "one connection to the name"
        );
        // The same server by address is another upstream: a connection of its own.
        assert_eq!(body(&Upstream::host(a)).await, "a");
        assert_eq!(a_connections.recv().await, Some(()));
    }

    #[tokio::test]
    async fn a_closed_pooled_connection_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Answers one request per connection, then closes it.
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                let _ = socket.shutdown().await;
            }
        });
        for _ in 0..3 {
            let response = send(&Upstream::host(addr), get("/")).await.unwrap();
            assert_eq!(
                response.into_body().collect().await.unwrap().to_bytes(),
                "ok"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn an_absent_upstream_is_an_error() {
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        assert!(send(&Upstream::host(addr), get("/")).await.is_err());
    }
}
