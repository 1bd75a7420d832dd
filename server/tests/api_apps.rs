//! Apps through the API of a real server: import, list, get, filters, duplicates (also 20 at
//! once), visibility, deletion and downloads (`api_imports.rs` has the imports that must fail).

mod common;

use common::{Method, TestServer, hello_bundle, hello_variant, json_of, sha256_hex};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn imports_lists_and_gets_hello() {
    let server = TestServer::start().await;
    let bundle = hello_bundle();
    let bytes = std::fs::read(&bundle).unwrap();
    let (status, app) = server.import(&server.admin_token, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["name"], "ai.h2o.q8s.hello");
    assert_eq!(app["version"], "0.1.0");
    assert_eq!(app["title"], "Hello q8s");
    assert_eq!(app["owner"], "admin");
    assert_eq!(app["visibility"], "PRIVATE");
    assert_eq!(app["keywords"], json!(["hello", "example", "wave"]));
    assert_eq!(app["bundle"]["location"], "ai.h2o.q8s.hello.0.1.0.qz");
    assert_eq!(app["bundle"]["size"], bytes.len());
    let sha = sha256_hex(&bytes);
    assert_eq!(app["bundle"]["sha256"], sha);
    assert_eq!(app["icon_location"], "ai.h2o.q8s.hello.0.1.0/icon.png");
    assert_eq!(
        app["screenshots"],
        json!(["ai.h2o.q8s.hello.0.1.0/screenshot-1.png"])
    );
    assert_eq!(app["runtime"]["module"], "hello.app");
    assert_eq!(app["runtime"]["memory_limit"], "256Mi");
    assert_eq!(app["instance_count"], 0);
    assert!(app["created_at"].as_str().unwrap().ends_with('Z'));

    // Stored by sha256, nothing left in tmp.
    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 1);
    assert!(blobs[0].to_string_lossy().ends_with(&format!("{sha}.qz")));
    assert!(server.tmp_files().is_empty());

    let id = app["id"].as_str().unwrap();
    let (status, got) = server
        .get(&server.admin_token, &format!("/apps/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, app);
    let (_, list) = server.get(&server.admin_token, "/apps").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Downloads: the bundle bytes as imported, the icon and the screenshot from the bundle.
    let r = server
        .client
        .get(server.api(&format!("/apps/{id}/bundle")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("ai.h2o.q8s.hello.0.1.0.qz")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let icon = std::fs::read(common::repo_root().join("examples/hello/static/icon.png")).unwrap();
    let r = server
        .client
        .get(server.api(&format!("/apps/{id}/icon")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), icon.as_slice());
    let shot =
        std::fs::read(common::repo_root().join("examples/hello/static/screenshot-1.png")).unwrap();
    let r = server
        .client
        .get(server.api(&format!("/apps/{id}/screenshots/0")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), shot.as_slice());
    let (status, err) = server
        .get(&server.admin_token, &format!("/apps/{id}/screenshots/1"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "not-found");
}

#[tokio::test]
async fn duplicate_version_is_409_and_twenty_concurrent_imports_make_one_app() {
    duplicate_version_is_409_and_twenty_concurrent_imports_make_one_app_on(
        TestServer::start().await,
    )
    .await;
}

#[tokio::test]
async fn duplicate_version_is_409_and_twenty_concurrent_imports_make_one_app_on_postgres() {
    duplicate_version_is_409_and_twenty_concurrent_imports_make_one_app_on(
        TestServer::start_fake_on_postgres().await,
    )
    .await;
}

async fn duplicate_version_is_409_and_twenty_concurrent_imports_make_one_app_on(
    server: TestServer,
) {
    let bundle = std::fs::read(hello_bundle()).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = server.client.clone();
        let url = server.api("/apps");
        let token = server.admin_token.clone();
        let body = bundle.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap();
            json_of(r).await
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "app-version-exists");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, conflicts), (1, 19));
    let (_, list) = server.get(&server.admin_token, "/apps?scope=all").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        server.blob_files().len(),
        1,
        "the winner's blob stays, nothing else"
    );
    assert!(server.tmp_files().is_empty());

    // A different bundle of the same version also loses. Its blob was stored before the
    // insert refused it: no app names it, and it stays for the grace period (another import
    // of the same bytes may have stored it and not yet inserted its app: import_race.rs),
    // then goes with the sweep (api_imports.rs).
    let (_dir, other) = hello_variant("0.1.0", "# a comment that changes the bytes\n");
    let (status, body) = server.import(&server.admin_token, &other, "PRIVATE").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "app-version-exists");
    assert_eq!(server.blob_files().len(), 2);
    let (_, list) = server.get(&server.admin_token, "/apps?scope=all").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn list_scopes_filters_and_visibility() {
    list_scopes_filters_and_visibility_on(TestServer::start().await).await;
}

#[tokio::test]
async fn list_scopes_filters_and_visibility_on_postgres() {
    list_scopes_filters_and_visibility_on(TestServer::start_fake_on_postgres().await).await;
}

async fn list_scopes_filters_and_visibility_on(server: TestServer) {
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    let (status, a1) = server.import(&alice, &hello_bundle(), "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{a1}");
    let (_d, v2) = hello_variant("0.2.0", "");
    let (status, a2) = server.import(&alice, &v2, "ALL_USERS").await;
    assert_eq!(status, StatusCode::CREATED, "{a2}");
    let id1 = a1["id"].as_str().unwrap();

    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["version"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&server.get(&alice, "/apps?versions=all").await.1),
        ["0.1.0", "0.2.0"]
    );
    assert_eq!(
        names(&server.get(&bob, "/apps").await.1),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&server.get(&bob, "/apps?scope=all").await.1),
        ["0.2.0"]
    );
    assert_eq!(
        names(
            &server
                .get(&server.admin_token, "/apps?scope=all&versions=all")
                .await
                .1
        ),
        ["0.1.0", "0.2.0"]
    );
    assert_eq!(
        names(
            &server
                .get(&alice, "/apps?name=ai.h2o.q8s.hello&versions=all")
                .await
                .1
        )
        .len(),
        2
    );
    assert_eq!(
        names(&server.get(&alice, "/apps?name=ai.h2o.q8s").await.1).len(),
        0
    );
    assert_eq!(
        names(&server.get(&alice, "/apps?q=CLICKS&versions=all").await.1).len(),
        2,
        "description, any case"
    );
    assert_eq!(
        names(&server.get(&alice, "/apps?q=wave&versions=all").await.1).len(),
        2,
        "keywords"
    );
    assert_eq!(
        names(&server.get(&alice, "/apps?q=100%25").await.1).len(),
        0,
        "% is literal"
    );
    let (status, err) = server.get(&alice, "/apps?scope=everything").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "invalid-request");

    // Bob cannot see Alice's private app: 404, exactly as for an unknown id.
    for path in [
        format!("/apps/{id1}"),
        format!("/apps/{id1}/bundle"),
        format!("/apps/{id1}/icon"),
    ] {
        let (status, err) = server.get(&bob, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(err["error"]["code"], "not-found");
    }
    let (status, _) = server
        .get(&bob, "/apps/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.get(&bob, "/apps/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .status(
                Method::PATCH,
                &bob,
                &format!("/apps/{id1}"),
                Some(json!({"visibility": "ALL_USERS"}))
            )
            .await,
        StatusCode::NOT_FOUND
    );

    // Visibility is the only thing that changes.
    let patch = |token: &str, body: Value| {
        server
            .client
            .patch(server.api(&format!("/apps/{id1}")))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    let (status, err) = json_of(
        patch(&alice, json!({"visibility": "ALL_USERS", "title": "x"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "immutable-field");
    assert_eq!(err["error"]["details"], json!(["title"]));
    let (status, err) = json_of(
        patch(&alice, json!({"visibility": "EVERYONE"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "invalid-visibility");
    let (status, app) = json_of(
        patch(&alice, json!({"visibility": "ALL_USERS"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app["visibility"], "ALL_USERS");
    assert_eq!(
        server.get(&bob, &format!("/apps/{id1}")).await.0,
        StatusCode::OK
    );
    // Now visible, but Bob may still not change or delete it.
    let (status, err) = json_of(patch(&bob, json!({"visibility": "PRIVATE"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(
        server
            .status(Method::DELETE, &bob, &format!("/apps/{id1}"), None)
            .await,
        StatusCode::FORBIDDEN
    );

    // The owner deletes it; its blob, younger than `--blob-grace`, stays for now (see
    // a_deleted_apps_bundle_stays_for_the_grace_period_then_goes).
    assert_eq!(
        server
            .status(Method::DELETE, &alice, &format!("/apps/{id1}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.get(&alice, &format!("/apps/{id1}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.blob_files().len(), 2);
}
