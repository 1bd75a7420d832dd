//! Connections and the proxy, attacked against a real server (`docs/security.md`, issue 10
//! items 7 and 8): slow and flooding clients, and what the proxy tells or passes to strangers
//! (whether an instance exists, forged forwarding headers, planted cookies). Each test performs
//! the attack and asserts that it fails.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const START: Duration = Duration::from_secs(120);

/// Reads from `stream` until the server closes it; `Err` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {
                return Err(format!(
                    "still open after {limit:?}; got {:?}",
                    String::from_utf8_lossy(&seen)
                ));
            }
        }
    }
}

/// Settings that make the slow-client tests quick.
const SLOW_CLIENT_ARGS: &[&str] = &["--header-timeout", "2"];

#[tokio::test]
async fn slow_clients_are_cut_off_on_the_site_and_on_instance_hosts() {
    let server = TestServer::start_with(SLOW_CLIENT_ARGS).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let instance_host = format!("{}.localhost:{}", uuid::Uuid::new_v4(), server.port);
    let cases = [
        ("nothing at all", String::new()),
        (
            "half a head for the site",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Slow: ",
                server.port
            ),
        ),
        (
            "half a head for an instance host (the proxy's threads)",
            format!("GET / HTTP/1.1\r\nHost: {instance_host}\r\nX-Slow: "),
        ),
        (
            "a kept-alive connection that goes idle",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                server.port
            ),
        ),
        (
            "a kept-alive instance-host connection that goes idle",
            format!("GET / HTTP/1.1\r\nHost: {instance_host}\r\n\r\n"),
        ),
    ];
    let checks = cases.into_iter().map(|(what, head)| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let result = closed_within(&mut stream, Duration::from_secs(30)).await;
        (what, started.elapsed(), result)
    });
    for (what, took, result) in futures::future::join_all(checks).await {
        let seen = result.unwrap_or_else(|e| panic!("{what}: {e}"));
        let text = String::from_utf8_lossy(&seen);
        assert!(
            seen.is_empty() || text.starts_with("HTTP/1.1 "),
            "{what}: {text}"
        );
        assert!(took < Duration::from_secs(30), "{what}: {took:?}");
    }
    // A request whose body comes slowly is being answered, not waiting for a head: it is not
    // cut off (here a 2-second timeout, a body that takes 4 seconds).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/apps?visibility=PRIVATE HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Bearer {}\r\nContent-Length: 4\r\n\r\n",
        server.port, server.admin_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for byte in b"junk" {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stream.write_all(&[*byte]).await.unwrap();
    }
    let mut answer = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut answer))
        .await
        .expect("an answer to the slow upload")
        .expect("the slow upload's connection was cut");
    assert_eq!(
        &answer,
        b"HTTP/1.1 422",
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // The server still answers.
    let r = server
        .client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// The open files of process `pid`.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Sets the open-file limit of process `pid` (soft and hard).
fn limit_open_files(pid: u32, limit: u64) {
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: prlimit reads `rlimit` and writes nothing (no old-limit pointer).
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &rlimit, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test]
async fn a_connection_flood_beyond_the_cap_does_not_stop_service() {
    let mut args = SLOW_CLIENT_ARGS.to_vec();
    args.extend(["--max-connections", "16"]);
    let server = TestServer::start_with(&args).await;
    // The server gets room for its own files plus a few dozen connections: a flood without a
    // cap runs it out of file descriptors.
    let limit = open_files(server.pid()) + 48;
    limit_open_files(server.pid(), limit as u64);
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let mut flood = Vec::new();
    for _ in 0..120 {
        let socket = TcpSocket::new_v4().unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        // Half a head, never finished.
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        flood.push(stream);
    }
    // A normal request afterwards, on a new connection, is served while the flood's
    // connections are still open on our side.
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        common::client()
            .get(format!("{}/healthz", server.url))
            .send(),
    )
    .await
    .expect("the normal request was not served within 60 s")
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    eprintln!("served after {:?}", started.elapsed());
    assert!(open_files(server.pid()) < limit, "within its limit");
    drop(flood);
    // And the server is fine afterwards.
    let (status, _) = server.get(&server.admin_token, "/me").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn strangers_cannot_tell_an_instance_from_an_unknown_id() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let (_, real) = server.launch_hello(&admin).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let bob = server.user_token("bob", false).await;
    let http = server.client_from([127, 0, 0, 1], &[&real, &unknown]);

    // (status, body with the id blanked, Location with the id blanked)
    let answer = |id: String, auth: Option<String>, html: bool| {
        let http = http.clone();
        let url = server.instance_url(&id, "/some/page?x=1");
        async move {
            let mut request = http.get(url);
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            if html {
                request = request.header("accept", "text/html,*/*");
            }
            let r = request.send().await.unwrap();
            let status = r.status();
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().replace(&id, "ID"));
            let body = r.text().await.unwrap().replace(&id, "ID");
            (status, body, location)
        }
    };
    for (who, auth, html) in [
        ("a script without credentials", None, false),
        ("a browser without a session", None, true),
        (
            "a made-up token",
            Some("q8s_not-a-real-token-at-all".to_owned()),
            false,
        ),
    ] {
        let seen_real = answer(real.clone(), auth.clone(), html).await;
        let seen_unknown = answer(unknown.clone(), auth, html).await;
        assert_eq!(seen_real, seen_unknown, "{who}");
        assert_ne!(
            seen_real.0,
            StatusCode::NOT_FOUND,
            "{who}: asked to sign in"
        );
    }
    // Signed in but not shared with: as unknown, 404.
    let seen_real = answer(real.clone(), Some(bob.clone()), false).await;
    let seen_unknown = answer(unknown.clone(), Some(bob), false).await;
    assert_eq!(seen_real.0, StatusCode::NOT_FOUND);
    assert_eq!(seen_real, seen_unknown);
}

/// A plain HTTP app: `/cookies` sets cookies (q8s's own name among them, some for the parent
/// domain); any other path answers with the request's headers as JSON.
const ECHO: &str = r#"
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        host = self.headers.get("Host", "").split(":")[0]
        if self.path == "/cookies":
            cookies = [
                "app=1; Path=/",
                "q8s_session=planted; Path=/; HttpOnly",
                "Q8S_SESSION=planted; Path=/",
                "q8s_other=1; Path=/",
                "wide=1; Path=/; Domain=localhost",
                "wide2=1; Domain=.LOCALHOST; Path=/",
                "mine=1; Path=/; Domain=" + host,
            ]
            body = b"{}"
        else:
            cookies = []
            headers = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            body = json.dumps(headers).encode()
        self.send_response(200)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

fn echo_app(dir: &Path) {
    std::fs::write(
        dir.join("q-app.toml"),
        r#"[App]
Name = "ai.h2o.q8s.echo"
Version = "1.0.0"
Title = "Echo"
Description = "Answers with the request's headers, and sets cookies."
Category = "Other"
Keywords = ["test"]

[Runtime]
Module = "echo"
"#,
    )
    .unwrap();
    std::fs::write(dir.join("echo.py"), ECHO).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_passes_no_forged_forwarding_headers_and_no_planted_cookies() {
    let folder = tempfile::tempdir().unwrap();
    echo_app(folder.path());
    let (_out, bundle) = common::bundle_dir(folder.path());
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let (status, app) = server.import(&admin, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    server.wait_for_status(&admin, &id, "RUNNING", START).await;
    let http = server.client_from([127, 0, 0, 1], &[&id]);

    // Everything a client could claim about where it comes from or who it is.
    let forged = [
        ("forwarded", "for=1.2.3.4;proto=https;host=evil.example"),
        ("x-real-ip", "1.2.3.4"),
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/evil"),
        ("x-forwarded-server", "evil.example"),
        ("x-forwarded-ssl", "on"),
        ("x-forwarded-user", "admin"),
        ("x-forwarded-email", "admin@example.com"),
        ("x-forwarded-preferred-username", "admin"),
        ("x-original-url", "/admin"),
        ("x-original-forwarded-for", "1.2.3.4"),
        ("x-rewrite-url", "/admin"),
        ("x-client-ip", "1.2.3.4"),
        ("true-client-ip", "1.2.3.4"),
        ("cf-connecting-ip", "1.2.3.4"),
        ("x-cluster-client-ip", "1.2.3.4"),
        ("x-remote-user", "admin"),
        ("remote-user", "admin"),
        ("x-auth-request-user", "admin"),
        ("x-auth-request-email", "admin@example.com"),
    ];
    let mut request = http
        .get(server.instance_url(&id, "/headers"))
        .bearer_auth(&admin)
        .header("x-app-header", "kept");
    for (name, value) in forged {
        request = request.header(name, value);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["x-app-header"], json!(["kept"]), "{seen}");
    assert_eq!(seen["x-forwarded-for"], json!(["127.0.0.1"]), "{seen}");
    assert_eq!(seen["x-forwarded-user"], json!(["admin"]), "{seen}");
    assert_eq!(seen["x-forwarded-proto"], json!(["http"]), "{seen}");
    assert_eq!(
        seen["x-forwarded-host"],
        json!([format!("{id}.localhost:{}", server.port)]),
        "{seen}"
    );
    for (name, _) in forged {
        if matches!(
            name,
            "x-forwarded-for" | "x-forwarded-user" | "x-forwarded-proto" | "x-forwarded-host"
        ) {
            continue;
        }
        assert!(seen.get(name).is_none(), "{name} reached the app: {seen}");
    }

    // The app's cookies: its own stay; q8s's names and parent-domain cookies are dropped.
    let r = http
        .get(server.instance_url(&id, "/cookies"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut kept: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["app", "mine"]);

    // Two different session cookies on an instance host: refused there too.
    let r = http
        .get(server.instance_url(&id, "/headers"))
        .header("cookie", "q8s_session=aaaa; q8s_session=bbbb")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
