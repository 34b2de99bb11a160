//! One contract for the server's blob layer (`BlobStore`), checked on every store it runs
//! on: the local file system, memory, and an S3-compatible bucket. Written as
//! object_store's own integration suite is: each check is an async function taking a
//! store, and [`contract!`] calls every check once per backend (`local::…`, `memory::…`,
//! `s3::…`), so a behaviour the server relies on cannot hold on one backend and quietly
//! differ on another.
//!
//! The S3 case uses the bucket `scripts/with-s3.sh` starts (s3s-fs on 127.0.0.1), under a
//! key prefix of its own per test; without `FERRY_TEST_S3_*` it says that it skipped.
mod support;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ferry_backend::blobs::{BlobBackend, BlobStore, Put, StoredBlob};
use futures_util::{StreamExt, TryStreamExt, stream};
use support::{blob_backend, random_bytes, test_s3};

/// A store under test and what keeps it alive (its data directory, which also names its
/// key prefix in the bucket).
struct Backend {
    store: BlobStore,
    /// Whether writers racing for one key are told apart atomically. s3s-fs checks
    /// `If-None-Match: *` and then writes, so racing writers may all be told they
    /// created the object (AWS S3 and MinIO decide atomically).
    atomic_create: bool,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Backend {
    type Target = BlobStore;

    fn deref(&self) -> &BlobStore {
        &self.store
    }
}

fn local() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    Some(Backend {
        store,
        atomic_create: true,
        _dir: dir,
    })
}

fn memory() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    Some(Backend {
        store: BlobStore::in_memory(),
        atomic_create: true,
        _dir: dir,
    })
}

async fn s3() -> Option<Backend> {
    if test_s3().is_none() {
        println!("skipped: FERRY_TEST_S3_* unset (run under scripts/with-s3.sh)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let BlobBackend::S3(settings) = blob_backend(dir.path()) else {
        unreachable!("FERRY_TEST_S3_* is set")
    };
    let store = BlobStore::s3(&settings).await.unwrap();
    Some(Backend {
        store,
        atomic_create: false,
        _dir: dir,
    })
}

/// One `#[tokio::test]` per check and backend: `local::reads_are_byte_exact`, ….
macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test]
            async fn $check() {
                let Some(b) = super::local() else { return };
                super::$check(&b).await;
            })*
        }
        mod memory {
            $(#[tokio::test]
            async fn $check() {
                let Some(b) = super::memory() else { return };
                super::$check(&b).await;
            })*
        }
        mod s3 {
            $(#[tokio::test]
            async fn $check() {
                let Some(b) = super::s3().await else { return };
                super::$check(&b).await;
            })*
        }
    };
}

contract!(
    a_segment_is_created_once,
    reads_are_byte_exact,
    a_streamed_range_is_byte_exact,
    reading_what_is_missing_fails,
    list_names_each_share_once_with_its_newest_time,
    delete_removes_every_segment_and_the_blob,
    deleting_what_is_absent_is_ok,
    delete_leaves_a_share_whose_id_extends_the_deleted_one,
    size_is_the_blobs_length,
    concurrent_writers_of_one_segment_create_it_once,
);

const ID: &str = "AAAABBBBCCCCDDDDEEEEFF";

fn bytes(len: usize) -> Bytes {
    Bytes::from(random_bytes(len))
}

/// A payload in several pieces, as an upload hands a segment's chunks over.
fn pieces(data: &Bytes, piece: usize) -> object_store::PutPayload {
    (0..data.len())
        .step_by(piece)
        .map(|at| data.slice(at..(at + piece).min(data.len())))
        .collect()
}

async fn listed(store: &BlobStore) -> Vec<StoredBlob> {
    let mut list = store.list().await.unwrap();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    list
}

fn ids(list: &[StoredBlob]) -> Vec<&str> {
    list.iter().map(|b| b.id.as_str()).collect()
}

/// `put_segment` creates an object once; a second write of the index is told it exists
/// and leaves the first bytes in place.
async fn a_segment_is_created_once(store: &Backend) {
    let first = bytes(3000);
    let put = store.put_segment(ID, 0, pieces(&first, 1000)).await;
    assert_eq!(put.unwrap(), Put::Created);
    let second = bytes(3000);
    let again = store.put_segment(ID, 0, second.into()).await;
    assert_eq!(again.unwrap(), Put::Exists);
    let shorter = store.put_segment(ID, 0, bytes(10).into()).await;
    assert_eq!(shorter.unwrap(), Put::Exists);
    assert_eq!(store.segment(ID, 0).await.unwrap(), first);
    // Another index of the same share is its own object.
    let put = store.put_segment(ID, 1, bytes(5).into()).await;
    assert_eq!(put.unwrap(), Put::Created);
}

/// Whole segments and ranges of segments and of a blob come back byte for byte.
async fn reads_are_byte_exact(store: &Backend) {
    let data = bytes(10_000);
    store.put_segment(ID, 7, pieces(&data, 4096)).await.unwrap();
    assert_eq!(store.segment(ID, 7).await.unwrap(), data);
    for range in [
        0..10_000,
        0..1,
        1..4097,
        4095..4097,
        9_999..10_000,
        3..7_777,
    ] {
        let got = store.read_segment(ID, 7, range.clone()).await.unwrap();
        let want = &data[range.start as usize..range.end as usize];
        assert!(got == want, "segment range {range:?}");
    }
    let blob = bytes(5000);
    store.put_blob(ID, blob.clone().into()).await.unwrap();
    let got = store.read(ID, 1234..4321).await.unwrap();
    assert!(got == blob[1234..4321], "blob range");
    // A range past the end is an error or shorter, never padded: the download checks the
    // length of what it reads.
    if let Ok(got) = store.read_segment(ID, 7, 9_000..11_000).await {
        assert!(got.len() < 2_000, "{} bytes past the end", got.len());
        assert!(got == data[9_000..9_000 + got.len()]);
    }
}

/// A streamed range comes back byte for byte, whatever pieces it arrives in.
async fn a_streamed_range_is_byte_exact(store: &Backend) {
    let data = bytes(300_000);
    store
        .put_segment(ID, 2, pieces(&data, 65_536))
        .await
        .unwrap();
    for range in [0..300_000, 1..2, 65_535..200_001] {
        let stream = store.stream_segment(ID, 2, range.clone()).await.unwrap();
        let got: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert!(
            got.concat() == data[range.start as usize..range.end as usize],
            "streamed range {range:?}"
        );
    }
    let blob = bytes(70_000);
    store.put_blob(ID, blob.clone().into()).await.unwrap();
    let got: Vec<Bytes> = store
        .stream_blob(ID, 10..69_999)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(got.concat() == blob[10..69_999], "streamed blob range");
}

/// A missing segment or blob is an error to read (never empty bytes), and has no size.
async fn reading_what_is_missing_fails(store: &Backend) {
    assert!(store.segment(ID, 0).await.is_err());
    assert!(store.read_segment(ID, 0, 0..10).await.is_err());
    assert!(store.stream_segment(ID, 0, 0..10).await.is_err());
    assert!(store.read(ID, 0..10).await.is_err());
    assert_eq!(store.size(ID).await.unwrap(), None);
    // Another index of a share that exists is missing too.
    store.put_segment(ID, 0, bytes(10).into()).await.unwrap();
    assert!(store.segment(ID, 1).await.is_err());
    assert!(store.read_segment(ID, 1, 0..10).await.is_err());
}

/// `list` names every share with objects once (segments, a blob, or both), with the time
/// its newest object was written, and none that was deleted.
async fn list_names_each_share_once_with_its_newest_time(store: &Backend) {
    assert!(store.list().await.unwrap().is_empty());
    let before = SystemTime::now();
    store.put_segment("seg", 0, bytes(10).into()).await.unwrap();
    store.put_blob("old", bytes(10).into()).await.unwrap();
    store
        .put_segment("both", 0, bytes(10).into())
        .await
        .unwrap();
    store
        .put_segment("gone", 0, bytes(10).into())
        .await
        .unwrap();
    // S3 keeps times to the second: wait past one before the newest writes.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = SystemTime::now();
    store.put_segment("seg", 1, bytes(10).into()).await.unwrap();
    store.put_blob("both", bytes(10).into()).await.unwrap();
    store.delete("gone").await.unwrap();

    let list = listed(store).await;
    assert_eq!(ids(&list), ["both", "old", "seg"]);
    let second = Duration::from_secs(1);
    for blob in &list {
        let newest = if blob.id == "old" { before } else { later };
        assert!(
            blob.modified + second >= newest,
            "{}: {:?} is older than its newest write at {newest:?}",
            blob.id,
            blob.modified
        );
    }
    let old = &list[1];
    assert!(old.modified < later - second, "old: {:?}", old.modified);
}

/// `delete` removes every segment of a share, more than one listing page of them
/// (1,100: S3 lists and deletes 1,000 keys a request), and its blob.
async fn delete_removes_every_segment_and_the_blob(store: &Backend) {
    const SEGMENTS: u64 = 1_100;
    stream::iter(0..SEGMENTS)
        .map(|index| async move {
            let put = store.put_segment(ID, index, Bytes::from(index.to_string()).into());
            assert_eq!(put.await.unwrap(), Put::Created);
        })
        .buffer_unordered(16)
        .collect::<()>()
        .await;
    store.put_blob(ID, bytes(10).into()).await.unwrap();
    let last = store.segment(ID, SEGMENTS - 1).await.unwrap();
    assert_eq!(last, (SEGMENTS - 1).to_string());

    store.delete(ID).await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
    for index in [0, 999, 1_000, SEGMENTS - 1] {
        assert!(store.segment(ID, index).await.is_err(), "segment {index}");
    }
    assert_eq!(store.size(ID).await.unwrap(), None);
}

/// Deleting a share with nothing stored, or deleting one twice, is not an error.
async fn deleting_what_is_absent_is_ok(store: &Backend) {
    store.delete(ID).await.unwrap();
    store.put_segment(ID, 0, bytes(10).into()).await.unwrap();
    store.delete(ID).await.unwrap();
    store.delete(ID).await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
}

/// Deleting share `abc` leaves share `abcd` whole: the segments' prefix is matched by
/// path segment (`segments/abc/`), never by string (`segments/abc…`).
async fn delete_leaves_a_share_whose_id_extends_the_deleted_one(store: &Backend) {
    let kept = bytes(100);
    for id in ["abc", "abcd"] {
        store.put_segment(id, 0, kept.clone().into()).await.unwrap();
        store.put_segment(id, 1, kept.clone().into()).await.unwrap();
        store.put_blob(id, kept.clone().into()).await.unwrap();
    }
    store.delete("abc").await.unwrap();
    assert_eq!(ids(&listed(store).await), ["abcd"]);
    assert_eq!(store.segment("abcd", 0).await.unwrap(), kept);
    assert_eq!(store.segment("abcd", 1).await.unwrap(), kept);
    assert_eq!(store.size("abcd").await.unwrap(), Some(100));
    assert!(store.segment("abc", 0).await.is_err());
}

/// `size` is the length of a share's blob (from before segments), `None` without one.
async fn size_is_the_blobs_length(store: &Backend) {
    store.put_segment(ID, 0, bytes(10).into()).await.unwrap();
    assert_eq!(
        store.size(ID).await.unwrap(),
        None,
        "segments are not a blob"
    );
    store.put_blob(ID, bytes(12_345).into()).await.unwrap();
    assert_eq!(store.size(ID).await.unwrap(), Some(12_345));
    store.put_blob("empty", Bytes::new().into()).await.unwrap();
    assert_eq!(store.size("empty").await.unwrap(), Some(0));
}

/// Eight writers racing for one index: exactly one creates it, the others are told it
/// exists, and the stored bytes are the creator's. Where the store does not decide
/// atomically (s3s-fs), each writer is still told one of the two, and the stored bytes
/// are those of a writer told it created them.
async fn concurrent_writers_of_one_segment_create_it_once(store: &Backend) {
    let writers: Vec<Bytes> = (0..8).map(|_| bytes(4096)).collect();
    let puts: Vec<_> = writers
        .iter()
        .map(|data| {
            let (store, data) = (BlobStore::clone(store), data.clone());
            tokio::spawn(async move { store.put_segment(ID, 0, data.into()).await.unwrap() })
        })
        .collect();
    let mut created = Vec::new();
    for (writer, put) in puts.into_iter().enumerate() {
        if put.await.unwrap() == Put::Created {
            created.push(writer);
        }
    }
    let stored = store.segment(ID, 0).await.unwrap();
    let stored_by: Vec<usize> = (0..8).filter(|&w| writers[w] == stored).collect();
    assert_eq!(stored_by.len(), 1, "the stored bytes are one writer's");
    assert!(
        created.contains(&stored_by[0]),
        "stored by {stored_by:?}, created by {created:?}"
    );
    if store.atomic_create {
        assert_eq!(
            created.len(),
            1,
            "writers told they created it: {created:?}"
        );
    } else if created.len() > 1 {
        println!("not atomic here: writers {created:?} were all told they created the segment");
    }
}
