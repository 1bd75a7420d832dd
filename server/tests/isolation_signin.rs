//! Sign-in and the browser, attacked against a real server (`docs/security.md`, issue 10 items
//! 7 and 8): password, device-code and token guessing, open redirects after sign-in and through
//! the hand-off, cookies planted by apps or sent twice, hand-off codes replayed or carried to
//! another instance, and cross-origin requests riding on the session cookie
//! (`isolation_proxy.rs` has slow and flooding clients and what the proxy tells strangers).
//! Each test performs the attack and asserts that it fails.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, json_of};
use reqwest::{Client, StatusCode, Url};
use serde_json::{Value, json};

/// The throttle window the sign-in tests run with (seconds): long enough for ten argon2
/// checks on a busy machine, short enough to wait out.
const WINDOW: &str = "20";

/// The window of the test that makes 30 guesses in a row and expects the last 20 refused: 30
/// argon2 checks must fit in it, also on a machine busy with other tests (at 2 s a check, seen
/// under load, 20 s let the first failures expire before the tenth).
const LONG_WINDOW: &str = "60";

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
    let server = TestServer::start_with(&["--sign-in-window", LONG_WINDOW]).await;
    add_user(&server, "bob", "bob-right-password").await;
    let attacker = server.client_from([127, 0, 0, 2], &[]);

    // 30 wrong passwords for bob: the first ones are answered, then the door shuts.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let r = login(&attacker, &server, "bob", &format!("guess-{i}"), "/").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(&r);
            assert!((1..=60).contains(&wait), "Retry-After {wait}");
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
    let elsewhere = server.client_from([127, 0, 0, 3], &[]);
    let r = login(&elsewhere, &server, "bob", "bob-right-password", "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = login(&attacker, &server, "admin", &admin_password(&server), "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the address");
    // Other accounts from other addresses are not affected.
    let r = login(&elsewhere, &server, "admin", &admin_password(&server), "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Guessing across many accounts from one address is throttled by the address, whether the
    // names exist or not (the answers do not tell them apart).
    let spray = server.client_from([127, 0, 0, 4], &[]);
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
    let deadline = Instant::now() + Duration::from_secs(90);
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
    let http = server.client_from([127, 0, 0, 5], &[]);
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
    let guesser = server.client_from([127, 0, 0, 6], &[]);
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
    let other = server.client_from([127, 0, 0, 7], &[]);
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
    let http = server.client_from([127, 0, 0, 1], &[&id]);
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
    let instance_base = server.instance_url(&id, "/");
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
        assert!(target.starts_with(&server.instance_url(&id, "/_q8s/auth?")));
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
            .get(server.instance_url(&id, "/_q8s/auth"))
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
    hand_off_codes_work_once_and_only_for_their_instance_on(TestServer::start().await).await;
}

#[tokio::test]
async fn hand_off_codes_work_once_and_only_for_their_instance_on_postgres() {
    hand_off_codes_work_once_and_only_for_their_instance_on(
        TestServer::start_fake_on_postgres().await,
    )
    .await;
}

async fn hand_off_codes_work_once_and_only_for_their_instance_on(server: TestServer) {
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
    let http = server.client_from([127, 0, 0, 1], &[a, b]);
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
        http.get(server.instance_url(id, "/_q8s/auth"))
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
    let http = server.client_from([127, 0, 0, 1], &[]);
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
    let http = server.client_from([127, 0, 0, 1], &[]);
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
