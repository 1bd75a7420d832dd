//! The CLI's end of the loopback sign-in (RFC 8252): a one-shot HTTP listener on
//! `127.0.0.1:<random port>` that waits for the browser to come back to `/callback` with the
//! authorization code and the `state` the CLI sent.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The path the server redirects the browser to.
pub const CALLBACK_PATH: &str = "/callback";

/// Longest request head accepted from the browser.
const MAX_HEAD: usize = 16 * 1024;

/// A listener waiting for the browser.
pub struct Loopback {
    listener: TcpListener,
    redirect_uri: String,
}

/// What the browser brought back.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback {
    /// The user allowed the request: the authorization code.
    Code(String),
    /// The server or the user refused (`access_denied`, …).
    Error {
        /// The OAuth error.
        error: String,
        /// The server's description, if any.
        description: Option<String>,
    },
}

/// A browser connection waiting for its answer.
pub struct Pending {
    stream: TcpStream,
}

impl Loopback {
    /// Listens on a free loopback port.
    pub async fn bind() -> anyhow::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on 127.0.0.1 for the browser sign-in")?;
        let port = listener.local_addr()?.port();
        Ok(Loopback {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}"),
        })
    }

    /// `http://127.0.0.1:<port>/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits (up to `timeout`) for a request to `/callback` carrying `state`. Other requests
    /// (a favicon, a stale tab of an earlier attempt with another state) are answered and
    /// ignored. Returns what the browser brought and its connection, to answer once the code
    /// is exchanged.
    pub async fn wait(
        &self,
        state: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Callback, Pending)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = tokio::time::timeout_at(deadline, self.listener.accept()).await;
            let Ok(accepted) = accepted else {
                bail!(
                    "no answer from the browser within {} minutes; run `q8s-cli config setup` again (or use --device)",
                    timeout.as_secs() / 60
                );
            };
            let (mut stream, _) = accepted.context("accepting the browser's connection")?;
            let Ok(Ok(target)) =
                tokio::time::timeout(Duration::from_secs(10), read_target(&mut stream)).await
            else {
                continue;
            };
            match parse_callback(&target, state) {
                Some(callback) => return Ok((callback, Pending { stream })),
                None => {
                    let page = page(
                        "Not this request",
                        "This page does not belong to the sign-in in progress.",
                    );
                    let _ = respond(&mut stream, "404 Not Found", &page).await;
                }
            }
        }
    }
}

impl Pending {
    /// Answers the browser with a small page and closes the connection.
    pub async fn finish(mut self, ok: bool, title: &str, text: &str) {
        let status = if ok { "200 OK" } else { "400 Bad Request" };
        let _ = respond(&mut self.stream, status, &page(title, text)).await;
    }
}

/// The request target (`/callback?…`) of a GET request.
async fn read_target(stream: &mut TcpStream) -> anyhow::Result<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            bail!("incomplete request");
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => bail!("not a GET request"),
    }
}

/// The callback a request target carries, when it is `/callback` with the expected state.
fn parse_callback(target: &str, state: &str) -> Option<Callback> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        return None;
    }
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut echoed = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match &*key {
            "code" => code = Some(value),
            "error" => error = Some(value),
            "error_description" => description = Some(value),
            "state" => echoed = Some(value),
            _ => {}
        }
    }
    // Constant-time comparison is not needed: the state is not a secret once sent.
    if echoed.as_deref() != Some(state) {
        return None;
    }
    match (code, error) {
        (_, Some(error)) => Some(Callback::Error { error, description }),
        (Some(code), None) => Some(Callback::Code(code)),
        (None, None) => None,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn page(title: &str, text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>q8s: {t}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}</style>\
         </head><body><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_need_the_right_path_and_state() {
        assert_eq!(
            parse_callback("/callback?code=abc&state=s1", "s1"),
            Some(Callback::Code("abc".into()))
        );
        assert_eq!(parse_callback("/callback?code=abc&state=s2", "s1"), None);
        assert_eq!(parse_callback("/callback?code=abc", "s1"), None);
        assert_eq!(parse_callback("/favicon.ico", "s1"), None);
        assert_eq!(
            parse_callback("/callback?error=access_denied&state=s%201", "s 1"),
            Some(Callback::Error {
                error: "access_denied".into(),
                description: None
            })
        );
    }

    #[tokio::test]
    async fn a_browser_request_is_read_and_answered() {
        let loopback = Loopback::bind().await.unwrap();
        let uri = format!("{}?state=xyz&code=c0de", loopback.redirect_uri());
        let port = uri
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let browser = tokio::spawn(async move {
            // A stray request first, then the real one.
            for target in ["/favicon.ico", "/callback?state=xyz&code=c0de"] {
                let mut s = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()))
                    .await
                    .unwrap();
                s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut answer = String::new();
                s.read_to_string(&mut answer).await.unwrap();
                if target.starts_with("/callback") {
                    return answer;
                }
                assert!(answer.starts_with("HTTP/1.1 404"));
            }
            unreachable!()
        });
        let (callback, pending) = loopback.wait("xyz", Duration::from_secs(10)).await.unwrap();
        assert_eq!(callback, Callback::Code("c0de".into()));
        pending
            .finish(true, "Signed in", "You can close <this> tab.")
            .await;
        let answer = browser.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"));
        assert!(answer.contains("close &lt;this&gt; tab"));
    }
}
