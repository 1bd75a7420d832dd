//! An in-memory [`Runtime`] for tests: it proves the seam (the server and the conformance
//! suite drive it exactly like the local runtime) and makes the server's API tests fast and
//! independent of uv, PyPI and bubblewrap (`q8s-server --runtime fake`, for tests only).
//!
//! An instance goes `STARTING` → `RUNNING` after the configured [`Behaviour`] (a delay, some
//! crashes, or a failure) and then answers HTTP on a loopback port of its own: every request
//! gets `200` and `fake instance <id>: <METHOD> <path>`, so the proxy has something to forward
//! to. Like pods of a cluster, instances belong to a world that outlives a runtime object:
//! [`FakeRuntime::reopen`] is a restarted server that lists what runs; they end when the
//! last runtime over the world is dropped. Volumes are remembered, not made. The log says
//! what happened, stamped like the local runtime's, and can be followed until the instance
//! stops.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    Collected, InstanceSpec, InstanceStatus, LogStream, Observed, Runtime, RuntimeError,
    StatusSink, StatusUpdate, StopMode, Upstream,
};

/// How the fake's instances behave when started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// How long `STARTING` lasts (and each restart after a crash).
    pub delay: Duration,
    /// Crashes before the instance runs; each one counts as a restart.
    pub crashes: u32,
    /// `Some(reason)`: the start ends `FAILED` with that reason instead of running.
    pub fail: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            delay: Duration::from_millis(20),
            crashes: 0,
            fail: None,
        }
    }
}

/// One instance of the fake.
struct Instance {
    status: InstanceStatus,
    restarts: u32,
    upstream: Option<Upstream>,
    /// Drives the life cycle, then serves HTTP.
    task: JoinHandle<()>,
}

/// What outlives a runtime object (see the module docs).
#[derive(Default)]
struct World {
    instances: Mutex<HashMap<Uuid, Instance>>,
    volumes: Mutex<HashSet<Uuid>>,
    /// Each instance's log lines, stamped like the local runtime's.
    logs: Mutex<HashMap<Uuid, Vec<String>>>,
    /// Bumped on every new line and every stop (for logs that follow).
    changed: watch::Sender<u64>,
    behaviour: Mutex<Behaviour>,
}

impl Drop for World {
    fn drop(&mut self) {
        for instance in lock(&self.instances).values() {
            instance.task.abort();
        }
    }
}

impl World {
    fn note(&self, id: Uuid, line: String) {
        let line = format!("{}{line}\n", crate::local::prefix_now());
        lock(&self.logs).entry(id).or_default().push(line);
        self.changed.send_modify(|n| *n += 1);
    }

    /// The log lines from `from` on.
    fn lines(&self, id: Uuid, from: usize) -> Vec<String> {
        let logs = lock(&self.logs);
        let lines = logs.get(&id).map_or(&[][..], Vec::as_slice);
        lines.get(from..).unwrap_or_default().to_vec()
    }

    /// Whether the instance is there and not `FAILED` (its log may still grow).
    fn lives(&self, id: Uuid) -> bool {
        lock(&self.instances)
            .get(&id)
            .is_some_and(|i| i.status != InstanceStatus::Failed)
    }

    /// Records a status (if the instance is still there: a stop may have come first).
    fn set(&self, id: Uuid, status: InstanceStatus, crashed: bool) -> Option<u32> {
        let mut instances = lock(&self.instances);
        let instance = instances.get_mut(&id)?;
        instance.status = status;
        instance.restarts += u32::from(crashed);
        Some(instance.restarts)
    }
}

/// The in-memory runtime.
pub struct FakeRuntime {
    world: Arc<World>,
    sink: Arc<dyn StatusSink>,
    shutting_down: AtomicBool,
}

impl FakeRuntime {
    /// A runtime over a new, empty world, reporting to `sink`.
    pub fn new(sink: Arc<dyn StatusSink>) -> FakeRuntime {
        FakeRuntime {
            world: Arc::default(),
            sink,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Another runtime over the same world (a restarted server, or another replica): it lists
    /// and serves the instances that run and reports to `sink`.
    pub fn reopen(&self, sink: Arc<dyn StatusSink>) -> FakeRuntime {
        FakeRuntime {
            world: Arc::clone(&self.world),
            sink,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// How instances started from now on behave.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.world.behaviour) = behaviour;
    }

    /// Whether the instance has a volume (it had a `VolumeMount` and was not terminated).
    pub fn has_volume(&self, instance_id: Uuid) -> bool {
        lock(&self.world.volumes).contains(&instance_id)
    }
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    async fn start(&self, spec: InstanceSpec) -> Result<(), RuntimeError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(RuntimeError::ShuttingDown);
        }
        spec.check()?;
        let id = spec.instance_id;
        let mut instances = lock(&self.world.instances);
        if instances
            .get(&id)
            .is_some_and(|i| i.status != InstanceStatus::Failed)
        {
            return Ok(());
        }
        if spec.volume_mount.is_some() {
            lock(&self.world.volumes).insert(id);
        }
        let behaviour = lock(&self.world.behaviour).clone();
        let task = tokio::spawn(run(
            Arc::downgrade(&self.world),
            Arc::clone(&self.sink),
            id,
            behaviour,
        ));
        let instance = Instance {
            status: InstanceStatus::Pending,
            restarts: 0,
            upstream: None,
            task,
        };
        if let Some(old) = instances.insert(id, instance) {
            old.task.abort();
        }
        Ok(())
    }

    async fn stop(&self, instance_id: Uuid, mode: StopMode) -> Result<(), RuntimeError> {
        self.world.note(instance_id, format!("stopped ({mode:?})"));
        let removed = lock(&self.world.instances).remove(&instance_id);
        let restarts = removed.map_or(0, |instance| {
            instance.task.abort();
            instance.restarts
        });
        if mode == StopMode::Terminate {
            lock(&self.world.volumes).remove(&instance_id);
        }
        // Followers of the log end now.
        self.world.changed.send_modify(|n| *n += 1);
        let update = StatusUpdate {
            status: mode.status(),
            message: None,
            restarts,
        };
        self.sink.update(instance_id, update).await;
        Ok(())
    }

    fn upstream(&self, instance_id: Uuid) -> Option<Upstream> {
        let instances = lock(&self.world.instances);
        let instance = instances.get(&instance_id)?;
        match instance.status {
            InstanceStatus::Running => instance.upstream.clone(),
            _ => None,
        }
    }

    async fn list(&self) -> Result<Vec<Observed>, RuntimeError> {
        let instances = lock(&self.world.instances);
        let observed = instances.iter().map(|(id, instance)| Observed {
            instance_id: *id,
            status: instance.status,
            restarts: instance.restarts,
        });
        Ok(observed.collect())
    }

    async fn logs(
        &self,
        instance_id: Uuid,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<LogStream, RuntimeError> {
        let lines = self.world.lines(instance_id, 0);
        let skip = tail.map_or(0, |tail| lines.len().saturating_sub(tail));
        let first: String = lines[skip..].concat();
        let next = lines.len();
        let chunk = (!first.is_empty()).then(|| Ok(bytes::Bytes::from(first)));
        let head = futures::stream::iter(chunk);
        if !follow {
            return Ok(Box::pin(head));
        }
        // Then every new line until the instance stops.
        let world = Arc::downgrade(&self.world);
        let changed = self.world.changed.subscribe();
        let more = futures::stream::unfold(
            (world, changed, next),
            move |(world, mut changed, next)| async move {
                loop {
                    // A stop writes its line before the instance goes: read after looking.
                    let lives = world.upgrade()?.lives(instance_id);
                    let lines = world.upgrade()?.lines(instance_id, next);
                    if !lines.is_empty() {
                        let chunk = bytes::Bytes::from(lines.concat());
                        return Some((Ok(chunk), (world, changed, next + lines.len())));
                    }
                    if !lives {
                        return None;
                    }
                    changed.changed().await.ok()?;
                }
            },
        );
        Ok(Box::pin(head.chain(more)))
    }

    /// Accepts no new starts; the instances keep running, like pods (see the module docs).
    async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    fn extracted_bundles(&self) -> Vec<String> {
        Vec::new()
    }

    async fn collect_garbage(&self, _unused: &[String]) -> Collected {
        Collected::default()
    }
}

/// One instance's life: crashes and delays as configured, then `RUNNING` and serving until
/// aborted (stop), or `FAILED`.
async fn run(
    world: std::sync::Weak<World>,
    sink: Arc<dyn StatusSink>,
    id: Uuid,
    behaviour: Behaviour,
) {
    let report = async |status: InstanceStatus, message: Option<String>, crashed: bool| {
        let world = world.upgrade()?;
        let why = message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        world.note(id, format!("{status}{why}"));
        let restarts = world.set(id, status, crashed)?;
        drop(world);
        let update = StatusUpdate {
            status,
            message,
            restarts,
        };
        sink.update(id, update).await;
        Some(())
    };
    report(InstanceStatus::Starting, None, false).await;
    for _ in 0..behaviour.crashes {
        tokio::time::sleep(behaviour.delay).await;
        let why = Some("crashed: exit status 1 (fake)".to_owned());
        report(InstanceStatus::Starting, why, true).await;
    }
    tokio::time::sleep(behaviour.delay).await;
    if let Some(reason) = behaviour.fail {
        report(InstanceStatus::Failed, Some(reason), false).await;
        return;
    }
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
        Ok(listener) => listener,
        Err(err) => {
            let why = format!("cannot listen: {err}");
            report(InstanceStatus::Failed, Some(why), false).await;
            return;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    match world.upgrade() {
        Some(world) => match lock(&world.instances).get_mut(&id) {
            Some(instance) => instance.upstream = Some(Upstream::host(addr)),
            None => return,
        },
        None => return,
    }
    if let Some(world) = world.upgrade() {
        world.note(id, format!("listening on {addr}"));
    }
    report(InstanceStatus::Running, None, false).await;
    let answer = move |request: axum::extract::Request| async move {
        format!("fake instance {id}: {} {}", request.method(), request.uri())
    };
    let app = axum::Router::new().fallback(answer);
    let _ = axum::serve(listener, app).await;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::BundleSource;
    use crate::conformance::{self, Recorder};

    fn spec() -> InstanceSpec {
        InstanceSpec {
            instance_id: Uuid::new_v4(),
            app_id: Uuid::new_v4(),
            owner_id: Uuid::new_v4(),
            app_name: "a".into(),
            app_version: "1".into(),
            bundle_sha256: "0".repeat(64),
            bundle: BundleSource::LocalFile(PathBuf::from("/x.qz")),
            module: "app".into(),
            env: Vec::new(),
            volume_mount: Some("/data".into()),
            volume_size: None,
            memory_limit: None,
            memory_reservation: None,
            instance_url: "http://x".into(),
        }
    }

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let world = Arc::new(FakeRuntime::new(Arc::new(Recorder::default())));
        let volumes = Arc::clone(&world);
        conformance::check(conformance::Subject {
            make: Box::new(move |sink| Arc::new(world.reopen(sink))),
            spec: Box::new(spec),
            has_volume: Box::new(move |id| volumes.has_volume(id)),
            outlives_shutdown: true,
            start_timeout: Duration::from_secs(10),
        })
        .await;
    }

    #[tokio::test]
    async fn crashes_count_as_restarts_and_a_failure_is_reported() {
        let sink = Arc::new(Recorder::default());
        let runtime = FakeRuntime::new(sink.clone());
        runtime.set_behaviour(Behaviour {
            crashes: 2,
            ..Behaviour::default()
        });
        let crashing = spec();
        runtime.start(crashing.clone()).await.unwrap();
        let running = sink
            .wait_status(
                crashing.instance_id,
                InstanceStatus::Running,
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(running.restarts, 2);

        runtime.set_behaviour(Behaviour {
            fail: Some("no luck".into()),
            ..Behaviour::default()
        });
        let failing = spec();
        runtime.start(failing.clone()).await.unwrap();
        let failed = sink
            .wait_status(
                failing.instance_id,
                InstanceStatus::Failed,
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(failed.message.as_deref(), Some("no luck"));
        assert!(runtime.upstream(failing.instance_id).is_none());
        let observed = runtime.observe(failing.instance_id).await.unwrap().unwrap();
        assert_eq!(observed.status, InstanceStatus::Failed);
    }

    #[tokio::test]
    async fn a_followed_log_ends_when_the_instance_stops() {
        let sink = Arc::new(Recorder::default());
        let runtime = FakeRuntime::new(sink.clone());
        let spec = spec();
        let id = spec.instance_id;
        runtime.start(spec).await.unwrap();
        sink.wait_status(id, InstanceStatus::Running, Duration::from_secs(10))
            .await;
        let mut follow = runtime.logs(id, Some(1), true).await.unwrap();
        let last = follow.next().await.unwrap().unwrap();
        assert!(last.ends_with(b"RUNNING\n"), "{last:?}");
        assert_eq!(last.iter().filter(|b| **b == b'\n').count(), 1);
        runtime.stop(id, StopMode::Suspend).await.unwrap();
        let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(10), follow.collect())
            .await
            .expect("the log ends with the instance");
        let rest = String::from_utf8(rest.into_iter().flat_map(|c| c.unwrap()).collect()).unwrap();
        assert!(rest.ends_with(" # stopped (Suspend)\n"), "{rest}");
    }
}
