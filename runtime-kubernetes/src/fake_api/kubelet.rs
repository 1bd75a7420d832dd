//! The fake's kubelet (and ReplicaSet controller): before every request it makes each
//! Deployment's pods agree with its replicas — one pod for a Deployment of one replica, none at
//! zero, none once the Deployment is gone (as owner-reference deletion would) — with the status
//! the test chose ([`Kubelet`]): ready, unschedulable, crash looping or OOMKilled.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::{State, network};

const PODS: &str = "pods";
const CORE: &str = "api/v1";
const APPS: &str = "apis/apps/v1";

/// What the fake kubelet does with the pods it makes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Kubelet {
    /// Scheduled, initialised, ready.
    #[default]
    Ready,
    /// No node takes it; the scheduler's message.
    Unschedulable(String),
    /// The app exits with code 1 again and again; restarts so far.
    CrashLoop(u32),
    /// The app exceeds its memory limit; restarts so far.
    OomKilled(u32),
}

impl State {
    /// Makes every Deployment's pods agree with its replicas.
    pub(super) fn sync_pods(&mut self) {
        let deployments: Vec<(String, String, Value)> = self
            .objects
            .iter()
            .filter(|(k, _)| k.0 == APPS && k.2 == "deployments")
            .map(|(k, v)| (k.1.clone(), k.3.clone(), v.clone()))
            .collect();
        // Pods whose Deployment is gone or scaled to zero go.
        let gone: Vec<_> = self
            .objects
            .iter()
            .filter(|(k, pod)| {
                let owner = pod["metadata"]["annotations"]["fake.q8s.dev/deployment"].as_str();
                k.0 == CORE
                    && k.2 == PODS
                    && !deployments.iter().any(|(ns, name, d)| {
                        *ns == k.1
                            && Some(name.as_str()) == owner
                            && d["spec"]["replicas"].as_i64() != Some(0)
                    })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in &gone {
            self.unstore(key);
        }
        for (namespace, name, deployment) in &deployments {
            if deployment["spec"]["replicas"].as_i64() == Some(0) {
                continue;
            }
            let pod_name = format!("{name}-fake");
            let key = (
                CORE.to_owned(),
                namespace.clone(),
                PODS.to_owned(),
                pod_name.clone(),
            );
            let pod = self.pod(deployment, &pod_name);
            match self.objects.get(&key).cloned() {
                Some(old) if old["status"] == pod["status"] && old["spec"] == pod["spec"] => {}
                // The same pod, changed (a status update keeps its uid).
                Some(mut old) => {
                    old["spec"] = pod["spec"].clone();
                    old["status"] = pod["status"].clone();
                    old["metadata"]["resourceVersion"] = json!(self.next_version());
                    self.store(key, old);
                }
                None => {
                    let pod = self.created(pod, namespace);
                    self.store(key, pod);
                }
            }
        }
        self.sync_listeners();
    }

    /// Something answers on each Service's ClusterIP while a ready pod matches its selector.
    fn sync_listeners(&mut self) {
        let mut wanted = HashMap::new();
        for (key, service) in &self.objects {
            if key.0 != CORE || key.2 != "services" {
                continue;
            }
            let Some(ip) = service["spec"]["clusterIP"]
                .as_str()
                .and_then(|ip| ip.parse().ok())
            else {
                continue;
            };
            let ready_pod = self.objects.iter().find(|(k, pod)| {
                k.0 == CORE
                    && k.1 == key.1
                    && k.2 == PODS
                    && is_ready(pod)
                    && network::selects(&service["spec"]["selector"], &pod["metadata"]["labels"])
            });
            let Some((pod_key, _)) = ready_pod else {
                continue;
            };
            for port in service["spec"]["ports"].as_array().into_iter().flatten() {
                if let Some(port) = port["port"].as_u64().and_then(|p| u16::try_from(p).ok()) {
                    wanted.insert(SocketAddr::new(ip, port), pod_key.3.clone());
                }
            }
        }
        self.network.serve(wanted);
    }

    fn pod(&self, deployment: &Value, name: &str) -> Value {
        let template = &deployment["spec"]["template"];
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": template["metadata"]["labels"],
                "annotations": {
                    "fake.q8s.dev/deployment": deployment["metadata"]["name"],
                },
            },
            "spec": template["spec"],
            "status": status(&self.kubelet),
        })
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn status(kubelet: &Kubelet) -> Value {
    let condition =
        |kind: &str, ok: bool| json!({"type": kind, "status": if ok { "True" } else { "False" }});
    let init_done = json!([{"name": "prepare", "image": "", "imageID": "", "ready": true,
        "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]);
    let main = |ready: bool, restarts: u32, state: Value, last: Value| {
        json!([{"name": "instance", "image": "", "imageID": "", "ready": ready,
            "restartCount": restarts, "state": state, "lastState": last}])
    };
    match kubelet {
        Kubelet::Ready => json!({
            "phase": "Running",
            "conditions": [condition("PodScheduled", true), condition("Initialized", true),
                           condition("Ready", true)],
            "initContainerStatuses": init_done,
            "containerStatuses": main(true, 0, json!({"running": {}}), json!({})),
        }),
        Kubelet::Unschedulable(message) => json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": message}],
        }),
        Kubelet::CrashLoop(restarts) | Kubelet::OomKilled(restarts) => {
            let (code, reason) = match kubelet {
                Kubelet::OomKilled(_) => (137, "OOMKilled"),
                _ => (1, "Error"),
            };
            json!({
                "phase": "Running",
                "conditions": [condition("PodScheduled", true), condition("Initialized", true),
                               condition("Ready", false)],
                "initContainerStatuses": init_done,
                "containerStatuses": main(false, *restarts,
                    json!({"waiting": {"reason": "CrashLoopBackOff"}}),
                    json!({"terminated": {"exitCode": code, "reason": reason}})),
            })
        }
    }
}
