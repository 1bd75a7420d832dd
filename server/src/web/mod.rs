//! The few HTML pages of the main site: sign-in, device approval, the consent page of the
//! loopback flow, and the hand-off to instance hosts. Plain HTML with inline CSS, no scripts
//! and nothing fetched from elsewhere.

mod canonical;
mod pages;

use std::sync::LazyLock;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

pub use canonical::canonical_origin;
pub use pages::{consent as pages_consent, escape, page};

use crate::auth::throttle::{Key, retry_after_secs};
use crate::auth::{
    self, Caller, ClientAddr, Refusal, RequestSite, caller_from_parts, hash_secret, request_site,
};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::DeviceGrant;

/// Where every redirect target is resolved: a base no real site has.
static REDIRECT_BASE: LazyLock<url::Url> =
    LazyLock::new(|| url::Url::parse("http://q8s.invalid/").expect("a valid URL"));

/// The one check of every redirect target (`next` after sign-in, after the hand-off to an
/// instance host): the path to send the browser to on the site that answers, `/` unless `next`
/// stays there. `next` is read exactly as a browser reads a `Location` (the WHATWG URL parser:
/// tabs and newlines dropped, backslashes as slashes, `//host` and `scheme:` forms, dot
/// segments), and what is followed is the parsed path, query and fragment, re-serialised: it
/// holds no character a header cannot carry, and a browser reads it as the same local path.
pub fn safe_next(next: Option<&str>) -> String {
    let base = &*REDIRECT_BASE;
    let Some(target) = next.and_then(|next| base.join(next).ok()) else {
        return "/".to_owned();
    };
    let local = &target[url::Position::BeforePath..];
    // `//host/…` after dot segments or empty ones would be read as another host.
    if target.origin() != base.origin() || !local.starts_with('/') || local.starts_with("//") {
        return "/".to_owned();
    }
    local.to_owned()
}

/// `page` with `status`, and `Retry-After` when waiting helps.
fn answer(status: StatusCode, page: Html<String>, retry_after: Option<u64>) -> Response {
    let mut response = (status, page).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A page saying why a request was refused before its credentials were looked at.
pub fn refused(refusal: Refusal) -> Response {
    let page = pages::message(refusal.title(), &refusal.message());
    answer(refusal.status(), page, refusal.retry_after())
}

/// The signed-in caller of a page request, `Ok(None)` when there is none, `Err` with the
/// page to answer when the request is refused.
async fn page_caller(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddr,
) -> Result<Option<Caller>, Response> {
    caller_from_parts(state, headers, client)
        .await
        .map_err(refused)
}

/// 403 page for a form posted from elsewhere.
fn cross_site(text: &str) -> Response {
    (StatusCode::FORBIDDEN, pages::message("Refused", text)).into_response()
}

/// `/login?next=<target>`.
pub fn login_url(next: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    format!("/login?{query}")
}

/// `GET /login` query.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /login`: the sign-in form.
pub async fn login_page(Query(q): Query<LoginQuery>) -> Html<String> {
    pages::login(&safe_next(q.next.as_deref()), None)
}

/// `POST /login` form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: checks the password, sets the session cookie and goes to `next`. Wrong
/// passwords are throttled per account and per client address: once either has used up its
/// attempts, the password is not even checked until the window ends (429).
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let next = safe_next(form.next.as_deref());
    // Not a cookie-authenticated request, so a script may sign in; a page elsewhere may not
    // (it would sign the browser in as someone else).
    if request_site(&headers) == RequestSite::Other {
        return Ok((
            StatusCode::FORBIDDEN,
            pages::login(&next, Some("Sign in from this site's own page.")),
        )
            .into_response());
    }
    let account = Key::account(&form.username);
    let mut keys = vec![account.clone()];
    keys.extend(client.0.map(Key::address));
    let throttle = &state.throttles.passwords;
    if let Err(wait) = throttle.check(&keys) {
        let seconds = retry_after_secs(wait);
        let message = format!("Too many failed sign-ins. Try again in {seconds} seconds.");
        let page = pages::login(&next, Some(&message));
        return Ok(answer(StatusCode::TOO_MANY_REQUESTS, page, Some(seconds)));
    }
    let user = state
        .store
        .accounts
        .user_by_name(form.username.trim())
        .await?;
    let valid = match &user {
        Some(u) => auth::verify_password(form.password, u.password_hash.clone()).await,
        None => {
            // Spend the same time as for a real user, so timing does not reveal names.
            let _ = auth::verify_password(form.password, DUMMY_HASH.into()).await;
            false
        }
    };
    let Some(user) = user.filter(|_| valid) else {
        throttle.fail(&keys).await;
        tracing::info!(username = %form.username, client = ?client.0, "sign-in failed");
        return Ok((
            StatusCode::UNAUTHORIZED,
            pages::login(&next, Some("Wrong username or password.")),
        )
            .into_response());
    };
    throttle.forget(&account).await;
    let cookie = auth::start_session(&state, user.id, None).await?;
    tracing::info!(username = %user.username, "signed in");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

/// A valid argon2id hash of a random password, verified against when the user is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Xh6Cxkb4p3gpw0e5BI4bXWQ5oxvrFQaJnZ0Ej6G9O8";

/// `POST /logout`: ends the session (every session cookie the browser sent) and clears the
/// cookie, for this host and for the whole domain. Only from the site's own pages: a page
/// elsewhere cannot sign the browser out.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if request_site(&headers) != RequestSite::Same {
        return cross_site("Sign out from this site's own page.");
    }
    for session in auth::session_cookies(&headers) {
        let _ = state
            .store
            .sessions
            .delete_session(&hash_secret(session))
            .await;
    }
    let mut response = Redirect::to("/login").into_response();
    for cookie in auth::clear_session_cookies(&state.config.domain) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// What the upload page may load: only its own files (the wasm module compiled from them),
/// previews of the chosen images (`blob:`), calls to this server; no inline script, no
/// framing. A stray injection would have nowhere to load from or send to.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    worker-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /`: the upload page for a signed-in user (without a built page, who is signed in and
/// where to go); the sign-in form otherwise.
pub async fn home(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Response {
    let caller = match page_caller(&state, &headers, client).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(refused) => return refused,
    };
    let Some(dir) = &state.config.web_dir else {
        return pages::home(&caller.username).into_response();
    };
    match tokio::fs::read(dir.join("index.html")).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(dir = %dir.display(), "the upload page cannot be read: {e}");
            pages::home(&caller.username).into_response()
        }
    }
}

/// q8s's icon, for every page of the main site (the upload page's copy is the same file).
const FAVICON: &str = include_str!("../../../web-demo/favicon.svg");

/// `GET /favicon.svg` (and `/favicon.ico`, which browsers ask for on their own).
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

/// The upload page's other files (scripts, styles, the wasm module) from `dir`, `not_found`
/// for anything else. A file's `.gz` sibling is sent instead when the browser accepts gzip
/// (`make build-web` writes one for the wasm module); answers carry `Last-Modified` and are
/// revalidated on each use, so a rebuilt page is picked up at once.
pub fn page_files<S: Clone>(dir: &std::path::Path, not_found: S) -> PageFiles<S> {
    use tower_http::set_header::SetResponseHeader;
    let files = tower_http::services::ServeDir::new(dir)
        .precompressed_gzip()
        .append_index_html_on_directories(false)
        // A PUT to an unknown API path is a 404 like any unknown path, not a 405.
        .call_fallback_on_method_not_allowed(true)
        .fallback(not_found);
    let files = SetResponseHeader::overriding(
        files,
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    // The page's Worker takes its policy from its own script's answer: the same one.
    SetResponseHeader::overriding(
        files,
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(PAGE_POLICY),
    )
}

/// The service [`page_files`] returns.
pub type PageFiles<S> = tower_http::set_header::SetResponseHeader<
    tower_http::set_header::SetResponseHeader<
        tower_http::services::ServeDir<S>,
        header::HeaderValue,
    >,
    header::HeaderValue,
>;

/// `GET /device` query.
#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

/// `GET /device`: the form where a signed-in user enters a device code.
pub async fn device_page(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Query(q): Query<DeviceQuery>,
) -> Response {
    let code = q.user_code.unwrap_or_default();
    let caller = match page_caller(&state, &headers, client).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let Some(caller) = caller else {
        let here = if code.is_empty() {
            "/device".to_owned()
        } else {
            format!(
                "/device?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("user_code", &code)
                    .finish()
            )
        };
        return Redirect::to(&login_url(&here)).into_response();
    };
    pages::device(&caller.username, &code, None).into_response()
}

/// `POST /device` form.
#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    user_code: String,
    /// `approve` or `deny`.
    action: String,
}

/// `POST /device`: approves or denies the device authorization with that user code. Codes
/// that match nothing are throttled per user and per client address, so user codes cannot be
/// guessed.
pub async fn device_decide(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<DeviceForm>,
) -> Result<Response, ApiError> {
    let caller = match page_caller(&state, &headers, client).await {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let Some(caller) = caller else {
        return Ok(Redirect::to(&login_url("/device")).into_response());
    };
    if request_site(&headers) != RequestSite::Same {
        return Ok(cross_site("Approve devices from this site's own page."));
    }
    let mut keys = vec![Key::User(caller.user_id)];
    keys.extend(client.0.map(Key::address));
    let throttle = &state.throttles.device_codes;
    if let Err(wait) = throttle.check(&keys) {
        let seconds = retry_after_secs(wait);
        let text = format!(
            "Too many codes that match nothing were entered. Try again in {seconds} seconds."
        );
        let page = pages::message("Too many attempts", &text);
        return Ok(answer(StatusCode::TOO_MANY_REQUESTS, page, Some(seconds)));
    }
    let code = auth::oauth::normalize_user_code(&form.user_code);
    let grant = match form.action.as_str() {
        "approve" => DeviceGrant::Approved(caller.user_id),
        _ => DeviceGrant::Denied,
    };
    let now = time::OffsetDateTime::now_utc();
    if !state
        .store
        .sessions
        .decide_device_code(&code, grant, now)
        .await?
    {
        throttle.fail(&keys).await;
        let page = pages::device(
            &caller.username,
            &form.user_code,
            Some("That code is unknown, expired or already used."),
        );
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let (title, text) = match grant {
        DeviceGrant::Approved(_) => (
            "Device signed in",
            "You can close this page and return to your terminal.",
        ),
        _ => ("Request denied", "The device was not signed in."),
    };
    Ok(pages::message(title, text).into_response())
}

/// `GET /_q8s/handoff` query.
#[derive(Debug, Deserialize)]
pub struct HandoffQuery {
    instance: Uuid,
    next: Option<String>,
}

/// `GET /_q8s/handoff?instance=<id>&next=<path>`: a signed-in browser gets a one-time code
/// and is sent to the instance host, whose proxy exchanges it for a host-only session.
pub async fn handoff(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Query(q): Query<HandoffQuery>,
) -> Result<Response, ApiError> {
    let next = safe_next(q.next.as_deref());
    let caller = match page_caller(&state, &headers, client).await {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let Some(caller) = caller else {
        let here = format!(
            "/_q8s/handoff?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("instance", &q.instance.to_string())
                .append_pair("next", &next)
                .finish()
        );
        return Ok(Redirect::to(&login_url(&here)).into_response());
    };
    let visible = match state.store.catalog.instance(q.instance).await? {
        Some(i) => caller_can_open(&caller, i.owner_id, i.visibility),
        None => false,
    };
    if !visible {
        return Ok((
            StatusCode::NOT_FOUND,
            pages::message(
                "Not found",
                "There is no such instance, or it is not shared with you.",
            ),
        )
            .into_response());
    }
    let code = auth::issue_host_code(&state, &caller, q.instance).await?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("next", &next)
        .finish();
    let target = format!("{}_q8s/auth?{query}", state.config.instance_url(q.instance));
    Ok(Redirect::to(&target).into_response())
}

fn caller_can_open(caller: &Caller, owner: Uuid, visibility: crate::store::Visibility) -> bool {
    caller.can_see(owner, visibility)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(safe_next(Some("/device?x=1")), "/device?x=1");
        assert_eq!(safe_next(Some("/a/b?c=d&e=%2F#top")), "/a/b?c=d&e=%2F#top");
        assert_eq!(safe_next(Some("/%2F/evil.example/")), "/%2F/evil.example/");
        assert_eq!(safe_next(Some("/a/../b/./c")), "/b/c");
        assert_eq!(safe_next(Some("/caf\u{e9} x")), "/caf%C3%A9%20x");
        assert_eq!(safe_next(None), "/");
        assert_eq!(login_url("/a?b=c"), "/login?next=%2Fa%3Fb%3Dc");
    }

    /// What browsers would follow off-site, once they have normalised it, or what cannot be a
    /// header: every one falls back to `/` or to a harmless local path.
    #[test]
    fn hostile_next_values_stay_local() {
        let base = url::Url::parse("http://q8s.example:8008/").unwrap();
        for hostile in [
            "//evil.example/",
            "/\\evil.example/",
            "\\/evil.example/",
            "\\\\evil.example/",
            "/\t/evil.example/",
            "/\r\n/evil.example/",
            "/\n/evil.example/",
            "\t//evil.example/",
            " //evil.example/",
            "\u{0}//evil.example/",
            "/./\t/evil.example",
            "/.//evil.example/",
            "/..//evil.example/",
            "/a/..//evil.example/",
            "//evil.example@q8s.example/",
            "http://evil.example/",
            "HTTP://evil.example/",
            "http:evil.example",
            "https:evil.example",
            "https:/evil.example",
            "http://q8s.invalid:81/",
            "ftp://evil.example/",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/\r\nSet-Cookie: q8s_session=planted",
            "/\u{0}/evil.example/",
            "/\u{3000}/evil.example/",
            "/\u{ff0f}/evil.example/",
            "%2F%2Fevil.example/",
            "",
            "?next=//evil.example",
            "#//evil.example",
        ] {
            let target = safe_next(Some(hostile));
            assert!(
                target.starts_with('/') && !target.starts_with("//"),
                "{hostile:?} → {target:?}"
            );
            assert!(
                HeaderValue::from_str(&target).is_ok()
                    && target.bytes().all(|b| b.is_ascii_graphic()),
                "{hostile:?} → {target:?} is no clean header value"
            );
            let followed = base.join(&target).unwrap();
            assert_eq!(
                followed.origin(),
                base.origin(),
                "{hostile:?} → {target:?} → {followed}"
            );
        }
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2_hash() {
        // Otherwise unknown users would be answered faster than known ones.
        use argon2::password_hash::phc::PasswordHash;
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
