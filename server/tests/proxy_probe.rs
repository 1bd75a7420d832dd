//! A probe app (plain HTTP, no Wave) through the real server: its secret reaches the app but no
//! log or API answer, its sandbox hides the server, and its volume survives `kill -9` of the
//! server (whose death takes the instance's processes along) and a restart.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{PROBE, TestServer, processes_of};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "probe-Secret-9b2e71";
const START: Duration = Duration::from_secs(120);

fn probe_app(dir: &Path) {
    std::fs::write(
        dir.join("q-app.toml"),
        r#"[App]
Name = "ai.h2o.q8s.probe"
Version = "1.0.0"
Title = "Probe"
Description = "Reports what it sees in its sandbox."
Category = "Other"
Keywords = ["test"]

[Runtime]
Module = "probe"
VolumeMount = "/data"
VolumeSize = "1Gi"
MemoryLimit = "256Mi"

[[Env]]
Name = "API_TOKEN"
Secret = "probe"
SecretKey = "token"
"#,
    )
    .unwrap();
    std::fs::write(dir.join("probe.py"), PROBE).unwrap();
}

async fn get(http: &Client, server: &TestServer, id: &str, path: &str) -> Value {
    let r = http
        .get(format!("http://{id}.localhost:{}{path}", server.port))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

/// Like [`get`], waiting (through 503 pages) until the restarted instance answers.
async fn get_when_up(http: &Client, server: &TestServer, id: &str, path: &str) -> Value {
    let deadline = std::time::Instant::now() + START;
    loop {
        let r = http
            .get(format!("http://{id}.localhost:{}{path}", server.port))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            return r.json().await.unwrap();
        }
        assert!(
            r.status() == StatusCode::SERVICE_UNAVAILABLE || r.status() == StatusCode::BAD_GATEWAY
        );
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_sandbox_and_volume_through_a_server_kill_and_restart() {
    let folder = tempfile::tempdir().unwrap();
    probe_app(folder.path());
    let (_out, bundle) = common::bundle_dir(folder.path());
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    server.put_secret("probe", json!({"token": SECRET})).await;
    let (status, app) = server.import(&admin, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    server.wait_for_status(&admin, &id, "RUNNING", START).await;
    let http = server.instance_client(&id);

    let env = get(&http, &server, &id, "/env").await;
    assert_eq!(env["API_TOKEN"], SECRET);
    assert_eq!(
        env["Q8S_INSTANCE_URL"],
        format!("http://{id}.localhost:{}/", server.port)
    );
    assert_eq!(env["Q8S_APP_NAME"], "ai.h2o.q8s.probe");
    assert!(env.get("Q8S_SERVER_DATA_DIR").is_none());
    let probe = get(&http, &server, &id, "/probe").await;
    assert!(
        probe["write_app"].as_str().unwrap().contains("Read-only"),
        "{probe}"
    );
    let root: Vec<String> = serde_json::from_value(probe["root_entries"].clone()).unwrap();
    assert!(!root.iter().any(|e| e == "work" || e == "home"), "{root:?}");
    get(&http, &server, &id, "/write?text=survives").await;

    // kill -9: the instance's processes die with the server ...
    let mut server = server;
    server.kill();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_of(&id).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            processes_of(&id)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... and come back with the next start, volume data intact.
    let server = server.restart().await;
    let http = server.instance_client(&id);
    assert_eq!(
        get_when_up(&http, &server, &id, "/read").await["text"],
        "survives"
    );
    server.wait_for_status(&admin, &id, "RUNNING", START).await;

    // The secret's value is in no log and no API answer.
    let r = server
        .client
        .get(server.api(&format!("/instances/{id}/logs")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let log = r.text().await.unwrap();
    assert!(log.contains("probe listening"), "{log}");
    assert!(!log.contains(SECRET));
    for path in [
        "/instances?scope=all".to_owned(),
        format!("/instances/{id}"),
        "/secrets".to_owned(),
    ] {
        let (_, body) = server.get(&admin, &path).await;
        assert!(!body.to_string().contains(SECRET), "{path}: {body}");
    }
    assert!(!server.log().contains(SECRET), "the server's own log");
    for file in common::files_under(&server.data_dir().join("logs")) {
        assert!(
            !std::fs::read_to_string(&file).unwrap().contains(SECRET),
            "{}",
            file.display()
        );
    }

    // A clean stop (SIGTERM) stops the processes too and keeps the desired state.
    let mut server = server;
    assert!(server.terminate().success());
    assert_eq!(processes_of(&id), Vec::<String>::new());
    let server = server.restart().await;
    let http = server.instance_client(&id);
    assert_eq!(
        get_when_up(&http, &server, &id, "/read").await["text"],
        "survives"
    );
    server.wait_for_status(&admin, &id, "RUNNING", START).await;

    // Terminate: processes and volume gone.
    let r = server
        .client
        .delete(server.api(&format!("/instances/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    server
        .wait_for_status(&admin, &id, "TERMINATED", START)
        .await;
    assert!(!server.data_dir().join("volumes").join(&id).exists());
    assert_eq!(processes_of(&id), Vec::<String>::new());
}
