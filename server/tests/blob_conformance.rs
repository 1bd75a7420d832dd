//! The `BlobStore` conformance suite: what the rest of the server relies on from a bundle
//! store, run against every implementation — a local folder (`file://`, adoption by rename),
//! `object_store`'s in-memory store and a real S3 server (moto's, started by test support; the
//! test fails when moto is not installed). The last two take the remote path: uploads (one
//! signed `PUT` on S3, a multipart upload on the in-memory store), uploads begun while the body
//! arrives, range reads of single files, a local read cache checked against sha256.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStore;
use q8s_server::blob::{BlobError, BlobStore, ObjectBlobStore, ReadCache, spool_upload};
use q8s_testing::s3::{CREDENTIALS, MotoServer};

/// Opens another store over the same blobs with its cache in the given folder and limit: what
/// another replica sees.
type Replica = Box<dyn Fn(PathBuf, u64) -> Arc<dyn BlobStore> + Send + Sync>;

/// One implementation under test, with the folders it uses.
struct Subject {
    name: &'static str,
    store: Arc<dyn BlobStore>,
    /// Whether blobs live elsewhere (the local path is a cached copy).
    remote: bool,
    replica: Replica,
    /// Where uploads are spooled (the server's `tmp/`).
    spool: PathBuf,
    /// The store's read cache.
    cache: PathBuf,
    dir: tempfile::TempDir,
    _moto: Option<MotoServer>,
}

const CACHE_LIMIT: u64 = 1 << 30;

fn s3_backend(moto: &MotoServer) -> object_store::aws::AmazonS3Builder {
    let mut builder = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&moto.bucket)
        .with_endpoint(moto.endpoint())
        .with_allow_http(true);
    for (name, value) in CREDENTIALS {
        builder = builder.with_config(name.to_ascii_lowercase().parse().unwrap(), value);
    }
    builder
}

fn subjects() -> Vec<Subject> {
    let local = {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("blobs").display());
        let open = move |cache: PathBuf, limit| -> Arc<dyn BlobStore> {
            Arc::new(ObjectBlobStore::open(&url, ReadCache::new(cache, limit)).unwrap())
        };
        subject("local folder", false, Box::new(open), dir, None)
    };
    let memory = {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let open = move |cache: PathBuf, limit| -> Arc<dyn BlobStore> {
            Arc::new(ObjectBlobStore::remote(
                backend.clone(),
                ReadCache::new(cache, limit),
            ))
        };
        subject("in-memory object store", true, Box::new(open), dir, None)
    };
    let s3 = {
        let dir = tempfile::tempdir().unwrap();
        let moto = MotoServer::start();
        let backend = s3_backend(&moto);
        let open = move |cache: PathBuf, limit| -> Arc<dyn BlobStore> {
            let cache = ReadCache::new(cache, limit);
            Arc::new(ObjectBlobStore::s3(backend.clone(), cache).unwrap())
        };
        subject("S3 (moto)", true, Box::new(open), dir, Some(moto))
    };
    vec![local, memory, s3]
}

fn subject(
    name: &'static str,
    remote: bool,
    replica: Replica,
    dir: tempfile::TempDir,
    moto: Option<MotoServer>,
) -> Subject {
    let spool = dir.path().join("tmp");
    std::fs::create_dir_all(&spool).unwrap();
    let cache = dir.path().join("cache");
    Subject {
        name,
        store: replica(cache.clone(), CACHE_LIMIT),
        remote,
        replica,
        spool,
        cache,
        dir,
        _moto: moto,
    }
}

fn keys(list: Vec<q8s_server::blob::BlobMeta>) -> Vec<String> {
    list.into_iter().map(|m| m.sha256).collect()
}

/// Spools `bytes` as an upload and adopts it; returns its sha256.
async fn put(s: &Subject, bytes: Vec<u8>) -> String {
    put_into(s.store.as_ref(), &s.spool, bytes).await
}

async fn put_into(store: &dyn BlobStore, spool: &Path, bytes: Vec<u8>) -> String {
    let body = futures::stream::iter(
        bytes
            .chunks(1 << 20)
            .map(|c| Ok::<_, String>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let spooled = spool_upload(body, spool, u64::MAX, None).await.unwrap();
    let sha = spooled.sha256.clone();
    store.adopt(&sha, spooled.file, None).await.unwrap();
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
        assert!(keys(s.store.list().await.unwrap()).is_empty(), "{}", s.name);
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
            keys(s.store.list().await.unwrap()),
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
        if s.remote {
            // The importing replica keeps the verified upload as its cached copy.
            assert!(path.starts_with(&s.cache), "{}: {}", s.name, path.display());
        }
        // A second local_path is the same file (cached, not fetched again into a new one).
        assert_eq!(s.store.local_path(&sha).await.unwrap(), path, "{}", s.name);
    }
}

/// Chunks of a body, as the import receives them.
fn body_of(bytes: &[u8]) -> impl futures::Stream<Item = Result<Bytes, String>> + Send + use<> {
    let chunks: Vec<_> = bytes
        .chunks(400 << 10)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

/// A declared upload begun while the body arrives is stored once adopted, byte for byte.
#[tokio::test]
async fn an_upload_begun_early_is_stored_once_adopted() {
    for s in subjects() {
        let bytes: Vec<u8> = (0..(9 << 20) + 777).map(|i| (i * 7 % 253) as u8).collect();
        let sha = q8s_core::archive::ArchiveDigest::of_reader(&bytes[..])
            .unwrap()
            .hex();
        let early = s.store.begin(&sha, Some(bytes.len() as u64));
        assert_eq!(early.is_some(), s.remote, "{}", s.name);
        let spooled = spool_upload(body_of(&bytes), &s.spool, u64::MAX, early)
            .await
            .unwrap();
        assert_eq!(spooled.sha256, sha);
        s.store
            .adopt(&sha, spooled.file, spooled.early)
            .await
            .unwrap();
        assert!(read_all(&s, &sha).await == bytes, "{}", s.name);
    }
}

/// The attack an early upload must stand: bytes that are not the blob they declare (another
/// user's bundle, say) are sent in full and then refused. Nothing may appear or change under
/// the declared key, even after the store had every byte it was sent for a while.
#[tokio::test]
async fn an_early_upload_that_is_not_adopted_leaves_the_declared_key_untouched() {
    for s in subjects().into_iter().filter(|s| s.remote) {
        let victim: Vec<u8> = (0..(6 << 20) + 5).map(|i| (i * 13 % 241) as u8).collect();
        let liar: Vec<u8> = victim.iter().map(|b| b ^ 0x5a).collect();
        let declared = q8s_core::archive::ArchiveDigest::of_reader(&victim[..])
            .unwrap()
            .hex();
        for stored_before in [false, true] {
            if stored_before {
                assert_eq!(put(&s, victim.clone()).await, declared);
            }
            let early = s.store.begin(&declared, Some(liar.len() as u64));
            let spooled = spool_upload(body_of(&liar), &s.spool, u64::MAX, early)
                .await
                .unwrap();
            assert_ne!(spooled.sha256, declared);
            // What the import does next is refuse it; first let the store take what it got.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            drop(spooled);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let other = (s.replica)(s.dir.path().join("attack-cache"), CACHE_LIMIT);
            match other.read(&declared).await {
                Err(BlobError::NotFound(_)) if !stored_before => {}
                Ok(stream) if stored_before => {
                    let read: Vec<Bytes> = stream.try_collect().await.unwrap();
                    assert!(
                        read.concat() == victim,
                        "{}: the blob was overwritten",
                        s.name
                    );
                }
                Ok(_) => panic!("{}: the refused bytes were stored", s.name),
                Err(e) => panic!("{}: {e}", s.name),
            }
        }
    }
}

#[tokio::test]
async fn adopting_the_same_content_twice_keeps_one_blob() {
    for s in subjects() {
        let first = put(&s, b"same bundle".to_vec()).await;
        let second = put(&s, b"same bundle".to_vec()).await;
        assert_eq!(first, second);
        assert_eq!(
            keys(s.store.list().await.unwrap()),
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
            keys(s.store.list().await.unwrap()),
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
        let mut listed = keys(s.store.list().await.unwrap());
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

fn cached_copies(dir: &Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".qz"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.metadata().unwrap().len())
        })
        .collect()
}

#[tokio::test]
async fn the_listing_says_each_blobs_size_and_when_it_was_written() {
    for s in subjects() {
        let before = SystemTime::now() - Duration::from_secs(5);
        let sha = put(&s, vec![7; 4321]).await;
        let listed = s.store.list().await.unwrap();
        assert_eq!(listed.len(), 1, "{}", s.name);
        assert_eq!(listed[0].sha256, sha, "{}", s.name);
        assert_eq!(listed[0].size, 4321, "{}", s.name);
        assert!(listed[0].modified > before, "{}: {:?}", s.name, listed[0]);
        assert_eq!(s.store.meta(&sha).await.unwrap(), listed[0], "{}", s.name);
        assert!(
            matches!(s.store.meta(UNKNOWN).await, Err(BlobError::NotFound(_))),
            "{}",
            s.name
        );
    }
}

/// The icon of a real bundle, padded to several MiB by a file it does not use, read on another
/// replica: the bytes are the icon's, and no copy of the bundle was fetched for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_file_is_read_without_fetching_the_bundle() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("app");
    q8s_testing::fs::copy_dir(&q8s_testing::apps::hello(), &dir);
    // Pseudo-random, so compression does not shrink it.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..(6 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(dir.join("noise.bin"), &noise).unwrap();
    let (_out, bundle) = q8s_testing::apps::bundle_dir(&dir);
    let bytes = std::fs::read(&bundle).unwrap();
    assert!(bytes.len() > 5 << 20, "the bundle is not padded");
    let icon = std::fs::read(dir.join("static/icon.png")).unwrap();
    for s in subjects() {
        let sha = put(&s, bytes.clone()).await;
        let other_cache = s.dir.path().join("other-cache");
        let other = (s.replica)(other_cache.clone(), CACHE_LIMIT);
        let entry = other.read_entry(&sha, "static/icon.png").await.unwrap();
        assert!(entry == icon, "{}: not the icon", s.name);
        assert_eq!(
            cached_copies(&other_cache),
            vec![],
            "{}: the whole bundle was fetched to read one file",
            s.name
        );
        let missing = other.read_entry(&sha, "no-such-file.png").await;
        assert!(
            matches!(missing, Err(BlobError::Entry { .. })),
            "{}: {missing:?}",
            s.name
        );
        assert!(
            matches!(
                other.read_entry(UNKNOWN, "static/icon.png").await,
                Err(BlobError::NotFound(_))
            ),
            "{}",
            s.name
        );
    }
}

/// A replica's copy damaged on disk is not handed out: it is fetched again.
#[tokio::test]
async fn a_cached_copy_that_changed_is_fetched_again() {
    for s in subjects().into_iter().filter(|s| s.remote) {
        let bytes = vec![42u8; 300_000];
        let sha = put(&s, bytes.clone()).await;
        let other_cache = s.dir.path().join("other-cache");
        let other = (s.replica)(other_cache.clone(), CACHE_LIMIT);
        let path = other.local_path(&sha).await.unwrap();
        assert!(path.starts_with(&other_cache), "{}", s.name);
        let mut damaged = bytes.clone();
        damaged[1234] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let again = other.local_path(&sha).await.unwrap();
        assert!(
            std::fs::read(&again).unwrap() == bytes,
            "{}: a damaged copy was handed out",
            s.name
        );
    }
}

/// The read cache keeps at most its limit: the least recently used copies go first, the one
/// handed out stays.
#[tokio::test]
async fn the_read_cache_stays_within_its_limit() {
    for s in subjects().into_iter().filter(|s| s.remote) {
        let limit = 2_500_000;
        let other_cache = s.dir.path().join("other-cache");
        let other = (s.replica)(other_cache.clone(), limit);
        let mut shas = Vec::new();
        for n in 0..4u8 {
            shas.push(put(&s, vec![n; 1_000_000]).await);
        }
        for sha in &shas {
            other.local_path(sha).await.unwrap();
        }
        // The first is used again: it is now the most recent and the second goes next.
        other.local_path(&shas[0]).await.unwrap();
        other.local_path(&shas[3]).await.unwrap();
        let copies = cached_copies(&other_cache);
        let total: u64 = copies.iter().map(|c| c.1).sum();
        assert!(total <= limit, "{}: {copies:?}", s.name);
        let names: Vec<_> = copies.iter().map(|c| c.0.clone()).collect();
        assert!(
            names.contains(&format!("{}.qz", shas[3])),
            "{}: {names:?}",
            s.name
        );
        // A copy larger than the whole cache is still handed out (the runtime needs it).
        let big = put(&s, vec![9; 3_000_000]).await;
        let path = other.local_path(&big).await.unwrap();
        assert_eq!(
            std::fs::metadata(path).unwrap().len(),
            3_000_000,
            "{}",
            s.name
        );
        assert_eq!(cached_copies(&other_cache).len(), 1, "{}", s.name);
    }
}
