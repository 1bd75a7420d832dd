//! `q8s-server migrate-data` for real: a SQLite + folder server is filled through its API
//! (users, tokens, apps with bundles, an instance, a secret with its rule), stopped, and moved
//! into a fresh PostgreSQL database and a moto bucket; a server on PostgreSQL + S3 then has
//! everything (old password, old token, apps, bundles byte for byte, the instance, the secret
//! resolving at launch). On the way: a corrupt source bundle stops the move with nothing
//! written, a re-run after an interrupted blob copy skips what is there, and a target
//! database that holds data is refused.

mod common;

use std::process::Command;

use common::*;
use q8s_testing::s3::{CREDENTIALS, MotoServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ENV: &str = "[[Env]]\nName = \"DB_PASSWORD\"\nSecret = \"db\"\nSecretKey = \"password\"\n";

/// Runs `q8s-server migrate-data` from `data`'s SQLite and folder to `to` and `moto`;
/// whether it succeeded and its stdout + stderr.
fn migrate_data(data: &std::path::Path, to: &str, moto: &MotoServer) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_q8s-server"))
        .arg("migrate-data")
        .arg("--from")
        .arg(format!("sqlite://{}", data.join("q8s.db").display()))
        .arg("--from-blobs")
        .arg(format!("file://{}", data.join("blobs").display()))
        .args(["--to", to, "--to-blobs", &moto.url()])
        .envs(CREDENTIALS)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn bundle_sha256(server: &TestServer, token: &str, app: &str) -> String {
    let r = server
        .client
        .get(server.api(&format!("/apps/{app}/bundle")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    sha256_hex(&r.bytes().await.unwrap())
}

#[tokio::test]
async fn a_sqlite_and_folder_server_moves_to_postgres_and_s3_with_everything() {
    let moto = MotoServer::start();
    let server = TestServer::start_with_env(&["--runtime", "fake"], &CREDENTIALS).await;
    let alice_password = format!("pw-alice-{}", server.port);
    let alice = server.user_token("alice", false).await;
    let admin = server.admin_token.clone();
    let admin_password = server.admin_password();

    // Two apps with bundles, an instance, a secret only Alice (and admins) may use.
    let (status, hello) = server.import(&alice, &hello_bundle(), "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{hello}");
    let (_dir, with_secret) = hello_variant("0.2.0", ENV);
    let (status, secret_app) = server.import(&alice, &with_secret, "ALL_USERS").await;
    assert_eq!(status, StatusCode::CREATED, "{secret_app}");
    let (status, instance) = server
        .launch(&alice, hello["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let secret = json!({"data": {"password": "hunter2"}, "users": ["alice"]});
    let (status, body) = server
        .send(Method::PUT, &admin, "/secrets/db", Some(secret))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, apps_before) = server.get(&alice, "/apps").await;
    let (_, secrets_before) = server.get(&admin, "/secrets").await;
    let (_, instances_before) = server.get(&alice, "/instances").await;
    let (_, tokens_before) = server.get(&alice, "/tokens").await;
    let shas: Vec<String> = [&hello, &secret_app]
        .iter()
        .map(|a| a["bundle"]["sha256"].as_str().unwrap().to_owned())
        .collect();
    let mut server = server;
    server.terminate();
    let data = server.data_dir().to_owned();

    // A first move, into another database: every bundle copied.
    let first = q8s_testing::postgres::fresh_database();
    let (ok, out) = migrate_data(&data, &first, &moto);
    assert!(ok, "{out}");
    assert!(out.contains("bundles: 2 copied"), "{out}");
    assert!(out.contains("2 users, 2 tokens, 1 sessions"), "{out}");

    // As if the copy had been interrupted: one bundle is not in the bucket; and the source's
    // copy of it is corrupt: the move stops, nothing written.
    moto.delete(&format!("bundles/{}.qz", shas[1]));
    let source_blob = data.join("blobs/bundles").join(format!("{}.qz", shas[1]));
    let good = std::fs::read(&source_blob).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    std::fs::write(&source_blob, &bad).unwrap();
    let target = q8s_testing::postgres::fresh_database();
    let (ok, out) = migrate_data(&data, &target, &moto);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("copying bundle {}", shas[1])),
        "{out}"
    );
    assert!(out.contains("has the sha256"), "{out}");
    assert!(
        !moto
            .keys("bundles/")
            .contains(&format!("bundles/{}.qz", shas[1])),
        "a corrupt copy was kept"
    );
    std::fs::write(&source_blob, &good).unwrap();

    // The re-run: what is there is skipped, the rest copied, then every row written (the
    // target was left empty, or this would be refused).
    let (ok, out) = migrate_data(&data, &target, &moto);
    assert!(ok, "{out}");
    assert!(out.contains("bundles: 1 copied"), "{out}");
    assert!(out.contains("1 already there"), "{out}");
    assert!(out.contains("already there, skipped"), "{out}");

    // Once more into the same database: refused, nothing written.
    let (ok, out) = migrate_data(&data, &target, &moto);
    assert!(!ok, "{out}");
    assert!(out.contains("already holds data"), "{out}");
    assert!(out.contains("nothing was written"), "{out}");

    // A server on PostgreSQL + S3 only (the old database and folder gone).
    std::fs::remove_file(data.join("q8s.db")).unwrap();
    std::fs::remove_dir_all(data.join("blobs")).unwrap();
    let server = server
        .restart_with(&[
            "--runtime",
            "fake",
            "--database",
            &target,
            "--blob-store",
            &moto.url(),
        ])
        .await;
    assert!(
        !data.join("q8s.db").exists(),
        "the server made a SQLite database"
    );
    assert!(server.login("alice", &alice_password).await.is_some());
    assert!(server.login("admin", &admin_password).await.is_some());
    assert!(server.login("alice", "not-her-password").await.is_none());
    let (status, me) = server.get(&alice, "/me").await;
    assert_eq!(
        (status, me["username"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    let (_, apps) = server.get(&alice, "/apps").await;
    assert_eq!(ids(&apps), ids(&apps_before));
    assert_eq!(apps, apps_before);
    for (app, sha) in [&hello, &secret_app].iter().zip(&shas) {
        assert_eq!(
            &bundle_sha256(&server, &alice, app["id"].as_str().unwrap()).await,
            sha
        );
    }
    let (_, secrets) = server.get(&admin, "/secrets").await;
    assert_eq!(secrets, secrets_before);
    let (_, tokens) = server.get(&alice, "/tokens").await;
    assert_eq!(ids(&tokens), ids(&tokens_before));
    let (_, instances) = server.get(&alice, "/instances").await;
    assert_eq!(ids(&instances), ids(&instances_before));
    server
        .wait_for_status(
            &alice,
            instance["id"].as_str().unwrap(),
            "RUNNING",
            std::time::Duration::from_secs(30),
        )
        .await;
    // The secret resolves (its value, keys and rule came along): Alice launches the app that
    // needs it; a user the rule leaves out cannot.
    let (status, launched) = server
        .launch(&alice, secret_app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{launched}");
    let bob = server.user_token("bob", false).await;
    let (status, refused) = server
        .launch(&bob, secret_app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
}
