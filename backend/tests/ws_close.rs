//! How a WebSocket ends at the TCP level (issue 13 item 3): once the server's close frame
//! is sent and the client's answered it, the server closes the TCP connection, orderly (a
//! FIN, no reset), and promptly: it used to hold it open 0.8-1.0 s longer. How long it takes
//! is printed (a figure for BENCHMARKS.md), never asserted. A client that never answers
//! the close frame still sees the connection closed. Then a normal round trip.
mod support;

use std::time::{Duration, Instant};

use ferry_common::protocol::DOWNLOAD_PATH;
use support::{
    raw_ws::{self, frame_header, read_frame},
    *,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A generous bound on waiting for the server, so a broken server fails the test instead
/// of hanging it (not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(60);

/// Sends a text frame the server refuses (`bad-request`), reads up to its close frame and
/// returns the connection.
async fn refused_socket(port: u16) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    raw_ws::upgrade(&mut tcp, port, DOWNLOAD_PATH)
        .await
        .unwrap();
    tcp.write_all(&frame_header(true, 0x1, 1)).await.unwrap();
    tcp.write_all(b"{").await.unwrap();
    for _ in 0..16 {
        let (opcode, _) = tokio::time::timeout(PATIENCE, read_frame(&mut tcp))
            .await
            .expect("the server answers")
            .expect("the connection stays up until the close frame");
        if opcode == 0x8 {
            return tcp;
        }
    }
    panic!("no close frame");
}

/// Reads until the server closes: `Ok(())` for an orderly end of stream, the error for a
/// reset. Bounded by `PATIENCE`.
async fn until_closed(tcp: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    for _ in 0..1024 {
        match tokio::time::timeout(PATIENCE, tcp.read(&mut buf)).await {
            Err(_) => panic!("the server never closed the connection"),
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    panic!("the server kept sending after its close frame");
}

/// The client's close frame, answering the server's (status 1000).
fn close_answer() -> Vec<u8> {
    let mut frame = frame_header(true, 0x8, 2);
    frame.extend_from_slice(&1000u16.to_be_bytes());
    frame
}

fn summary(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{label}: TCP closed {:.1} ms (median), {:.1} ms (max) after the close frame, {} sockets",
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len()
    );
}

#[tokio::test]
async fn the_server_closes_tcp_once_the_close_handshake_is_done() {
    let server = TestServer::start(|_| {}).await;
    let mut answered = Vec::new();
    for _ in 0..10 {
        let mut tcp = refused_socket(server.port).await;
        let sent = Instant::now();
        tcp.write_all(&close_answer()).await.unwrap();
        until_closed(&mut tcp)
            .await
            .expect("an orderly close (FIN), not a reset");
        answered.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    summary("client answers the close frame", answered);

    let mut silent = Vec::new();
    for _ in 0..3 {
        let mut tcp = refused_socket(server.port).await;
        let sent = Instant::now();
        until_closed(&mut tcp)
            .await
            .expect("an orderly close (FIN), not a reset");
        silent.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    summary("client never answers", silent);

    // A frame refused from its header (1 TiB declared) while the client goes on writing:
    // what it sent is read and dropped until the server closes, so the close is still
    // orderly and the client keeps the server's last frames.
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    raw_ws::upgrade(&mut tcp, server.port, DOWNLOAD_PATH)
        .await
        .unwrap();
    tcp.write_all(&frame_header(true, 0x2, 1 << 40))
        .await
        .unwrap();
    tcp.write_all(&vec![0u8; 256 * 1024]).await.unwrap();
    let mut close_code = None;
    for _ in 0..16 {
        let (opcode, payload) = read_frame(&mut tcp).await.expect("frames until the close");
        if opcode == 0x8 {
            close_code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            break;
        }
    }
    assert_eq!(close_code, Some(1009), "refused as too big");
    tcp.write_all(&vec![0u8; 64 * 1024]).await.unwrap();
    until_closed(&mut tcp)
        .await
        .expect("an orderly close (FIN), not a reset");

    let plaintext = random_bytes(100_000);
    let share = upload(server.port, &plaintext, &UploadOpts::default())
        .await
        .expect("upload");
    let got = download(server.port, &share).await.expect("download");
    assert!(got.plaintext == plaintext);
}
