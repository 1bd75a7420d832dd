//! The blob store: verified bundles, keyed by their sha256, behind [`BlobStore`].
//!
//! [`ObjectBlobStore`] uses the `object_store` crate: a local folder (`file://`, the default)
//! or an S3-compatible bucket (`s3://`). An upload is first spooled to a temporary file under
//! `<data-dir>/tmp` while it is hashed and counted ([`spool_upload`]); only a verified file is
//! adopted into the store, so the blob is complete before the app row that names it is
//! committed. On a local store adoption is a rename (no second copy of the bytes); on a bucket
//! it is one streamed `PUT` signed with the blob's sha256 ([`put`]; a multipart upload where
//! that cannot be used), or the completion of the upload begun while the body arrived
//! ([`early`]), and the verified file then seeds this replica's read cache ([`cache`]). Single files of a bundle (icons, screenshots) are read by range from a
//! bucket ([`range`]); blobs no app names are removed once they are older than a grace period
//! ([`orphans`]), so a replica never deletes a blob another is still importing.

pub mod cache;
mod copy;
mod early;
pub mod orphans;
mod put;
mod range;
mod spool;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use q8s_core::archive::{Limits, QzReader};
use tempfile::TempPath;

pub use cache::ReadCache;
pub use copy::Copied;
pub use early::EarlyUpload;
pub use spool::{SpoolError, Spooled, spool_upload};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The blob does not exist.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The store URL is not supported or malformed.
    #[error(
        "unsupported blob store `{0}` (use file://<folder> or s3://<bucket>?endpoint=<url>&region=<region>)"
    )]
    Unsupported(String),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A blob's bytes are not what its key says (a corrupt copy or download).
    #[error("blob {sha256} has the sha256 {actual}")]
    Corrupt {
        /// The key.
        sha256: String,
        /// The hash of the bytes read.
        actual: String,
    },
    /// A file of a bundle could not be read.
    #[error("reading {entry} of bundle {sha256}: {message}")]
    Entry {
        /// The bundle.
        sha256: String,
        /// The file.
        entry: String,
        /// What went wrong.
        message: String,
    },
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

/// What the store knows of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Its key: the lowercase hex sha256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (an adoption of identical bytes writes it again).
    pub modified: SystemTime,
}

/// Where verified bundles live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts storing the upload that declares `sha256` (and `size` bytes, when its length is
    /// known) while its body still arrives (see [`EarlyUpload`]), where that saves time: a
    /// bucket does, a folder (adoption is a rename) does not.
    fn begin(&self, sha256: &str, size: Option<u64>) -> Option<EarlyUpload>;
    /// Moves the verified file into the store under `sha256` (replacing an identical blob),
    /// completing `early` when it was begun for this sha256 (and uploading the file otherwise,
    /// or when the early upload failed). When this returns, the blob is durable.
    async fn adopt(
        &self,
        sha256: &str,
        file: TempPath,
        early: Option<EarlyUpload>,
    ) -> Result<(), BlobError>;
    /// The blob's bytes, streamed.
    async fn read(&self, sha256: &str) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError>;
    /// One file of the bundle stored under `sha256`, read through core's strict reader; a
    /// remote store reads the archive's directory and that file by range, not the whole blob.
    async fn read_entry(&self, sha256: &str, entry: &str) -> Result<Vec<u8>, BlobError>;
    /// A local file holding the blob (the blob itself for a local store, a copy in the read
    /// cache, checked against its sha256, otherwise), for the runtime.
    async fn local_path(&self, sha256: &str) -> Result<PathBuf, BlobError>;
    /// Removes the blob (no error when it does not exist).
    async fn delete(&self, sha256: &str) -> Result<(), BlobError>;
    /// Every blob.
    async fn list(&self) -> Result<Vec<BlobMeta>, BlobError>;
    /// One blob (`NotFound` when absent).
    async fn meta(&self, sha256: &str) -> Result<BlobMeta, BlobError>;
    /// Checks that the store answers (for `/healthz`).
    async fn check(&self) -> Result<(), BlobError>;
}

/// [`BlobStore`] over an `object_store` backend.
#[derive(Debug)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for a local folder: adoption renames, reads open the file in place.
    local: Option<Arc<LocalFileSystem>>,
    /// Set for S3: whole blobs go up in one `PUT`.
    direct: Option<Arc<put::DirectPut>>,
    /// Local copies of remote blobs.
    cache: ReadCache,
}

const PREFIX: &str = "bundles";

/// Without a direct `PUT`, blobs smaller than this go up in one request; larger ones as a
/// multipart upload of parts of this size (S3's smallest part).
const PART_SIZE: usize = 5 << 20;

fn key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("{PREFIX}/{sha256}.qz"))
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn blob_meta(meta: object_store::ObjectMeta) -> Option<BlobMeta> {
    let name = meta.location.filename()?.strip_suffix(".qz")?;
    is_sha256(name).then(|| BlobMeta {
        sha256: name.to_owned(),
        size: meta.size,
        modified: meta.last_modified.into(),
    })
}

/// An S3 bucket from `s3://<bucket>?endpoint=<url>&region=<region>`: credentials and anything
/// the URL does not say come from the usual `AWS_*` variables.
fn s3_builder(url: &str) -> Result<AmazonS3Builder, BlobError> {
    let unsupported = || BlobError::Unsupported(url.to_owned());
    let rest = url.strip_prefix("s3://").ok_or_else(unsupported)?;
    let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
    let bucket = bucket.trim_end_matches('/');
    if bucket.is_empty() || bucket.contains('/') {
        return Err(unsupported());
    }
    // A request may take up to five minutes (object_store's default is 30 s): a part upload
    // to a busy store that is slow but progressing is not cut off and sent again, which
    // some stores answer with errors for the rest of the upload.
    let mut builder = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_config(
            object_store::aws::AmazonS3ConfigKey::Client(object_store::ClientConfigKey::Timeout),
            "300s",
        );
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or_else(unsupported)?;
        builder = match name {
            "endpoint" => builder
                .with_allow_http(value.starts_with("http://"))
                .with_endpoint(value),
            "region" => builder.with_region(value),
            _ => return Err(unsupported()),
        };
    }
    Ok(builder)
}

impl ObjectBlobStore {
    /// Opens the store named by `url` (`file://<folder>` or
    /// `s3://<bucket>?endpoint=<url>&region=<region>`); `cache` keeps local copies of remote
    /// blobs.
    pub fn open(url: &str, cache: ReadCache) -> Result<Self, BlobError> {
        if url.starts_with("s3://") {
            return Self::s3(s3_builder(url)?, cache);
        }
        let Some(folder) = url.strip_prefix("file://") else {
            return Err(BlobError::Unsupported(url.to_owned()));
        };
        std::fs::create_dir_all(Path::new(folder).join(PREFIX))
            .map_err(io_err(format!("creating {folder}")))?;
        let local = Arc::new(LocalFileSystem::new_with_prefix(folder)?);
        Ok(ObjectBlobStore {
            store: local.clone(),
            local: Some(local),
            direct: None,
            cache,
        })
    }

    /// A store over any `object_store` backend; blobs are uploaded on adopt, in parts.
    pub fn remote(store: Arc<dyn ObjectStore>, cache: ReadCache) -> Self {
        ObjectBlobStore {
            store,
            local: None,
            direct: None,
            cache,
        }
    }

    /// The S3 bucket `builder` describes; whole blobs go up in one `PUT` (see [`put`]).
    pub fn s3(builder: AmazonS3Builder, cache: ReadCache) -> Result<Self, BlobError> {
        let s3 = Arc::new(builder.clone().build()?);
        let direct = put::DirectPut::new(s3.clone(), &builder).map(Arc::new);
        if direct.is_none() {
            tracing::info!(
                "bundles go to S3 as multipart uploads: the AWS_* settings ask for headers \
                 (encryption, checksums, requester pays, S3 Express or no signature) that only \
                 object_store's own uploads send"
            );
        }
        let store: Arc<AmazonS3> = s3;
        Ok(ObjectBlobStore {
            store,
            local: None,
            direct,
            cache,
        })
    }

    /// How bundles enter this store, for operators (`q8s-server check`, the start's log).
    pub fn uploads(&self) -> &'static str {
        match (&self.local, &self.direct) {
            (Some(_), _) => "bundles are renamed into the folder",
            (None, Some(_)) => "bundles go up in one PUT each, signed with their sha256",
            (None, None) => "bundles go up as multipart uploads",
        }
    }

    /// Writes a small object beside the bundles (`probes/…`, never taken for a blob), through
    /// the same signed `PUT` as bundles where they use one, reads it back and deletes it: what
    /// `q8s-server check` asks of a store.
    pub async fn probe(&self) -> Result<(), BlobError> {
        let nonce = uuid::Uuid::new_v4();
        let location = ObjectPath::from(format!("probes/{nonce}"));
        let body = format!("q8s-server check {nonce}");
        match &self.direct {
            Some(direct) => {
                let digest = q8s_core::archive::ArchiveDigest::of(body.as_bytes());
                let payload = reqwest::Body::from(body.clone());
                direct
                    .put(&location, &digest.hex(), digest.len, payload)
                    .await?;
            }
            None => {
                let payload = PutPayload::from(body.clone().into_bytes());
                self.store.put(&location, payload).await?;
            }
        }
        let read = self.store.get(&location).await;
        let deleted = self.store.delete(&location).await;
        let read = read?.bytes().await?;
        deleted?;
        if read != body.as_bytes() {
            return Err(BlobError::Io {
                context: "reading the probe object back".into(),
                source: io::Error::other("it came back with other bytes"),
            });
        }
        Ok(())
    }

    /// Streams `file`, whose sha256 is `sha256`, to the bucket: one `PUT` where it can, else
    /// one request when small or a multipart upload that holds at most a few parts in memory.
    async fn upload(&self, sha256: &str, file: &Path) -> Result<(), BlobError> {
        use tokio::io::AsyncReadExt;
        let location = &key(sha256);
        let mut reader = tokio::fs::File::open(file)
            .await
            .map_err(io_err("opening the upload"))?;
        let size = reader
            .metadata()
            .await
            .map_err(io_err("opening the upload"))?
            .len();
        if let Some(direct) = &self.direct
            && size <= put::MAX_SIZE
        {
            return direct.put_file(location, sha256, reader, size).await;
        }
        if size < PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            reader
                .read_to_end(&mut bytes)
                .await
                .map_err(io_err("reading the upload"))?;
            self.store.put(location, PutPayload::from(bytes)).await?;
            return Ok(());
        }
        let mut upload = WriteMultipart::new_with_chunk_size(
            self.store.put_multipart(location).await?,
            PART_SIZE,
        );
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(io_err("reading the upload")(e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = upload.wait_for_capacity(2).await {
                let _ = upload.abort().await;
                return Err(e.into());
            }
            upload.write(&buf[..n]);
        }
        upload.finish().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobStore for ObjectBlobStore {
    fn begin(&self, sha256: &str, size: Option<u64>) -> Option<EarlyUpload> {
        if self.local.is_some() || !is_sha256(sha256) {
            return None;
        }
        match (&self.direct, size) {
            (Some(direct), Some(size @ 1..=put::MAX_SIZE)) => {
                Some(EarlyUpload::put(direct.clone(), key(sha256), sha256, size))
            }
            _ => Some(EarlyUpload::parts(self.store.clone(), key(sha256), sha256)),
        }
    }

    async fn adopt(
        &self,
        sha256: &str,
        file: TempPath,
        early: Option<EarlyUpload>,
    ) -> Result<(), BlobError> {
        let location = key(sha256);
        if let Some(local) = &self.local {
            let target = local.path_to_filesystem(&location)?;
            // The rename makes this file the blob: its bytes reach the disk first (the spool
            // leaves that to the store, as a bucket does not need it).
            let path = file.to_path_buf();
            tokio::task::spawn_blocking(move || std::fs::File::open(path)?.sync_all())
                .await
                .map_err(|e| io_err("syncing the upload")(io::Error::other(e)))?
                .map_err(io_err("syncing the upload"))?;
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
        let early = early.filter(|e| e.sha256() == sha256);
        let uploaded = match early {
            Some(early) => early.complete().await.inspect_err(|e| {
                tracing::warn!(
                    sha256,
                    "the upload begun early failed ({e}); uploading again"
                );
            }),
            None => Err(BlobError::NotFound(sha256.into())),
        };
        if uploaded.is_err() {
            self.upload(sha256, &file).await?;
        }
        // The verified bytes are already here: this replica will not fetch them again.
        self.cache.seed(sha256, file).await;
        Ok(())
    }

    async fn read(&self, sha256: &str) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError> {
        match self.store.get(&key(sha256)).await {
            Ok(result) => Ok(result.into_stream().map_err(io::Error::other).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(sha256.into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_entry(&self, sha256: &str, entry: &str) -> Result<Vec<u8>, BlobError> {
        let failed = |message: String| BlobError::Entry {
            sha256: sha256.to_owned(),
            entry: entry.to_owned(),
            message,
        };
        let name = entry.to_owned();
        let read = if self.local.is_some() {
            let path = self.local_path(sha256).await?;
            tokio::task::spawn_blocking(move || {
                let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                read_one(io::BufReader::new(file), &name)
            })
            .await
        } else {
            let location = key(sha256);
            let size = match self.store.head(&location).await {
                Ok(meta) => meta.size,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(BlobError::NotFound(sha256.into()));
                }
                Err(e) => return Err(e.into()),
            };
            let reader = range::RangeReader::new(self.store.clone(), location, size);
            tokio::task::spawn_blocking(move || read_one(reader, &name)).await
        };
        read.map_err(|e| failed(e.to_string()))?.map_err(failed)
    }

    async fn local_path(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        if let Some(local) = &self.local {
            let path = local.path_to_filesystem(&key(sha256))?;
            return match tokio::fs::metadata(&path).await {
                Ok(_) => Ok(path),
                Err(_) => Err(BlobError::NotFound(sha256.into())),
            };
        }
        self.cache.get(sha256, || self.read(sha256)).await
    }

    async fn delete(&self, sha256: &str) -> Result<(), BlobError> {
        self.cache.remove(sha256).await;
        match self.store.delete(&key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobMeta>, BlobError> {
        let prefix = ObjectPath::from(PREFIX);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(metas.into_iter().filter_map(blob_meta).collect())
    }

    async fn meta(&self, sha256: &str) -> Result<BlobMeta, BlobError> {
        match self.store.head(&key(sha256)).await {
            Ok(meta) => blob_meta(meta).ok_or_else(|| BlobError::NotFound(sha256.into())),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(sha256.into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn check(&self) -> Result<(), BlobError> {
        let prefix = ObjectPath::from(PREFIX);
        self.store.list_with_delimiter(Some(&prefix)).await?;
        Ok(())
    }
}

/// The file `name` of the bundle in `reader`, through core's strict reader.
fn read_one(reader: impl io::Read + io::Seek, name: &str) -> Result<Vec<u8>, String> {
    let mut archive = QzReader::open(reader, Limits::default()).map_err(|e| e.to_string())?;
    archive.read(name).map_err(|e| e.to_string())
}

async fn sync_dir(dir: &Path) {
    let dir = dir.to_owned();
    let _ =
        tokio::task::spawn_blocking(move || std::fs::File::open(dir).and_then(|d| d.sync_all()))
            .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream::Stream;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, String>> + Send {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn local_store_adopts_by_rename_and_lists_keys() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let url = format!("file://{}", dir.path().join("blobs").display());
        let cache = ReadCache::new(dir.path().join("cache"), 1 << 20);
        let blobs = ObjectBlobStore::open(&url, cache).unwrap();
        let spooled = spool_upload(chunks(&[b"bundle"]), &tmp, 100, None)
            .await
            .unwrap();
        let sha = spooled.sha256.clone();
        assert!(
            blobs.begin(&sha, Some(6)).is_none(),
            "a folder adopts by rename"
        );
        blobs.adopt(&sha, spooled.file, None).await.unwrap();
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        let listed: Vec<_> = blobs
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.sha256)
            .collect();
        assert_eq!(listed, vec![sha.clone()]);
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

    #[test]
    fn s3_urls_name_a_bucket_and_only_known_keys() {
        let cache = || ReadCache::new(PathBuf::from("/nonexistent"), 0);
        for good in [
            "s3://bundles?endpoint=http://127.0.0.1:9000&region=us-east-1",
            "s3://bundles?region=eu-west-1",
            "s3://bundles/",
        ] {
            assert!(ObjectBlobStore::open(good, cache()).is_ok(), "{good}");
        }
        for bad in [
            "s3://",
            "s3://?region=us-east-1",
            "s3://bundles/sub/dir",
            "s3://bundles?colour=blue",
            "s3://bundles?endpoint",
            "gs://bundles",
            "/var/lib/q8s/blobs",
        ] {
            let err = ObjectBlobStore::open(bad, cache()).unwrap_err();
            assert!(matches!(err, BlobError::Unsupported(_)), "{bad}: {err}");
        }
    }
}
