//! Sign-in against a real server: the login form and session cookie, tokens minted with the
//! cookie, the loopback PKCE flow and the device flow, driven by a plain HTTP client.

mod common;

use base64::Engine as _;
use common::{Method, TestServer, json_of};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use sha2::Digest;

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn login_form_sets_a_session_cookie_that_mints_tokens() {
    login_form_sets_a_session_cookie_that_mints_tokens_on(TestServer::start().await).await;
}

#[tokio::test]
async fn login_form_sets_a_session_cookie_that_mints_tokens_on_postgres() {
    login_form_sets_a_session_cookie_that_mints_tokens_on(
        TestServer::start_fake_on_postgres().await,
    )
    .await;
}

async fn login_form_sets_a_session_cookie_that_mints_tokens_on(server: TestServer) {
    let page = server
        .client
        .get(format!("{}/login?next=/device", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("value=\"/device\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );

    let password = std::fs::read_to_string(server.data_dir().join("admin-password")).unwrap();
    let password = password.trim();
    let r = server
        .client
        .post(format!("{}/login", server.url))
        .form(&[("username", "admin"), ("password", "wrong"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());

    let r = server
        .client
        .post(format!("{}/login", server.url))
        .form(&[
            ("username", "admin"),
            ("password", password),
            ("next", "//evil.test/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/", "no open redirect");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();

    let r = server
        .client
        .get(server.api("/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let (status, me) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "admin");
    assert_eq!(me["admin"], true);

    // Minting a token with the cookie: refused from another origin, fine from ours.
    let r = server
        .client
        .post(server.api("/tokens"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = server
        .client
        .post(server.api("/tokens"))
        .header("cookie", &cookie)
        .header("origin", &server.url)
        .header("sec-fetch-site", "same-origin")
        .json(&serde_json::json!({"name": "laptop"}))
        .send()
        .await
        .unwrap();
    let (status, token) = json_of(r).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    assert_eq!(token["name"], "laptop");
    let secret = token["token"].as_str().unwrap();
    assert_eq!(server.get(secret, "/me").await.0, StatusCode::OK);

    // Revoking it.
    let id = token["id"].as_str().unwrap();
    assert_eq!(
        server
            .status(Method::DELETE, secret, &format!("/tokens/{id}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.get(secret, "/me").await.0, StatusCode::UNAUTHORIZED);

    // Signing out ends the session.
    let r = server
        .client
        .post(format!("{}/logout", server.url))
        .header("cookie", &cookie)
        .header("origin", &server.url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = server
        .client
        .get(server.api("/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

fn pkce_pair() -> (String, String) {
    let verifier = format!("verifier-{}-{}", uuid_like(), "x".repeat(40));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

struct Pkce<'a> {
    server: &'a TestServer,
    cookie: String,
    redirect: String,
}

impl Pkce<'_> {
    fn authorize_url(&self, challenge: &str, state: &str) -> String {
        let mut url = Url::parse(&format!("{}/oauth/authorize", self.server.url)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "q8s-cli")
            .append_pair("redirect_uri", &self.redirect)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url.to_string()
    }

    /// Approves on the consent page; returns the redirect to the CLI.
    async fn approve(&self, challenge: &str, state: &str, decision: &str) -> String {
        let r = self
            .server
            .client
            .post(format!("{}/oauth/authorize", self.server.url))
            .header("cookie", &self.cookie)
            .header("origin", &self.server.url)
            .form(&[
                ("response_type", "code"),
                ("client_id", "q8s-cli"),
                ("redirect_uri", self.redirect.as_str()),
                ("state", state),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        location(&r)
    }

    async fn exchange(&self, code: &str, verifier: &str, redirect: &str) -> (StatusCode, Value) {
        let r = self
            .server
            .client
            .post(format!("{}/oauth/token", self.server.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", redirect),
                ("client_id", "q8s-cli"),
            ])
            .send()
            .await
            .unwrap();
        json_of(r).await
    }
}

#[tokio::test]
async fn loopback_pkce_flow_end_to_end() {
    loopback_pkce_flow_end_to_end_on(TestServer::start().await).await;
}

#[tokio::test]
async fn loopback_pkce_flow_end_to_end_on_postgres() {
    loopback_pkce_flow_end_to_end_on(TestServer::start_fake_on_postgres().await).await;
}

async fn loopback_pkce_flow_end_to_end_on(server: TestServer) {
    let redirect = "http://127.0.0.1:53682/callback".to_owned();
    let (verifier, challenge) = pkce_pair();
    let mut flow = Pkce {
        server: &server,
        cookie: String::new(),
        redirect: redirect.clone(),
    };

    // Not signed in: the authorize URL sends the browser to the login page and back.
    let authorize = flow.authorize_url(&challenge, "s1");
    let r = server.client.get(&authorize).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = location(&r);
    assert!(login.starts_with("/login?next="), "{login}");
    let next = query_param(&format!("{}{login}", server.url), "next").unwrap();
    assert!(next.starts_with("/oauth/authorize?"));
    let password = std::fs::read_to_string(server.data_dir().join("admin-password")).unwrap();
    let r = server
        .client
        .post(format!("{}/login", server.url))
        .form(&[
            ("username", "admin"),
            ("password", password.trim()),
            ("next", next.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), next);
    flow.cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = server
        .client
        .get(format!("{}{next}", server.url))
        .header("cookie", &flow.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Allow q8s-cli"));

    // Approve: back to the CLI with code and state.
    let back = flow.approve(&challenge, "s1", "allow").await;
    assert!(back.starts_with(&redirect), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("s1"));
    let code = query_param(&back, "code").unwrap();

    // A wrong verifier fails and burns the code.
    let (status, err) = flow
        .exchange(&code, &format!("{verifier}-wrong"), &redirect)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(
        flow.exchange(&code, &verifier, &redirect).await.1["error"],
        "invalid_grant"
    );

    // A mismatched redirect_uri fails.
    let code = query_param(&flow.approve(&challenge, "s2", "allow").await, "code").unwrap();
    let (_, err) = flow
        .exchange(&code, &verifier, "http://127.0.0.1:53682/other")
        .await;
    assert_eq!(err["error"], "invalid_grant");

    // The right verifier gets a token, once.
    let code = query_param(&flow.approve(&challenge, "s3", "allow").await, "code").unwrap();
    let (status, answer) = flow.exchange(&code, &verifier, &redirect).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    let token = answer["access_token"].as_str().unwrap();
    let (status, me) = server.get(token, "/me").await;
    assert_eq!(
        (status, me["username"].as_str()),
        (StatusCode::OK, Some("admin"))
    );
    let (status, err) = flow.exchange(&code, &verifier, &redirect).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Deny: the CLI hears access_denied.
    let back = flow.approve(&challenge, "s4", "deny").await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_param(&back, "code").is_none());

    // Only loopback redirects, only q8s-cli, only S256.
    for bad in [
        "http://evil.test:8080/callback",
        "https://127.0.0.1:1/cb",
        "http://127.0.0.1/cb",
    ] {
        let flow = Pkce {
            server: &server,
            cookie: flow.cookie.clone(),
            redirect: bad.into(),
        };
        let r = server
            .client
            .get(flow.authorize_url(&challenge, "x"))
            .header("cookie", &flow.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.headers().get("location").is_none());
    }
    let plain = flow.authorize_url(&challenge, "x").replace("S256", "plain");
    let r = server
        .client
        .get(plain)
        .header("cookie", &flow.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
}

async fn device_start(server: &TestServer) -> Value {
    let r = server
        .client
        .post(format!("{}/oauth/device/code", server.url))
        .form(&[("client_id", "q8s-cli")])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn device_poll(server: &TestServer, device_code: &str) -> (StatusCode, Value) {
    let r = server
        .client
        .post(format!("{}/oauth/token", server.url))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "q8s-cli"),
        ])
        .send()
        .await
        .unwrap();
    json_of(r).await
}

async fn decide(server: &TestServer, cookie: &str, user_code: &str, action: &str) -> StatusCode {
    server
        .client
        .post(format!("{}/device", server.url))
        .header("cookie", cookie)
        .header("origin", &server.url)
        .form(&[("user_code", user_code), ("action", action)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn device_flow_pending_slow_down_denied_and_success() {
    device_flow_pending_slow_down_denied_and_success_on(TestServer::start().await).await;
}

#[tokio::test]
async fn device_flow_pending_slow_down_denied_and_success_on_postgres() {
    device_flow_pending_slow_down_denied_and_success_on(TestServer::start_fake_on_postgres().await)
        .await;
}

async fn device_flow_pending_slow_down_denied_and_success_on(server: TestServer) {
    let start = device_start(&server).await;
    assert_eq!(start["interval"], 5);
    assert_eq!(start["expires_in"], 600);
    let user_code = start["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert!(
        start["verification_uri"]
            .as_str()
            .unwrap()
            .ends_with("/device")
    );
    let device_code = start["device_code"].as_str().unwrap();

    assert_eq!(
        device_poll(&server, device_code).await.1["error"],
        "authorization_pending"
    );
    assert_eq!(
        device_poll(&server, device_code).await.1["error"],
        "slow_down"
    );

    // The device page needs a signed-in user.
    let r = server
        .client
        .get(format!("{}/device?user_code={user_code}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login?next=%2Fdevice"));
    let password = std::fs::read_to_string(server.data_dir().join("admin-password")).unwrap();
    let cookie = server.login("admin", password.trim()).await.unwrap();
    let r = server
        .client
        .get(format!("{}/device?user_code={user_code}", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains(user_code));
    assert_eq!(
        decide(&server, &cookie, "BBBB-BBBB", "approve").await,
        StatusCode::BAD_REQUEST
    );

    // Approve (typed in lower case, without the dash): the next poll gets a token, once.
    let typed = user_code.replace('-', "").to_lowercase();
    assert_eq!(
        decide(&server, &cookie, &typed, "approve").await,
        StatusCode::OK
    );
    let (status, answer) = device_poll(&server, device_code).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(server.get(token, "/me").await.1["username"], "admin");
    assert_eq!(
        device_poll(&server, device_code).await.1["error"],
        "invalid_grant"
    );
    assert_eq!(
        decide(&server, &cookie, user_code, "approve").await,
        StatusCode::BAD_REQUEST,
        "used"
    );

    // Denied.
    let start = device_start(&server).await;
    assert_eq!(
        decide(
            &server,
            &cookie,
            start["user_code"].as_str().unwrap(),
            "deny"
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        device_poll(&server, start["device_code"].as_str().unwrap())
            .await
            .1["error"],
        "access_denied"
    );

    // Unknown client and unknown grant.
    let r = server
        .client
        .post(format!("{}/oauth/device/code", server.url))
        .form(&[("client_id", "other")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["error"], "invalid_client");
    let r = server
        .client
        .post(format!("{}/oauth/token", server.url))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn device_codes_expire() {
    let server = TestServer::start_with(&["--device-code-lifetime", "1"]).await;
    let start = device_start(&server).await;
    assert_eq!(start["expires_in"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (status, err) = device_poll(&server, start["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("expired_token"))
    );
    let password = std::fs::read_to_string(server.data_dir().join("admin-password")).unwrap();
    let cookie = server.login("admin", password.trim()).await.unwrap();
    assert_eq!(
        decide(
            &server,
            &cookie,
            start["user_code"].as_str().unwrap(),
            "approve"
        )
        .await,
        StatusCode::BAD_REQUEST
    );
}
