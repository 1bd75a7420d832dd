//! `GET /api/v1/instances/{id}/bundle`: an instance's bundle for the runtime that runs it off
//! this host (the pod's init container, `q8s-server launch prepare`), authenticated by the
//! instance's download token ([`crate::bundle_token`]), never by a user's credentials. Not part
//! of the OpenAPI document: programs of q8s's own call it, not clients.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::auth::{self, ClientAddr, throttle};
use crate::bundle_token::Refused;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::DesiredState;

/// Streams instance `id`'s bundle to the holder of a valid download token of that instance
/// whose instance is not terminated; 401 for anything else (another instance's token, an
/// expired one, an API token, none), counted against the client's address like unknown API
/// tokens.
pub(crate) async fn instance_bundle(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let key = client.0.map(throttle::Key::address);
    let keys = key.as_slice();
    let throttle = &state.throttles.tokens;
    throttle
        .check(keys)
        .map_err(|wait| ApiError::from(auth::Refusal::Throttled(wait)))?;
    let refuse = |why: &str| {
        tracing::warn!(instance = %id, client = ?client.0, why, "refused a bundle download");
        async move {
            throttle.fail(keys).await;
            ApiError::unauthorized()
        }
    };
    let Ok(instance_id) = uuid::Uuid::parse_str(&id) else {
        return Err(refuse("no instance id").await);
    };
    let Some(token) = auth::bearer(&headers) else {
        return Err(refuse("no token").await);
    };
    let grant = match state
        .bundle_tokens
        .check(token, instance_id, OffsetDateTime::now_utc())
    {
        Ok(grant) => grant,
        Err(Refused::Invalid) => return Err(refuse("not an instance token").await),
        Err(Refused::OtherInstance) => return Err(refuse("another instance's token").await),
        Err(Refused::Expired) => return Err(refuse("an expired token").await),
    };
    let catalog = &state.store.catalog;
    let instance = match catalog.instance(instance_id).await? {
        Some(i) if i.desired != DesiredState::Terminated => i,
        _ => return Err(refuse("the instance is terminated").await),
    };
    let app = match catalog.app(instance.app_id).await? {
        Some(app) if app.bundle_sha256 == grant.bundle_sha256 => app,
        _ => return Err(refuse("the token names another bundle").await),
    };
    let stream = state.blobs.read(&app.bundle_sha256).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(app.bundle_size)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
