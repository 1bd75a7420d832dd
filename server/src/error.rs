//! API errors: an HTTP status and `{"error": {"code", "message", "details"}}` with a stable
//! kebab-case code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub use q8s_core::api::{ErrorBody, ErrorCode, ErrorDetail};

use crate::store::{Conflict, StoreError};

/// An error answer. Its code is one of core's [`ErrorCode`]s, which also gives its status:
/// the server has no other way to make one.
#[derive(Debug)]
pub struct ApiError {
    /// Stable code (a server code: one with a status).
    pub code: ErrorCode,
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
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert!(!code.is_client(), "{code} is a client code");
        ApiError {
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// The HTTP status of the answer: the code's.
    pub fn status(&self) -> StatusCode {
        self.code
            .status()
            .and_then(|status| StatusCode::from_u16(status).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = details;
        self
    }

    /// 404: what does not exist and what the caller may not see look the same.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 401: no valid credentials.
    pub fn unauthorized() -> Self {
        ApiError::new(
            ErrorCode::Unauthorized,
            "not signed in: the request has no API token or session cookie; send \
             `Authorization: Bearer <token>` or sign in",
        )
    }

    /// 401: a bearer token was sent but names no token (any more). Whether it was revoked,
    /// never existed or is mistyped, the server cannot say (it keeps no trace of revoked
    /// tokens) and would not: the answer would tell guessers which tokens once existed.
    pub fn token_refused() -> Self {
        ApiError::new(ErrorCode::Unauthorized, TOKEN_REFUSED)
    }

    /// 403: signed in, but not allowed (used only where existence is no secret).
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 507: the server's disk is full, so nothing was kept of what the request would have
    /// stored; logged as a warning, since an operator has to make room.
    pub fn insufficient_storage(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(context, %cause, "disk full");
        ApiError::new(
            ErrorCode::InsufficientStorage,
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
            ErrorCode::TooManyAttempts,
            format!("too many failed sign-in attempts; try again in {retry_after} seconds"),
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// 500: logged with its cause; the answer says no more than the code.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(context, %cause, "internal error");
        ApiError::new(
            ErrorCode::InternalError,
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

/// What a refused bearer token hears, from the API and the instance proxy alike.
pub const TOKEN_REFUSED: &str = "the API token sent was refused: it was revoked, or it is not \
    a token of this server; sign in again to get a new one (`q8s-cli config setup`)";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("object"),
            StoreError::Conflict(conflict) => {
                let code = match conflict {
                    Conflict::UserName => ErrorCode::UserExists,
                    Conflict::TokenHash => {
                        return ApiError::internal("storing a token", conflict);
                    }
                    Conflict::UserCode => ErrorCode::UserCodeExists,
                    Conflict::AppVersion => ErrorCode::AppVersionExists,
                    Conflict::AppOwner => ErrorCode::AppNameTaken,
                    Conflict::AppInstances => ErrorCode::AppHasInstances,
                };
                ApiError::new(code, code.as_str().replace('-', " "))
            }
            StoreError::Full => ApiError::insufficient_storage("using the database", e),
            other => ApiError::internal("using the database", other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests;
