//! What can go wrong talking to q8s, as data: the server's own errors (with their stable
//! `code`, `message` and `details`), and the client's (unreachable server, unexpected answers,
//! files that cannot be read).
//!
//! Every error displays as one sentence people can act on: what happened, the code in
//! parentheses, and for the codes where there is something to do, what to do
//! (`… already exists (app-version-exists) — bump Version in q-app.toml`). The CLI prints it
//! after `error: `, and the Python and JS surfaces use the same text.

use serde_json::Value;

use super::types::ErrorBody;
use super::{ErrorCode, Surface};
use crate::diagnostic::Diagnostic;

/// An error of a q8s API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The server answered with an error (`{"error": {"code", "message", "details"}}`).
    #[error("{}", self.sentence())]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's stable kebab-case code, e.g. `app-version-exists`.
        code: String,
        /// The server's sentence.
        message: String,
        /// Structured details: diagnostics of a bad bundle, missing secrets, …
        details: Vec<Value>,
    },
    /// No answer: nothing listens there, the name does not resolve, TLS failed, or the
    /// connection broke.
    #[error("{}", self.sentence())]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// Why, in a few words (`connection refused`).
        reason: String,
    },
    /// An answer that is not one the API gives (an HTML page of a proxy, a body that is not
    /// the JSON expected).
    #[error("{}", self.sentence())]
    UnexpectedResponse {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// A sign-in flow ended without a token (`access_denied`, `expired_token`, …).
    #[error("{}", self.sentence())]
    SignIn {
        /// The OAuth error, kebab-cased (`access-denied`).
        code: String,
        /// What the server said.
        description: String,
    },
    /// The base URL cannot be used.
    #[error("{}", self.sentence())]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Something did not happen in time (an instance did not reach a status).
    #[error("{}", self.sentence())]
    Timeout {
        /// What is still the case, in words (`instance … is still STARTING`).
        what: String,
        /// How long it was awaited.
        seconds: u64,
    },
    /// A local file could not be read.
    #[error("{context}: {source} (io-error)")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ApiError {
    /// The stable kebab-case code: the server's code for [`ApiError::Server`], else
    /// `unreachable`, `unexpected-response`, the kebab-cased OAuth error, `invalid-url`,
    /// `timeout` or `io-error`.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Server { code, .. } | ApiError::SignIn { code, .. } => code,
            ApiError::Unreachable { .. } => ErrorCode::Unreachable.as_str(),
            ApiError::UnexpectedResponse { .. } => ErrorCode::UnexpectedResponse.as_str(),
            ApiError::InvalidUrl { .. } => ErrorCode::InvalidUrl.as_str(),
            ApiError::Timeout { .. } => ErrorCode::Timeout.as_str(),
            ApiError::Io { .. } => ErrorCode::IoError.as_str(),
        }
    }

    /// The HTTP status of an answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Server { status, .. } | ApiError::UnexpectedResponse { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The server's sentence (for client errors, the fact without code or advice).
    pub fn message(&self) -> String {
        match self {
            ApiError::Server { message, .. } => message.clone(),
            _ => self.fact(),
        }
    }

    /// The server's structured details (empty for client errors).
    pub fn details(&self) -> &[Value] {
        match self {
            ApiError::Server { details, .. } => details,
            _ => &[],
        }
    }

    /// The diagnostics in the details (of an `invalid-bundle` answer).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.details()
            .iter()
            .filter_map(|d| serde_json::from_value(d.clone()).ok())
            .collect()
    }

    /// What to do about it, for the codes where there is something to say (the hint of
    /// [`ErrorCode`]).
    pub fn hint(&self) -> Option<&'static str> {
        self.hint_in(Surface::Cli)
    }

    /// [`ApiError::hint`] in the terms of `surface` ([`ErrorCode::hint_in`]).
    pub fn hint_in(&self, surface: Surface) -> Option<&'static str> {
        ErrorCode::from_code(self.code()).and_then(|code| code.hint_in(surface))
    }

    /// The one sentence shown to people of `surface`: fact, code, and its hint when there is
    /// one (the error's `Display` is the CLI's).
    pub fn sentence_in(&self, surface: Surface) -> String {
        let fact = self.fact();
        match self.hint_in(surface) {
            Some(hint) => format!("{fact} ({}) — {hint}", self.code()),
            None => format!("{fact} ({})", self.code()),
        }
    }

    /// What happened, without code or hint.
    fn fact(&self) -> String {
        match self {
            // The server's messages read "<fact>; <advice for API callers>". Where we have
            // advice for people at a terminal, it replaces the server's.
            ApiError::Server { message, .. } => match (self.hint(), message.split_once("; ")) {
                (Some(_), Some((fact, _))) => fact.to_owned(),
                _ => message.clone(),
            },
            ApiError::Unreachable { url, reason } => {
                format!("cannot reach q8s at {url} ({reason})")
            }
            ApiError::UnexpectedResponse {
                url,
                status,
                reason,
            } => format!("unexpected answer from {url} (HTTP {status}): {reason}"),
            ApiError::SignIn { description, .. } => format!("sign-in failed: {description}"),
            ApiError::InvalidUrl { url, reason } => {
                format!("`{url}` is not a usable URL: {reason}")
            }
            ApiError::Timeout { what, seconds } => format!("{what} after {seconds} seconds"),
            ApiError::Io { context, source } => format!("{context}: {source}"),
        }
    }

    /// The one sentence shown to people at a terminal.
    fn sentence(&self) -> String {
        self.sentence_in(Surface::Cli)
    }

    /// The error of an OAuth token-endpoint answer (`access_denied` → `access-denied`).
    pub fn sign_in(error: &str, description: Option<String>) -> ApiError {
        ApiError::SignIn {
            code: error.replace('_', "-"),
            description: description.unwrap_or_else(|| error.replace('_', " ")),
        }
    }
}

impl ApiError {
    /// The error an unsuccessful answer carries: the server's JSON error (`{"error": {code,
    /// message, details}}`), or, when the body is not one, an unexpected response. The
    /// browser's upload (an `XMLHttpRequest`, for its progress events) reads errors with it.
    ///
    /// ```
    /// use q8s_core::api::ApiError;
    /// let body = r#"{"error": {"code": "app-version-exists", "message": "ai.x 1.0.0 exists"}}"#;
    /// let err = ApiError::from_response(409, "http://q8s.test/api/v1/apps", body);
    /// assert_eq!((err.code(), err.status()), ("app-version-exists", Some(409)));
    /// let err = ApiError::from_response(502, "http://q8s.test/api/v1/apps", "<html>Bad gateway");
    /// assert_eq!(err.code(), "unexpected-response");
    /// ```
    pub fn from_response(status: u16, url: &str, body: &str) -> ApiError {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(body) => ApiError::Server {
                status,
                code: body.error.code,
                message: body.error.message,
                details: body.error.details,
            },
            Err(_) => ApiError::UnexpectedResponse {
                url: url.to_owned(),
                status,
                reason: format!("{:?}", excerpt(body)),
            },
        }
    }
}

/// The start of a body, for messages.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str, message: &str) -> ApiError {
        ApiError::Server {
            status: 409,
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    #[test]
    fn server_errors_read_as_one_sentence_with_code_and_advice() {
        let e = server(
            "app-version-exists",
            "app ai.h2o.q.peak 0.1.2 already exists; bump App.Version to import a new version",
        );
        assert_eq!(
            e.to_string(),
            "app ai.h2o.q.peak 0.1.2 already exists (app-version-exists) — bump Version in q-app.toml"
        );
        assert_eq!(e.code(), "app-version-exists");
        assert_eq!(e.status(), Some(409));
        let e = server(
            "insufficient-storage",
            "the server's disk is full: nothing was stored while receiving the upload; try again once its administrator has made room",
        );
        assert_eq!(
            e.to_string(),
            "the server's disk is full: nothing was stored while receiving the upload \
             (insufficient-storage) — the server's administrator must free space on its data \
             disk; then try again"
        );
        // Without advice of ours, the server's sentence stays whole.
        let e = server("user-exists", "user `bob` exists; pick another name");
        assert_eq!(
            e.to_string(),
            "user `bob` exists; pick another name (user-exists)"
        );
    }

    #[test]
    fn sign_in_refusals_say_what_to_do() {
        let e = server(
            "too-many-attempts",
            "too many failed sign-in attempts; try again in 900 seconds",
        );
        assert_eq!(
            e.to_string(),
            "too many failed sign-in attempts (too-many-attempts) — wait as long as the server \
             says (Retry-After), then try again with the right credentials"
        );
        for code in ["conflicting-session-cookies", "cross-origin-request"] {
            assert!(server(code, "x").hint().is_some(), "{code}");
        }
    }

    #[test]
    fn unreachable_names_the_url_and_how_to_configure_it() {
        let e = ApiError::Unreachable {
            url: "http://127.0.0.1:8008".into(),
            reason: "connection refused".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with(
                "cannot reach q8s at http://127.0.0.1:8008 (connection refused) (unreachable) — "
            ),
            "{text}"
        );
        assert!(text.contains("Q8S_URL") && text.contains("config setup"));
    }

    #[test]
    fn oauth_errors_are_kebab_cased() {
        let e = ApiError::sign_in("access_denied", Some("the sign-in was denied".into()));
        assert_eq!(e.code(), "access-denied");
        assert!(
            e.to_string()
                .starts_with("sign-in failed: the sign-in was denied (access-denied)")
        );
    }

    #[test]
    fn diagnostics_come_from_the_details() {
        let e = ApiError::Server {
            status: 422,
            code: "invalid-bundle".into(),
            message: "bad".into(),
            details: vec![
                serde_json::json!({"severity": "error", "code": "unsafe-path",
                "path": "../x", "message": "escapes", "line": null, "column": null, "help": null}),
            ],
        };
        let d = e.diagnostics();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "unsafe-path");
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("  <html> "), "<html>");
        assert_eq!(excerpt(&"é".repeat(200)).chars().count(), 121);
    }
}
