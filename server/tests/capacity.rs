//! Memory admission as admins see it, with real sandboxes: `GET /api/v1/admin/capacity` and
//! `/metrics` say what the instances reserve and use, how many are admitted and how many wait
//! for memory; a suspended instance frees its reservation for the one waiting.

mod common;

use std::time::Duration;

use common::{TestServer, app_variant};
use reqwest::StatusCode;
use serde_json::Value;

const START: Duration = Duration::from_secs(120);
const MI: u64 = 1 << 20;

async fn capacity(server: &TestServer) -> Value {
    let (status, body) = server.get(&server.admin_token, "/admin/capacity").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn metrics(server: &TestServer) -> String {
    server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_what_instances_reserve_use_and_wait_for() {
    // Room for one hello reserving 192Mi (its limit stays 256Mi), not two.
    let server = TestServer::start_with(&["--memory-capacity", "300Mi"]).await;
    let admin = server.admin_token.clone();
    let (_dir, bundle) = app_variant(
        "ai.h2o.q8s.hello",
        "0.1.0",
        &[(
            "MemoryReservation = \"64Mi\"",
            "MemoryReservation = \"192Mi\"",
        )],
    );
    let (status, app) = server.import(&admin, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app = app["id"].as_str().unwrap().to_owned();
    let (status, first) = server.launch(&admin, &app, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["id"].as_str().unwrap().to_owned();
    server
        .wait_for_status(&admin, &first, "RUNNING", START)
        .await;

    let report = capacity(&server).await;
    assert_eq!(report["capacity_bytes"], 300 * MI, "{report}");
    assert_eq!(report["reserved_bytes"], 192 * MI, "{report}");
    assert_eq!(report["admitted"], 1, "{report}");
    assert_eq!(report["waiting"], 0, "{report}");
    assert_eq!(report["instances"]["RUNNING"], 1, "{report}");
    assert!(report["node"].as_str().is_some_and(|n| !n.is_empty()));
    // The working set of a running hello (memory cgroups are enforced on this machine kind,
    // as the OOM tests need): more than nothing, less than its limit.
    let used = report["used_bytes"].as_u64().expect("used_bytes");
    assert!(used > 5 * MI && used < 256 * MI, "{report}");

    // A second one waits for memory, and says so.
    let (status, second) = server.launch(&admin, &app, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second = second["id"].as_str().unwrap().to_owned();
    let waiting = server
        .wait_for_status(&admin, &second, "PENDING", START)
        .await;
    let deadline = std::time::Instant::now() + START;
    let report = loop {
        let report = capacity(&server).await;
        if report["waiting"] == 1 || std::time::Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report["waiting"], 1, "{report} {waiting}");
    assert_eq!(report["admitted"], 1, "{report}");
    let text = metrics(&server).await;
    for line in [
        format!("q8s_memory_capacity_bytes {}", 300 * MI),
        format!("q8s_memory_reserved_bytes {}", 192 * MI),
        "q8s_instances_admitted 1".to_owned(),
        "q8s_instances_waiting_for_memory 1".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    let message = server.get(&admin, &format!("/instances/{second}")).await.1;
    assert!(
        message["status_message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for memory") && m.contains("192Mi")),
        "{message}"
    );

    // Suspending the first frees its reservation: the second starts.
    let (status, body) = server
        .send(
            common::Method::POST,
            &admin,
            &format!("/instances/{first}/suspend"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
        .wait_for_status(&admin, &second, "RUNNING", START)
        .await;
    let report = capacity(&server).await;
    assert_eq!(
        (
            &report["reserved_bytes"],
            &report["admitted"],
            &report["waiting"]
        ),
        (&Value::from(192 * MI), &Value::from(1), &Value::from(0)),
        "{report}"
    );
    assert_eq!(report["instances"]["SUSPENDED"], 1, "{report}");

    // Not for users.
    let bob = server.user_token("bob", false).await;
    let (status, body) = server.get(&bob, "/admin/capacity").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn without_a_setting_instances_may_reserve_all_but_room_for_the_host() {
    let server = TestServer::start().await;
    let report = capacity(&server).await;
    let total = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap()
        * 1024;
    let capacity = report["capacity_bytes"].as_u64().unwrap();
    assert!(
        capacity < total && capacity >= total / 2 && total - capacity >= 1 << 30,
        "{capacity} of {total}"
    );
}
