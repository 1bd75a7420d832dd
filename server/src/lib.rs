//! # q8s-server
//!
//! The q8s service: the REST API (`/api/v1`), sign-in (password, API tokens, the CLI's
//! loopback and device flows), the metadata store (SQLite), the blob store for bundles, and
//! the per-instance proxy, running instances with `q8s-runtime`. [`run`] starts all of it;
//! the `q8s-server` binary is a thin command line around it.

pub mod api;
pub mod auth;
pub mod blob;
pub mod bundle_token;
pub mod cluster;
pub mod config;
pub mod error;
pub mod idle;
pub mod operations;
pub mod proxy;
mod reconcile;
mod serve;
pub mod service;
mod startup;
pub mod state;
pub mod store;
mod sweep;
pub mod timestamp;
pub mod web;

use std::future::Future;

use axum::Router;
use axum::extract::{Request, State};
use axum::handler::HandlerWithoutStateExt as _;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

pub use config::{Config, Settings};
pub use startup::{FirstStart, add_user, prepare};
pub use state::AppState;

use crate::auth::oauth;
use crate::error::ApiError;

/// Requests for `<instance-id>.<domain>` go to the instance proxy, everything else to the
/// main site. This runs before routing, so no main-site route is reachable on an instance host.
async fn route_instance_hosts(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request_host(&request).unwrap_or("");
    if proxy::instance_id_from_host(host, &state.config.domain).is_some() {
        return proxy::handle(state, request).await;
    }
    next.run(request).await
}

/// The host a request names: its `Host` header, else its URI's (HTTP/2, absolute-form).
pub(crate) fn request_host(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
}

/// An error answered before the request body was read (401, 413, …) leaves unread bytes on
/// the connection; hyper then closes it. Saying so in `Connection: close` keeps clients from
/// reusing the connection for their next request and failing.
async fn close_after_unread_body(request: Request, next: Next) -> Response {
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let mut response = next.run(request).await;
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}

async fn not_found() -> Response {
    ApiError::not_found("page").into_response()
}

/// The whole HTTP application: main site, API and instance proxy.
pub fn app(state: AppState) -> Router {
    let (api, _openapi) = api::router();
    let site = Router::new()
        .route("/", get(web::home))
        .route("/login", get(web::login_page).post(web::login))
        .route("/favicon.svg", get(web::favicon))
        .route("/favicon.ico", get(web::favicon))
        .route("/logout", post(web::logout))
        .route("/device", get(web::device_page).post(web::device_decide))
        .route(
            "/oauth/authorize",
            get(oauth::authorize_page).post(oauth::authorize_decide),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/device/code", post(oauth::device_code))
        .route("/_q8s/handoff", get(web::handoff))
        .route("/metrics", get(api::metrics))
        .merge(api);
    // Any other path of the main site is a file of the upload page, when there is one.
    let site = match &state.config.web_dir {
        Some(dir) => site.fallback_service(web::page_files(dir, not_found.into_service())),
        None => site.fallback(not_found),
    };
    let site = site
        .with_state(state.clone())
        // Page loads under another host name go to the server's URL before anything else.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::canonical_origin,
        ))
        .layer(middleware::from_fn(close_after_unread_body))
        // Instance actions for another replica's instances go there before anything else.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            cluster::relay::instance_actions,
        ))
        // The main site only: an instance's answers are the app's business (a 503 page for a
        // suspended instance is no server failure), and the proxy logs its own trouble.
        .layer(TraceLayer::new_for_http());
    Router::new()
        .fallback_service(site)
        .layer(middleware::from_fn_with_state(state, route_instance_hosts))
}

/// Runs the server until `shutdown` completes: prepares the data directory and stores
/// (creating the admin on first start and printing how to sign in), brings back instances
/// whose desired state is running, serves, then stops every instance process (their desired
/// state stays, so the next start brings them back).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("listening on {}: {e}", config.listen))?;
    let (state, first_start) = prepare(config).await?;
    if let Some(first) = first_start {
        println!("{}", first.announcement(&state.config));
    }
    let started = reconcile::reconcile(&state, reconcile::Pass::Startup)
        .await?
        .started;
    tracing::info!(url = %state.config.base_url(), instances = started, "q8s-server listening on {}", state.config.listen);
    let membership =
        (!state.store.cluster.exclusive()).then(|| tokio::spawn(cluster::run(state.clone())));
    let reconciler = tokio::spawn(reconcile::reconcile_periodically(
        state.clone(),
        state.config.reconcile_interval,
    ));
    let purge = tokio::spawn(startup::purge_expired_periodically(
        state.store.sessions.clone(),
    ));
    let sweep = tokio::spawn(sweep::sweep_periodically(
        state.clone(),
        state.config.gc_interval,
    ));
    let idle = tokio::spawn(idle::sweep_periodically(state.clone()));
    let tokens = state.config.kubernetes.as_ref().map(|k| {
        tokio::spawn(bundle_token::refresh_periodically(
            state.clone(),
            k.bundle_token_lifetime,
        ))
    });
    // Instance hosts reach the proxy before the router, on threads of their own (see `serve`).
    let result = serve::serve(listener, state.clone(), app(state.clone()), shutdown).await;
    purge.abort();
    idle.abort();
    sweep.abort();
    reconciler.abort();
    if let Some(tokens) = tokens {
        tokens.abort();
    }
    if let Some(membership) = membership {
        membership.abort();
    }
    tracing::info!("stopping instances");
    state.runtime.shutdown().await;
    result.map_err(|e| anyhow::anyhow!("serving: {e}"))
}
