//! The narrow race between a refused import's clean-up and another import of the same bytes,
//! against a real server (issue 13). Both imports store the bundle under its sha256 before
//! inserting their app; the refused one must not remove that bundle while the other has stored
//! it and not yet inserted its app. Debug builds of the server wait
//! `Q8S_TEST_PAUSE_BEFORE_INSERT_MS` between storing and inserting (not compiled into
//! release builds), which opens that window wide enough to interleave the two imports in it.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, app_variant, json_of};
use reqwest::StatusCode;
use serde_json::Value;

const NAME: &str = "ai.h2o.q8s.raced";

/// What each import waits between storing its bundle and inserting its app.
const PAUSE: Duration = Duration::from_millis(3000);

/// How long after Alice's first import Bob's starts: his Name check comes before her Name
/// is claimed (at `PAUSE`), and her second import stores its bundle before his insert is
/// refused (at `BOB_AFTER + PAUSE`), each with half of `PAUSE` to spare.
const BOB_AFTER: Duration = Duration::from_millis(1500);

/// Starts the import of `path` by `token` in the background; answers the status, the body
/// and how long the import took.
fn import(
    server: &TestServer,
    token: &str,
    path: &std::path::Path,
) -> tokio::task::JoinHandle<(StatusCode, Value, Duration)> {
    let (client, url) = (
        server.client.clone(),
        server.api("/apps?visibility=PRIVATE"),
    );
    let (token, body) = (token.to_owned(), std::fs::read(path).unwrap());
    tokio::spawn(async move {
        let start = Instant::now();
        let r = client
            .post(url)
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        (status, body, start.elapsed())
    })
}

/// Bob imports bytes under a Name nobody owns yet; Alice claims the Name meanwhile and imports
/// the same bytes: Bob's insert is refused (403) while Alice's import has stored the bundle
/// and not yet inserted its app. Alice's app must still have its bundle; before the fix, Bob's
/// clean-up saw no app naming the bundle and removed it under her.
#[tokio::test]
async fn a_refused_import_leaves_the_bundle_another_import_of_the_same_bytes_stored() {
    let pause_ms = PAUSE.as_millis().to_string();
    let server = TestServer::start_with_env(
        &["--runtime", "fake"],
        &[("Q8S_TEST_PAUSE_BEFORE_INSERT_MS", pause_ms.as_str())],
    )
    .await;
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    let (_first_dir, first) = app_variant(NAME, "1.0.0", &[]);
    let (_raced_dir, raced) = app_variant(NAME, "2.0.0", &[]);
    let raced_bytes = std::fs::read(&raced).unwrap();

    let claim = import(&server, &alice, &first);
    tokio::time::sleep(BOB_AFTER).await;
    let refused = import(&server, &bob, &raced);
    let (status, body, _) = claim.await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "Alice claims the Name: {body}");
    let same_bytes = import(&server, &alice, &raced);

    let (status, body, took) = refused.await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "app-name-taken", "{body}");
    assert!(
        took >= PAUSE,
        "Bob was refused by the Name check before storing ({took:?}), not by the insert: \
         the interleaving did not happen"
    );
    let (status, app, _) = same_bytes.await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{app}");

    // Alice's app has its bundle: whole, under its sha256, and served.
    let sha = common::sha256_hex(&raced_bytes);
    assert_eq!(app["bundle"]["sha256"], sha.as_str());
    let stored = server.blob_files();
    assert!(
        stored.iter().any(|p| p.to_string_lossy().contains(&sha)),
        "the bundle of Alice's app was removed: {stored:?}"
    );
    let r = server
        .client
        .get(server.api(&format!("/apps/{}/bundle", app["id"].as_str().unwrap())))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap() == raced_bytes, "not the bundle");
    // And it launches: the runtime gets a local file of it.
    let (status, instance) = server
        .launch(&alice, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    assert!(!server.log().contains("panicked"));
}
