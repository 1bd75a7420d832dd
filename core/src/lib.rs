//! # q8s-core
//!
//! The one implementation of every q8s rule, shared by the CLI, the server,
//! the Python package and the WebAssembly module:
//!
//! - [`manifest`]: find the manifest (`q-app.toml`, `wave-app.toml` or
//!   `app.toml`), parse and validate it into a [`Manifest`] and
//!   [`Diagnostic`]s;
//! - [`requirements`]: check `requirements.txt` the way uv will read it;
//! - [`quantity`]: Kubernetes resource quantities (`500Mi`, `1G`, `1e3`);
//! - [`duration`]: durations in settings and manifests (`30m`, `1h30m`);
//! - [`select`]: which files of an app folder go into a bundle, and why
//!   (`.gitignore`, `.appignore`, `.q8signore`);
//! - [`archive`]: the deterministic zip writer and the strict reader for
//!   untrusted archives;
//! - [`bundle`]: building a `.qz` from a folder, checking a bundle's contents,
//!   deploy versions;
//! - [`constraints`]: known-good upper bounds for environments of older
//!   `h2o-wave` releases;
//! - [`api`]: the REST types of the q8s service and its errors (the client is `q8s-client`).
//!
//! The crate builds for `wasm32-unknown-unknown`; filesystem walking, parallel
//! compression and extraction are native-only.
#![deny(missing_docs)]

pub mod api;
pub mod archive;
pub mod bundle;
pub mod constraints;
pub mod diagnostic;
pub mod duration;
pub mod manifest;
pub mod quantity;
pub mod requirements;
pub mod select;

pub use diagnostic::{Diagnostic, RenderOptions, Severity, has_errors, render};
pub use manifest::{Manifest, ManifestReport, validate_manifest};
