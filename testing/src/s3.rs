//! A real S3 server for tests: moto's (`moto_server`, from the virtualenv `scripts/setup.sh
//! server` creates) on a free loopback port, with an empty bucket, killed when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The region the tests' buckets are in.
pub const REGION: &str = "us-east-1";

/// The `AWS_*` variables a client of [`MotoServer`] needs (moto accepts any keys).
pub const CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "q8s-test"),
    ("AWS_SECRET_ACCESS_KEY", "q8s-test-secret"),
    ("AWS_REGION", REGION),
];

/// Where `moto_server` is: `$Q8S_MOTO_VENV/bin` (default `~/.cache/q8s-moto`, the
/// virtualenv of `scripts/setup.sh scale`).
pub fn moto_binary() -> PathBuf {
    let venv = std::env::var_os("Q8S_MOTO_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/q8s-moto")
        },
        PathBuf::from,
    );
    venv.join("bin/moto_server")
}

/// A running moto S3 server with one empty bucket.
pub struct MotoServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The bucket made for the test.
    pub bucket: String,
    child: Child,
}

impl MotoServer {
    /// Starts moto and makes a bucket. Panics with what to do when moto is not installed: a
    /// test on S3 fails rather than passing without S3.
    pub fn start() -> MotoServer {
        let binary = moto_binary();
        assert!(
            binary.exists(),
            "moto's S3 server is not installed ({} is missing): run `scripts/setup.sh scale` \
             (or `make setup`), which creates that virtualenv",
            binary.display()
        );
        let port = crate::free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut moto = MotoServer {
            port,
            bucket: "q8s-test".into(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while request(port, "GET", "/").is_none() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited early ({status})");
            }
            assert!(Instant::now() < deadline, "moto_server did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        let answer = request(port, "PUT", &format!("/{}", moto.bucket));
        assert!(
            answer
                .as_deref()
                .is_some_and(|a| a.starts_with("HTTP/1.1 200")),
            "creating the bucket: {answer:?}"
        );
        moto
    }

    /// Makes another empty bucket and returns its name (servers sharing one moto keep their
    /// bundles apart; [`MotoServer::url_of`] is its `--blob-store` URL).
    pub fn new_bucket(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let bucket = format!(
            "q8s-test-{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let answer = request(self.port, "PUT", &format!("/{bucket}"));
        assert!(
            answer
                .as_deref()
                .is_some_and(|a| a.starts_with("HTTP/1.1 200")),
            "creating the bucket {bucket}: {answer:?}"
        );
        bucket
    }

    /// The `--blob-store` URL of `bucket` on this server.
    pub fn url_of(&self, bucket: &str) -> String {
        format!("s3://{bucket}?endpoint={}&region={REGION}", self.endpoint())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `--blob-store` URL of the bucket.
    pub fn url(&self) -> String {
        self.url_of(&self.bucket)
    }

    /// Deletes the object `key` from the bucket.
    pub fn delete(&self, key: &str) {
        let answer = request(self.port, "DELETE", &format!("/{}/{key}", self.bucket));
        assert!(
            answer
                .as_deref()
                .is_some_and(|a| a.starts_with("HTTP/1.1 204")),
            "deleting {key}: {answer:?}"
        );
    }

    /// The keys of the bucket's objects under `prefix`, from S3's list call.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.keys_in(&self.bucket, prefix)
    }

    /// The keys of `bucket`'s objects under `prefix`.
    pub fn keys_in(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let answer = request(
            self.port,
            "GET",
            &format!("/{bucket}?list-type=2&prefix={prefix}"),
        )
        .expect("listing the bucket");
        answer
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }
}

impl MotoServer {
    /// The keys of `bucket`'s multipart uploads begun and neither completed nor aborted.
    pub fn pending_uploads_in(&self, bucket: &str) -> Vec<String> {
        let answer =
            request(self.port, "GET", &format!("/{bucket}?uploads")).expect("listing uploads");
        answer
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }

    /// The bucket's pending multipart uploads.
    pub fn pending_uploads(&self) -> Vec<String> {
        self.pending_uploads_in(&self.bucket)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 request without a body; the whole answer, or `None` when nothing
/// answers.
fn request(port: u16, method: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    (!answer.is_empty()).then_some(answer)
}
