//! Uploads spooled to a temporary file while they are hashed and counted: only a verified
//! file is adopted into the store.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tempfile::TempPath;

use super::EarlyUpload;

/// An upload spooled to a temporary file: removed when dropped unless adopted.
#[derive(Debug)]
pub struct Spooled {
    /// The temporary file.
    pub file: TempPath,
    /// Lowercase hex sha256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// The upload to the store begun while the body arrived, if any: completed on adoption,
    /// aborted when dropped.
    pub early: Option<EarlyUpload>,
    /// How long the body took to arrive, be hashed and be written.
    pub took: Duration,
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
/// stays bounded by a few chunks. The file is not synced to disk: a store that keeps the file
/// itself syncs it when it adopts it (a folder), while a bucket's copy is durable once uploaded
/// and the read cache re-checks its copies (syncing 200 MB here took ~0.35 s). Each chunk also
/// goes to `early`, when given (an upload to the store begun for a declared sha256).
pub async fn spool_upload<S, E>(
    body: S,
    dir: &Path,
    limit: u64,
    mut early: Option<EarlyUpload>,
) -> Result<Spooled, SpoolError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let start = Instant::now();
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
        if let Some(early) = &mut early {
            early.feed(chunk.clone()).await;
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
    Ok(Spooled {
        file,
        sha256,
        size,
        early,
        took: start.elapsed(),
    })
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
        let spooled = spool_upload(chunks(&[b"hello ", b"world"]), dir.path(), 100, None)
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
        let err = spool_upload(chunks(&[b"12345", b"67890", b"x"]), dir.path(), 8, None)
            .await
            .unwrap_err();
        assert!(matches!(err, SpoolError::TooLarge { limit: 8 }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
