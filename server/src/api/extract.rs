//! `Json` and `Query` extractors whose rejections are API errors with the JSON envelope, and
//! the one place that says how a body or query field that cannot be read is answered: one
//! code per mistake (a bad `visibility` is `invalid-visibility` wherever it is sent, anything
//! else `invalid-request`), and a sentence that names the field and what it takes.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use q8s_core::api::Visibility;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use serde_path_to_error::{Path, Segment};

use crate::error::{ApiError, ErrorCode};

/// A JSON body: one that is not `application/json` is a 415 `unsupported-media-type`, too
/// large a 413 `body-too-large`, and one that cannot be read a 422 (see [`read_body`]).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// A query string; a field that cannot be read is a 422 (see the module documentation).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await?;
        from_value(&value).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded::parse(query.as_bytes());
        serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(ApiQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                let given = form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| *key == field)
                    .map(|(_, value)| value.into_owned());
                field_error("query", e.path(), given, &e.inner().to_string())
            })
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        match e {
            JsonRejection::JsonSyntaxError(e) => not_json(&e.body_text()),
            e => {
                let code = match e.status() {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
                    StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
                    _ => ErrorCode::InvalidRequest,
                };
                ApiError::new(code, e.body_text())
            }
        }
    }
}

/// Reads a JSON body given as bytes (for endpoints whose body may be empty).
pub fn read_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| not_json(&e.to_string()))?;
    from_value(&value)
}

/// The 422 `invalid-visibility` of a value that is not one, the same for every endpoint.
pub fn invalid_visibility(given: &str) -> ApiError {
    let allowed: Vec<&str> = Visibility::ALL.iter().map(|v| v.as_str()).collect();
    ApiError::new(
        ErrorCode::InvalidVisibility,
        format!("visibility must be {}, not `{given}`", allowed.join(" or ")),
    )
    .with_details(vec![json!({"field": "visibility", "allowed": allowed})])
}

fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let given = pointer(e.path())
            .and_then(|p| value.pointer(&p))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        field_error("body", e.path(), given, &e.inner().to_string())
    })
}

/// A body that does not parse; axum's text starts "Failed to parse the request body as JSON".
fn not_json(reason: &str) -> ApiError {
    let reason = reason
        .strip_prefix("Failed to parse the request body as JSON: ")
        .unwrap_or(reason);
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!("the body is not JSON: {reason}"),
    )
}

/// The JSON pointer of a path of object keys and array indexes.
fn pointer(path: &Path) -> Option<String> {
    path.iter()
        .map(|segment| match segment {
            Segment::Map { key } => Some(format!("/{}", key.replace('~', "~0").replace('/', "~1"))),
            Segment::Seq { index } => Some(format!("/{index}")),
            _ => None,
        })
        .collect()
}

/// The answer to a field of `place` (`body` or `query`) that serde could not read, `reason`
/// being serde's words (which name the accepted values of an enum, or the known fields).
fn field_error(place: &str, path: &Path, given: Option<String>, reason: &str) -> ApiError {
    let field = path.to_string();
    if path.iter().next().is_none() {
        // Not one field's value: an unknown or missing field, or a body of the wrong kind.
        return ApiError::new(ErrorCode::InvalidRequest, format!("the {place}: {reason}"));
    }
    if field == "visibility" {
        return invalid_visibility(given.as_deref().unwrap_or_default());
    }
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!("`{field}` in the {place}: {reason}"),
    )
    .with_details(vec![json!({ "field": field })])
}
