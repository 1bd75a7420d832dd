//! The q8s REST API as data: its JSON types ([`App`], [`Instance`], …), the errors a call can
//! end with ([`ApiError`], carrying the server's `code`, `message` and `details`), what the
//! sign-in flows agree on ([`Pkce`], [`CLIENT_ID`]), and deploy bundles ([`DeployTree`]).
//!
//! The server answers with these types and every client (`q8s-client`, used by the CLI, the
//! Python package and the browser module) reads them, so both ends agree on the wire format.
//!
//! ```
//! use q8s_core::api::{ApiError, Visibility};
//! assert_eq!("ALL_USERS".parse::<Visibility>().unwrap(), Visibility::AllUsers);
//! let body = r#"{"error": {"code": "app-version-exists", "message": "ai.x 1.0.0 exists"}}"#;
//! let err = ApiError::from_response(409, "http://q8s.test/api/v1/apps", body);
//! assert_eq!(err.code(), "app-version-exists");
//! ```

mod capacity;
mod code;
mod deploy;
mod digest;
mod error;
mod list;
mod oauth;
mod pkce;
mod secret;
mod types;

pub use capacity::CapacityReport;
pub use code::{ErrorCode, Surface, UnknownCode};
#[cfg(not(target_family = "wasm"))]
pub use deploy::build_deploy_bundle;
pub use deploy::{DeployTree, deploy_manifest};
pub use digest::{CONTENT_DIGEST_HEADER, REPR_DIGEST_HEADER, declared_sha256, repr_digest};
pub use error::ApiError;
pub use list::{
    AppVersions, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, NEXT_CURSOR_HEADER, StatusFilter,
    TERMINATED_OMITTED_HEADER, id_prefix_range,
};
pub use oauth::Pkce;
pub use pkce::{CLIENT_ID, is_pkce_text, pkce_challenge};
pub use secret::{SecretAccess, SecretAccessChange, SecretUsers, SecretWrite};
pub use types::AppName;
pub use types::{
    App, BundleRef, CreatedToken, CreatedUser, DeviceAuthorization, EnvVar, ErrorBody, ErrorDetail,
    Instance, InstanceStatus, Me, OAuthErrorBody, RuntimeSettings, SecretInfo, Token, TokenAnswer,
    UnknownValue, User, Visibility,
};
