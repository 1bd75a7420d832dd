//! What every handler shares: configuration, stores, runtime and counters.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::blob::BlobStore;
use crate::config::Config;
use crate::store::Stores;
use q8s_runtime::{InstanceStatus, Runtime};

/// The server's shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// Resolved settings.
    pub config: Arc<Config>,
    /// Metadata, one store per concern.
    pub store: Stores,
    /// Bundles.
    pub blobs: Arc<dyn BlobStore>,
    /// Instances.
    pub runtime: Arc<dyn Runtime>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Failed sign-ins, device codes and tokens, counted to throttle guessing.
    pub throttles: Arc<crate::auth::Throttles>,
    /// This replica among those sharing the store.
    pub node: Arc<crate::cluster::Node>,
    /// What the proxy saw of each instance lately, for putting idle ones to sleep.
    pub idle: Arc<crate::idle::Activity>,
    /// Makes and checks the download tokens of bundles for pods (`--runtime kubernetes`).
    pub bundle_tokens: Arc<crate::bundle_token::BundleTokens>,
}

/// What `/metrics` says of the replica that answers.
#[derive(Debug)]
pub struct Replica<'a> {
    /// Its `--node-name`.
    pub node: &'a str,
    /// Whether it leads now.
    pub leads: bool,
    /// Instances its runtime runs or supervises.
    pub instances: usize,
    /// What its runtime holds of the machine's memory.
    pub capacity: q8s_runtime::Capacity,
}

/// Counters exposed at `/metrics`. Instances by status are read from the store when scraped.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Bundles imported (201).
    pub imports: AtomicU64,
    /// Imports refused (409, 413, 422).
    pub imports_rejected: AtomicU64,
    /// Bundle bytes received by imports.
    pub bytes_received: AtomicU64,
    /// Requests forwarded by the instance proxy (the proxy counts them).
    pub proxy_requests: AtomicU64,
    /// Of those, the ones answered from the proxy's cache.
    pub proxy_cache_hits: AtomicU64,
    /// Idle instances this replica put to sleep.
    pub instance_sleeps: AtomicU64,
    /// Sleeping instances this replica woke for a request.
    pub instance_wakes: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of the counters, `replica`, `instances` (by status) and
    /// the `sleeping` ones among them.
    pub fn render(
        &self,
        replica: &Replica<'_>,
        instances: &[(InstanceStatus, u64)],
        sleeping: u64,
    ) -> String {
        let mut out = String::new();
        let node = replica.node.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "# HELP q8s_replica This replica (its --node-name) and whether it leads.\n\
             # TYPE q8s_replica gauge\n\
             q8s_replica{{node=\"{node}\",leader=\"{}\"}} 1\n\
             # HELP q8s_replica_instances Instances this replica's runtime runs or supervises.\n\
             # TYPE q8s_replica_instances gauge\n\
             q8s_replica_instances {}",
            replica.leads, replica.instances
        );
        let gauge = |out: &mut String, name: &str, help: &str, value: Option<u64>| {
            if let Some(value) = value {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            }
        };
        let memory = &replica.capacity;
        gauge(
            &mut out,
            "q8s_memory_capacity_bytes",
            "Memory this replica's instances may reserve in all (absent: not admitted by memory).",
            memory.capacity,
        );
        gauge(
            &mut out,
            "q8s_memory_reserved_bytes",
            "Memory the admitted instances of this replica reserve.",
            Some(memory.reserved),
        );
        gauge(
            &mut out,
            "q8s_memory_used_bytes",
            "Memory this replica's instances use now (their working set).",
            memory.used,
        );
        gauge(
            &mut out,
            "q8s_instances_admitted",
            "Instances of this replica holding their reservation (starting or running).",
            Some(u64::from(memory.admitted)),
        );
        gauge(
            &mut out,
            "q8s_instances_waiting_for_memory",
            "Instances of this replica waiting for memory to start.",
            Some(u64::from(memory.waiting)),
        );
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "q8s_imports_total",
            "Bundles imported.",
            self.imports.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "q8s_imports_rejected_total",
            "Bundle imports refused (duplicate, too large, invalid).",
            self.imports_rejected.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "q8s_bundle_bytes_received_total",
            "Bundle bytes received by imports.",
            self.bytes_received.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "q8s_proxy_requests_total",
            "Requests to instances the proxy let through (forwarded or answered from its cache).",
            self.proxy_requests.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "q8s_proxy_cache_hits_total",
            "Requests to instances answered from the proxy's cache.",
            self.proxy_cache_hits.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "q8s_instance_sleeps_total",
            "Idle instances this replica put to sleep (--idle-suspend).",
            self.instance_sleeps.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "q8s_instance_wakes_total",
            "Sleeping instances this replica woke for a request.",
            self.instance_wakes.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP q8s_instances_sleeping Instances asleep after being idle (they wake on \
             request).\n# TYPE q8s_instances_sleeping gauge\nq8s_instances_sleeping {sleeping}"
        );
        let _ = writeln!(
            out,
            "# HELP q8s_instances Instances by status.\n# TYPE q8s_instances gauge"
        );
        for status in InstanceStatus::ALL {
            let n = instances
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "q8s_instances{{status=\"{status}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::bump(&m.imports);
        let replica = Replica {
            node: "a\"b",
            leads: true,
            instances: 3,
            capacity: q8s_runtime::Capacity {
                capacity: Some(1 << 30),
                reserved: 256 << 20,
                used: None,
                admitted: 2,
                waiting: 1,
            },
        };
        let text = m.render(&replica, &[(InstanceStatus::Running, 2)], 4);
        assert!(
            text.contains("q8s_replica{node=\"a\\\"b\",leader=\"true\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("q8s_replica_instances 3\n"));
        assert!(
            text.contains("q8s_memory_capacity_bytes 1073741824\n"),
            "{text}"
        );
        assert!(text.contains("q8s_memory_reserved_bytes 268435456\n"));
        assert!(
            !text.contains("q8s_memory_used_bytes"),
            "unknown, so absent"
        );
        assert!(text.contains("q8s_instances_admitted 2\n"));
        assert!(text.contains("q8s_instances_waiting_for_memory 1\n"));
        assert!(text.contains("q8s_imports_total 1\n"));
        assert!(text.contains("q8s_instances{status=\"RUNNING\"} 2\n"));
        assert!(text.contains("q8s_instances{status=\"FAILED\"} 0\n"));
        assert!(text.contains("q8s_instances_sleeping 4\n"), "{text}");
        assert!(text.contains("q8s_instance_wakes_total 0\n"));
    }
}
