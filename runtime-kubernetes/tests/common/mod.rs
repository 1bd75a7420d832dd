//! What the Kubernetes runtime's tests share: the instance they launch.

use q8s_runtime::{BundleSource, InstanceSpec};
use uuid::Uuid;

/// A hello instance with a secret value in its env and a 1 GiB volume, fetched by URL with a
/// token; `sha` and `secret` vary it (a test looks for the secret where it must not be).
pub fn spec_with(sha: &str, token: &str, secret: &str) -> InstanceSpec {
    InstanceSpec {
        instance_id: Uuid::new_v4(),
        app_id: Uuid::new_v4(),
        owner_id: Uuid::new_v4(),
        app_name: "hello".into(),
        app_version: "1.0.0".into(),
        bundle_sha256: sha.repeat(32),
        bundle: BundleSource::Url {
            url: format!("https://q8s.example.com/v1/bundles/{sha}{sha}"),
            token: Some(token.into()),
        },
        module: "hello.app".into(),
        env: vec![("API_KEY".into(), secret.into())],
        volume_mount: Some("/data".into()),
        volume_size: Some(1 << 30),
        memory_limit: Some(256 << 20),
        memory_reservation: None,
        instance_url: "https://x.q8s.example.com/".into(),
    }
}

/// [`spec_with`] plain values.
#[allow(dead_code)] // not every test binary uses both
pub fn spec() -> InstanceSpec {
    spec_with("ef", "t", "v")
}
