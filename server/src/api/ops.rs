//! `/healthz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::models::Health;
use crate::state::AppState;

/// `GET /healthz`: 200 when the store and the blob store answer, 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let store = state.store.accounts.ping().await.is_ok();
    let blob_store = state.blobs.check().await.is_ok();
    let ok = store && blob_store;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: if ok { "ok" } else { "unavailable" }.into(),
        store,
        blob_store,
    };
    (status, Json(health))
}

/// `GET /metrics`: Prometheus text, this replica's (counters, the instances it runs) beside the
/// store's instance counts, which every replica reports alike.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let here = state.runtime.list().await.map_or(0, |list| list.len());
    let replica = crate::state::Replica {
        node: &state.node.name,
        leads: state.node.leads(),
        instances: here,
    };
    match state.store.catalog.instance_status_counts().await {
        Ok(counts) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render(&replica, &counts),
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal("reading instance counts", e).into_response(),
    }
}
