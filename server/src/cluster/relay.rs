//! The instance actions that need the instance's processes — its log, suspend, resume,
//! terminate — asked of a replica that does not run it: relayed to the replica that does,
//! with the caller's own credentials (that replica checks them against the shared store as
//! for any request). Only callers this replica lets in are relayed, so that wrong tokens count
//! against the client's address here, not against this replica's at the other one. A relayed
//! request carries [`RELAY_HEADER`] and is never relayed again.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use q8s_runtime::forward;
use uuid::Uuid;

use super::{RELAY_HEADER, elsewhere, upstream_of};
use crate::auth::{self, ClientAddr};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Middleware of the main site: relays [`instance_action`]s for instances another living
/// replica runs; everything else goes on here.
pub(crate) async fn instance_actions(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.store.cluster.exclusive() {
        return next.run(request).await;
    }
    let Some(id) = instance_action(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    if request.headers_mut().remove(RELAY_HEADER).is_some() {
        // Relayed here already: answered here, whatever the store says now.
        return next.run(request).await;
    }
    // Only a caller this replica lets in is relayed: anyone else is answered here (401, 429),
    // counted against their own address, never against this replica's at the other one.
    let client = ClientAddr(
        request
            .extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip()),
    );
    if !matches!(
        auth::caller_from_parts(&state, request.headers(), client).await,
        Ok(Some(_))
    ) {
        return next.run(request).await;
    }
    let node = match elsewhere(&state, id).await {
        Ok(Some(node)) => node,
        Ok(None) => return next.run(request).await,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(upstream) = upstream_of(&node.address) else {
        return ApiError::new(
            ErrorCode::ReplicaUnavailable,
            format!(
                "replica `{}` has an address q8s cannot use: {}",
                node.name, node.address
            ),
        )
        .into_response();
    };
    tracing::debug!(instance = %id, to = %node.name, "relaying an instance action to the replica that runs it");
    request
        .headers_mut()
        .insert(RELAY_HEADER, HeaderValue::from_static("api"));
    let origin = forward::Origin {
        host: request.headers().get(header::HOST).cloned(),
        user: None,
        peer: client.0,
    };
    match forward::forward(&upstream, request, origin).await {
        Ok(response) => response,
        Err(why) => ApiError::new(
            ErrorCode::ReplicaUnavailable,
            format!(
                "replica `{}`, which runs the instance, does not answer ({why}); try again in a \
                 few seconds",
                node.name
            ),
        )
        .into_response(),
    }
}

/// The instance a request acts on when the action needs its processes: `GET …/logs`,
/// `POST …/suspend`, `POST …/resume`, `DELETE /api/v1/instances/{id}`.
fn instance_action(method: &Method, path: &str) -> Option<Uuid> {
    let rest = path.strip_prefix("/api/v1/instances/")?;
    let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
    let relayed = matches!(
        (method, action),
        (&Method::DELETE, "") | (&Method::POST, "suspend" | "resume") | (&Method::GET, "logs")
    );
    if !relayed {
        return None;
    }
    Uuid::parse_str(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_actions_on_processes_are_relayed() {
        let id = Uuid::new_v4();
        let path = |tail: &str| format!("/api/v1/instances/{id}{tail}");
        assert_eq!(instance_action(&Method::GET, &path("/logs")), Some(id));
        assert_eq!(instance_action(&Method::POST, &path("/suspend")), Some(id));
        assert_eq!(instance_action(&Method::POST, &path("/resume")), Some(id));
        assert_eq!(instance_action(&Method::DELETE, &path("")), Some(id));
        assert_eq!(instance_action(&Method::GET, &path("")), None);
        assert_eq!(instance_action(&Method::PATCH, &path("")), None);
        assert_eq!(instance_action(&Method::GET, "/api/v1/instances"), None);
        assert_eq!(
            instance_action(&Method::GET, "/api/v1/instances/nope/logs"),
            None
        );
    }
}
