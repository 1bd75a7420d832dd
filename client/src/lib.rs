//! # q8s-client
//!
//! The client of the q8s service, shared by the CLI, the Python package and the browser
//! module so they send the same requests and show the same errors:
//!
//! - [`Client`]: the async REST client on reqwest; it builds natively and for
//!   `wasm32-unknown-unknown` (where the browser's `fetch` carries the requests);
//! - the sign-in flows ([`Client::authorize_url`], [`DevicePoll`]);
//! - natively: the configuration file and its profiles ([`config`]), streaming uploads
//!   with progress, waiting for instances, and deploying an app folder — bundle, import,
//!   launch, wait, and the end of the log when it does not come up ([`Client::deploy`]).
//!
//! The types it sends and reads, and its error ([`q8s_core::api::ApiError`]), are core's.
//!
//! ```no_run
//! # async fn demo() -> Result<(), q8s_core::api::ApiError> {
//! use q8s_client::Client;
//! use q8s_core::api::Visibility;
//! let client = Client::new("http://127.0.0.1:8008", Some("q8s_…".into()))?;
//! for app in client.apps(true, None, Default::default()).await? {
//!     println!("{} {}", app.id, app.title_and_version());
//! }
//! let instance = client.run("0b5c8c3e-…", Visibility::Private).await?;
//! println!("{}", instance.url);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod assets;
mod client;
#[cfg(not(target_family = "wasm"))]
pub mod config;
#[cfg(not(target_family = "wasm"))]
mod native;
mod oauth;
#[cfg(not(target_family = "wasm"))]
mod publish;

pub use assets::Image;
pub use client::{Client, DEFAULT_URL, InstanceList, Listed, LogStream};
pub use oauth::DevicePoll;
#[cfg(not(target_family = "wasm"))]
pub use publish::{DeployError, DeployStep, Deployment, Imported, LOG_TAIL};
