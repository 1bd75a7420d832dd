//! The fake API server on a loopback port, plain HTTP, for clients made from a kubeconfig (a
//! `q8s-server --runtime kubernetes` under test, `kube::Config`'s own code path).

use std::net::SocketAddr;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use super::{FakeApi, FakeBody};

/// The fake, listening; dropping it stops the listener (open connections finish).
pub struct FakeApiServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeApiServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig whose current context is this server (no credentials), with `namespace` as
    /// its namespace.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: \
             http://{}\nusers:\n- name: tester\n  user: {{}}\ncontexts:\n- name: fake\n  \
             context:\n    cluster: fake\n    user: tester\n    namespace: {namespace}\n\
             current-context: fake\n",
            self.addr
        )
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// Serves this fake on a free loopback port (on the current tokio runtime).
    pub async fn serve_tcp(&self) -> std::io::Result<FakeApiServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let api = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = api.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let api = api.clone();
                        async move { Ok::<_, std::convert::Infallible>(api.over_tcp(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FakeApiServer { addr, task })
    }

    async fn over_tcp(&self, request: hyper::Request<Incoming>) -> hyper::Response<FakeBody> {
        let (parts, body) = request.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        self.answer(&parts, &bytes).await
    }
}
