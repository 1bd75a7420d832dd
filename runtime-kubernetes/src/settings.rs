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
    /// Address ranges instances may not open connections to (the rest of the internet they
    /// may): the cluster's own, private ranges and link-local ones, IPv4 and IPv6 CIDRs.
    pub egress_denied: Vec<String>,
    /// The cluster's DNS, which instances may always ask.
    pub dns: DnsPods,
    /// The admin's constraint rules (the text of q8s-server's `--constraints` file), applied
    /// by every pod's install after the built-in ones; `None` without.
    pub constraints: Option<String>,
}

/// Where the cluster's DNS server pods are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPods {
    /// Their namespace.
    pub namespace: String,
    /// Their labels.
    pub pod_labels: BTreeMap<String, String>,
}

/// The ranges instances may not reach by default: private (RFC 1918, carrier-grade NAT,
/// unique local), loopback and link-local (where clouds answer metadata requests with node
/// credentials).
pub const DEFAULT_EGRESS_DENIED: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
];

impl KubernetesSettings {
    /// The defaults for `namespace` and `image`: no storage class or node selector, server
    /// pods labelled `app.kubernetes.io/name=q8s-server` in the same namespace, 50m CPU,
    /// 4 GiB of ephemeral storage, 5 s to stop, 5 restarts, [`DEFAULT_EGRESS_DENIED`], the DNS
    /// pods labelled `k8s-app=kube-dns` in `kube-system` (CoreDNS as most clusters run it), no
    /// admin constraints.
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
            egress_denied: DEFAULT_EGRESS_DENIED
                .iter()
                .map(|c| c.to_string())
                .collect(),
            dns: DnsPods {
                namespace: "kube-system".into(),
                pod_labels: BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())]),
            },
            constraints: None,
        }
    }
}

impl KubernetesSettings {
    /// What makes settings unusable, said once at start rather than at every instance. An
    /// empty set of server pod labels is refused above all: a NetworkPolicy peer that selects
    /// by no label admits every pod of the namespace, other tenants' instances included.
    pub fn check(&self) -> Result<(), String> {
        if !is_dns_label(&self.namespace) {
            return Err(format!(
                "the namespace `{}` is no DNS label (lower-case letters, digits and `-`, at most \
                 63)",
                self.namespace
            ));
        }
        if let Some(ns) = self
            .server_namespace
            .as_ref()
            .filter(|ns| !is_dns_label(ns))
        {
            return Err(format!("the server's namespace `{ns}` is no DNS label"));
        }
        if self.image.trim().is_empty() || self.image.chars().any(char::is_whitespace) {
            return Err(format!(
                "the runtime image `{}` is no image name",
                self.image
            ));
        }
        if self.server_pod_labels.is_empty() {
            return Err(
                "the server's pod labels are empty: the instances' NetworkPolicy would \
                        admit every pod of the namespace"
                    .into(),
            );
        }
        if self
            .server_pod_labels
            .iter()
            .any(|(k, v)| k.is_empty() || v.is_empty())
        {
            return Err("a server pod label with an empty key or value".into());
        }
        if let Some(cidr) = self.egress_denied.iter().find(|c| !is_cidr(c)) {
            return Err(format!("`{cidr}` in the denied egress ranges is no CIDR"));
        }
        if !is_dns_label(&self.dns.namespace) || self.dns.pod_labels.is_empty() {
            return Err("the DNS pods need a namespace and labels".into());
        }
        if self.max_restarts == 0 {
            return Err("max_restarts must be at least 1".into());
        }
        Ok(())
    }
}

/// `address/prefix`, IPv4 or IPv6, with a prefix the address family allows.
fn is_cidr(text: &str) -> bool {
    let Some((addr, prefix)) = text.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

/// An RFC 1123 label, as namespace names are.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_usable_and_bad_settings_are_refused_with_a_reason() {
        let good = KubernetesSettings::new("q8s-instances", "ghcr.io/q8s/runtime:0.1.0");
        assert_eq!(good.check(), Ok(()));
        type Spoiler = fn(&mut KubernetesSettings);
        let spoilers: [(&str, Spoiler); 10] = [
            ("namespace", |s| s.namespace = String::new()),
            ("namespace", |s| s.namespace = "Q8S".into()),
            ("server's namespace", |s| {
                s.server_namespace = Some("-x".into())
            }),
            ("image", |s| s.image = " ".into()),
            ("admit every pod", |s| s.server_pod_labels.clear()),
            ("empty key or value", |s| {
                s.server_pod_labels.insert("app".into(), String::new());
            }),
            ("max_restarts", |s| s.max_restarts = 0),
            ("no CIDR", |s| s.egress_denied.push("10.0.0.0".into())),
            ("no CIDR", |s| s.egress_denied.push("10.0.0.0/33".into())),
            ("DNS pods", |s| s.dns.pod_labels.clear()),
        ];
        for (what, spoil) in spoilers {
            let mut bad = good.clone();
            spoil(&mut bad);
            let err = bad.check().unwrap_err();
            assert!(err.contains(what), "{what}: {err}");
        }
    }
}
