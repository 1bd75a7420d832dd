//! The upload page: `q8s-server --web-dir` serves it at `/` to signed-in users, its other
//! files by name (the wasm module as `application/wasm`, gzip where it has a `.gz`), and
//! nothing outside the folder.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, COOKIE, LOCATION};

const INDEX: &str = "<!doctype html><title>q8s</title><script type=module src=app.js></script>";

fn page_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    std::fs::write(dir.path().join("app.js"), "export {};\n").unwrap();
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    let wasm = b"\0asm\x01\0\0\0".repeat(64);
    std::fs::write(dir.path().join("pkg/q8s_wasm_bg.wasm"), &wasm).unwrap();
    std::fs::write(dir.path().join("pkg/q8s_wasm_bg.wasm.gz"), gzip(&wasm)).unwrap();
    dir
}

/// A gzip stream of `data`, written by hand (a stored deflate block): the test needs no
/// compressor, only a valid `.gz`.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(1); // final stored block
    let len = data.len() as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn the_page_is_served_to_signed_in_users_with_its_files() {
    let dir = page_dir();
    let server = TestServer::start_with(&["--web-dir", dir.path().to_str().unwrap()]).await;
    let get = |path: &str| server.client.get(format!("{}{path}", server.url));

    // Signed out: the sign-in form first.
    let r = get("/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    let password = std::fs::read_to_string(server.data_dir().join("admin-password")).unwrap();
    let cookie = server.login("admin", password.trim()).await.unwrap();
    let r = get("/").header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.text().await.unwrap(), INDEX);

    // Its files need no session (they hold nothing private).
    let r = get("/app.js").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("content-security-policy"));
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let r = get("/pkg/q8s_wasm_bg.wasm").send().await.unwrap();
    assert_eq!(r.headers()[CONTENT_TYPE], "application/wasm");
    assert!(r.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(r.bytes().await.unwrap().len(), 8 * 64);
    let r = get("/pkg/q8s_wasm_bg.wasm")
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[CONTENT_TYPE], "application/wasm");
    assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");

    // Nothing else: unknown files, the folder itself, and paths that climb out.
    for path in [
        "/nope.js",
        "/pkg/",
        "/../../../etc/passwd",
        "/pkg/..%2F..%2Fetc%2Fpasswd",
    ] {
        let r = get(path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = server
        .client
        .put(format!("{}/api/v1/secrets/bad/name", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "other methods on unknown paths"
    );
    // The API and the other pages are still theirs.
    let r = get("/api/v1/me").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = get("/login").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
