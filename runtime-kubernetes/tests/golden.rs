//! Golden objects: the manifests of a set of instance specs, compared with the YAML checked in
//! under `tests/vectors/kubernetes/manifests/` (`Q8S_BLESS=1` rewrites them). `make test`
//! also validates those files against the official schemas (`kubernetes-validate --strict`),
//! so a field that Kubernetes would refuse fails there, not on somebody's cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;

use q8s_runtime::{BundleSource, InstanceSpec, RuntimeError};
use q8s_runtime_kubernetes::KubernetesSettings;
use q8s_runtime_kubernetes::manifest::{InstanceObjects, Replicas};
use uuid::Uuid;

const MIB: u64 = 1 << 20;

fn settings() -> KubernetesSettings {
    KubernetesSettings::new("q8s-instances", "ghcr.io/q8s/runtime:0.1.0")
}

/// A spec with fixed ids (the files must not change from run to run), no volume, no env.
fn base() -> InstanceSpec {
    InstanceSpec {
        instance_id: Uuid::from_u128(0x5d0e_0000_0000_4000_8000_0000_0000_0001),
        app_id: Uuid::from_u128(0xa990_0000_0000_4000_8000_0000_0000_0002),
        owner_id: Uuid::from_u128(0x0e4e_0000_0000_4000_8000_0000_0000_0003),
        app_name: "hello".into(),
        app_version: "0.1.0".into(),
        bundle_sha256: "ab".repeat(32),
        bundle: BundleSource::Url {
            url: "https://q8s.example.com/v1/bundles/abab".into(),
            token: Some("bundle-token-1".into()),
        },
        module: "hello.app".into(),
        env: Vec::new(),
        volume_mount: None,
        volume_size: None,
        memory_limit: None,
        memory_reservation: None,
        instance_url: "https://5d0e.q8s.example.com/".into(),
    }
}

/// Name, settings, spec, replicas, and the uid of the Deployment that owns the other objects.
type Case = (
    &'static str,
    KubernetesSettings,
    InstanceSpec,
    Replicas,
    Option<&'static str>,
);

/// The owner's uid in the case `owned`.
const OWNER_UID: &str = "0d0d0d0d-0000-4000-8000-00000000000d";

fn cases() -> Vec<Case> {
    let mut volume = base();
    volume.volume_mount = Some("/data".into());
    volume.volume_size = Some(1 << 30);
    let mut volume_settings = settings();
    volume_settings.storage_class = Some("fast-ssd".into());
    volume_settings.node_selector = BTreeMap::from([("q8s.dev/pool".into(), "apps".into())]);

    let mut secrets = base();
    secrets.env = vec![
        (
            "DATABASE_URL".into(),
            "postgres://app:hunter2@db/app".into(),
        ),
        ("API_KEY".into(), "k-123".into()),
    ];
    let mut secrets_settings = settings();
    secrets_settings.server_namespace = Some("q8s-system".into());
    secrets_settings.constraints = Some(
        "version = \"site-1\"\n\n[[rule]]\npins = [\"numpy<2\"]\nwhy = \"old wheels\"\n".into(),
    );

    let mut limits = base();
    limits.memory_limit = Some(512 * MIB);
    limits.memory_reservation = Some(256 * MIB);
    let mut limit_only = base();
    limit_only.memory_limit = Some(1536 * MIB);
    limit_only.bundle = BundleSource::Url {
        url: "https://bucket.s3.example.com/abab?X-Amz-Signature=0f".into(),
        token: None,
    };

    let mut suspended = volume.clone();
    suspended.memory_limit = Some(512 * MIB);
    let owned = volume.clone();
    vec![
        ("no-volume", settings(), base(), Replicas::Running, None),
        (
            "volume",
            volume_settings.clone(),
            volume,
            Replicas::Running,
            None,
        ),
        (
            "secrets",
            secrets_settings,
            secrets,
            Replicas::Running,
            None,
        ),
        ("limits", settings(), limits, Replicas::Running, None),
        (
            "limit-only",
            settings(),
            limit_only,
            Replicas::Running,
            None,
        ),
        (
            "suspended",
            volume_settings.clone(),
            suspended,
            Replicas::Suspended,
            None,
        ),
        (
            "owned",
            volume_settings,
            owned,
            Replicas::Running,
            Some(OWNER_UID),
        ),
    ]
}

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/kubernetes/manifests")
}

#[test]
fn manifests_match_the_golden_files() {
    let bless = std::env::var_os("Q8S_BLESS").is_some_and(|v| v == "1");
    let mut differ = Vec::new();
    for (name, settings, spec, replicas, owner) in cases() {
        let mut objects = InstanceObjects::build(&spec, &settings, replicas).unwrap();
        if let Some(owner) = owner {
            objects = objects.owned_by(owner);
        }
        let yaml = objects.to_yaml().unwrap();
        let path = vectors().join(format!("{name}.yaml"));
        if bless {
            std::fs::write(&path, &yaml).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with Q8S_BLESS=1 to create it)",
                path.display()
            )
        });
        if expected != yaml {
            differ.push(format!("{name}:\n{yaml}"));
        }
    }
    assert!(
        differ.is_empty(),
        "golden manifests differ (Q8S_BLESS=1 rewrites them):\n{}",
        differ.join("\n")
    );
    // Nothing stale: every file is a case.
    let names: Vec<String> = cases().iter().map(|c| format!("{}.yaml", c.0)).collect();
    for entry in std::fs::read_dir(vectors()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        assert!(names.contains(&file), "{file} is no case of this test");
    }
}

#[test]
fn building_twice_gives_the_same_objects() {
    for (name, settings, spec, replicas, _) in cases() {
        let once = InstanceObjects::build(&spec, &settings, replicas).unwrap();
        let twice = InstanceObjects::build(&spec, &settings, replicas).unwrap();
        assert_eq!(once, twice, "{name}");
    }
}

#[test]
fn secret_values_stay_in_the_secret() {
    let (_, settings, spec, replicas, _) = cases().remove(2);
    let objects = InstanceObjects::build(&spec, &settings, replicas).unwrap();
    let elsewhere = [
        serde_json::to_string(&objects.deployment).unwrap(),
        serde_json::to_string(&objects.service).unwrap(),
        serde_json::to_string(&objects.network_policy).unwrap(),
    ];
    for text in elsewhere {
        for secret in [
            "hunter2",
            "k-123",
            "bundle-token-1",
            "q8s.example.com/v1/bundles",
        ] {
            assert!(
                !text.contains(secret),
                "{secret} outside the Secret: {text}"
            );
        }
    }
    let data = objects.secret.data.unwrap();
    assert_eq!(data["API_KEY"].0, b"k-123");
    assert_eq!(data["q8s.bundle-token"].0, b"bundle-token-1");
}

#[test]
fn the_spec_hash_follows_the_spec_but_not_secret_values_or_tokens() {
    let hash = |spec: &InstanceSpec| q8s_runtime_kubernetes::labels::spec_hash(spec);
    let mut spec = base();
    spec.env = vec![("API_KEY".into(), "one".into())];
    let first = hash(&spec);
    spec.env[0].1 = "two".into();
    spec.bundle = BundleSource::Url {
        url: "https://elsewhere/x".into(),
        token: Some("another".into()),
    };
    assert_eq!(hash(&spec), first);
    spec.memory_limit = Some(MIB);
    assert_ne!(hash(&spec), first);
    let mut renamed = base();
    renamed.env = vec![("OTHER_KEY".into(), "one".into())];
    assert_ne!(hash(&renamed), first);
}

#[test]
fn specs_a_pod_cannot_run_are_refused() {
    let settings = settings();
    let mut local = base();
    local.bundle = BundleSource::LocalFile("/srv/q8s/blobs/abab".into());
    let mut reserved = base();
    reserved.env = vec![("Q8S_MODULE".into(), "evil".into())];
    let mut wave = base();
    wave.env = vec![("H2O_WAVE_ADDRESS".into(), "http://evil".into())];
    let mut module = base();
    module.module = "a/b".into();
    let mut mount = base();
    mount.volume_mount = Some("/venv".into());
    mount.volume_size = Some(MIB);
    for (what, spec) in [
        ("a local bundle", local),
        ("a runtime env name", reserved),
        ("a Wave env name", wave),
        ("a module with a slash", module),
        ("a mount over the environment", mount),
    ] {
        let result = InstanceObjects::build(&spec, &settings, Replicas::Running);
        assert!(
            matches!(result, Err(RuntimeError::InvalidSpec(_))),
            "{what}: {result:?}"
        );
    }
}

/// The Kubernetes minor these tests build for (k8s-openapi's enabled `v1_*` feature).
// Each push is there only when its feature is enabled.
#[allow(clippy::vec_init_then_push)]
fn built_minor() -> &'static str {
    let mut minors = Vec::new();
    k8s_openapi::k8s_if_1_33! { minors.push("1.33"); }
    k8s_openapi::k8s_if_1_34! { minors.push("1.34"); }
    k8s_openapi::k8s_if_1_35! { minors.push("1.35"); }
    k8s_openapi::k8s_if_1_36! { minors.push("1.36"); }
    k8s_openapi::k8s_if_1_37! { minors.push("1.37"); }
    assert_eq!(minors.len(), 1, "{minors:?}");
    minors[0]
}

#[test]
fn the_files_are_validated_for_the_minor_they_are_built_for() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    let validated = makefile
        .lines()
        .find_map(|line| line.strip_prefix("KUBERNETES_MINOR := "))
        .expect("KUBERNETES_MINOR in the Makefile");
    assert_eq!(validated.trim(), built_minor());
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains(&format!(
            "K8S_OPENAPI_ENABLED_VERSION = \"{}\"",
            built_minor()
        )),
        ".cargo/config.toml names another minor"
    );
    // The binary that picks the minor: q8s-server enables exactly that feature.
    let server = std::fs::read_to_string(root.join("server/Cargo.toml")).unwrap();
    let feature = format!("\"v1_{}\"", &built_minor()[2..]);
    let line = server
        .lines()
        .find(|l| l.starts_with("k8s-openapi = "))
        .expect("q8s-server depends on k8s-openapi");
    assert!(line.contains(&feature), "server/Cargo.toml: {line}");
    assert_eq!(line.matches("\"v1_").count(), 1, "{line}");
}

#[test]
fn no_egress_rule_reaches_private_or_link_local_addresses() {
    // Every peer an instance may reach: the DNS pods, q8s-server's pods, or an address block
    // that leaves out the cluster's ranges and the metadata service.
    for (name, settings, spec, replicas, _) in cases() {
        let objects = InstanceObjects::build(&spec, &settings, replicas).unwrap();
        let policy = objects.network_policy.spec.unwrap();
        assert_eq!(
            policy.policy_types.unwrap(),
            ["Ingress", "Egress"],
            "{name}"
        );
        for rule in policy.egress.unwrap() {
            let peers = rule.to.expect("a rule with no peer admits everything");
            assert!(
                !peers.is_empty(),
                "{name}: an empty peer list admits everything"
            );
            for peer in peers {
                if let Some(block) = peer.ip_block {
                    let except = block.except.unwrap();
                    let needed: &[&str] = if block.cidr.contains(':') {
                        &["fc00::/7", "fe80::/10"]
                    } else {
                        &[
                            "10.0.0.0/8",
                            "169.254.0.0/16",
                            "172.16.0.0/12",
                            "192.168.0.0/16",
                        ]
                    };
                    for range in needed {
                        assert!(
                            except.iter().any(|e| e == range),
                            "{name}: {range} reachable"
                        );
                    }
                } else {
                    let pods = peer.pod_selector.unwrap().match_labels.unwrap();
                    assert!(!pods.is_empty(), "{name}: a peer of every pod");
                    assert!(
                        peer.namespace_selector.is_some()
                            || pods.contains_key("app.kubernetes.io/name"),
                        "{name}"
                    );
                }
            }
        }
    }
}
