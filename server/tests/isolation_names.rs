//! Attacks on app Names and on import limits, against a real server (issue 10: name squatting,
//! the unpacked-size cap, memory above the server's capacity, reserved volume mounts, and a
//! FAILED instance that must not block deleting its app). Each test performs the attack and
//! asserts that it fails and that nothing of it was kept.

mod common;

use std::time::Duration;

use common::{Method, TestServer, app_variant, hello_bundle, json_of};
use q8s_core::archive::{CompressedEntry, DeterministicZipWriter, compress_entry};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HELLO: &str = "ai.h2o.q8s.hello";

/// The names and versions `token` sees with `scope=all`.
async fn listed(server: &TestServer, token: &str) -> Vec<(String, String, String)> {
    let (status, list) = server.get(token, "/apps?scope=all").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap().to_owned();
            (text("name"), text("version"), text("owner"))
        })
        .collect()
}

/// `PUT /app-names/{name}` with `{"owner": owner}`.
async fn transfer(
    server: &TestServer,
    token: &str,
    name: &str,
    owner: &str,
) -> (StatusCode, Value) {
    let r = server
        .client
        .put(server.api(&format!("/app-names/{name}")))
        .bearer_auth(token)
        .json(&json!({ "owner": owner }))
        .send()
        .await
        .unwrap();
    json_of(r).await
}

fn assert_name_taken(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "app-name-taken", "{body}");
}

#[tokio::test]
async fn another_users_import_of_a_name_is_403_and_tells_nothing_of_its_versions() {
    let server = TestServer::start().await;
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    let (status, app) = server.import(&alice, &hello_bundle(), "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let blobs = server.blob_files();

    // Bob tries Alice's private version and a version that does not exist: the answers are
    // the same, so neither tells him whether a private 0.1.0 exists.
    let (_v2, new_version) = app_variant(HELLO, "0.2.0", &[]);
    let (status, existing) = server.import(&bob, &hello_bundle(), "PRIVATE").await;
    assert_name_taken(status, &existing);
    let (status, absent) = server.import(&bob, &new_version, "ALL_USERS").await;
    assert_name_taken(status, &absent);
    assert_eq!(existing, absent);
    let message = existing["error"]["message"].as_str().unwrap();
    assert!(message.contains(HELLO), "{message}");
    assert!(
        !message.contains("alice") && !message.contains("0.1.0"),
        "{message}"
    );

    // Nor under the same Name in other letter case.
    let (_upper, upper) = app_variant("AI.H2O.Q8S.Hello", "0.2.0", &[]);
    let (status, body) = server.import(&bob, &upper, "PRIVATE").await;
    assert_name_taken(status, &body);

    // An admin cannot import under it either (admins transfer names instead).
    let (status, body) = server
        .import(&server.admin_token, &new_version, "PRIVATE")
        .await;
    assert_name_taken(status, &body);

    // Nothing of the refused imports was kept.
    assert_eq!(server.blob_files(), blobs);
    assert!(server.tmp_files().is_empty());
    assert_eq!(listed(&server, &bob).await, vec![]);
    assert_eq!(
        listed(&server, &alice).await,
        vec![(HELLO.into(), "0.1.0".into(), "alice".into())]
    );

    // The owner goes on importing; her own duplicate is still 409.
    assert_eq!(
        server.import(&alice, &new_version, "PRIVATE").await.0,
        StatusCode::CREATED
    );
    let (status, body) = server.import(&alice, &hello_bundle(), "PRIVATE").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "app-version-exists");
}

#[tokio::test]
async fn an_admin_transfers_a_name_and_only_its_new_owner_imports_under_it() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    let (status, app) = server.import(&alice, &hello_bundle(), "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let first_id = app["id"].as_str().unwrap().to_owned();

    // Only admins transfer, even the owner cannot give it away.
    for token in [&bob, &alice] {
        let (status, body) = transfer(&server, token, HELLO, "bob").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, body) = transfer(&server, &admin, HELLO, "nobody").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "unknown-user");
    let (status, body) = transfer(&server, &admin, "not%20a%20name", "bob").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid-name");

    let (status, body) = transfer(&server, &admin, HELLO, "bob").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"name": HELLO, "owner": "bob"}));
    let (_, doc) = server.get(&admin, "/openapi.json").await;
    assert!(doc["paths"]["/api/v1/app-names/{name}"]["put"].is_object());

    let (_v2, v2) = app_variant(HELLO, "0.2.0", &[]);
    let (status, app) = server.import(&bob, &v2, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["owner"], "bob");
    let (_v3, v3) = app_variant(HELLO, "0.3.0", &[]);
    let (status, body) = server.import(&alice, &v3, "PRIVATE").await;
    assert_name_taken(status, &body);
    // The versions Alice imported stay hers.
    let (status, first) = server.get(&alice, &format!("/apps/{first_id}")).await;
    assert_eq!((status, &first["owner"]), (StatusCode::OK, &json!("alice")));

    // Deleting every version keeps the name owned: Alice cannot take it back that way.
    for (token, id) in [
        (&alice, first_id.as_str()),
        (&bob, app["id"].as_str().unwrap()),
    ] {
        assert_eq!(
            server
                .status(Method::DELETE, token, &format!("/apps/{id}"), None)
                .await,
            StatusCode::NO_CONTENT
        );
    }
    let (status, body) = server.import(&alice, &v3, "PRIVATE").await;
    assert_name_taken(status, &body);

    // An admin may also give a name before anyone imported it.
    let reserved = "ai.h2o.q8s.reserved";
    let (status, body) = transfer(&server, &admin, reserved, "alice").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_r, bundle) = app_variant(reserved, "1.0.0", &[]);
    let (status, body) = server.import(&bob, &bundle, "PRIVATE").await;
    assert_name_taken(status, &body);
    assert_eq!(
        server.import(&alice, &bundle, "PRIVATE").await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn two_users_racing_for_a_new_name_leave_it_to_one() {
    let server = TestServer::start_with(&["--blob-grace", "3", "--gc-interval", "1"]).await;
    let alice = server.user_token("alice", false).await;
    let bob = server.user_token("bob", false).await;
    let mut folders = Vec::new();
    let mut tasks = Vec::new();
    for n in 0..6 {
        let (user, token) = if n % 2 == 0 {
            ("alice", alice.clone())
        } else {
            ("bob", bob.clone())
        };
        let (dir, path) = app_variant("ai.h2o.q8s.contested", &format!("1.0.{n}"), &[]);
        folders.push(dir);
        let body = std::fs::read(path).unwrap();
        let (client, url) = (server.client.clone(), server.api("/apps"));
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap();
            (user, json_of(r).await)
        }));
    }
    let mut winners = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        let (user, (status, body)) = task.await.unwrap();
        match status {
            StatusCode::CREATED => winners.push(user),
            _ => {
                assert_name_taken(status, &body);
                refused.push(user);
            }
        }
    }
    assert_eq!(winners.len() + refused.len(), 6);
    assert!(!winners.is_empty(), "somebody gets the name");
    assert!(
        winners.iter().all(|u| *u == winners[0]) && refused.iter().all(|u| *u != winners[0]),
        "one owner: created by {winners:?}, refused for {refused:?}"
    );
    assert_eq!(winners.len(), 3);
    assert!(server.tmp_files().is_empty());
    // A loser refused by the insert (not by the Name check before storing) stored its bundle:
    // no app names it, and the sweep removes it once past the grace period.
    let stored = server.blob_files().len();
    assert!((3..=6).contains(&stored), "{stored} bundles stored");
    q8s_testing::eventually(Duration::from_secs(60), "the losers' bundles to go", || {
        (server.blob_files().len() == 3).then_some(())
    });
}

/// The files of `examples/hello` with `manifest` as its `q-app.toml`, as archive entries
/// (without the bundle builder, which would refuse a manifest the server must refuse too).
fn hello_entries(manifest: &str) -> Vec<CompressedEntry> {
    let root = common::repo_root().join("examples/hello");
    let mut entries = vec![compress_entry("q-app.toml", manifest.as_bytes(), false)];
    for name in ["hello/__init__.py", "hello/app.py", "requirements.txt"] {
        entries.push(compress_entry(
            name,
            &std::fs::read(root.join(name)).unwrap(),
            false,
        ));
    }
    entries
}

fn zip_of(mut entries: Vec<CompressedEntry>) -> Vec<u8> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = DeterministicZipWriter::new(Vec::new());
    for entry in &entries {
        writer.add(entry).unwrap();
    }
    writer.finish().unwrap()
}

fn hello_manifest() -> String {
    std::fs::read_to_string(common::repo_root().join("examples/hello/q-app.toml")).unwrap()
}

/// A valid hello bundle plus `count` entries of 64 MiB each that are zeros but for one byte in
/// 4096: every entry inflates about 500 times (below the 1,000 of a zip bomb). Returns the
/// archive and its unpacked size.
fn zero_bomb(count: usize) -> (Vec<u8>, u64) {
    let mut entries = hello_entries(&hello_manifest());
    let mut zeros = vec![0u8; 64 << 20];
    let mut x: u32 = 0x9E37_79B9;
    for byte in zeros.iter_mut().step_by(4096) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = (x as u8) | 1;
    }
    let chunk = compress_entry("data/zeros.bin", &zeros, false);
    let ratio = chunk.size / chunk.data.len() as u64;
    assert!(
        (100..1000).contains(&ratio),
        "each entry must pass the ratio rule: {ratio}"
    );
    for n in 0..count {
        let mut entry = chunk.clone();
        entry.name = format!("data/zeros-{n:03}.bin");
        entries.push(entry);
    }
    let unpacked = entries.iter().map(|e| e.size).sum();
    (zip_of(entries), unpacked)
}

#[tokio::test]
async fn a_small_bundle_unpacking_past_max_unpacked_is_422_and_keeps_nothing() {
    let server = TestServer::start().await;
    let (bomb, unpacked) = zero_bomb(36);
    assert!(bomb.len() < 6_000_000, "{} bytes", bomb.len());
    assert!(unpacked > 2 << 30);
    let (status, body) = server
        .import_bytes(&server.admin_token, bomb, "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid-bundle", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&unpacked.to_string()) && message.contains(&(2u64 << 30).to_string()),
        "the message says the size and the limit: {message}"
    );
    assert_eq!(body["error"]["details"][0]["code"], "too-large", "{body}");
    assert!(server.blob_files().is_empty(), "no blob");
    assert!(server.tmp_files().is_empty(), "no spooled upload");
    assert_eq!(listed(&server, &server.admin_token).await, vec![]);
}

#[tokio::test]
async fn max_unpacked_is_the_servers_setting_at_import_and_at_extraction() {
    // Hello unpacks to about 37 kB.
    let server = TestServer::start_with(&["--max-unpacked", "10K"]).await;
    let admin = server.admin_token.clone();
    let (status, body) = server.import(&admin, &hello_bundle(), "PRIVATE").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "too-large", "{body}");
    assert!(server.blob_files().is_empty());

    let server = server.restart_with(&["--max-unpacked", "1Mi"]).await;
    let (status, app) = server.import(&admin, &hello_bundle(), "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");

    // The runtime extracts under the same setting: lowered after the import, the launch fails
    // before anything is written, and says why.
    let server = server.restart_with(&["--max-unpacked", "10K"]).await;
    let (status, instance) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let failed = server
        .wait_for_status(
            &admin,
            instance["id"].as_str().unwrap(),
            "FAILED",
            Duration::from_secs(120),
        )
        .await;
    let message = failed["status_message"].as_str().unwrap();
    assert!(message.contains("10000"), "{message}");
    assert!(
        common::files_under(&server.data_dir().join("apps")).is_empty(),
        "nothing was extracted"
    );
}

#[tokio::test]
async fn memory_above_the_servers_capacity_is_refused_at_import() {
    let server = TestServer::start_with(&["--memory-capacity", "1Gi"]).await;
    let admin = server.admin_token.clone();
    let limit = |value: &'static str| ("MemoryLimit = \"256Mi\"", value);
    // (the field, its value, the manifest edits that set it)
    type Case = (
        &'static str,
        &'static str,
        Vec<(&'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        ("MemoryLimit", "15Ei", vec![limit("MemoryLimit = \"15Ei\"")]),
        ("MemoryLimit", "2Gi", vec![limit("MemoryLimit = \"2Gi\"")]),
        (
            "MemoryReservation",
            "1025Mi",
            vec![
                limit(""),
                (
                    "MemoryReservation = \"64Mi\"",
                    "MemoryReservation = \"1025Mi\"",
                ),
            ],
        ),
    ];
    for (field, value, edits) in cases {
        let (_dir, bundle) = app_variant(HELLO, "1.0.0", &edits);
        let (status, body) = server.import(&admin, &bundle, "PRIVATE").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field} {value}: {body}"
        );
        assert_eq!(body["error"]["code"], "invalid-bundle", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("Runtime.{field}"))
                && message.contains(value)
                && message.contains("1Gi"),
            "names the field, the value and the capacity: {message}"
        );
        let detail = &body["error"]["details"][0];
        assert_eq!(detail["code"], "memory-above-capacity", "{body}");
        assert_eq!(detail["path"], format!("Runtime.{field}"), "{body}");
        assert!(server.blob_files().is_empty() && server.tmp_files().is_empty());
    }
    assert_eq!(listed(&server, &admin).await, vec![]);
    // Exactly the capacity fits.
    let (_dir, fits) = app_variant(
        HELLO,
        "1.0.0",
        &[("MemoryLimit = \"256Mi\"", "MemoryLimit = \"1Gi\"")],
    );
    assert_eq!(
        server.import(&admin, &fits, "PRIVATE").await.0,
        StatusCode::CREATED
    );

    // Without --memory-capacity, the machine's memory is the capacity.
    let server = server.restart_with(&[]).await;
    let (_dir, huge) = app_variant(
        HELLO,
        "2.0.0",
        &[("MemoryLimit = \"256Mi\"", "MemoryLimit = \"15Ei\"")],
    );
    let (status, body) = server.import(&admin, &huge, "PRIVATE").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("15Ei") && message.contains("memory"),
        "{message}"
    );
}

#[tokio::test]
async fn a_volume_on_a_folder_the_sandbox_uses_is_refused_at_import() {
    let server = TestServer::start().await;
    for mount in ["/venv", "/venv/cache", "/tmp", "/lib32/x"] {
        let line =
            format!("Module = \"hello.app\"\nVolumeMount = \"{mount}\"\nVolumeSize = \"1Mi\"");
        let manifest = hello_manifest().replace("Module = \"hello.app\"", &line);
        let (status, body) = server
            .import_bytes(
                &server.admin_token,
                zip_of(hello_entries(&manifest)),
                "PRIVATE",
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{mount}: {body}");
        assert_eq!(
            body["error"]["details"][0]["code"], "reserved-volume-mount",
            "{mount}: {body}"
        );
    }
    assert!(server.blob_files().is_empty());
}

#[tokio::test]
async fn a_failed_instance_does_not_block_deleting_its_app() {
    let server = TestServer::start_with(&["--memory-capacity", "1Gi"]).await;
    let admin = server.admin_token.clone();
    let alice = server.user_token("alice", false).await;
    let bundle = hello_bundle();
    let (status, app) = server.import(&admin, &bundle, "ALL_USERS").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();

    // Less memory than the app reserves after a restart: its launch can never start.
    let server = server.restart_with(&["--memory-capacity", "32Mi"]).await;
    let (status, instance) = server.launch(&alice, &app_id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let instance_id = instance["id"].as_str().unwrap().to_owned();
    server
        .wait_for_status(&alice, &instance_id, "FAILED", Duration::from_secs(120))
        .await;

    // A FAILED instance runs nothing: the app's owner deletes the app, the instance goes with
    // it, and it does not come back with the next server start.
    assert_eq!(
        server
            .status(Method::DELETE, &admin, &format!("/apps/{app_id}"), None)
            .await,
        StatusCode::NO_CONTENT
    );
    let (status, _) = server
        .get(&alice, &format!("/instances/{instance_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let server = server.restart_with(&["--memory-capacity", "1Gi"]).await;
    let (_, instances) = server.get(&alice, "/instances?scope=all&status=all").await;
    assert_eq!(instances, json!([]));
}
