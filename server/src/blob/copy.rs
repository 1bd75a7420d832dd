//! Copying a blob from one store to another (`q8s-server migrate-data`): streamed as a
//! multipart upload (never the whole bundle in memory), hashed on the way and completed only
//! when the bytes are what the key says, then read back from the target and hashed again. A
//! multipart upload that is not completed leaves nothing visible, so an interrupted copy is
//! simply done again by the next run, and a blob already in the target is skipped.

use futures::StreamExt;
use object_store::{ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use super::{BlobError, BlobStore, ObjectBlobStore, PART_SIZE, key};

/// What [`ObjectBlobStore::copy_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// The target had the blob (same size) already: nothing was sent.
    AlreadyThere,
    /// Copied and checked: this many bytes.
    Bytes(u64),
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl ObjectBlobStore {
    /// Copies the blob `sha256` of `source` into this store unless it is here already;
    /// [`BlobError::Corrupt`] (and nothing kept) when the bytes do not hash to `sha256`, read
    /// from the source or back from this store.
    pub async fn copy_from(
        &self,
        source: &ObjectBlobStore,
        sha256: &str,
    ) -> Result<Copied, BlobError> {
        let size = source.meta(sha256).await?.size;
        if self.meta(sha256).await.is_ok_and(|here| here.size == size) {
            return Ok(Copied::AlreadyThere);
        }
        let location = key(sha256);
        let mut stream = match source.store.get(&location).await {
            Ok(result) => result.into_stream(),
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::NotFound(sha256.into()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut upload = WriteMultipart::new_with_chunk_size(
            self.store.put_multipart(&location).await?,
            PART_SIZE,
        );
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(e.into());
                }
            };
            if let Err(e) = upload.wait_for_capacity(2).await {
                let _ = upload.abort().await;
                return Err(e.into());
            }
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            upload.write(&chunk);
        }
        let actual = hex(&hasher.finalize());
        if actual != sha256 {
            let _ = upload.abort().await;
            return Err(BlobError::Corrupt {
                sha256: sha256.into(),
                actual,
            });
        }
        upload.finish().await?;
        let back = self.hash_of(sha256).await?;
        if back != sha256 {
            self.delete(sha256).await?;
            return Err(BlobError::Corrupt {
                sha256: sha256.into(),
                actual: back,
            });
        }
        Ok(Copied::Bytes(bytes))
    }

    /// The sha256 of the blob stored under `sha256`, read whole.
    async fn hash_of(&self, sha256: &str) -> Result<String, BlobError> {
        let mut stream = self.read(sha256).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(super::io_err("reading the copy back"))?);
        }
        Ok(hex(&hasher.finalize()))
    }
}
