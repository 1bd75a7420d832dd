//! The two CLI sign-in flows: loopback authorization code with PKCE S256 (RFC 8252 + RFC 7636)
//! and the device authorization grant (RFC 8628). Both end at `POST /oauth/token`, which mints
//! an ordinary API token. Errors of the token endpoint use the OAuth form
//! (`{"error": "...", "error_description": "..."}`, status 400) that OAuth clients expect.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use q8s_core::api::{
    CLIENT_ID, DeviceAuthorization, OAuthErrorBody, TokenAnswer, is_pkce_text, pkce_challenge,
};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{ClientAddr, caller_from_parts, hash_secret, new_api_token, random_secret};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{AuthCodeRecord, DeviceCodeRecord, DeviceGrant, StoreError};
use crate::web;

/// An authorization code is good for this long.
const CODE_LIFETIME: Duration = Duration::seconds(120);
/// Seconds between device polls.
const DEVICE_INTERVAL: u32 = 5;
/// Characters of user codes: no vowels (no words), no look-alikes.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The query (GET) or form (POST) of an authorization request.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// Only in the consent form: `allow` or `deny`.
    decision: Option<String>,
}

/// A loopback redirect URI: `http://127.0.0.1:<port>/…`, `http://localhost:<port>/…` or
/// `http://[::1]:<port>/…` (RFC 8252 §7.3), without fragment.
pub fn is_loopback_redirect(uri: &str) -> bool {
    if uri.contains('#') {
        return false;
    }
    let Ok(parsed) = uri.parse::<Uri>() else {
        return false;
    };
    parsed.scheme_str() == Some("http")
        && matches!(parsed.host(), Some("127.0.0.1" | "localhost" | "[::1]"))
        && parsed.port_u16().is_some_and(|p| p != 0)
        && parsed
            .authority()
            .is_some_and(|a| !a.as_str().contains('@'))
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{}", query.finish())
}

/// Checks a request; `Err` is the response to give (an error page when the redirect URI
/// cannot be trusted, a redirect with `error=` otherwise).
fn check_authorize(p: &AuthorizeParams) -> Result<String, Box<Response>> {
    let redirect = p.redirect_uri.clone().unwrap_or_default();
    if p.client_id.as_deref() != Some(CLIENT_ID) || !is_loopback_redirect(&redirect) {
        let page = web::page(
            "Sign-in request refused",
            "<h1>Sign-in request refused</h1><p>Only <code>q8s-cli</code> may sign in here, \
             with a redirect to <code>http://127.0.0.1:&lt;port&gt;/…</code> or \
             <code>http://localhost:&lt;port&gt;/…</code>.</p>",
        );
        return Err(Box::new((StatusCode::BAD_REQUEST, page).into_response()));
    }
    let state = p.state.as_deref().unwrap_or("");
    let fail = |error: &str, description: &str| {
        Redirect::to(&with_query(
            &redirect,
            &[
                ("error", error),
                ("error_description", description),
                ("state", state),
            ],
        ))
        .into_response()
    };
    if p.response_type.as_deref() != Some("code") {
        return Err(Box::new(fail(
            "unsupported_response_type",
            "response_type must be code",
        )));
    }
    if p.code_challenge_method.as_deref() != Some("S256")
        || !p.code_challenge.as_deref().is_some_and(is_pkce_text)
    {
        return Err(Box::new(fail(
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required",
        )));
    }
    Ok(redirect)
}

fn hidden_fields(p: &AuthorizeParams) -> Vec<(&'static str, String)> {
    [
        ("response_type", &p.response_type),
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("state", &p.state),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect()
}

/// `GET /oauth/authorize`: sign-in if needed, then the consent page.
pub async fn authorize_page(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    uri: Uri,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let redirect = match check_authorize(&p) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let caller = match caller_from_parts(&state, &headers, client).await {
        Ok(caller) => caller,
        Err(refusal) => return web::refused(refusal),
    };
    let Some(caller) = caller else {
        let here = uri
            .path_and_query()
            .map_or("/oauth/authorize", |pq| pq.as_str());
        return Redirect::to(&web::login_url(here)).into_response();
    };
    let host = redirect.parse::<Uri>().ok();
    let host = host
        .as_ref()
        .and_then(|u| u.authority())
        .map_or("", |a| a.as_str());
    let fields = hidden_fields(&p);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    web::pages_consent(&caller.username, host, &fields).into_response()
}

/// `POST /oauth/authorize`: the consent form's answer; redirects to the CLI with `code` and
/// `state`, or with `error=access_denied`.
pub async fn authorize_decide(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(p): Form<AuthorizeParams>,
) -> Result<Response, ApiError> {
    let redirect = match check_authorize(&p) {
        Ok(r) => r,
        Err(response) => return Ok(*response),
    };
    let caller = match caller_from_parts(&state, &headers, client).await {
        Ok(caller) => caller,
        Err(refusal) => return Ok(web::refused(refusal)),
    };
    let Some(caller) = caller else {
        return Ok(Redirect::to(&web::login_url("/")).into_response());
    };
    super::require_same_site(&headers)?;
    let client_state = p.state.as_deref().unwrap_or("");
    if p.decision.as_deref() != Some("allow") {
        let target = with_query(
            &redirect,
            &[("error", "access_denied"), ("state", client_state)],
        );
        return Ok(Redirect::to(&target).into_response());
    }
    let code = random_secret(32);
    let record = AuthCodeRecord {
        user_id: caller.user_id,
        client_id: CLIENT_ID.into(),
        redirect_uri: redirect.clone(),
        code_challenge: p.code_challenge.clone().unwrap_or_default(),
        expires_at: OffsetDateTime::now_utc() + CODE_LIFETIME,
    };
    state
        .store
        .sessions
        .create_auth_code(&hash_secret(&code), &record)
        .await?;
    let target = with_query(&redirect, &[("code", &code), ("state", client_state)]);
    Ok(Redirect::to(&target).into_response())
}

/// An OAuth token-endpoint error (RFC 6749 §5.2), in core's type the clients read it with.
fn oauth_error(error: &str, description: impl Into<String>) -> Response {
    let body = OAuthErrorBody {
        error: error.to_owned(),
        error_description: Some(description.into()),
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `POST /oauth/token` form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: String,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    device_code: Option<String>,
}

/// `POST /oauth/token`: redeems an authorization code or polls a device authorization.
pub async fn token(State(state): State<AppState>, Form(form): Form<TokenForm>) -> Response {
    if form.client_id.as_deref().is_some_and(|c| c != CLIENT_ID) {
        return oauth_error("invalid_client", "unknown client_id");
    }
    let result = match form.grant_type.as_str() {
        "authorization_code" => redeem_code(&state, &form).await,
        "urn:ietf:params:oauth:grant-type:device_code" => poll_device(&state, &form).await,
        _ => Ok(oauth_error(
            "unsupported_grant_type",
            "use authorization_code or device_code",
        )),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn mint(state: &AppState, user_id: uuid::Uuid, how: &str) -> Result<Response, ApiError> {
    let token = new_api_token();
    let record = state
        .store
        .accounts
        .create_token(user_id, &format!("q8s-cli ({how})"), &hash_secret(&token))
        .await?;
    let answer = TokenAnswer {
        access_token: token,
        token_id: Some(record.id.to_string()),
        token_type: "Bearer".to_owned(),
    };
    Ok(Json(answer).into_response())
}

async fn redeem_code(state: &AppState, form: &TokenForm) -> Result<Response, ApiError> {
    let (Some(code), Some(verifier), Some(redirect)) =
        (&form.code, &form.code_verifier, &form.redirect_uri)
    else {
        return Ok(oauth_error(
            "invalid_request",
            "code, code_verifier and redirect_uri are required",
        ));
    };
    // Taken before checking: a failed attempt burns the code, as RFC 6749 §10.5 advises.
    let Some(record) = state
        .store
        .sessions
        .take_auth_code(&hash_secret(code))
        .await?
    else {
        return Ok(oauth_error(
            "invalid_grant",
            "the code is unknown or was already used",
        ));
    };
    if record.expires_at <= OffsetDateTime::now_utc() {
        return Ok(oauth_error("invalid_grant", "the code has expired"));
    }
    if record.redirect_uri != *redirect {
        return Ok(oauth_error(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        ));
    }
    if !is_pkce_text(verifier) || pkce_challenge(verifier) != record.code_challenge {
        return Ok(oauth_error(
            "invalid_grant",
            "code_verifier does not match code_challenge",
        ));
    }
    mint(state, record.user_id, "loopback sign-in").await
}

async fn poll_device(state: &AppState, form: &TokenForm) -> Result<Response, ApiError> {
    let Some(device_code) = &form.device_code else {
        return Ok(oauth_error("invalid_request", "device_code is required"));
    };
    let key = hash_secret(device_code);
    let Some(record) = state.store.sessions.device_code(&key).await? else {
        return Ok(oauth_error("invalid_grant", "unknown device_code"));
    };
    let now = OffsetDateTime::now_utc();
    if record.expires_at <= now {
        return Ok(oauth_error(
            "expired_token",
            "the device code has expired; start again",
        ));
    }
    match record.grant {
        DeviceGrant::Approved(user_id) => {
            state.store.sessions.delete_device_code(&key).await?;
            mint(state, user_id, "device sign-in").await
        }
        DeviceGrant::Denied => {
            state.store.sessions.delete_device_code(&key).await?;
            Ok(oauth_error("access_denied", "the sign-in was denied"))
        }
        DeviceGrant::Pending => {
            let too_fast = record.last_polled_at.is_some_and(|last| {
                now - last < Duration::seconds(i64::from(record.interval_secs))
            });
            let interval = if too_fast {
                record.interval_secs + 5
            } else {
                record.interval_secs
            };
            state
                .store
                .sessions
                .touch_device_code(&key, now, interval)
                .await?;
            if too_fast {
                return Ok(oauth_error(
                    "slow_down",
                    format!("poll at most every {interval} seconds"),
                ));
            }
            Ok(oauth_error(
                "authorization_pending",
                "waiting for the user to approve",
            ))
        }
    }
}

/// `POST /oauth/device/code` form.
#[derive(Debug, Deserialize)]
pub struct DeviceCodeForm {
    client_id: Option<String>,
}

/// A user code: 8 letters of [`USER_CODE_ALPHABET`], shown as `XXXX-XXXX`.
fn new_user_code() -> String {
    let mut code = String::with_capacity(9);
    while code.len() < 9 {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).expect("the operating system's random source failed");
        // 240 = 12 × 20: rejecting the rest keeps every letter equally likely.
        if byte[0] < 240 {
            if code.len() == 4 {
                code.push('-');
            }
            code.push(USER_CODE_ALPHABET[usize::from(byte[0]) % USER_CODE_ALPHABET.len()] as char);
        }
    }
    code
}

/// What the user typed, as stored: upper case, without separators.
pub fn normalize_user_code(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `POST /oauth/device/code`: starts a device authorization.
pub async fn device_code(
    State(state): State<AppState>,
    Form(form): Form<DeviceCodeForm>,
) -> Result<Response, ApiError> {
    if form.client_id.as_deref() != Some(CLIENT_ID) {
        return Ok(oauth_error("invalid_client", "client_id must be q8s-cli"));
    }
    let lifetime = state.config.device_code_lifetime;
    let expires_at = OffsetDateTime::now_utc() + Duration::seconds(lifetime as i64);
    for _ in 0..5 {
        let device_code = random_secret(32);
        let user_code = new_user_code();
        let record = DeviceCodeRecord {
            user_code: normalize_user_code(&user_code),
            grant: DeviceGrant::Pending,
            interval_secs: DEVICE_INTERVAL,
            last_polled_at: None,
            expires_at,
        };
        match state
            .store
            .sessions
            .create_device_code(&hash_secret(&device_code), &record)
            .await
        {
            Ok(()) => {
                let verification_uri = format!("{}/device", state.config.base_url());
                let answer = DeviceAuthorization {
                    verification_uri_complete: Some(with_query(
                        &verification_uri,
                        &[("user_code", &user_code)],
                    )),
                    device_code,
                    user_code,
                    verification_uri,
                    interval: DEVICE_INTERVAL.into(),
                    expires_in: lifetime,
                };
                return Ok(Json(answer).into_response());
            }
            Err(StoreError::Conflict(_)) => continue, // user code taken: draw another
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "issuing a device code",
        "no free user code after 5 draws",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirects_are_accepted() {
        assert!(is_loopback_redirect("http://127.0.0.1:53682/callback"));
        assert!(is_loopback_redirect("http://localhost:8000/"));
        assert!(is_loopback_redirect("http://[::1]:9/cb?x=1"));
        assert!(!is_loopback_redirect("http://127.0.0.1/callback"));
        assert!(!is_loopback_redirect("https://127.0.0.1:1/callback"));
        assert!(!is_loopback_redirect("http://evil.test:80/"));
        assert!(!is_loopback_redirect("http://127.0.0.1.evil.test:80/"));
        assert!(!is_loopback_redirect("http://user@127.0.0.1:80/"));
        assert!(!is_loopback_redirect("http://127.0.0.1:80/#frag"));
    }

    #[test]
    fn user_codes_are_readable_and_normalized() {
        let code = new_user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(
            normalize_user_code(&code)
                .bytes()
                .all(|b| USER_CODE_ALPHABET.contains(&b))
        );
        assert_eq!(normalize_user_code("bcdf-ghjk "), "BCDFGHJK");
    }
}
