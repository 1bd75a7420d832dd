//! The fake's Service network: every Service gets a ClusterIP of its own on the loopback range
//! (`127.<random>.<random>.<n>`, random per fake so that fakes in parallel test processes do
//! not meet), and while a ready pod matches a Service's selector, something answers HTTP on
//! the ClusterIP and port — `200` and `fake pod <name>` to every request — as the pod behind a
//! Service would. So a runtime's upstream can be dialled for real.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;

/// ClusterIPs given so far, and what listens on them.
pub(super) struct Network {
    base: [u8; 2],
    next: u32,
    /// Listeners by address, with the pod they stand for.
    listeners: HashMap<SocketAddr, (String, JoinHandle<()>)>,
}

impl Default for Network {
    fn default() -> Self {
        let seed = uuid::Uuid::new_v4().as_bytes()[..2]
            .try_into()
            .unwrap_or([1, 1]);
        Network {
            base: seed,
            next: 1,
            listeners: HashMap::new(),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for (_, (_, task)) in self.listeners.drain() {
            task.abort();
        }
    }
}

impl Network {
    /// Gives a new Service its ClusterIP (an applied Service keeps the one it has).
    pub(super) fn assign(&mut self, service: &mut Value) {
        if service["spec"]["clusterIP"].is_string() {
            return;
        }
        let n = self.next;
        self.next += 1;
        let ip = Ipv4Addr::new(
            127,
            self.base[0],
            self.base[1],
            u8::try_from(n % 250 + 2).unwrap_or(2),
        );
        service["spec"]["clusterIP"] = json!(ip.to_string());
        service["spec"]["clusterIPs"] = json!([ip.to_string()]);
    }

    /// Makes the listeners agree with `wanted` (address → pod name): new ones start, those no
    /// longer wanted stop.
    pub(super) fn serve(&mut self, wanted: HashMap<SocketAddr, String>) {
        self.listeners.retain(|addr, (pod, task)| {
            let keep = wanted.get(addr) == Some(pod);
            if !keep {
                task.abort();
            }
            keep
        });
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for (addr, pod) in wanted {
            if self.listeners.contains_key(&addr) {
                continue;
            }
            let Ok(listener) = std::net::TcpListener::bind(addr) else {
                continue;
            };
            if listener.set_nonblocking(true).is_err() {
                continue;
            }
            let _guard = runtime.enter();
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                continue;
            };
            let answer = format!("fake pod {pod}");
            let task = runtime.spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let answer = answer.clone();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1024];
                        let _ = stream.read(&mut buf).await;
                        let reply = format!(
                            "HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        let _ = stream.write_all(reply.as_bytes()).await;
                    });
                }
            });
            self.listeners.insert(addr, (pod, task));
        }
    }
}

/// Whether `selector` (a Service's `spec.selector`) picks a pod with `labels`.
pub(super) fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}
