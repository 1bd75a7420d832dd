//! Several replicas on one PostgreSQL store ("several machines, no Kubernetes").
//!
//! Every replica is a node with a name (`--node-name`) and a URL the others reach it at
//! (`--advertise-url`), and runs its own instances with its local runtime. The store says on
//! which node each instance runs (its placement): only that node starts it, stops it and writes
//! its status (the store refuses status writes from any other, so a status is never written by
//! two replicas). Any replica serves the API, the page and sign-in from the shared store; for an
//! instance placed on another node it relays: proxied requests go to that node's proxy with the
//! relay key (proof that the request comes from a replica that has let the caller in), and the
//! instance actions that need its processes (logs, suspend, resume, terminate) go to that
//! node's API with the caller's own credentials.
//!
//! Each node says it is alive once a second; one node at a time leads (the store's lock). The
//! leader moves the instances that should run but are placed on a node that stopped saying so
//! for `--node-timeout` to itself and starts them — except instances with a volume: their data
//! is on the dead node's disk, so they wait for it. With an exclusive store (SQLite) there is
//! one node, which leads and runs everything: none of this runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use q8s_runtime::{InstanceStatus, Upstream};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::reconcile::{self, Pass};
use crate::state::AppState;
use crate::store::{NodeRecord, StoreResult, Stores};

pub(crate) mod relay;

/// The header a replica relays a request to another with: the relay key on proxied requests,
/// and a marker that the request must not be relayed again on API requests.
pub const RELAY_HEADER: HeaderName = HeaderName::from_static("x-q8s-relay");
/// How often a node says it is alive and tries to lead.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long where an instance runs is remembered by the proxy of another node.
const PEER_TTL: Duration = Duration::from_secs(2);

/// This replica among those sharing the store.
pub struct Node {
    /// `--node-name`.
    pub name: String,
    /// `--advertise-url`.
    pub address: String,
    /// The relay key, sent to other replicas.
    relay_key: HeaderValue,
    /// Its sha256, what relayed requests are compared against.
    relay_digest: [u8; 32],
    leading: AtomicBool,
    peers: Mutex<HashMap<Uuid, (Option<Upstream>, Instant)>>,
}

impl std::fmt::Debug for Node {
    // Hand-written: the relay key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("leading", &self.leads())
            .finish_non_exhaustive()
    }
}

/// What a request's relay header says.
#[derive(Debug, PartialEq, Eq)]
pub enum Relayed {
    /// No relay header.
    No,
    /// Relayed by a replica (the key matches).
    ByReplica,
    /// A relay header with a wrong key: not from a replica.
    Forged,
}

impl Node {
    /// This replica: `name` at `address`, with the store's relay key (made by the first replica
    /// that starts).
    pub async fn join(stores: &Stores, name: &str, address: &str) -> StoreResult<Node> {
        let key = stores
            .cluster
            .relay_key(&crate::auth::random_secret(32))
            .await?;
        let relay_key = HeaderValue::from_str(&key)
            .map_err(|_| crate::store::StoreError::Corrupt("the relay key".into()))?;
        Ok(Node {
            name: name.to_owned(),
            address: address.to_owned(),
            relay_digest: Sha256::digest(key.as_bytes()).into(),
            relay_key,
            leading: AtomicBool::new(stores.cluster.exclusive()),
            peers: Mutex::default(),
        })
    }

    /// Whether this replica leads now.
    pub fn leads(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// The relay header's value for requests this replica relays to another's proxy.
    pub fn relay_key(&self) -> &HeaderValue {
        &self.relay_key
    }

    /// Takes the relay header off `headers` (so that it never reaches an instance) and says
    /// what it was.
    pub fn relayed(&self, headers: &mut HeaderMap) -> Relayed {
        match headers.remove(RELAY_HEADER) {
            None => Relayed::No,
            // Digests compared: how long the comparison takes tells nothing of the key.
            Some(value)
                if <[u8; 32]>::from(Sha256::digest(value.as_bytes())) == self.relay_digest =>
            {
                Relayed::ByReplica
            }
            Some(_) => Relayed::Forged,
        }
    }
}

/// The node instance `id` is placed on when it is another, living one: its record.
pub(crate) async fn elsewhere(state: &AppState, id: Uuid) -> StoreResult<Option<NodeRecord>> {
    if state.store.cluster.exclusive() {
        return Ok(None);
    }
    let Some(node) = state.store.cluster.placement(id).await? else {
        return Ok(None);
    };
    if node == state.node.name {
        return Ok(None);
    }
    let nodes = state.store.cluster.nodes(state.config.node_timeout).await?;
    Ok(nodes.into_iter().find(|n| n.name == node))
}

/// Where the proxy reaches instance `id` when another node runs it: that node's proxy
/// (remembered for [`PEER_TTL`]).
pub(crate) async fn peer_upstream(state: &AppState, id: Uuid) -> Option<Upstream> {
    if let Some(known) = remembered_peer(state, id) {
        return known;
    }
    let upstream = match elsewhere(state, id).await {
        Ok(node) => node.and_then(|n| upstream_of(&n.address)),
        Err(e) => {
            tracing::warn!(instance = %id, error = %e, "finding the replica that runs an instance");
            None
        }
    };
    let mut peers = state.node.peers.lock().unwrap_or_else(|e| e.into_inner());
    if peers.len() > 10_000 {
        peers.retain(|_, (_, at)| at.elapsed() < PEER_TTL);
    }
    peers.insert(id, (upstream.clone(), Instant::now()));
    upstream
}

/// What [`peer_upstream`] found lately, without asking the store: `Some(None)` when the
/// instance was found to run nowhere else.
pub(crate) fn remembered_peer(state: &AppState, id: Uuid) -> Option<Option<Upstream>> {
    if state.store.cluster.exclusive() {
        return Some(None);
    }
    let peers = state.node.peers.lock().unwrap_or_else(|e| e.into_inner());
    peers
        .get(&id)
        .filter(|(_, at)| at.elapsed() < PEER_TTL)
        .map(|(upstream, _)| upstream.clone())
}

/// The proxy's upstream for a replica's `--advertise-url` (`http://host:port`).
fn upstream_of(address: &str) -> Option<Upstream> {
    let url = url::Url::parse(address).ok()?;
    let port = url.port_or_known_default()?;
    match url.host()? {
        url::Host::Ipv4(ip) => Some(Upstream::host((ip, port).into())),
        url::Host::Ipv6(ip) => Some(Upstream::host((ip, port).into())),
        url::Host::Domain(name) => Some(Upstream::named(name, port)),
    }
}

/// Places instance `id` on this node, wherever it was (the caller is about to act on it here:
/// its node is gone, or never was). Another node that still runs it stops it at its next
/// reconciliation, and can no longer write its status.
pub(crate) async fn take(state: &AppState, id: Uuid) -> StoreResult<()> {
    let cluster = &state.store.cluster;
    // A few tries: another replica may move it at the same moment (then the last move wins
    // the next time someone acts on it).
    for _ in 0..3 {
        let now = cluster.placement(id).await?;
        if now.as_deref() == Some(state.node.name.as_str()) {
            return Ok(());
        }
        if cluster.place(id, now.as_deref(), &state.node.name).await? {
            tracing::info!(instance = %id, from = ?now, "instance taken over by this replica");
            return Ok(());
        }
    }
    Ok(())
}

/// Says this node is alive every second and, while it leads, takes over the instances of
/// nodes that are gone; until aborted. Not run on an exclusive store.
pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let cluster = &state.store.cluster;
        if let Err(e) = cluster
            .heartbeat(&state.node.name, &state.node.address)
            .await
        {
            tracing::warn!(error = %e, "saying this replica is alive");
        }
        let leads = match cluster.lead().await {
            Ok(leads) => leads,
            Err(e) => {
                tracing::warn!(error = %e, "trying to lead");
                false
            }
        };
        if leads != state.node.leading.swap(leads, Ordering::Relaxed) {
            if leads {
                tracing::info!(node = %state.node.name, "this replica leads now");
            } else {
                tracing::warn!(node = %state.node.name, "this replica no longer leads");
            }
        }
        if leads {
            match adopt_orphans(&state).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(
                        instances = n,
                        "took over instances of replicas that are gone"
                    );
                    if let Err(e) = reconcile::reconcile(&state, Pass::Periodic).await {
                        tracing::warn!(error = %e, "starting the instances taken over");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "taking over instances of replicas that are gone")
                }
            }
        }
    }
}

/// Moves to this node the instances that should run on a node that is gone (or on none),
/// except those with a volume (their data is on that node's disk) unless the runtime is
/// shared (a cluster's volumes are no node's); how many moved.
async fn adopt_orphans(state: &AppState) -> anyhow::Result<usize> {
    let cluster = &state.store.cluster;
    let mut adopted = 0;
    for (id, node) in cluster.orphans(state.config.node_timeout).await? {
        let Some(instance) = state.store.catalog.instance(id).await? else {
            continue;
        };
        let Some(app) = state.store.catalog.app(instance.app_id).await? else {
            continue;
        };
        let shared = state.runtime.shared();
        if let Some(gone) = node.as_deref()
            && app.manifest.runtime.volume_mount.is_some()
            && !shared
        {
            // Its volume is on the gone node's disk: it waits for that node to come back, and
            // the leader says so in its stead (the node writes again when it is back).
            let message = format!("waiting for replica `{gone}`, which keeps its volume");
            if instance.status != InstanceStatus::Pending
                || instance.status_message.as_deref() != Some(message.as_str())
            {
                state
                    .store
                    .catalog
                    .set_instance_status(
                        id,
                        gone,
                        InstanceStatus::Pending,
                        Some(&message),
                        instance.restarts,
                    )
                    .await?;
            }
            continue;
        }
        if !cluster.place(id, node.as_deref(), &state.node.name).await? {
            continue;
        }
        if shared {
            // The cluster runs it whichever replica writes its status: nothing moves but the
            // writer, which says what its runtime sees.
            if let Some(seen) = state.runtime.observe(id).await? {
                state
                    .store
                    .catalog
                    .set_instance_status(id, &state.node.name, seen.status, None, seen.restarts)
                    .await?;
            }
            adopted += 1;
            continue;
        }
        let from = node.as_deref().unwrap_or("no replica");
        state
            .store
            .catalog
            .set_instance_status(
                id,
                &state.node.name,
                InstanceStatus::Pending,
                Some(&format!("moving from {from}, which is gone")),
                instance.restarts,
            )
            .await?;
        adopted += 1;
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_addresses_become_upstreams() {
        let key = |address: &str| upstream_of(address).map(|u| u.key());
        assert_eq!(
            key("http://127.0.0.1:8010"),
            Some(Upstream::host(([127, 0, 0, 1], 8010).into()).key())
        );
        assert!(upstream_of("http://q8s-b.internal:8008").is_some());
        assert!(upstream_of("not a url").is_none());
    }
}
