//! Idle instances sleep and wake on request, through a real `q8s-server` with the local runtime
//! and real apps: `examples/hello` (a Wave app: HTTP and its websocket through Qd) put to sleep
//! by `--idle-suspend 2s`, and a plain app with a volume whose `Runtime.IdleSuspend` puts it to
//! sleep on a server without the setting, and which refuses to start a second time.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const START: Duration = Duration::from_secs(180);
/// The idle limit of these tests, and how long a sleep may take past it (the sweep runs every
/// quarter of the limit; stopping takes a moment).
const IDLE: &str = "2s";
const ASLEEP_WITHIN: Duration = Duration::from_secs(20);

async fn instance_log(server: &TestServer, id: &str) -> String {
    server
        .client
        .get(server.api(&format!("/instances/{id}/logs")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn metric(server: &TestServer, name: &str) -> u64 {
    let text = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

/// `GET path` on the instance with the admin's token: status and body.
async fn get(http: &Client, server: &TestServer, id: &str, path: &str) -> (StatusCode, String) {
    let r = http
        .get(server.instance_url(id, path))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Waits until the instance is asleep: `SUSPENDED` with the sleep's reason.
async fn asleep(server: &TestServer, id: &str) -> Value {
    let instance = server
        .wait_for_status(&server.admin_token, id, "SUSPENDED", ASLEEP_WITHIN)
        .await;
    assert_eq!(
        instance["status_message"],
        format!("asleep: idle for {IDLE}"),
        "{instance}"
    );
    instance
}

/// Opens Qd's websocket of instance `id` through the proxy (`101` expected).
async fn open_websocket(
    server: &TestServer,
    id: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://127.0.0.1:{}/_s/", server.port)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    let host = format!("{id}.localhost:{}", server.port);
    headers.insert("host", host.parse().unwrap());
    headers.insert("origin", format!("http://{host}").parse().unwrap());
    let bearer = format!("Bearer {}", server.admin_token);
    headers.insert("authorization", bearer.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_sleeps_when_idle_and_wakes_for_requests_and_websockets() {
    let server = TestServer::start_with(&["--idle-suspend", IDLE]).await;
    let admin = server.admin_token.clone();
    let (_app, id) = server.launch_hello(&admin).await;
    // The same app saying `never`: it stays awake whatever the setting.
    let (_dir, never) = hello_variant("0.1.1", "IdleSuspend = \"never\"\n");
    let (status, app) = server.import(&admin, &never, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["runtime"]["idle_suspend"], "never");
    let (status, awake) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{awake}");
    let awake = awake["id"].as_str().unwrap().to_owned();
    server.wait_for_status(&admin, &id, "RUNNING", START).await;
    server
        .wait_for_status(&admin, &awake, "RUNNING", START)
        .await;
    let http = server.instance_client(&id);
    let (status, page) = get(&http, &server, &id, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("wave-static"), "{page}");

    // Idle: asleep, said in the status, the log and /metrics.
    asleep(&server, &id).await;
    let log = instance_log(&server, &id).await;
    assert!(
        log.contains(&format!("q8s: suspended after {IDLE} idle")),
        "{log}"
    );
    assert_eq!(metric(&server, "q8s_instances_sleeping").await, 1);
    assert_eq!(metric(&server, "q8s_instance_sleeps_total").await, 1);
    // Asleep, it holds no reservation once its processes are gone (the store says SUSPENDED a
    // moment before): only the instance that never sleeps stays admitted.
    let deadline = Instant::now() + Duration::from_secs(20);
    let capacity = loop {
        let (status, capacity) = server.get(&admin, "/admin/capacity").await;
        assert_eq!(status, StatusCode::OK, "{capacity}");
        if capacity["admitted"] == 1 || Instant::now() > deadline {
            break capacity;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (
            &capacity["sleeping"],
            &capacity["admitted"],
            &capacity["reserved_bytes"]
        ),
        (&Value::from(1), &Value::from(1), &Value::from(64u64 << 20)),
        "{capacity}"
    );

    // An HTTP request wakes it, is held until Qd answers, and gets the app's page.
    let asked = Instant::now();
    let (status, page) = get(&http, &server, &id, "/").await;
    eprintln!("woken by HTTP in {:.2} s", asked.elapsed().as_secs_f64());
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("wave-static"), "{page}");
    let log = instance_log(&server, &id).await;
    assert_eq!(log.matches("q8s: woken by a request").count(), 1, "{log}");
    let instance = server.wait_for_status(&admin, &id, "RUNNING", START).await;
    assert_eq!(instance["status_message"], Value::Null);
    assert_eq!(metric(&server, "q8s_instances_sleeping").await, 0);

    // Asleep again; a websocket wakes it, and keeps it awake while open.
    asleep(&server, &id).await;
    let asked = Instant::now();
    let mut socket = open_websocket(&server, &id).await;
    eprintln!(
        "woken by a websocket in {:.2} s",
        asked.elapsed().as_secs_f64()
    );
    socket.send(Message::text("+ / ")).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .expect("the app answers on the websocket");
    assert!(matches!(answer, Some(Ok(Message::Text(_)))), "{answer:?}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, instance) = server.get(&admin, &format!("/instances/{id}")).await;
    assert_eq!(
        instance["status"], "RUNNING",
        "asleep with a websocket open"
    );
    socket.close(None).await.unwrap();
    drop(socket);
    asleep(&server, &id).await;

    // Ten requests at once to the sleeping instance: one start, ten answers.
    let wakes = metric(&server, "q8s_instance_wakes_total").await;
    let starts = instance_log(&server, &id)
        .await
        .matches("q8s: starting Qd")
        .count();
    let requests = (0..10).map(|_| get(&http, &server, &id, "/"));
    for (status, page) in futures::future::join_all(requests).await {
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("wave-static"), "{page}");
    }
    assert_eq!(metric(&server, "q8s_instance_wakes_total").await, wakes + 1);
    let log = instance_log(&server, &id).await;
    assert_eq!(log.matches("q8s: starting Qd").count(), starts + 1, "{log}");
    assert_eq!(log.matches("q8s: woken by a request").count(), 3, "{log}");

    // Suspended by hand: requests do not wake it; resuming by hand does.
    let path = format!("/instances/{id}/suspend");
    let status = server.status(Method::POST, &admin, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let instance = server
        .wait_for_status(&admin, &id, "SUSPENDED", START)
        .await;
    assert_eq!(instance["status_message"], Value::Null);
    for _ in 0..3 {
        let (status, page) = get(&http, &server, &id, "/").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.contains("Its owner has suspended it"), "{page}");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, instance) = server.get(&admin, &format!("/instances/{id}")).await;
    assert_eq!(instance["status"], "SUSPENDED", "a manual suspend woke");
    let path = format!("/instances/{id}/resume");
    let status = server.status(Method::POST, &admin, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    server.wait_for_status(&admin, &id, "RUNNING", START).await;

    // The app that says `never` never slept.
    let (_, instance) = server.get(&admin, &format!("/instances/{awake}")).await;
    assert_eq!(instance["status"], "RUNNING", "{instance}");
    assert!(
        !instance_log(&server, &awake)
            .await
            .contains("suspended after")
    );
    assert_eq!(metric(&server, "q8s_instance_wakes_total").await, wakes + 1);
}

/// A plain HTTP app with a volume that refuses its second start, quoting its volume's file.
const ONCE: &str = r#"import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = "/data/started"
if os.path.exists(MARKER):
    with open(MARKER) as f:
        raise RuntimeError("refusing a second start: " + f.read())
with open(MARKER, "w") as f:
    f.write("the volume kept this")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"awake")


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

fn once_app(dir: &Path) {
    std::fs::write(
        dir.join("q-app.toml"),
        r#"[App]
Name = "ai.h2o.q8s.once"
Version = "1.0.0"
Title = "Once"

[Runtime]
Module = "once"
VolumeMount = "/data"
VolumeSize = "64Mi"
IdleSuspend = "2s"
"#,
    )
    .unwrap();
    std::fs::write(dir.join("once.py"), ONCE).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_asks_for_sleep_itself_and_a_wake_that_fails_says_why() {
    // No --idle-suspend: the app's own IdleSuspend puts it to sleep.
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let folder = tempfile::tempdir().unwrap();
    once_app(folder.path());
    let (_out, bundle) = bundle_dir(folder.path());
    let (status, app) = server.import(&admin, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    server.wait_for_status(&admin, &id, "RUNNING", START).await;
    let http = server.instance_client(&id);
    assert_eq!(
        get(&http, &server, &id, "/").await,
        (StatusCode::OK, "awake".to_owned())
    );
    asleep(&server, &id).await;

    // The wake starts it; it crashes, and the request (a browser's here) is told why, with
    // what the volume still holds.
    let r = http
        .get(server.instance_url(&id, "/"))
        .bearer_auth(&admin)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("The instance could not wake up"), "{page}");
    assert!(
        page.contains("RuntimeError: refusing a second start: the volume kept this"),
        "{page}"
    );
    let log = instance_log(&server, &id).await;
    assert!(log.contains("q8s: woken by a request"), "{log}");
    assert!(log.contains("refusing a second start"), "{log}");
    // It is no longer asleep: the runtime retries it as after any crash, and it fails.
    let instance = server.wait_for_status(&admin, &id, "FAILED", START).await;
    let message = instance["status_message"].as_str().unwrap();
    assert!(message.contains("refusing a second start"), "{message}");
    let (status, page) = get(&http, &server, &id, "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(page.contains("The instance has failed"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_replicas_the_one_that_runs_an_instance_puts_it_to_sleep_and_wakes_it() {
    let moto = q8s_testing::s3::MotoServer::start();
    let database = q8s_testing::postgres::fresh_database();
    let blobs = moto.url();
    let args = |node: &'static str| {
        vec![
            "--database",
            database.as_str(),
            "--node-name",
            node,
            "--runtime",
            "fake",
            "--idle-suspend",
            IDLE,
        ]
    };
    let a = TestServer::start_on_s3(&moto, &args("a")).await;
    let mut b_args = vec!["--blob-store", blobs.as_str()];
    b_args.extend(args("b"));
    let b = TestServer::start_replica_of(&a, &b_args).await;
    let admin = a.admin_token.clone();
    let (_app, id) = a.launch_hello(&admin).await;
    a.wait_for_status(&admin, &id, "RUNNING", START).await;

    // Used through B only: A, which runs it, sees the requests B relays.
    let through_b = b.instance_client(&id);
    let fake_answer = format!("fake instance {id}: GET /");
    for _ in 0..5 {
        let (status, body) = get(&through_b, &b, &id, "/").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, fake_answer.as_str())
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let (_, instance) = a.get(&admin, &format!("/instances/{id}")).await;
    assert_eq!(instance["status"], "RUNNING", "asleep while used through B");

    // Asleep by A's sweep; the next request through B wakes it on A.
    asleep(&a, &id).await;
    assert_eq!(metric(&a, "q8s_instance_sleeps_total").await, 1);
    assert_eq!(metric(&b, "q8s_instance_sleeps_total").await, 0);
    assert_eq!(metric(&b, "q8s_instances_sleeping").await, 1);
    let (status, body) = get(&through_b, &b, &id, "/").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, fake_answer.as_str())
    );
    assert_eq!(metric(&a, "q8s_instance_wakes_total").await, 1);
    assert_eq!(metric(&b, "q8s_instance_wakes_total").await, 0);
    let instance = a.wait_for_status(&admin, &id, "RUNNING", START).await;
    assert_eq!(instance["status_message"], Value::Null);
}
