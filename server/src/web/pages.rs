//! HTML of the main site's pages.

use axum::response::Html;

pub use q8s_runtime::forward::pages::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}
main{max-width:26rem;margin:8vh auto;background:#fff;padding:2rem 2.2rem;border-radius:12px;box-shadow:0 2px 12px #0002}
h1{font-size:1.35rem;margin:0 0 1.2rem}label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #c8ccd4;border-radius:6px;font-size:1rem}
button{margin-top:1.2rem;padding:.6rem 1.1rem;border:0;border-radius:6px;background:#1f6feb;color:#fff;font-size:1rem;cursor:pointer}
button.secondary{background:#e4e7ec;color:#1d2330;margin-left:.5rem}.error{color:#b42318;margin:.5rem 0}
.code{font-family:ui-monospace,monospace;font-size:1.3rem;letter-spacing:.15em}p.muted{color:#5c6576}";

/// A complete page around `body` (already HTML).
pub fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · q8s</title><link rel=\"icon\" href=\"/favicon.svg\"><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    ))
}

/// A page with a title and one sentence.
pub fn message(title: &str, text: &str) -> Html<String> {
    page(
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)),
    )
}

/// The sign-in form.
pub fn login(next: &str, error: Option<&str>) -> Html<String> {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    page(
        "Sign in",
        &format!(
            "<h1>Sign in to q8s</h1>{error}<form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <label for=\"username\">Username</label>\
             <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            escape(next)
        ),
    )
}

/// The signed-in landing page.
pub fn home(username: &str) -> Html<String> {
    page(
        "q8s",
        &format!(
            "<h1>q8s</h1><p>Signed in as <b>{}</b>.</p>\
             <p class=\"muted\">Use <code>q8s-cli</code> or the API at <code>/api/v1</code> \
             (<a href=\"/api/v1/openapi.json\">OpenAPI document</a>).</p>\
             <form method=\"post\" action=\"/logout\"><button class=\"secondary\" type=\"submit\">Sign out</button></form>",
            escape(username)
        ),
    )
}

/// The device approval form.
pub fn device(username: &str, code: &str, error: Option<&str>) -> Html<String> {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    page(
        "Sign in a device",
        &format!(
            "<h1>Sign in a device</h1>{error}<p>Enter the code shown in your terminal to sign it \
             in as <b>{}</b>.</p><form method=\"post\" action=\"/device\">\
             <label for=\"user_code\">Code</label>\
             <input class=\"code\" type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{}\" \
             autocomplete=\"off\" required autofocus>\
             <button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\
             <button class=\"secondary\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
            escape(username),
            escape(code)
        ),
    )
}

/// The consent page of the loopback flow: the form re-posts the authorization request.
pub fn consent(username: &str, redirect_host: &str, hidden: &[(&str, &str)]) -> Html<String> {
    let fields: String = hidden
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    page(
        "Allow q8s-cli",
        &format!(
            "<h1>Allow q8s-cli?</h1><p><b>q8s-cli</b> on this computer ({}) asks to use q8s as \
             <b>{}</b>. It receives an API token.</p><form method=\"post\" action=\"/oauth/authorize\">{fields}\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
             <button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            escape(redirect_host),
            escape(username)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert!(
            login("/x\"><script>", None)
                .0
                .contains("/x&quot;&gt;&lt;script&gt;")
        );
    }
}
