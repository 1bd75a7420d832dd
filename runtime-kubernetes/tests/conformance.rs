//! The runtime conformance suite (`q8s_runtime::conformance`, the contract the local runtime
//! and the fake pass too) against `KubernetesRuntime` over the stateful fake API server, whose
//! kubelet makes ready pods that answer HTTP on their Service's ClusterIP.

use std::sync::Arc;
use std::time::Duration;

use q8s_runtime::conformance::{self, Subject};
use q8s_runtime::{BundleSource, InstanceSpec, Runtime};
use q8s_runtime_kubernetes::fake_api::FakeApi;
use q8s_runtime_kubernetes::{KubernetesRuntime, KubernetesSettings};
use uuid::Uuid;

const NS: &str = "q8s-instances";

fn spec() -> InstanceSpec {
    InstanceSpec {
        instance_id: Uuid::new_v4(),
        app_id: Uuid::new_v4(),
        owner_id: Uuid::new_v4(),
        app_name: "hello".into(),
        app_version: "1.0.0".into(),
        bundle_sha256: "ef".repeat(32),
        bundle: BundleSource::Url {
            url: "https://q8s.example.com/v1/bundles/efef".into(),
            token: Some("t".into()),
        },
        module: "hello.app".into(),
        env: vec![("API_KEY".into(), "v".into())],
        volume_mount: Some("/data".into()),
        volume_size: Some(1 << 30),
        memory_limit: Some(256 << 20),
        memory_reservation: None,
        instance_url: "https://x.q8s.example.com/".into(),
    }
}

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
        spec: Box::new(spec),
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
