//! What server replicas sharing one store know of each other ([`Cluster`]).

use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreResult;

/// A server replica that shares the store (a node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its `--node-name`.
    pub name: String,
    /// The URL the other replicas reach it at (`--advertise-url`).
    pub address: String,
    /// When it last said it was alive.
    pub seen_at: OffsetDateTime,
}

/// What server replicas sharing one store know of each other: who is alive and where, which
/// of them leads, and on which of them each instance runs (its placement). Instances are
/// placed when launched ([`NewInstance::node`]) and moved only by [`Cluster::place`], which
/// compares and sets, so two replicas can never both take an instance.
#[async_trait::async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// Whether one server at a time can use this store (SQLite: its file is on one machine and
    /// opened by one server); every placement is then that server's.
    fn exclusive(&self) -> bool;
    /// Records that `name`, reached at `address`, is alive now.
    async fn heartbeat(&self, name: &str, address: &str) -> StoreResult<()>;
    /// The nodes that said they were alive within `alive_within` (by the database's clock,
    /// so the replicas' clocks need not agree), by name.
    async fn nodes(&self, alive_within: std::time::Duration) -> StoreResult<Vec<NodeRecord>>;
    /// Tries to become, or stay, the leader: true while this store handle holds the lead (on
    /// PostgreSQL a session advisory lock, released by the database when the holder's
    /// connection dies; an exclusive store always leads).
    async fn lead(&self) -> StoreResult<bool>;
    /// The key replicas authenticate relayed requests with: the stored one, or `candidate`
    /// when none is stored yet (the first replica's wins).
    async fn relay_key(&self, candidate: &str) -> StoreResult<String>;
    /// The node instance `id` is placed on (`None`: unknown instance, or never placed).
    async fn placement(&self, id: Uuid) -> StoreResult<Option<String>>;
    /// Moves instance `id` to `to` if it is now placed on `from` (`None`: not placed); false
    /// when it was not (another replica moved it first, or it is gone).
    async fn place(&self, id: Uuid, from: Option<&str>, to: &str) -> StoreResult<bool>;
    /// Places every instance on `node` (what an exclusive store's server does at start);
    /// returns how many moved.
    async fn place_all(&self, node: &str) -> StoreResult<u64>;
    /// The instances whose desired state is running but whose node has not said it was alive
    /// within `alive_within` (or that were never placed: `None`), with that node, by launch
    /// time: what the leader takes over. Answered in the database, so the leader's check
    /// every second does not read every running instance.
    async fn orphans(
        &self,
        alive_within: std::time::Duration,
    ) -> StoreResult<Vec<(Uuid, Option<String>)>>;
}
