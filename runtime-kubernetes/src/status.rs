//! The one place an instance's status comes from on Kubernetes: [`derive`] reads its Deployment
//! and Pods (as a watch or a list gives them) and says what the local runtime would report —
//! `PENDING` while no node takes the pod (with the scheduler's message), `STARTING` while the
//! init container prepares the bundle and environment or the app is not ready yet, `RUNNING`
//! when the pod is ready, `FAILED` for image and configuration errors and for a crash loop past
//! the threshold, `SUSPENDED` at zero replicas. Crashes are described like the local runtime's
//! (`OOMKilled: the instance exceeded its MemoryLimit 512 MiB …`), with the restart count.
//!
//! Nothing an app writes reaches a message: a container's termination message is the app's own
//! file, so only the reason and exit code are used.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use q8s_core::quantity::{Quantity, binary_size};
use q8s_runtime::{InstanceStatus, StatusUpdate};

use crate::manifest::{INSTALL_CONTAINER, INSTANCE_CONTAINER};

/// Waiting reasons that no waiting cures: the image or the pod's configuration is wrong.
const HOPELESS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// The instance's status from its Deployment and the Pods that carry its label; `None` when
/// there is no Deployment (the instance is not this runtime's, or it was terminated).
/// `max_restarts`: restarts of a crash-looping instance after which it is `FAILED`.
pub fn derive(
    deployment: Option<&Deployment>,
    pods: &[Pod],
    max_restarts: u32,
) -> Option<StatusUpdate> {
    let deployment = deployment?;
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let live: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    if replicas == 0 {
        let message = (!pods.is_empty()).then(|| "waiting for the pod to stop".to_owned());
        return Some(update(InstanceStatus::Suspended, message, 0));
    }
    // The newest pod is the one the Deployment wants; older ones are on their way out.
    let Some(pod) = live
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone())
    else {
        let message = replica_failure(deployment).unwrap_or("waiting for a pod".to_owned());
        return Some(update(InstanceStatus::Pending, Some(message), 0));
    };
    Some(of_pod(pod, max_restarts))
}

fn of_pod(pod: &Pod, max_restarts: u32) -> StatusUpdate {
    let status = pod.status.clone().unwrap_or_default();
    let init = status.init_container_statuses.unwrap_or_default();
    let main = status.container_statuses.unwrap_or_default();
    let restarts: u32 = init
        .iter()
        .chain(&main)
        .map(|c| u32::try_from(c.restart_count).unwrap_or(0))
        .sum();
    let conditions = status.conditions.unwrap_or_default();
    let condition = |kind: &str| conditions.iter().find(|c| c.type_ == kind);

    if let Some(c) = condition("PodScheduled")
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
    {
        let message = c
            .message
            .clone()
            .unwrap_or("no node can run the instance".into());
        return update(InstanceStatus::Pending, Some(message), restarts);
    }
    if status.phase.as_deref() == Some("Failed") {
        // Evicted or similar; the Deployment makes a new pod.
        let why = status.reason.unwrap_or("the pod failed".into());
        return update(
            InstanceStatus::Starting,
            Some(format!("{why}; a new pod replaces it")),
            restarts,
        );
    }
    for c in init.iter().chain(&main) {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if HOPELESS.contains(&reason) {
            let detail = waiting
                .message
                .as_deref()
                .map_or(String::new(), |m| format!(": {m}"));
            let message = format!("{}: {reason}{detail}", role(&c.name));
            return update(InstanceStatus::Failed, Some(message), restarts);
        }
        if reason == "CrashLoopBackOff" {
            let crash = last_crash(pod, c).unwrap_or_else(|| format!("{} crashed", role(&c.name)));
            let n = u32::try_from(c.restart_count).unwrap_or(0);
            return if n >= max_restarts {
                let message = format!("{crash}; gave up after {n} restarts");
                update(InstanceStatus::Failed, Some(message), restarts)
            } else {
                update(
                    InstanceStatus::Starting,
                    Some(format!("{crash}; restart {restarts}")),
                    restarts,
                )
            };
        }
    }
    let ready = condition("Ready").is_some_and(|c| c.status == "True");
    if ready {
        return update(InstanceStatus::Running, None, restarts);
    }
    let preparing = init
        .iter()
        .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()));
    if preparing {
        let message = "preparing: fetching the bundle and building the environment";
        return update(InstanceStatus::Starting, Some(message.into()), restarts);
    }
    // Restarted after a crash and not answering yet: say why it restarted.
    let message = main
        .iter()
        .chain(&init)
        .find_map(|c| last_crash(pod, c))
        .map(|crash| format!("{crash}; restart {restarts}"));
    update(InstanceStatus::Starting, message, restarts)
}

/// How the container's last run ended, as the local runtime says it.
fn last_crash(pod: &Pod, c: &ContainerStatus) -> Option<String> {
    let ended = c.last_state.as_ref()?.terminated.as_ref()?;
    let exit = format!("{} exited with code {}", role(&c.name), ended.exit_code);
    if ended.reason.as_deref() == Some("OOMKilled") {
        let limit = memory_limit(pod, &c.name)
            .map(binary_size)
            .unwrap_or_default();
        return Some(format!(
            "OOMKilled: the instance exceeded its MemoryLimit {limit} ({exit})"
        ));
    }
    Some(match ended.reason.as_deref() {
        Some(reason) if reason != "Error" => format!("{exit} ({reason})"),
        _ => exit,
    })
}

/// What the container is, in the words of the local runtime's messages.
fn role(container: &str) -> &str {
    match container {
        INSTALL_CONTAINER => "the install",
        INSTANCE_CONTAINER => "the instance",
        other => other,
    }
}

/// The container's `limits.memory` in bytes, from the pod's own spec.
fn memory_limit(pod: &Pod, container: &str) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    let c = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container)?;
    let limit = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
    Quantity::parse(&limit.0).ok()?.whole_bytes()
}

/// Why the Deployment cannot make its pod (a quota, a policy), if it says.
fn replica_failure(deployment: &Deployment) -> Option<String> {
    let conditions = deployment.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        .and_then(|c| c.message.clone())
}

fn update(status: InstanceStatus, message: Option<String>, restarts: u32) -> StatusUpdate {
    StatusUpdate {
        status,
        message,
        restarts,
    }
}
