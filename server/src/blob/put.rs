//! Whole blobs to S3 in one `PUT`, the body streamed and signed with the blob's own sha256.
//!
//! A multipart upload costs a request per part and a `CompleteMultipartUpload` at the end,
//! which stores that rebuild the object from its parts (moto, s3s-fs, MinIO on some disks) pay
//! for with a second pass over every byte. A bundle is at most a few GiB and its sha256 is
//! known before it is sent (verified from the spool, or declared by the client), so one `PUT`
//! does: `object_store` only sends bodies it holds in memory, so this module signs the request
//! with `object_store`'s own SigV4 signer ([`AwsAuthorizer`]), the object's URL and
//! credentials as the store computes them, and the payload hash set to the blob's sha256. S3
//! checks the body against that hash, so a damaged body is refused, and no second hash runs.
//!
//! [`HeldPut`] sends the body while it still arrives but keeps its last chunk back until the
//! import is verified: a store never completes an object whose body is shorter than its
//! `Content-Length`, so an import that fails (a digest that lied, an invalid bundle, a client
//! gone) leaves nothing under the key, even in a store that does not check payload hashes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, header};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::HttpRequestBody;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use tokio::io::AsyncSeekExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{BlobError, io_err};

/// S3's largest object in a single `PUT`; larger blobs go up in parts.
pub(super) const MAX_SIZE: u64 = 5 << 30;

/// Chunks of the body queued for the request before the receive waits for it (a chunk is at
/// most hyper's read buffer, about 400 KiB).
const QUEUED_CHUNKS: usize = 8;

/// Chunks read from the spool at a time.
const FILE_CHUNK: usize = 256 << 10;

/// Settings under which `object_store` adds headers of its own to uploads.
const SPECIAL_SETTINGS: [&str; 8] = [
    "aws_checksum_algorithm",
    "aws_s3_express",
    "aws_skip_signature",
    "aws_request_payer",
    "aws_server_side_encryption",
    "aws_sse_kms_key_id",
    "aws_sse_bucket_key_enabled",
    "aws_sse_customer_key_base64",
];

/// `PUT`s whole blobs into one bucket.
#[derive(Debug)]
pub(super) struct DirectPut {
    s3: Arc<AmazonS3>,
    region: String,
    /// False with `AWS_UNSIGNED_PAYLOAD=true`: the body is then sent as `UNSIGNED-PAYLOAD`,
    /// as `object_store` sends its own (the store skips hashing it; TLS protects it).
    sign_payload: bool,
    http: reqwest::Client,
}

impl DirectPut {
    /// For the bucket `s3` built by `builder`; `None` when its settings ask for headers that
    /// `object_store` adds to its own uploads (server-side encryption, checksums, requester
    /// pays, S3 Express, anonymous access): those keep its multipart uploads.
    pub(super) fn new(s3: Arc<AmazonS3>, builder: &AmazonS3Builder) -> Option<Self> {
        let set = |name: &str| {
            name.parse::<AmazonS3ConfigKey>()
                .ok()
                .and_then(|key| builder.get_config_value(&key))
                .is_some_and(|v| !v.is_empty() && v != "false")
        };
        if SPECIAL_SETTINGS.into_iter().any(set) {
            return None;
        }
        let region = builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".into());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .ok()?;
        let sign_payload = !set("aws_unsigned_payload");
        Some(DirectPut {
            s3,
            region,
            sign_payload,
            http,
        })
    }

    /// Stores `body` (`size` bytes whose sha256 is `sha256`) at `location` in one request.
    pub(super) async fn put(
        &self,
        location: &ObjectPath,
        sha256: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), BlobError> {
        self.try_put(location, sha256, size, body)
            .await
            .map_err(|f| f.error)
    }

    async fn try_put(
        &self,
        location: &ObjectPath,
        sha256: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), Failure> {
        let digest = decode_sha256(sha256)
            .ok_or_else(|| Failure::lasting(put_failed(format!("`{sha256}` is no sha256"))))?;
        // The object's URL as the store addresses it (path or virtual-hosted style, endpoint).
        let mut url = self
            .s3
            .signed_url(Method::PUT, location, Duration::from_secs(60))
            .await
            .map_err(|e| Failure::lasting(e.into()))?;
        url.set_query(None);
        let credential = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(|e| Failure::lasting(e.into()))?;
        let mut signed = http::Request::builder()
            .method(Method::PUT)
            .uri(url.as_str())
            .header(header::CONTENT_LENGTH, size)
            .body(HttpRequestBody::empty())
            .map_err(|e| Failure::lasting(put_failed(e.to_string())))?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .with_sign_payload(self.sign_payload)
            .try_authorize(&mut signed, Some(&digest))
            .map_err(|e| Failure::lasting(e.into()))?;
        let response = self
            .http
            .put(url.as_str())
            // Five minutes, as for the store's other requests, and a second per MiB: no
            // store link that is slower is worth waiting for.
            .timeout(Duration::from_secs(300 + size / (1 << 20)))
            .headers(signed.headers().clone())
            .body(body)
            .send()
            .await
            .map_err(|e| Failure {
                transient: e.is_connect() || e.is_timeout() || e.is_request(),
                error: put_failed(format!("{e:#}")),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(Failure {
            transient: status.is_server_error() || status.as_u16() == 429,
            error: put_failed(format!("{status}: {}", s3_error(&text))),
        })
    }

    /// Stores `file` (`size` bytes whose sha256 is `sha256`) at `location`, streamed from
    /// disk; sent again, from its start, after a failure that may pass (a store busy or
    /// restarting, a connection lost), as `object_store` retries its own requests.
    pub(super) async fn put_file(
        &self,
        location: &ObjectPath,
        sha256: &str,
        file: tokio::fs::File,
        size: u64,
    ) -> Result<(), BlobError> {
        let mut attempt = 1;
        loop {
            let mut file = file
                .try_clone()
                .await
                .map_err(io_err("reading the upload"))?;
            file.seek(io::SeekFrom::Start(0))
                .await
                .map_err(io_err("reading the upload"))?;
            let chunks = tokio_util::io::ReaderStream::with_capacity(file, FILE_CHUNK);
            let body = reqwest::Body::wrap_stream(chunks);
            match self.try_put(location, sha256, size, body).await {
                Ok(()) => return Ok(()),
                Err(f) if f.transient && attempt < ATTEMPTS => {
                    let wait = RETRY_WAIT * 4u32.pow(attempt - 1);
                    tracing::warn!(
                        sha256,
                        attempt,
                        "storing the bundle failed ({}); again in {wait:?}",
                        f.error
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }
}

/// Attempts of a `PUT` from a file, and the wait before the second (four times longer before
/// each next one).
const ATTEMPTS: u32 = 3;
const RETRY_WAIT: Duration = Duration::from_millis(250);

/// A failed `PUT`, and whether sending it again may succeed.
struct Failure {
    error: BlobError,
    transient: bool,
}

impl Failure {
    fn lasting(error: BlobError) -> Self {
        Failure {
            error,
            transient: false,
        }
    }
}

fn put_failed(message: String) -> BlobError {
    BlobError::Io {
        context: "uploading the bundle".into(),
        source: io::Error::other(message),
    }
}

/// The code and message of an S3 error document, or its first line.
fn s3_error(text: &str) -> String {
    let field = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_owned())
    };
    match (field("Code"), field("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => text
            .lines()
            .next()
            .unwrap_or("no details")
            .chars()
            .take(200)
            .collect(),
    }
}

fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    if !super::is_sha256(hex) {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        *byte = digit(pair[0]) << 4 | digit(pair[1]);
    }
    Some(out)
}

/// A [`DirectPut`] fed as the body arrives, its last chunk held back until it is completed.
#[derive(Debug)]
pub(super) struct HeldPut {
    tx: Option<mpsc::Sender<io::Result<Bytes>>>,
    held: Option<Bytes>,
    task: Option<JoinHandle<Result<(), BlobError>>>,
}

impl HeldPut {
    /// Starts the request for `size` bytes whose sha256 is declared to be `sha256`.
    pub(super) fn start(
        put: Arc<DirectPut>,
        location: ObjectPath,
        sha256: String,
        size: u64,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUED_CHUNKS);
        let chunks = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let body = reqwest::Body::wrap_stream(chunks);
        let task = tokio::spawn(async move { put.put(&location, &sha256, size, body).await });
        HeldPut {
            tx: Some(tx),
            held: None,
            task: Some(task),
        }
    }

    /// Sends the chunk before this one, and holds this one back.
    pub(super) async fn feed(&mut self, chunk: Bytes) {
        let Some(previous) = self.held.replace(chunk) else {
            return;
        };
        if let Some(tx) = &self.tx
            && tx.send(Ok(previous)).await.is_err()
        {
            self.tx = None; // the request failed: its error comes out of `complete`
        }
    }

    /// Sends the held chunk and waits for the store's answer: the blob is then durable. Only
    /// for a body verified to be the declared blob.
    pub(super) async fn complete(mut self) -> Result<(), BlobError> {
        if let (Some(tx), Some(last)) = (self.tx.take(), self.held.take()) {
            let _ = tx.send(Ok(last)).await;
        }
        let task = self.task.take().expect("a held put completes once");
        task.await.map_err(|e| put_failed(e.to_string()))?
    }
}

impl Drop for HeldPut {
    /// Not completed: the body ends in an error, short of its length, and the request is
    /// dropped; the store keeps nothing.
    fn drop(&mut self) {
        self.held = None;
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Err(io::Error::other("the import was refused")));
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_decodes_to_its_digest_and_nothing_else_does() {
        let hex = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
        let digest = decode_sha256(hex).unwrap();
        assert_eq!(digest[0], 0xb9);
        assert_eq!(digest[31], 0xe9);
        for bad in [
            "",
            &hex[1..],
            &format!("{hex}0"),
            &hex.replace('b', "g"),
            &hex.to_uppercase(),
        ] {
            assert!(decode_sha256(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn settings_that_add_headers_to_uploads_keep_the_multipart_upload() {
        let made = |setting: Option<(&str, &str)>| {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name("bundles")
                .with_endpoint("http://127.0.0.1:9")
                .with_allow_http(true);
            if let Some((name, value)) = setting {
                builder = builder.with_config(name.parse().unwrap(), value);
            }
            let s3 = Arc::new(builder.clone().build().unwrap());
            DirectPut::new(s3, &builder)
        };
        let direct = |setting| made(setting).is_some();
        assert!(made(None).unwrap().sign_payload);
        let unsigned = made(Some(("aws_unsigned_payload", "true")));
        assert!(!unsigned.unwrap().sign_payload);
        assert!(direct(None));
        assert!(direct(Some(("aws_skip_signature", "false"))));
        for name in SPECIAL_SETTINGS {
            assert!(name.parse::<AmazonS3ConfigKey>().is_ok(), "{name}");
        }
        for (name, value) in [
            ("aws_server_side_encryption", "aws:kms"),
            ("aws_sse_kms_key_id", "key"),
            ("aws_checksum_algorithm", "sha256"),
            ("aws_request_payer", "true"),
            ("aws_skip_signature", "true"),
        ] {
            assert!(!direct(Some((name, value))), "{name}={value}");
        }
    }

    /// A store on a loopback port that answers each request with the next of `answers` and
    /// records each request's head and body.
    async fn scripted_store(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for (status, code) in answers {
                let (socket, _) = listener.accept().await.unwrap();
                let mut reader = BufReader::new(socket);
                let (mut head, mut line) = (String::new(), String::new());
                while reader.read_line(&mut line).await.unwrap() > 2 {
                    head.push_str(&line);
                    line.clear();
                }
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.unwrap();
                log.lock().unwrap().push((head, body));
                let xml = format!("<Error><Code>{code}</Code></Error>");
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                    xml.len()
                );
                reader.get_mut().write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_put_from_a_file_is_sent_again_after_a_busy_store_not_after_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upload.part");
        std::fs::write(&file, b"a verified bundle").unwrap();
        let sha = q8s_core::archive::ArchiveDigest::of(b"a verified bundle").hex();
        let open = || async { tokio::fs::File::open(&file).await.unwrap() };
        let location = ObjectPath::from(format!("bundles/{sha}.qz"));
        let direct = |url: &str| {
            let builder = AmazonS3Builder::new()
                .with_bucket_name("bundles")
                .with_endpoint(url)
                .with_allow_http(true)
                .with_region("eu-west-1")
                .with_access_key_id("key")
                .with_secret_access_key("secret");
            DirectPut::new(Arc::new(builder.clone().build().unwrap()), &builder).unwrap()
        };

        let (url, seen) = scripted_store(vec![(503, "SlowDown"), (200, "")]).await;
        direct(&url)
            .put_file(&location, &sha, open().await, 17)
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        for (head, body) in &seen {
            assert!(
                head.starts_with(&format!("PUT /bundles/bundles/{sha}.qz ")),
                "{head}"
            );
            assert!(
                head.contains(&format!("x-amz-content-sha256: {sha}")),
                "{head}"
            );
            assert!(head.contains("eu-west-1/s3/aws4_request"), "{head}");
            assert_eq!(
                body, b"a verified bundle",
                "each attempt sends the whole file"
            );
        }

        let (url, seen) = scripted_store(vec![(403, "AccessDenied"), (200, "")]).await;
        let err = direct(&url)
            .put_file(&location, &sha, open().await, 17)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("403") && err.contains("AccessDenied"), "{err}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn s3_errors_say_their_code_and_message() {
        let text = "<?xml version=\"1.0\"?><Error><Code>XAmzContentSHA256Mismatch</Code>\
                    <Message>The provided 'x-amz-content-sha256' header does not match what was \
                    computed.</Message></Error>";
        assert_eq!(
            s3_error(text),
            "XAmzContentSHA256Mismatch: The provided 'x-amz-content-sha256' header does not \
             match what was computed."
        );
        assert_eq!(s3_error("<Error><Code>SlowDown</Code></Error>"), "SlowDown");
        assert_eq!(s3_error("Bad Gateway\nmore"), "Bad Gateway");
    }
}
