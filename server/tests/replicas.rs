//! Two `q8s-server` replicas on loopback sharing one PostgreSQL database and one S3 bucket
//! (moto), each with a data directory (and runtime) of its own: imports race on the database,
//! what one replica issues the other accepts, an instance one runs is opened, logged,
//! suspended and resumed through the other, the proxy relay cannot be forged, and when the
//! leading replica is killed the other takes over its instances.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use q8s_testing::s3::MotoServer;
use reqwest::StatusCode;
use serde_json::Value;

const START: Duration = Duration::from_secs(120);

/// Two replicas, `a` (started first: it leads) and `b`, on a fresh database and `moto`'s
/// bucket, with `extra` arguments.
async fn pair(moto: &MotoServer, extra: &[&str]) -> (TestServer, TestServer) {
    let database = q8s_testing::postgres::fresh_database();
    let blobs = moto.url();
    let args = |node: &'static str| {
        let mut args = vec![
            "--database",
            database.as_str(),
            "--node-name",
            node,
            "--node-timeout",
            "3",
        ];
        args.extend_from_slice(extra);
        args
    };
    let a = TestServer::start_on_s3(moto, &args("a")).await;
    let mut b_args = vec!["--blob-store", blobs.as_str()];
    b_args.extend(args("b"));
    let b = TestServer::start_replica_of(&a, &b_args).await;
    (a, b)
}

/// `GET <path>` of instance `id` through `via`'s proxy, with `token`.
async fn open(via: &TestServer, id: &str, path: &str, token: &str) -> (StatusCode, String) {
    let r = via
        .instance_client(id)
        .get(via.instance_url(id, path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Polls `GET <path>` of instance `id` through `via` until it answers 200.
async fn open_when_up(via: &TestServer, id: &str, path: &str, token: &str) -> String {
    let deadline = Instant::now() + START;
    loop {
        let (status, body) = open(via, id, path, token).await;
        if status == StatusCode::OK {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{id}{path} through {}: {status} {body}\nlog: {}",
            via.url,
            via.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_imports_of_one_version_across_two_replicas_make_one() {
    let moto = MotoServer::start();
    let (a, b) = pair(&moto, &["--runtime", "fake"]).await;
    let bundle = std::fs::read(hello_bundle()).unwrap();
    let (a_ref, b_ref, token) = (&a, &b, a.admin_token.as_str());
    let imports = (0..20).map(|i| {
        let server = if i % 2 == 0 { a_ref } else { b_ref };
        let bundle = bundle.clone();
        async move { server.import_bytes(token, bundle, "PRIVATE").await }
    });
    let answers = futures::future::join_all(imports).await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, body) in &answers {
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "app-version-exists", "{body}");
        }
    }
    assert_eq!(a.count(&a.admin_token, "/apps").await, 1);
    assert_eq!(b.count(&a.admin_token, "/apps").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_on_one_replica_is_used_through_the_other() {
    let moto = MotoServer::start();
    let (a, b) = pair(&moto, &["--runtime", "fake", "--sign-in-attempts", "2"]).await;
    let admin = a.admin_token.clone();

    // Signed in on A, the session works on B.
    let cookie = a.login("admin", &a.admin_password()).await.unwrap();
    let r = b
        .client
        .get(b.api("/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Imported and launched on A: listed and opened through B.
    let (app_id, id) = a.launch_hello(&admin).await;
    let (status, apps) = b.get(&admin, "/apps").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(apps[0]["id"], app_id.as_str(), "{apps}");
    a.wait_for_status(&admin, &id, "RUNNING", START).await;
    let body = open_when_up(&b, &id, "/hello?x=1", &admin).await;
    assert_eq!(body, format!("fake instance {id}: GET /hello?x=1"));
    // Launched on B: opened through A.
    let (status, other) = b.launch(&admin, &app_id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other = other["id"].as_str().unwrap().to_owned();
    b.wait_for_status(&admin, &other, "RUNNING", START).await;
    let body = open_when_up(&a, &other, "/", &admin).await;
    assert_eq!(body, format!("fake instance {other}: GET /"));

    // Wrong tokens sent to B for it are refused by B, counted against their sender: A never
    // sees them, so they cannot get B's own address throttled at A (20 per window here).
    let guesser = b.client_from([127, 0, 0, 9], &[]);
    for _ in 0..25 {
        let r = guesser
            .get(b.api(&format!("/instances/{id}/logs")))
            .bearer_auth("q8s_not-a-token")
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == StatusCode::UNAUTHORIZED || r.status() == StatusCode::TOO_MANY_REQUESTS,
            "{}",
            r.status()
        );
    }

    // Its log, suspend and resume through B reach A, which runs it.
    let r = b
        .client
        .get(b.api(&format!("/instances/{id}/logs")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let path = format!("/instances/{id}/suspend");
    assert_eq!(
        b.status(Method::POST, &admin, &path, None).await,
        StatusCode::OK
    );
    a.wait_for_status(&admin, &id, "SUSPENDED", START).await;
    let (status, page) = open(&b, &id, "/", &admin).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    let path = format!("/instances/{id}/resume");
    assert_eq!(
        b.status(Method::POST, &admin, &path, None).await,
        StatusCode::OK
    );
    b.wait_for_status(&admin, &id, "RUNNING", START).await;
    open_when_up(&b, &id, "/", &admin).await;
    assert!(
        b.log().contains("relaying an instance action"),
        "B relayed the actions to A, which runs the instance: {}",
        b.log()
    );
    // Nobody but a replica can relay: a made-up relay key is no way in.
    let r = b
        .instance_client(&id)
        .get(b.instance_url(&id, "/"))
        .header("x-q8s-relay", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = a
        .instance_client(&id)
        .get(a.instance_url(&id, "/"))
        .header("x-q8s-relay", "guess")
        .header("x-forwarded-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Terminated through B.
    let path = format!("/instances/{id}");
    assert_eq!(
        b.status(Method::DELETE, &admin, &path, None).await,
        StatusCode::NO_CONTENT
    );
    a.wait_for_status(&admin, &id, "TERMINATED", START).await;
}

/// A plain HTTP app (the probe) with or without a volume.
fn probe_bundle(name: &str, volume: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let volume = if volume {
        "VolumeMount = \"/data\"\nVolumeSize = \"1Mi\"\n"
    } else {
        ""
    };
    let manifest = format!(
        "[App]\nName = \"{name}\"\nVersion = \"1.0.0\"\nTitle = \"Probe\"\n\
         Description = \"Reports what it sees.\"\n\n[Runtime]\nModule = \"probe\"\n{volume}"
    );
    std::fs::write(app.join("q-app.toml"), manifest).unwrap();
    std::fs::write(app.join("probe.py"), PROBE).unwrap();
    let (out, path) = bundle_dir(&app);
    let kept = dir.path().join(path.file_name().unwrap());
    std::fs::rename(&path, &kept).unwrap();
    drop(out);
    (dir, kept)
}

async fn launch_bundle(server: &TestServer, token: &str, bundle: &Path) -> String {
    let (status, app) = server.import(token, bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(token, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    instance["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leading_replica_is_killed_the_other_takes_over_its_instances() {
    let moto = MotoServer::start();
    let (mut a, b) = pair(&moto, &["--reconcile-interval", "1"]).await;
    let admin = a.admin_token.clone();
    let (_probe, probe) = probe_bundle("ai.h2o.q8s.probe", false);
    let (_kept, kept) = probe_bundle("ai.h2o.q8s.kept", true);
    let moving = launch_bundle(&a, &admin, &probe).await;
    let pinned = launch_bundle(&a, &admin, &kept).await;
    for id in [&moving, &pinned] {
        a.wait_for_status(&admin, id, "RUNNING", START).await;
    }
    // Through B's proxy, relayed to A: the app sees the user and the client, never the relay
    // key.
    open_when_up(&b, &moving, "/", &admin).await;
    let r = b
        .client_from([127, 0, 0, 7], &[&moving])
        .get(b.instance_url(&moving, "/headers"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let headers: Value = r.json().await.unwrap();
    assert_eq!(headers["x-forwarded-user"], "admin", "{headers}");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.7", "{headers}");
    assert!(headers.get("x-q8s-relay").is_none(), "{headers}");
    assert!(headers.get("authorization").is_none(), "{headers}");
    let before = pids_of(&moving);
    assert!(!before.is_empty());
    assert!(a.log().contains("this replica leads now"), "{}", a.log());
    assert!(!b.log().contains("this replica leads now"), "{}", b.log());

    a.kill();
    // A's sandboxes die with it; B leads within seconds and runs the instance without a
    // volume; the one with a volume waits for A.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.log().contains("this replica leads now") {
        assert!(Instant::now() < deadline, "B does not lead: {}", b.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let taken = b.wait_for_status(&admin, &moving, "RUNNING", START).await;
    let (status, body) = b.get(&admin, &format!("/instances/{moving}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(taken["restarts"], 0, "{taken}");
    let body = open_when_up(&b, &moving, "/env", &admin).await;
    assert!(body.contains(&moving), "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, pinned_now) = b.get(&admin, &format!("/instances/{pinned}")).await;
        let message = pinned_now["status_message"].as_str().unwrap_or_default();
        if pinned_now["status"] == "PENDING" && message.contains("replica `a`") {
            break;
        }
        assert!(Instant::now() < deadline, "{pinned_now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let path = format!("/instances/{pinned}/resume");
    let (status, body) = b.send(Method::POST, &admin, &path, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "replica-unavailable", "{body}");

    // It crashes on B: B restarts it, and only B writes its status.
    for pid in pids_of(&moving) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let deadline = Instant::now() + START;
    loop {
        let (_, now) = b.get(&admin, &format!("/instances/{moving}")).await;
        if now["status"] == "RUNNING" && now["restarts"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{now}\nlog: {}", b.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    open_when_up(&b, &moving, "/env", &admin).await;
    let processes = pids_of(&moving).len();

    // A comes back under its name: it runs its instance with the volume again, and not the one
    // B took (one copy runs).
    let a = a.restart().await;
    a.wait_for_status(&admin, &pinned, "RUNNING", START).await;
    open_when_up(&a, &pinned, "/read", &admin).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, now) = a.get(&admin, &format!("/instances/{moving}")).await;
    assert_eq!(
        (now["status"].as_str(), now["restarts"].as_u64()),
        (Some("RUNNING"), Some(1))
    );
    assert_eq!(
        pids_of(&moving).len(),
        processes,
        "{:?}",
        processes_of(&moving)
    );
}

/// Wrong passwords count on every replica: once an account has used up its failures through
/// one, the other allows it at most one more in that window (each replica checks its own
/// memory and learns the shared count when it sees a failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_counted_across_replicas() {
    let moto = MotoServer::start();
    let (a, b) = pair(&moto, &["--runtime", "fake", "--sign-in-attempts", "3"]).await;
    let (status, _) = a
        .send(
            Method::POST,
            &a.admin_token,
            "/users",
            Some(serde_json::json!({ "username": "bob", "password": "right-password-1" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let sign_in = |server: &TestServer, password: &'static str| {
        let request = server
            .client
            .post(format!("{}/login", server.url))
            .header("origin", &server.url)
            .form(&[("username", "bob"), ("password", password)]);
        async move { request.send().await.unwrap().status() }
    };
    for _ in 0..3 {
        assert_eq!(sign_in(&a, "wrong").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sign_in(&a, "wrong").await, StatusCode::TOO_MANY_REQUESTS);
    // B had seen nothing: one more failure, then B knows.
    assert_eq!(sign_in(&b, "wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&b, "wrong").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        sign_in(&b, "right-password-1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is not even checked while throttled"
    );
}
