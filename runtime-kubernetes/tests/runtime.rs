//! `KubernetesRuntime` driven like the runtime conformance suite drives a runtime (start,
//! repeated start, suspend, resume, terminate, unknown stops, invalid specs, a restart of the
//! server), against the stateful fake API server and its fake kubelet. What the suite also
//! checks and this cannot yet: that the upstream answers HTTP (a Service's DNS name does not
//! resolve here).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use q8s_runtime::conformance::Recorder;
use q8s_runtime::{BundleSource, InstanceSpec, InstanceStatus, Runtime, RuntimeError, StopMode};
use q8s_runtime_kubernetes::fake_api::{FakeApi, Kubelet};
use q8s_runtime_kubernetes::{KubernetesRuntime, KubernetesSettings};
use uuid::Uuid;

const NS: &str = "q8s-instances";
const WAIT: Duration = Duration::from_secs(10);

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
        env: Vec::new(),
        volume_mount: Some("/data".into()),
        volume_size: Some(1 << 30),
        memory_limit: Some(256 << 20),
        memory_reservation: None,
        instance_url: "https://x.q8s.example.com/".into(),
    }
}

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

fn has_volume(api: &FakeApi, id: Uuid) -> bool {
    api.get("api/v1", NS, "persistentvolumeclaims", &format!("q8s-{id}"))
        .is_some()
}

#[tokio::test]
async fn the_life_of_an_instance() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let spec = spec();
    let id = spec.instance_id;

    runtime.start(spec.clone()).await.unwrap();
    assert_eq!(sink.history(id)[0].status, InstanceStatus::Starting);
    sink.wait_status(id, InstanceStatus::Running, WAIT).await;
    let upstream = runtime
        .upstream(id)
        .expect("a RUNNING instance has an upstream");
    let service = api
        .get("api/v1", NS, "services", &format!("q8s-{id}"))
        .unwrap();
    let cluster_ip = service["spec"]["clusterIP"].as_str().unwrap();
    assert_eq!(
        upstream.authority(),
        format!("{cluster_ip}:10101"),
        "the Service's ClusterIP"
    );
    let observed = runtime.observe(id).await.unwrap().unwrap();
    assert_eq!(observed.status, InstanceStatus::Running);

    // A second start is a no-op.
    let seen = sink.history(id).len();
    runtime.start(spec.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.history(id).len(), seen, "{:?}", sink.history(id));

    // Suspend keeps the volume; nothing is listed or reachable.
    runtime.stop(id, StopMode::Suspend).await.unwrap();
    assert_eq!(sink.last(id).unwrap().status, InstanceStatus::Suspended);
    assert!(has_volume(&api, id));
    assert!(runtime.upstream(id).is_none());
    assert_eq!(runtime.observe(id).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        sink.last(id).unwrap().status,
        InstanceStatus::Suspended,
        "a status from the caches reported something else after the suspend"
    );

    // Resume, then terminate: the volume goes.
    runtime.start(spec.clone()).await.unwrap();
    let seen = sink.history(id).len();
    sink.wait_after(id, seen - 1, WAIT, |u| u.status == InstanceStatus::Running)
        .await;
    runtime.stop(id, StopMode::Terminate).await.unwrap();
    assert_eq!(sink.last(id).unwrap().status, InstanceStatus::Terminated);
    assert!(!has_volume(&api, id));
    assert!(runtime.upstream(id).is_none());
    assert!(api.is_empty(), "terminate left objects");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.last(id).unwrap().status, InstanceStatus::Terminated);

    // Stopping an unknown instance is no error and reports what was asked.
    let unknown = Uuid::new_v4();
    runtime.stop(unknown, StopMode::Suspend).await.unwrap();
    assert_eq!(
        sink.last(unknown).unwrap().status,
        InstanceStatus::Suspended
    );
    runtime.stop(unknown, StopMode::Terminate).await.unwrap();
    assert_eq!(
        sink.last(unknown).unwrap().status,
        InstanceStatus::Terminated
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn invalid_specs_are_refused_before_the_cluster_is_asked() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    type Spoiler = Box<dyn Fn(&mut InstanceSpec)>;
    let spoilers: Vec<(&str, Spoiler)> = vec![
        ("an empty module", Box::new(|s| s.module = String::new())),
        (
            "a relative VolumeMount",
            Box::new(|s| s.volume_mount = Some("data".into())),
        ),
        (
            "a sha256 that is none",
            Box::new(|s| s.bundle_sha256 = "x".into()),
        ),
        (
            "a bundle on the server's disk",
            Box::new(|s| s.bundle = BundleSource::LocalFile("/srv/b.qz".into())),
        ),
    ];
    let before = api.requests().len();
    for (what, spoil) in spoilers {
        let mut bad = spec();
        spoil(&mut bad);
        let result = runtime.start(bad.clone()).await;
        assert!(
            matches!(result, Err(RuntimeError::InvalidSpec(_))),
            "{what}: {result:?}"
        );
        assert!(sink.history(bad.instance_id).is_empty(), "{what}");
    }
    let writes = api.requests()[before..]
        .iter()
        .filter(|r| !r.starts_with("GET"))
        .count();
    assert_eq!(writes, 0, "an invalid spec reached the cluster");
    assert!(api.is_empty());
}

#[tokio::test]
async fn a_restarted_server_finds_what_runs_and_starts_nothing_twice() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let first = runtime(&api, &sink).await;
    let spec = spec();
    let id = spec.instance_id;
    first.start(spec.clone()).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, WAIT).await;
    first.shutdown().await;
    assert!(matches!(
        first.start(self::spec()).await,
        Err(RuntimeError::ShuttingDown)
    ));
    let patches = |api: &FakeApi| {
        api.requests()
            .iter()
            .filter(|r| r.starts_with("PATCH"))
            .count()
    };
    let applied = patches(&api);

    let seen = sink.history(id).len();
    let restarted = runtime(&api, &sink).await;
    let observed = restarted.observe(id).await.unwrap().map(|o| o.status);
    assert_eq!(observed, Some(InstanceStatus::Running));
    assert!(
        restarted.upstream(id).is_some(),
        "the upstream after a restart"
    );
    restarted.start(spec.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        sink.history(id).len(),
        seen,
        "a restart reported or restarted"
    );
    assert_eq!(patches(&api), applied, "a restart applied again");
    assert!(has_volume(&api, id));
    restarted.stop(id, StopMode::Terminate).await.unwrap();
    assert!(restarted.list().await.unwrap().is_empty());
    restarted.shutdown().await;
}

#[tokio::test]
async fn what_the_kubelet_sees_becomes_the_status() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;

    api.set_kubelet(Kubelet::Unschedulable(
        "0/3 nodes are available: 3 Insufficient memory.".into(),
    ));
    let spec_a = spec();
    runtime.start(spec_a.clone()).await.unwrap();
    let pending = sink
        .wait_status(spec_a.instance_id, InstanceStatus::Pending, WAIT)
        .await;
    assert_eq!(
        pending.message.as_deref(),
        Some("0/3 nodes are available: 3 Insufficient memory.")
    );
    assert!(runtime.upstream(spec_a.instance_id).is_none());

    api.set_kubelet(Kubelet::OomKilled(1));
    let oom = sink
        .wait_for(spec_a.instance_id, WAIT, |u| {
            u.status == InstanceStatus::Starting && u.restarts == 1
        })
        .await;
    assert!(
        oom.message
            .unwrap()
            .starts_with("OOMKilled: the instance exceeded its MemoryLimit 256Mi"),
    );

    api.set_kubelet(Kubelet::CrashLoop(5));
    let failed = sink
        .wait_status(spec_a.instance_id, InstanceStatus::Failed, WAIT)
        .await;
    assert_eq!(failed.restarts, 5);
    let listed = runtime.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].status,
        InstanceStatus::Failed,
        "FAILED instances are listed"
    );

    api.set_kubelet(Kubelet::Ready);
    sink.wait_status(spec_a.instance_id, InstanceStatus::Running, WAIT)
        .await;
    runtime.shutdown().await;
}

#[tokio::test]
async fn logs_come_from_the_pod_install_output_first() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let spec = spec();
    let id = spec.instance_id;
    // No pod: no lines, no error.
    assert!(read_log(&runtime, id, None).await.is_empty());
    runtime.start(spec).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, WAIT).await;
    let pod = format!("q8s-{id}-fake");
    let install = |n| format!("{pod} prepare: line {n}\n");
    let own = |n| format!("{pod}: line {n}\n");
    // A tail within the instance's own lines.
    let logs = |tail| {
        let runtime = &runtime;
        async move {
            runtime
                .logs(id, tail, false)
                .await
                .unwrap()
                .map(|l| String::from_utf8(l.unwrap().to_vec()).unwrap())
                .collect::<Vec<String>>()
                .await
        }
    };
    assert_eq!(logs(Some(2)).await, [own(2), own(3)]);
    // A tail reaching into the install's output, and the whole log.
    assert_eq!(logs(Some(4)).await, [install(2), own(1), own(2), own(3)]);
    assert_eq!(
        logs(None).await,
        [install(1), install(2), own(1), own(2), own(3)]
    );
    // Following: the install's output, then the instance's (the fake's log ends at once).
    assert_eq!(read_log(&runtime, id, None).await.len(), 5);
    let log_requests: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.contains("/log"))
        .collect();
    assert!(
        log_requests
            .iter()
            .any(|r| r.contains("container=instance") && r.contains("tailLines=2")),
        "{log_requests:#?}"
    );
    assert!(
        log_requests
            .iter()
            .any(|r| r.contains("container=instance") && r.contains("follow=true")),
        "{log_requests:#?}"
    );
    assert!(
        log_requests.iter().all(|r| r.contains("container=")),
        "{log_requests:#?}"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_status_read_before_a_stop_is_never_reported_after_it() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let (suspended, terminated) = (spec(), spec());
    for spec in [&suspended, &terminated] {
        runtime.start(spec.clone()).await.unwrap();
        sink.wait_status(spec.instance_id, InstanceStatus::Running, WAIT)
            .await;
    }
    // The Deployments' watch lags: the cache keeps both at one replica while their pods'
    // deletions arrive (read alone, "a Deployment without its pod": PENDING).
    api.hold_watch_events("deployments", true);
    let (a, b) = (suspended.instance_id, terminated.instance_id);
    runtime.stop(a, StopMode::Suspend).await.unwrap();
    runtime.stop(b, StopMode::Terminate).await.unwrap();
    let other = spec();
    runtime.start(other.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let only = |id: Uuid, status: InstanceStatus| {
        let history = sink.history(id);
        let at = history
            .iter()
            .position(|u| u.status == status)
            .expect("the stop reported");
        assert!(
            history[at..].iter().all(|u| u.status == status),
            "reported after the stop: {history:#?}"
        );
    };
    only(a, InstanceStatus::Suspended);
    only(b, InstanceStatus::Terminated);
    // The watch catches up: still nothing but the stops' statuses.
    api.hold_watch_events("deployments", false);
    sink.wait_status(other.instance_id, InstanceStatus::Running, WAIT)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    only(a, InstanceStatus::Suspended);
    only(b, InstanceStatus::Terminated);
    assert!(
        runtime
            .list()
            .await
            .unwrap()
            .iter()
            .all(|o| o.instance_id == other.instance_id)
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn starting_a_failed_instance_again_makes_a_new_pod() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let spec = spec();
    let id = spec.instance_id;
    api.set_kubelet(Kubelet::CrashLoop(5));
    runtime.start(spec.clone()).await.unwrap();
    sink.wait_status(id, InstanceStatus::Failed, WAIT).await;
    let pod = api
        .get("api/v1", NS, "pods", &format!("q8s-{id}-fake"))
        .unwrap();

    api.set_kubelet(Kubelet::Ready);
    runtime.start(spec).await.unwrap();
    let deleted = api
        .requests()
        .iter()
        .any(|r| r.starts_with("DELETE") && r.contains("/pods?") && r.contains(&id.to_string()));
    assert!(deleted, "{:#?}", api.requests());
    let seen = sink.history(id).len();
    let running = sink
        .wait_after(id, seen - 1, WAIT, |u| u.status == InstanceStatus::Running)
        .await;
    assert_eq!(running.restarts, 0);
    let new_pod = api
        .get("api/v1", NS, "pods", &format!("q8s-{id}-fake"))
        .unwrap();
    assert_ne!(
        pod["metadata"]["uid"], new_pod["metadata"]["uid"],
        "the same pod"
    );
    runtime.shutdown().await;
}

async fn read_log(runtime: &KubernetesRuntime, id: Uuid, tail: Option<usize>) -> Vec<String> {
    let stream = runtime.logs(id, tail, true).await.unwrap();
    let lines = stream
        .map(|l| String::from_utf8(l.unwrap().to_vec()).unwrap())
        .collect::<Vec<String>>();
    tokio::time::timeout(WAIT, lines)
        .await
        .expect("a kept log ends")
}

#[tokio::test]
async fn the_last_lines_are_kept_when_a_stop_takes_the_pod_away() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let runtime = runtime(&api, &sink).await;
    let (suspended, terminated) = (spec(), spec());
    for spec in [&suspended, &terminated] {
        runtime.start(spec.clone()).await.unwrap();
        sink.wait_status(spec.instance_id, InstanceStatus::Running, WAIT)
            .await;
    }
    runtime
        .stop(suspended.instance_id, StopMode::Suspend)
        .await
        .unwrap();
    runtime
        .stop(terminated.instance_id, StopMode::Terminate)
        .await
        .unwrap();
    for spec in [&suspended, &terminated] {
        let id = spec.instance_id;
        assert!(
            api.get("api/v1", NS, "pods", &format!("q8s-{id}-fake"))
                .is_none()
        );
        let all = read_log(&runtime, id, None).await;
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[2], format!("q8s-{id}-fake: line 3\n"));
        assert_eq!(
            read_log(&runtime, id, Some(1)).await,
            [format!("q8s-{id}-fake: line 3\n")]
        );
    }
    // An instance never seen has no log, and that is no error.
    assert!(read_log(&runtime, Uuid::new_v4(), None).await.is_empty());
    runtime.shutdown().await;
}

#[tokio::test]
async fn settings_that_would_open_instances_to_every_pod_are_refused_before_any_call() {
    let api = FakeApi::new();
    let sink = Arc::new(Recorder::default());
    let mut settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    settings.server_pod_labels.clear();
    let result =
        KubernetesRuntime::new(api.client(NS), settings, sink, Duration::from_millis(20)).await;
    let Err(RuntimeError::Io { source, .. }) = result.map(|_| ()) else {
        panic!("accepted");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput);
    assert!(source.to_string().contains("admit every pod"), "{source}");
    assert!(api.requests().is_empty(), "asked the cluster first");
}
