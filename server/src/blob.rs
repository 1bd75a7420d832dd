//! The blob store: verified bundles, keyed by their sha256, behind [`BlobStore`].
//!
//! [`ObjectBlobStore`] uses the `object_store` crate, a local folder by default. An upload is
//! first spooled to a temporary file under `<data-dir>/tmp` while it is hashed and counted
//! ([`spool_upload`]); only a verified file is adopted into the store, so the blob is complete
//! before the app row that names it is committed. On a local store adoption is a rename (no
//! second copy of the bytes).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tempfile::TempPath;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The blob does not exist.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The store URL is not supported.
    #[error("unsupported blob store `{0}` (use file://<folder>)")]
    Unsupported(String),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io { context, source }
}

/// Where verified bundles live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Moves the verified file into the store under `sha256` (replacing an identical blob).
    /// When this returns, the blob is durable.
    async fn adopt(&self, sha256: &str, file: TempPath) -> Result<(), BlobError>;
    /// The blob's bytes, streamed.
    async fn read(&self, sha256: &str) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError>;
    /// A local file holding the blob (the blob itself for a local store, a cached copy
    /// otherwise), for readers that need `Seek` and for the runtime.
    async fn local_path(&self, sha256: &str) -> Result<PathBuf, BlobError>;
    /// Removes the blob (no error when it does not exist).
    async fn delete(&self, sha256: &str) -> Result<(), BlobError>;
    /// The keys (sha256) of every blob.
    async fn list(&self) -> Result<Vec<String>, BlobError>;
    /// Checks that the store answers (for `/healthz`).
    async fn check(&self) -> Result<(), BlobError>;
}

/// [`BlobStore`] over an `object_store` backend.
#[derive(Debug)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for a local folder: adoption renames, reads open the file in place.
    local: Option<Arc<LocalFileSystem>>,
    /// Local copies of remote blobs.
    cache_dir: PathBuf,
}

const PREFIX: &str = "bundles";

fn key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("{PREFIX}/{sha256}.qz"))
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl ObjectBlobStore {
    /// Opens the store named by `url` (`file://<folder>`); `cache_dir` holds local copies of
    /// remote blobs.
    pub fn open(url: &str, cache_dir: PathBuf) -> Result<Self, BlobError> {
        let Some(folder) = url.strip_prefix("file://") else {
            return Err(BlobError::Unsupported(url.to_owned()));
        };
        std::fs::create_dir_all(Path::new(folder).join(PREFIX))
            .map_err(io_err(format!("creating {folder}")))?;
        let local = Arc::new(LocalFileSystem::new_with_prefix(folder)?);
        Ok(ObjectBlobStore {
            store: local.clone(),
            local: Some(local),
            cache_dir,
        })
    }

    /// A store over any `object_store` backend (S3 and friends); blobs are copied on adopt.
    pub fn remote(store: Arc<dyn ObjectStore>, cache_dir: PathBuf) -> Self {
        ObjectBlobStore {
            store,
            local: None,
            cache_dir,
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for ObjectBlobStore {
    async fn adopt(&self, sha256: &str, file: TempPath) -> Result<(), BlobError> {
        let location = key(sha256);
        if let Some(local) = &self.local {
            let target = local.path_to_filesystem(&location)?;
            let source = file.keep().map_err(|e| BlobError::Io {
                context: "keeping the upload".into(),
                source: e.error,
            })?;
            let result = tokio::fs::rename(&source, &target)
                .await
                .map_err(io_err(format!("moving the bundle to {}", target.display())));
            if result.is_err() {
                let _ = tokio::fs::remove_file(&source).await;
            }
            result?;
            if let Some(dir) = target.parent() {
                sync_dir(dir).await;
            }
            return Ok(());
        }
        let mut upload = WriteMultipart::new(self.store.put_multipart(&location).await?);
        let mut reader = tokio::fs::File::open(&*file)
            .await
            .map_err(io_err("opening the upload"))?;
        let mut buf = vec![0u8; 8 << 20];
        loop {
            use tokio::io::AsyncReadExt;
            let n = reader
                .read(&mut buf)
                .await
                .map_err(io_err("reading the upload"))?;
            if n == 0 {
                break;
            }
            upload.wait_for_capacity(4).await?;
            upload.write(&buf[..n]);
        }
        upload.finish().await?;
        Ok(())
    }

    async fn read(&self, sha256: &str) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError> {
        match self.store.get(&key(sha256)).await {
            Ok(result) => Ok(result.into_stream().map_err(io::Error::other).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(sha256.into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn local_path(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        if let Some(local) = &self.local {
            let path = local.path_to_filesystem(&key(sha256))?;
            return match tokio::fs::metadata(&path).await {
                Ok(_) => Ok(path),
                Err(_) => Err(BlobError::NotFound(sha256.into())),
            };
        }
        let cached = self.cache_dir.join(format!("{sha256}.qz"));
        if tokio::fs::metadata(&cached).await.is_ok() {
            return Ok(cached);
        }
        tokio::fs::create_dir_all(&self.cache_dir)
            .await
            .map_err(io_err("creating the blob cache"))?;
        let stream = self.read(sha256).await?;
        let spooled = spool_upload(stream, &self.cache_dir, u64::MAX)
            .await
            .map_err(|e| BlobError::Io {
                context: "caching a bundle".into(),
                source: io::Error::other(e.to_string()),
            })?;
        spooled.file.persist(&cached).map_err(|e| BlobError::Io {
            context: "caching a bundle".into(),
            source: e.error,
        })?;
        Ok(cached)
    }

    async fn delete(&self, sha256: &str) -> Result<(), BlobError> {
        let _ = tokio::fs::remove_file(self.cache_dir.join(format!("{sha256}.qz"))).await;
        match self.store.delete(&key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<String>, BlobError> {
        let prefix = ObjectPath::from(PREFIX);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.strip_suffix(".qz")?;
                is_sha256(name).then(|| name.to_owned())
            })
            .collect())
    }

    async fn check(&self) -> Result<(), BlobError> {
        let prefix = ObjectPath::from(PREFIX);
        self.store.list_with_delimiter(Some(&prefix)).await?;
        Ok(())
    }
}

async fn sync_dir(dir: &Path) {
    let dir = dir.to_owned();
    let _ =
        tokio::task::spawn_blocking(move || std::fs::File::open(dir).and_then(|d| d.sync_all()))
            .await;
}

/// An upload spooled to a temporary file: removed when dropped unless adopted.
#[derive(Debug)]
pub struct Spooled {
    /// The temporary file.
    pub file: TempPath,
    /// Lowercase hex sha256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub size: u64,
}

/// Why spooling stopped.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// More than `limit` bytes arrived; reading stopped there.
    #[error("the upload is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The client's body failed (disconnect, bad chunking).
    #[error("reading the upload: {0}")]
    Body(String),
    /// Writing the temporary file failed.
    #[error("writing the upload: {0}")]
    Io(#[from] io::Error),
}

/// Streams `body` into a new temporary file in `dir`, hashing and counting on the way, and
/// stopping as soon as more than `limit` bytes arrived. Network reads, hashing and disk
/// writes overlap: a blocking task hashes and writes while the caller's task receives. Memory
/// stays bounded by a few chunks; the file is fsynced before this returns.
pub async fn spool_upload<S, E>(body: S, dir: &Path, limit: u64) -> Result<Spooled, SpoolError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let temp = tempfile::Builder::new()
        .prefix("upload-")
        .suffix(".part")
        .tempfile_in(dir)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<_> {
        let mut hasher = Sha256::new();
        let mut out = io::BufWriter::with_capacity(1 << 20, temp.as_file());
        let mut size = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            out.write_all(&chunk)?;
            size += chunk.len() as u64;
        }
        out.flush()?;
        drop(out);
        temp.as_file().sync_all()?;
        let digest = hasher.finalize();
        let sha256: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok((temp.into_temp_path(), sha256, size))
    });
    let mut received = 0u64;
    let mut failure = None;
    futures::pin_mut!(body);
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                failure = Some(SpoolError::Body(e.to_string()));
                break;
            }
        };
        received += chunk.len() as u64;
        if received > limit {
            failure = Some(SpoolError::TooLarge { limit });
            break;
        }
        if tx.send(chunk).await.is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| SpoolError::Io(io::Error::other(e)))?;
    if let Some(failure) = failure {
        return Err(failure); // the temporary file is removed with `written`
    }
    let (file, sha256, size) = written?;
    Ok(Spooled { file, sha256, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, String>> + Send {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn spooling_hashes_counts_and_keeps_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let spooled = spool_upload(chunks(&[b"hello ", b"world"]), dir.path(), 100)
            .await
            .unwrap();
        assert_eq!(spooled.size, 11);
        assert_eq!(
            spooled.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(std::fs::read(&*spooled.file).unwrap(), b"hello world");
    }

    #[tokio::test]
    async fn spooling_stops_at_the_cap_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = spool_upload(chunks(&[b"12345", b"67890", b"x"]), dir.path(), 8)
            .await
            .unwrap_err();
        assert!(matches!(err, SpoolError::TooLarge { limit: 8 }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn local_store_adopts_by_rename_and_lists_keys() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let url = format!("file://{}", dir.path().join("blobs").display());
        let blobs = ObjectBlobStore::open(&url, dir.path().join("cache")).unwrap();
        let spooled = spool_upload(chunks(&[b"bundle"]), &tmp, 100).await.unwrap();
        let sha = spooled.sha256.clone();
        blobs.adopt(&sha, spooled.file).await.unwrap();
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        assert_eq!(blobs.list().await.unwrap(), vec![sha.clone()]);
        let path = blobs.local_path(&sha).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"bundle");
        let bytes: Vec<Bytes> = blobs.read(&sha).await.unwrap().try_collect().await.unwrap();
        assert_eq!(bytes.concat(), b"bundle");
        blobs.delete(&sha).await.unwrap();
        assert!(blobs.list().await.unwrap().is_empty());
        assert!(matches!(
            blobs.local_path(&sha).await,
            Err(BlobError::NotFound(_))
        ));
    }
}
