//! The launcher of an instance's pod (`q8s-launcher`, `deploy/runtime/Dockerfile`), what the
//! Kubernetes runtime's pod spec runs (`runtime-kubernetes/src/manifest/pod.rs`):
//! [`prepare()`] in the init container — the bundle fetched with the instance's download token,
//! checked, unpacked, the environment built — and [`run()`] in the instance's container — Qd and
//! the app. Both use [`crate::app_process`], as the local runtime does, so an instance's
//! install and processes are the same wherever it runs; what differs is only the isolation
//! around them (the local runtime's sandboxes, the pod's security context).

mod prepare;
mod run;

pub use prepare::{BundleFetch, Folders, install_constraints, prepare};
pub use run::{RunSpec, run};
