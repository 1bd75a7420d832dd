//! What the runtime knows of the cluster without asking it: reflector caches of q8s's
//! Deployments, Pods and Services in the namespace (those labelled
//! `app.kubernetes.io/managed-by=q8s`), each filled by a [`kube::runtime::watcher`] — one list,
//! then a watch from its `resourceVersion`, bookmarks on. The watcher watches again from the
//! last version it saw when a watch ends or its connection drops, and lists again when the API
//! server answers `410 Gone` (that version is compacted away); a cache changes only when a new
//! list is complete, so it never holds half of two lists. After an error the next attempt
//! waits (kube's default backoff: 0.8 s doubling to 30 s, with jitter).
//!
//! Statuses ([`Caches::statuses`]) and upstreams ([`Caches::address`]) are read from these
//! caches: no request to q8s costs an API call.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, Resource};
use q8s_runtime::StatusUpdate;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::apply::ClusterError;
use crate::labels::{self, object_name};
use crate::manifest::INSTANCE_PORT;

/// What the watches say: a cache changed (`Ok`, with `true` when a list was completed), or a
/// watch failed and will start again (`Err`).
pub(crate) type Changes = BoxStream<'static, Result<bool, watcher::Error>>;

/// The three caches.
pub(crate) struct Caches {
    deployments: Store<Deployment>,
    pods: Store<Pod>,
    services: Store<Service>,
    namespace: String,
}

impl Caches {
    /// The caches of `namespace`, and the stream of their watches: nothing is asked of the
    /// cluster until it is polled, and the caches stay as they are while it is not.
    pub(crate) fn watch(client: &Client, namespace: &str) -> (Caches, Changes) {
        let (deployments, d) = cache::<Deployment>(client, namespace);
        let (pods, p) = cache::<Pod>(client, namespace);
        let (services, s) = cache::<Service>(client, namespace);
        let caches = Caches {
            deployments,
            pods,
            services,
            namespace: namespace.to_owned(),
        };
        (caches, futures::stream::select_all([d, p, s]).boxed())
    }

    /// Polls `changes` until each cache holds a complete list; the first error ends the wait
    /// (a cluster that does not answer, a Role that does not allow the watch).
    pub(crate) async fn fill(&self, changes: &mut Changes) -> Result<(), ClusterError> {
        let mut listed = 0;
        while listed < 3 {
            match changes.next().await {
                Some(Ok(true)) => listed += 1,
                Some(Ok(false)) => {}
                Some(Err(err)) => return Err(first_error(err)),
                None => break,
            }
        }
        Ok(())
    }

    /// The status of every instance that has a Deployment, suspended ones included.
    pub(crate) fn statuses(&self, max_restarts: u32) -> HashMap<Uuid, StatusUpdate> {
        let mut pods: HashMap<Uuid, Vec<Pod>> = HashMap::new();
        for pod in self.pods.state() {
            if let Some(id) = label_id(&pod.metadata.labels) {
                pods.entry(id).or_default().push(Pod::clone(&pod));
            }
        }
        let mut statuses = HashMap::new();
        for deployment in self.deployments.state() {
            let Some(id) = deployment
                .metadata
                .name
                .as_deref()
                .and_then(labels::instance_of)
            else {
                continue;
            };
            let its_pods = pods.remove(&id).unwrap_or_default();
            if let Some(update) = crate::status::derive(Some(&deployment), &its_pods, max_restarts)
            {
                statuses.insert(id, update);
            }
        }
        statuses
    }

    /// The instance's Deployment, as last seen.
    pub(crate) fn deployment(&self, instance_id: Uuid) -> Option<Arc<Deployment>> {
        let key = ObjectRef::new(&object_name(instance_id)).within(&self.namespace);
        self.deployments.get(&key)
    }

    /// The instance's pods, as last seen.
    pub(crate) fn pods(&self, instance_id: Uuid) -> Vec<Arc<Pod>> {
        self.pods
            .state_filter(|p| label_id(&p.metadata.labels) == Some(instance_id))
    }

    /// The instance's Service address (its ClusterIP and port), as last seen.
    pub(crate) fn address(&self, instance_id: Uuid) -> Option<SocketAddr> {
        let key = ObjectRef::new(&object_name(instance_id)).within(&self.namespace);
        let service = self.services.get(&key)?;
        let ip = service.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()?;
        Some(SocketAddr::new(ip, INSTANCE_PORT))
    }
}

/// A cache of the objects of kind `K` q8s manages in `namespace`, and the watch that fills it.
fn cache<K>(
    client: &Client,
    namespace: &str,
) -> (Store<K>, BoxStream<'static, Result<bool, watcher::Error>>)
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    K: Clone + std::fmt::Debug + DeserializeOwned + Send + Sync + 'static,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().labels(&labels::managed_selector());
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config))
        .default_backoff()
        .map(|event| event.map(|e| matches!(e, watcher::Event::InitDone)))
        .boxed();
    (reader, stream)
}

/// A watch's first error as the error of the runtime's start.
fn first_error(err: watcher::Error) -> ClusterError {
    let action = "watch q8s's objects".to_owned();
    match err {
        watcher::Error::InitialListFailed(source)
        | watcher::Error::WatchStartFailed(source)
        | watcher::Error::WatchFailed(source) => ClusterError::from_kube(action, source),
        watcher::Error::WatchError(status) => {
            ClusterError::from_kube(action, kube::Error::Api(status))
        }
        watcher::Error::NoResourceVersion => ClusterError::Refused {
            action,
            code: 500,
            reason: "NoResourceVersion".into(),
            message: "a list without a resourceVersion".into(),
        },
    }
}

/// The instance an object belongs to, by its label.
fn label_id(labels: &Option<std::collections::BTreeMap<String, String>>) -> Option<Uuid> {
    labels.as_ref()?.get(labels::INSTANCE)?.parse().ok()
}
