//! The q8s REST API from the client side: its JSON types ([`App`], [`Instance`], …), an async
//! [`Client`] on reqwest that builds natively and for `wasm32-unknown-unknown`, typed errors
//! ([`ApiError`]) carrying the server's `code`, `message` and `details`, the sign-in flows
//! ([`Pkce`], [`DevicePoll`]), deploy bundles ([`DeployTree`]), and natively the configuration
//! file ([`config`]), streaming uploads with progress and waiting for instances.
//!
//! The CLI, the Python package and the browser module all call this client, so they send the
//! same requests and show the same errors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), q8s_core::api::ApiError> {
//! use q8s_core::api::{Client, Visibility};
//! let client = Client::new("http://127.0.0.1:8008", Some("q8s_…".into()))?;
//! for app in client.apps(true).await? {
//!     println!("{} {}", app.id, app.title_and_version());
//! }
//! let instance = client.run("0b5c8c3e-…", Visibility::Private).await?;
//! println!("{}", instance.url);
//! # Ok(()) }
//! ```

mod assets;
mod client;
#[cfg(not(target_family = "wasm"))]
pub mod config;
mod deploy;
mod error;
#[cfg(not(target_family = "wasm"))]
mod native;
mod oauth;
mod pkce;
#[cfg(not(target_family = "wasm"))]
mod publish;
mod secret;
mod types;

pub use assets::Image;
pub use client::{Client, DEFAULT_URL, LogStream};
#[cfg(not(target_family = "wasm"))]
pub use deploy::build_deploy_bundle;
pub use deploy::{DeployTree, deploy_manifest};
pub use error::ApiError;
pub use oauth::{DevicePoll, Pkce};
pub use pkce::{CLIENT_ID, is_pkce_text, pkce_challenge};
#[cfg(not(target_family = "wasm"))]
pub use publish::{DeployError, Imported};
pub use secret::{SecretAccess, SecretAccessChange, SecretUsers, SecretWrite};
pub use types::AppName;
pub use types::{
    App, BundleRef, CreatedToken, CreatedUser, DeviceAuthorization, EnvVar, ErrorBody, ErrorDetail,
    Instance, InstanceStatus, Me, OAuthErrorBody, RuntimeSettings, SecretInfo, TokenAnswer,
    UnknownValue, User, Visibility,
};
