//! `--runtime kubernetes`'s settings, checked before anything is started: the namespace, the
//! runtime image and the URL pods reach the server at are required, labels must be
//! `KEY=VALUE`, and `q8s-runtime-kubernetes` refuses what it cannot use (above all empty
//! server pod labels). Kubernetes flags given to another runtime are refused rather than
//! ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use q8s_runtime_kubernetes::{DnsPods, KubernetesSettings};

use super::{RuntimeKind, Settings};

/// The resolved settings of the Kubernetes runtime.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// The kubeconfig file; `None`: in-cluster, else what `kube` infers.
    pub kubeconfig: Option<PathBuf>,
    /// The runtime's settings (namespace, image, labels, …), checked.
    pub settings: KubernetesSettings,
    /// Where pods reach q8s-server (scheme, host and port; no trailing `/`).
    pub server_url: String,
    /// How long a bundle download token stays valid.
    pub bundle_token_lifetime: Duration,
}

impl KubernetesConfig {
    /// The settings of `--runtime kubernetes` from `settings`; `None` for another runtime
    /// (which must not be given Kubernetes flags).
    pub(super) fn resolve(
        settings: &Settings,
        runtime: RuntimeKind,
    ) -> anyhow::Result<Option<KubernetesConfig>> {
        if runtime != RuntimeKind::Kubernetes {
            let given = [
                ("--kubeconfig", settings.kubeconfig.is_some()),
                (
                    "--kubernetes-namespace",
                    settings.kubernetes_namespace.is_some(),
                ),
                ("--kubernetes-image", settings.kubernetes_image.is_some()),
                (
                    "--kubernetes-server-url",
                    settings.kubernetes_server_url.is_some(),
                ),
                (
                    "--kubernetes-storage-class",
                    settings.kubernetes_storage_class.is_some(),
                ),
                (
                    "--kubernetes-node-selector",
                    settings.kubernetes_node_selector.is_some(),
                ),
                (
                    "--kubernetes-server-labels",
                    settings.kubernetes_server_labels.is_some(),
                ),
                (
                    "--kubernetes-server-namespace",
                    settings.kubernetes_server_namespace.is_some(),
                ),
                (
                    "--bundle-token-lifetime",
                    settings.bundle_token_lifetime.is_some(),
                ),
                (
                    "--kubernetes-cpu-request",
                    settings.kubernetes_cpu_request.is_some(),
                ),
                (
                    "--kubernetes-ephemeral-storage",
                    settings.kubernetes_ephemeral_storage.is_some(),
                ),
                (
                    "--kubernetes-egress-denied",
                    settings.kubernetes_egress_denied.is_some(),
                ),
                (
                    "--kubernetes-dns-pods",
                    settings.kubernetes_dns_pods.is_some(),
                ),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
                anyhow::bail!("{flag} is a setting of --runtime kubernetes, not of this runtime");
            }
            return Ok(None);
        }
        let required = |value: &Option<String>, flag: &str, example: &str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    anyhow::anyhow!("--runtime kubernetes needs {flag}, e.g. `{flag} {example}`")
                })
        };
        let namespace = required(
            &settings.kubernetes_namespace,
            "--kubernetes-namespace",
            "q8s-instances",
        )?;
        let image = required(
            &settings.kubernetes_image,
            "--kubernetes-image",
            "ghcr.io/q8s/runtime:0.1.0",
        )?;
        let server_url = required(
            &settings.kubernetes_server_url,
            "--kubernetes-server-url",
            "http://q8s-server.q8s-system.svc:8008",
        )?;
        let server_url = pod_url(&server_url)?;
        let mut runtime = KubernetesSettings::new(namespace, image);
        runtime.storage_class = settings
            .kubernetes_storage_class
            .clone()
            .filter(|c| !c.trim().is_empty());
        if let Some(pairs) = &settings.kubernetes_node_selector {
            runtime.node_selector = labels(pairs, "--kubernetes-node-selector")?;
        }
        if let Some(pairs) = &settings.kubernetes_server_labels {
            runtime.server_pod_labels = labels(pairs, "--kubernetes-server-labels")?;
        }
        runtime.server_namespace = settings
            .kubernetes_server_namespace
            .clone()
            .filter(|ns| !ns.trim().is_empty());
        if let Some(cpu) = &settings.kubernetes_cpu_request {
            let cpu = cpu.trim();
            q8s_runtime_kubernetes::check_cpu_request(cpu)
                .map_err(|why| anyhow::anyhow!("--kubernetes-cpu-request: {why}"))?;
            runtime.cpu_request = cpu.to_owned();
        }
        if let Some(size) = settings.kubernetes_ephemeral_storage {
            q8s_runtime_kubernetes::check_ephemeral_storage(size.0)
                .map_err(|why| anyhow::anyhow!("--kubernetes-ephemeral-storage: {why}"))?;
            runtime.ephemeral_storage_limit = size.0;
        }
        if let Some(ranges) = &settings.kubernetes_egress_denied {
            let ranges: Vec<String> = ranges
                .iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            q8s_runtime_kubernetes::check_egress_denied(&ranges)
                .map_err(|why| anyhow::anyhow!("--kubernetes-egress-denied: {why}"))?;
            runtime.egress_denied = ranges;
        }
        if let Some(text) = &settings.kubernetes_dns_pods {
            runtime.dns = dns_pods(text)?;
        }
        // Pods install with the admin's rules too (the text goes into each instance's Secret).
        runtime.constraints = settings
            .constraints
            .as_deref()
            .map(super::files::constraints_text)
            .transpose()?;
        runtime
            .check()
            .map_err(|why| anyhow::anyhow!("--runtime kubernetes: {why}"))?;
        let lifetime = settings
            .bundle_token_lifetime
            .map_or(crate::bundle_token::DEFAULT_LIFETIME, Duration::from_secs);
        if lifetime < Duration::from_secs(60) {
            anyhow::bail!("--bundle-token-lifetime must be at least 60 seconds");
        }
        Ok(Some(KubernetesConfig {
            kubeconfig: settings.kubeconfig.clone(),
            settings: runtime,
            server_url,
            bundle_token_lifetime: lifetime,
        }))
    }

    /// The URL instance `id`'s pod downloads its bundle from.
    pub fn bundle_url(&self, id: uuid::Uuid) -> String {
        format!("{}/api/v1/instances/{id}/bundle", self.server_url)
    }
}

/// `--kubernetes-server-url` checked: `http` or `https`, a host, no path, query or credentials.
fn pod_url(text: &str) -> anyhow::Result<String> {
    let bad = |why: &str| {
        anyhow::anyhow!(
            "--kubernetes-server-url `{text}`: {why} (e.g. `http://q8s-server.q8s-system.svc:8008`)"
        )
    };
    let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("not http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in it"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("only scheme, host and port"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `--kubernetes-dns-pods`: `NAMESPACE/KEY=VALUE[,KEY=VALUE]` (a namespace holds no `/`, so
/// the first one ends it and label keys keep theirs, as in `app.kubernetes.io/name=coredns`).
fn dns_pods(text: &str) -> anyhow::Result<DnsPods> {
    const FLAG: &str = "--kubernetes-dns-pods";
    let Some((namespace, pairs)) = text.trim().split_once('/') else {
        anyhow::bail!(
            "{FLAG}: `{text}` is not NAMESPACE/KEY=VALUE[,KEY=VALUE] (e.g. \
             `kube-system/k8s-app=kube-dns`)"
        );
    };
    let namespace = namespace.trim();
    q8s_runtime_kubernetes::check_namespace(namespace)
        .map_err(|why| anyhow::anyhow!("{FLAG}: the namespace {why}"))?;
    let pairs: Vec<String> = pairs.split(',').map(str::to_owned).collect();
    let pod_labels = labels(&pairs, FLAG)?;
    if pod_labels.is_empty() {
        anyhow::bail!("{FLAG}: `{text}` names no label (every pod of `{namespace}` would do)");
    }
    Ok(DnsPods {
        namespace: namespace.to_owned(),
        pod_labels,
    })
}

/// `KEY=VALUE` pairs as labels; a pair without `=`, an empty key or value, or a key given twice
/// is refused.
fn labels(pairs: &[String], flag: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            anyhow::bail!("{flag}: `{pair}` is not KEY=VALUE");
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || value.is_empty() {
            anyhow::bail!("{flag}: `{pair}` has an empty key or value");
        }
        if labels.insert(key.to_owned(), value.to_owned()).is_some() {
            anyhow::bail!("{flag}: `{key}` is given twice");
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ByteSize;

    fn kubernetes() -> Settings {
        Settings {
            runtime: Some(RuntimeKind::Kubernetes),
            kubernetes_namespace: Some("q8s-instances".into()),
            kubernetes_image: Some("ghcr.io/q8s/runtime:0.1.0".into()),
            kubernetes_server_url: Some("http://q8s-server.q8s-system.svc:8008/".into()),
            ..Settings::default()
        }
    }

    fn resolve(settings: Settings) -> anyhow::Result<Option<KubernetesConfig>> {
        let runtime = settings.runtime.unwrap_or(RuntimeKind::Local);
        KubernetesConfig::resolve(&settings, runtime)
    }

    #[test]
    fn complete_settings_resolve_with_the_defaults() {
        let config = resolve(kubernetes()).unwrap().unwrap();
        assert_eq!(config.server_url, "http://q8s-server.q8s-system.svc:8008");
        let id = uuid::Uuid::nil();
        assert_eq!(
            config.bundle_url(id),
            format!("http://q8s-server.q8s-system.svc:8008/api/v1/instances/{id}/bundle")
        );
        assert_eq!(
            config.settings.server_pod_labels,
            BTreeMap::from([("app.kubernetes.io/name".into(), "q8s-server".into())])
        );
        assert_eq!(config.bundle_token_lifetime, Duration::from_secs(86_400));
        let mut more = kubernetes();
        more.kubernetes_node_selector = Some(vec!["pool=apps".into(), " zone=a ".into()]);
        more.kubernetes_server_labels = Some(vec!["app=q8s".into()]);
        more.kubernetes_storage_class = Some("fast".into());
        let config = resolve(more).unwrap().unwrap();
        assert_eq!(config.settings.node_selector.len(), 2);
        assert_eq!(config.settings.node_selector["zone"], "a");
        assert_eq!(config.settings.storage_class.as_deref(), Some("fast"));
        assert_eq!(config.settings.constraints, None);
        assert!(resolve(Settings::default()).unwrap().is_none());
    }

    #[test]
    fn the_admin_s_constraints_reach_the_pods_as_written_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("site.toml");
        let text = "version = \"site-1\"\n[[rule]]\npins = [\"numpy<2\"]\nwhy = \"old\"\n";
        std::fs::write(&file, text).unwrap();
        let mut settings = kubernetes();
        settings.constraints = Some(file.clone());
        let config = resolve(settings.clone()).unwrap().unwrap();
        assert_eq!(config.settings.constraints.as_deref(), Some(text));
        settings.constraints = Some(dir.path().join("gone.toml"));
        let err = resolve(settings).unwrap_err().to_string();
        assert!(err.starts_with("--constraints: reading "), "{err}");
        assert!(err.contains("gone.toml"), "{err}");
    }

    #[test]
    fn incomplete_or_unusable_settings_are_refused_naming_the_flag() {
        type Spoiler = fn(&mut Settings);
        let cases: [(&str, Spoiler); 12] = [
            ("--kubernetes-namespace", |s| s.kubernetes_namespace = None),
            ("--kubernetes-image", |s| {
                s.kubernetes_image = Some(" ".into())
            }),
            ("--kubernetes-server-url", |s| {
                s.kubernetes_server_url = None
            }),
            ("only scheme, host and port", |s| {
                s.kubernetes_server_url = Some("http://q8s/api".into())
            }),
            ("not http", |s| {
                s.kubernetes_server_url = Some("ftp://q8s".into())
            }),
            ("credentials", |s| {
                s.kubernetes_server_url = Some("http://u:p@q8s".into())
            }),
            ("no DNS label", |s| {
                s.kubernetes_namespace = Some("Q8S".into())
            }),
            ("not KEY=VALUE", |s| {
                s.kubernetes_node_selector = Some(vec!["pool".into()])
            }),
            ("empty key or value", |s| {
                s.kubernetes_server_labels = Some(vec!["app=".into()])
            }),
            // No label at all would admit every pod of the namespace.
            ("admit every pod", |s| {
                s.kubernetes_server_labels = Some(vec![])
            }),
            ("given twice", |s| {
                s.kubernetes_server_labels = Some(vec!["a=1".into(), "a=2".into()])
            }),
            ("at least 60", |s| s.bundle_token_lifetime = Some(5)),
        ];
        for (what, spoil) in cases {
            let mut settings = kubernetes();
            spoil(&mut settings);
            let err = resolve(settings).unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
        let local = Settings {
            kubernetes_namespace: Some("q8s".into()),
            ..Settings::default()
        };
        let err = resolve(local).unwrap_err().to_string();
        assert!(err.contains("--kubernetes-namespace is a setting of --runtime kubernetes"));
    }

    #[test]
    fn cpu_storage_egress_and_dns_come_from_flags_variables_and_file_keys() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: Settings,
        }
        use clap::{CommandFactory, Parser};
        let flags = Cli::try_parse_from([
            "q8s-server",
            "--kubernetes-cpu-request",
            "250m",
            "--kubernetes-ephemeral-storage",
            "8Gi",
            "--kubernetes-egress-denied",
            "10.0.0.0/8, 169.254.0.0/16,fe80::/10",
            "--kubernetes-dns-pods",
            "dns-system/app.kubernetes.io/name=coredns,tier=dns",
        ])
        .unwrap()
        .settings;
        let config = resolve(flags.over(kubernetes())).unwrap().unwrap();
        let runtime = &config.settings;
        assert_eq!(runtime.cpu_request, "250m");
        assert_eq!(runtime.ephemeral_storage_limit, 8 << 30);
        assert_eq!(
            runtime.egress_denied,
            ["10.0.0.0/8", "169.254.0.0/16", "fe80::/10"]
        );
        assert_eq!(runtime.dns.namespace, "dns-system");
        assert_eq!(
            runtime.dns.pod_labels,
            BTreeMap::from([
                ("app.kubernetes.io/name".into(), "coredns".into()),
                ("tier".into(), "dns".into()),
            ])
        );
        let file: Settings = toml::from_str(
            "kubernetes-cpu-request = \"1\"\nkubernetes-ephemeral-storage = \"512Mi\"\n\
             kubernetes-egress-denied = [\"169.254.169.254/32\"]\n\
             kubernetes-dns-pods = \"kube-system/k8s-app=coredns\"\n",
        )
        .unwrap();
        let config = resolve(kubernetes().over(file)).unwrap().unwrap();
        assert_eq!(config.settings.cpu_request, "1");
        assert_eq!(config.settings.ephemeral_storage_limit, 512 << 20);
        assert_eq!(config.settings.egress_denied, ["169.254.169.254/32"]);
        assert_eq!(config.settings.dns.pod_labels["k8s-app"], "coredns");
        // Without them, the defaults.
        let config = resolve(kubernetes()).unwrap().unwrap();
        let defaults = KubernetesSettings::new("q8s-instances", "ghcr.io/q8s/runtime:0.1.0");
        assert_eq!(config.settings.cpu_request, "50m");
        assert_eq!(config.settings.egress_denied, defaults.egress_denied);
        assert_eq!(config.settings.dns, defaults.dns);
        let help = Cli::command().render_long_help().to_string();
        for variable in [
            "Q8S_SERVER_KUBERNETES_CPU_REQUEST",
            "Q8S_SERVER_KUBERNETES_EPHEMERAL_STORAGE",
            "Q8S_SERVER_KUBERNETES_EGRESS_DENIED",
            "Q8S_SERVER_KUBERNETES_DNS_PODS",
        ] {
            assert!(help.contains(variable), "{variable}");
        }
    }

    #[test]
    fn malformed_cpu_storage_egress_and_dns_are_refused_naming_the_flag() {
        type Spoiler = fn(&mut Settings);
        let cases: [(&str, Spoiler); 14] = [
            (
                "--kubernetes-cpu-request: `-1` is no Kubernetes quantity",
                |s| s.kubernetes_cpu_request = Some("-1".into()),
            ),
            ("--kubernetes-cpu-request: `half` is no", |s| {
                s.kubernetes_cpu_request = Some("half".into())
            }),
            ("--kubernetes-cpu-request: `` is no", |s| {
                s.kubernetes_cpu_request = Some(" ".into())
            }),
            // A size without its unit is bytes: far too little, and said so.
            (
                "--kubernetes-ephemeral-storage: 4 bytes is less than 64Mi",
                |s| s.kubernetes_ephemeral_storage = Some(ByteSize(4)),
            ),
            ("--kubernetes-egress-denied: `10.0.0.0` is no CIDR", |s| {
                s.kubernetes_egress_denied = Some(vec!["10.0.0.0".into()])
            }),
            (
                "--kubernetes-egress-denied: `10.1.0.0/8` has address bits",
                |s| s.kubernetes_egress_denied = Some(vec!["fc00::/7".into(), "10.1.0.0/8".into()]),
            ),
            (
                "--kubernetes-egress-denied: `0.0.0.0/0` would deny every",
                |s| s.kubernetes_egress_denied = Some(vec!["0.0.0.0/0".into()]),
            ),
            ("--kubernetes-egress-denied: none given", |s| {
                s.kubernetes_egress_denied = Some(vec![" ".into()])
            }),
            (
                "--kubernetes-dns-pods: `k8s-app=kube-dns` is not NAMESPACE/",
                |s| s.kubernetes_dns_pods = Some("k8s-app=kube-dns".into()),
            ),
            (
                "--kubernetes-dns-pods: the namespace `Kube-System` is no DNS label",
                |s| s.kubernetes_dns_pods = Some("Kube-System/k8s-app=kube-dns".into()),
            ),
            ("--kubernetes-dns-pods: `k8s-app` is not KEY=VALUE", |s| {
                s.kubernetes_dns_pods = Some("kube-system/k8s-app".into())
            }),
            (
                "--kubernetes-dns-pods: `kube-system/` names no label",
                |s| s.kubernetes_dns_pods = Some("kube-system/".into()),
            ),
            ("--kubernetes-dns-pods: `a` is given twice", |s| {
                s.kubernetes_dns_pods = Some("kube-system/a=1,a=2".into())
            }),
            (
                "--kubernetes-dns-pods: the namespace `` is no DNS label",
                |s| s.kubernetes_dns_pods = Some("/k8s-app=kube-dns".into()),
            ),
        ];
        for (what, spoil) in cases {
            let mut settings = kubernetes();
            spoil(&mut settings);
            let err = resolve(settings).unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn cpu_storage_egress_and_dns_given_to_another_runtime_are_refused() {
        type Setter = fn(&mut Settings);
        let cases: [(&str, Setter); 4] = [
            ("--kubernetes-cpu-request", |s| {
                s.kubernetes_cpu_request = Some("50m".into())
            }),
            ("--kubernetes-ephemeral-storage", |s| {
                s.kubernetes_ephemeral_storage = Some(ByteSize(4 << 30))
            }),
            ("--kubernetes-egress-denied", |s| {
                s.kubernetes_egress_denied = Some(vec!["10.0.0.0/8".into()])
            }),
            ("--kubernetes-dns-pods", |s| {
                s.kubernetes_dns_pods = Some("kube-system/k8s-app=kube-dns".into())
            }),
        ];
        for runtime in [None, Some(RuntimeKind::Local), Some(RuntimeKind::Fake)] {
            for (flag, set) in cases {
                let mut settings = Settings {
                    runtime,
                    ..Settings::default()
                };
                set(&mut settings);
                let err = resolve(settings).unwrap_err().to_string();
                assert_eq!(
                    err,
                    format!("{flag} is a setting of --runtime kubernetes, not of this runtime")
                );
            }
        }
    }
}
