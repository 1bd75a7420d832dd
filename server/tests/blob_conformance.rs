//! The `BlobStore` conformance suite: what the rest of the server relies on from a bundle
//! store, run against every implementation — a local folder (`file://`, adoption by rename) and
//! `object_store`'s in-memory store (the remote path: multipart upload, a local read cache),
//! which stands in for S3 until a real S3 server joins the list.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use q8s_server::blob::{BlobError, BlobStore, ObjectBlobStore, spool_upload};

/// One implementation under test, with the folders it uses.
struct Subject {
    name: &'static str,
    store: Arc<dyn BlobStore>,
    /// Where uploads are spooled (the server's `tmp/`).
    spool: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn subjects() -> Vec<Subject> {
    let local = {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("blobs").display());
        let store = ObjectBlobStore::open(&url, dir.path().join("cache")).unwrap();
        subject("local folder", Arc::new(store), dir)
    };
    let memory = {
        let dir = tempfile::tempdir().unwrap();
        let remote = Arc::new(object_store::memory::InMemory::new());
        let store = ObjectBlobStore::remote(remote, dir.path().join("cache"));
        subject("in-memory object store", Arc::new(store), dir)
    };
    vec![local, memory]
}

fn subject(name: &'static str, store: Arc<dyn BlobStore>, dir: tempfile::TempDir) -> Subject {
    let spool = dir.path().join("tmp");
    std::fs::create_dir_all(&spool).unwrap();
    Subject {
        name,
        store,
        spool,
        _dir: dir,
    }
}

/// Spools `bytes` as an upload and adopts it; returns its sha256.
async fn put(s: &Subject, bytes: Vec<u8>) -> String {
    let body = futures::stream::iter(
        bytes
            .chunks(1 << 20)
            .map(|c| Ok::<_, String>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let spooled = spool_upload(body, &s.spool, u64::MAX).await.unwrap();
    let sha = spooled.sha256.clone();
    s.store.adopt(&sha, spooled.file).await.unwrap();
    sha
}

async fn read_all(s: &Subject, sha: &str) -> Vec<u8> {
    let parts: Vec<Bytes> = s
        .store
        .read(sha)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    parts.concat()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

const UNKNOWN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn an_empty_store_answers_not_found_and_deletes_nothing_quietly() {
    for s in subjects() {
        s.store.check().await.unwrap();
        assert!(s.store.list().await.unwrap().is_empty(), "{}", s.name);
        assert!(
            matches!(s.store.read(UNKNOWN).await, Err(BlobError::NotFound(_))),
            "{}",
            s.name
        );
        assert!(
            matches!(
                s.store.local_path(UNKNOWN).await,
                Err(BlobError::NotFound(_))
            ),
            "{}",
            s.name
        );
        s.store.delete(UNKNOWN).await.unwrap();
    }
}

#[tokio::test]
async fn an_adopted_blob_reads_back_byte_for_byte_and_its_upload_is_gone() {
    for s in subjects() {
        // Larger than one multipart part (8 MiB), not a multiple of it.
        let bytes: Vec<u8> = (0..(9 << 20) + 12345)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let sha = put(&s, bytes.clone()).await;
        assert_eq!(
            files_in(&s.spool),
            0,
            "{}: the spooled upload is left",
            s.name
        );
        assert_eq!(
            s.store.list().await.unwrap(),
            vec![sha.clone()],
            "{}",
            s.name
        );
        assert!(read_all(&s, &sha).await == bytes, "{}: read", s.name);
        let path = s.store.local_path(&sha).await.unwrap();
        assert!(
            std::fs::read(&path).unwrap() == bytes,
            "{}: local path",
            s.name
        );
        // A second local_path is the same file (cached, not fetched again into a new one).
        assert_eq!(s.store.local_path(&sha).await.unwrap(), path, "{}", s.name);
    }
}

#[tokio::test]
async fn adopting_the_same_content_twice_keeps_one_blob() {
    for s in subjects() {
        let first = put(&s, b"same bundle".to_vec()).await;
        let second = put(&s, b"same bundle".to_vec()).await;
        assert_eq!(first, second);
        assert_eq!(
            s.store.list().await.unwrap(),
            vec![first.clone()],
            "{}",
            s.name
        );
        assert_eq!(read_all(&s, &first).await, b"same bundle", "{}", s.name);
    }
}

#[tokio::test]
async fn a_deleted_blob_is_gone_from_every_view_and_others_stay() {
    for s in subjects() {
        let gone = put(&s, b"first".to_vec()).await;
        let kept = put(&s, b"second".to_vec()).await;
        s.store.local_path(&gone).await.unwrap(); // cached where the store caches
        s.store.delete(&gone).await.unwrap();
        assert_eq!(
            s.store.list().await.unwrap(),
            vec![kept.clone()],
            "{}",
            s.name
        );
        assert!(
            matches!(s.store.read(&gone).await, Err(BlobError::NotFound(_))),
            "{}",
            s.name
        );
        assert!(
            matches!(s.store.local_path(&gone).await, Err(BlobError::NotFound(_))),
            "{}: a cached copy outlived the delete",
            s.name
        );
        assert_eq!(read_all(&s, &kept).await, b"second", "{}", s.name);
        s.store.delete(&gone).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adoptions_all_land() {
    for s in subjects() {
        let s = Arc::new(s);
        let puts = (0..16u8).map(|n| {
            let s = s.clone();
            tokio::spawn(async move { put(&s, vec![n; 1000 + usize::from(n)]).await })
        });
        let mut shas: Vec<String> = futures::future::try_join_all(puts).await.unwrap();
        shas.sort();
        let mut listed = s.store.list().await.unwrap();
        listed.sort();
        assert_eq!(listed, shas, "{}", s.name);
        for sha in &shas {
            let bytes = read_all(&s, sha).await;
            assert!(
                bytes.len() >= 1000 && bytes.iter().all(|&b| b == bytes[0]),
                "{}",
                s.name
            );
        }
    }
}
