//! The local runtime passes the `Runtime` conformance suite (`q8s_runtime::conformance`), with
//! the probe app (plain HTTP, no package to install) in real sandboxes.

mod runtime_support;

use std::sync::Arc;

use q8s_runtime::conformance::{self, Subject};
use q8s_runtime::{Runtime, StatusSink};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_runtime_passes_the_conformance_suite() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let bundle = probe_bundle(&dir);
    let volumes = dir.join("volumes");
    conformance::check(Subject {
        make: Box::new(move |sink: Arc<dyn StatusSink>| {
            let mut config = q8s_runtime::LocalRuntimeConfig::new(&dir);
            config.stop_grace = std::time::Duration::from_secs(3);
            Arc::new(q8s_runtime::LocalRuntime::new(config, sink)) as Arc<dyn Runtime>
        }),
        spec: Box::new(move || {
            let mut spec = spec(&bundle, "probe");
            spec.volume_mount = Some("/data".into());
            spec.volume_size = Some(16 << 20);
            spec
        }),
        has_volume: Box::new(move |id| {
            volumes.join(format!("{id}.img")).exists() || volumes.join(id.to_string()).exists()
        }),
        outlives_shutdown: false,
        start_timeout: START,
    })
    .await;
}
