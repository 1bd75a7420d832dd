//! `q8s-server --database postgres://…`: a start against a database that is not there stops
//! at once with an error naming what failed (and never the password); `Q8S_DATABASE_URL`
//! names the database when no flag does; two servers starting together on a new database
//! both start.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Runs `q8s-server` with `args` on a fresh data directory until it exits (it must, within a
/// minute); returns whether it succeeded and its stderr.
fn start_and_fail(args: &[&str]) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_q8s-server"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(data.path())
        .args(["--runtime", "fake", "--database-timeout", "5"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "the start took {:?} to fail",
        began.elapsed()
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_database_that_does_not_answer_stops_the_start_naming_it() {
    let port = free_port(); // nobody listens there
    let url = format!("postgres://q8s:s3cret@127.0.0.1:{port}/q8s");
    let (ok, err) = start_and_fail(&["--database", &url]);
    assert!(!ok, "the server started without its database: {err}");
    assert!(
        err.contains(&format!("connecting to PostgreSQL at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        !err.contains("s3cret"),
        "the password is in the error: {err}"
    );
}

#[test]
fn a_url_that_is_not_one_stops_the_start_naming_it() {
    let (ok, err) = start_and_fail(&["--database", "postgres://q8s:s3cret@db:port/q8s"]);
    assert!(!ok, "{err}");
    assert!(err.contains("is not a PostgreSQL URL"), "{err}");
    assert!(
        !err.contains("s3cret"),
        "the password is in the error: {err}"
    );
    let (ok, err) = start_and_fail(&["--database", "mysql://q8s:s3cret@db/q8s"]);
    assert!(!ok, "{err}");
    assert!(err.contains("unsupported --database"), "{err}");
    assert!(
        !err.contains("s3cret"),
        "the password is in the error: {err}"
    );
}

#[test]
fn a_database_that_does_not_exist_stops_the_start_naming_it() {
    let url = q8s_testing::postgres::fresh_database();
    let missing = format!("{}_missing", url);
    let (ok, err) = start_and_fail(&["--database", &missing]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("connecting to PostgreSQL at 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("_missing"), "{err}");
}

#[tokio::test]
async fn the_url_can_come_from_q8s_database_url() {
    let url = q8s_testing::postgres::fresh_database();
    // Every other test of this file names its database with --database, which wins over
    // the variable.
    // SAFETY: set before the server is spawned and removed after; nothing else of this test
    // reads the environment meanwhile.
    unsafe { std::env::set_var("Q8S_DATABASE_URL", &url) };
    let server = TestServer::start_fake().await;
    unsafe { std::env::remove_var("Q8S_DATABASE_URL") };
    let alice = server.user_token("alice", false).await;
    assert!(
        !server.data_dir().join("q8s.db").exists(),
        "the server made a SQLite database in its data directory"
    );
    // The same database named by the flag: Alice is there.
    let server = server
        .restart_with(&["--runtime", "fake", "--database", &url])
        .await;
    let (status, me) = server.get(&alice, "/me").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{me}");
    assert_eq!(me["username"], "alice");
}

/// Two servers started together on a new database (replicas): both come up, each
/// migration applied once, one admin made by one of them.
#[tokio::test]
async fn two_servers_starting_together_on_a_new_database_both_start() {
    let url = q8s_testing::postgres::fresh_database();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(data.path().with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_q8s-server"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data.path())
            .args(["--runtime", "fake", "--database", &url])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        servers.push((child, port, data));
    }
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (child, port, data) in &mut servers {
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(data.path().with_extension("log"));
                panic!("a server exited ({status}): {}", log.unwrap_or_default());
            }
            let health = client
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "a server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let admins = servers
        .iter()
        .filter(|(_, _, data)| data.path().join("admin-token").exists())
        .count();
    for (child, _, data) in &mut servers {
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(data.path().with_extension("log"));
    }
    assert_eq!(admins, 1, "the first admin is made once");
}
