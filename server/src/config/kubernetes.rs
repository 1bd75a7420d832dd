//! `--runtime kubernetes`'s settings, checked before anything is started: the namespace, the
//! runtime image and the URL pods reach the server at are required, labels must be
//! `KEY=VALUE`, and `q8s-runtime-kubernetes` refuses what it cannot use (above all empty
//! server pod labels). Kubernetes flags given to another runtime are refused rather than
//! ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use q8s_runtime_kubernetes::KubernetesSettings;

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
}
