//! Secrets carry an access rule (isolation.md, "Secrets"), tried as a hostile user would: a user
//! whose app names an admin's secret is refused at launch (403 `secret-forbidden`) and never
//! sees its value; a grant lets the launch through and the value reach the app; an app-Name
//! restriction refuses the user's other apps; resuming and restarting check the rule again;
//! `GET /secrets` hides what a user may not use; secrets of an old database become admins-only;
//! a `PUT` without keys is refused and loses nothing.

mod common;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Method, TestServer, json_of};
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};

const VALUE: &str = "db-Password-5c1e93-never-shown";
const START: Duration = Duration::from_secs(300);

/// The probe app (plain HTTP, serves its environment at `/env`) named `name`, with
/// `API_TOKEN` from key `password` of secret `secret`.
fn probe_bundle(name: &str, secret: &str) -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("q-app.toml"),
        format!(
            "[App]\nName = \"{name}\"\nVersion = \"1.0.0\"\nTitle = \"Probe\"\n\n\
             [Runtime]\nModule = \"probe\"\nMemoryLimit = \"256Mi\"\n\n\
             [[Env]]\nName = \"API_TOKEN\"\nSecret = \"{secret}\"\nSecretKey = \"password\"\n"
        ),
    )
    .unwrap();
    std::fs::write(folder.path().join("probe.py"), runtime_support::PROBE).unwrap();
    let (out, bundle) = common::bundle_dir(folder.path());
    let kept = folder.path().join(bundle.file_name().unwrap());
    std::fs::rename(&bundle, &kept).unwrap();
    drop(out);
    (folder, kept)
}

async fn import(server: &TestServer, token: &str, bundle: &Path) -> String {
    let (status, app) = server.import(token, bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    app["id"].as_str().unwrap().to_owned()
}

async fn send(
    server: &TestServer,
    method: Method,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = server
        .client
        .request(method, server.api(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(r).await
}

async fn post(server: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    let r = server
        .client
        .post(server.api(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    json_of(r).await
}

/// Asserts a 403 `secret-forbidden` that names `secret` and shows no value.
fn assert_forbidden(status: StatusCode, err: &Value, secret: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["error"]["code"], "secret-forbidden", "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains(secret), "{message}");
    assert!(!err.to_string().contains(VALUE), "{err}");
}

/// The instance's environment, through the proxy with `token`.
async fn env_of(server: &TestServer, token: &str, id: &str) -> Value {
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let http = Client::builder()
        .redirect(redirect::Policy::none())
        .resolve(&format!("{id}.localhost"), addr)
        .build()
        .unwrap();
    let r = http
        .get(format!("http://{id}.localhost:{}/env", server.port))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_cannot_launch_with_an_admins_secret_until_granted() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    server.put_secret("db", json!({"password": VALUE})).await;
    let alice = server.user_token("alice", false).await;
    let (_folder, bundle) = probe_bundle("ai.h2o.q8s.alice-probe", "db");
    let app = import(&server, &alice, &bundle).await;

    // The attack: Alice's app names the admin's secret.
    let (status, err) = server.launch(&alice, &app, "PRIVATE").await;
    assert_forbidden(status, &err, "db");
    assert_eq!(err["error"]["details"], json!([{"secret": "db"}]));
    assert_eq!(server.get(&alice, "/instances").await.1, json!([]));
    // She does not see the secret either.
    assert_eq!(server.get(&alice, "/secrets").await.1, json!([]));

    // The admin grants it to her: her launch works and her app gets the value.
    let (status, secret) = send(
        &server,
        Method::PATCH,
        &admin,
        "/secrets/db",
        json!({"users": ["alice"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{secret}");
    assert_eq!(
        secret,
        json!({"name": "db", "keys": ["password"], "access": {"users": ["alice"], "apps": null}})
    );
    assert_eq!(
        server.get(&alice, "/secrets").await.1,
        json!([{"name": "db", "keys": ["password"]}])
    );
    let (status, instance) = server.launch(&alice, &app, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    server.wait_for_status(&alice, &id, "RUNNING", START).await;
    assert_eq!(env_of(&server, &alice, &id).await["API_TOKEN"], VALUE);

    // Taken back: the running instance keeps what it got, but no start gets it again —
    // neither a server restart (the instance fails, naming the secret) ...
    let (status, _) = send(
        &server,
        Method::PATCH,
        &admin,
        "/secrets/db",
        json!({"users": []}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let server = server.restart().await;
    let failed = server.wait_for_status(&alice, &id, "FAILED", START).await;
    let message = failed["status_message"].as_str().unwrap();
    assert!(
        message.contains("secret-forbidden") && message.contains("db"),
        "{message}"
    );
    // ... nor a resume, by her or by an admin (the instance is hers, so her rights count).
    for token in [&alice, &admin] {
        let (status, err) = post(&server, token, &format!("/instances/{id}/resume")).await;
        assert_forbidden(status, &err, "db");
    }
    assert_eq!(
        server.get(&alice, &format!("/instances/{id}")).await.1["status"],
        "FAILED"
    );

    // The value is in no answer and no log.
    for path in [
        "/secrets".to_owned(),
        "/instances?scope=all".to_owned(),
        format!("/instances/{id}"),
        format!("/apps/{app}"),
    ] {
        for token in [&alice, &admin] {
            let (_, body) = server.get(token, &path).await;
            assert!(!body.to_string().contains(VALUE), "{path}: {body}");
        }
    }
    let r = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains(VALUE));
    assert!(!server.log().contains(VALUE), "the server's log");
    let (status, _) = send(
        &server,
        Method::DELETE,
        &alice,
        &format!("/instances/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn app_names_restrict_which_apps_consume_a_secret() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let alice = server.user_token("alice", false).await;
    let (status, secret) = send(
        &server,
        Method::PUT,
        &admin,
        "/secrets/billing-db",
        json!({"data": {"password": VALUE}, "users": "ALL_USERS", "apps": ["ai.h2o.q8s.billing"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{secret}");
    assert_eq!(
        secret["access"],
        json!({"users": "ALL_USERS", "apps": ["ai.h2o.q8s.billing"]})
    );
    let (_a, billing) = probe_bundle("ai.h2o.q8s.billing", "billing-db");
    let (_b, other) = probe_bundle("ai.h2o.q8s.exfiltrate", "billing-db");
    let billing = import(&server, &alice, &billing).await;
    let other = import(&server, &alice, &other).await;

    // Alice may use the secret, but only in the app it is meant for; and the app rule holds
    // for admins too (an admin launching her shared app must not hand it the secret).
    let (status, err) = server.launch(&alice, &other, "PRIVATE").await;
    assert_forbidden(status, &err, "billing-db");
    let (status, err) = server.launch(&admin, &other, "PRIVATE").await;
    assert_forbidden(status, &err, "billing-db");
    let (status, instance) = server.launch(&alice, &billing, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap();
    assert_eq!(
        server
            .status(Method::DELETE, &alice, &format!("/instances/{id}"), None)
            .await,
        StatusCode::NO_CONTENT
    );

    // `apps: null` lifts the restriction; `users` left out keeps the users.
    let (status, secret) = send(
        &server,
        Method::PATCH,
        &admin,
        "/secrets/billing-db",
        json!({"apps": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{secret}");
    assert_eq!(
        secret["access"],
        json!({"users": "ALL_USERS", "apps": null})
    );
    let (status, instance) = server.launch(&alice, &other, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap();
    assert_eq!(
        server
            .status(Method::DELETE, &alice, &format!("/instances/{id}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn each_user_lists_only_the_secrets_they_may_use() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    for (name, rule) in [
        ("for-all", json!({"users": "ALL_USERS"})),
        ("for-alice", json!({"users": ["alice"]})),
        ("for-admins", json!({})),
    ] {
        let mut body = json!({"data": {"k": VALUE}});
        body.as_object_mut()
            .unwrap()
            .extend(rule.as_object().unwrap().clone());
        let (status, secret) = send(
            &server,
            Method::PUT,
            &admin,
            &format!("/secrets/{name}"),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{secret}");
    }
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, mine) = server.get(&alice, "/secrets").await;
    assert_eq!(names(&mine), ["for-alice", "for-all"]);
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("access").is_none())
    );
    assert_eq!(names(&server.get(&bob, "/secrets").await.1), ["for-all"]);
    let (_, all) = server.get(&admin, "/secrets").await;
    assert_eq!(
        all,
        json!([
            {"name": "for-admins", "keys": ["k"], "access": {"users": [], "apps": null}},
            {"name": "for-alice", "keys": ["k"], "access": {"users": ["alice"], "apps": null}},
            {"name": "for-all", "keys": ["k"], "access": {"users": "ALL_USERS", "apps": null}},
        ])
    );
    assert!(!all.to_string().contains(VALUE));

    // Replacing the values without a rule keeps the rule.
    let (status, secret) = send(
        &server,
        Method::PUT,
        &admin,
        "/secrets/for-alice",
        json!({"data": {"k2": "v2"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        secret,
        json!({"name": "for-alice", "keys": ["k2"], "access": {"users": ["alice"], "apps": null}})
    );

    // Rules that cannot be: an unknown user, an empty or invalid app list, a word that is not
    // ALL_USERS; an unknown secret; a user changing a rule.
    for body in [
        json!({"users": ["alice", "mallory"]}),
        json!({"apps": []}),
        json!({"apps": ["not a name"]}),
        json!({"users": "EVERYONE"}),
    ] {
        let (status, err) = send(
            &server,
            Method::PATCH,
            &admin,
            "/secrets/for-alice",
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert!(
            ["invalid-secret-access", "invalid-request"]
                .contains(&err["error"]["code"].as_str().unwrap()),
            "{err}"
        );
    }
    let (status, err) = send(
        &server,
        Method::PATCH,
        &admin,
        "/secrets/nothing",
        json!({"users": "ALL_USERS"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, _) = send(
        &server,
        Method::PATCH,
        &alice,
        "/secrets/for-admins",
        json!({"users": "ALL_USERS"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        names(&server.get(&alice, "/secrets").await.1),
        ["for-alice", "for-all"]
    );
}

#[tokio::test]
async fn a_put_without_keys_is_refused_and_loses_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    server.put_secret("keep", json!({"k": "v"})).await;
    for body in [
        json!({"data": {}}),
        json!({}),
        json!({"users": "ALL_USERS"}),
    ] {
        let (status, err) = send(&server, Method::PUT, &admin, "/secrets/keep", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["code"], "empty-secret", "{err}");
    }
    let (status, err) = send(
        &server,
        Method::PUT,
        &admin,
        "/secrets/new-one",
        json!({"data": {}}),
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("empty-secret"))
    );
    assert_eq!(
        server.get(&admin, "/secrets").await.1,
        json!([{"name": "keep", "keys": ["k"], "access": {"users": [], "apps": null}}])
    );
}

/// A database written by the first schema (0001 only), with a secret in it, opened by this
/// server: the secret becomes admins-only, and the file (created world-readable, as an old
/// server or a copy may leave it) becomes readable by the server's user only.
#[tokio::test]
async fn secrets_of_an_old_database_become_admins_only() {
    use std::os::unix::fs::PermissionsExt;

    let old = tempfile::tempdir().unwrap();
    let migrations = old.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::copy(
        common::repo_root().join("server/migrations/0001_init.sql"),
        migrations.join("0001_init.sql"),
    )
    .unwrap();
    let db = old.path().join("old.db");
    std::fs::File::create(&db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}", db.display());
    {
        use sqlx::ConnectOptions as _;
        let mut conn = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(migrations.as_path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO secrets (name, key, value) VALUES ('legacy', 'password', ?)")
            .bind(VALUE)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    let server = TestServer::start_with(&["--database", &url]).await;
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the database file's mode is {mode:o}");
    let admin = server.admin_token.clone();
    assert_eq!(
        server.get(&admin, "/secrets").await.1,
        json!([{"name": "legacy", "keys": ["password"], "access": {"users": [], "apps": null}}])
    );
    let alice = server.user_token("alice", false).await;
    assert_eq!(server.get(&alice, "/secrets").await.1, json!([]));
    let (_folder, bundle) = probe_bundle("ai.h2o.q8s.legacy-probe", "legacy");
    let app = import(&server, &alice, &bundle).await;
    let (status, err) = server.launch(&alice, &app, "PRIVATE").await;
    assert_forbidden(status, &err, "legacy");
}

/// serde quotes the value it trips over; in a secret's body that value is a secret.
#[tokio::test]
async fn a_refused_put_never_echoes_a_value() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    for body in [
        json!({"data": {"k": 987654321987_u64}}),
        json!({"data": {"k": ["in-a-List-5f1c"]}}),
        json!({"data": {"k": {"nested": "in-an-Object-5f1c"}}}),
        json!({"data": {"k": "fine"}, "users": "in-Users-5f1c"}),
    ] {
        let (status, err) = send(&server, Method::PUT, &admin, "/secrets/s", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["code"], "invalid-request", "{err}");
        let text = err.to_string();
        for value in ["987654321987", "in-a-List", "in-an-Object", "in-Users"] {
            assert!(!text.contains(value), "{body}: {text}");
        }
    }
    assert_eq!(server.get(&admin, "/secrets").await.1, json!([]));
    assert!(!server.log().contains("5f1c"), "the server's log");
}
