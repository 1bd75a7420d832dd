//! What a replica holds of its machine's memory (`GET /admin/capacity`): the page shows it to
//! admins, `/metrics` says the same in gauges.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The answer of `GET /admin/capacity`: this replica's memory admission and its instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapacityReport {
    /// The replica that answered (its `--node-name`).
    pub node: String,
    /// Memory the instances may reserve in all (`--memory-capacity`, by default the
    /// machine's memory less room for the host); `null` where the runtime does not admit by
    /// memory (a cluster's scheduler does).
    pub capacity_bytes: Option<u64>,
    /// What the admitted instances reserve (`MemoryReservation`, else `MemoryLimit`).
    pub reserved_bytes: u64,
    /// What they use now (their working set); `null` when it cannot be read.
    pub used_bytes: Option<u64>,
    /// Instances admitted on this replica (starting or running).
    pub admitted: u32,
    /// Instances waiting for memory to start.
    pub waiting: u32,
    /// Every replica's instances by status (`RUNNING`, `SUSPENDED`, …), from the store.
    pub instances: BTreeMap<String, u64>,
    /// Of the `SUSPENDED` ones, those asleep for being idle (`--idle-suspend`): they hold no
    /// memory and wake on their next request.
    pub sleeping: u64,
}
