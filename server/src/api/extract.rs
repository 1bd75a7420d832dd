//! `Json` and `Query` extractors whose rejections are API errors with the JSON envelope.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::error::ApiError;

/// A JSON body; a malformed one is a 422 `invalid-request`.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A query string; a malformed one is a 422 `invalid-request`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        let status = e.status();
        let code = if status == axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE {
            "unsupported-media-type"
        } else if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            "body-too-large"
        } else {
            "invalid-request"
        };
        let status = if code == "invalid-request" {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        } else {
            status
        };
        ApiError::new(status, code, e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::unprocessable("invalid-request", e.body_text())
    }
}
