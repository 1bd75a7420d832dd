//! [`KubernetesRuntime`]: the [`Runtime`] over a cluster, from the parts of this crate — specs
//! become objects ([`crate::manifest`]) applied by [`Cluster`], statuses come from
//! [`crate::status::derive`] over the watch caches of [`crate::caches`], derived again when a
//! watch event arrives (events within a short debounce together), and reported to the
//! [`StatusSink`] when they change. Upstreams come from the Services' cache: no request costs
//! an API call.
//!
//! Pods outlive the server: [`Runtime::shutdown`] leaves them, and a new runtime object lists
//! them. Status reports and calls that change instances take one lock, and a start or stop puts
//! a [`Fence`] on the instance until the caches show what it did, so a status read from the
//! cluster before a stop can never be reported after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use q8s_runtime::{
    BundleSource, Collected, InstanceSpec, InstanceStatus, LogStream, Observed, Runtime,
    RuntimeError, StatusSink, StatusUpdate, StopMode, Upstream,
};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::KubernetesSettings;
use crate::apply::Cluster;
use crate::caches::{Caches, Changes};
use crate::fence::Fence;
use crate::labels::object_name;
use crate::logs::KeptTails;
use crate::manifest::{INSTANCE_PORT, InstanceObjects, Replicas};

/// Runs instances as Deployments of a cluster.
pub struct KubernetesRuntime {
    inner: Arc<Inner>,
    watching: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    cluster: Cluster,
    settings: KubernetesSettings,
    sink: Arc<dyn StatusSink>,
    /// What the watches have seen of q8s's Deployments, Pods and Services.
    caches: Caches,
    /// The last status of each instance this runtime reported or found.
    known: Mutex<HashMap<Uuid, StatusUpdate>>,
    /// Instances whose statuses are held back until the caches show a start or stop.
    fences: Mutex<HashMap<Uuid, Fence>>,
    /// The last lines of stopped instances' logs.
    kept: KeptTails,
    /// Held while deriving and reporting statuses, and while changing an instance.
    turn: tokio::sync::Mutex<()>,
    shutting_down: AtomicBool,
}

impl KubernetesRuntime {
    /// A runtime over `client`'s cluster, deriving statuses `debounce` after a watch event
    /// (later events within it are taken together). Refuses settings that
    /// [`KubernetesSettings::check`] refuses, before any call. It first fills its caches
    /// (a cluster that does not answer or does not allow the lists and watches fails it) and
    /// learns what runs without reporting it (the store has it), so a restarted server starts
    /// nothing twice.
    pub async fn new(
        client: kube::Client,
        settings: KubernetesSettings,
        sink: Arc<dyn StatusSink>,
        debounce: Duration,
    ) -> Result<KubernetesRuntime, RuntimeError> {
        settings.check().map_err(|problem| RuntimeError::Io {
            context: "the Kubernetes runtime's settings".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, problem),
        })?;
        let (caches, mut changes) = Caches::watch(&client, &settings.namespace);
        caches.fill(&mut changes).await?;
        let inner = Arc::new(Inner {
            cluster: Cluster::new(client, settings.namespace.clone()),
            known: Mutex::new(caches.statuses(settings.max_restarts)),
            settings,
            sink,
            caches,
            fences: Mutex::new(HashMap::new()),
            kept: KeptTails::default(),
            turn: tokio::sync::Mutex::new(()),
            shutting_down: AtomicBool::new(false),
        });
        let watching = tokio::spawn(Arc::clone(&inner).follow(changes, debounce));
        Ok(KubernetesRuntime {
            inner,
            watching: Mutex::new(Some(watching)),
        })
    }
}

impl Inner {
    /// Keeps the caches filled, and reports what changed after each burst of events.
    async fn follow(self: Arc<Self>, mut changes: Changes, debounce: Duration) {
        let noted = |change: Result<bool, kube::runtime::watcher::Error>| match change {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(%err, "watching the cluster; the watch starts again");
                false
            }
        };
        while let Some(change) = changes.next().await {
            let mut changed = noted(change);
            let until = tokio::time::Instant::now() + debounce;
            while let Ok(Some(change)) = tokio::time::timeout_at(until, changes.next()).await {
                changed |= noted(change);
            }
            if changed {
                self.report_changes().await;
            }
        }
    }

    /// Reports every status that changed since the last report, fenced instances left out.
    async fn report_changes(&self) {
        let _turn = self.turn.lock().await;
        let now = self.caches.statuses(self.settings.max_restarts);
        let changed: Vec<(Uuid, StatusUpdate)> = {
            let mut fences = lock(&self.fences);
            fences.retain(|id, fence| {
                let deployment = self.caches.deployment(*id);
                !fence.passed(deployment.as_deref(), &self.caches.pods(*id))
            });
            let mut known = lock(&self.known);
            known.retain(|id, _| now.contains_key(id) || fences.contains_key(id));
            let changed: Vec<(Uuid, StatusUpdate)> = now
                .into_iter()
                .filter(|(id, update)| !fences.contains_key(id) && known.get(id) != Some(update))
                .collect();
            for (id, update) in &changed {
                known.insert(*id, update.clone());
            }
            changed
        };
        for (id, update) in changed {
            self.sink.update(id, update).await;
        }
    }

    /// Every instance's status: the caches', or the last reported one while fenced.
    fn statuses(&self) -> HashMap<Uuid, StatusUpdate> {
        let mut all = self.caches.statuses(self.settings.max_restarts);
        let fences = lock(&self.fences);
        let known = lock(&self.known);
        for id in fences.keys() {
            match known.get(id) {
                Some(update) => all.insert(*id, update.clone()),
                None => all.remove(id),
            };
        }
        all
    }

    async fn report(&self, id: Uuid, update: StatusUpdate) {
        lock(&self.known).insert(id, update.clone());
        self.sink.update(id, update).await;
    }
}

#[async_trait::async_trait]
impl Runtime for KubernetesRuntime {
    async fn start(&self, spec: InstanceSpec) -> Result<(), RuntimeError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(RuntimeError::ShuttingDown);
        }
        let objects = InstanceObjects::build(&spec, &self.inner.settings, Replicas::Running)?;
        let _turn = self.inner.turn.lock().await;
        let id = spec.instance_id;
        let current = lock(&self.inner.known).get(&id).map(|u| u.status);
        if matches!(
            current,
            Some(InstanceStatus::Pending | InstanceStatus::Starting | InstanceStatus::Running)
        ) {
            return Ok(());
        }
        let applied = self.inner.cluster.apply_owned(&objects).await?;
        let deleted_pods = if current == Some(InstanceStatus::Failed) {
            // The same objects change nothing on the cluster: a new pod is the restart.
            self.inner.cluster.delete_pods(id).await?
        } else {
            Vec::new()
        };
        lock(&self.inner.fences).insert(id, Fence::applied(&applied, deleted_pods));
        let starting = StatusUpdate {
            status: InstanceStatus::Starting,
            message: None,
            restarts: 0,
        };
        self.inner.report(id, starting).await;
        Ok(())
    }

    async fn stop(&self, instance_id: Uuid, mode: StopMode) -> Result<(), RuntimeError> {
        let _turn = self.inner.turn.lock().await;
        self.inner.kept.keep(&self.inner.cluster, instance_id).await;
        match mode {
            StopMode::Suspend => {
                self.inner.cluster.suspend(instance_id).await?;
            }
            StopMode::Terminate => self.inner.cluster.terminate(instance_id).await?,
        }
        lock(&self.inner.fences).insert(instance_id, Fence::stopped(mode));
        let update = StatusUpdate {
            status: mode.status(),
            message: None,
            restarts: 0,
        };
        self.inner.report(instance_id, update).await;
        if mode == StopMode::Terminate {
            lock(&self.inner.known).remove(&instance_id);
        }
        Ok(())
    }

    fn upstream(&self, instance_id: Uuid) -> Option<Upstream> {
        if lock(&self.inner.known).get(&instance_id)?.status != InstanceStatus::Running {
            return None;
        }
        // The ClusterIP: stable for the Service's life (suspend keeps it), no DNS lookup per
        // connection. The DNS name when it is not known (yet).
        if let Some(addr) = self.inner.caches.address(instance_id) {
            return Some(Upstream::host(addr));
        }
        let host = format!(
            "{}.{}.svc",
            object_name(instance_id),
            self.inner.settings.namespace
        );
        Some(Upstream::named(&host, INSTANCE_PORT))
    }

    async fn list(&self) -> Result<Vec<Observed>, RuntimeError> {
        let all = self.inner.statuses();
        let mut listed: Vec<Observed> = all
            .into_iter()
            .filter(|(_, u)| u.status != InstanceStatus::Suspended)
            .map(|(instance_id, u)| Observed {
                instance_id,
                status: u.status,
                restarts: u.restarts,
            })
            .collect();
        listed.sort_by_key(|o| o.instance_id);
        Ok(listed)
    }

    async fn logs(
        &self,
        instance_id: Uuid,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<LogStream, RuntimeError> {
        let inner = &self.inner;
        crate::logs::instance_log(&inner.cluster, &inner.kept, instance_id, tail, follow).await
    }

    async fn refresh_bundle(
        &self,
        instance_id: Uuid,
        bundle: &BundleSource,
    ) -> Result<(), RuntimeError> {
        let BundleSource::Url { url, token } = bundle else {
            return Err(RuntimeError::InvalidSpec(
                "pods fetch their bundle from a URL".into(),
            ));
        };
        self.inner
            .cluster
            .refresh_bundle(instance_id, url, token.as_deref())
            .await?;
        Ok(())
    }

    fn shared(&self) -> bool {
        // Every replica lists and reaches the same pods.
        true
    }

    async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        if let Some(watching) = lock(&self.watching).take() {
            watching.abort();
        }
    }

    fn extracted_bundles(&self) -> Vec<String> {
        // Bundles are unpacked inside pods; the server's host keeps none.
        Vec::new()
    }

    async fn collect_garbage(&self, _unused: &[String]) -> Collected {
        Collected::default()
    }
}

impl Drop for KubernetesRuntime {
    fn drop(&mut self) {
        if let Some(watching) = lock(&self.watching).take() {
            watching.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
