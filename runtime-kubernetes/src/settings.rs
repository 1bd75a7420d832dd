//! What an operator configures about the cluster side of instances (`--runtime kubernetes`'s
//! flags): where objects go, which image runs them, and the fixed parts of their resources.

use std::collections::BTreeMap;

/// Settings of the Kubernetes runtime that are the same for every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSettings {
    /// The namespace every instance's objects live in.
    pub namespace: String,
    /// The runtime image (Python, uv and the launcher; `deploy/runtime/Dockerfile`).
    pub image: String,
    /// The storage class of volumes (`VolumeMount`); `None`: the cluster's default class.
    pub storage_class: Option<String>,
    /// Labels a node must have to run instances (`nodeSelector`); empty: any node.
    pub node_selector: BTreeMap<String, String>,
    /// Labels of q8s-server's pods: the only pods an instance's NetworkPolicy admits.
    pub server_pod_labels: BTreeMap<String, String>,
    /// The namespace q8s-server's pods run in, when it is not [`KubernetesSettings::namespace`].
    pub server_namespace: Option<String>,
    /// The CPU each instance requests (a Kubernetes quantity, e.g. `50m`); there is no CPU
    /// limit, so a busy instance uses idle CPU but cannot starve others of their requests.
    pub cpu_request: String,
    /// What an instance may write outside its volume (bundle, environment, `/tmp`), in bytes.
    pub ephemeral_storage_limit: u64,
    /// How long a stopped pod gets between SIGTERM and SIGKILL, in seconds.
    pub stop_grace_seconds: i64,
    /// Restarts after which a crash-looping instance counts as `FAILED` (the local runtime's
    /// `max_crashes`).
    pub max_restarts: u32,
}

impl KubernetesSettings {
    /// The defaults for `namespace` and `image`: no storage class or node selector, server
    /// pods labelled `app.kubernetes.io/name=q8s-server` in the same namespace, 50m CPU,
    /// 4 GiB of ephemeral storage, 5 s to stop, 5 restarts.
    pub fn new(namespace: impl Into<String>, image: impl Into<String>) -> Self {
        KubernetesSettings {
            namespace: namespace.into(),
            image: image.into(),
            storage_class: None,
            node_selector: BTreeMap::new(),
            server_pod_labels: BTreeMap::from([(
                "app.kubernetes.io/name".to_owned(),
                "q8s-server".to_owned(),
            )]),
            server_namespace: None,
            cpu_request: "50m".to_owned(),
            ephemeral_storage_limit: 4 << 30,
            stop_grace_seconds: 5,
            max_restarts: 5,
        }
    }
}
