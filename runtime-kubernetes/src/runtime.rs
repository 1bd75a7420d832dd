//! [`KubernetesRuntime`]: the [`Runtime`] over a cluster, from the parts of this crate — specs
//! become objects ([`crate::manifest`]) applied by [`Cluster`], statuses come from
//! [`crate::status::derive`] over what the API server lists, polled every few seconds (watches
//! come later: issue 14), and reported to the [`StatusSink`] when they change.
//!
//! Pods outlive the server: [`Runtime::shutdown`] leaves them, and a new runtime object lists
//! them. Status reports and calls that change instances take one lock, so a poll that read the
//! cluster before a stop can never report after it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use q8s_runtime::{
    BundleSource, Collected, InstanceSpec, InstanceStatus, LogStream, Observed, Runtime,
    RuntimeError, StatusSink, StatusUpdate, StopMode, Upstream,
};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::KubernetesSettings;
use crate::apply::{Cluster, ClusterError};
use crate::labels::{self, object_name};
use crate::logs::KeptTails;
use crate::manifest::{INSTANCE_PORT, InstanceObjects, Replicas};

/// Runs instances as Deployments of a cluster.
pub struct KubernetesRuntime {
    inner: Arc<Inner>,
    poller: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    cluster: Cluster,
    settings: KubernetesSettings,
    sink: Arc<dyn StatusSink>,
    /// The last status of each instance this runtime reported or found.
    known: Mutex<HashMap<Uuid, StatusUpdate>>,
    /// Each instance's Service address (its ClusterIP and port), as last listed.
    addresses: Mutex<HashMap<Uuid, SocketAddr>>,
    /// The last lines of stopped instances' logs.
    kept: KeptTails,
    /// Held while reading the cluster and reporting, and while changing an instance.
    turn: tokio::sync::Mutex<()>,
    shutting_down: AtomicBool,
}

impl KubernetesRuntime {
    /// A runtime over `client`'s cluster, polling statuses every `poll`. Refuses settings
    /// that [`KubernetesSettings::check`] refuses, before any call. It first learns what runs
    /// (without reporting it: the store has it), so a restarted server starts nothing twice.
    pub async fn new(
        client: kube::Client,
        settings: KubernetesSettings,
        sink: Arc<dyn StatusSink>,
        poll: Duration,
    ) -> Result<KubernetesRuntime, RuntimeError> {
        settings.check().map_err(|problem| RuntimeError::Io {
            context: "the Kubernetes runtime's settings".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, problem),
        })?;
        let inner = Arc::new(Inner {
            cluster: Cluster::new(client, settings.namespace.clone()),
            settings,
            sink,
            known: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
            kept: KeptTails::default(),
            turn: tokio::sync::Mutex::new(()),
            shutting_down: AtomicBool::new(false),
        });
        *lock(&inner.known) = inner.observe_all().await?;
        let poller = tokio::spawn({
            let inner = Arc::clone(&inner);
            async move {
                loop {
                    tokio::time::sleep(poll).await;
                    if let Err(err) = inner.poll().await {
                        tracing::warn!(%err, "polling the cluster");
                    }
                }
            }
        });
        Ok(KubernetesRuntime {
            inner,
            poller: Mutex::new(Some(poller)),
        })
    }
}

impl Inner {
    /// The status of every instance q8s has on the cluster, suspended ones included; notes
    /// the Services' addresses on the way.
    async fn observe_all(&self) -> Result<HashMap<Uuid, StatusUpdate>, ClusterError> {
        let services = self.cluster.services().await?;
        *lock(&self.addresses) = services
            .iter()
            .filter_map(|s| {
                let id = label_id(&s.metadata.labels)?;
                let ip = s.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()?;
                Some((id, SocketAddr::new(ip, INSTANCE_PORT)))
            })
            .collect();
        let deployments = self.cluster.deployments().await?;
        let mut pods: HashMap<Uuid, Vec<Pod>> = HashMap::new();
        for pod in self.cluster.all_pods().await? {
            if let Some(id) = label_id(&pod.metadata.labels) {
                pods.entry(id).or_default().push(pod);
            }
        }
        let mut statuses = HashMap::new();
        for deployment in &deployments {
            let Some(id) = deployment
                .metadata
                .name
                .as_deref()
                .and_then(labels::instance_of)
            else {
                continue;
            };
            let its_pods = pods.remove(&id).unwrap_or_default();
            let max = self.settings.max_restarts;
            if let Some(update) = crate::status::derive(Some(deployment), &its_pods, max) {
                statuses.insert(id, update);
            }
        }
        Ok(statuses)
    }

    /// Reports every status that changed since the last report.
    async fn poll(&self) -> Result<(), ClusterError> {
        let _turn = self.turn.lock().await;
        let now = self.observe_all().await?;
        let changed: Vec<(Uuid, StatusUpdate)> = {
            let mut known = lock(&self.known);
            known.retain(|id, _| now.contains_key(id));
            let changed: Vec<(Uuid, StatusUpdate)> = now
                .into_iter()
                .filter(|(id, update)| known.get(id) != Some(update))
                .collect();
            for (id, update) in &changed {
                known.insert(*id, update.clone());
            }
            changed
        };
        for (id, update) in changed {
            self.sink.update(id, update).await;
        }
        Ok(())
    }

    async fn report(&self, id: Uuid, update: StatusUpdate) {
        lock(&self.known).insert(id, update.clone());
        self.sink.update(id, update).await;
    }
}

/// The instance a pod or Deployment belongs to, by its label.
fn label_id(labels: &Option<std::collections::BTreeMap<String, String>>) -> Option<Uuid> {
    labels.as_ref()?.get(labels::INSTANCE)?.parse().ok()
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
        self.inner.cluster.apply(&objects).await?;
        if current == Some(InstanceStatus::Failed) {
            // The same objects change nothing on the cluster: a new pod is the restart.
            self.inner.cluster.delete_pods(id).await?;
        }
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
        if let Some(addr) = lock(&self.inner.addresses).get(&instance_id) {
            return Some(Upstream::host(*addr));
        }
        let host = format!(
            "{}.{}.svc",
            object_name(instance_id),
            self.inner.settings.namespace
        );
        Some(Upstream::named(&host, INSTANCE_PORT))
    }

    async fn list(&self) -> Result<Vec<Observed>, RuntimeError> {
        let all = self.inner.observe_all().await?;
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
        if let Some(poller) = lock(&self.poller).take() {
            poller.abort();
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
        if let Some(poller) = lock(&self.poller).take() {
            poller.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
