//! The objects of one instance, made by pure functions from its [`InstanceSpec`] and the
//! [`KubernetesSettings`] (`scale-out.md`, "Kubernetes mapping"): a Deployment, a ClusterIP
//! Service on the instance's port, a PVC when the app has a `VolumeMount`, a Secret with the
//! resolved env and the bundle's URL and token, and a NetworkPolicy that admits only
//! q8s-server's pods. The golden files under `tests/vectors/kubernetes/` are their output for
//! a set of specs.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, Secret, Service, ServicePort, ServiceSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use q8s_runtime::{BundleSource, InstanceSpec, RuntimeError};

use crate::KubernetesSettings;
use crate::labels::{self, object_name};

mod network;
mod pod;

use network::network_policy;

pub use pod::{
    BUNDLE_TOKEN_KEY, BUNDLE_URL_KEY, CONSTRAINTS_KEY, INSTALL_CONTAINER, INSTANCE_CONTAINER,
    INSTANCE_PORT,
};

/// Every object of one instance, in the order they are applied (what the pod needs first).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceObjects {
    /// The resolved env and the bundle's URL and token.
    pub secret: Secret,
    /// The volume, when the spec has a `VolumeMount`.
    pub volume: Option<PersistentVolumeClaim>,
    /// The ClusterIP Service the proxy dials.
    pub service: Service,
    /// Admits q8s-server's pods only.
    pub network_policy: NetworkPolicy,
    /// One replica (`Recreate`), or none while suspended.
    pub deployment: Deployment,
}

/// Whether the instance should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// One pod.
    Running,
    /// No pod; every object, the volume included, stays.
    Suspended,
}

impl InstanceObjects {
    /// The objects of `spec`. Refuses what [`InstanceSpec::check`] refuses, and a bundle that
    /// is a file on the server's host (a pod cannot read it).
    pub fn build(
        spec: &InstanceSpec,
        settings: &KubernetesSettings,
        replicas: Replicas,
    ) -> Result<InstanceObjects, RuntimeError> {
        spec.check()?;
        let BundleSource::Url { url, token } = &spec.bundle else {
            return Err(RuntimeError::InvalidSpec(
                "a Kubernetes instance needs its bundle at a URL, not in a file of the server's \
                 host"
                    .into(),
            ));
        };
        if let Some((name, _)) = spec.env.iter().find(|(name, _)| reserved_env(name)) {
            return Err(RuntimeError::InvalidSpec(format!(
                "the env name `{name}` is the runtime's own"
            )));
        }
        Ok(InstanceObjects {
            secret: secret(spec, settings, url, token.as_deref()),
            volume: volume(spec, settings),
            service: service(spec, settings),
            network_policy: network_policy(spec, settings),
            deployment: deployment(spec, settings, replicas),
        })
    }

    /// The same objects with the Service, Secret, PVC and NetworkPolicy owned by the
    /// Deployment whose uid is `deployment_uid`: when the cluster deletes that Deployment
    /// (terminate, or `kubectl delete`), its garbage collector deletes them too. Suspend keeps
    /// the Deployment (at zero replicas), so it keeps them, the volume included. Not the
    /// controller (the Deployment does not manage them), and `blockOwnerDeletion: false`: it
    /// only matters to a foreground deletion, which q8s does not use, and setting it needs
    /// `update` on `deployments/finalizers` where the `OwnerReferencesPermissionEnforcement`
    /// admission plugin runs.
    pub fn owned_by(&self, deployment_uid: &str) -> InstanceObjects {
        let owner = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: self.deployment.metadata.name.clone().unwrap_or_default(),
            uid: deployment_uid.into(),
            controller: Some(false),
            block_owner_deletion: Some(false),
        };
        let mut owned = self.clone();
        let owners = Some(vec![owner]);
        owned.secret.metadata.owner_references = owners.clone();
        if let Some(volume) = &mut owned.volume {
            volume.metadata.owner_references = owners.clone();
        }
        owned.service.metadata.owner_references = owners.clone();
        owned.network_policy.metadata.owner_references = owners;
        owned
    }

    /// Every object as YAML documents, in apply order (the golden files' form).
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::ser::Error> {
        let mut docs = vec![serde_saphyr::to_string(&self.secret)?];
        if let Some(volume) = &self.volume {
            docs.push(serde_saphyr::to_string(volume)?);
        }
        docs.push(serde_saphyr::to_string(&self.service)?);
        docs.push(serde_saphyr::to_string(&self.network_policy)?);
        docs.push(serde_saphyr::to_string(&self.deployment)?);
        Ok(docs
            .iter()
            .map(|doc| format!("---\n{}", doc.trim_end()))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n")
    }
}

/// Env names the runtime sets itself, which an app's `[[Env]]` may not take over.
fn reserved_env(name: &str) -> bool {
    name.starts_with("Q8S_") || name.starts_with("H2O_WAVE_")
}

fn metadata(spec: &InstanceSpec, settings: &KubernetesSettings) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(spec.instance_id)),
        namespace: Some(settings.namespace.clone()),
        labels: Some(labels::labels(spec)),
        ..ObjectMeta::default()
    }
}

fn secret(
    spec: &InstanceSpec,
    settings: &KubernetesSettings,
    url: &str,
    token: Option<&str>,
) -> Secret {
    let mut data: BTreeMap<String, ByteString> = spec
        .env
        .iter()
        .map(|(name, value)| (name.clone(), ByteString(value.clone().into_bytes())))
        .collect();
    data.insert(BUNDLE_URL_KEY.into(), ByteString(url.as_bytes().to_vec()));
    if let Some(token) = token {
        data.insert(
            BUNDLE_TOKEN_KEY.into(),
            ByteString(token.as_bytes().to_vec()),
        );
    }
    if let Some(constraints) = &settings.constraints {
        data.insert(
            CONSTRAINTS_KEY.into(),
            ByteString(constraints.as_bytes().to_vec()),
        );
    }
    Secret {
        metadata: metadata(spec, settings),
        type_: Some("Opaque".into()),
        // The pod reads current values at every start; nothing should edit them in between.
        immutable: None,
        data: Some(data),
        ..Secret::default()
    }
}

fn volume(spec: &InstanceSpec, settings: &KubernetesSettings) -> Option<PersistentVolumeClaim> {
    spec.volume_mount.as_ref()?;
    // A mount without a size cannot come from a valid manifest; 1 GiB is the manifest's
    // example size.
    let size = spec.volume_size.unwrap_or(1 << 30);
    Some(PersistentVolumeClaim {
        metadata: metadata(spec, settings),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: settings.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), quantity(size))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}

fn service(spec: &InstanceSpec, settings: &KubernetesSettings) -> Service {
    Service {
        metadata: metadata(spec, settings),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels::selector(spec.instance_id)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                protocol: Some("TCP".into()),
                port: i32::from(INSTANCE_PORT),
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn deployment(
    spec: &InstanceSpec,
    settings: &KubernetesSettings,
    replicas: Replicas,
) -> Deployment {
    let mut meta = metadata(spec, settings);
    meta.annotations = Some(labels::annotations(spec));
    Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(match replicas {
                Replicas::Running => 1,
                Replicas::Suspended => 0,
            }),
            // One pod at a time: a volume is ReadWriteOnce, and two Qds would split sessions.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..DeploymentStrategy::default()
            }),
            revision_history_limit: Some(2),
            selector: LabelSelector {
                match_labels: Some(labels::selector(spec.instance_id)),
                ..LabelSelector::default()
            },
            template: pod::template(spec, settings),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// `bytes` as a Kubernetes quantity, in the largest binary unit that divides it.
pub fn quantity(bytes: u64) -> Quantity {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "Ti"),
        (1 << 30, "Gi"),
        (1 << 20, "Mi"),
        (1 << 10, "Ki"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return Quantity(format!("{}{unit}", bytes / size));
        }
    }
    Quantity(bytes.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_use_the_largest_exact_unit() {
        assert_eq!(quantity(512 << 20).0, "512Mi");
        assert_eq!(quantity(1 << 30).0, "1Gi");
        assert_eq!(quantity(1536 << 20).0, "1536Mi");
        assert_eq!(quantity(1000).0, "1000");
        assert_eq!(quantity(0).0, "0");
        assert_eq!(quantity(3 << 40).0, "3Ti");
    }
}
