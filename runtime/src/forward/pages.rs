//! The small HTML pages answered when a request cannot be forwarded: the server's proxy shows
//! them for unknown, stopped, suspended, starting and failed instances and a broken sign-in
//! hand-off, and `q8s-cli exec` for its one instance.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// `text` made safe inside HTML text and attribute values (the one escaping of q8s's pages:
/// these and the server's site).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Seconds a browser waits before asking again about a starting instance.
const RETRY_SECONDS: u32 = 2;

/// A page with `status`, a title and one paragraph (plain text, escaped here).
pub fn page(status: StatusCode, title: &str, text: &str) -> Response {
    render(status, title, text, false)
}

/// Like [`page`], for a state that changes by itself: `Retry-After` and an automatic reload.
pub fn retry_page(status: StatusCode, title: &str, text: &str) -> Response {
    let mut response = render(status, title, text, true);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_SECONDS));
    response
}

/// The page of an instance that does not answer (it may be restarting): a `502` that
/// reloads by itself.
pub fn unanswered() -> Response {
    retry_page(
        StatusCode::BAD_GATEWAY,
        "The instance does not answer",
        "It may be restarting. This page reloads by itself.",
    )
}

fn render(status: StatusCode, title: &str, text: &str, refresh: bool) -> Response {
    let refresh = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{RETRY_SECONDS}\">")
    } else {
        String::new()
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · q8s</title><style>\
         body{{font-family:system-ui,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}}\
         main{{max-width:30rem;margin:10vh auto;background:#fff;padding:2rem 2.2rem;\
         border-radius:12px;box-shadow:0 2px 12px #0002}}h1{{font-size:1.35rem;margin:0 0 1rem}}\
         p{{line-height:1.45}}</style></head><body><main><h1>{title}</h1><p>{text}</p></main>\
         </body></html>",
        title = escape(title),
        text = escape(text),
    );
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_escape_their_text_and_retry_pages_refresh() {
        let response = retry_page(StatusCode::SERVICE_UNAVAILABLE, "Starting", "<b>soon</b>");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("&lt;b&gt;soon&lt;/b&gt;"));
        assert!(body.contains("http-equiv=\"refresh\""));
        let plain = page(StatusCode::NOT_FOUND, "Not found", "x");
        assert!(plain.headers().get(header::RETRY_AFTER).is_none());
    }
}
