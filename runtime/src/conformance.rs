//! The contract of [`Runtime`], as a suite every implementation must pass: [`check`] drives a
//! runtime through start, upstream, suspend, terminate, a restart of the runtime, repeated and
//! unknown calls and invalid specs, and panics with what it saw when the runtime breaks the
//! contract. The fake runs it in its unit tests, the local runtime in
//! `runtime/tests/runtime_conformance.rs`; a cluster runtime runs it against its API double.
//! [`Recorder`] is the status sink it (and the runtime tests) watch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    InstanceSpec, InstanceStatus, Runtime, RuntimeError, StatusSink, StatusUpdate, StopMode,
    Upstream,
};

/// Records every status update, and waits for them.
#[derive(Default)]
pub struct Recorder {
    updates: Mutex<HashMap<Uuid, Vec<StatusUpdate>>>,
    changed: Notify,
}

#[async_trait::async_trait]
impl StatusSink for Recorder {
    async fn update(&self, instance_id: Uuid, update: StatusUpdate) {
        lock(&self.updates)
            .entry(instance_id)
            .or_default()
            .push(update);
        self.changed.notify_waiters();
    }
}

impl Recorder {
    /// Every update of `id` so far.
    pub fn history(&self, id: Uuid) -> Vec<StatusUpdate> {
        lock(&self.updates).get(&id).cloned().unwrap_or_default()
    }

    /// The latest update of `id`.
    pub fn last(&self, id: Uuid) -> Option<StatusUpdate> {
        self.history(id).pop()
    }

    /// Waits until an update of `id` satisfies `pred` (panics with the history after `timeout`).
    pub async fn wait_for(
        &self,
        id: Uuid,
        timeout: Duration,
        pred: impl Fn(&StatusUpdate) -> bool,
    ) -> StatusUpdate {
        self.wait_after(id, 0, timeout, pred).await
    }

    /// Like [`Recorder::wait_for`], looking only at updates after the first `skip`.
    pub async fn wait_after(
        &self,
        id: Uuid,
        skip: usize,
        timeout: Duration,
        pred: impl Fn(&StatusUpdate) -> bool,
    ) -> StatusUpdate {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(found) = self.history(id).into_iter().skip(skip).find(|u| pred(u)) {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                panic!("timed out; updates of {id}: {:#?}", self.history(id));
            }
        }
    }

    /// Waits for `status` (any message).
    pub async fn wait_status(
        &self,
        id: Uuid,
        status: InstanceStatus,
        timeout: Duration,
    ) -> StatusUpdate {
        self.wait_for(id, timeout, |u| u.status == status).await
    }
}

/// A runtime made by a [`Subject`], boxed.
pub type MakeRuntime = Box<dyn Fn(Arc<dyn StatusSink>) -> Arc<dyn Runtime> + Send + Sync>;

/// What [`check`] needs of an implementation.
pub struct Subject {
    /// A runtime reporting to the sink; called again for a restart (a new runtime object over
    /// the same data, after `shutdown` of the first).
    pub make: MakeRuntime,
    /// A spec of an app that answers `200` on `/`, with a `VolumeMount`, under a new
    /// instance id.
    pub spec: Box<dyn Fn() -> InstanceSpec + Send + Sync>,
    /// Whether the instance's volume exists.
    pub has_volume: Box<dyn Fn(Uuid) -> bool + Send + Sync>,
    /// Whether instances keep running through `shutdown` and a new runtime object (a cluster's
    /// pods) rather than dying with the server (local sandboxes).
    pub outlives_shutdown: bool,
    /// How long a start may take to reach `RUNNING`.
    pub start_timeout: Duration,
}

/// Runs the whole contract against `subject`; panics at the first breach.
pub async fn check(subject: Subject) {
    let sink = Arc::new(Recorder::default());
    let runtime = (subject.make)(sink.clone());
    let spec = (subject.spec)();
    assert!(
        spec.volume_mount.is_some(),
        "the subject's spec must have a VolumeMount"
    );
    let id = spec.instance_id;
    let timeout = subject.start_timeout;

    // Start → RUNNING through the sink, and the upstream answers.
    runtime.start(spec.clone()).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, timeout).await;
    let upstream = runtime
        .upstream(id)
        .expect("a RUNNING instance has an upstream");
    assert_eq!(get(&upstream).await, Some(200), "the upstream answers");
    let observed = runtime.observe(id).await.unwrap().expect("observed");
    assert_eq!(observed.status, InstanceStatus::Running);
    assert!(runtime.list().await.unwrap().contains(&observed));

    // Starting twice is a no-op: no new status, the same upstream.
    let seen = sink.history(id).len();
    runtime.start(spec.clone()).await.unwrap();
    assert_eq!(
        sink.history(id).len(),
        seen,
        "a second start reported a status"
    );
    assert_eq!(runtime.upstream(id).map(|u| u.key()), Some(upstream.key()));

    // Suspend keeps the volume; the instance is no longer listed nor reachable.
    runtime.stop(id, StopMode::Suspend).await.unwrap();
    assert_eq!(sink.last(id).unwrap().status, InstanceStatus::Suspended);
    assert!((subject.has_volume)(id), "suspend removed the volume");
    assert!(runtime.upstream(id).is_none());
    assert_eq!(runtime.observe(id).await.unwrap(), None);

    // Resume (start again) runs on the same volume; terminate removes it.
    runtime.start(spec.clone()).await.unwrap();
    let seen = sink.history(id).len();
    sink.wait_after(id, seen - 1, timeout, |u| {
        u.status == InstanceStatus::Running
    })
    .await;
    runtime.stop(id, StopMode::Terminate).await.unwrap();
    assert_eq!(sink.last(id).unwrap().status, InstanceStatus::Terminated);
    assert!(!(subject.has_volume)(id), "terminate kept the volume");
    assert!(runtime.upstream(id).is_none());

    // Stopping an unknown instance is not an error, and reports the status asked for.
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

    // Invalid specs are refused before anything starts.
    for (what, spoil) in spoilers() {
        let mut bad = (subject.spec)();
        spoil(&mut bad);
        let bad_id = bad.instance_id;
        let result = runtime.start(bad).await;
        assert!(
            matches!(result, Err(RuntimeError::InvalidSpec(_))),
            "{what}: {result:?}"
        );
        assert_eq!(runtime.observe(bad_id).await.unwrap(), None, "{what}");
        assert!(sink.history(bad_id).is_empty(), "{what}");
    }

    // A restart: a new runtime object over the same data lists what runs.
    let spec = (subject.spec)();
    let id = spec.instance_id;
    runtime.start(spec.clone()).await.unwrap();
    sink.wait_status(id, InstanceStatus::Running, timeout).await;
    runtime.shutdown().await;
    assert!(matches!(
        runtime.start((subject.spec)()).await,
        Err(RuntimeError::ShuttingDown)
    ));
    let restarted = (subject.make)(sink.clone());
    let listed = restarted.list().await.unwrap();
    if subject.outlives_shutdown {
        let observed = restarted.observe(id).await.unwrap();
        assert_eq!(
            observed.map(|o| o.status),
            Some(InstanceStatus::Running),
            "{listed:?}"
        );
        let upstream = restarted
            .upstream(id)
            .expect("the upstream after a restart");
        assert_eq!(get(&upstream).await, Some(200));
        let seen = sink.history(id).len();
        restarted.start(spec.clone()).await.unwrap();
        assert_eq!(sink.history(id).len(), seen, "restarted what was running");
    } else {
        assert!(listed.is_empty(), "{listed:?}");
        assert!(restarted.upstream(id).is_none());
        let seen = sink.history(id).len();
        restarted.start(spec.clone()).await.unwrap();
        sink.wait_after(id, seen, timeout, |u| u.status == InstanceStatus::Running)
            .await;
    }
    assert!((subject.has_volume)(id), "a restart lost the volume");
    restarted.stop(id, StopMode::Terminate).await.unwrap();
    assert!(!(subject.has_volume)(id));
    assert!(restarted.list().await.unwrap().is_empty());
    restarted.shutdown().await;
}

type Spoiler = Box<dyn Fn(&mut InstanceSpec)>;

/// Ways to make a spec invalid, each named.
fn spoilers() -> Vec<(&'static str, Spoiler)> {
    vec![
        ("an empty module", Box::new(|s| s.module = String::new())),
        (
            "a module with a slash",
            Box::new(|s| s.module = "a/b".into()),
        ),
        (
            "a module with an empty part",
            Box::new(|s| s.module = "a..b".into()),
        ),
        (
            "a relative VolumeMount",
            Box::new(|s| s.volume_mount = Some("data".into())),
        ),
        (
            "a VolumeMount over the sandbox",
            Box::new(|s| s.volume_mount = Some("/venv".into())),
        ),
        (
            "a sha256 that is none",
            Box::new(|s| s.bundle_sha256 = "x".into()),
        ),
    ]
}

/// The status code of `GET /` on `upstream`, `None` when it does not answer HTTP.
async fn get(upstream: &Upstream) -> Option<u16> {
    let answer = async {
        let mut stream = upstream.connect().await.ok()?;
        let request = format!("GET / HTTP/1.0\r\nHost: {}\r\n\r\n", upstream.authority());
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .ok()?
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
