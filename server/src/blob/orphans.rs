//! Blobs no app names: what a crash between storing a blob and committing its app leaves, what
//! a refused import stored, and a deleted app's bundle. They are removed only once they are
//! older than a grace period (`--blob-grace`): another replica may have just stored the same
//! bytes for an import it has not committed yet, and adopting identical bytes writes the blob
//! again, so its age counts from the newest import.

use std::time::{Duration, SystemTime};

use crate::error::ApiError;
use crate::store::{Catalog, StoreError};

use super::{BlobError, BlobMeta, BlobStore};

/// Why a clean-up stopped.
#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob store did not answer.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<OrphanError> for ApiError {
    fn from(e: OrphanError) -> Self {
        match e {
            OrphanError::Store(e) => e.into(),
            OrphanError::Blob(e) => e.into(),
        }
    }
}

/// Whether `blob` was last written more than `grace` ago.
fn past_grace(blob: &BlobMeta, grace: Duration) -> bool {
    SystemTime::now()
        .duration_since(blob.modified)
        .is_ok_and(|age| age > grace)
}

async fn remove_if_unused(
    catalog: &dyn Catalog,
    blobs: &dyn BlobStore,
    blob: &BlobMeta,
    grace: Duration,
) -> Result<bool, OrphanError> {
    if !past_grace(blob, grace) || catalog.bundle_in_use(&blob.sha256).await? {
        return Ok(false);
    }
    tracing::info!(sha256 = %blob.sha256, "removing a bundle no app refers to");
    blobs.delete(&blob.sha256).await?;
    Ok(true)
}

/// Removes the blob `sha256` if no app names it and it is older than `grace`; true when it
/// was removed. A younger one stays for [`remove_orphans`] to find later.
pub async fn remove_if_orphan(
    catalog: &dyn Catalog,
    blobs: &dyn BlobStore,
    sha256: &str,
    grace: Duration,
) -> Result<bool, OrphanError> {
    match blobs.meta(sha256).await {
        Ok(blob) => remove_if_unused(catalog, blobs, &blob, grace).await,
        Err(BlobError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes every blob no app names that is older than `grace`; returns how many.
pub async fn remove_orphans(
    catalog: &dyn Catalog,
    blobs: &dyn BlobStore,
    grace: Duration,
) -> Result<usize, OrphanError> {
    let mut removed = 0;
    for blob in blobs.list().await? {
        if remove_if_unused(catalog, blobs, &blob, grace).await? {
            removed += 1;
        }
    }
    Ok(removed)
}
