//! Lists that stay useful: `GET /instances` shows live instances newest first and counts the
//! terminated ones it leaves out; `GET /apps` shows the latest version of each Name. Both
//! filter on the server (`status`, `versions`, `name`), on the fake runtime.

mod common;

use std::time::Duration;

use common::{Method, TestServer, app_variant, hello_variant};
use reqwest::StatusCode;
use serde_json::Value;

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

/// GET a list; returns the JSON and the terminated-omitted header.
async fn list(server: &TestServer, path: &str) -> (Value, Option<String>) {
    let r = server
        .client
        .get(server.api(path))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let omitted = r
        .headers()
        .get("q8s-terminated-omitted")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.json().await.unwrap(), omitted)
}

#[tokio::test]
async fn instance_lists_show_live_instances_newest_first() {
    instance_lists_show_live_instances_newest_first_on(TestServer::start_fake().await).await;
}

#[tokio::test]
async fn instance_lists_show_live_instances_newest_first_on_postgres() {
    instance_lists_show_live_instances_newest_first_on(TestServer::start_fake_on_postgres().await)
        .await;
}

async fn instance_lists_show_live_instances_newest_first_on(server: TestServer) {
    let (_dir, bundle) = hello_variant("0.1.0", "");
    let (_, app) = server.import(&server.admin_token, &bundle, "PRIVATE").await;
    let app_id = app["id"].as_str().unwrap();
    let mut launched = Vec::new();
    for _ in 0..4 {
        let (status, instance) = server.launch(&server.admin_token, app_id, "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "{instance}");
        // Cards show the app's title and icon: the instance carries them.
        assert_eq!(instance["app_title"], "Hello q8s");
        assert_eq!(
            instance["app_icon_location"],
            "ai.h2o.q8s.hello.0.1.0/icon.png"
        );
        let id = instance["id"].as_str().unwrap().to_owned();
        server
            .wait_for_status(&server.admin_token, &id, "RUNNING", Duration::from_secs(60))
            .await;
        launched.push(id);
    }
    for id in &launched[..2] {
        let path = format!("/instances/{id}");
        let status = server
            .status(Method::DELETE, &server.admin_token, &path, None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let suspend = format!("/instances/{}/suspend", launched[3]);
    let (status, _) = server
        .send(Method::POST, &server.admin_token, &suspend, None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // The default: live ones, newest first, and how many terminated ones were left out.
    let (live, omitted) = list(&server, "/instances").await;
    assert_eq!(ids(&live), [&launched[3], &launched[2]]);
    assert_eq!(omitted.as_deref(), Some("2"));
    let (same, _) = list(&server, "/instances?status=live&scope=mine").await;
    assert_eq!(same, live);

    let (all, omitted) = list(&server, "/instances?status=all").await;
    let newest_first: Vec<&String> = launched.iter().rev().collect();
    assert_eq!(ids(&all), newest_first);
    assert_eq!(omitted.as_deref(), Some("0"));

    let (terminated, omitted) = list(&server, "/instances?status=TERMINATED").await;
    assert_eq!(ids(&terminated), [&launched[1], &launched[0]]);
    assert_eq!(omitted.as_deref(), Some("0"));
    let (some, omitted) = list(&server, "/instances?status=running,suspended").await;
    assert_eq!(ids(&some), [&launched[3], &launched[2]]);
    assert_eq!(omitted.as_deref(), Some("2"));

    // A status that does not exist names the parameter and what it takes.
    let (status, err) = server
        .get(&server.admin_token, "/instances?status=STOPPED")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("status") && message.contains("`STOPPED`") && message.contains("live"),
        "{message}"
    );
}

#[tokio::test]
async fn app_lists_show_the_latest_version_of_each_name() {
    app_lists_show_the_latest_version_of_each_name_on(TestServer::start_fake().await).await;
}

#[tokio::test]
async fn app_lists_show_the_latest_version_of_each_name_on_postgres() {
    app_lists_show_the_latest_version_of_each_name_on(TestServer::start_fake_on_postgres().await)
        .await;
}

async fn app_lists_show_the_latest_version_of_each_name_on(server: TestServer) {
    let token = server.admin_token.clone();
    let mut imported = Vec::new();
    for (name, version) in [
        ("ai.h2o.q8s.hello", "0.1.0"),
        ("ai.h2o.q8s.hello", "0.2.0"),
        ("ai.h2o.q8s.other", "1.0.0"),
        ("ai.h2o.q8s.hello", "0.3.0"),
    ] {
        let (_dir, bundle) = app_variant(name, version, &[]);
        let (status, app) = server.import(&token, &bundle, "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        imported.push(app["id"].as_str().unwrap().to_owned());
    }
    let versions = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a["name"].as_str().unwrap(),
                    a["version"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (latest, _) = list(&server, "/apps").await;
    assert_eq!(
        versions(&latest),
        ["ai.h2o.q8s.hello 0.3.0", "ai.h2o.q8s.other 1.0.0"]
    );
    let (same, _) = list(&server, "/apps?versions=latest").await;
    assert_eq!(same, latest);
    let (all, _) = list(&server, "/apps?versions=all").await;
    assert_eq!(
        versions(&all),
        [
            "ai.h2o.q8s.hello 0.1.0",
            "ai.h2o.q8s.hello 0.2.0",
            "ai.h2o.q8s.hello 0.3.0",
            "ai.h2o.q8s.other 1.0.0"
        ]
    );
    let (named, _) = list(&server, "/apps?name=ai.h2o.q8s.hello&versions=all").await;
    assert_eq!(named.as_array().unwrap().len(), 3);
    let (named, _) = list(&server, "/apps?name=ai.h2o.q8s.hello").await;
    assert_eq!(ids(&named), [imported[3].as_str()]);

    let (status, err) = server.get(&token, "/apps?versions=newest").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("versions") && message.contains("latest or all"),
        "{message}"
    );
}

#[tokio::test]
async fn short_ids_are_found_by_prefix() {
    short_ids_are_found_by_prefix_on(TestServer::start_fake().await).await;
}

#[tokio::test]
async fn short_ids_are_found_by_prefix_on_postgres() {
    short_ids_are_found_by_prefix_on(TestServer::start_fake_on_postgres().await).await;
}

/// `id_prefix` (how `q8s-cli` resolves a short id) lists exactly the ids that start with it,
/// in any case, among what the caller may see; anything that starts no id is a 422.
async fn short_ids_are_found_by_prefix_on(server: TestServer) {
    let token = server.admin_token.clone();
    let mut apps = Vec::new();
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.4.0"] {
        let (_dir, bundle) = app_variant("ai.h2o.q8s.short", version, &[]);
        let (status, app) = server.import(&token, &bundle, "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        apps.push(app["id"].as_str().unwrap().to_owned());
    }
    let mut instances = Vec::new();
    for _ in 0..3 {
        let (status, instance) = server.launch(&token, &apps[0], "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "{instance}");
        instances.push(instance["id"].as_str().unwrap().to_owned());
    }
    // Every id by its first 8 characters, its first 10 in capitals, and whole.
    for (kind, known, extra) in [
        ("apps", &apps, "versions=all"),
        ("instances", &instances, "status=all"),
    ] {
        for id in known.iter() {
            for prefix in [id[..8].to_owned(), id[..10].to_uppercase(), id.clone()] {
                let path = format!("/{kind}?scope=all&{extra}&id_prefix={prefix}");
                let (found, _) = list(&server, &path).await;
                assert_eq!(ids(&found), [id.as_str()], "{path}");
            }
        }
        // One character: every id that starts with it, none that does not.
        let first = &known[0][..1];
        let (found, _) = list(&server, &format!("/{kind}?{extra}&id_prefix={first}")).await;
        let mut expected: Vec<&str> = known
            .iter()
            .filter(|id| id.starts_with(first))
            .map(String::as_str)
            .collect();
        let mut got = ids(&found);
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
        // A prefix no id has.
        let other = if known.iter().any(|id| id.starts_with("ffffffff")) {
            "eeeeeeee"
        } else {
            "ffffffff"
        };
        let (found, _) = list(&server, &format!("/{kind}?{extra}&id_prefix={other}")).await;
        assert_eq!(found, Value::Array(Vec::new()));
        // What starts no id at all.
        for bad in ["0b5c8c3e3", "xyz", "0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01-0"] {
            let (status, err) = server
                .get(&token, &format!("/{kind}?id_prefix={bad}"))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
            assert_eq!(err["error"]["code"], "invalid-request");
            assert!(
                err["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("id_prefix"),
                "{err}"
            );
        }
    }
    // Another user does not find the admin's private app or instance by its prefix.
    let bob = server.user_token("bob", false).await;
    for (kind, id) in [("apps", &apps[0]), ("instances", &instances[0])] {
        let path = format!("/{kind}?scope=all&id_prefix={}", &id[..8]);
        let (status, found) = server.get(&bob, &path).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found, Value::Array(Vec::new()), "{path}");
    }
}
