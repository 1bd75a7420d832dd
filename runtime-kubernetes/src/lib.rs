//! # q8s-runtime-kubernetes
//!
//! The Kubernetes runtime's parts (`scale-out.md`, "Kubernetes mapping"; `docs/kubernetes.md`):
//! - [`manifest`]: an instance's objects as pure functions of its spec and the
//!   [`KubernetesSettings`] (golden files in `tests/vectors/kubernetes/`);
//! - [`status`]: the one function that derives an instance's status from its Deployment and
//!   Pods;
//! - [`apply`]: server-side apply of those objects under the field manager `q8s`, scaling to
//!   zero, and deletion by label, over any [`kube::Client`];
//! - [`runtime`]: [`KubernetesRuntime`], the `Runtime` trait over those parts, its statuses and
//!   upstreams read from watch caches (`caches.rs`), fenced after its own changes
//!   (`fence.rs`);
//! - [`fake_api`]: a stateful fake of the API server for tests (a tower service under a
//!   `kube::Client`).
//!
//! A crate of its own so that building the rest of the workspace does not compile `kube` and
//! `k8s-openapi` (the largest crates q8s would depend on). It picks no Kubernetes minor: the
//! binary does (`k8s-openapi`'s `v1_*` feature); its tests use `v1_33`.

pub mod apply;
mod caches;
pub mod connect;
pub mod fake_api;
mod fence;
pub mod labels;
mod logs;
pub mod manifest;
pub mod runtime;
mod settings;
pub mod status;

pub use runtime::KubernetesRuntime;
pub use settings::{
    DEFAULT_EGRESS_DENIED, DnsPods, KubernetesSettings, MIN_EPHEMERAL_STORAGE, check_cidr,
    check_cpu_request, check_egress_denied, check_ephemeral_storage, check_namespace,
};
