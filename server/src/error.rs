//! API errors: an HTTP status and `{"error": {"code", "message", "details"}}` with a stable
//! kebab-case code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::store::StoreError;

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable kebab-case code, e.g. `app-version-exists`.
    pub code: String,
    /// One sentence for people.
    pub message: String,
    /// Structured details (diagnostics of a bad bundle, missing secrets, …).
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<Value>,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for people (never containing secret values).
    pub message: String,
    /// Structured details.
    pub details: Vec<Value>,
    /// Seconds to wait before trying again (`Retry-After`), for 429.
    pub retry_after: Option<u64>,
}

/// Short alias for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = details;
        self
    }

    /// 404: what does not exist and what the caller may not see look the same.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    /// 401: no valid credentials.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in: send `Authorization: Bearer <token>` or a session cookie",
        )
    }

    /// 403: signed in, but not allowed (used only where existence is no secret).
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: well-formed but not acceptable.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// 507: the server's disk is full, so nothing was kept of what the request would have
    /// stored; logged as a warning, since an operator has to make room.
    pub fn insufficient_storage(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(context, %cause, "disk full");
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient-storage",
            format!(
                "the server's disk is full: nothing was stored while {context}; try again once \
                 its administrator has made room"
            ),
        )
    }

    /// 507 when `cause` (or an error it wraps) is a full disk or exhausted quota, else 500.
    pub fn storage(context: &str, cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut source = Some(cause);
        while let Some(err) = source {
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(is_disk_full)
            {
                return ApiError::insufficient_storage(context, cause);
            }
            source = err.source();
        }
        ApiError::internal(context, cause)
    }

    /// 429: too many failed attempts (wrong passwords, unknown tokens or codes) from this
    /// address or for this account; nothing was checked. `Retry-After` says when to try again.
    pub fn too_many_attempts(retry_after: u64) -> Self {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-attempts",
            format!("too many failed sign-in attempts; try again in {retry_after} seconds"),
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// 500: logged with its cause; the answer says no more than the code.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(context, %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            format!("the server failed while {context}"),
        )
    }
}

/// A write failed for want of room: no space left on the device, or a quota exhausted.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("object"),
            StoreError::Conflict(code) => ApiError::conflict(code, code.replace('-', " ")),
            StoreError::Full => ApiError::insufficient_storage("using the database", e),
            other => ApiError::internal("using the database", other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
