//! API tokens people can manage: listed without their secrets, revoked by id, their last use
//! recorded, and a refused token told apart from a missing one, by the API and the proxy.

mod common;

use common::{Method, TestServer, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `POST /tokens` named `name` with `token`: the answer (id and secret).
async fn mint(server: &TestServer, token: &str, name: &str) -> Value {
    let (status, created) = server
        .send(
            Method::POST,
            token,
            "/tokens",
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// The `GET /tokens<query>` list of `token`'s caller.
async fn list(server: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let (status, tokens) = server.get(token, &format!("/tokens{query}")).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens.as_array().unwrap().clone()
}

fn ids(tokens: &[Value]) -> Vec<&str> {
    tokens.iter().map(|t| t["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn tokens_are_listed_without_their_secrets_and_revoked_by_id() {
    tokens_are_listed_without_their_secrets_and_revoked_by_id_on(TestServer::start_fake().await)
        .await;
}

#[tokio::test]
async fn tokens_are_listed_without_their_secrets_and_revoked_by_id_on_postgres() {
    tokens_are_listed_without_their_secrets_and_revoked_by_id_on(
        TestServer::start_fake_on_postgres().await,
    )
    .await;
}

async fn tokens_are_listed_without_their_secrets_and_revoked_by_id_on(server: TestServer) {
    let frank = server.user_token("frank", false).await;
    let grace = server.user_token("grace", false).await;
    // Two tokens of one name are two tokens: names are labels, ids identify.
    let ci = mint(&server, &frank, "ci").await;
    let ci2 = mint(&server, &frank, "ci").await;
    let secrets = [
        &frank,
        ci["token"].as_str().unwrap(),
        ci2["token"].as_str().unwrap(),
    ];

    let (_, raw) = server.get(&frank, "/tokens").await;
    let text = raw.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "a secret in the list: {text}");
    }
    let mine = raw.as_array().unwrap();
    assert_eq!(mine.len(), 3, "{text}");
    assert_eq!(
        ids(&mine[1..]),
        [ci["id"].as_str().unwrap(), ci2["id"].as_str().unwrap()]
    );
    for token in mine {
        let mut keys: Vec<&str> = token
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "created_at",
                "current",
                "id",
                "last_used_at",
                "name",
                "owner"
            ],
            "{token}"
        );
        assert_eq!(token["owner"], "frank");
    }
    assert_eq!(
        (mine[0]["name"].as_str(), mine[0]["current"].as_bool()),
        (Some("test"), Some(true))
    );
    assert_eq!(mine[1]["current"], false);
    assert_eq!(mine[1]["created_at"], ci["created_at"]);

    // Others' tokens: not listed for Grace, not hers to ask for, and not hers to revoke.
    assert_eq!(list(&server, &grace, "").await.len(), 1);
    let (status, err) = server.get(&grace, "/tokens?scope=all").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let ci_id = ci["id"].as_str().unwrap();
    let path = format!("/tokens/{ci_id}");
    assert_eq!(
        server.status(Method::DELETE, &grace, &path, None).await,
        StatusCode::NOT_FOUND
    );
    // An admin sees everyone's, with their owners.
    let everyone = list(&server, &server.admin_token, "?scope=all").await;
    let owners: Vec<&str> = everyone
        .iter()
        .map(|t| t["owner"].as_str().unwrap())
        .collect();
    assert_eq!(
        owners,
        ["admin", "frank", "grace", "frank", "frank"],
        "{everyone:#?}"
    );

    assert_eq!(
        server.status(Method::DELETE, &frank, &path, None).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.status(Method::DELETE, &frank, &path, None).await,
        StatusCode::NOT_FOUND
    );
    let left = list(&server, &frank, "").await;
    assert_eq!(
        ids(&left)[1..],
        [ci2["id"].as_str().unwrap()],
        "the other `ci` stays"
    );
    assert_eq!(
        server.get(ci["token"].as_str().unwrap(), "/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get(ci2["token"].as_str().unwrap(), "/me").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_tokens_last_use_is_recorded_at_most_once_a_minute() {
    let server = TestServer::start_fake().await;
    let frank = server.user_token("frank", false).await;
    let unused = mint(&server, &frank, "unused").await;
    let used = mint(&server, &frank, "used").await;
    let used_secret = used["token"].as_str().unwrap();

    // Listing with `used` is a use of it: recorded before the list is read.
    let tokens = list(&server, used_secret, "").await;
    let find =
        |tokens: &[Value], id: &Value| tokens.iter().find(|t| t["id"] == *id).unwrap().clone();
    let first = find(&tokens, &used["id"])["last_used_at"].clone();
    let first_text = first.as_str().expect("a used token has last_used_at");
    assert!(
        first_text >= used["created_at"].as_str().unwrap(),
        "{first_text}"
    );
    assert_eq!(
        find(&tokens, &unused["id"])["last_used_at"],
        Value::Null,
        "never used"
    );

    // More uses within the minute write nothing: the recorded time stays as it was.
    for _ in 0..3 {
        assert_eq!(server.get(used_secret, "/me").await.0, StatusCode::OK);
    }
    let tokens = list(&server, used_secret, "").await;
    assert_eq!(find(&tokens, &used["id"])["last_used_at"], first);
}

#[tokio::test]
async fn a_refused_token_is_told_apart_from_a_missing_one() {
    let server = TestServer::start_fake().await;
    let frank = server.user_token("frank", false).await;
    let revoked = mint(&server, &frank, "gone").await;
    let path = format!("/tokens/{}", revoked["id"].as_str().unwrap());
    assert_eq!(
        server.status(Method::DELETE, &frank, &path, None).await,
        StatusCode::NO_CONTENT
    );

    let me = |token: Option<&str>| {
        let request = server.client.get(server.api("/me"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { json_of(request.send().await.unwrap()).await }
    };
    let (status, none) = me(None).await;
    assert_eq!(
        (status, none["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    assert!(
        none["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send `Authorization: Bearer"),
        "{none}"
    );

    let (status, refused) = me(Some(revoked["token"].as_str().unwrap())).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("was refused"), "{message}");
    assert!(
        message.contains("revoked") && message.contains("q8s-cli config setup"),
        "{message}"
    );
    assert_ne!(none["error"]["message"], refused["error"]["message"]);
    // A token that never existed hears the very same words: the answer tells a guesser
    // nothing about which tokens once existed.
    let (_, unknown) = me(Some("q8s_never-issued")).await;
    assert_eq!(unknown, refused);

    // The instance proxy says the same to a script sending the token.
    let id = uuid::Uuid::new_v4().to_string();
    let r = server
        .instance_client(&id)
        .get(format!("http://{id}.localhost:{}/", server.port))
        .bearer_auth(revoked["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("API token refused") && page.contains("was refused"),
        "{page}"
    );
    let r = server
        .instance_client(&id)
        .get(format!("http://{id}.localhost:{}/", server.port))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Sign in required"));
}
