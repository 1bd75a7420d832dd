//! `/healthz` is liveness (the process serves; no I/O) and `/readyz` readiness (the metadata
//! store and the blob store answer): when the bucket or the database goes away, `/readyz`
//! answers 503 naming what fails while `/healthz` stays 200.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn get(server: &TestServer, path: &str) -> (StatusCode, serde_json::Value) {
    let r = server
        .client
        .get(format!("{}{path}", server.url))
        .send()
        .await
        .unwrap();
    json_of(r).await
}

#[tokio::test]
async fn readiness_names_what_fails_and_liveness_does_not_ask() {
    let moto = q8s_testing::s3::MotoServer::start();
    let database = q8s_testing::postgres::fresh_database();
    let server =
        TestServer::start_on_s3(&moto, &["--runtime", "fake", "--database", &database]).await;
    let ready = json!({"status": "ok", "store": true, "blob_store": true, "failing": []});
    assert_eq!(get(&server, "/readyz").await, (StatusCode::OK, ready));

    // The bucket goes away.
    drop(moto);
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body,
        json!({"status": "unavailable", "store": true, "blob_store": false, "failing": ["blob_store"]})
    );
    assert_eq!(
        get(&server, "/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );

    // And the database too.
    q8s_testing::postgres::drop_database(&database);
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failing"], json!(["store", "blob_store"]), "{body}");
    assert_eq!(body["store"], false);
    assert_eq!(
        get(&server, "/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    // Readiness never tells an anonymous caller more than the names.
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}
