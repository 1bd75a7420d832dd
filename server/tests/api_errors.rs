//! One error shape for one mistake: a bad value of a body or query field is answered with the
//! same code and sentence wherever it is sent, and the sentence names the field and what it
//! accepts. On the fake runtime.

mod common;

use common::{Method, TestServer, hello_bundle};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The status and `error` of an answer.
fn error_of((status, body): (StatusCode, Value)) -> (StatusCode, Value) {
    (status, body["error"].clone())
}

#[tokio::test]
async fn a_bad_visibility_is_invalid_visibility_in_bodies_and_queries_alike() {
    let server = TestServer::start_fake().await;
    let token = &server.admin_token;
    let (app_id, instance_id) = server.launch_hello(token).await;

    let expected = json!({
        "code": "invalid-visibility",
        "message": "visibility must be PRIVATE or ALL_USERS, not `EVERYONE`",
        "details": [{"field": "visibility", "allowed": ["PRIVATE", "ALL_USERS"]}],
    });
    let bad = json!({"visibility": "EVERYONE"});
    let answers = [
        (
            "PATCH app",
            server
                .send(
                    Method::PATCH,
                    token,
                    &format!("/apps/{app_id}"),
                    Some(bad.clone()),
                )
                .await,
        ),
        (
            "PATCH instance",
            server
                .send(
                    Method::PATCH,
                    token,
                    &format!("/instances/{instance_id}"),
                    Some(bad.clone()),
                )
                .await,
        ),
        (
            "POST instances",
            server.launch(token, &app_id, "EVERYONE").await,
        ),
        (
            "POST apps?visibility=",
            server.import(token, &hello_bundle(), "EVERYONE").await,
        ),
    ];
    for (what, answer) in answers {
        let (status, error) = error_of(answer);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {error}");
        assert_eq!(error, expected, "{what}");
    }
    // A value of another type is the same mistake.
    let (status, error) = error_of(
        server
            .send(
                Method::PATCH,
                token,
                &format!("/apps/{app_id}"),
                Some(json!({"visibility": 5})),
            )
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["code"], "invalid-visibility");
    assert_eq!(
        error["message"],
        "visibility must be PRIVATE or ALL_USERS, not `5`"
    );
    // Nothing was launched or imported by the refused requests.
    assert_eq!(server.count(token, "/instances").await, 1);
    assert_eq!(server.count(token, "/apps").await, 1);
}

#[tokio::test]
async fn other_bad_fields_are_invalid_request_naming_the_field_and_what_it_takes() {
    let server = TestServer::start_fake().await;
    let token = &server.admin_token;
    let (app_id, instance_id) = server.launch_hello(token).await;

    for path in ["/apps?scope=everything", "/instances?scope=everything"] {
        let (status, error) = error_of(server.get(token, path).await);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(
            error,
            json!({
                "code": "invalid-request",
                "message": "`scope` in the query: unknown variant `everything`, expected `mine` or `all`",
                "details": [{"field": "scope"}],
            }),
            "{path}"
        );
    }
    let (status, error) = error_of(
        server
            .get(token, &format!("/instances/{instance_id}/logs?tail=ten"))
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["code"], "invalid-request");
    assert_eq!(error["details"], json!([{"field": "tail"}]));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("`tail` in the query: "),
        "{error}"
    );

    // An unknown field of a launch names itself and the fields there are.
    let (status, error) = error_of(
        server
            .send(
                Method::POST,
                token,
                &format!("/apps/{app_id}/instances"),
                Some(json!({"visibilty": "PRIVATE"})),
            )
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error,
        json!({
            "code": "invalid-request",
            "message": "`visibilty` in the body: unknown field `visibilty`, expected `visibility`",
            "details": [{"field": "visibilty"}],
        })
    );
    // A missing field of a body read by ApiJson names it.
    let (status, error) = error_of(
        server
            .send(
                Method::POST,
                token,
                "/users",
                Some(json!({"password": "x"})),
            )
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["code"], "invalid-request");
    assert_eq!(error["message"], "the body: missing field `username`");
    // A wrong type of a nested field names its path.
    let (status, error) = error_of(
        server
            .send(
                Method::POST,
                token,
                "/users",
                Some(json!({"username": ["a"]})),
            )
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["code"], "invalid-request");
    assert_eq!(error["details"], json!([{"field": "username"}]));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("`username` in the body: invalid type: sequence, expected a string"),
        "{error}"
    );
    // The same for a body that may be empty (`POST /tokens`).
    let (status, error) = error_of(
        server
            .send(Method::POST, token, "/tokens", Some(json!({"name": 5})))
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["code"], "invalid-request");
    assert_eq!(error["details"], json!([{"field": "name"}]), "{error}");
    // Not JSON at all: the same code, saying so.
    let r = server
        .client
        .post(server.api(&format!("/apps/{app_id}/instances")))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{visibility")
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(common::json_of(r).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["code"], "invalid-request");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("the body is not JSON: "),
        "{error}"
    );
    // A body that is not declared JSON where JSON is read: 415, a code docs/api.md lists.
    let r = server
        .client
        .post(server.api("/users"))
        .bearer_auth(token)
        .body(r#"{"username": "carol"}"#)
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(common::json_of(r).await);
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{error}");
    assert_eq!(error["code"], "unsupported-media-type");
    assert_eq!(server.count(token, "/instances").await, 1);
}
