//! Users, tokens, `/me` and secrets through the API of a real server.

mod common;

use common::{Method, TestServer, json_of};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn admins_manage_users_and_users_cannot() {
    let server = TestServer::start().await;
    let (status, created) = server
        .send(
            Method::POST,
            &server.admin_token,
            "/users",
            Some(json!({"username": "carol"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["user"]["username"], "carol");
    assert_eq!(created["user"]["admin"], false);
    let generated = created["password"].as_str().unwrap();
    assert!(generated.len() >= 16);
    assert!(
        server.login("carol", generated).await.is_some(),
        "the generated password works"
    );

    let r = server
        .client
        .post(server.api("/users"))
        .bearer_auth(&server.admin_token)
        .json(&json!({"username": "carol", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["error"]["code"], "user-exists");
    for (body, code) in [
        (json!({"username": "Carol!"}), "invalid-username"),
        (
            json!({"username": "dave", "password": "short"}),
            "weak-password",
        ),
        (json!({"username": "dave", "role": "x"}), "invalid-request"),
    ] {
        let (status, err) = server
            .send(
                Method::POST,
                &server.admin_token,
                "/users",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(err["error"]["code"], code, "{body}");
    }

    let user = server.user_token("erin", false).await;
    let (status, list) = server.get(&server.admin_token, "/users").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "carol", "erin"]);
    assert!(
        !list.to_string().contains("argon2"),
        "no password hashes in answers"
    );
    let (status, err) = server.get(&user, "/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["error"]["code"], "forbidden");
    assert_eq!(
        server
            .status(
                Method::POST,
                &user,
                "/users",
                Some(json!({"username": "x1"}))
            )
            .await,
        StatusCode::FORBIDDEN
    );
    let (_, me) = server.get(&user, "/me").await;
    assert_eq!(
        (me["username"].as_str(), me["admin"].as_bool()),
        (Some("erin"), Some(false))
    );
}

#[tokio::test]
async fn tokens_belong_to_their_user() {
    let server = TestServer::start().await;
    let frank = server.user_token("frank", false).await;
    let grace = server.user_token("grace", false).await;
    let (status, token) = server.send(Method::POST, &frank, "/tokens", None).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    assert_eq!(token["name"], "api");
    let id = token["id"].as_str().unwrap();
    // Grace cannot revoke Frank's token (it does not exist for her).
    assert_eq!(
        server
            .status(Method::DELETE, &grace, &format!("/tokens/{id}"), None)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .status(Method::DELETE, &frank, &format!("/tokens/{id}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server
            .status(Method::DELETE, &frank, &format!("/tokens/{id}"), None)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get(token["token"].as_str().unwrap(), "/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get(&frank, "/me").await.0,
        StatusCode::OK,
        "other tokens still work"
    );
}

#[tokio::test]
async fn secret_values_are_never_returned() {
    let server = TestServer::start().await;
    let value = "s3cr3t-VALUE-never-shown";
    server
        .put_secret("SecretName", json!({"API_KEY": value, "other.key": "x"}))
        .await;
    let user = server.user_token("heidi", false).await;
    // Shared with every user: they see names and keys, admins the rule too.
    assert_eq!(
        server
            .status(
                Method::PATCH,
                &server.admin_token,
                "/secrets/SecretName",
                Some(json!({"users": "ALL_USERS"}))
            )
            .await,
        StatusCode::OK
    );
    for (token, rule) in [
        (
            &server.admin_token,
            Some(json!({"users": "ALL_USERS", "apps": null})),
        ),
        (&user, None),
    ] {
        let r = server
            .client
            .get(server.api("/secrets"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(!text.contains(value), "{text}");
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut expected = json!({"name": "SecretName", "keys": ["API_KEY", "other.key"]});
        if let Some(rule) = rule {
            expected["access"] = rule;
        }
        assert_eq!(list, json!([expected]));
    }
    // Users may not write or delete secrets.
    assert_eq!(
        server
            .status(
                Method::PUT,
                &user,
                "/secrets/mine",
                Some(json!({"data": {"k": "v"}}))
            )
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        server
            .status(Method::DELETE, &user, "/secrets/SecretName", None)
            .await,
        StatusCode::FORBIDDEN
    );
    // Bad names and keys, refused with core's words for the manifest's `[[Env]]` (one rule).
    let long = "s".repeat(254);
    for (name, body, code, says) in [
        ("bad/name", json!({"data": {}}), None, ""),
        (
            "-bad",
            json!({"data": {"k": "v"}}),
            Some("invalid-secret-name"),
            "must start and end with a letter or digit",
        ),
        (
            long.as_str(),
            json!({"data": {"k": "v"}}),
            Some("invalid-secret-name"),
            "at most 253",
        ),
        (
            "good",
            json!({"data": {"bad key": "v"}}),
            Some("invalid-secret-key"),
            "contains ' '",
        ),
        ("good", json!({"value": "v"}), Some("invalid-request"), ""),
    ] {
        let (status, err) = server
            .send(
                Method::PUT,
                &server.admin_token,
                &format!("/secrets/{name}"),
                Some(body),
            )
            .await;
        match code {
            Some(code) => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
                assert_eq!(err["error"]["code"], code);
                assert!(!err.to_string().contains(value));
                let message = err["error"]["message"].as_str().unwrap();
                assert!(message.contains(says), "{says:?} in {message:?}");
            }
            None => assert_eq!(status, StatusCode::NOT_FOUND, "{name}"),
        }
    }
    // Replace keeps exactly the new keys; delete removes it.
    server.put_secret("SecretName", json!({"ONLY": "y"})).await;
    assert_eq!(
        server.get(&user, "/secrets").await.1,
        json!([{"name": "SecretName", "keys": ["ONLY"]}])
    );
    // Deleting twice: gone, then not found.
    for expected in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
        let admin = &server.admin_token;
        let status = server
            .status(Method::DELETE, admin, "/secrets/SecretName", None)
            .await;
        assert_eq!(status, expected);
    }
    assert!(
        !server.log().contains(value),
        "secret values never reach the log"
    );
}

#[tokio::test]
async fn health_metrics_openapi_and_unknown_routes() {
    let server = TestServer::start().await;
    let r = server
        .client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    let (status, health) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok"}));
    let r = server
        .client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    let (status, ready) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ready,
        json!({"status": "ok", "store": true, "blob_store": true, "failing": []})
    );
    let metrics = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "q8s_imports_total 0",
        "q8s_bundle_bytes_received_total 0",
        "q8s_proxy_requests_total",
        "q8s_instances{status=\"RUNNING\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let (status, doc) = json_of(
        server
            .client
            .get(server.api("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/apps",
        "/api/v1/apps/{id}",
        "/api/v1/apps/{id}/bundle",
        "/api/v1/apps/{id}/icon",
        "/api/v1/apps/{id}/screenshots/{n}",
        "/api/v1/apps/{id}/instances",
        "/api/v1/instances",
        "/api/v1/instances/{id}",
        "/api/v1/instances/{id}/suspend",
        "/api/v1/instances/{id}/resume",
        "/api/v1/instances/{id}/logs",
        "/api/v1/secrets",
        "/api/v1/secrets/{name}",
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/users",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/api/v1/secrets/{name}"]["patch"].is_object());
    for schema in [
        "App",
        "Secret",
        "SecretAccess",
        "SecretUsers",
        "SecretWrite",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let (status, err) = server.get(&server.admin_token, "/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "not-found");
}

#[tokio::test]
async fn user_add_command_and_sigterm() {
    let mut server = TestServer::start().await;
    let status = server.terminate();
    assert!(status.success(), "a clean exit on SIGTERM: {status}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_q8s-server"))
        .args(["--data-dir"])
        .arg(server.data_dir())
        .args(server.store_args())
        .args(["user", "add", "ivan"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let password = stdout
        .split("password: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_q8s-server"))
        .args(["--data-dir"])
        .arg(server.data_dir())
        .args(server.store_args())
        .args(["user", "add", "ivan"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let server = server.restart().await;
    assert!(server.login("ivan", &password).await.is_some());
    // The admin is created once: the first token still works after the restart.
    assert_eq!(
        server.get(&server.admin_token, "/me").await.0,
        StatusCode::OK
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(server.data_dir().join("admin-token"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // The SQLite database holds secrets: private too (not there on PostgreSQL).
    if server.store_args().is_empty() {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(server.data_dir().join("q8s.db"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
