//! `/healthz` (liveness), `/readyz` (readiness), `/metrics` and the admins' view of this
//! replica's capacity (`/api/v1/admin/capacity`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use q8s_core::api::CapacityReport;

use super::models::{Liveness, Readiness};
use crate::auth::Admin;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

/// The process is alive and serves HTTP: always 200, without asking the database or the blob
/// store (a load balancer or supervisor that restarts on a failed liveness check must not
/// restart every replica because the database is down).
#[utoipa::path(
    get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process serves", body = Liveness))
)]
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness {
        status: "ok".into(),
    })
}

/// Whether this replica can serve requests: 200 when the metadata store and the blob store
/// answer, 503 naming what does not (send traffic only to a ready replica).
#[utoipa::path(
    get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: `failing` names what does not answer", body = Readiness)
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (store, blob_store) = futures::future::join(
        answers("the metadata store", state.store.accounts.ping()),
        answers("the blob store", state.blobs.check()),
    )
    .await;
    let mut failing = Vec::new();
    if !store {
        failing.push("store".to_owned());
    }
    if !blob_store {
        failing.push("blob_store".to_owned());
    }
    let ok = failing.is_empty();
    let readiness = Readiness {
        status: if ok { "ok" } else { "unavailable" }.into(),
        store,
        blob_store,
        failing,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

/// How long a readiness check waits for one answer: a client retrying an unreachable bucket
/// with back-off would otherwise keep the probe waiting for minutes.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `check` succeeds within [`READY_TIMEOUT`]; logs why not (the answer only names
/// what fails: it is public).
async fn answers<E: std::fmt::Display>(
    what: &str,
    check: impl Future<Output = Result<(), E>>,
) -> bool {
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: {what} does not answer");
            false
        }
        Err(_) => {
            tracing::warn!("not ready: {what} did not answer within {READY_TIMEOUT:?}");
            false
        }
    }
}

/// `GET /metrics`: Prometheus text, this replica's (counters, the instances it runs) beside the
/// store's instance counts, which every replica reports alike.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let here = state.runtime.list().await.map_or(0, |list| list.len());
    let replica = crate::state::Replica {
        node: &state.node.name,
        leads: state.node.leads(),
        instances: here,
        capacity: state.runtime.capacity(),
    };
    let counts = match state.store.catalog.instance_status_counts().await {
        Ok(counts) => state
            .store
            .catalog
            .sleeping_count()
            .await
            .map(|sleeping| (counts, sleeping)),
        Err(e) => Err(e),
    };
    match counts {
        Ok((counts, sleeping)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render(&replica, &counts, sleeping),
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal("reading instance counts", e).into_response(),
    }
}

/// This replica's memory admission (capacity, reserved, used; admitted and waiting instances)
/// and every instance by status (admins).
#[utoipa::path(
    get, path = "/admin/capacity", tag = "operations",
    responses(
        (status = 200, body = CapacityReport),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn capacity(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Json<CapacityReport>> {
    let memory = state.runtime.capacity();
    let instances = state
        .store
        .catalog
        .instance_status_counts()
        .await?
        .into_iter()
        .map(|(status, n)| (status.as_str().to_owned(), n))
        .collect();
    let sleeping = state.store.catalog.sleeping_count().await?;
    Ok(Json(CapacityReport {
        node: state.node.name.clone(),
        capacity_bytes: memory.capacity,
        reserved_bytes: memory.reserved,
        used_bytes: memory.used,
        admitted: memory.admitted,
        waiting: memory.waiting,
        instances,
        sleeping,
    }))
}
