//! `examples/hello` instances through the API: who may see, launch and open what (app and
//! instance, API and proxy), the log (tail, follow ending with the instance), `/metrics` and
//! `/healthz` along the way, app deletion while an instance runs — on the fake runtime — and
//! server restarts (clean and `kill -9`) that lose no instance and no desired state, on the
//! fake runtime and with real processes.

mod common;

use std::time::{Duration, Instant};

use common::{Method, TestServer, hello_bundle, json_of, processes_of};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(120);

/// `GET /` of the instance through the proxy with `token`: status and body.
async fn open(server: &TestServer, id: &str, token: &str) -> (StatusCode, String) {
    let r = server
        .instance_client(id)
        .get(format!("http://{id}.localhost:{}/", server.port))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

async fn send(r: reqwest::RequestBuilder) -> (StatusCode, Value) {
    json_of(r.send().await.unwrap()).await
}

async fn import_hello(server: &TestServer, token: &str, visibility: &str) -> String {
    let (status, app) = server.import(token, &hello_bundle(), visibility).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    app["id"].as_str().unwrap().to_owned()
}

async fn launch(server: &TestServer, token: &str, app_id: &str, visibility: &str) -> String {
    let (status, instance) = server.launch(token, app_id, visibility).await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    instance["id"].as_str().unwrap().to_owned()
}

async fn set_visibility(server: &TestServer, token: &str, path: &str, visibility: &str) {
    let (status, body) = send(
        server
            .client
            .patch(server.api(path))
            .bearer_auth(token)
            .json(&json!({ "visibility": visibility })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert_eq!(body["visibility"], visibility);
}

async fn terminate(server: &TestServer, token: &str, id: &str) {
    assert_eq!(
        server
            .status(Method::DELETE, token, &format!("/instances/{id}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
}

async fn metrics(server: &TestServer) -> String {
    let r = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    r.text().await.unwrap()
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

/// True when every line has the log prefix `yyyy/mm/dd HH:MM:SS # `.
fn prefixed(lines: &str) -> bool {
    lines.lines().all(|line| {
        let b = line.as_bytes();
        b.len() >= 22
            && b[..22].iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'/',
                10 | 19 => *c == b' ',
                13 | 16 => *c == b':',
                20 => *c == b'#',
                21 => *c == b' ',
                _ => c.is_ascii_digit(),
            })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_user_cannot_see_launch_or_open_private_things_until_shared() {
    let server = TestServer::start_fake().await;
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    let app = import_hello(&server, &alice, "PRIVATE").await;
    let iid = launch(&server, &alice, &app, "PRIVATE").await;
    server.wait_for_status(&alice, &iid, "RUNNING", START).await;
    assert_eq!(open(&server, &iid, &alice).await.0, StatusCode::OK);

    // Private app and instance: for Bob they do not exist, wherever he looks.
    for path in [
        format!("/apps/{app}"),
        format!("/apps/{app}/bundle"),
        format!("/instances/{iid}"),
        format!("/instances/{iid}/logs"),
    ] {
        let (status, err) = server.get(&bob, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {err}");
        assert_eq!(err["error"]["code"], "not-found", "{path}");
    }
    assert!(ids(&server.get(&bob, "/apps?scope=all").await.1).is_empty());
    assert!(ids(&server.get(&bob, "/instances?scope=all").await.1).is_empty());
    let (status, err) = server.launch(&bob, &app, "PRIVATE").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, page) = open(&server, &iid, &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("No such instance"), "{page}");
    assert_eq!(
        server
            .status(
                Method::POST,
                &bob,
                &format!("/instances/{iid}/suspend"),
                None
            )
            .await,
        StatusCode::NOT_FOUND
    );

    // The app shared: Bob sees and launches it (his own instance) — Alice's instance stays hers.
    set_visibility(&server, &alice, &format!("/apps/{app}"), "ALL_USERS").await;
    assert_eq!(
        server.get(&bob, &format!("/apps/{app}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        ids(&server.get(&bob, "/apps?scope=all").await.1),
        vec![app.as_str()]
    );
    assert!(
        ids(&server.get(&bob, "/apps").await.1).is_empty(),
        "not his"
    );
    let bobs = launch(&server, &bob, &app, "PRIVATE").await;
    assert_eq!(open(&server, &iid, &bob).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        server.get(&bob, &format!("/instances/{iid}")).await.0,
        StatusCode::NOT_FOUND
    );

    // The instance shared: Bob sees and opens it, but may not manage it or read its log.
    set_visibility(&server, &alice, &format!("/instances/{iid}"), "ALL_USERS").await;
    assert_eq!(
        server.get(&bob, &format!("/instances/{iid}")).await.0,
        StatusCode::OK
    );
    let mut listed = ids(&server.get(&bob, "/instances?scope=all").await.1)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    listed.sort();
    let mut expected = vec![iid.clone(), bobs.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    let (status, page) = open(&server, &iid, &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.starts_with(&format!("fake instance {iid}: GET /")),
        "{page}"
    );
    assert_eq!(
        server.get(&bob, &format!("/instances/{iid}/logs")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        server
            .status(Method::DELETE, &bob, &format!("/instances/{iid}"), None)
            .await,
        StatusCode::FORBIDDEN
    );

    // Private again: the proxy stops letting Bob in once his short-lived grant has expired.
    set_visibility(&server, &alice, &format!("/instances/{iid}"), "PRIVATE").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(open(&server, &iid, &bob).await.0, StatusCode::NOT_FOUND);
    assert_eq!(open(&server, &iid, &alice).await.0, StatusCode::OK);

    terminate(&server, &bob, &bobs).await;
    terminate(&server, &alice, &iid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_metrics_and_deleting_an_app_whose_instance_runs() {
    let server = TestServer::start_fake().await;
    let admin = server.admin_token.clone();
    let size = std::fs::metadata(hello_bundle()).unwrap().len();
    let app = import_hello(&server, &admin, "PRIVATE").await;
    let text = metrics(&server).await;
    for line in [
        "q8s_imports_total 1\n".to_owned(),
        format!("q8s_bundle_bytes_received_total {size}\n"),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }

    let iid = launch(&server, &admin, &app, "PRIVATE").await;
    server.wait_for_status(&admin, &iid, "RUNNING", START).await;
    assert_eq!(open(&server, &iid, &admin).await.0, StatusCode::OK);
    let text = metrics(&server).await;
    assert!(
        text.contains("q8s_instances{status=\"RUNNING\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains("q8s_proxy_requests_total 0\n"), "{text}");

    // The app cannot go while its instance runs.
    let (status, err) = send(
        server
            .client
            .delete(server.api(&format!("/apps/{app}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "app-has-instances");
    assert_eq!(
        server.get(&admin, &format!("/apps/{app}")).await.0,
        StatusCode::OK
    );

    // The whole log, and its tail.
    let logs = |query: &'static str| {
        server
            .client
            .get(server.api(&format!("/instances/{iid}/logs{query}")))
            .bearer_auth(&admin)
            .send()
    };
    let r = logs("").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let all = r.text().await.unwrap();
    assert!(all.lines().count() >= 3, "{all}");
    assert!(prefixed(&all), "{all}");
    let tail = logs("?tail=2").await.unwrap().text().await.unwrap();
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(
        logs("")
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains(&tail)
    );

    // Following: the stream stays open while the instance lives, and ends when it is
    // terminated.
    let r = logs("?tail=1&follow=true").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut stream = r.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the last line comes at once")
        .unwrap()
        .unwrap();
    assert!(prefixed(std::str::from_utf8(&first).unwrap()));
    match tokio::time::timeout(Duration::from_millis(1_500), stream.next()).await {
        Err(_) | Ok(Some(Ok(_))) => {} // quiet, or more lines: still open
        Ok(other) => panic!("the stream ended while the instance runs: {other:?}"),
    }
    terminate(&server, &admin, &iid).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(None) => break,
            Ok(Some(chunk)) => {
                chunk.expect("the stream ends cleanly");
            }
            Err(_) => panic!("following the log did not end with the instance"),
        }
    }

    let text = metrics(&server).await;
    assert!(
        text.contains("q8s_instances{status=\"RUNNING\"} 0\n")
            && text.contains("q8s_instances{status=\"TERMINATED\"} 1\n"),
        "{text}"
    );
    assert_eq!(
        server
            .status(Method::DELETE, &admin, &format!("/apps/{app}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
    let (status, health) = send(server.client.get(format!("{}/healthz", server.url))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
}

/// Every instance's status, by id.
async fn statuses(server: &TestServer, token: &str) -> Vec<(String, String, String)> {
    let (status, list) = server.get(token, "/instances?scope=all&status=all").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut out: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
                i["visibility"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_no_instance() {
    restart_loses_no_instance(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_no_instance_of_the_fake_runtime() {
    restart_loses_no_instance(TestServer::start_fake().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_no_instance_on_postgres() {
    restart_loses_no_instance(TestServer::start_fake_on_postgres().await).await;
}

/// Server restarts (clean and `kill -9`) bring back every instance as it was; no process
/// outlives the server.
async fn restart_loses_no_instance(server: TestServer) {
    let admin = server.admin_token.clone();
    let app = import_hello(&server, &admin, "PRIVATE").await;
    let running = launch(&server, &admin, &app, "PRIVATE").await;
    let shared = launch(&server, &admin, &app, "ALL_USERS").await;
    let suspended = launch(&server, &admin, &app, "PRIVATE").await;
    let terminated = launch(&server, &admin, &app, "PRIVATE").await;
    for id in [&running, &shared, &suspended, &terminated] {
        server.wait_for_status(&admin, id, "RUNNING", START).await;
    }
    assert_eq!(
        server
            .status(
                Method::POST,
                &admin,
                &format!("/instances/{suspended}/suspend"),
                None
            )
            .await,
        StatusCode::OK
    );
    server
        .wait_for_status(&admin, &suspended, "SUSPENDED", START)
        .await;
    terminate(&server, &admin, &terminated).await;
    server
        .wait_for_status(&admin, &terminated, "TERMINATED", START)
        .await;
    let before = statuses(&server, &admin).await;
    assert_eq!(before.len(), 4);

    let mut server = server;
    for how in ["SIGTERM", "kill -9"] {
        if how == "SIGTERM" {
            assert!(server.terminate().success());
        } else {
            server.kill();
        }
        // No process outlives the server ...
        for id in [&running, &shared] {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !processes_of(id).is_empty() {
                assert!(Instant::now() < deadline, "{how}: {:?}", processes_of(id));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // ... and the next start brings back every instance as it was.
        server = server.restart().await;
        for id in [&running, &shared] {
            server.wait_for_status(&admin, id, "RUNNING", START).await;
            assert_eq!(open(&server, id, &admin).await.0, StatusCode::OK, "{how}");
        }
        assert_eq!(statuses(&server, &admin).await, before, "{how}");
        let (status, page) = open(&server, &suspended, &admin).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{how}");
        assert!(page.contains("suspended"), "{page}");
        assert_eq!(
            open(&server, &terminated, &admin).await.0,
            StatusCode::GONE,
            "{how}"
        );
    }

    // The suspended instance resumes after the restarts.
    assert_eq!(
        server
            .status(
                Method::POST,
                &admin,
                &format!("/instances/{suspended}/resume"),
                None
            )
            .await,
        StatusCode::OK
    );
    server
        .wait_for_status(&admin, &suspended, "RUNNING", START)
        .await;
    for id in [&running, &shared, &suspended] {
        terminate(&server, &admin, id).await;
    }
}
