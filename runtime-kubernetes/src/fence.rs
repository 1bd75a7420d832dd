//! Fences: after the runtime changes an instance (a start, a suspend, a terminate) and reports
//! what it did, its caches may still show the instance as it was before, for as long as the
//! watch events of that change take to arrive. A [`Fence`] holds back the statuses derived for
//! that instance until the caches show the change — so a status read from before a stop is
//! never reported after it. A fence gives up after [`FENCE_LIMIT`] (the object changed again
//! behind q8s's back, or a watch is far behind): the caches are then believed again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use q8s_runtime::StopMode;

/// How long a fence holds at most.
pub(crate) const FENCE_LIMIT: Duration = Duration::from_secs(30);

/// What the caches must show before the instance's statuses are reported again.
pub(crate) struct Fence {
    until: Instant,
    wait_for: WaitFor,
}

enum WaitFor {
    /// The Deployment as applied (its uid, its generation or a later one), and none of these
    /// pods (the uids of those a restart deleted).
    Applied {
        uid: Option<String>,
        generation: i64,
        deleted_pods: Vec<String>,
    },
    /// The Deployment at zero replicas, or gone.
    Suspended,
    /// The Deployment gone.
    Terminated,
}

impl Fence {
    /// After applying an instance's objects: `applied` is the Deployment as the API server
    /// answered the apply, `deleted_pods` the uids of the pods deleted after it.
    pub(crate) fn applied(applied: &Deployment, deleted_pods: Vec<String>) -> Fence {
        Fence::new(WaitFor::Applied {
            uid: applied.metadata.uid.clone(),
            generation: applied.metadata.generation.unwrap_or(0),
            deleted_pods,
        })
    }

    /// After a stop.
    pub(crate) fn stopped(mode: StopMode) -> Fence {
        Fence::new(match mode {
            StopMode::Suspend => WaitFor::Suspended,
            StopMode::Terminate => WaitFor::Terminated,
        })
    }

    fn new(wait_for: WaitFor) -> Fence {
        Fence {
            until: Instant::now() + FENCE_LIMIT,
            wait_for,
        }
    }

    /// Whether the caches (the instance's Deployment and pods there) show the change, or the
    /// fence has held long enough.
    pub(crate) fn passed(&self, deployment: Option<&Deployment>, pods: &[Arc<Pod>]) -> bool {
        if Instant::now() >= self.until {
            return true;
        }
        match &self.wait_for {
            WaitFor::Applied {
                uid,
                generation,
                deleted_pods,
            } => {
                let Some(deployment) = deployment else {
                    return false;
                };
                let meta = &deployment.metadata;
                let same = uid.is_none() || meta.uid == *uid;
                let caught_up = meta.generation.unwrap_or(0) >= *generation;
                let old_pods_gone = pods.iter().all(|p| {
                    let uid = p.metadata.uid.as_deref().unwrap_or_default();
                    !deleted_pods.iter().any(|d| d == uid)
                });
                same && caught_up && old_pods_gone
            }
            WaitFor::Suspended => {
                deployment.is_none_or(|d| d.spec.as_ref().and_then(|s| s.replicas) == Some(0))
            }
            WaitFor::Terminated => deployment.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DeploymentSpec;

    use super::*;

    fn deployment(uid: &str, generation: i64, replicas: i32) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.uid = Some(uid.into());
        d.metadata.generation = Some(generation);
        d.spec = Some(DeploymentSpec {
            replicas: Some(replicas),
            ..DeploymentSpec::default()
        });
        d
    }

    fn pod(uid: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.uid = Some(uid.into());
        Arc::new(p)
    }

    #[test]
    fn an_apply_is_seen_at_its_generation_with_the_deleted_pods_gone() {
        let fence = Fence::applied(&deployment("u", 3, 1), vec!["old".into()]);
        let none: [Arc<Pod>; 0] = [];
        assert!(!fence.passed(None, &none));
        assert!(!fence.passed(Some(&deployment("u", 2, 0)), &none));
        assert!(!fence.passed(Some(&deployment("other", 3, 1)), &none));
        assert!(!fence.passed(Some(&deployment("u", 3, 1)), &[pod("old")]));
        assert!(fence.passed(Some(&deployment("u", 3, 1)), &[pod("new")]));
        assert!(fence.passed(Some(&deployment("u", 4, 1)), &none));
    }

    #[test]
    fn stops_are_seen_at_zero_replicas_or_when_gone() {
        let none: [Arc<Pod>; 0] = [];
        let suspended = Fence::stopped(StopMode::Suspend);
        assert!(!suspended.passed(Some(&deployment("u", 1, 1)), &none));
        assert!(suspended.passed(Some(&deployment("u", 2, 0)), &none));
        assert!(suspended.passed(None, &none));
        let terminated = Fence::stopped(StopMode::Terminate);
        assert!(!terminated.passed(Some(&deployment("u", 2, 0)), &none));
        assert!(terminated.passed(None, &none));
    }

    #[test]
    fn a_fence_gives_up_after_its_limit() {
        let mut fence = Fence::stopped(StopMode::Terminate);
        fence.until = Instant::now();
        assert!(fence.passed(Some(&deployment("u", 1, 1)), &[]));
    }
}
