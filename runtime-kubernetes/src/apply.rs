//! Talking to the API server: [`Cluster`] applies an instance's [`InstanceObjects`] with
//! server-side apply under the field manager `q8s` (forced: q8s owns these objects, and a
//! hand edit of a field it sets is undone at the next apply), scales a Deployment to zero on
//! suspend, deletes every object of an instance by its label on terminate, and lists what q8s
//! runs. Everything goes through a [`kube::Client`], so the tests put a tower service double
//! under it and check every request.
//!
//! Answers the runtime expects and copes with: `404` on a delete or a scale (already gone: the
//! goal is reached), `409` on an apply (an object still being deleted, a racing writer: tried
//! again, a few times, then an error), `410` on a paged list (the continue token expired: the
//! list starts again).

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource};
use q8s_runtime::RuntimeError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::labels::{self, MANAGER, object_name};
use crate::manifest::InstanceObjects;
use crate::manifest::{BUNDLE_TOKEN_KEY, BUNDLE_URL_KEY};

/// How many times an apply answered `409` is tried in all.
const CONFLICT_ATTEMPTS: u32 = 5;
/// How many times a list whose continue token expired (`410`) starts again.
const GONE_RESTARTS: u32 = 3;
/// Items per page of a list.
const PAGE: u32 = 500;

/// Why a call to the API server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The API server answered with an error status.
    #[error("the Kubernetes API refused to {action}: {code} {reason}: {message}")]
    Refused {
        /// What q8s asked for (`apply Deployment q8s-…`).
        action: String,
        /// The HTTP status.
        code: u16,
        /// The API's reason (`Forbidden`, `Invalid`, `Conflict`, …).
        reason: String,
        /// The API's message.
        message: String,
    },
    /// No answer, or one that was no API answer (network, TLS, a body that did not parse).
    #[error("the Kubernetes API did not answer {action}: {source}")]
    Unreachable {
        /// What q8s asked for.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

impl ClusterError {
    /// A stable code for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            ClusterError::Refused { code: 403, .. } => "cluster-forbidden",
            ClusterError::Refused { code: 409, .. } => "cluster-conflict",
            ClusterError::Refused { code: 422, .. } => "cluster-invalid",
            ClusterError::Refused { .. } => "cluster-refused",
            ClusterError::Unreachable { .. } => "cluster-unreachable",
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            ClusterError::Refused { code, .. } => Some(*code),
            ClusterError::Unreachable { .. } => None,
        }
    }

    /// The error of `action` that failed with `source`.
    pub fn from_kube(action: String, source: kube::Error) -> ClusterError {
        ClusterError::new(action, source)
    }

    fn new(action: String, source: kube::Error) -> ClusterError {
        match source {
            kube::Error::Api(status) => ClusterError::Refused {
                action,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            source => ClusterError::Unreachable { action, source },
        }
    }
}

impl From<ClusterError> for RuntimeError {
    fn from(err: ClusterError) -> RuntimeError {
        let kind = match err.status() {
            Some(401 | 403) => std::io::ErrorKind::PermissionDenied,
            Some(_) => std::io::ErrorKind::Other,
            None => std::io::ErrorKind::ConnectionRefused,
        };
        RuntimeError::Io {
            context: "the Kubernetes runtime".into(),
            source: std::io::Error::new(kind, err),
        }
    }
}

/// The instances' namespace on a cluster.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    namespace: String,
    conflict_delay: Duration,
}

impl Cluster {
    /// Calls through `client`, on objects in `namespace`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Cluster {
        Cluster {
            client,
            namespace: namespace.into(),
            conflict_delay: Duration::from_millis(500),
        }
    }

    /// The same, waiting `delay` between applies answered `409` (tests wait less).
    pub fn with_conflict_delay(mut self, delay: Duration) -> Cluster {
        self.conflict_delay = delay;
        self
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Applies every object of an instance, in order (what the pod needs first, the
    /// Deployment last), and returns the Deployment as the API server has it. Applying the
    /// same objects again changes nothing.
    pub async fn apply(&self, objects: &InstanceObjects) -> Result<Deployment, ClusterError> {
        self.apply_dependents(objects).await?;
        self.apply_one(&objects.deployment).await
    }

    /// Applies every object of an instance as [`Cluster::apply`] does, the Service, Secret,
    /// PVC and NetworkPolicy owned by the Deployment ([`InstanceObjects::owned_by`]). The
    /// Deployment's uid comes from a `get` first: when it exists, one apply each; when it does
    /// not (a new instance), the four are applied without an owner (an owner reference to a uid
    /// that does not exist would have the garbage collector delete them), then the Deployment,
    /// then the four again with its uid. Each apply sends the owner it should have, so
    /// applying again changes nothing.
    pub async fn apply_owned(&self, objects: &InstanceObjects) -> Result<Deployment, ClusterError> {
        let name = objects.deployment.metadata.name.clone().unwrap_or_default();
        let existing = self
            .api::<Deployment>()
            .get_opt(&name)
            .await
            .map_err(|e| ClusterError::new(format!("get Deployment {name}"), e))?;
        let owner = existing.and_then(|d| d.metadata.uid);
        let first = match &owner {
            Some(uid) => objects.owned_by(uid),
            None => objects.clone(),
        };
        let applied = self.apply(&first).await?;
        if let Some(uid) = applied.metadata.uid.as_deref()
            && owner.as_deref() != Some(uid)
        {
            self.apply_dependents(&objects.owned_by(uid)).await?;
        }
        Ok(applied)
    }

    /// Applies the objects the Deployment's pod needs, the Deployment left out.
    async fn apply_dependents(&self, objects: &InstanceObjects) -> Result<(), ClusterError> {
        self.apply_one(&objects.secret).await?;
        if let Some(volume) = &objects.volume {
            self.apply_one(volume).await?;
        }
        self.apply_one(&objects.service).await?;
        self.apply_one(&objects.network_policy).await?;
        Ok(())
    }

    async fn apply_one<K>(&self, object: &K) -> Result<K, ClusterError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + Debug + Serialize + DeserializeOwned,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        let action = format!("apply {} {name}", K::kind(&()));
        let params = PatchParams::apply(MANAGER).force();
        let mut attempt = 1;
        loop {
            match self
                .api::<K>()
                .patch(&name, &params, &Patch::Apply(object))
                .await
            {
                Ok(applied) => return Ok(applied),
                Err(err) => {
                    let err = ClusterError::new(action.clone(), err);
                    if err.status() != Some(409) || attempt >= CONFLICT_ATTEMPTS {
                        return Err(err);
                    }
                    tracing::debug!(%err, attempt, "conflict; applying again");
                    attempt += 1;
                    tokio::time::sleep(self.conflict_delay).await;
                }
            }
        }
    }

    /// Puts a new bundle URL and download token into the instance's Secret (a merge patch of
    /// those two keys only), for the next pod the cluster makes; the running pod is not
    /// touched. `false` when the instance has no Secret.
    pub async fn refresh_bundle(
        &self,
        instance_id: Uuid,
        url: &str,
        token: Option<&str>,
    ) -> Result<bool, ClusterError> {
        use k8s_openapi::ByteString;
        let mut data = std::collections::BTreeMap::new();
        data.insert(BUNDLE_URL_KEY, ByteString(url.as_bytes().to_vec()));
        if let Some(token) = token {
            data.insert(BUNDLE_TOKEN_KEY, ByteString(token.as_bytes().to_vec()));
        }
        let patch = serde_json::json!({ "data": data });
        let name = object_name(instance_id);
        let params = PatchParams {
            field_manager: Some(MANAGER.into()),
            ..PatchParams::default()
        };
        match self
            .api::<Secret>()
            .patch(&name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(err) => Err(ClusterError::new(
                format!("refresh the bundle token of {name}"),
                err,
            )),
        }
    }

    /// Scales the instance's Deployment to zero, keeping every object (the volume, too).
    /// `false` when the instance has no Deployment.
    pub async fn suspend(&self, instance_id: Uuid) -> Result<bool, ClusterError> {
        let name = object_name(instance_id);
        let patch = serde_json::json!({ "spec": { "replicas": 0 } });
        let params = PatchParams {
            field_manager: Some(MANAGER.into()),
            ..PatchParams::default()
        };
        match self
            .api::<Deployment>()
            .patch_scale(&name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(err) => Err(ClusterError::new(
                format!("scale Deployment {name} to 0"),
                err,
            )),
        }
    }

    /// Deletes every object of the instance: the Deployment first (in the background: the
    /// cluster's garbage collector deletes its pods and the objects it owns), then, found by
    /// their label, the Service, NetworkPolicy, Secret and volume — at once rather than when
    /// the collector gets to them, and those of an instance applied before they had an owner.
    /// What is already gone is no error.
    pub async fn terminate(&self, instance_id: Uuid) -> Result<(), ClusterError> {
        let name = object_name(instance_id);
        match self
            .api::<Deployment>()
            .delete(&name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(err) => {
                return Err(ClusterError::new(format!("delete Deployment {name}"), err));
            }
        }
        let selector = labels::instance_selector(instance_id);
        self.delete_labelled::<Service>(&selector).await?;
        self.delete_labelled::<NetworkPolicy>(&selector).await?;
        self.delete_labelled::<Secret>(&selector).await?;
        self.delete_labelled::<PersistentVolumeClaim>(&selector)
            .await?;
        Ok(())
    }

    /// Deletes the instance's pods; its Deployment makes a new one (a restart from scratch,
    /// with restart counts at zero). Returns the uids of the pods deleted.
    pub async fn delete_pods(&self, instance_id: Uuid) -> Result<Vec<String>, ClusterError> {
        let deleted = self
            .delete_labelled::<Pod>(&labels::instance_selector(instance_id))
            .await?;
        Ok(deleted
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .collect())
    }

    /// Deletes the objects of kind `K` that `selector` picks; returns them when the API server
    /// says which (it does when it deleted them at once).
    async fn delete_labelled<K>(&self, selector: &str) -> Result<Vec<K>, ClusterError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + Debug + DeserializeOwned,
    {
        let lp = ListParams::default().labels(selector);
        match self
            .api::<K>()
            .delete_collection(&DeleteParams::background(), &lp)
            .await
        {
            Ok(either) => Ok(either.left().map(|list| list.items).unwrap_or_default()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
            Err(err) => Err(ClusterError::new(
                format!("delete {} labelled {selector}", K::kind(&())),
                err,
            )),
        }
    }

    /// Every Deployment q8s manages in the namespace.
    pub async fn deployments(&self) -> Result<Vec<Deployment>, ClusterError> {
        self.list_all(&labels::managed_selector()).await
    }

    /// Every Service q8s manages in the namespace.
    pub async fn services(&self) -> Result<Vec<Service>, ClusterError> {
        self.list_all(&labels::managed_selector()).await
    }

    /// Every pod of every instance q8s manages in the namespace.
    pub async fn all_pods(&self) -> Result<Vec<Pod>, ClusterError> {
        self.list_all(&labels::managed_selector()).await
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A client of the same API server.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The pods of one instance.
    pub async fn pods(&self, instance_id: Uuid) -> Result<Vec<Pod>, ClusterError> {
        self.list_all(&labels::instance_selector(instance_id)).await
    }

    /// Every object of kind `K` matching `selector`, page by page; an expired continue token
    /// (`410 Gone`) starts the list again, since pages of two snapshots do not add up.
    async fn list_all<K>(&self, selector: &str) -> Result<Vec<K>, ClusterError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + Debug + DeserializeOwned,
    {
        let action = format!("list {} labelled {selector}", K::kind(&()));
        let mut restarts = 0;
        'again: loop {
            let mut items = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut lp = ListParams::default().labels(selector).limit(PAGE);
                if let Some(token) = &token {
                    lp = lp.continue_token(token);
                }
                match self.api::<K>().list(&lp).await {
                    Ok(page) => {
                        items.extend(page.items);
                        token = page.metadata.continue_.filter(|t| !t.is_empty());
                        if token.is_none() {
                            return Ok(items);
                        }
                    }
                    Err(kube::Error::Api(status))
                        if status.code == 410 && token.is_some() && restarts < GONE_RESTARTS =>
                    {
                        restarts += 1;
                        tracing::debug!(restarts, "continue token expired; listing again");
                        continue 'again;
                    }
                    Err(err) => return Err(ClusterError::new(action, err)),
                }
            }
        }
    }
}
