//! `examples/hello` end to end through the real server: import, launch, open it through the
//! proxy (HTTP and the Wave websocket), the visibility rule, the browser hand-off, and the pages
//! for instances that cannot answer.

mod common;

use std::time::Duration;

use common::{Method, TestServer, hello_bundle};
use reqwest::{Client, StatusCode};
use serde_json::json;

const START: Duration = Duration::from_secs(120);

fn instance_url(server: &TestServer, id: &str, path: &str) -> String {
    format!("http://{id}.localhost:{}{path}", server.port)
}

/// `GET <path>` on the instance, as the holder of `token`.
async fn open(
    http: &Client,
    server: &TestServer,
    id: &str,
    path: &str,
    token: &str,
) -> reqwest::Response {
    http.get(instance_url(server, id, path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn launch_hello(server: &TestServer, token: &str, visibility: &str) -> String {
    let (status, app) = server.import(token, &hello_bundle(), "PRIVATE").await;
    let app_id = match status {
        StatusCode::CREATED => app["id"].as_str().unwrap().to_owned(),
        other => panic!("import: {other} {app}"),
    };
    let (status, instance) = server.launch(token, &app_id, visibility).await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    instance["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_through_the_proxy_with_its_websocket_and_visibility() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let id = launch_hello(&server, &admin, "PRIVATE").await;
    let instance = server.wait_for_status(&admin, &id, "RUNNING", START).await;
    assert_eq!(instance["url"], instance_url(&server, &id, "/"));
    let http = server.instance_client(&id);

    // Qd holds the hash of its access key (a keychain, cheap to check on each app request),
    // never the secret itself.
    let qd_env = process_environments()
        .into_iter()
        .find(|env| {
            env.contains(&format!("Q8S_INSTANCE_ID={id}"))
                && env.iter().any(|v| v.starts_with("H2O_WAVE_WEB_DIR="))
        })
        .expect("Qd's process");
    assert!(
        qd_env.contains(&"H2O_WAVE_ACCESS_KEYCHAIN=/etc/wave-keychain".to_owned()),
        "{qd_env:?}"
    );
    assert!(
        !qd_env
            .iter()
            .any(|v| v.starts_with("H2O_WAVE_ACCESS_KEY_SECRET")),
        "{qd_env:?}"
    );

    // The Wave page from Qd, through the proxy.
    let r = open(&http, &server, &id, "/", &admin).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("wave-static"), "{page}");
    // A static asset of Qd, with its body streamed through.
    let asset = page
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let r = open(&http, &server, &id, asset, &admin).await;
    assert_eq!(r.status(), StatusCode::OK, "{asset}");
    let script = r.bytes().await.unwrap();
    assert!(script.len() > 10_000);

    // Qd's static files (Last-Modified, no Cache-Control) are answered from the proxy's cache
    // once seen on a connection's thread: the same bytes, with an Age. Not the page itself
    // (Qd says no-cache), and not when the client asks for a fresh answer.
    let get = |path: &str, no_cache: bool| {
        let request = http
            .get(instance_url(&server, &id, path))
            .bearer_auth(&admin);
        if no_cache {
            request.header("cache-control", "no-cache")
        } else {
            request
        }
    };
    // Each worker thread keeps its own cache, and under load the connection's task may move
    // between threads: ask until three answers came from a cache (at most 20 times; unloaded,
    // the second answer already does).
    let (mut cached, mut asked) = (0, 0);
    while cached < 3 && asked < 20 {
        let r = get(asset, false).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        cached += usize::from(r.headers().contains_key("age"));
        asked += 1;
        assert_eq!(r.bytes().await.unwrap(), script);
    }
    assert!(
        cached >= 3,
        "{cached} of {asked} answers came from the cache"
    );
    let r = get(asset, true).send().await.unwrap();
    assert!(!r.headers().contains_key("age"));
    assert_eq!(r.bytes().await.unwrap(), script);
    for _ in 0..3 {
        let r = get("/", false).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-cache, must-revalidate");
        assert!(!r.headers().contains_key("age"));
    }

    // The Wave websocket: the page's first message comes back from the app through Qd.
    let reply = server
        .wave_message(&admin, &id, "/", "Say hello", Duration::from_secs(20))
        .await;
    assert!(
        reply.contains("Hello q8s") || reply.contains("Say hello"),
        "{reply}"
    );

    // Scripts without credentials get 401; browsers are sent to the main site's sign-in.
    let r = http
        .get(instance_url(&server, &id, "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(instance_url(&server, &id, "/some/page?x=1"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!(
            "http://localhost:{}/_q8s/handoff?instance={id}",
            server.port
        )),
        "{location}"
    );
    assert!(
        location.contains("next=%2Fsome%2Fpage%3Fx%3D1"),
        "{location}"
    );

    // A second user sees nothing of the PRIVATE instance ...
    let bob = server.user_token("bob", false).await;
    let r = open(&http, &server, &id, "/", &bob).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("No such instance"));
    // Not even what the proxy keeps in its cache for the owner.
    let r = open(&http, &server, &id, asset, &bob).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // ... and opens it once it is shared with all users.
    assert_eq!(
        server
            .status(
                Method::PATCH,
                &admin,
                &format!("/instances/{id}"),
                Some(json!({"visibility": "ALL_USERS"}))
            )
            .await,
        StatusCode::OK
    );
    let r = open(&http, &server, &id, "/", &bob).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Unknown instances and foreign hosts.
    let other = uuid::Uuid::new_v4().to_string();
    let r = server
        .instance_client(&other)
        .get(instance_url(&server, &other, "/"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Suspended: 503 with a page; resumed: forwarded again; terminated: 410.
    let post = |path: String| {
        server
            .client
            .post(server.api(&path))
            .bearer_auth(&admin)
            .send()
    };
    assert!(
        post(format!("/instances/{id}/suspend"))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    server
        .wait_for_status(&admin, &id, "SUSPENDED", START)
        .await;
    let r = open(&http, &server, &id, "/", &admin).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("suspended"));
    let r = open(&http, &server, &id, asset, &admin).await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "not from the cache"
    );
    assert!(
        post(format!("/instances/{id}/resume"))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let r = open(&http, &server, &id, "/", &admin).await;
    if r.status() == StatusCode::SERVICE_UNAVAILABLE {
        assert!(
            r.headers().contains_key("retry-after"),
            "a starting instance says when to retry"
        );
    }
    server.wait_for_status(&admin, &id, "RUNNING", START).await;
    let r = open(&http, &server, &id, "/", &admin).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = server
        .client
        .delete(server.api(&format!("/instances/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    server
        .wait_for_status(&admin, &id, "TERMINATED", START)
        .await;
    let r = open(&http, &server, &id, "/", &admin).await;
    assert_eq!(r.status(), StatusCode::GONE);

    let metrics = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let proxied = metrics
        .lines()
        .find(|l| l.starts_with("q8s_proxy_requests_total "))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(proxied >= 5, "{metrics}");
    assert!(
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("q8s_proxy_cache_hits_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|hits| hits >= 3),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_once_and_gets_a_host_only_cookie() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let id = launch_hello(&server, &admin, "PRIVATE").await;
    let password = std::fs::read_to_string(server.data_dir().join("admin-password")).unwrap();
    let cookie = server
        .login("admin", password.trim())
        .await
        .expect("signing in");
    let http = server.instance_client(&id);

    // The main site hands the signed-in browser over with a one-time code ...
    let r = server
        .client
        .get(format!(
            "{}/_q8s/handoff?instance={id}&next=%2F%3Fa%3D1",
            server.url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let target = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        target.starts_with(&instance_url(&server, &id, "/_q8s/auth?code=")),
        "{target}"
    );

    // ... which the instance host turns into its own session cookie.
    let r = http.get(&target).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/?a=1");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && !set_cookie.to_lowercase().contains("domain="),
        "{set_cookie}"
    );
    let host_cookie = set_cookie.split(';').next().unwrap().to_owned();
    // The code works once.
    let r = http.get(&target).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    server.wait_for_status(&admin, &id, "RUNNING", START).await;
    let r = http
        .get(instance_url(&server, &id, "/"))
        .header("cookie", &host_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The instance host's session is good for that host only, not for the API.
    let r = server
        .client
        .get(server.api("/me"))
        .header("cookie", &host_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let other = uuid::Uuid::new_v4().to_string();
    let r = server
        .instance_client(&other)
        .get(instance_url(&server, &other, "/"))
        .header("cookie", &host_cookie)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::OK);
}

/// The environment of every process this test can read (`/proc/<pid>/environ`).
fn process_environments() -> Vec<Vec<String>> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("environ")).ok())
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect()
        })
        .collect()
}
