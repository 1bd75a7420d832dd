//! Instances through the API: the secret pre-check, life-cycle calls and their effect on app
//! deletion, on the fake runtime. (Running the app itself is covered by the runtime and proxy
//! tests.)

mod common;

use common::{Method, TestServer, hello_bundle, hello_variant, json_of};
use reqwest::StatusCode;
use serde_json::json;

const ENV: &str = "[[Env]]\nName = \"GREETING\"\nSecret = \"hello-secrets\"\nSecretKey = \"greeting\"\n\n[[Env]]\nName = \"TOKEN\"\nSecret = \"other\"\nSecretKey = \"token\"\n";

#[tokio::test]
async fn launching_needs_every_secret_and_never_shows_values() {
    launching_needs_every_secret_and_never_shows_values_on(TestServer::start_fake().await).await;
}

#[tokio::test]
async fn launching_needs_every_secret_and_never_shows_values_on_postgres() {
    launching_needs_every_secret_and_never_shows_values_on(
        TestServer::start_fake_on_postgres().await,
    )
    .await;
}

async fn launching_needs_every_secret_and_never_shows_values_on(server: TestServer) {
    let (_dir, bundle) = hello_variant("0.3.0", ENV);
    let (status, app) = server
        .import(&server.admin_token, &bundle, "ALL_USERS")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(
        app["env"],
        json!([
            {"name": "GREETING", "secret": "hello-secrets", "secret_key": "greeting"},
            {"name": "TOKEN", "secret": "other", "secret_key": "token"},
        ])
    );
    let id = app["id"].as_str().unwrap();
    let (status, err) = server.launch(&server.admin_token, id, "PRIVATE").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "missing-secret");
    assert_eq!(err["error"]["details"].as_array().unwrap().len(), 2);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("GREETING") && message.contains("TOKEN"),
        "{message}"
    );
    // The full command that creates each secret.
    assert!(
        message.ends_with(
            "an admin can create them with `q8s-cli admin secret set hello-secrets greeting=VALUE` and `q8s-cli admin secret set other token=VALUE`"
        ),
        "{message}"
    );

    let value = "very-secret-greeting-value";
    server
        .put_secret("hello-secrets", json!({"greeting": value}))
        .await;
    let (_, err) = server.launch(&server.admin_token, id, "PRIVATE").await;
    assert_eq!(
        err["error"]["details"],
        json!([{"name": "TOKEN", "secret": "other", "secret_key": "token"}])
    );
    // A secret without the key: `set` replaces it, so the command keeps its other keys.
    server.put_secret("other", json!({"unrelated": "u"})).await;
    let (_, err) = server.launch(&server.admin_token, id, "PRIVATE").await;
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with("`q8s-cli admin secret set other token=VALUE unrelated=VALUE`"),
        "{message}"
    );
    server
        .put_secret("other", json!({"token": "t0k3n-value"}))
        .await;
    let (status, instance) = server.launch(&server.admin_token, id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let iid = instance["id"].as_str().unwrap();
    assert_eq!(instance["app_id"], id);
    assert_eq!(instance["app_name"], "ai.h2o.q8s.hello");
    assert_eq!(instance["owner"], "admin");
    assert_eq!(
        instance["url"],
        format!("http://{iid}.localhost:{}/", server.port)
    );
    for path in [
        "/apps?scope=all".to_owned(),
        format!("/apps/{id}"),
        "/instances".to_owned(),
        format!("/instances/{iid}"),
        "/secrets".to_owned(),
    ] {
        let (_, body) = server.get(&server.admin_token, &path).await;
        assert!(
            !body.to_string().contains(value) && !body.to_string().contains("t0k3n-value"),
            "{path}"
        );
    }
    assert_eq!(
        server
            .status(
                Method::DELETE,
                &server.admin_token,
                &format!("/instances/{iid}"),
                None
            )
            .await,
        StatusCode::NO_CONTENT
    );
    assert!(!server.log().contains(value));
}

#[tokio::test]
async fn instance_life_cycle_visibility_and_app_deletion() {
    instance_life_cycle_visibility_and_app_deletion_on(TestServer::start_fake().await).await;
}

#[tokio::test]
async fn instance_life_cycle_visibility_and_app_deletion_on_postgres() {
    instance_life_cycle_visibility_and_app_deletion_on(TestServer::start_fake_on_postgres().await)
        .await;
}

async fn instance_life_cycle_visibility_and_app_deletion_on(server: TestServer) {
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    let (status, app) = server.import(&alice, &hello_bundle(), "ALL_USERS").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = app["id"].as_str().unwrap();

    // Bob may launch Alice's shared app; his instance is his.
    let (status, theirs) = server.launch(&bob, app_id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let bob_iid = theirs["id"].as_str().unwrap().to_owned();
    let (status, mine) = server.launch(&alice, app_id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED);
    let iid = mine["id"].as_str().unwrap().to_owned();
    assert!(
        ["PENDING", "STARTING", "RUNNING", "FAILED"].contains(&mine["status"].as_str().unwrap())
    );
    assert_eq!(server.get(&alice, "/apps").await.1[0]["instance_count"], 2);

    // Private instances: 404 for others, visible with ALL_USERS, manageable only by the owner.
    assert_eq!(
        server.get(&bob, &format!("/instances/{iid}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get(&bob, &format!("/instances/{iid}/logs")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.count(&bob, "/instances?scope=all").await, 1);
    let (status, patched) = server
        .send(
            Method::PATCH,
            &alice,
            &format!("/instances/{iid}"),
            Some(json!({"visibility": "ALL_USERS"})),
        )
        .await;
    assert_eq!(
        (status, patched["visibility"].as_str()),
        (StatusCode::OK, Some("ALL_USERS"))
    );
    assert_eq!(
        server.get(&bob, &format!("/instances/{iid}")).await.0,
        StatusCode::OK
    );
    assert_eq!(server.count(&bob, "/instances?scope=all").await, 2);
    assert_eq!(server.count(&bob, "/instances").await, 1, "mine only");
    assert_eq!(
        server
            .status(
                Method::POST,
                &bob,
                &format!("/instances/{iid}/suspend"),
                None
            )
            .await,
        StatusCode::FORBIDDEN
    );
    let r = server
        .client
        .patch(server.api(&format!("/instances/{iid}")))
        .bearer_auth(&alice)
        .json(&json!({"app_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["error"]["code"], "immutable-field");

    // Deleting the app is refused while instances live.
    let (status, err) = server
        .send(Method::DELETE, &alice, &format!("/apps/{app_id}"), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("app-has-instances"))
    );

    // Suspend, resume, terminate.
    let (status, suspended) = server
        .send(
            Method::POST,
            &alice,
            &format!("/instances/{iid}/suspend"),
            None,
        )
        .await;
    assert_eq!(
        (status, suspended["status"].as_str()),
        (StatusCode::OK, Some("SUSPENDED")),
        "{suspended}"
    );
    let (status, resumed) = server
        .send(
            Method::POST,
            &alice,
            &format!("/instances/{iid}/resume"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_ne!(resumed["status"], "SUSPENDED");
    for id in [&iid, &bob_iid] {
        let token = if *id == iid { &alice } else { &bob };
        assert_eq!(
            server
                .status(Method::DELETE, token, &format!("/instances/{id}"), None)
                .await,
            StatusCode::NO_CONTENT
        );
    }
    let (_, gone) = server.get(&alice, &format!("/instances/{iid}")).await;
    assert_eq!(gone["status"], "TERMINATED");
    let r = server
        .client
        .post(server.api(&format!("/instances/{iid}/resume")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["error"]["code"], "instance-terminated");
    assert_eq!(server.get(&alice, "/apps").await.1[0]["instance_count"], 0);
    assert_eq!(
        server
            .status(Method::DELETE, &alice, &format!("/apps/{app_id}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
    // Its bundle, younger than `--blob-grace`, stays for a later sweep (api_apps.rs).
    assert_eq!(server.blob_files().len(), 1);
    assert_eq!(
        server.get(&alice, &format!("/instances/{iid}")).await.0,
        StatusCode::NOT_FOUND
    );
}
