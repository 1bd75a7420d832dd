//! The one list of error codes: every stable kebab-case `code` a q8s error can carry, with
//! the HTTP status the server answers it with and what a person can do about it.
//!
//! Two parts, one enum. The **server codes** have a status: they are the `error.code` of an
//! API answer (`{"error": {"code", "message", "details"}}`), and the server can make an API
//! error only from one of them. The **client codes** have none: the clients (CLI, Python,
//! browser) make them themselves, for a server they cannot reach, a sign-in that ends without
//! a token, a deploy whose instance fails, a file they cannot read.
//!
//! `docs/api.md` lists both parts, and the Python (`q8s.ErrorCode`) and TypeScript
//! (`Q8sErrorCode`) types list every code; tests check all three against [`ErrorCode::ALL`].
//!
//! ```
//! use q8s_core::api::ErrorCode;
//! let code: ErrorCode = "app-version-exists".parse().unwrap();
//! assert_eq!(code.status(), Some(409));
//! assert_eq!(code.hint(), Some("bump Version in q-app.toml"));
//! assert_eq!(ErrorCode::Unreachable.status(), None);
//! ```

/// Writes the enum, [`ErrorCode::ALL`] and the per-code tables from one row per code.
macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $code:literal, $status:expr, $hint:expr;
    )*) => {
        /// A stable error code (see the [module documentation](self)).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, server codes first, in the order of `docs/api.md`.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it is sent and shown, e.g. `app-version-exists`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status the server answers with; `None` for the codes the clients make.
            pub const fn status(self) -> Option<u16> {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// What a person can do about it, for the codes where there is something to say.
            pub const fn hint(self) -> Option<&'static str> {
                match self {
                    $(ErrorCode::$variant => $hint,)*
                }
            }
        }
    };
}

error_codes! {
    // Server codes: the API's `error.code`, with the status it comes with.

    /// 400: reading the uploaded body failed (the upload broke off).
    UploadFailed = "upload-failed", Some(400), None;
    /// 400: two different `q8s_session` cookies came with the request.
    ConflictingSessionCookies = "conflicting-session-cookies", Some(400),
        Some("sign out in the browser (or clear this site's cookies), then sign in again");
    /// 400: a list's `cursor` that this server did not give for this list.
    InvalidCursor = "invalid-cursor", Some(400),
        Some("start the list again without `cursor`, then pass on the `q8s-next-cursor` of each page");
    /// 401: no valid credentials.
    Unauthorized = "unauthorized", Some(401),
        Some("run `q8s-cli config setup` to sign in again (or set Q8S_TOKEN)");
    /// 403: signed in, but not allowed.
    Forbidden = "forbidden", Some(403), None;
    /// 403: the App.Name belongs to another user.
    AppNameTaken = "app-name-taken", Some(403),
        Some("choose another Name in q-app.toml, or ask an admin to run `q8s-cli admin app transfer NAME USER`");
    /// 403: a launch names a secret the app's user may not use in it.
    SecretForbidden = "secret-forbidden", Some(403),
        Some("an admin can allow it with `q8s-cli admin secret access NAME --users USER` (and `--apps APP` if it is kept for other apps)");
    /// 403: a state change with the session cookie that does not come from q8s's own pages.
    CrossOriginRequest = "cross-origin-request", Some(403),
        Some("use q8s's own pages, or send an API token (Authorization: Bearer) instead of the session cookie");
    /// 404: it does not exist, or the caller may not see it.
    NotFound = "not-found", Some(404), None;
    /// 409: that app name and version exist.
    AppVersionExists = "app-version-exists", Some(409), Some("bump Version in q-app.toml");
    /// 409: the app has instances that are neither terminated nor failed.
    AppHasInstances = "app-has-instances", Some(409),
        Some("terminate its instances first (see `q8s-cli instance list`)");
    /// 409: a user of that name exists.
    UserExists = "user-exists", Some(409), None;
    /// 409: a pending device sign-in has that user code.
    UserCodeExists = "user-code-exists", Some(409), None;
    /// 409: the instance is terminated for good.
    InstanceTerminated = "instance-terminated", Some(409),
        Some("launch a new instance with `q8s-cli app run`");
    /// 413: the bundle is larger than the server's `--max-bundle-size`.
    BundleTooLarge = "bundle-too-large", Some(413),
        Some("leave large files out (see `q8s-cli bundle --explain`) or raise the server's --max-bundle-size");
    /// 413: a JSON body larger than the server accepts.
    BodyTooLarge = "body-too-large", Some(413), None;
    /// 415: a body that is not `application/json` where JSON is expected.
    UnsupportedMediaType = "unsupported-media-type", Some(415), None;
    /// 422: malformed JSON or query.
    InvalidRequest = "invalid-request", Some(422), None;
    /// 422: the bundle breaks a rule; the details hold the diagnostics.
    InvalidBundle = "invalid-bundle", Some(422),
        Some("run `q8s-cli bundle validate` to see every problem");
    /// 422: a change to anything of an app but its visibility.
    ImmutableField = "immutable-field", Some(422),
        Some("only visibility can change; import a new version instead");
    /// 422: a visibility that is neither `PRIVATE` nor `ALL_USERS`.
    InvalidVisibility = "invalid-visibility", Some(422), None;
    /// 422: a launch needs a secret (or key) that does not exist.
    MissingSecret = "missing-secret", Some(422), None;
    /// 422: a user name that breaks the rules.
    InvalidUsername = "invalid-username", Some(422), None;
    /// 422: a password that is too short.
    WeakPassword = "weak-password", Some(422), None;
    /// 422: a secret name that breaks the rules.
    InvalidSecretName = "invalid-secret-name", Some(422), None;
    /// 422: a secret key that breaks the rules.
    InvalidSecretKey = "invalid-secret-key", Some(422), None;
    /// 422: a secret without keys.
    EmptySecret = "empty-secret", Some(422), Some("give at least one KEY=VALUE");
    /// 422: a secret's access rule that cannot be used.
    InvalidSecretAccess = "invalid-secret-access", Some(422), None;
    /// 422: an app name that breaks the rules.
    InvalidName = "invalid-name", Some(422), None;
    /// 422: there is no user of that name.
    UnknownUser = "unknown-user", Some(422), None;
    /// 422: the runtime cannot run the instance as specified.
    InvalidInstanceSpec = "invalid-instance-spec", Some(422), None;
    /// 429: too many failed sign-in attempts from this address or for this account;
    /// `Retry-After` says when to try again.
    TooManyAttempts = "too-many-attempts", Some(429),
        Some("wait as long as the server says (Retry-After), then try again with the right credentials");
    /// 500: the server failed (its log says why).
    InternalError = "internal-error", Some(500), None;
    /// 500: the runtime failed to read or write its files.
    RuntimeIo = "runtime-io", Some(500), None;
    /// 503: the server is shutting down and starts nothing new.
    RuntimeShuttingDown = "runtime-shutting-down", Some(503), None;
    /// 503: the replica that keeps the instance's volume is not running.
    ReplicaUnavailable = "replica-unavailable", Some(503),
        Some("start that q8s-server replica again, or terminate the instance and launch a new one");
    /// 507: the server's disk is full; nothing of the request was kept.
    InsufficientStorage = "insufficient-storage", Some(507),
        Some("the server's administrator must free space on its data disk; then try again");

    // Client codes: made by the clients themselves, no status.

    /// No answer: nothing listens there, the name does not resolve, TLS failed.
    Unreachable = "unreachable", None,
        Some("check that q8s runs there, or set its URL with `q8s-cli config setup --url URL`, --url or Q8S_URL");
    /// An answer that is not one the API gives.
    UnexpectedResponse = "unexpected-response", None, None;
    /// The server's base URL cannot be used.
    InvalidUrl = "invalid-url", None, Some("give the server's address, e.g. http://127.0.0.1:8008");
    /// Something did not happen in time.
    Timeout = "timeout", None, None;
    /// A local file could not be read or written.
    IoError = "io-error", None, None;
    /// A browser file could not be read.
    ReadFailed = "read-failed", None, None;
    /// A path that cannot be part of a bundle (browser folders).
    InvalidPath = "invalid-path", None, None;
    /// A path that would be both a file and a folder (browser folders).
    PathConflict = "path-conflict", None, None;
    /// A JS value of the wrong kind (contents that are not bytes, an unknown visibility).
    InvalidArgument = "invalid-argument", None, None;
    /// An upload aborted by its `AbortSignal` (browser).
    Cancelled = "cancelled", None, None;
    /// The sign-in was denied (OAuth `access_denied`).
    AccessDenied = "access-denied", None,
        Some("run `q8s-cli config setup` again and allow the request");
    /// The sign-in was not approved in time (OAuth `expired_token`).
    ExpiredToken = "expired-token", None,
        Some("run `q8s-cli config setup` again and approve within the time shown");
    /// The sign-in code is unknown, used or expired (OAuth `invalid_grant`).
    InvalidGrant = "invalid-grant", None, None;
    /// The server does not know the client (OAuth `invalid_client`).
    InvalidClient = "invalid-client", None, None;
    /// The server does not offer the sign-in flow (OAuth `unsupported_grant_type`).
    UnsupportedGrantType = "unsupported-grant-type", None, None;
    /// An awaited instance ended FAILED or TERMINATED (deploy and wait).
    InstanceFailed = "instance-failed", None, None;
    /// There is no place for the configuration file (no home folder).
    ConfigPath = "config-path", None, None;
    /// The configuration file cannot be read or written.
    ConfigIo = "config-io", None, None;
    /// The configuration file is not valid.
    ConfigInvalid = "config-invalid", None, None;
    /// No profile of that name in the configuration file, or none for the URL given.
    UnknownProfile = "unknown-profile", None, None;
    /// An id prefix shorter than 8 characters, or one more than one id starts with.
    AmbiguousId = "ambiguous-id", None, None;
}

/// Where an error is shown to a person. Hints name the CLI's commands and flags; a surface
/// with its own means (a Python argument) says those few hints in its own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Surface {
    /// `q8s-cli`.
    Cli,
    /// The Python package.
    Python,
}

impl ErrorCode {
    /// The hint in the terms of `surface`: [`ErrorCode::hint`], but for the few hints that
    /// the surface says otherwise.
    ///
    /// ```
    /// use q8s_core::api::{ErrorCode, Surface};
    /// let python = ErrorCode::Unreachable.hint_in(Surface::Python).unwrap();
    /// assert!(python.contains("Client(url=") && !python.contains("--url"));
    /// assert_eq!(ErrorCode::Unreachable.hint_in(Surface::Cli), ErrorCode::Unreachable.hint());
    /// ```
    pub const fn hint_in(self, surface: Surface) -> Option<&'static str> {
        match (self, surface) {
            (ErrorCode::Unreachable, Surface::Python) => {
                Some("check that q8s runs there, or give its URL with q8s.Client(url=…) or Q8S_URL")
            }
            _ => self.hint(),
        }
    }

    /// The code of `code`, if it is one of the list.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// Whether the clients make this code themselves (no server answers with it).
    pub const fn is_client(self) -> bool {
        self.status().is_none()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code that is not in the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code `{0}`")]
pub struct UnknownCode(pub String);

impl std::str::FromStr for ErrorCode {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::from_code(s).ok_or_else(|| UnknownCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests;
