//! A replica's local copies of remote blobs, for the runtime (which unpacks a local file):
//! bounded in size (least recently used copies go first), and checked against their sha256
//! when fetched and again each time they are handed out, so a corrupt download or a copy
//! damaged on disk is fetched anew rather than used.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use tempfile::TempPath;

use super::{BlobError, io_err, spool_upload};

/// The default size limit of the read cache (4 GiB).
pub const DEFAULT_LIMIT: u64 = 4 << 30;

/// Local copies of remote blobs in a folder, at most `limit` bytes of them (the copy being
/// handed out stays even when it alone is larger).
#[derive(Debug)]
pub struct ReadCache {
    dir: PathBuf,
    limit: u64,
    /// Held while evicting, so two evictions do not count the same files.
    evicting: tokio::sync::Mutex<()>,
}

impl ReadCache {
    /// A cache in `dir` (created when first needed) of at most `limit` bytes.
    pub fn new(dir: PathBuf, limit: u64) -> Self {
        ReadCache {
            dir,
            limit,
            evicting: tokio::sync::Mutex::new(()),
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.qz"))
    }

    /// The checked local copy of `sha256`, fetched with `fetch` when there is none (or the one
    /// there no longer has that hash).
    pub async fn get<'a, F, Fut>(&'a self, sha256: &str, fetch: F) -> Result<PathBuf, BlobError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<BoxStream<'static, io::Result<Bytes>>, BlobError>> + 'a,
    {
        let path = self.path(sha256);
        if tokio::fs::metadata(&path).await.is_ok() {
            match hash_file(path.clone()).await {
                Ok(actual) if actual == sha256 => {
                    touch(&path);
                    return Ok(path);
                }
                Ok(actual) => {
                    tracing::warn!(%sha256, %actual, "a cached bundle changed on disk; fetching it again");
                    let _ = tokio::fs::remove_file(&path).await;
                }
                Err(e) => {
                    tracing::warn!(%sha256, error = %e, "a cached bundle cannot be read; fetching it again");
                    let _ = tokio::fs::remove_file(&path).await;
                }
            }
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io_err("creating the blob cache"))?;
        let stream = fetch().await?;
        let spooled = spool_upload(stream, &self.dir, u64::MAX, None)
            .await
            .map_err(|e| BlobError::Io {
                context: "caching a bundle".into(),
                source: io::Error::other(e.to_string()),
            })?;
        if spooled.sha256 != sha256 {
            return Err(BlobError::Corrupt {
                sha256: sha256.to_owned(),
                actual: spooled.sha256,
            });
        }
        spooled.file.persist(&path).map_err(|e| BlobError::Io {
            context: "caching a bundle".into(),
            source: e.error,
        })?;
        self.evict(sha256).await;
        Ok(path)
    }

    /// Keeps `file`, whose sha256 the caller checked, as the copy of `sha256` (nothing when it
    /// cannot be moved there: the copy is then fetched when needed).
    pub async fn seed(&self, sha256: &str, file: TempPath) {
        if tokio::fs::create_dir_all(&self.dir).await.is_err() {
            return;
        }
        if file.persist(self.path(sha256)).is_ok() {
            self.evict(sha256).await;
        }
    }

    /// Drops the copy of `sha256`, if any.
    pub async fn remove(&self, sha256: &str) {
        let _ = tokio::fs::remove_file(self.path(sha256)).await;
    }

    /// Removes the least recently used copies other than `keep` until the rest fit the limit.
    async fn evict(&self, keep: &str) {
        let _evicting = self.evicting.lock().await;
        let (dir, limit, keep) = (self.dir.clone(), self.limit, format!("{keep}.qz"));
        let _ = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut copies = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".qz") {
                    continue;
                }
                let meta = entry.metadata()?;
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                copies.push((used, meta.len(), name));
            }
            let mut total: u64 = copies.iter().map(|c| c.1).sum();
            copies.sort();
            for (_, size, name) in copies {
                if total <= limit {
                    break;
                }
                if name != keep && std::fs::remove_file(dir.join(&name)).is_ok() {
                    tracing::debug!(%name, "evicted from the blob cache");
                    total -= size;
                }
            }
            Ok(())
        })
        .await;
    }
}

/// Marks a copy as just used (its modification time orders eviction).
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// The lowercase hex sha256 of a file's bytes.
async fn hash_file(path: PathBuf) -> io::Result<String> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    })
    .await
    .map_err(io::Error::other)?
}
