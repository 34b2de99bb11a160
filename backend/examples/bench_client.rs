//! Load client for `scripts/bench-server.sh`: uploads or downloads a large share over a
//! real WebSocket, following the protocol's flow control, and prints MB/s.
//!
//! The payload is ciphertext-shaped filler (the server never decrypts, so this measures
//! the server and not the client's AES): a real header, a random download token and its
//! verifier.
//!
//! ```text
//! cargo run --release -p ferry-backend --example bench_client -- upload PORT BYTES > share.txt
//! # share.txt: SHARE_ID DOWNLOAD_TOKEN OWNER_TOKEN
//! cargo run --release -p ferry-backend --example bench_client -- download PORT "$(cat share.txt)"
//! ```
use std::time::Instant;

use ferry_common::{
    Header, KdfParams,
    keys::{random_token, verifier},
    protocol::{
        DOWNLOAD_PATH, DownloadEvent, DownloadRequest, PROTOCOL_VERSION, UPLOAD_PATH, UploadEvent,
        UploadRequest,
    },
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{connect_async, tungstenite::Message};

const CHUNK: u32 = 256 * 1024;

fn usage() -> ! {
    eprintln!("usage: bench_client upload PORT BYTES | download PORT 'SHARE_ID TOKEN'");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        usage();
    }
    let port: u16 = args[2].parse()?;
    match args[1].as_str() {
        "upload" => upload(port, args[3].parse()?).await,
        "download" => {
            let mut parts = args[3].split_whitespace();
            let (Some(id), Some(token)) = (parts.next(), parts.next()) else {
                usage()
            };
            download(port, id, token).await
        }
        _ => usage(),
    }
}

async fn upload(port: u16, plaintext_len: u64) -> anyhow::Result<()> {
    let header = Header::generate(KdfParams::FLOOR, CHUNK, true)?;
    let token = random_token()?;
    let ciphertext_size = header.ciphertext_len(plaintext_len);
    let chunks = header.chunk_count(plaintext_len);
    let sealed = u64::from(CHUNK) + 16;
    let last = ciphertext_size - (chunks - 1) * sealed;
    let full = bytes::Bytes::from(vec![0xA5u8; sealed as usize]);
    let (mut ws, _) = connect_async(format!("ws://127.0.0.1:{port}{UPLOAD_PATH}")).await?;
    let start = UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: header.to_bytes().to_vec().into(),
        metadata: vec![0u8; 256].into(),
        verifier: verifier(&token).to_vec().into(),
        expires_in_secs: 3600,
        max_downloads: 1,
        ciphertext_size,
    };
    let began = Instant::now();
    ws.send(Message::text(serde_json::to_string(&start)?))
        .await?;
    let window = match ws.next().await {
        Some(Ok(Message::Text(t))) => match serde_json::from_str(&t)? {
            UploadEvent::Ready { window, .. } => u64::from(window),
            other => anyhow::bail!("unexpected {other:?}"),
        },
        other => anyhow::bail!("unexpected {other:?}"),
    };
    let (mut sent, mut acked) = (0u64, 0u64);
    let mut finished = false;
    loop {
        while sent < chunks && sent - acked < window {
            let frame = if sent + 1 == chunks {
                full.slice(..last as usize)
            } else {
                full.clone()
            };
            ws.send(Message::Binary(frame)).await?;
            sent += 1;
        }
        if sent == chunks && !finished {
            ws.send(Message::text(serde_json::to_string(
                &UploadRequest::Finish,
            )?))
            .await?;
            finished = true;
        }
        match ws.next().await {
            Some(Ok(Message::Text(t))) => match serde_json::from_str(&t)? {
                UploadEvent::Ack { chunks, .. } => acked = chunks,
                UploadEvent::Done {
                    share_id,
                    owner_token,
                    ..
                } => {
                    let secs = began.elapsed().as_secs_f64();
                    eprintln!(
                        "upload: {} bytes in {secs:.2} s = {:.0} MB/s",
                        ciphertext_size,
                        ciphertext_size as f64 / 1e6 / secs
                    );
                    // The share, then the download token and the owner token (for DELETE).
                    println!(
                        "{share_id} {} {}",
                        ferry_common::b64::encode(&token),
                        ferry_common::b64::encode(&owner_token.0)
                    );
                    return Ok(());
                }
                other => anyhow::bail!("unexpected {other:?}"),
            },
            Some(Ok(_)) => {}
            other => anyhow::bail!("upload socket ended: {other:?}"),
        }
    }
}

async fn download(port: u16, id: &str, token: &str) -> anyhow::Result<()> {
    let (mut ws, _) = connect_async(format!("ws://127.0.0.1:{port}{DOWNLOAD_PATH}")).await?;
    let began = Instant::now();
    let start = DownloadRequest::Start {
        version: PROTOCOL_VERSION,
        share_id: id.into(),
        token: ferry_common::b64::decode(token)?.into(),
    };
    ws.send(Message::text(serde_json::to_string(&start)?))
        .await?;
    let mut received = 0u64;
    let mut bytes = 0u64;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                received += 1;
                bytes += b.len() as u64;
                ws.send(Message::text(serde_json::to_string(
                    &DownloadRequest::Ack { chunks: received },
                )?))
                .await?;
            }
            Some(Ok(Message::Text(t))) => match serde_json::from_str(&t)? {
                DownloadEvent::Ready { .. } => {}
                DownloadEvent::Done { .. } => {
                    let secs = began.elapsed().as_secs_f64();
                    eprintln!(
                        "download: {bytes} bytes in {secs:.2} s = {:.0} MB/s",
                        bytes as f64 / 1e6 / secs
                    );
                    return Ok(());
                }
                other => anyhow::bail!("unexpected {other:?}"),
            },
            Some(Ok(_)) => {}
            other => anyhow::bail!("download socket ended: {other:?}"),
        }
    }
}
