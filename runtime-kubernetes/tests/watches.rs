//! `KubernetesRuntime`'s statuses and upstreams come from watches, over the stateful fake API
//! server: one list per kind, then watches; a dropped watch is watched again from the last
//! version seen (no new list); a watch answered `410 Expired` lists again; statuses keep
//! flowing through each.

mod common;

use std::sync::Arc;
use std::time::Duration;

use q8s_runtime::conformance::Recorder;
use q8s_runtime::{InstanceStatus, Runtime};
use q8s_runtime_kubernetes::fake_api::{FakeApi, Kubelet};
use q8s_runtime_kubernetes::{KubernetesRuntime, KubernetesSettings};

const NS: &str = "q8s-instances";
const WAIT: Duration = Duration::from_secs(10);
const KINDS: [&str; 3] = ["deployments", "pods", "services"];

async fn runtime(api: &FakeApi, sink: &Arc<Recorder>) -> KubernetesRuntime {
    let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    KubernetesRuntime::new(
        api.client(NS),
        settings,
        sink.clone(),
        Duration::from_millis(20),
    )
    .await
    .unwrap()
}

/// The list and watch requests of `plural` so far.
fn reads(api: &FakeApi, plural: &str) -> (Vec<String>, Vec<String>) {
    let of_kind: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET") && r.contains(&format!("/{plural}?")))
        .collect();
    of_kind.into_iter().partition(|r| !r.contains("watch=true"))
}

/// The `resourceVersion` a request asked for.
fn version(request: &str) -> u64 {
    let query = request.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "resourceVersion")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap()
}

#[tokio::test]
async fn statuses_come_from_one_list_then_watches() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let spec = common::spec();
    let id = spec.instance_id;
    runtime.start(spec).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, WAIT).await;
    api.set_kubelet(Kubelet::OomKilled(1));
    sink.wait_for(id, WAIT, |u| u.restarts == 1).await;
    api.set_kubelet(Kubelet::Ready);
    let seen = sink.history(id).len();
    sink.wait_after(id, seen - 1, WAIT, |u| u.status == InstanceStatus::Running)
        .await;
    for _ in 0..100 {
        assert!(runtime.upstream(id).is_some());
    }
    for plural in KINDS {
        let (lists, watches) = reads(&api, plural);
        assert_eq!(lists.len(), 1, "{plural}: {lists:#?}");
        assert_eq!(watches.len(), 1, "{plural}: {watches:#?}");
        let (list, watch) = (&lists[0], &watches[0]);
        for request in [list, watch] {
            assert!(
                request.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dq8s"),
                "{request}"
            );
        }
        assert!(watch.contains("allowWatchBookmarks=true"), "{watch}");
    }
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_dropped_watch_resumes_where_it_was_without_a_list() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let spec = common::spec();
    let id = spec.instance_id;
    runtime.start(spec).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, WAIT).await;

    api.drop_watches();
    api.set_kubelet(Kubelet::CrashLoop(5));
    sink.wait_status(id, InstanceStatus::Failed, WAIT).await;
    for plural in KINDS {
        let (lists, watches) = reads(&api, plural);
        assert_eq!(lists.len(), 1, "{plural}: no new list: {lists:#?}");
        assert_eq!(watches.len(), 2, "{plural}: watched again: {watches:#?}");
        assert!(
            version(&watches[1]) >= version(&watches[0]),
            "{plural}: resumed from the last version seen: {watches:#?}"
        );
    }
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_watch_answered_410_lists_again_and_statuses_keep_coming() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let spec = common::spec();
    let id = spec.instance_id;
    runtime.start(spec).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, WAIT).await;

    // Every watch ends and the versions the runtime knows are compacted away; a change meanwhile
    // is learnt from the new list.
    api.expire_watches();
    api.set_kubelet(Kubelet::Unschedulable("0/3 nodes are available".into()));
    let pending = sink.wait_status(id, InstanceStatus::Pending, WAIT).await;
    assert_eq!(pending.message.as_deref(), Some("0/3 nodes are available"));
    // Each watcher lists again after its backoff (0.8 s or more, with jitter).
    for plural in KINDS {
        let relisted = async {
            while reads(&api, plural).0.len() < 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(WAIT, relisted)
            .await
            .unwrap_or_else(|_| panic!("{plural}: not listed again: {:#?}", api.requests()));
        let (lists, watches) = reads(&api, plural);
        assert_eq!(lists.len(), 2, "{plural}: {lists:#?}");
        // The first watch and the one answered 410 (then, after the list, another).
        assert!(watches.len() >= 2, "{plural}: {watches:#?}");
        assert!(version(&watches[1]) >= version(&watches[0]), "{watches:#?}");
    }
    // And the watches after the new list carry on.
    api.set_kubelet(Kubelet::Ready);
    let seen = sink.history(id).len();
    sink.wait_after(id, seen - 1, WAIT, |u| u.status == InstanceStatus::Running)
        .await;
    assert!(runtime.upstream(id).is_some());
    runtime.shutdown().await;
}
