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
        check_namespace(&self.namespace).map_err(|why| format!("the namespace {why}"))?;
        if let Some(ns) = &self.server_namespace {
            check_namespace(ns).map_err(|why| format!("the server's namespace {why}"))?;
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
        check_cpu_request(&self.cpu_request).map_err(|why| format!("the CPU request {why}"))?;
        check_ephemeral_storage(self.ephemeral_storage_limit)
            .map_err(|why| format!("the ephemeral-storage limit: {why}"))?;
        check_egress_denied(&self.egress_denied)
            .map_err(|why| format!("the denied egress ranges: {why}"))?;
        check_namespace(&self.dns.namespace)
            .map_err(|why| format!("the DNS pods' namespace {why}"))?;
        if self.dns.pod_labels.is_empty() {
            return Err("the DNS pods need labels".into());
        }
        if self.max_restarts == 0 {
            return Err("max_restarts must be at least 1".into());
        }
        Ok(())
    }
}

/// The smallest ephemeral-storage limit accepted (64 MiB): less cannot hold a bundle and its
/// environment, and is most likely a size written without its unit (`4` for `4Gi`).
pub const MIN_EPHEMERAL_STORAGE: u64 = 64 << 20;

/// Why `bytes` cannot be the ephemeral-storage limit: below [`MIN_EPHEMERAL_STORAGE`].
pub fn check_ephemeral_storage(bytes: u64) -> Result<(), String> {
    if bytes < MIN_EPHEMERAL_STORAGE {
        return Err(format!(
            "{bytes} bytes is less than 64Mi, too little for a bundle and its environment (a \
             unit missing, e.g. `4Gi`?)"
        ));
    }
    Ok(())
}

/// Why `ranges` cannot be the ranges instances may not reach: a range that
/// [`check_cidr`] refuses, or none at all (instances would reach every pod and service of the
/// cluster and the cloud's metadata service, which hands out node credentials).
pub fn check_egress_denied(ranges: &[String]) -> Result<(), String> {
    if ranges.is_empty() {
        return Err(
            "none given: instances could reach every pod and service of the cluster \
                    and the cloud's metadata service (keep at least 169.254.0.0/16 and \
                    fe80::/10)"
                .into(),
        );
    }
    ranges.iter().try_for_each(|cidr| check_cidr(cidr))
}

/// Why `text` cannot be a CPU request: it must be a Kubernetes quantity without a sign
/// (`<number><suffix>`: `50m`, `0.5`, `2`; suffixes `m`, `k`, `M`, `G`, `T`, `P`, `E`,
/// `Ki` … `Ei`, or an exponent such as `1e3`), as the API server parses it.
pub fn check_cpu_request(text: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "`{text}` is no Kubernetes quantity (e.g. `50m`, `250m`, `0.5` or `2`)"
        ))
    };
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let whole = digits(text);
    let mut rest = &text[whole..];
    let mut fraction = 0;
    if let Some(after) = rest.strip_prefix('.') {
        fraction = digits(after);
        rest = &after[fraction..];
    }
    if whole + fraction == 0 || text.len() > 64 {
        return bad();
    }
    let suffix = matches!(
        rest,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    );
    let exponent = rest
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
        .is_some_and(|e| !e.is_empty() && digits(e) == e.len());
    if suffix || exponent { Ok(()) } else { bad() }
}

/// Why `text` cannot be a range of denied addresses: it must be `address/prefix`, IPv4 or
/// IPv6, with a prefix the family allows, no bits set past the prefix (the API server may
/// refuse them, and `10.0.0.1/8` is most likely a typing error) and not a whole family (a
/// NetworkPolicy's `except` must be narrower than its `0.0.0.0/0` or `::/0`).
pub fn check_cidr(text: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{text}` {why}"));
    let Some((addr, prefix)) = text.split_once('/') else {
        return bad("is no CIDR (ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fc00::/7)");
    };
    let (Ok(addr), Ok(prefix)) = (addr.parse::<std::net::IpAddr>(), prefix.parse::<u8>()) else {
        return bad("is no CIDR (ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fc00::/7)");
    };
    let (bits, width) = match addr {
        std::net::IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
        std::net::IpAddr::V6(a) => (u128::from(a), 128),
    };
    if prefix > width {
        return bad(&format!("is no CIDR: the prefix is at most {width}"));
    }
    if prefix == 0 {
        return bad("would deny every address of its family (use a narrower range)");
    }
    if bits.checked_shl(u32::from(prefix)).unwrap_or(0) != 0 {
        return bad("has address bits set past its prefix (write the network's first address)");
    }
    Ok(())
}

/// Why `name` cannot be a namespace: namespaces are RFC 1123 labels.
pub fn check_namespace(name: &str) -> Result<(), String> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is no DNS label (lower-case letters, digits and `-`, at most 63)"
        ))
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
        let spoilers: [(&str, Spoiler); 16] = [
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
            ("DNS pods need labels", |s| s.dns.pod_labels.clear()),
            ("DNS pods' namespace", |s| {
                s.dns.namespace = "kube_system".into()
            }),
            ("CPU request", |s| s.cpu_request = "fifty".into()),
            ("ephemeral-storage limit: 0 bytes", |s| {
                s.ephemeral_storage_limit = 0
            }),
            ("egress ranges: none given", |s| s.egress_denied.clear()),
            ("every address", |s| s.egress_denied.push("::/0".into())),
            ("bits set past", |s| {
                s.egress_denied.push("10.0.0.1/8".into())
            }),
        ];
        for (what, spoil) in spoilers {
            let mut bad = good.clone();
            spoil(&mut bad);
            let err = bad.check().unwrap_err();
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn cpu_requests_are_kubernetes_quantities_without_a_sign() {
        for good in [
            "50m", "250m", "1", "0.5", ".5", "2.", "1k", "1Ki", "3Ei", "1e3", "5E-1", "2E", "0",
        ] {
            assert_eq!(check_cpu_request(good), Ok(()), "{good}");
        }
        for bad in [
            "", "m", "-1", "+1", "50 m", "50mi", "1Kb", "1e", "1e+", "1.2.3", "fifty", "1ki",
            "５0m", "1Ki ",
        ] {
            let err = check_cpu_request(bad).unwrap_err();
            assert!(err.contains("is no Kubernetes quantity"), "{bad}: {err}");
        }
    }

    #[test]
    fn denied_ranges_are_networks_narrower_than_their_family() {
        for good in [
            "10.0.0.0/8",
            "169.254.169.254/32",
            "fc00::/7",
            "::1/128",
            "2001:db8::/32",
            "0.0.0.0/1",
        ] {
            assert_eq!(check_cidr(good), Ok(()), "{good}");
        }
        let cases = [
            ("10.0.0.0", "is no CIDR"),
            ("10.0.0.0/", "is no CIDR"),
            ("10.0.0/8", "is no CIDR"),
            ("10.0.0.0/x", "is no CIDR"),
            ("example.com/8", "is no CIDR"),
            ("10.0.0.0/33", "at most 32"),
            ("fc00::/129", "at most 128"),
            ("0.0.0.0/0", "every address"),
            ("::/0", "every address"),
            ("10.0.0.1/8", "bits set past"),
            ("fe80::1/10", "bits set past"),
            ("192.168.1.1/31", "bits set past"),
        ];
        for (bad, why) in cases {
            let err = check_cidr(bad).unwrap_err();
            assert!(err.contains(why) && err.contains(bad), "{bad}: {err}");
        }
    }
}
