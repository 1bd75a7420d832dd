//! Who is calling: API tokens (`Authorization: Bearer`), browser sessions (cookie), and the
//! secrets behind them. Passwords are argon2-hashed; tokens, sessions and one-time codes are
//! high-entropy random strings stored only as their sha256.
//!
//! Also the pieces the instance proxy needs: [`caller_from_parts`], the one-time codes that
//! hand a signed-in browser over to an instance host ([`issue_host_code`],
//! [`redeem_host_code`]) and the host-only cookie ([`host_session_cookie`]).
//!
//! What keeps browsers safe lives here too: guesses are throttled ([`throttle`]), a request
//! carrying two different session cookies is refused rather than served as either
//! ([`Refusal::ConflictingSessions`]), and state changes authenticated by the cookie must come
//! from the site's own pages ([`request_site`]).

pub mod oauth;
mod password;
pub mod throttle;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub use password::{hash_password, verify_password};
pub use throttle::Throttles;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::{SessionRecord, TokenRecord, UserRecord};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "q8s_session";
/// How long a browser stays signed in.
pub const SESSION_LIFETIME: Duration = Duration::days(7);
/// How long a hand-off code to an instance host is good for.
const HOST_CODE_LIFETIME: Duration = Duration::seconds(60);

/// A signed-in caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's id.
    pub user_id: Uuid,
    /// The user's name.
    pub username: String,
    /// Admins see and manage everything.
    pub admin: bool,
    /// Signed in by a browser session (cookie) rather than a bearer token: state-changing
    /// requests must then come from the same origin.
    pub via_session: bool,
    /// The API token the request was signed in with (`None` for a session).
    pub token_id: Option<Uuid>,
}

impl Caller {
    fn from_user(user: UserRecord, token_id: Option<Uuid>) -> Self {
        Caller {
            user_id: user.id,
            username: user.username,
            admin: user.admin,
            via_session: token_id.is_none(),
            token_id,
        }
    }

    /// Owner or admin.
    pub fn can_manage(&self, owner_id: Uuid) -> bool {
        self.admin || self.user_id == owner_id
    }

    /// Owner, admin, or anyone when shared with all users.
    pub fn can_see(&self, owner_id: Uuid, visibility: crate::store::Visibility) -> bool {
        self.can_manage(owner_id) || visibility == crate::store::Visibility::AllUsers
    }
}

/// A random secret: `bytes` random bytes, base64url without padding.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A new API token (`q8s_` + 256 random bits).
pub fn new_api_token() -> String {
    format!("q8s_{}", random_secret(32))
}

/// The stored form of a token, session or code: hex sha256. Enough for 256-bit random
/// secrets, which cannot be guessed from their hash.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The token of an `Authorization: Bearer` header, when the request sends one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The values of every session cookie in the request (a browser sends one per domain and path
/// it holds one for).
pub fn session_cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The request's session cookie. Two different ones (say, one planted for the parent domain
/// by a page of an instance host, beside the browser's own) are refused: which one a browser
/// sends first is not something to rely on.
pub fn session_cookie(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut cookies = session_cookies(headers);
    let Some(first) = cookies.next() else {
        return Ok(None);
    };
    match cookies.all(|other| other == first) {
        true => Ok(Some(first)),
        false => Err(Refusal::ConflictingSessions),
    }
}

/// Why a request is refused before its credentials are even looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It carries two different session cookies.
    ConflictingSessions,
    /// Its address sent too many unknown API tokens; it may try again after this long.
    Throttled(std::time::Duration),
}

impl Refusal {
    /// The HTTP status: its API error's (400 or 429).
    pub fn status(self) -> StatusCode {
        ApiError::from(self).status()
    }

    /// A title for a page.
    pub fn title(self) -> &'static str {
        match self {
            Refusal::ConflictingSessions => "Two sign-in cookies",
            Refusal::Throttled(_) => "Too many attempts",
        }
    }

    /// What happened and what to do, for people.
    pub fn message(self) -> String {
        match self {
            Refusal::ConflictingSessions => CONFLICTING_SESSIONS.to_owned(),
            Refusal::Throttled(wait) => format!(
                "Too many requests with unknown API tokens came from this address; try again in \
                 {} seconds.",
                throttle::retry_after_secs(wait)
            ),
        }
    }

    /// Seconds for `Retry-After`, when waiting helps.
    pub fn retry_after(self) -> Option<u64> {
        match self {
            Refusal::ConflictingSessions => None,
            Refusal::Throttled(wait) => Some(throttle::retry_after_secs(wait)),
        }
    }
}

const CONFLICTING_SESSIONS: &str = "This browser sent two different q8s session cookies (a page \
    on another host of this domain may have set one), so q8s used neither. Sign out (or clear \
    this site's cookies) and sign in again.";

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        match refusal {
            Refusal::ConflictingSessions => {
                ApiError::new(ErrorCode::ConflictingSessionCookies, CONFLICTING_SESSIONS)
            }
            Refusal::Throttled(wait) => {
                ApiError::too_many_attempts(throttle::retry_after_secs(wait))
            }
        }
    }
}

/// The address of the client (the TCP peer), when the server knows it: what throttling
/// counts against. q8s trusts no `X-Forwarded-For`, so behind a reverse proxy every client has
/// the proxy's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address `serve` recorded for the request's connection.
    pub fn of(extensions: &Extensions) -> ClientAddr {
        ClientAddr(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientAddr::of(&parts.extensions))
    }
}

/// The request's host name, lowercase, without port.
pub fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    Some(name.to_ascii_lowercase())
}

/// The caller of a request from `client`: a bearer token, else a session cookie (a session
/// made for an instance host is only good on that host). `Ok(None)` when neither is valid.
/// Unknown bearer tokens count against the client's address ([`Throttles::tokens`]); once it
/// has sent too many, its tokens are not looked at until the window ends. Unknown session
/// cookies do not count: a browser holding an expired one is no guesser.
pub async fn caller_from_parts(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddr,
) -> Result<Option<Caller>, Refusal> {
    if let Some(token) = bearer(headers) {
        let key = client.0.map(throttle::Key::address);
        let keys = key.as_slice();
        let throttle = &state.throttles.tokens;
        throttle.check(keys).map_err(Refusal::Throttled)?;
        return Ok(
            match state
                .store
                .accounts
                .token_by_hash(&hash_secret(token))
                .await
            {
                Ok(Some((token, user))) => {
                    record_use(state, &token).await;
                    Some(Caller::from_user(user, Some(token.id)))
                }
                Ok(None) => {
                    throttle.fail(keys).await;
                    None
                }
                Err(err) => {
                    tracing::warn!("looking up a token: {err}");
                    None
                }
            },
        );
    }
    let Some(session) = session_cookie(headers)? else {
        return Ok(None);
    };
    let Some(record) = state
        .store
        .sessions
        .session(&hash_secret(session))
        .await
        .ok()
        .flatten()
    else {
        return Ok(None);
    };
    if let Some(host) = &record.host
        && request_host(headers).as_deref() != Some(host.as_str())
    {
        return Ok(None);
    }
    let user = state
        .store
        .accounts
        .user(record.user_id)
        .await
        .ok()
        .flatten();
    Ok(user.map(|user| Caller::from_user(user, None)))
}

/// How stale a token's `last_used_at` may get: uses within this of the recorded one are not
/// written, so a busy token costs one write a minute, not one per request.
pub const TOKEN_USE_PRECISION: Duration = Duration::minutes(1);

/// Records a use of `token` now, unless one within [`TOKEN_USE_PRECISION`] is recorded. A
/// failure only loses the record: the request goes on.
async fn record_use(state: &AppState, token: &TokenRecord) {
    let now = OffsetDateTime::now_utc();
    if token
        .last_used_at
        .is_some_and(|last| now - last < TOKEN_USE_PRECISION)
    {
        return;
    }
    if let Err(err) = state.store.accounts.record_token_use(token.id, now).await {
        tracing::warn!("recording a token's use: {err}");
    }
}

/// Where a request says it was made, by its `Sec-Fetch-Site` and `Origin` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestSite {
    /// From a page of the host it is sent to, or typed by the user (`Sec-Fetch-Site: none`).
    Same,
    /// From anywhere else: another site, another host of this domain, an opaque origin.
    Other,
    /// The request does not say (a script, or a very old browser).
    Unknown,
}

/// Where `headers` say the request was made. Browsers send `Origin` with every POST, PUT,
/// PATCH and DELETE, and `Sec-Fetch-Site` to secure and loopback origins; neither can be set
/// by a page.
pub fn request_site(headers: &HeaderMap) -> RequestSite {
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| matches!(v.as_bytes(), b"same-origin" | b"none"));
    let origin = headers.get(header::ORIGIN).map(|origin| {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        match (origin.to_str(), host) {
            (Ok(origin), Some(host)) => origin_is_host(origin, host),
            _ => false,
        }
    });
    match (fetch_site, origin) {
        (Some(false), _) | (_, Some(false)) => RequestSite::Other,
        (Some(true), _) | (_, Some(true)) => RequestSite::Same,
        (None, None) => RequestSite::Unknown,
    }
}

/// Whether the origin `origin` (`http://name[:port]`) is the host `host` (`name[:port]`, as in
/// `Host`), default ports included. The scheme is not compared: q8s may sit behind a TLS proxy
/// that keeps `Host`, and one host and port serve one scheme.
fn origin_is_host(origin: &str, host: &str) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let default_port = match origin.scheme() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, port.parse().ok()),
        _ => (host, Some(default_port)),
    };
    origin
        .host_str()
        .is_some_and(|origin_name| origin_name.eq_ignore_ascii_case(name))
        && port == Some(origin.port().unwrap_or(default_port))
}

/// A request that changes something with the authority of a session cookie must come from
/// the site's own pages ([`RequestSite::Same`]); 403 `cross-origin-request` otherwise.
pub fn require_same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    match request_site(headers) {
        RequestSite::Same => Ok(()),
        RequestSite::Other | RequestSite::Unknown => Err(ApiError::new(
            ErrorCode::CrossOriginRequest,
            "a request with a session cookie that changes something must come from this \
             site's own pages (Origin or Sec-Fetch-Site); scripts send a bearer token instead",
        )),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = ClientAddr::of(&parts.extensions);
        let caller = caller_from_parts(state, &parts.headers, client)
            .await?
            .ok_or_else(|| match bearer(&parts.headers) {
                Some(_) => ApiError::token_refused(),
                None => ApiError::unauthorized(),
            })?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if caller.via_session && !safe {
            require_same_site(&parts.headers)?;
        }
        Ok(caller)
    }
}

/// A caller who is an admin (403 otherwise).
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.admin {
            return Err(ApiError::forbidden("only admins may do this"));
        }
        Ok(Admin(caller))
    }
}

/// Starts a session for `user_id` (on `host` only, when given) and returns the `Set-Cookie`
/// value: HttpOnly, SameSite=Lax, host-only (and Secure behind an https `--public-url`).
pub async fn start_session(
    state: &AppState,
    user_id: Uuid,
    host: Option<String>,
) -> Result<HeaderValue, ApiError> {
    let secret = random_secret(32);
    let record = SessionRecord {
        user_id,
        host,
        expires_at: OffsetDateTime::now_utc() + SESSION_LIFETIME,
    };
    state
        .store
        .sessions
        .create_session(&hash_secret(&secret), &record)
        .await?;
    // Behind an https front (`--public-url https://…`) the browser never sends it in clear.
    let secure = if state.config.public_scheme == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_LIFETIME.whole_seconds()
    );
    HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal("setting the session cookie", e))
}

/// The `Set-Cookie` values that sign a browser out: its host-only session cookie, and one a
/// page of another host may have set for the whole `domain`.
pub fn clear_session_cookies(domain: &str) -> Vec<HeaderValue> {
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    [clear.clone(), format!("{clear}; Domain={domain}")]
        .into_iter()
        .filter_map(|value| HeaderValue::try_from(value).ok())
        .collect()
}

/// The stored form of a hand-off code: bound to its instance, so a code read on one instance
/// host (by that instance's app, say) opens no other.
fn host_code_hash(instance: Uuid, code: &str) -> String {
    hash_secret(&format!("{instance}:{code}"))
}

/// A one-time code (valid 60 s) that [`redeem_host_code`] exchanges for `caller`'s identity
/// on the host of `instance`, and only there.
pub async fn issue_host_code(
    state: &AppState,
    caller: &Caller,
    instance: Uuid,
) -> Result<String, ApiError> {
    let code = random_secret(32);
    let expires = OffsetDateTime::now_utc() + HOST_CODE_LIFETIME;
    state
        .store
        .sessions
        .create_host_code(&host_code_hash(instance, &code), caller.user_id, expires)
        .await?;
    Ok(code)
}

/// Exchanges a hand-off code minted for `instance` (once) for the caller it was issued to.
pub async fn redeem_host_code(state: &AppState, instance: Uuid, code: &str) -> Option<Caller> {
    let user_id = state
        .store
        .sessions
        .take_host_code(&host_code_hash(instance, code))
        .await
        .ok()??;
    let user = state.store.accounts.user(user_id).await.ok()??;
    Some(Caller::from_user(user, None))
}

/// Starts a session valid only on the instance host `host` (a host name without port, as in
/// the request's `Host`) and returns its host-only `Set-Cookie` value.
pub async fn host_session_cookie(
    state: &AppState,
    caller: &Caller,
    host: &str,
) -> Result<HeaderValue, ApiError> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    start_session(state, caller.user_id, Some(host)).await
}

#[cfg(test)]
mod tests;
