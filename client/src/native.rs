//! What only native clients do: stream a bundle file to the server with progress, and wait
//! for an instance to reach a status (both need tokio, which the wasm build does not have).

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::Method;

use q8s_core::api::{ApiError, App, Instance, REPR_DIGEST_HEADER, Visibility, repr_digest};

use crate::client::{Client, read_json};

/// Bytes read from disk per chunk of an upload (and so per progress report).
const UPLOAD_CHUNK: usize = 256 * 1024;

impl Client {
    /// `POST /apps`: imports the `.qz` file at `path`, streamed from disk (never whole in
    /// memory). `progress(sent, total)` is called as bytes go out.
    pub async fn import_file(
        &self,
        path: &Path,
        visibility: Visibility,
        mut progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<App, ApiError> {
        let io = |source| ApiError::Io {
            context: format!("reading {}", path.display()),
            source,
        };
        // The bundle's sha256 goes ahead of it: the server checks the body against it, and a
        // server storing bundles in a bucket sends the bytes on while they arrive.
        let hashed = path.to_owned();
        let sha256 = tokio::task::spawn_blocking(move || {
            let file = std::io::BufReader::new(std::fs::File::open(hashed)?);
            Ok::<_, std::io::Error>(q8s_core::archive::ArchiveDigest::of_reader(file)?.hex())
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
        let file = tokio::fs::File::open(path).await.map_err(io)?;
        let total = file.metadata().await.map_err(io)?.len();
        let mut sent = 0u64;
        progress(0, total);
        let chunks =
            tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK).map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    sent += bytes.len() as u64;
                    progress(sent, total);
                }
                chunk
            });
        let request = self
            .request(Method::POST, self.endpoint(&["api", "v1", "apps"]))
            .query(&[("visibility", visibility.as_str())])
            .header(reqwest::header::CONTENT_TYPE, "application/zip")
            .header(reqwest::header::CONTENT_LENGTH, total)
            .header(REPR_DIGEST_HEADER, repr_digest(&sha256).unwrap_or_default())
            .body(reqwest::Body::wrap_stream(chunks));
        let response = self.send(request).await?;
        read_json(self, response).await
    }

    /// Polls an instance (every 250 ms, then every second) until `done` says so, and returns
    /// it; [`ApiError::Timeout`] after `timeout`. Needs a tokio runtime with time enabled.
    pub async fn wait_for_instance(
        &self,
        id: &str,
        timeout: Duration,
        mut done: impl FnMut(&Instance) -> bool,
    ) -> Result<Instance, ApiError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(250);
        loop {
            let instance = self.instance(id).await?;
            if done(&instance) {
                return Ok(instance);
            }
            if start.elapsed() >= timeout {
                return Err(ApiError::Timeout {
                    what: match &instance.status_message {
                        Some(message) => {
                            format!("instance {id} is still {} ({message})", instance.status)
                        }
                        None => format!("instance {id} is still {}", instance.status),
                    },
                    seconds: timeout.as_secs(),
                });
            }
            tokio::time::sleep(delay.min(timeout.saturating_sub(start.elapsed()))).await;
            if start.elapsed() > Duration::from_secs(5) {
                delay = Duration::from_secs(1);
            }
        }
    }
}
