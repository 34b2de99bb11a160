//! Hostile clients (issue 12, items 1, 4 and 5): a huge declared frame, a download that
//! never reads, one address opening every socket, pings as keep-alive, uploads that
//! send `start` and nothing else. Each test ends with a normal round trip beside or
//! after the attack.
mod support;

use std::{net::IpAddr, time::Duration};

use ferry_common::protocol::{
    DOWNLOAD_PATH, DownloadRequest, ErrorCode, PROTOCOL_VERSION, UPLOAD_PATH, UploadEvent,
};
use futures_util::SinkExt;
use support::{
    raw_ws::{self, frame_header, read_frame},
    *,
};
use tokio::{
    io::{AsyncRead, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message;

/// The attacks measure this process's memory (the server runs in it): one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A generous bound on waiting for the server, so a broken server fails the test instead
/// of hanging it (not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(60);

/// A raw WebSocket connection: the handshake by hand, then frames written byte by byte.
async fn raw_socket(port: u16, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    raw_ws::upgrade(&mut tcp, port, path).await.unwrap();
    tcp
}

/// Reads server frames until the close frame: the `error` code and the close code.
async fn read_refusal(tcp: &mut (impl AsyncRead + Unpin)) -> (Option<ErrorCode>, u16) {
    let mut code = None;
    for _ in 0..1000 {
        let (opcode, payload) = tokio::time::timeout(PATIENCE, read_frame(tcp))
            .await
            .expect("the server answers")
            .expect("the connection stays up until the close frame");
        match opcode {
            0x1 => {
                if let Ok(UploadEvent::Error(body)) = serde_json::from_slice(&payload) {
                    code = Some(body.code);
                }
            }
            0x8 => {
                let close = payload
                    .get(..2)
                    .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
                return (code, close);
            }
            _ => {}
        }
    }
    panic!("no close frame");
}

/// This process's resident memory in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

async fn round_trip(port: u16) {
    let data = random_bytes(300_000);
    let share = upload(port, &data, &UploadOpts::default()).await.unwrap();
    assert_eq!(download(port, &share).await.unwrap().plaintext, data);
}

/// Item 1: a header declaring 1 TiB, followed by zeros as fast as the socket takes them,
/// is refused from its header; the server's memory does not follow what is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_declared_frame_is_refused_from_its_header() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start(|_| {}).await;
    let mut tcp = raw_socket(server.port, UPLOAD_PATH).await;
    let before = rss();
    tcp.write_all(&frame_header(true, 0x2, 1 << 40))
        .await
        .unwrap();
    let (mut read, mut write) = tcp.into_split();
    let reader = tokio::spawn(async move { read_refusal(&mut read).await });
    // Up to 512 MiB of zeros (the old server buffered every byte of them), until the
    // server closes.
    const SEND: usize = 512 << 20;
    let writer = tokio::spawn(async move {
        let zeros = vec![0u8; 1 << 20];
        let mut sent = 0;
        while sent < SEND {
            if write.write_all(&zeros).await.is_err() {
                break;
            }
            sent += zeros.len();
        }
        sent
    });
    let mut peak = before;
    // Bounded: the writer stops after SEND bytes.
    while !writer.is_finished() {
        peak = peak.max(rss());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = writer.await.unwrap();
    peak = peak.max(rss());
    let growth = peak.saturating_sub(before);
    eprintln!("sent {} MiB; RSS grew {} MiB", sent >> 20, growth >> 20);
    assert!(
        growth < 64 << 20,
        "RSS grew by {} MiB while the client sent {} MiB",
        growth >> 20,
        sent >> 20
    );
    let (code, close) = reader.await.unwrap();
    assert_eq!(code, Some(ErrorCode::FrameTooLarge));
    assert_eq!(close, 1009);
    round_trip(server.port).await;
}

/// Item 1: a header declaring 5 MiB and no payload used to get no answer at all; a
/// fragmented message is bounded the same way, from the header of the fragment that
/// would take it over the limit.
#[tokio::test]
async fn an_oversize_header_alone_gets_an_answer() {
    let server = TestServer::start(|_| {}).await;
    let mut tcp = raw_socket(server.port, UPLOAD_PATH).await;
    tcp.write_all(&frame_header(true, 0x2, 5 << 20))
        .await
        .unwrap();
    assert_eq!(
        read_refusal(&mut tcp).await,
        (Some(ErrorCode::FrameTooLarge), 1009)
    );

    let mut tcp = raw_socket(server.port, UPLOAD_PATH).await;
    let first = 3 << 20;
    tcp.write_all(&frame_header(false, 0x2, first))
        .await
        .unwrap();
    tcp.write_all(&vec![0; first as usize]).await.unwrap();
    // 3 MiB + 2 MiB is over the limit: refused with nothing of the second fragment sent.
    tcp.write_all(&frame_header(true, 0x0, 2 << 20))
        .await
        .unwrap();
    assert_eq!(
        read_refusal(&mut tcp).await,
        (Some(ErrorCode::FrameTooLarge), 1009)
    );
    round_trip(server.port).await;
}

/// Item 4: a download whose client never reads. The server gives up on it after the idle
/// timeout and the connection is dropped (the old server kept it, and the ciphertext it
/// had queued, for as long as the client liked). The share's claim comes back, so the
/// next download works.
#[tokio::test]
async fn a_download_that_never_reads_is_dropped() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start(|c| c.idle_timeout = Duration::from_secs(2)).await;
    let port = server.port;
    // 24 MiB in 1 MiB chunks: a 15-chunk window, more than the loopback socket buffers
    // hold, so the server's sends stall.
    let data = random_bytes(24 << 20);
    let opts = UploadOpts {
        chunk_size: 1 << 20,
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(port, &data, &opts).await.unwrap();
    let mut tcp = raw_socket(port, DOWNLOAD_PATH).await;
    let start = serde_json::to_vec(&DownloadRequest::Start {
        version: PROTOCOL_VERSION,
        share_id: share.id.clone(),
        token: share.token.to_vec().into(),
        claim_token: None,
        from_chunk: None,
    })
    .unwrap();
    tcp.write_all(&frame_header(true, 0x1, start.len() as u64))
        .await
        .unwrap();
    tcp.write_all(&start).await.unwrap();
    // Never read. Ping now and then: once the server dropped the connection, a write
    // fails. Bounded by PATIENCE.
    let ping = frame_header(true, 0x9, 0);
    let mut dropped = false;
    for _ in 0..(PATIENCE.as_millis() / 250) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if tcp.write_all(&ping).await.is_err() {
            dropped = true;
            break;
        }
    }
    assert!(
        dropped,
        "the server kept a download socket that never reads"
    );
    eventually("the socket task ended", async || server.gate.open() == 0).await;
    let got = download(port, &share).await.unwrap();
    assert_eq!(got.plaintext, data);
    assert_eq!(got.downloads_left, 1);
}

/// Item 5: one address cannot take every socket. Over its cap it is refused with
/// `too-many-connections` and close code 1013, while another address carries on; once one
/// of its sockets ends, it gets in again.
#[tokio::test]
async fn one_address_cannot_take_every_socket() {
    let server = TestServer::start(|c| {
        c.max_sockets_per_ip = 3;
        c.max_sockets = Some(100);
    })
    .await;
    let port = server.port;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(port, UPLOAD_PATH).await);
    }
    let mut fourth = connect(port, UPLOAD_PATH).await;
    let (body, code, reason) = expect_upload_error(&mut fourth).await;
    assert_eq!(body.code, ErrorCode::TooManyConnections);
    assert_eq!(code, 1013);
    assert!(reason.contains("this address"), "{reason}");
    // Someone else carries on.
    let other: IpAddr = [127, 0, 0, 2].into();
    let data = random_bytes(200_000);
    let ws = connect_from(port, UPLOAD_PATH, other).await;
    let share = upload_over(ws, prepare(&data, &UploadOpts::default()))
        .await
        .unwrap();
    // One of the three goes; the address gets in again.
    let mut first = held.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    eventually("a place is free", async || server.gate.open() == 2).await;
    assert_eq!(download(port, &share).await.unwrap().plaintext, data);
}

/// Item 5: the total cap, refused the same way.
#[tokio::test]
async fn the_server_caps_sockets_in_total() {
    let server = TestServer::start(|c| {
        c.max_sockets_per_ip = 10;
        c.max_sockets = Some(2);
    })
    .await;
    let port = server.port;
    let held = connect(port, DOWNLOAD_PATH).await;
    let also = connect_from(port, DOWNLOAD_PATH, [127, 0, 0, 3].into()).await;
    let mut third = connect_from(port, UPLOAD_PATH, [127, 0, 0, 4].into()).await;
    let (body, code, _) = expect_upload_error(&mut third).await;
    assert_eq!((body.code, code), (ErrorCode::TooManyConnections, 1013));
    drop(held);
    eventually("a place is free", async || server.gate.open() == 1).await;
    let data = random_bytes(100_000);
    let share = upload(port, &data, &UploadOpts::default()).await.unwrap();
    drop(also);
    eventually("a place is free", async || server.gate.open() == 0).await;
    assert_eq!(download(port, &share).await.unwrap().plaintext, data);
}

/// Item 5: pings alone do not keep a socket open (they used to restart the idle timeout).
#[tokio::test]
async fn pings_alone_do_not_keep_a_socket_open() {
    let server = TestServer::start(|c| c.idle_timeout = Duration::from_secs(1)).await;
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let mut refused = None;
    // Bounded: 240 pings, 60 s at most.
    for _ in 0..240 {
        ws.send(Message::Ping(vec![1, 2, 3].into())).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(250), next(&mut ws)).await {
            Err(_) => continue,
            Ok(Some(Message::Text(text))) => {
                if let Ok(UploadEvent::Error(body)) = serde_json::from_str(&text) {
                    refused = Some(body);
                    break;
                }
            }
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    let body = refused.expect("the pinging socket was closed");
    assert_eq!(body.code, ErrorCode::ProtocolViolation);
    assert_eq!(expect_close(&mut ws).await.0, 1002);
    round_trip(server.port).await;
}

/// Item 5: uploads that sent `start` and nothing more hold no file open (the old server
/// created a staging file for each at once).
#[tokio::test]
async fn nothing_is_opened_on_disk_before_the_first_chunk() {
    let server = TestServer::start(|_| {}).await;
    let port = server.port;
    let data = random_bytes(200_000);
    let mut waiting = Vec::new();
    for _ in 0..5 {
        let prep = prepare(&data, &UploadOpts::default());
        let mut ws = connect(port, UPLOAD_PATH).await;
        let ready = start_upload(&mut ws, &prep.start).await.unwrap();
        waiting.push((ws, prep, ready.segment_chunks));
    }
    assert_eq!(server.blob_files(), Vec::<String>::new());
    // They still complete normally.
    let (mut ws, prep, segment_chunks) = waiting.pop().unwrap();
    send_segments(&mut ws, &prep.chunks, 0, segment_chunks).await;
    send_json(&mut ws, &ferry_common::protocol::UploadRequest::Finish).await;
    let share_id = loop {
        match next(&mut ws).await {
            Some(Message::Text(text)) => {
                match serde_json::from_str::<UploadEvent>(&text).unwrap() {
                    UploadEvent::Done { share_id, .. } => break share_id,
                    UploadEvent::Ack { .. } => continue,
                    other => panic!("unexpected {other:?}"),
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(server.blob_files(), vec![share_id]);
    drop(waiting);
    round_trip(port).await;
}
