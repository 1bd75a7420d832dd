//! The REST API under `/api/v1` (service design), with its OpenAPI document generated from
//! the handlers' annotations.

mod accounts;
mod apps;
mod extract;
mod instance_bundle;
mod instances;
pub mod models;
mod names;
mod ops;
mod page;
pub(crate) mod secrets;

use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub use accounts::valid_username;
pub(crate) use names::name_taken;
pub use secrets::Launcher;

/// The status sink that records the reports of `node`'s runtime in the store.
pub fn instances_sink(
    catalog: std::sync::Arc<dyn crate::store::Catalog>,
    node: &str,
) -> std::sync::Arc<dyn q8s_runtime::StatusSink> {
    std::sync::Arc::new(crate::service::instances::StoreStatusSink {
        catalog,
        node: node.to_owned(),
    })
}
pub use ops::metrics;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "q8s API", description = "Import, list, run and reach apps on a q8s service."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody, models::Scope))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API routes and the OpenAPI document describing exactly them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::new()
        .routes(routes!(apps::import_app, apps::list_apps))
        .routes(routes!(apps::get_app, apps::patch_app, apps::delete_app))
        .routes(routes!(apps::download_bundle))
        .routes(routes!(apps::download_icon))
        .routes(routes!(apps::download_screenshot))
        .routes(routes!(names::transfer_app_name))
        .routes(routes!(instances::create_instance))
        .routes(routes!(instances::list_instances))
        .routes(routes!(
            instances::get_instance,
            instances::patch_instance,
            instances::terminate_instance
        ))
        .routes(routes!(instances::suspend_instance))
        .routes(routes!(instances::resume_instance))
        .routes(routes!(instances::instance_logs))
        .routes(routes!(secrets::list_secrets))
        .routes(routes!(
            secrets::put_secret,
            secrets::patch_secret,
            secrets::delete_secret
        ))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::list_tokens, accounts::create_token))
        .routes(routes!(accounts::delete_token))
        .routes(routes!(accounts::list_users, accounts::create_user))
        .routes(routes!(ops::capacity));
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .nest("/api/v1", api)
        .split_for_parts();
    let json = doc.clone();
    let api = api
        // For pods, with an instance's download token: not in the OpenAPI document.
        .route(
            "/api/v1/instances/{id}/bundle",
            get(instance_bundle::instance_bundle),
        )
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let json = json.clone();
                async move { Json(json) }
            }),
        )
        // Imports enforce their own cap (`--max-bundle-size`) while streaming; every other
        // body is small.
        .layer(DefaultBodyLimit::max(1 << 20));
    (api, doc)
}

/// Ids in paths: anything that is not a UUID names nothing (404, like an unknown id).
pub(crate) fn parse_id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found(what))
}

#[cfg(test)]
mod bindings_tests;
