//! Downloads resume inside their claim, and one-time means one-time (issue 13): the
//! three holes seen before, each reproduced, then the rule that closes them.
mod support;

use std::{sync::Arc, time::Duration};

use ferry_backend::{Application, Config};
use ferry_common::protocol::{
    DOWNLOAD_PATH, DownloadEvent, DownloadRequest, ErrorBody, ErrorCode, PROTOCOL_VERSION,
};
use futures_util::SinkExt;
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// 64 KiB chunks: the server's window is 64 chunks, so 160 chunks is 2.5 windows.
const CHUNK: usize = 64 * 1024;
const WINDOW: u64 = 64;

/// Resets the TCP connection under a WebSocket (no close frame, RST instead of FIN).
fn reset(ws: Ws) {
    if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        // A zero linger never blocks (the deprecation is about a non-zero one): the close
        // sends RST at once.
        #[allow(deprecated)]
        let _ = tcp.set_linger(Some(Duration::ZERO));
    }
    drop(ws);
}

/// Retries a plain download while the share is busy; returns the first other outcome.
async fn download_when_free(port: u16, share: &Share) -> Result<Downloaded, ErrorBody> {
    // Bounded like `eventually`: a broken server fails instead of hanging.
    for _ in 0..600 {
        match download(port, share).await {
            Err(e) if e.code == ErrorCode::Busy => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
    panic!("the share stayed busy");
}

/// Hole (a): a client that acknowledged only up to the last window read 159 of 160 chunks
/// of a one-time share again and again, and the owner saw no download. Now a claim that
/// got past its first window is its claimant's until its lease ends, and then it counts.
#[tokio::test]
async fn a_claim_cut_past_its_first_window_counts_as_used_when_its_lease_ends() {
    let server = TestServer::start(short_leases).await;
    let data = random_bytes(160 * CHUNK);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let mut ws = connect(server.port, DOWNLOAD_PATH).await;
    let DownloadEvent::Ready { chunks, .. } = start_by_hand(&mut ws, &share).await else {
        panic!("not ready");
    };
    assert_eq!(chunks, 160);
    // Read everything the server sends, acknowledging up to the last window only.
    let mut got = 0u64;
    while got < chunks - 1 {
        match next(&mut ws).await {
            Some(Message::Binary(_)) => got += 1,
            other => panic!("expected a chunk, got {other:?}"),
        }
        if got + WINDOW < chunks {
            send_json(&mut ws, &DownloadRequest::Ack { chunks: got }).await;
        }
    }
    drop(ws);
    // Nobody else gets it meanwhile, and once the lease ends it counted.
    let again = download_when_free(server.port, &share).await.unwrap_err();
    assert!(
        matches!(again.code, ErrorCode::UsedUp | ErrorCode::NotFound),
        "{again:?}"
    );
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (1, 0));
}

/// A claim cut inside its first window (no chunk past it, not the final one) is released
/// at once and counts for nothing; then a normal download works.
#[tokio::test]
async fn a_claim_cut_inside_its_first_window_is_released_at_once() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    let data = random_bytes(160 * CHUNK);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let mut first = Downloader::new(server.port, &share).await;
    // Cut at the first chunk, before any ack: the server sent at most one window.
    assert!(matches!(first.run(server.port, Some(1)).await, Leg::Cut));
    let got = download_when_free(server.port, &share).await.unwrap();
    assert_eq!(got.plaintext, data);
    assert_eq!(got.downloads_left, 0);
    // The first claim is gone: its resume is refused.
    first.resume();
    let Leg::Refused(body) = first.run(server.port, None).await else {
        panic!("a released claim resumed");
    };
    assert!(
        matches!(
            body.code,
            ErrorCode::ClaimLost | ErrorCode::NotFound | ErrorCode::UsedUp
        ),
        "{body:?}"
    );
}

/// Hole (b): a share of one window or less was marked delivered right after `ready`, so a
/// client that read only `ready` and reset the connection used up a one-time share. Now
/// the final chunk goes out only when asked for, so nothing counts.
#[tokio::test]
async fn reading_only_ready_of_a_small_share_uses_nothing() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    // Ten chunks (within one window), and one chunk.
    for len in [10 * CHUNK - 7, 1000] {
        let data = random_bytes(len);
        let share = upload(server.port, &data, &UploadOpts::default())
            .await
            .unwrap();
        let mut ws = connect(server.port, DOWNLOAD_PATH).await;
        assert!(matches!(
            start_by_hand(&mut ws, &share).await,
            DownloadEvent::Ready { .. }
        ));
        reset(ws);
        let got = download_when_free(server.port, &share).await.unwrap();
        assert_eq!(got.plaintext, data, "{len}");
        assert_eq!(got.downloads_left, 0);
        assert_eq!(owner_status(server.port, &share).await.downloads_done, 1);
    }
}

/// Hole (c), first half: after the last chunk was queued a stray client message counted
/// the download. Now only the ack of the final chunk counts it; the claim stays the
/// client's, which resumes from the final chunk and counts exactly once.
#[tokio::test]
async fn a_stray_message_after_the_final_chunk_does_not_count() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    let data = random_bytes(3 * CHUNK);
    let opts = UploadOpts {
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &data, &opts).await.unwrap();
    let mut ws = connect(server.port, DOWNLOAD_PATH).await;
    let DownloadEvent::Ready { claim_token, .. } = start_by_hand(&mut ws, &share).await else {
        panic!("not ready");
    };
    for got in 1..=3u64 {
        assert!(matches!(next(&mut ws).await, Some(Message::Binary(_))));
        if got < 3 {
            send_json(&mut ws, &DownloadRequest::Ack { chunks: got }).await;
        }
    }
    ws.send(Message::text(r#"{"type":"hello"}"#)).await.unwrap();
    let (body, _, _) = expect_download_error(&mut ws).await;
    assert_eq!(body.code, ErrorCode::ProtocolViolation);
    assert_eq!(owner_status(server.port, &share).await.downloads_done, 0);
    let claim_token = claim_token.expect("a claim token");
    // The claim is still the client's: resume from the final chunk and acknowledge it.
    let mut ws = connect(server.port, DOWNLOAD_PATH).await;
    send_json(
        &mut ws,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share.id.clone(),
            token: share.token.to_vec().into(),
            claim_token: Some(claim_token),
            from_chunk: Some(2),
        },
    )
    .await;
    let Some(Message::Text(text)) = next(&mut ws).await else {
        panic!("no ready");
    };
    let ready: DownloadEvent = serde_json::from_str(&text).unwrap();
    assert!(
        matches!(
            ready,
            DownloadEvent::Ready {
                claim_token: None,
                ..
            }
        ),
        "{ready:?}"
    );
    assert!(matches!(next(&mut ws).await, Some(Message::Binary(_))));
    send_json(&mut ws, &DownloadRequest::Ack { chunks: 3 }).await;
    let Some(Message::Text(text)) = next(&mut ws).await else {
        panic!("no done");
    };
    assert_eq!(
        serde_json::from_str::<DownloadEvent>(&text).unwrap(),
        DownloadEvent::Done { downloads_left: 1 }
    );
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (1, 1));
}

/// Hole (c), second half: a blob shorter on disk than recorded still counted the
/// download. Now a download the server cannot serve in full never counts.
#[tokio::test]
async fn a_blob_shorter_than_recorded_never_counts() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    let share = share_with_short_blob(&server).await;
    let err = download(server.port, &share).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal, "{err:?}");
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (0, 1));
    // A retry is not blocked by the failed claim (it fails the same way, uncounted).
    let err = download(server.port, &share).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal, "{err:?}");
}

/// A download cut twice past its first window resumes each time from the next chunk and
/// counts exactly once, even after every lease has run out; then a normal download still
/// works.
#[tokio::test]
async fn a_resumed_download_counts_exactly_once() {
    let server = TestServer::start(|c| {
        c.lease = Duration::from_millis(1500);
        c.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let data = random_bytes(160 * CHUNK + 123);
    let opts = UploadOpts {
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &data, &opts).await.unwrap();
    let mut d = Downloader::new(server.port, &share).await;
    assert!(matches!(d.run(server.port, Some(70)).await, Leg::Cut));
    d.resume();
    assert!(matches!(d.run(server.port, Some(130)).await, Leg::Cut));
    assert_eq!(d.received(), 130);
    d.resume();
    let Leg::Done(got) = d.run(server.port, None).await else {
        panic!("the resumed download did not complete");
    };
    assert_eq!(got.plaintext, data);
    assert_eq!(got.downloads_left, 1);
    // Well after every lease (and many sweeps), it still counted once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (1, 1));
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

/// A held claim is never handed to anyone else; resuming it with a wrong claim token is
/// refused (and costs no passphrase try); the right token continues it.
#[tokio::test]
async fn a_held_claim_is_its_claimants_alone() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    let data = random_bytes(100 * CHUNK);
    let share = Arc::new(
        upload(server.port, &data, &UploadOpts::default())
            .await
            .unwrap(),
    );
    let mut d = Downloader::new(server.port, &share).await;
    assert!(matches!(
        d.run(server.port, Some(WINDOW + 6)).await,
        Leg::Cut
    ));
    let busy = download(server.port, &share).await.unwrap_err();
    assert_eq!(busy.code, ErrorCode::Busy, "{busy:?}");

    let mut ws = connect(server.port, DOWNLOAD_PATH).await;
    send_json(
        &mut ws,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share.id.clone(),
            token: share.token.to_vec().into(),
            claim_token: Some(vec![7; 32].into()),
            from_chunk: Some(WINDOW + 6),
        },
    )
    .await;
    let (body, _, _) = expect_download_error(&mut ws).await;
    assert_eq!(body.code, ErrorCode::ClaimLost, "{body:?}");
    assert_eq!(server.info(&share.id).await.unwrap().attempts_left, 10);

    d.resume();
    let Leg::Done(got) = d.run(server.port, None).await else {
        panic!("the right claim token did not continue the download");
    };
    assert_eq!(got.plaintext, data);
    assert_eq!(got.downloads_left, 0);
    let gone = download(server.port, &share).await.unwrap_err();
    assert!(
        matches!(gone.code, ErrorCode::UsedUp | ErrorCode::NotFound),
        "{gone:?}"
    );
}

/// Eight racers on a one-time link of several windows, each retrying while busy: exactly
/// one complete file.
#[tokio::test]
async fn eight_racers_on_a_one_time_link_give_exactly_one_file() {
    let server = TestServer::start(|_| {}).await;
    let data = Arc::new(random_bytes(100 * CHUNK + 5));
    let share = Arc::new(
        upload(server.port, &data, &UploadOpts::default())
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (share, port) = (share.clone(), server.port);
        tasks.push(tokio::spawn(async move {
            download_when_free(port, &share).await
        }));
    }
    let mut complete = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(got) => {
                assert_eq!(got.plaintext, *data);
                complete += 1;
            }
            Err(e) => assert!(
                matches!(e.code, ErrorCode::UsedUp | ErrorCode::NotFound),
                "{e:?}"
            ),
        }
    }
    assert_eq!(complete, 1);
}

/// A download cut on one server process resumes on another that shares the database and
/// the store: nothing about the claim lives in the first one's memory.
#[tokio::test]
async fn a_download_resumes_on_another_server_process() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    let data = random_bytes(100 * CHUNK);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let mut d = Downloader::new(server.port, &share).await;
    assert!(matches!(
        d.run(server.port, Some(WINDOW + 10)).await,
        Leg::Cut
    ));

    let mut config = Config::for_tests(server.dir.path().to_path_buf());
    config.database_url = server.config.database_url.clone();
    config.blobs = server.config.blobs.clone();
    let other = Application::build(config).await.expect("a second server");
    let other_port = other.port();
    let handle = other.handle();
    let task = tokio::spawn(other.run_until_stopped());

    d.resume();
    let Leg::Done(got) = d.run(other_port, None).await else {
        panic!("the other process did not continue the download");
    };
    assert_eq!(got.plaintext, data);
    assert_eq!(got.downloads_left, 0);
    handle.stop(false).await;
    let _ = task.await;
    let gone = download(server.port, &share).await.unwrap_err();
    assert!(
        matches!(gone.code, ErrorCode::UsedUp | ErrorCode::NotFound),
        "{gone:?}"
    );
}
