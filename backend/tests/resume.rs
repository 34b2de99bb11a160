//! Uploads that outlive their connection: resume with the upload token on a new socket,
//! idempotent segments and commit, refusal of a segment whose bytes changed, and the
//! sweep of abandoned uploads.
mod support;

use std::time::Duration;

use ferry_common::{
    client::Upload,
    protocol::{ErrorCode, PROTOCOL_VERSION, UPLOAD_PATH, UploadEvent, UploadRequest},
};
use futures_util::SinkExt;
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// 5 MiB of 64 KiB chunks: three segments of up to 32 chunks.
const SIZE: usize = 5 << 20;

fn resume_msg(ready: &Ready) -> UploadRequest {
    UploadRequest::Resume {
        version: PROTOCOL_VERSION,
        share_id: ready.id.clone(),
        upload_token: ready.upload_token.clone().expect("a token").into(),
    }
}

/// Reads events until the ack of `segment` (failing on an error).
async fn await_ack(ws: &mut Ws, segment: u64) {
    for _ in 0..100 {
        match next(ws).await {
            Some(Message::Text(t)) => match serde_json::from_str::<UploadEvent>(&t).unwrap() {
                UploadEvent::Ack { segment: s } if s == segment => return,
                UploadEvent::Ack { .. } => continue,
                other => panic!("waiting for the ack of {segment}: {other:?}"),
            },
            other => panic!("waiting for the ack of {segment}: {other:?}"),
        }
    }
    panic!("no ack of segment {segment}");
}

/// Starts an upload of `SIZE` random bytes and stores its first `stored` segments, then
/// drops the socket without a close frame.
async fn cut_upload(port: u16, stored: u64) -> (Prepared, Ready, Vec<u8>) {
    let data = random_bytes(SIZE);
    let prep = prepare(&data, &UploadOpts::default());
    let mut ws = connect(port, UPLOAD_PATH).await;
    let ready = start_upload(&mut ws, &prep.start).await.unwrap();
    assert_eq!(ready.missing, vec![[0, 3]]);
    let per = ready.segment_chunks as usize;
    for segment in 0..stored as usize {
        let chunks = &prep.chunks[segment * per..(segment + 1) * per];
        send_segments(&mut ws, chunks, segment * per, ready.segment_chunks).await;
        await_ack(&mut ws, segment as u64).await;
    }
    // Half of the next segment goes too: it must not count.
    let from = stored as usize * per;
    let half = &prep.chunks[from..from + (per / 2).min(prep.chunks.len() - from - 1)];
    send_segments(&mut ws, half, from, ready.segment_chunks).await;
    drop(ws);
    (prep, ready, data)
}

fn share_of(prep: Prepared, done: ferry_common::client::Uploaded) -> Share {
    Share {
        id: done.share_id.as_str().to_owned(),
        link_secret: prep.link_secret,
        token: prep.token,
        owner_token: done.owner_token,
        expires_at: done.expires_at,
    }
}

#[tokio::test]
async fn a_cut_upload_resumes_with_only_its_missing_segments() {
    let server = TestServer::start(|_| {}).await;
    let (prep, ready, data) = cut_upload(server.port, 2).await;
    // Nothing is visible before the commit.
    assert_eq!(server.info(&ready.id).await.unwrap_err().0, 404);
    assert_eq!(server.blob_files(), vec![ready.id.clone()]);

    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let again = start_upload(&mut ws, &resume_msg(&ready)).await.unwrap();
    assert_eq!(again.missing, vec![[2, 3]]);
    assert_eq!(again.id, ready.id);
    drop(ws);
    let session = Upload::resume(&resumable(&prep, &ready)).unwrap();
    let ws = connect(server.port, UPLOAD_PATH).await;
    let done = drive_upload(ws, session, &prep.chunks).await.unwrap();
    assert_eq!(done.owner_token, ready.owner_token.clone().unwrap());
    let share = share_of(prep, done);
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn a_retried_finish_answers_done_again_and_commits_once() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(100_000);
    let prep = prepare(&data, &UploadOpts::default());
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let ready = start_upload(&mut ws, &prep.start).await.unwrap();
    let session = Upload::resume(&resumable(&prep, &ready)).unwrap();
    drop(ws);
    let first = drive_upload(
        connect(server.port, UPLOAD_PATH).await,
        session,
        &prep.chunks,
    )
    .await
    .unwrap();
    // The client lost the `done`: resuming answers it again, with nothing resent.
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    send_json(&mut ws, &resume_msg(&ready)).await;
    let Some(Message::Text(t)) = next(&mut ws).await else {
        panic!("an answer")
    };
    let UploadEvent::Done {
        share_id,
        expires_at,
    } = serde_json::from_str(&t).unwrap()
    else {
        panic!("done again: {t}")
    };
    assert_eq!(
        (share_id.as_str(), expires_at),
        (first.share_id.as_str(), first.expires_at)
    );
    let share = share_of(prep, first);
    let got = download(server.port, &share).await.unwrap();
    assert_eq!((got.plaintext, got.downloads_left), (data, 0));
}

#[tokio::test]
async fn two_connections_sending_the_same_segment_leave_one_object() {
    let server = TestServer::start(|_| {}).await;
    let (prep, ready, data) = cut_upload(server.port, 1).await;
    let per = ready.segment_chunks as usize;
    // Two sockets resume at once and both send segment 1.
    let mut a = connect(server.port, UPLOAD_PATH).await;
    let mut b = connect(server.port, UPLOAD_PATH).await;
    for ws in [&mut a, &mut b] {
        let again = start_upload(ws, &resume_msg(&ready)).await.unwrap();
        assert_eq!(again.missing, vec![[1, 3]]);
    }
    let one = &prep.chunks[per..2 * per];
    send_segments(&mut a, one, per, ready.segment_chunks).await;
    send_segments(&mut b, one, per, ready.segment_chunks).await;
    await_ack(&mut a, 1).await;
    await_ack(&mut b, 1).await;
    let objects = list_files(
        &blob_root(server.dir.path())
            .join("segments")
            .join(&ready.id),
    );
    assert_eq!(objects, vec!["0", "1"]);
    drop((a, b));
    let session = Upload::resume(&resumable(&prep, &ready)).unwrap();
    let done = drive_upload(
        connect(server.port, UPLOAD_PATH).await,
        session,
        &prep.chunks,
    )
    .await
    .unwrap();
    let share = share_of(prep, done);
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn a_segment_resent_with_other_bytes_is_refused() {
    let server = TestServer::start(|_| {}).await;
    let (prep, ready, data) = cut_upload(server.port, 1).await;
    let per = ready.segment_chunks as usize;
    // A cheating client resends segment 0 with one byte changed.
    let mut forged: Vec<Vec<u8>> = prep.chunks[..per].to_vec();
    forged[3][10] ^= 1;
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    start_upload(&mut ws, &resume_msg(&ready)).await.unwrap();
    send_segments(&mut ws, &forged, 0, ready.segment_chunks).await;
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::SegmentMismatch, "{}", err.message);
    // The stored segment is untouched: the honest upload completes and opens.
    let session = Upload::resume(&resumable(&prep, &ready)).unwrap();
    let done = drive_upload(
        connect(server.port, UPLOAD_PATH).await,
        session,
        &prep.chunks,
    )
    .await
    .unwrap();
    let share = share_of(prep, done);
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn resume_needs_the_right_token_and_finish_every_segment() {
    let server = TestServer::start(|_| {}).await;
    let (_prep, ready, _) = cut_upload(server.port, 1).await;
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let wrong = UploadRequest::Resume {
        version: PROTOCOL_VERSION,
        share_id: ready.id.clone(),
        upload_token: vec![7u8; 32].into(),
    };
    let err = start_upload(&mut ws, &wrong).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthorized);
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let unknown = UploadRequest::Resume {
        version: PROTOCOL_VERSION,
        share_id: "AAAABBBBCCCCDDDDEEEEFF".into(),
        upload_token: vec![7u8; 32].into(),
    };
    assert_eq!(
        start_upload(&mut ws, &unknown).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    // `finish` with segments missing commits nothing.
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    start_upload(&mut ws, &resume_msg(&ready)).await.unwrap();
    send_json(&mut ws, &UploadRequest::Finish).await;
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation, "{}", err.message);
    assert_eq!(server.info(&ready.id).await.unwrap_err().0, 404);
    // A version-1 client is told to update.
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let v1 = r#"{"type":"resume","version":1,"share_id":"x","upload_token":""}"#;
    ws.send(Message::text(v1)).await.unwrap();
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::UnsupportedVersion);
}

#[tokio::test]
async fn an_abandoned_upload_is_swept_with_its_segments() {
    let server = TestServer::start(|c| {
        c.abandon_uploads_after = Duration::from_millis(300);
        c.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let (_prep, ready, _) = cut_upload(server.port, 1).await;
    eventually("the abandoned upload's segments are deleted", async || {
        server.blob_files().is_empty()
    })
    .await;
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let err = start_upload(&mut ws, &resume_msg(&ready))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    // A normal round trip still works.
    let data = random_bytes(70_000);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}
