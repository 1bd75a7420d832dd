//! Imports that must fail and leave nothing behind, against a real server: a full disk,
//! hostile and oversized bundles, no credentials, a server killed mid-upload; and how long a
//! deleted app's bundle stays in storage.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Method, TestServer, hello_bundle, json_of};
use reqwest::StatusCode;
use serde_json::json;

/// A zip with the given entries: (name, bytes, symlink).
/// `n` bytes that do not compress (xorshift).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn a_full_disk_refuses_an_import_with_507_and_keeps_nothing() {
    // 4 MiB for the database and the bundles.
    let server = TestServer::start_on_disk_of(4 << 20).await;
    let token = server.admin_token.clone();
    let bundle = |version: &str, size: usize| {
        let mut entries = hello_entries();
        let manifest = String::from_utf8(entries[0].1.clone()).unwrap();
        entries[0].1 = manifest
            .replace("Version = \"0.1.0\"", &format!("Version = \"{version}\""))
            .into_bytes();
        entries.push(("data.bin", noise(size), false));
        zip_of(&entries)
    };

    let (status, body) = server
        .import_bytes(&token, bundle("1.0.0", 5 << 20), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"]["code"], "insufficient-storage", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{body}"
    );
    let (_, apps) = server.get(&token, "/apps?scope=all").await;
    assert_eq!(apps, json!([]));

    // What the refused upload had written is gone: a bundle that needs more than half the
    // disk fits now, and the server goes on as before.
    let (status, body) = server
        .import_bytes(&token, bundle("1.0.1", 5 << 19), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = server.get(&token, "/apps").await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.log().contains("disk full"), "{}", server.log());
}

fn zip_of(entries: &[(&str, Vec<u8>, bool)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes, symlink) in entries {
            if *symlink {
                zip.add_symlink(*name, String::from_utf8(bytes.clone()).unwrap(), options)
                    .unwrap();
            } else {
                zip.start_file(*name, options).unwrap();
                zip.write_all(bytes).unwrap();
            }
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

fn hello_entries() -> Vec<(&'static str, Vec<u8>, bool)> {
    let root = common::repo_root().join("examples/hello");
    vec![
        (
            "q-app.toml",
            std::fs::read(root.join("q-app.toml")).unwrap(),
            false,
        ),
        ("hello/__init__.py", Vec::new(), false),
        (
            "hello/app.py",
            std::fs::read(root.join("hello/app.py")).unwrap(),
            false,
        ),
        (
            "requirements.txt",
            std::fs::read(root.join("requirements.txt")).unwrap(),
            false,
        ),
    ]
}

#[tokio::test]
async fn hostile_bundles_are_422_and_leave_nothing() {
    let server = TestServer::start().await;
    let with = |extra: (&'static str, Vec<u8>, bool)| {
        let mut entries = hello_entries();
        entries.push(extra);
        zip_of(&entries)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "zip slip",
            with(("../../evil.py", b"print('x')".to_vec(), false)),
        ),
        (
            "absolute path",
            with(("/etc/evil.py", b"x".to_vec(), false)),
        ),
        (
            "symlink",
            with(("hello/link.py", b"/etc/passwd".to_vec(), true)),
        ),
        (
            "bomb",
            with(("hello/zeros.bin", vec![0u8; 64 << 20], false)),
        ),
        ("not a zip", b"this is not an archive at all".to_vec()),
        ("truncated", {
            let good = std::fs::read(hello_bundle()).unwrap();
            good[..good.len() / 2].to_vec()
        }),
        ("no manifest", zip_of(&hello_entries()[1..])),
    ];
    for (what, bytes) in cases {
        let (status, body) = server
            .import_bytes(&server.admin_token, bytes, "PRIVATE")
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid-bundle", "{what}: {body}");
        assert!(server.blob_files().is_empty(), "{what}: a blob was kept");
        assert!(
            server.tmp_files().is_empty(),
            "{what}: a temporary file was kept"
        );
    }
    // Diagnostics come as details.
    let (_, body) = server
        .import_bytes(
            &server.admin_token,
            with(("../x.py", b"x".to_vec(), false)),
            "PRIVATE",
        )
        .await;
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        !details.is_empty() && details[0]["code"].is_string() && details[0]["severity"] == "error",
        "{body}"
    );
    let (_, list) = server.get(&server.admin_token, "/apps?scope=all").await;
    assert_eq!(list, json!([]));
    // The good bundle still imports.
    assert_eq!(
        server
            .import(&server.admin_token, &hello_bundle(), "PRIVATE")
            .await
            .0,
        StatusCode::CREATED
    );
}

/// A bundle's declared sha256 (`Repr-Digest`, what the CLI sends) is checked against its body:
/// a body that is not the declared one is refused with nothing kept, and on a bucket (where the
/// upload starts while the body arrives) no upload is left pending by any refusal.
#[tokio::test]
async fn declared_digests_are_checked_and_refusals_leave_no_upload() {
    let server = TestServer::start().await;
    let token = server.admin_token.clone();
    let good = std::fs::read(hello_bundle()).unwrap();
    let digest_of = |bytes: &[u8]| q8s_core::api::repr_digest(&common::sha256_hex(bytes)).unwrap();
    let leaves_nothing = |what: &str, blobs: usize| {
        assert_eq!(
            server.blob_files().len(),
            blobs,
            "{what}: {:?}",
            server.blob_files()
        );
        assert!(
            server.tmp_files().is_empty(),
            "{what}: {:?}",
            server.tmp_files()
        );
    };

    // A body that is not the declared one: damaged or cut short on the way.
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let (status, body) = server
        .import_declared(&token, damaged, &digest_of(&good))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "upload-failed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&common::sha256_hex(&good)), "{message}");
    leaves_nothing("damaged", 0);
    assert_eq!(server.pending_uploads().await, Vec::<String>::new());
    let (status, body) = server
        .import_declared(&token, good[..good.len() - 10].to_vec(), &digest_of(&good))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "cut short: {body}");
    leaves_nothing("cut short", 0);

    // A malformed declaration is refused before the body is read.
    for bad in ["sha-256=:AAAA:", "sha-256=deadbeef", "sha-256=:!!:"] {
        let (status, body) = server.import_declared(&token, good.clone(), bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid-request", "{bad}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("repr-digest"),
            "{body}"
        );
    }
    let hostile = {
        let mut entries = hello_entries();
        entries.push(("../../evil.py", b"print('x')".to_vec(), false));
        zip_of(&entries)
    };
    // A hostile bundle declared truly is still refused, and nothing of it stays.
    let (status, body) = server
        .import_declared(&token, hostile.clone(), &digest_of(&hostile))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid-bundle", "{body}");
    leaves_nothing("hostile", 0);
    assert_eq!(server.pending_uploads().await, Vec::<String>::new());

    // The true declaration imports, stored under its sha256.
    let (status, app) = server
        .import_declared(
            &token,
            good.clone(),
            &format!("sha-512=:AAAA:, {}", digest_of(&good)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["bundle"]["sha256"], common::sha256_hex(&good));
    leaves_nothing("imported", 1);
    assert_eq!(server.pending_uploads().await, Vec::<String>::new());
    // The same bytes again: 409, and the stored blob (the winner's) stays.
    let (status, body) = server
        .import_declared(&token, good.clone(), &digest_of(&good))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    leaves_nothing("again", 1);
    assert_eq!(server.pending_uploads().await, Vec::<String>::new());
    let r = server
        .client
        .get(server.api(&format!("/apps/{}/bundle", app["id"].as_str().unwrap())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(
        r.bytes().await.unwrap() == good,
        "the stored bundle is not the upload"
    );
}

#[tokio::test]
async fn oversized_bundles_are_413_streamed_or_declared() {
    let server = TestServer::start_with(&["--max-bundle-size", "100000"]).await;
    let big = vec![7u8; 300_000];
    let (status, body) = server
        .import_bytes(&server.admin_token, big, "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "bundle-too-large");
    // Chunked, without a length: the server stops reading at the cap.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..30).map(|_| Ok(vec![1u8; 10_000])).collect();
    let r = server
        .client
        .post(server.api("/apps"))
        .bearer_auth(&server.admin_token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    if let Ok(r) = r {
        let (status, body) = json_of(r).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["error"]["code"], "bundle-too-large");
    } // else: the server closed the connection while the client still sent, also a refusal
    assert!(server.blob_files().is_empty());
    assert!(server.tmp_files().is_empty());
    let metrics = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("q8s_imports_rejected_total 2\n"),
        "{metrics}"
    );
    assert_eq!(
        server
            .import(&server.admin_token, &hello_bundle(), "PRIVATE")
            .await
            .0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn import_needs_a_signed_in_user() {
    let server = TestServer::start().await;
    let bytes = std::fs::read(hello_bundle()).unwrap();
    let r = server
        .client
        .post(server.api("/apps"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = server
        .client
        .post(server.api("/apps"))
        .bearer_auth("q8s_wrong")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(server.blob_files().is_empty());
}

#[tokio::test]
async fn kill_9_during_an_upload_leaves_no_app_and_no_blob() {
    // Blobs written into the folder by hand, with their times: about the folder itself.
    let mut server = TestServer::start_on_local_stores_with(&[]).await;
    // A slow upload: the first megabyte, then a pause during which the server is killed.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let client = server.client.clone();
    let url = server.api("/apps");
    let token = server.admin_token.clone();
    let upload = tokio::spawn(async move {
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
        client
            .post(url)
            .bearer_auth(token)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
    });
    tx.send(Ok(vec![0x50; 1 << 20])).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.tmp_files().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never reached the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A blob without an app, as a crash between storing and committing would leave, written
    // past the grace period (`--blob-grace`, an hour by default)...
    let bundles = server.data_dir().join("blobs/bundles");
    let orphan = bundles.join(format!("{}.qz", "ab".repeat(32)));
    std::fs::write(&orphan, b"orphan").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    // ...and one just written, as another replica's import not committed yet would be.
    let importing = bundles.join(format!("{}.qz", "cd".repeat(32)));
    std::fs::write(&importing, b"being imported").unwrap();
    server.kill();
    drop(tx);
    let _ = upload.await; // failed or answered: either way nothing may remain
    let server = server.restart().await;
    assert!(server.tmp_files().is_empty(), "{:?}", server.tmp_files());
    assert_eq!(server.blob_files(), vec![importing.clone()]);
    std::fs::remove_file(&importing).unwrap();
    let (_, list) = server.get(&server.admin_token, "/apps?scope=all").await;
    assert_eq!(list, json!([]));
    // Still works, and the admin was not created twice.
    assert_eq!(
        server
            .import(&server.admin_token, &hello_bundle(), "PRIVATE")
            .await
            .0,
        StatusCode::CREATED
    );
    assert!(!server.log().contains("panicked"));
}

/// Another replica may be importing the same bytes while an app is deleted: a bundle younger
/// than the grace period stays when its app goes, and a new import of it is whole; once past
/// the grace period with no app, a sweep removes it.
#[tokio::test]
async fn a_deleted_apps_bundle_stays_for_the_grace_period_then_goes() {
    let server = TestServer::start_with(&["--blob-grace", "10", "--gc-interval", "1"]).await;
    let delete = |id: String| {
        let server = &server;
        async move {
            let path = format!("/apps/{id}");
            let status = server
                .status(Method::DELETE, &server.admin_token, &path, None)
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
    };
    let (status, app) = server
        .import(&server.admin_token, &hello_bundle(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    delete(app["id"].as_str().unwrap().to_owned()).await;
    assert_eq!(server.blob_files().len(), 1, "a young bundle was removed");
    let (status, again) = server
        .import(&server.admin_token, &hello_bundle(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    let id = again["id"].as_str().unwrap().to_owned();
    let r = server
        .client
        .get(server.api(&format!("/apps/{id}/bundle")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    assert!(bytes == std::fs::read(hello_bundle()).unwrap());

    delete(id).await;
    q8s_testing::eventually(Duration::from_secs(60), "the orphaned bundle to go", || {
        server.blob_files().is_empty().then_some(())
    });
}
