//! The instance's pod: an init container that fetches, checks and unpacks the bundle and builds
//! the environment (`q8s-launcher prepare`), and the container that runs Qd and the app
//! (`q8s-launcher run`), both from the runtime image, hardened as `isolation.md` asks.
//!
//! The launcher's contract (its inputs are environment variables): `prepare` reads
//! `Q8S_BUNDLE_URL`, `Q8S_BUNDLE_TOKEN` (optional) and `Q8S_BUNDLE_SHA256`, and fills `/app`
//! and `/venv`; `run` serves the instance on [`INSTANCE_PORT`] (Qd for Wave apps, the app
//! itself for plain HTTP apps) and passes the app exactly the local runtime's variables: the
//! `Q8S_*` ones given here and the names listed in `Q8S_ENV_NAMES`, nothing else of its own
//! environment.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext, TCPSocketAction,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use q8s_runtime::InstanceSpec;

use super::quantity;
use crate::KubernetesSettings;
use crate::labels::{self, object_name};

/// The port an instance serves on (Qd's default), in its pod and on its Service.
pub const INSTANCE_PORT: u16 = 10101;
/// The init container that fetches the bundle and builds the environment.
pub const INSTALL_CONTAINER: &str = "prepare";
/// The container that runs Qd and the app.
pub const INSTANCE_CONTAINER: &str = "instance";
/// The Secret's key holding the bundle's URL (not an env name: those have no `.` or `-`).
pub const BUNDLE_URL_KEY: &str = "q8s.bundle-url";
/// The Secret's key holding the bundle's download token, when it has one.
pub const BUNDLE_TOKEN_KEY: &str = "q8s.bundle-token";
/// The Secret's key holding the admin's constraint rules, when the server has them.
pub const CONSTRAINTS_KEY: &str = "q8s.constraints";

/// The uid and gid instance processes run as (never 0; the image has no user of this id, so
/// nothing in the image belongs to it).
const INSTANCE_UID: i64 = 10001;
/// Where the launcher, in the image, is.
const LAUNCHER: &str = "/usr/local/bin/q8s-launcher";

pub(super) fn template(spec: &InstanceSpec, settings: &KubernetesSettings) -> PodTemplateSpec {
    let mut volumes = vec![empty_dir("app"), empty_dir("venv"), empty_dir("tmp")];
    let mut run_mounts = vec![mount("app", "/app", true), mount("venv", "/venv", true)];
    run_mounts.push(mount("tmp", "/tmp", false));
    if let Some(path) = &spec.volume_mount {
        volumes.push(Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: object_name(spec.instance_id),
                read_only: None,
            }),
            ..Volume::default()
        });
        run_mounts.push(mount("data", path, false));
    }
    let prepare = Container {
        name: INSTALL_CONTAINER.into(),
        image: Some(settings.image.clone()),
        command: Some(vec![LAUNCHER.into(), "prepare".into()]),
        env: Some(prepare_env(spec, settings)),
        resources: Some(resources(spec, settings)),
        security_context: Some(container_security()),
        volume_mounts: Some(vec![
            mount("app", "/app", false),
            mount("venv", "/venv", false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    let run = Container {
        name: INSTANCE_CONTAINER.into(),
        image: Some(settings.image.clone()),
        command: Some(vec![LAUNCHER.into(), "run".into()]),
        env: Some(run_env(spec)),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: i32::from(INSTANCE_PORT),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("http".into()),
                ..TCPSocketAction::default()
            }),
            period_seconds: Some(2),
            failure_threshold: Some(3),
            ..Probe::default()
        }),
        resources: Some(resources(spec, settings)),
        security_context: Some(container_security()),
        volume_mounts: Some(run_mounts),
        ..Container::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels::labels(spec)),
            annotations: Some(labels::annotations(spec)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            init_containers: Some(vec![prepare]),
            containers: vec![run],
            volumes: Some(volumes),
            restart_policy: Some("Always".into()),
            termination_grace_period_seconds: Some(settings.stop_grace_seconds),
            // An instance talks to nobody's API: no token, no other Services' variables.
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            node_selector: (!settings.node_selector.is_empty())
                .then(|| settings.node_selector.clone()),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(INSTANCE_UID),
                run_as_group: Some(INSTANCE_UID),
                // The volume's files belong to the instance's group.
                fs_group: Some(INSTANCE_UID),
                fs_group_change_policy: Some("OnRootMismatch".into()),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            ..PodSpec::default()
        }),
    }
}

fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// Memory: the reservation (or the limit) requested, the limit enforced; a small CPU request
/// and no CPU limit; the ephemeral storage the bundle, environment and `/tmp` may fill. The
/// init container gets the same, so the pod's request is the instance's.
fn resources(spec: &InstanceSpec, settings: &KubernetesSettings) -> ResourceRequirements {
    let mut requests = BTreeMap::from([
        ("cpu".to_owned(), Quantity(settings.cpu_request.clone())),
        (
            "ephemeral-storage".to_owned(),
            quantity(settings.ephemeral_storage_limit),
        ),
    ]);
    let mut limits = BTreeMap::from([(
        "ephemeral-storage".to_owned(),
        quantity(settings.ephemeral_storage_limit),
    )]);
    if let Some(memory) = spec.memory_reservation.or(spec.memory_limit) {
        requests.insert("memory".into(), quantity(memory));
    }
    if let Some(limit) = spec.memory_limit {
        limits.insert("memory".into(), quantity(limit));
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..ResourceRequirements::default()
    }
}

fn prepare_env(spec: &InstanceSpec, settings: &KubernetesSettings) -> Vec<EnvVar> {
    let mut env = vec![
        secret_env("Q8S_BUNDLE_URL", spec, BUNDLE_URL_KEY),
        plain("Q8S_BUNDLE_SHA256", &spec.bundle_sha256),
    ];
    if matches!(
        &spec.bundle,
        q8s_runtime::BundleSource::Url { token: Some(_), .. }
    ) {
        env.push(secret_env("Q8S_BUNDLE_TOKEN", spec, BUNDLE_TOKEN_KEY));
    }
    if settings.constraints.is_some() {
        env.push(secret_env("Q8S_CONSTRAINTS", spec, CONSTRAINTS_KEY));
    }
    env.extend([plain("HOME", "/tmp"), plain("TMPDIR", "/tmp")]);
    env
}

fn run_env(spec: &InstanceSpec) -> Vec<EnvVar> {
    let names: Vec<&str> = spec.env.iter().map(|(name, _)| name.as_str()).collect();
    let mut env = vec![
        plain("Q8S_INSTANCE_ID", &spec.instance_id.to_string()),
        plain("Q8S_APP_ID", &spec.app_id.to_string()),
        plain("Q8S_APP_NAME", &spec.app_name),
        plain("Q8S_APP_VERSION", &spec.app_version),
        plain("Q8S_INSTANCE_URL", &spec.instance_url),
        plain("Q8S_MODULE", &spec.module),
        plain("Q8S_ENV_NAMES", &names.join(",")),
        plain("HOME", "/tmp"),
        plain("TMPDIR", "/tmp"),
    ];
    env.extend(
        spec.env
            .iter()
            .map(|(name, _)| secret_env(name, spec, name)),
    );
    env
}

fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn secret_env(name: &str, spec: &InstanceSpec, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: object_name(spec.instance_id),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}
