//! The runtime conformance suite (`q8s_runtime::conformance`, the contract the local runtime
//! and the fake pass too) against `KubernetesRuntime` over the stateful fake API server, whose
//! kubelet makes ready pods that answer HTTP on their Service's ClusterIP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use q8s_runtime::Runtime;
use q8s_runtime::conformance::{self, Subject};
use q8s_runtime_kubernetes::fake_api::FakeApi;
use q8s_runtime_kubernetes::{KubernetesRuntime, KubernetesSettings};

const NS: &str = "q8s-instances";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_runtime_passes_the_conformance_suite() {
    let api = FakeApi::new();
    let make_api = api.clone();
    let volume_api = api.clone();
    conformance::check(Subject {
        // The suite makes runtimes from a plain closure; the constructor reads the cluster
        // first, so it is awaited here on this multi-threaded runtime.
        make: Box::new(move |sink| {
            let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
            let client = make_api.client(NS);
            let runtime = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(KubernetesRuntime::new(
                    client,
                    settings,
                    sink,
                    Duration::from_millis(20),
                ))
            })
            .unwrap();
            Arc::new(runtime) as Arc<dyn Runtime>
        }),
        spec: Box::new(common::spec),
        has_volume: Box::new(move |id| {
            volume_api
                .get("api/v1", NS, "persistentvolumeclaims", &format!("q8s-{id}"))
                .is_some()
        }),
        outlives_shutdown: true,
        start_timeout: Duration::from_secs(10),
    })
    .await;
}
