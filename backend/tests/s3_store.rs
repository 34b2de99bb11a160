//! Blobs in an S3-compatible bucket: a real s3s-fs on 127.0.0.1 (SigV4 checked) that
//! `scripts/with-s3.sh` starts. An upload lands as objects in the bucket and none in the
//! data directory, comes back byte-exact and is deleted from the bucket once used up; a
//! bucket that does not answer stops the server at startup. Without `FERRY_TEST_S3_*`
//! these tests say so and return (the local store has its own suites).
mod support;

use ferry_backend::{
    Application, Config,
    blobs::{BlobBackend, BlobStore, Put},
};
use support::*;

fn s3_or_skip() -> Option<TestS3> {
    let s3 = test_s3();
    if s3.is_none() {
        println!("skipped: FERRY_TEST_S3_* unset (run under scripts/with-s3.sh)");
    }
    s3
}

#[tokio::test]
async fn an_upload_lands_in_the_bucket_not_the_data_directory() {
    let Some(_) = s3_or_skip() else { return };
    let server = TestServer::start(|_| {}).await;
    // 5 MiB of 64 KiB chunks: three segments.
    let marker = b"FERRY-S3-PLAINTEXT-MARKER";
    let data: Vec<u8> = marker.iter().copied().cycle().take(5 << 20).collect();
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();

    let segments = blob_root(server.dir.path())
        .join("segments")
        .join(&share.id);
    let objects = list_files(&segments);
    assert_eq!(
        objects,
        ["0", "1", "2"],
        "the share's objects in the bucket"
    );
    let mut stored = 0;
    for object in &objects {
        let bytes = std::fs::read(segments.join(object)).unwrap();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "plaintext in object {object}"
        );
        stored += bytes.len();
    }
    assert!(stored > data.len(), "sealed chunks carry tags: {stored}");
    let local: Vec<_> = walk(server.dir.path())
        .into_iter()
        .filter(|p| {
            p.components()
                .any(|c| c.as_os_str() == "segments" || c.as_os_str() == "blobs")
        })
        .collect();
    assert!(local.is_empty(), "blobs in the data directory: {local:?}");

    let got = download(server.port, &share).await.unwrap();
    assert_eq!(got.plaintext, data);
    assert_eq!(got.downloads_left, 0);
    // Used up: its objects leave the bucket.
    eventually("the used-up share's objects are deleted", async || {
        list_files(&segments).is_empty()
    })
    .await;
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
}

#[tokio::test]
async fn a_bucket_that_does_not_answer_stops_the_server_at_startup() {
    let Some(s3) = s3_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let BlobBackend::S3(good) = blob_backend(dir.path()) else {
        unreachable!("FERRY_TEST_S3_* is set")
    };
    let refused = async |settings| {
        let mut config = Config::for_tests(dir.path().to_path_buf());
        config.blobs = BlobBackend::S3(settings);
        let err = Application::build(config)
            .await
            .err()
            .expect("the server refuses to start");
        format!("{err:#}")
    };

    let mut missing = good.clone();
    missing.bucket = format!("{}-missing", s3.bucket);
    let message = refused(missing).await;
    assert!(message.contains("does not answer"), "{message}");

    let mut wrong_key = good.clone();
    let secret = "not-the-secret-key-9c1e";
    wrong_key.credentials.as_mut().unwrap().secret_access_key = secret.into();
    let message = refused(wrong_key).await;
    assert!(message.contains("does not answer"), "{message}");
    assert!(!message.contains(secret), "the secret key in an error");

    // The same settings with the right key start a server that serves a round trip.
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(200_000);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

/// `PutMode::Create` on S3 (`If-None-Match: *`): a segment is written once, and a second
/// write of the same index, even of a whole 5 MiB body, is told it exists and changes
/// nothing.
#[tokio::test]
async fn a_segment_is_written_once() {
    let Some(_) = s3_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let BlobBackend::S3(settings) = blob_backend(dir.path()) else {
        unreachable!("FERRY_TEST_S3_* is set")
    };
    let blobs = BlobStore::s3(&settings).await.unwrap();
    let id = "AAAABBBBCCCCDDDDEEEEFF";
    let first = bytes::Bytes::from(random_bytes(5 << 20));
    for index in 0..4 {
        let put = blobs.put_segment(id, index, first.clone().into()).await;
        assert_eq!(put.unwrap(), Put::Created);
        let other = bytes::Bytes::from(random_bytes(5 << 20));
        let again = blobs.put_segment(id, index, other.into()).await;
        assert_eq!(again.map_err(|e| format!("{e:#}")), Ok(Put::Exists));
        assert!(blobs.segment(id, index).await.unwrap() == first);
    }
    blobs.delete(id).await.unwrap();
    assert!(blobs.list().await.unwrap().is_empty());
}
