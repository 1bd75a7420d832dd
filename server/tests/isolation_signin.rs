//! Sign-in and the browser, attacked against a real server (`docs/security.md`, issue 10 items
//! 7 and 8): password, device-code and token guessing, open redirects after sign-in and through
//! the hand-off, cookies planted by apps or sent twice, hand-off codes replayed or carried to
//! another instance, cross-origin requests riding on the session cookie, slow and flooding
//! clients, and what the proxy tells or passes to strangers. Each test performs the attack and
//! asserts that it fails.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestServer, json_of};
use reqwest::{Client, StatusCode, Url, redirect};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const START: Duration = Duration::from_secs(120);
/// The throttle window the sign-in tests run with (seconds): long enough for ten argon2
/// checks on a busy machine, short enough to wait out.
const WINDOW: &str = "20";

/// A client that does not follow redirects, sends from `from` (any 127.x address reaches the
/// server on loopback) and resolves `<id>.localhost` names to the server.
fn client_from(server: &TestServer, from: [u8; 4], instances: &[&str]) -> Client {
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let mut builder = Client::builder()
        .redirect(redirect::Policy::none())
        .local_address(IpAddr::from(from))
        .timeout(Duration::from_secs(60));
    for id in instances {
        builder = builder.resolve(&format!("{id}.localhost"), addr);
    }
    builder.build().unwrap()
}

fn instance_url(server: &TestServer, id: &str, path: &str) -> String {
    format!("http://{id}.localhost:{}{path}", server.port)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn admin_password(server: &TestServer) -> String {
    std::fs::read_to_string(server.data_dir().join("admin-password"))
        .unwrap()
        .trim()
        .to_owned()
}

/// `POST /login` from `http` as a browser on the sign-in page would send it.
async fn login(
    http: &Client,
    server: &TestServer,
    username: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    http.post(format!("{}/login", server.url))
        .header("origin", &server.url)
        .form(&[
            ("username", username),
            ("password", password),
            ("next", next),
        ])
        .send()
        .await
        .unwrap()
}

fn session_cookie(r: &reqwest::Response) -> String {
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Creates a user with `password` (as admin).
async fn add_user(server: &TestServer, username: &str, password: &str) {
    let r = server
        .client
        .post(server.api("/users"))
        .bearer_auth(&server.admin_token)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Retry-After of a 429, in seconds.
fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {:?}", r.headers()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_account_and_address_then_the_right_one_works() {
    let server = TestServer::start_with(&["--sign-in-window", WINDOW]).await;
    add_user(&server, "bob", "bob-right-password").await;
    let attacker = client_from(&server, [127, 0, 0, 2], &[]);

    // 30 wrong passwords for bob: the first ones are answered, then the door shuts.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let r = login(&attacker, &server, "bob", &format!("guess-{i}"), "/").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(&r);
            assert!((1..=20).contains(&wait), "Retry-After {wait}");
            assert!(r.headers().get("set-cookie").is_none());
        }
        statuses.push(r.status());
    }
    let answered = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        answered <= 10 && throttled >= 20 && answered + throttled == 30,
        "{statuses:?}"
    );

    // While throttled the right password does not help: not from the attacker's address (the
    // address is throttled), not from another one (the account is).
    let r = login(&attacker, &server, "bob", "bob-right-password", "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = client_from(&server, [127, 0, 0, 3], &[]);
    let r = login(&elsewhere, &server, "bob", "bob-right-password", "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = login(&attacker, &server, "admin", &admin_password(&server), "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the address");
    // Other accounts from other addresses are not affected.
    let r = login(&elsewhere, &server, "admin", &admin_password(&server), "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Guessing across many accounts from one address is throttled by the address, whether the
    // names exist or not (the answers do not tell them apart).
    let spray = client_from(&server, [127, 0, 0, 4], &[]);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let name = if i % 2 == 0 { "admin" } else { "ghost" };
        let r = login(&spray, &server, &format!("{name}{i}"), "nope", "/").await;
        statuses.push(r.status());
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    assert!(
        server
            .log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("throttl")),
        "throttling is logged: {}",
        server.log()
    );

    // Once the window has passed, the right password works again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = login(&elsewhere, &server, "bob", "bob-right-password", "/").await;
        if r.status() == StatusCode::SEE_OTHER {
            assert!(r.headers().contains_key("set-cookie"));
            break;
        }
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "still throttled");
        tokio::time::sleep(Duration::from_secs(retry_after(&r).min(2))).await;
    }
}

#[tokio::test]
async fn guessing_device_codes_is_throttled() {
    let server = TestServer::start_with(&["--sign-in-window", WINDOW]).await;
    let http = client_from(&server, [127, 0, 0, 5], &[]);
    let r = login(&http, &server, "admin", &admin_password(&server), "/").await;
    let cookie = session_cookie(&r);
    let start: Value = http
        .post(format!("{}/oauth/device/code", server.url))
        .form(&[("client_id", "q8s-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let decide = |code: String| {
        http.post(format!("{}/device", server.url))
            .header("cookie", &cookie)
            .header("origin", &server.url)
            .form(&[("user_code", code.as_str()), ("action", "approve")])
            .send()
    };
    let mut statuses = Vec::new();
    for guess in ["BCDF-GHJK", "LMNP-QRST", "VWXZ-BCDF", "GHJK-LMNP"].repeat(5) {
        statuses.push(decide(guess.to_owned()).await.unwrap().status());
    }
    assert!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count()
            <= 10
            && statuses.last() == Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The real code, while throttled: refused too (a guess that hits is not told apart).
    let r = decide(start["user_code"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
}

#[tokio::test]
async fn guessing_api_tokens_is_throttled_per_address() {
    let server = TestServer::start_with(&["--sign-in-window", WINDOW]).await;
    let guesser = client_from(&server, [127, 0, 0, 6], &[]);
    let mut last = None;
    for i in 0..120 {
        let r = guesser
            .get(server.api("/me"))
            .bearer_auth(format!("q8s_guess{i:040}"))
            .send()
            .await
            .unwrap();
        last = Some(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&r) >= 1);
            let (_, body) = json_of(r).await;
            assert_eq!(body["error"]["code"], "too-many-attempts", "{body}");
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(last, Some(StatusCode::TOO_MANY_REQUESTS));
    // The guesser's address is throttled, even with a real token; other addresses are not.
    let r = guesser
        .get(server.api("/me"))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = client_from(&server, [127, 0, 0, 7], &[]);
    let r = other
        .get(server.api("/me"))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// `next` values a browser would follow off-site once normalised, or that broke the server.
const HOSTILE_NEXT: &[&str] = &[
    "/\t/evil.example/",
    "/\r\n/evil.example/",
    "/\n/evil.example/",
    "/\r\nSet-Cookie: q8s_session=planted",
    "//evil.example/",
    "/\\evil.example/",
    "\\/evil.example/",
    "\\\\evil.example/",
    " //evil.example/",
    "\t//evil.example/",
    "/%09/evil.example/",
    "/%2F/evil.example/",
    "http://evil.example/",
    "https:evil.example",
    "HTTP://evil.example/",
    "javascript:alert(1)",
    "/\u{0}/evil.example/",
    "/\u{3000}/evil.example/",
];

/// Where a browser at `base` goes with `location`: it must stay at `base`'s origin.
fn assert_same_origin(base: &str, location: &str, input: &str) {
    let base = Url::parse(base).unwrap();
    let target = base
        .join(location)
        .unwrap_or_else(|e| panic!("{input:?}: Location {location:?}: {e}"));
    assert_eq!(
        target.origin(),
        base.origin(),
        "{input:?} sent the browser to {target}"
    );
}

#[tokio::test]
async fn redirects_after_sign_in_and_hand_off_stay_on_site() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let (status, app) = server
        .import(&admin, &common::hello_bundle(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    let http = client_from(&server, [127, 0, 0, 1], &[&id]);
    let password = admin_password(&server);
    let base = format!("{}/", server.url);

    let mut cookie = String::new();
    for next in HOSTILE_NEXT {
        // The sign-in page carries a safe target in its form ...
        let r = http
            .get(format!("{}/login", server.url))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{next:?}");
        let page = r.text().await.unwrap();
        let value = page
            .split("name=\"next\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .replace("&amp;", "&");
        assert_same_origin(&base, &value, next);
        // ... and signing in goes to one, never a 500.
        let r = login(&http, &server, "admin", &password, next).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_same_origin(&base, &location(&r), next);
        cookie = session_cookie(&r);
    }

    // The hand-off to the instance host: its `next` is checked on both sides.
    let instance_base = instance_url(&server, &id, "/");
    for next in HOSTILE_NEXT {
        let r = http
            .get(format!("{}/_q8s/handoff", server.url))
            .query(&[("instance", id.as_str()), ("next", next)])
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{next:?}: {}", r.status());
        let target = location(&r);
        assert!(target.starts_with(&instance_url(&server, &id, "/_q8s/auth?")));
        let r = http.get(&target).send().await.unwrap();
        assert!(r.status().is_redirection(), "{next:?}: {}", r.status());
        assert_same_origin(&instance_base, &location(&r), next);
    }
    // The instance host checks `next` itself, whatever the main site sent.
    for next in HOSTILE_NEXT {
        let r = http
            .get(format!("{}/_q8s/handoff", server.url))
            .query(&[("instance", id.as_str()), ("next", "/")])
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let target = Url::parse(&location(&r)).unwrap();
        let code = target
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let r = http
            .get(instance_url(&server, &id, "/_q8s/auth"))
            .query(&[("code", code.as_str()), ("next", next)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{next:?}: {}", r.status());
        assert_same_origin(&instance_base, &location(&r), next);
    }
}

#[tokio::test]
async fn hand_off_codes_work_once_and_only_for_their_instance() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let (status, app) = server
        .import(&admin, &common::hello_bundle(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, instance) = server
            .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
            .await;
        assert_eq!(status, StatusCode::CREATED, "{instance}");
        ids.push(instance["id"].as_str().unwrap().to_owned());
    }
    let (a, b) = (&ids[0], &ids[1]);
    let http = client_from(&server, [127, 0, 0, 1], &[a, b]);
    let r = login(&http, &server, "admin", &admin_password(&server), "/").await;
    let cookie = session_cookie(&r);
    let code_for = |id: &str| {
        let http = http.clone();
        let cookie = cookie.clone();
        let url = format!("{}/_q8s/handoff?instance={id}&next=/", server.url);
        async move {
            let r = http.get(url).header("cookie", cookie).send().await.unwrap();
            let target = Url::parse(&location(&r)).unwrap();
            target
                .query_pairs()
                .find(|(k, _)| k == "code")
                .unwrap()
                .1
                .into_owned()
        }
    };
    let redeem = |id: &str, code: &str| {
        http.get(instance_url(&server, id, "/_q8s/auth"))
            .query(&[("code", code), ("next", "/")])
            .send()
    };

    // A code minted for A, carried to B (e.g. read by A's app from its own URL): refused.
    let code = code_for(a).await;
    let r = redeem(b, &code).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());
    // On A it works, once.
    let r = redeem(a, &code).await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(r.headers().contains_key("set-cookie"));
    let r = redeem(a, &code).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn session_cookies_are_host_only_and_two_of_them_are_refused() {
    let server = TestServer::start().await;
    add_user(&server, "mallory", "mallory-password").await;
    let http = client_from(&server, [127, 0, 0, 1], &[]);
    let r = login(&http, &server, "admin", &admin_password(&server), "/").await;
    let set = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(!set.contains("domain"), "host-only: {set}");
    let victim = session_cookie(&r);
    let r = login(&http, &server, "mallory", "mallory-password", "/").await;
    let planted = session_cookie(&r);

    let me = |cookie: String| http.get(server.api("/me")).header("cookie", cookie).send();
    // A cookie planted on a shared parent domain arrives beside the real one: which one comes
    // first depends on the browser, so the server takes neither.
    for cookies in [
        format!("{victim}; {planted}"),
        format!("{planted}; {victim}"),
        format!("a=1; {planted}; b=2; {victim}"),
    ] {
        let (status, body) = json_of(me(cookies.clone()).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cookies}: {body}");
        assert_eq!(
            body["error"]["code"], "conflicting-session-cookies",
            "{body}"
        );
    }
    // The same cookie twice is one cookie.
    let (status, body) = json_of(me(format!("{victim}; {victim}")).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "admin");
    // The pages say so too, without choosing.
    let r = http
        .get(format!("{}/", server.url))
        .header("cookie", format!("{planted}; {victim}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn state_changes_with_the_session_cookie_need_our_own_origin() {
    let server = TestServer::start().await;
    let http = client_from(&server, [127, 0, 0, 1], &[]);
    let r = login(&http, &server, "admin", &admin_password(&server), "/").await;
    let cookie = session_cookie(&r);
    let signed_in = || async {
        http.get(server.api("/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
    };

    // A page elsewhere posts to /logout (or an app on a sibling host does): refused.
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let r = http
            .post(format!("{}/logout", server.url))
            .header("cookie", &cookie)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(signed_in().await, "{name}: {value} signed the browser out");
    }
    // Without Origin or Sec-Fetch-Site the request cannot be told from a forged one.
    let r = http
        .post(format!("{}/logout", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(server.api("/tokens"))
        .header("cookie", &cookie)
        .json(&json!({"name": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(format!("{}/device", server.url))
        .header("cookie", &cookie)
        .form(&[("user_code", "BCDF-GHJK"), ("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // An app's page on a sibling host is not our origin either.
    let sibling = format!("http://{}.localhost:{}", uuid::Uuid::new_v4(), server.port);
    let r = http
        .post(server.api("/tokens"))
        .header("cookie", &cookie)
        .header("origin", &sibling)
        .json(&json!({"name": "sibling"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // From our own pages it works; a bearer token needs no origin at all.
    let r = http
        .post(server.api("/tokens"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"name": "ours"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http
        .post(server.api("/tokens"))
        .bearer_auth(&server.admin_token)
        .header("origin", "http://evil.example")
        .json(&json!({"name": "script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http
        .post(format!("{}/logout", server.url))
        .header("cookie", &cookie)
        .header("origin", &server.url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!signed_in().await);
}

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
    let (status, app) = server
        .import(&admin, &common::hello_bundle(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let real = instance["id"].as_str().unwrap().to_owned();
    let unknown = uuid::Uuid::new_v4().to_string();
    let bob = server.user_token("bob", false).await;
    let http = client_from(&server, [127, 0, 0, 1], &[&real, &unknown]);

    // (status, body with the id blanked, Location with the id blanked)
    let answer = |id: String, auth: Option<String>, html: bool| {
        let http = http.clone();
        let url = instance_url(&server, &id, "/some/page?x=1");
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
    let http = client_from(&server, [127, 0, 0, 1], &[&id]);

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
        .get(instance_url(&server, &id, "/headers"))
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
        .get(instance_url(&server, &id, "/cookies"))
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
        .get(instance_url(&server, &id, "/headers"))
        .header("cookie", "q8s_session=aaaa; q8s_session=bbbb")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
