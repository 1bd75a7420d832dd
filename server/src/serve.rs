//! Serving the listener: HTTP/1 connections, each on the threads that suit it.
//!
//! Every request is dispatched by its own `Host` before any routing: instance hosts go straight
//! to the proxy ([`proxy::serve`]), everything else to the axum application. A proxied request
//! thus costs no router, extractors or middleware.
//!
//! Where a connection runs is decided once, from its first request (peeked, not read): one for
//! an instance host — a browser keeps separate connections per host — is served by one of the
//! proxy's threads, one per core, each a single-threaded event loop with its own idle upstream
//! connections (the way nginx's workers are organised). A proxied request then never leaves
//! the thread its connection lives on: no other worker is woken to steal it, and the
//! upstream's answer wakes the very thread that waits for it. Every other connection is served
//! by the shared multi-threaded runtime, where the API's handlers, spawned tasks and uploads
//! expect to run. Placement only affects speed; a request for the main site on a proxy thread's
//! connection is still answered by the application.
//!
//! Slow and flooding clients are bounded here, for both kinds of connection alike: a request
//! head must arrive within `--header-timeout` (15 s) of the connection being ready for it —
//! its first request, or the next one on a kept-alive connection, so an idle connection ends
//! after that long too; a new connection has as long again for its first bytes, which are
//! peeked at before hyper reads them — and at most `--max-connections` are served at once;
//! more wait in the listen queue until one ends. The timeout costs a request hyper's timer for
//! its head (no extra socket call: counted with strace); the cap costs a connection one
//! semaphore permit.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tower::ServiceExt as _;

use crate::AppState;
use crate::proxy;

/// How much of a new connection's first request is peeked at to find its `Host`.
const PEEK_BYTES: usize = 2048;

/// Serves HTTP/1 connections from `listener` until `shutdown` completes, then waits for the
/// open connections to finish their requests (idle keep-alive connections are closed).
/// `site` answers everything but instance hosts; it sends those to the proxy itself (see
/// [`crate::app`]), so it is complete on its own too.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AppState,
    site: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx); // `closed()` completes for the accept loop and every connection
    });
    // Each connection holds a receiver; all are gone once every connection has ended.
    let (done_tx, done_rx) = watch::channel(());
    let slots = Arc::new(Semaphore::new(state.config.max_connections));
    let shared = Arc::new(Shared { state, site });
    let proxy_threads = Arc::new(ProxyThreads::start(&shared, proxy::thread_count())?);
    let mut full = false;
    loop {
        // A connection is accepted only when there is a slot for it: past the cap, new ones
        // wait in the kernel's listen queue while the open ones finish or time out.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !full {
                    full = true;
                    tracing::warn!(
                        max_connections = shared.state.config.max_connections,
                        "the connection cap is reached; new connections wait to be accepted"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = stop_tx.closed() => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = stop_tx.closed() => break,
        };
        if full && slots.available_permits() > 0 {
            full = false;
            tracing::info!("connections are below the cap again");
        }
        // Answers (and proxied bodies) go out as soon as they are written: without
        // TCP_NODELAY a response's last segment can wait for the client's delayed ACK.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {err}");
        }
        let life = Life {
            stop: stop_tx.clone(),
            done: done_rx.clone(),
            _slot: slot,
        };
        tokio::spawn(place(
            shared.clone(),
            proxy_threads.clone(),
            stream,
            peer,
            life,
        ));
    }
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// What every connection's service shares.
struct Shared {
    state: AppState,
    site: Router,
}

/// A connection's link to the server's lifecycle: `stop` closes when the server shuts down;
/// `done` is dropped when the connection has ended, and with it the connection's slot under
/// the cap.
struct Life {
    stop: watch::Sender<()>,
    done: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
}

/// Serves a new connection where it belongs (see the module documentation).
async fn place(
    shared: Arc<Shared>,
    proxy_threads: Arc<ProxyThreads>,
    stream: TcpStream,
    peer: SocketAddr,
    life: Life,
) {
    let first_bytes = tokio::time::timeout(
        shared.state.config.header_timeout,
        first_request_for_instance(&stream, &shared.state.config.domain),
    );
    let for_instance = tokio::select! {
        for_instance = first_bytes => match for_instance {
            Ok(for_instance) => for_instance,
            Err(_) => return, // nothing arrived in time: the connection is closed
        },
        () = life.stop.closed() => return,
    };
    if for_instance {
        match stream.into_std() {
            Ok(stream) => proxy_threads.hand_over(stream, peer, life),
            Err(err) => tracing::debug!("cannot hand over a connection from {peer}: {err}"),
        }
        return;
    }
    connection(shared, stream, peer, life).await;
}

/// Whether the first request on `stream` names an instance host in its `Host` header, as far
/// as it has arrived (peeked, so hyper reads it again). Waits for the first bytes.
async fn first_request_for_instance(stream: &TcpStream, domain: &str) -> bool {
    let mut head = [0u8; PEEK_BYTES];
    let Ok(len) = stream.peek(&mut head).await else {
        return false;
    };
    host_header(&head[..len])
        .is_some_and(|host| proxy::instance_id_from_host(host, domain).is_some())
}

/// The value of the `Host` header in (the start of) a request head: only whole lines count.
fn host_header(head: &[u8]) -> Option<&str> {
    let mut rest = head;
    let mut lines = std::iter::from_fn(move || {
        let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
        let line = &rest[..end];
        rest = &rest[end + 2..];
        Some(line)
    });
    lines.next()?; // the request line
    for line in lines.take_while(|line| !line.is_empty()) {
        if let Some((name, value)) = line.split_at_checked(5)
            && name.eq_ignore_ascii_case(b"host:")
        {
            return std::str::from_utf8(value).ok().map(str::trim);
        }
    }
    None
}

/// Serves one connection on the current runtime until it closes, or until the server stops
/// (then after its current request).
async fn connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, life: Life) {
    let header_timeout = shared.state.config.header_timeout;
    let service = Dispatch { shared, peer };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Runs while hyper waits for a request head: the first, or the next one after an
        // answer, so it ends idle kept-alive connections as well.
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = pin!(connection);
    let mut stopping = pin!(life.stop.closed());
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::trace!("connection from {peer}: {err}");
                }
                break;
            }
            () = &mut stopping => connection.as_mut().graceful_shutdown(),
        }
    }
    drop(life.done);
}

/// The service of one connection: instance hosts to the proxy, the rest to the site.
struct Dispatch {
    shared: Arc<Shared>,
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        let shared = self.shared.clone();
        // The client: the TCP peer, or whom a trusted load balancer says it forwards for.
        let config = &shared.state.config;
        let client = config
            .trusted_proxies
            .client(self.peer.ip(), request.headers());
        let peer = SocketAddr::new(client, self.peer.port());
        match proxy::instance_of(&request, &shared.state.config.domain) {
            Some(id) => Box::pin(async move {
                Ok(proxy::serve(&shared.state, id, request, Some(peer.ip())).await)
            }),
            None => {
                // What axum's `into_make_service_with_connect_info` would add.
                request.extensions_mut().insert(ConnectInfo(peer));
                Box::pin(shared.site.clone().oneshot(request))
            }
        }
    }
}

/// The proxy's threads, each running a single-threaded runtime that serves the connections
/// handed to it. They end when this is dropped (after the server has stopped).
struct ProxyThreads {
    queues: Vec<mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr, Life)>>,
    next: AtomicUsize,
}

impl ProxyThreads {
    fn start(shared: &Arc<Shared>, count: usize) -> io::Result<ProxyThreads> {
        let mut queues = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (queue, mut arrivals) = mpsc::unbounded_channel();
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("q8s-proxy-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some((stream, peer, life)) = arrivals.recv().await {
                            match TcpStream::from_std(stream) {
                                Ok(stream) => {
                                    tokio::spawn(connection(shared.clone(), stream, peer, life));
                                }
                                Err(err) => tracing::debug!("cannot serve {peer}: {err}"),
                            }
                        }
                    });
                })?;
            queues.push(queue);
        }
        Ok(ProxyThreads {
            queues,
            next: AtomicUsize::new(0),
        })
    }

    /// Gives a connection to the next thread in turn (a non-blocking socket, as
    /// `TcpStream::into_std` leaves it).
    fn hand_over(&self, stream: std::net::TcpStream, peer: SocketAddr, life: Life) {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        if self.queues[index].send((stream, peer, life)).is_err() {
            tracing::error!("proxy thread {index} has ended; dropping a connection from {peer}");
        }
    }
}

/// An `accept` that failed: a connection that went away before it was accepted is nothing;
/// anything else (e.g. out of file descriptors) is logged, and accepting pauses for a moment
/// so that connections can close (what axum's and hyper's servers do).
async fn accept_failed(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection: {err}");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_host_of_a_request_head_even_a_partial_one() {
        let head =
            b"GET / HTTP/1.1\r\nUser-Agent: x\r\nHOST:  a.localhost:8008 \r\nAccept: */*\r\n\r\n";
        assert_eq!(host_header(head), Some("a.localhost:8008"));
        assert_eq!(host_header(b"GET / HTTP/1.1\r\nHost: a.local"), None, "cut");
        assert_eq!(
            host_header(b"GET / HTTP/1.1\r\nHost: a.localhost\r\nAcc"),
            Some("a.localhost")
        );
        // Only headers count: not the request line, not the body.
        assert_eq!(
            host_header(b"GET /host:x HTTP/1.1\r\n\r\nHost: b\r\n"),
            None
        );
        assert_eq!(host_header(b"GET / HTTP/1.1\r\nX-Host: b\r\n\r\n"), None);
        assert_eq!(host_header(b""), None);
    }
}
