//! The server with its bundles in S3 (moto's server, started by test support; the tests fail
//! when moto is not installed): an app is imported into the bucket, listed, launched (the
//! bundle fetched into the read cache and checked) and its icon read, with nothing stored in
//! the data directory's folder.

mod common;

use std::time::Duration;

use common::{TestServer, hello_bundle, sha256_hex};
use q8s_testing::s3::MotoServer;
use reqwest::StatusCode;

#[tokio::test]
async fn an_app_on_s3_is_imported_listed_launched_and_its_icon_read() {
    let moto = MotoServer::start();
    let server = TestServer::start_on_s3(&moto, &["--runtime", "fake"]).await;
    let bytes = std::fs::read(hello_bundle()).unwrap();
    let sha = sha256_hex(&bytes);

    let (status, app) = server
        .import(&server.admin_token, &hello_bundle(), "ALL_USERS")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(moto.keys("bundles/"), vec![format!("bundles/{sha}.qz")]);
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
    assert!(server.tmp_files().is_empty(), "{:?}", server.tmp_files());
    let id = app["id"].as_str().unwrap();
    assert_eq!(server.count(&server.admin_token, "/apps").await, 1);

    // The icon, read by range from the bucket.
    let cache = server.data_dir().join("cache/bundles");
    std::fs::remove_dir_all(&cache).unwrap();
    let r = server
        .client
        .get(server.api(&format!("/apps/{id}/icon")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let icon = r.bytes().await.unwrap();
    let expected = std::fs::read(q8s_testing::apps::hello().join("static/icon.png")).unwrap();
    assert!(icon == expected, "not the icon");
    assert!(!cache.exists(), "the bundle was fetched to read its icon");

    // A launch needs a local copy: fetched from the bucket into the cache, checked.
    let (status, instance) = server.launch(&server.admin_token, id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let iid = instance["id"].as_str().unwrap();
    server
        .wait_for_status(&server.admin_token, iid, "RUNNING", Duration::from_secs(60))
        .await;
    let copy = cache.join(format!("{sha}.qz"));
    assert!(std::fs::read(&copy).unwrap() == bytes);

    // The bundle downloads as imported.
    let r = server
        .client
        .get(server.api(&format!("/apps/{id}/bundle")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap() == bytes);

    // Readiness says the bucket answers.
    let r = server
        .client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let health: serde_json::Value = r.json().await.unwrap();
    assert_eq!(health["blob_store"], true, "{health}");
}

/// A declared import goes up while it arrives: a damaged body is refused and what was already
/// sent is discarded (no pending upload, no object); the true body is stored under its
/// sha256, byte for byte.
#[tokio::test]
async fn a_declared_import_of_many_parts_is_stored_or_discarded_whole() {
    let moto = MotoServer::start();
    let server = TestServer::start_on_s3(&moto, &["--runtime", "fake"]).await;
    let scratch = tempfile::tempdir().unwrap();
    let app = scratch.path().join("app");
    q8s_testing::fs::copy_dir(&q8s_testing::apps::hello(), &app);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let noise: Vec<u8> = (0..(30 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(app.join("payload.gz"), &noise).unwrap();
    let (_out, bundle) = q8s_testing::apps::bundle_dir(&app);
    let good = std::fs::read(&bundle).unwrap();
    assert!(good.len() > 30 << 20);
    let sha = sha256_hex(&good);
    let digest = q8s_core::api::repr_digest(&sha).unwrap();
    let send = |bytes: Vec<u8>| {
        server
            .client
            .post(server.api("/apps?visibility=PRIVATE"))
            .bearer_auth(&server.admin_token)
            .header("content-type", "application/octet-stream")
            .header("repr-digest", &digest)
            .body(bytes)
            .send()
    };

    let mut damaged = good.clone();
    let last = damaged.len() - 100;
    damaged[last] ^= 1;
    let r = send(damaged).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !moto.pending_uploads().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        moto.pending_uploads().is_empty(),
        "{:?}",
        moto.pending_uploads()
    );
    assert!(
        moto.keys("bundles/").is_empty(),
        "{:?}",
        moto.keys("bundles/")
    );

    let r = send(good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(moto.keys("bundles/"), vec![format!("bundles/{sha}.qz")]);
    assert!(
        moto.pending_uploads().is_empty(),
        "{:?}",
        moto.pending_uploads()
    );
    // Read from the bucket, not from this replica's cache (which the upload seeded).
    std::fs::remove_dir_all(server.data_dir().join("cache/bundles")).unwrap();
    let app: serde_json::Value = server.get(&server.admin_token, "/apps").await.1[0].clone();
    let r = server
        .client
        .get(server.api(&format!("/apps/{}/bundle", app["id"].as_str().unwrap())))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert!(
        r.bytes().await.unwrap() == good,
        "the stored bundle is not the upload"
    );
}

#[tokio::test]
async fn a_bad_s3_url_stops_the_server_with_a_clear_error() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_q8s-server"));
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(binary)
        .arg("--data-dir")
        .arg(data.path())
        .args(["--blob-store", "s3://bucket/with/path?colour=blue"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unsupported blob store") && stderr.contains("s3://<bucket>"),
        "{stderr}"
    );
}

/// The server's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// A 1 GiB bundle (`examples/hello` and a sparse file of zeros, stored as it is) goes to the
/// bucket in one streamed `PUT` while the server stays under 100 MiB of memory: uploaded after
/// it is verified when the client declares nothing (curl)…
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_import_to_s3_keeps_the_server_under_100_mib() {
    import_1_gib(false).await;
}

/// … and while it arrives when the client declares its sha256 (the CLI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_import_declared_keeps_the_server_under_100_mib() {
    import_1_gib(true).await;
}

async fn import_1_gib(declared: bool) {
    let moto = MotoServer::start();
    let server = TestServer::start_on_s3(&moto, &["--max-bundle-size", "2Gi"]).await;
    let scratch = tempfile::tempdir().unwrap();
    let app = scratch.path().join("app");
    q8s_testing::fs::copy_dir(&q8s_testing::apps::hello(), &app);
    // `.gz`: the bundler stores already-compressed formats as they are. Sparse: no disk.
    let payload = std::fs::File::create(app.join("payload.gz")).unwrap();
    payload.set_len(1 << 30).unwrap();
    drop(payload);
    let (_out, bundle) = q8s_testing::apps::bundle_dir(&app);
    std::fs::remove_file(app.join("payload.gz")).unwrap();
    let size = std::fs::metadata(&bundle).unwrap().len();
    assert!(size > 1 << 30, "{size}");

    let digest = declared.then(|| {
        let file = std::fs::File::open(&bundle).unwrap();
        let sha256 = q8s_core::archive::ArchiveDigest::of_reader(file)
            .unwrap()
            .hex();
        q8s_core::api::repr_digest(&sha256).unwrap()
    });
    let before = peak_rss_kib(server.pid());
    let file = tokio::fs::File::open(&bundle).await.unwrap();
    let body = futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut request = server
        .client
        .post(server.api("/apps?visibility=PRIVATE"))
        .bearer_auth(&server.admin_token)
        .header("content-type", "application/octet-stream")
        .header("content-length", size)
        .timeout(Duration::from_secs(1800));
    if let Some(digest) = digest {
        request = request.header("repr-digest", digest);
    }
    let r = request
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let app: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["bundle"]["size"], size);
    let sha = app["bundle"]["sha256"].as_str().unwrap();
    assert_eq!(moto.keys("bundles/"), vec![format!("bundles/{sha}.qz")]);
    assert!(
        moto.pending_uploads().is_empty(),
        "{:?}",
        moto.pending_uploads()
    );
    let peak = peak_rss_kib(server.pid());
    eprintln!(
        "server peak RSS: {} KiB before the import, {peak} KiB after",
        before
    );
    assert!(peak < 100 << 10, "the server's peak RSS was {peak} KiB");
}
