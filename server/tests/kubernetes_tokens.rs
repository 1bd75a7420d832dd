//! Bundle download tokens over time, end to end: `q8s-server --runtime kubernetes` with tokens
//! that live 60 s (`--bundle-token-lifetime`, its minimum) on the fake cluster. A running
//! instance's Secret gets a new token every quarter of that, without touching its pod, so it
//! always holds one that downloads the bundle; a token nobody refreshes — the first one of the
//! running instance, the one of a suspended instance — is refused once it expires, as a pod
//! started with it would be; a resume gives a fresh one.

mod common;

use std::time::{Duration, Instant};

use common::kubernetes::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The object's uid and resourceVersion.
fn identity(object: &Value) -> (Value, Value) {
    let meta = &object["metadata"];
    (meta["uid"].clone(), meta["resourceVersion"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_unless_refreshed_and_a_running_instance_always_has_a_valid_one() {
    let (api, _cluster, _dir, server) =
        server_on_fake_cluster(&["--bundle-token-lifetime", "60"]).await;
    let admin = server.admin_token.clone();
    // Every token made from here on expires 60 s after `start` or later.
    let start = Instant::now();
    let (app, running) = server.launch_hello(&admin).await;
    let (status, second) = server.launch(&admin, &app, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let parked = second["id"].as_str().unwrap().to_owned();
    for id in [&running, &parked] {
        server
            .wait_for_status(&admin, id, "RUNNING", Duration::from_secs(30))
            .await;
    }
    let (first, parked_token) = (secret_token(&api, &running), secret_token(&api, &parked));
    let (status, body) = server
        .send(
            Method::POST,
            &admin,
            &format!("/instances/{parked}/suspend"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
        .wait_for_status(&admin, &parked, "SUSPENDED", Duration::from_secs(10))
        .await;

    // Within 30 s (a quarter of the lifetime, and the refresh's pace), a new token for the
    // running instance; both are good until they expire; the pod was not touched.
    let deployment = object(&api, APPS, "deployments", &running).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let second = loop {
        let now = secret_token(&api, &running);
        if now != first {
            break now;
        }
        assert!(Instant::now() < deadline, "no new token in the Secret");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for token in [&first, &second] {
        let (status, _) = fetch_bundle(&server, &running, Some(token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let after = object(&api, APPS, "deployments", &running).unwrap();
    assert_eq!(identity(&after), identity(&deployment));
    let secret = object(&api, CORE, "secrets", &running).unwrap();
    assert!(secret["data"]["q8s.bundle-url"].is_string(), "{secret}");

    // Past the first tokens' expiry: refused, as a pod's download with them would be; the
    // running instance's Secret holds one that works; the suspended one's was not refreshed.
    let expired = start + Duration::from_secs(62);
    tokio::time::sleep_until(expired.into()).await;
    let current = secret_token(&api, &running);
    assert_ne!(current, first);
    let (status, bundle) = fetch_bundle(&server, &running, Some(&current)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!bundle.is_empty());
    for (id, token) in [(&running, &first), (&parked, &parked_token)] {
        let (status, body) = fetch_bundle(&server, id, Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{id}");
        assert_ne!(body, bundle, "{id}: the bundle for an expired token");
    }
    assert_eq!(
        secret_token(&api, &parked),
        parked_token,
        "a suspended token refreshed"
    );

    // A resume gives the suspended instance a new token, which works.
    let (status, body) = server
        .send(
            Method::POST,
            &admin,
            &format!("/instances/{parked}/resume"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
        .wait_for_status(&admin, &parked, "RUNNING", Duration::from_secs(30))
        .await;
    let fresh = secret_token(&api, &parked);
    assert_ne!(fresh, parked_token);
    let (status, _) = fetch_bundle(&server, &parked, Some(&fresh)).await;
    assert_eq!(status, StatusCode::OK);
}
