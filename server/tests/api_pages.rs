//! Paged lists over HTTP: `limit` and `cursor` in the query, the next cursor in the
//! `q8s-next-cursor` header, on every list (apps, instances, tokens, users, secrets), on
//! SQLite and PostgreSQL; and what a bad `limit` or `cursor` answers.

mod common;

use common::{Method, TestServer, app_variant, hello_variant};
use reqwest::StatusCode;
use serde_json::{Value, json};

const NEXT: &str = "q8s-next-cursor";

/// One page: the items and the next cursor.
async fn page(server: &TestServer, path: &str) -> (Vec<Value>, Option<String>) {
    let r = server
        .client
        .get(server.api(path))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let next = r
        .headers()
        .get(NEXT)
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    (body.as_array().unwrap().clone(), next)
}

/// Every item of `path`, `limit` at a time, following the cursors.
async fn walk(server: &TestServer, path: &str, limit: u32) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (items, next) = page(server, &url).await;
        assert!(items.len() <= limit as usize, "{url}");
        all.extend(items);
        match next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
    panic!("{path}: the cursors never end");
}

#[tokio::test]
async fn every_list_pages() {
    every_list_pages_on(TestServer::start_fake().await).await;
}

#[tokio::test]
async fn every_list_pages_on_postgres() {
    every_list_pages_on(TestServer::start_fake_on_postgres().await).await;
}

async fn every_list_pages_on(server: TestServer) {
    let token = server.admin_token.clone();
    for (name, version) in [
        ("ai.h2o.q8s.b", "1.0.0"),
        ("ai.h2o.q8s.a", "1.0.0"),
        ("ai.h2o.q8s.b", "2.0.0"),
        ("ai.h2o.q8s.c", "1.0.0"),
        ("ai.h2o.q8s.a", "1.1.0"),
    ] {
        let (_dir, bundle) = app_variant(name, version, &[]);
        let (status, app) = server.import(&token, &bundle, "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
    }
    let (_dir, hello) = hello_variant("0.1.0", "");
    let (_, app) = server.import(&token, &hello, "PRIVATE").await;
    for _ in 0..5 {
        let (status, instance) = server
            .launch(&token, app["id"].as_str().unwrap(), "PRIVATE")
            .await;
        assert_eq!(status, StatusCode::CREATED, "{instance}");
    }
    for name in ["carol", "alice", "dave", "bob"] {
        let body = json!({"username": name, "admin": false});
        let (status, _) = server
            .send(Method::POST, &token, "/users", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    for i in 0..4 {
        let body = json!({"name": format!("t{i}")});
        let (status, _) = server
            .send(Method::POST, &token, "/tokens", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    for name in ["db", "api", "cache"] {
        server.put_secret(name, json!({"k": "v"})).await;
    }

    for (path, whole_len) in [
        ("/apps", 4),
        ("/apps?versions=all", 6),
        ("/apps?versions=all&name=ai.h2o.q8s.a", 2),
        ("/instances?status=all", 5),
        ("/tokens", 5),
        ("/users", 5),
        ("/secrets", 3),
    ] {
        let whole = walk(&server, path, 1000).await;
        assert_eq!(whole.len(), whole_len, "{path}: {whole:?}");
        for limit in [1, 2, 3] {
            assert_eq!(walk(&server, path, limit).await, whole, "{path} by {limit}");
        }
        // The last page says so: no cursor.
        let (_, next) = page(&server, &format!("{path}{}limit=1000", sep(path))).await;
        assert_eq!(next, None, "{path}");
    }

    // A cursor is of its list, and a made-up one is refused: 400 invalid-cursor.
    let (_, next) = page(&server, "/apps?limit=1").await;
    let apps_cursor = next.unwrap();
    for path in [
        format!("/instances?cursor={apps_cursor}"),
        format!("/users?cursor={apps_cursor}"),
        "/apps?cursor=not-a-cursor".to_owned(),
        "/tokens?cursor=eyJsIjoidG9rZW5zIiwidCI6Inh4In0".to_owned(), // {"l":"tokens","t":"xx"}
        "/secrets?cursor=%F0%9F%98%80".to_owned(),
    ] {
        let (status, err) = server.get(&token, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {err}");
        assert_eq!(err["error"]["code"], "invalid-cursor", "{path}");
        assert_eq!(err["error"]["details"][0]["field"], "cursor");
    }
    // A limit out of range, or not a number: 422 naming `limit`.
    for limit in ["0", "1001", "ten", "-1"] {
        let (status, err) = server.get(&token, &format!("/apps?limit={limit}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{limit}: {err}");
        assert_eq!(err["error"]["code"], "invalid-request");
        assert_eq!(err["error"]["details"][0]["field"], "limit", "{err}");
    }
}

fn sep(path: &str) -> char {
    if path.contains('?') { '&' } else { '?' }
}

#[tokio::test]
async fn a_list_without_limit_has_pages_of_a_hundred() {
    let server = TestServer::start_fake().await;
    let token = server.admin_token.clone();
    // The admin's first token plus 100 more.
    for _ in 0..100 {
        let (status, _) = server.send(Method::POST, &token, "/tokens", None).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (first, next) = page(&server, "/tokens").await;
    assert_eq!(first.len(), 100);
    let (rest, last) = page(&server, &format!("/tokens?cursor={}", next.unwrap())).await;
    assert_eq!(rest.len(), 1);
    assert_eq!(last, None);
    assert_eq!(walk(&server, "/tokens", 1000).await.len(), 101);
    // Oldest first: the first token is the admin's of the first start.
    assert_eq!(first[0]["name"], "admin (first start)");
}
