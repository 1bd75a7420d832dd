//! `q8s-server --database postgres://…`: a start against a database that is not there stops
//! at once with an error naming what failed (and never the password); `Q8S_DATABASE_URL`
//! names the database when no flag does; two servers starting together on a new database
//! both start, and each accepts the other's tokens and sessions.

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

/// A `q8s-server` on the fake runtime with a data directory of its own, on `database`, not
/// waited for (a second server on a database has no admin token of its own, which
/// `ServerProcess` reads); killed when dropped.
struct Replica {
    child: std::process::Child,
    url: String,
    data: tempfile::TempDir,
}

impl Replica {
    fn spawn(database: &str) -> Replica {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(data.path().with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_q8s-server"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data.path())
            .args(["--runtime", "fake", "--database", database])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let url = format!("http://localhost:{port}");
        Replica { child, url, data }
    }

    /// Waits (up to a minute) until `/readyz` answers 200; panics with the log if the
    /// process exits first.
    async fn ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.data.path().with_extension("log"));
                panic!("a server exited ({status}): {}", log.unwrap_or_default());
            }
            let health = client.get(format!("{}/readyz", self.url)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "a server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.data.path().with_extension("log"));
    }
}

/// Two servers started together on a new database (replicas): both come up, each
/// migration applied once, one admin made by one of them.
#[tokio::test]
async fn two_servers_starting_together_on_a_new_database_both_start() {
    let url = q8s_testing::postgres::fresh_database();
    let mut servers = [Replica::spawn(&url), Replica::spawn(&url)];
    for server in &mut servers {
        server.ready().await;
    }
    let admins = servers
        .iter()
        .filter(|s| s.data.path().join("admin-token").exists())
        .count();
    assert_eq!(admins, 1, "the first admin is made once");
}

/// What one server issues, another on the same database accepts: API tokens and browser
/// sessions are in the database, not in a process.
#[tokio::test]
async fn another_server_on_the_database_accepts_tokens_and_sessions() {
    let url = q8s_testing::postgres::fresh_database();
    let first = TestServer::start_with(&["--runtime", "fake", "--database", &url]).await;
    let mut second = Replica::spawn(&url);
    second.ready().await;
    let cookie = first
        .login("admin", &first.admin_password())
        .await
        .expect("a session cookie");
    let me = |request: reqwest::RequestBuilder| async move {
        let r = request.send().await.unwrap();
        (
            r.status(),
            r.json::<serde_json::Value>().await.unwrap_or_default(),
        )
    };
    let (status, body) = me(first
        .client
        .get(format!("{}/api/v1/me", second.url))
        .bearer_auth(&first.admin_token))
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["username"], "admin");
    let (status, body) = me(first
        .client
        .get(format!("{}/api/v1/me", second.url))
        .header("cookie", &cookie))
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["username"], "admin");
    // Signed out on the second, the session is void on the first too.
    let r = first
        .client
        .post(format!("{}/logout", second.url))
        .header("cookie", &cookie)
        .header("origin", &second.url)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );
    let (status, body) = me(first
        .client
        .get(format!("{}/api/v1/me", first.url))
        .header("cookie", &cookie))
    .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
}

/// One store handle at a time leads; when the leader's process dies (its connections close),
/// another takes the lead at its next try.
#[tokio::test]
async fn one_replica_leads_and_another_takes_over_when_it_dies() {
    use q8s_server::store::{Cluster as _, PoolSettings, PostgresStore};
    let url = tokio::task::spawn_blocking(q8s_testing::postgres::fresh_database)
        .await
        .unwrap();
    let pool = PoolSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    let a = PostgresStore::open(&url, pool).await.unwrap();
    let b = PostgresStore::open(&url, pool).await.unwrap();
    assert!(a.lead().await.unwrap());
    assert!(!b.lead().await.unwrap());
    assert!(a.lead().await.unwrap(), "the leader stays the leader");
    assert!(!b.lead().await.unwrap());
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.lead().await.unwrap() {
        assert!(
            Instant::now() < deadline,
            "nobody leads 5 s after the leader died"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b.lead().await.unwrap());
}
