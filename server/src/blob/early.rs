//! Uploads to a bucket that start while the body still arrives.
//!
//! When an import declares its sha256 (`Repr-Digest`), a remote store knows the blob's key
//! before the first byte, so the bytes go up while the same bytes are spooled, hashed and
//! verified locally: the bucket's time hides behind the receive instead of following it.
//! Nothing becomes visible in the bucket until [`EarlyUpload::complete`], which the store calls
//! only for a verified upload whose sha256 is the declared one; an early upload dropped without
//! completing (a refused bundle, a digest that lied, a client gone) is abandoned and the bucket
//! keeps nothing. Two ways: one `PUT` whose last chunk is held back ([`HeldPut`], S3 with the
//! body's length known), else a multipart upload completed or aborted ([`Parts`]).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::BlobError;
use super::put::{DirectPut, HeldPut};

/// The size of each part of an early upload. Larger parts mean fewer requests (each costs a
/// round trip and, on some stores, a fixed overhead); with [`IN_FLIGHT`] parts being sent and
/// one filling, a replica holds at most about 3 × this per import.
pub(super) const EARLY_PART_SIZE: usize = 8 << 20;

/// Parts sent at once.
const IN_FLIGHT: usize = 2;

/// Chunks of the body queued for the upload before the receive waits for it (a chunk is at
/// most hyper's read buffer, about 400 KiB).
const QUEUED_CHUNKS: usize = 4;

/// An upload of a declared blob, fed as the body arrives.
#[derive(Debug)]
pub struct EarlyUpload {
    sha256: String,
    way: Way,
}

#[derive(Debug)]
enum Way {
    Held(HeldPut),
    Parts(Parts),
}

impl EarlyUpload {
    /// Starts uploading `size` bytes to `location` (the key of `sha256`) in one request.
    pub(super) fn put(put: Arc<DirectPut>, location: ObjectPath, sha256: &str, size: u64) -> Self {
        EarlyUpload {
            sha256: sha256.to_owned(),
            way: Way::Held(HeldPut::start(put, location, sha256.to_owned(), size)),
        }
    }

    /// Starts a multipart upload to `location` (the key of `sha256`).
    pub(super) fn parts(store: Arc<dyn ObjectStore>, location: ObjectPath, sha256: &str) -> Self {
        EarlyUpload {
            sha256: sha256.to_owned(),
            way: Way::Parts(Parts::start(store, location)),
        }
    }

    /// The sha256 the upload was declared with: the only one it may be completed as.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Hands the next chunk of the body to the upload, waiting while it is behind. A failed
    /// upload takes no more chunks (its error comes out of [`EarlyUpload::complete`]).
    pub async fn feed(&mut self, chunk: Bytes) {
        match &mut self.way {
            Way::Held(put) => put.feed(chunk).await,
            Way::Parts(parts) => parts.feed(chunk).await,
        }
    }

    /// Sends what is left and completes the upload: the blob is then durable under its key.
    /// Only for an upload whose bytes were verified to be the declared blob.
    pub(super) async fn complete(self) -> Result<(), BlobError> {
        let start = Instant::now();
        let result = match self.way {
            Way::Held(put) => put.complete().await,
            Way::Parts(parts) => parts.complete().await,
        };
        tracing::debug!(
            sha256 = %self.sha256,
            ms = start.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "early upload completed"
        );
        result
    }
}

/// A multipart upload fed as the body arrives; aborted when dropped before it completes.
#[derive(Debug)]
struct Parts {
    tx: Option<mpsc::Sender<Bytes>>,
    task: Option<JoinHandle<Result<WriteMultipart, BlobError>>>,
}

impl Parts {
    fn start(store: Arc<dyn ObjectStore>, location: ObjectPath) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let task = tokio::spawn(async move {
            let mut upload = WriteMultipart::new_with_chunk_size(
                store.put_multipart(&location).await?,
                EARLY_PART_SIZE,
            );
            while let Some(chunk) = rx.recv().await {
                if let Err(e) = upload.wait_for_capacity(IN_FLIGHT).await {
                    let _ = upload.abort().await;
                    return Err(e.into());
                }
                upload.put(chunk); // kept, not copied: the spool holds the same bytes
            }
            Ok(upload)
        });
        Parts {
            tx: Some(tx),
            task: Some(task),
        }
    }

    async fn feed(&mut self, chunk: Bytes) {
        if let Some(tx) = &self.tx
            && tx.send(chunk).await.is_err()
        {
            self.tx = None;
        }
    }

    async fn complete(mut self) -> Result<(), BlobError> {
        self.tx = None;
        let task = self.task.take().expect("an early upload completes once");
        let mut upload = task.await.map_err(|e| BlobError::Io {
            context: "uploading the bundle".into(),
            source: std::io::Error::other(e),
        })??;
        if let Err(e) = upload.wait_for_capacity(0).await {
            let _ = upload.abort().await;
            return Err(e.into());
        }
        upload.finish().await?;
        Ok(())
    }
}

impl Drop for Parts {
    /// An upload that is not completed is aborted: the bucket discards its parts.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(task) = self.task.take() {
            let abort = async move {
                if let Ok(Ok(upload)) = task.await {
                    let _ = upload.abort().await;
                }
            };
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(abort);
            }
        }
    }
}
