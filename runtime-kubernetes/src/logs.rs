//! Instance logs on a cluster: `pods/log` of the newest pod's `instance` container while there
//! is a pod, and the last lines kept in memory when a stop takes the pod away, so `instance
//! logs` still shows why a suspended or terminated instance ended. Kept for the most recently
//! stopped instances only, and lost with the server process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use futures::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use q8s_runtime::{LogStream, RuntimeError};
use uuid::Uuid;

use crate::apply::{Cluster, ClusterError};
use crate::manifest::{INSTALL_CONTAINER as INSTALL, INSTANCE_CONTAINER as INSTANCE};

/// Lines kept of a stopped instance's log.
const KEPT_LINES: usize = 200;
/// Stopped instances whose lines are kept (the oldest are forgotten first).
const KEPT_INSTANCES: usize = 256;

/// The kept tails.
#[derive(Default)]
pub(crate) struct KeptTails {
    tails: Mutex<Tails>,
}

#[derive(Default)]
struct Tails {
    lines: HashMap<Uuid, Vec<String>>,
    /// Instances in the order their lines were first kept.
    order: VecDeque<Uuid>,
}

impl KeptTails {
    /// Reads and keeps the last lines of the instance's pod before a stop takes it away
    /// (nothing when it has no pod or the log cannot be read: a stop never fails for it).
    pub(crate) async fn keep(&self, cluster: &Cluster, instance_id: Uuid) {
        let Ok(Some(pod)) = newest_pod(cluster, instance_id).await else {
            return;
        };
        let Ok(stream) = pod_log(cluster, &pod, INSTANCE, Some(KEPT_LINES), false).await else {
            return;
        };
        let lines = collect(stream).await;
        let mut tails = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        if tails.lines.insert(instance_id, lines).is_none() {
            tails.order.push_back(instance_id);
        }
        while tails.order.len() > KEPT_INSTANCES {
            if let Some(oldest) = tails.order.pop_front() {
                tails.lines.remove(&oldest);
            }
        }
    }

    /// The kept lines of the instance (the last `tail`), empty when none are kept.
    fn get(&self, instance_id: Uuid, tail: Option<usize>) -> Vec<String> {
        let tails = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        let lines = tails.lines.get(&instance_id).cloned().unwrap_or_default();
        let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
        lines[skip..].to_vec()
    }
}

/// The instance's log: its pod's when it has one — the install's output (the `prepare` init
/// container) first, then the instance's — else the kept tail (which ends at once, even when
/// following: nothing will be added to it). With a `tail`, the last lines of the two together;
/// following with a `tail`, the instance's only.
pub(crate) async fn instance_log(
    cluster: &Cluster,
    kept: &KeptTails,
    instance_id: Uuid,
    tail: Option<usize>,
    follow: bool,
) -> Result<LogStream, RuntimeError> {
    let Some(pod) = newest_pod(cluster, instance_id).await? else {
        let lines = kept.get(instance_id, tail);
        return Ok(lines_stream(lines));
    };
    // The install's output is short and finished (or finishing): read it whole. A pod whose
    // init container cannot be read (gone, not started) just has none.
    let install = match pod_log(cluster, &pod, INSTALL, None, false).await {
        Ok(stream) => collect(stream).await,
        Err(_) => Vec::new(),
    };
    if follow {
        let prefix = if tail.is_none() { install } else { Vec::new() };
        let rest = pod_log(cluster, &pod, INSTANCE, tail, true).await?;
        return Ok(lines_stream(prefix).chain(rest).boxed());
    }
    let own = collect(pod_log(cluster, &pod, INSTANCE, tail, false).await?).await;
    let room = tail.map_or(install.len(), |t| t.saturating_sub(own.len()));
    let mut lines = install[install.len().saturating_sub(room)..].to_vec();
    lines.extend(own);
    Ok(lines_stream(lines))
}

fn lines_stream(lines: Vec<String>) -> LogStream {
    futures::stream::iter(lines.into_iter().map(|l| Ok(bytes::Bytes::from(l)))).boxed()
}

async fn collect(stream: LogStream) -> Vec<String> {
    stream
        .filter_map(|line| async move { line.ok() })
        .map(|line| String::from_utf8_lossy(&line).into_owned())
        .collect()
        .await
}

/// The name of the instance's newest pod that is not being deleted.
async fn newest_pod(cluster: &Cluster, instance_id: Uuid) -> Result<Option<String>, ClusterError> {
    let pods = cluster.pods(instance_id).await?;
    Ok(pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .max_by_key(|p| p.metadata.creation_timestamp.clone())
        .and_then(|p| p.metadata.name.clone()))
}

async fn pod_log(
    cluster: &Cluster,
    pod: &str,
    container: &str,
    tail: Option<usize>,
    follow: bool,
) -> Result<LogStream, ClusterError> {
    let api: Api<Pod> = Api::namespaced(cluster.client().clone(), cluster.namespace());
    let params = LogParams {
        container: Some(container.into()),
        follow,
        tail_lines: tail.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        ..LogParams::default()
    };
    let reader = api
        .log_stream(pod, &params)
        .await
        .map_err(|err| ClusterError::from_kube(format!("read the log of pod {pod}"), err))?;
    let lines = reader
        .lines()
        .map_ok(|line| bytes::Bytes::from(format!("{line}\n")));
    Ok(lines.boxed())
}
