//! Who is calling: API tokens (`Authorization: Bearer`), browser sessions (cookie), and the
//! secrets behind them. Passwords are argon2-hashed; tokens, sessions and one-time codes are
//! high-entropy random strings stored only as their sha256.
//!
//! Also the pieces the instance proxy needs: [`caller_from_parts`], the one-time codes that
//! hand a signed-in browser over to an instance host ([`issue_host_code`],
//! [`redeem_host_code`]) and the host-only cookie ([`host_session_cookie`]).

pub mod oauth;
mod password;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Method, header, request::Parts};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub use password::{hash_password, verify_password};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{SessionRecord, UserRecord};

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
}

impl Caller {
    fn from_user(user: UserRecord, via_session: bool) -> Self {
        Caller {
            user_id: user.id,
            username: user.username,
            admin: user.admin,
            via_session,
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name` in the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
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

/// The caller of a request: a bearer token, else a session cookie (a session made for an
/// instance host is only good on that host). `None` when neither is valid.
pub async fn caller_from_parts(state: &AppState, headers: &HeaderMap) -> Option<Caller> {
    if let Some(token) = bearer(headers) {
        let user = state
            .store
            .user_by_token(&hash_secret(token))
            .await
            .ok()??;
        return Some(Caller::from_user(user, false));
    }
    let session = cookie(headers, SESSION_COOKIE)?;
    let record = state.store.session(&hash_secret(session)).await.ok()??;
    if let Some(host) = &record.host {
        if request_host(headers).as_deref() != Some(host.as_str()) {
            return None;
        }
    }
    let user = state.store.user(record.user_id).await.ok()??;
    Some(Caller::from_user(user, true))
}

/// A browser request with a session cookie that changes state must come from our own pages:
/// a foreign `Origin` or `Sec-Fetch-Site` is refused (SameSite=Lax already keeps the cookie
/// off most cross-site requests; this closes the rest).
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = caller_from_parts(state, &parts.headers)
            .await
            .ok_or_else(ApiError::unauthorized)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if caller.via_session && !safe && !same_origin(&parts.headers) {
            return Err(ApiError::forbidden(
                "cross-origin requests with a session cookie are refused; use a bearer token",
            ));
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
/// value: HttpOnly, SameSite=Lax, host-only.
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
        .create_session(&hash_secret(&secret), &record)
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        SESSION_LIFETIME.whole_seconds()
    );
    HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal("setting the session cookie", e))
}

/// The `Set-Cookie` value that signs a browser out.
pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("q8s_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// A one-time code (valid 60 s) that [`redeem_host_code`] exchanges for `caller`'s identity
/// on an instance host.
pub async fn issue_host_code(state: &AppState, caller: &Caller) -> Result<String, ApiError> {
    let code = random_secret(32);
    let expires = OffsetDateTime::now_utc() + HOST_CODE_LIFETIME;
    state
        .store
        .create_host_code(&hash_secret(&code), caller.user_id, expires)
        .await?;
    Ok(code)
}

/// Exchanges a hand-off code (once) for the caller it was issued to.
pub async fn redeem_host_code(state: &AppState, code: &str) -> Option<Caller> {
    let user_id = state
        .store
        .take_host_code(&hash_secret(code))
        .await
        .ok()??;
    let user = state.store.user(user_id).await.ok()??;
    Some(Caller::from_user(user, true))
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
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_bearer_tokens_and_cookies() {
        let h = headers(&[
            ("authorization", "Bearer abc"),
            ("cookie", "a=1; q8s_session=xyz"),
            ("cookie", "b=2"),
        ]);
        assert_eq!(bearer(&h), Some("abc"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(bearer(&headers(&[("authorization", "Basic abc")])), None);
    }

    #[test]
    fn same_origin_checks_origin_and_fetch_metadata() {
        assert!(same_origin(&headers(&[("host", "localhost:8008")])));
        assert!(same_origin(&headers(&[
            ("host", "localhost:8008"),
            ("origin", "http://localhost:8008")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8008"),
            ("origin", "http://evil.test")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8008"),
            ("sec-fetch-site", "cross-site")
        ])));
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_api_token();
        assert!(a.starts_with("q8s_") && a.len() > 40);
        assert_ne!(a, new_api_token());
        assert_eq!(hash_secret("x").len(), 64);
        assert_eq!(
            request_host(&headers(&[("host", "ABC.localhost:8008")])).as_deref(),
            Some("abc.localhost")
        );
    }
}
