//! How q8s names and marks its objects (`scale-out.md`, "Kubernetes mapping"): one name per
//! instance for all of its objects, the labels that select them, and the annotations that say
//! what they were made from.

use std::collections::BTreeMap;

use q8s_runtime::InstanceSpec;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// `app.kubernetes.io/managed-by`: every object q8s makes carries it, with [`MANAGER`].
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`], and the field manager of server-side apply.
pub const MANAGER: &str = "q8s";
/// The instance an object belongs to (its id).
pub const INSTANCE: &str = "q8s.dev/instance";
/// The app the instance runs (its id).
pub const APP: &str = "q8s.dev/app";
/// The app's owner (a user id).
pub const OWNER: &str = "q8s.dev/owner";
/// Annotation: [`spec_hash`] of the spec the object was made from.
pub const SPEC_HASH: &str = "q8s.dev/spec-hash";
/// Annotation: the sha256 of the bundle the instance runs.
pub const BUNDLE_SHA256: &str = "q8s.dev/bundle-sha256";

/// The name of every object of an instance: `q8s-<instance id>` (a DNS label, as a Service
/// name must be).
pub fn object_name(instance_id: Uuid) -> String {
    format!("q8s-{instance_id}")
}

/// The instance an object name belongs to, if it is one of q8s's.
pub fn instance_of(name: &str) -> Option<Uuid> {
    name.strip_prefix("q8s-")?.parse().ok()
}

/// The labels of every object of the instance.
pub fn labels(spec: &InstanceSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (INSTANCE.to_owned(), spec.instance_id.to_string()),
        (APP.to_owned(), spec.app_id.to_string()),
        (OWNER.to_owned(), spec.owner_id.to_string()),
    ])
}

/// The labels that pick the instance's pods (a Deployment's selector, the Service's, the
/// NetworkPolicy's): the instance alone, since a selector cannot change after creation.
pub fn selector(instance_id: Uuid) -> BTreeMap<String, String> {
    BTreeMap::from([(INSTANCE.to_owned(), instance_id.to_string())])
}

/// The label selector (`?labelSelector=`) of every object of one instance.
pub fn instance_selector(instance_id: Uuid) -> String {
    format!("{MANAGED_BY}={MANAGER},{INSTANCE}={instance_id}")
}

/// The label selector of every object q8s manages.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGER}")
}

/// The annotations of the instance's Deployment and pods.
pub fn annotations(spec: &InstanceSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (SPEC_HASH.to_owned(), spec_hash(spec)),
        (BUNDLE_SHA256.to_owned(), spec.bundle_sha256.clone()),
    ])
}

/// A sha256 (hex) of what the spec asks the cluster to run. Secret values and the bundle's
/// URL and token are left out: a hash of a short secret could be guessed from the annotation,
/// and a new download token must not count as a new spec (the pod reads current values from
/// the Secret whenever it starts).
pub fn spec_hash(spec: &InstanceSpec) -> String {
    let env_names: Vec<&str> = spec.env.iter().map(|(name, _)| name.as_str()).collect();
    let canonical = serde_json::json!({
        "instance_id": spec.instance_id.to_string(),
        "app_id": spec.app_id.to_string(),
        "owner_id": spec.owner_id.to_string(),
        "app_name": spec.app_name,
        "app_version": spec.app_version,
        "bundle_sha256": spec.bundle_sha256,
        "module": spec.module,
        "env": env_names,
        "volume_mount": spec.volume_mount,
        "volume_size": spec.volume_size,
        "memory_limit": spec.memory_limit,
        "memory_reservation": spec.memory_reservation,
        "instance_url": spec.instance_url,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_refuse_strangers() {
        let id = Uuid::new_v4();
        assert_eq!(instance_of(&object_name(id)), Some(id));
        assert!(object_name(id).len() <= 63);
        assert_eq!(instance_of("q8s-nope"), None);
        assert_eq!(instance_of(&id.to_string()), None);
    }
}
