//! The instance's NetworkPolicy (`isolation.md`): traffic in only from q8s-server's pods, on
//! the instance's port; traffic out to the cluster's DNS, to q8s-server's pods (the init
//! container fetches the bundle there; the server must not trust forwarded headers from pod
//! addresses) and to public addresses — never to the private ranges where the cluster's own
//! pods and services live (other instances, the database, the API server) nor to link-local
//! addresses (a cloud's metadata service, which hands out node credentials).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use q8s_runtime::InstanceSpec;

use super::{INSTANCE_PORT, metadata};
use crate::KubernetesSettings;
use crate::labels;

pub(super) fn network_policy(spec: &InstanceSpec, settings: &KubernetesSettings) -> NetworkPolicy {
    let server_peer = NetworkPolicyPeer {
        pod_selector: Some(select(&settings.server_pod_labels)),
        namespace_selector: settings.server_namespace.as_deref().map(namespace),
        ..NetworkPolicyPeer::default()
    };
    let dns = NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(select(&settings.dns.pod_labels)),
            namespace_selector: Some(namespace(&settings.dns.namespace)),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
    };
    // The init container fetches the bundle from q8s-server, which runs in a private range.
    let server = NetworkPolicyEgressRule {
        to: Some(vec![server_peer.clone()]),
        ports: None,
    };
    let (v4, v6): (Vec<&String>, Vec<&String>) = settings
        .egress_denied
        .iter()
        .partition(|cidr| !cidr.contains(':'));
    let public = |all: &str, except: Vec<&String>| NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: all.into(),
            except: Some(except.into_iter().cloned().collect()),
        }),
        ..NetworkPolicyPeer::default()
    };
    let internet = NetworkPolicyEgressRule {
        to: Some(vec![public("0.0.0.0/0", v4), public("::/0", v6)]),
        ports: None,
    };
    NetworkPolicy {
        metadata: metadata(spec, settings),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(select(&labels::selector(spec.instance_id))),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![server_peer.clone()]),
                ports: Some(vec![port("TCP", INSTANCE_PORT)]),
            }]),
            egress: Some(vec![dns, server, internet]),
        }),
    }
}

fn select(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.clone()),
        ..LabelSelector::default()
    }
}

fn namespace(name: &str) -> LabelSelector {
    select(&BTreeMap::from([(
        "kubernetes.io/metadata.name".to_owned(),
        name.to_owned(),
    )]))
}

fn port(protocol: &str, number: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.into()),
        port: Some(IntOrString::Int(i32::from(number))),
        ..NetworkPolicyPort::default()
    }
}
