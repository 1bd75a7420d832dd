//! One origin for the site: page loads under another host name than the server's (the
//! README's `127.0.0.1`, a LAN address, a stray subdomain) are sent to the server's URL before
//! sign-in, so that the session cookie is the one instance hosts hand off with; programs (the
//! API, health checks, anything with a token) work under every name.

mod common;

use common::*;
use reqwest::{Method, StatusCode, header};

/// `method` on `url` with `Host: host`, signed in with `token` when given.
async fn send(
    server: &TestServer,
    method: Method,
    host: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .client
        .request(method, format!("http://127.0.0.1:{}{path}", server.port))
        .header(header::HOST, host);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn pages_under_another_name_go_to_the_servers_url_and_programs_work_anywhere() {
    let server = TestServer::start().await;
    let port = server.port;
    let canonical = format!("http://localhost:{port}");
    let by_address = format!("127.0.0.1:{port}");

    // The README's first run: the site opened by address.
    for path in ["/", "/login?next=%2Fdevice", "/device?user_code=ABCD-EFGH"] {
        for method in [Method::GET, Method::HEAD] {
            let r = send(&server, method.clone(), &by_address, path, None).await;
            assert_eq!(
                r.status(),
                StatusCode::TEMPORARY_REDIRECT,
                "{method} {path}"
            );
            assert_eq!(location(&r), format!("{canonical}{path}"));
        }
    }
    // Any name that is not the server's (nor an instance's) is not the site's either.
    for host in [format!("www.localhost:{port}"), format!("192.0.2.7:{port}")] {
        let r = send(&server, Method::GET, &host, "/login", None).await;
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT, "{host}");
        assert_eq!(location(&r), format!("{canonical}/login"));
    }
    // The server's own name, however written, is served.
    for host in [format!("localhost:{port}"), format!("LocalHost.:{port}")] {
        let r = send(&server, Method::GET, &host, "/login", None).await;
        assert_eq!(r.status(), StatusCode::OK, "{host}");
    }
    // An instance host is the proxy's: no redirect to the site.
    let instance = format!("00000000-0000-4000-8000-000000000000.localhost:{port}");
    let r = send(&server, Method::GET, &instance, "/", None).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the proxy's answer to a stranger"
    );

    // Programs: the API with a token or without, health checks, metrics, forms.
    let token = server.admin_token.clone();
    let r = send(
        &server,
        Method::GET,
        &by_address,
        "/api/v1/me",
        Some(&token),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(&server, Method::GET, &by_address, "/api/v1/me", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = send(&server, Method::GET, &by_address, "/", Some(&token)).await;
    assert_ne!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    for path in ["/healthz", "/metrics"] {
        let r = send(&server, Method::GET, &by_address, path, None).await;
        assert_ne!(r.status(), StatusCode::TEMPORARY_REDIRECT, "{path}");
    }
    let password = std::fs::read_to_string(server.data_dir().join("admin-password")).unwrap();
    let r = server
        .client
        .post(format!("http://{by_address}/login"))
        .form(&[("username", "admin"), ("password", password.trim())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a form is not a page load"
    );
}

/// Behind a TLS front (`--public-url https://…`): the site's redirects, the instances' URLs
/// and the device flow's link use it, and session cookies are `Secure`.
#[tokio::test]
async fn a_public_url_is_what_users_are_sent_to() {
    let server =
        TestServer::start_with(&["--runtime", "fake", "--public-url", "https://q8s.test"]).await;
    let admin = server.admin_token.clone();
    let (_, instance) = server.launch_hello(&admin).await;
    let (status, body) = server.get(&admin, &format!("/instances/{instance}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["url"],
        format!("https://{instance}.q8s.test/"),
        "{body}"
    );
    // A page load under another name goes to the public URL.
    let r = server
        .client
        .get(format!("{}/login", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.headers()[header::LOCATION], "https://q8s.test/login");
    // Signed in through the front: the cookie only ever travels over https.
    let r = server
        .client
        .post(format!("{}/login", server.url))
        .header(header::HOST, "q8s.test")
        .header(header::ORIGIN, "https://q8s.test")
        .form(&[
            ("username", "admin"),
            ("password", server.admin_password().as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}
