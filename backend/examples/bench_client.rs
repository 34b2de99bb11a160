//! Load client for `scripts/bench-server.sh`: uploads or downloads a large share over a
//! real WebSocket, driven by the client core (`ferry_common::client`, which keeps the
//! protocol's flow control), and prints MB/s.
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
    client::{Download, DownloadAction, ShareId, Upload, UploadAction},
    keys::{random_token, verifier},
    protocol::{
        DOWNLOAD_PATH, PROTOCOL_VERSION, SHARES_PATH, ShareInfo, UPLOAD_PATH, UploadRequest,
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
    let full = bytes::Bytes::from(vec![0xA5u8; CHUNK as usize + 16]);
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
    let mut session = Upload::new(&start)?;
    let began = Instant::now();
    // Bounded: each turn sends a frame or reads one; the core ends after `done`.
    loop {
        match session.poll() {
            UploadAction::Send(text) => ws.send(Message::text(text)).await?,
            UploadAction::SendChunk { len, .. } => {
                let frame = full.slice(..len);
                session.chunk_ready(frame.len())?;
                ws.send(Message::Binary(frame)).await?;
            }
            UploadAction::Wait => match ws.next().await {
                Some(Ok(Message::Text(t))) => session.handle_text(&t)?,
                Some(Ok(Message::Binary(b))) => session.handle_binary(b.len())?,
                Some(Ok(Message::Close(frame))) => {
                    session.handle_closed(frame.as_ref().map(|f| f.reason.as_str()))?
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => session.handle_closed(None)?,
            },
            UploadAction::Done(done) => {
                let secs = began.elapsed().as_secs_f64();
                eprintln!(
                    "upload: {} bytes in {secs:.2} s = {:.0} MB/s",
                    ciphertext_size,
                    ciphertext_size as f64 / 1e6 / secs
                );
                // The share, then the download token and the owner token (for DELETE).
                println!(
                    "{} {} {}",
                    done.share_id.as_str(),
                    ferry_common::b64::encode(&token),
                    ferry_common::b64::encode(&done.owner_token)
                );
                return Ok(());
            }
            UploadAction::Failed(e) => return Err(e.into()),
        }
    }
}

async fn download(port: u16, id: &str, token: &str) -> anyhow::Result<()> {
    let id = ShareId::parse(id)?;
    let token: [u8; 32] = ferry_common::b64::decode(token)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a download token is 32 bytes"))?;
    // The header fixes every chunk's size; fetched before the clock starts.
    let info: ShareInfo = reqwest::get(format!(
        "http://127.0.0.1:{port}{SHARES_PATH}/{}",
        id.as_str()
    ))
    .await?
    .error_for_status()?
    .json()
    .await?;
    let header = Header::parse(&info.header.0)?;
    let mut session = Download::new(&id, &token, &header);
    let (mut ws, _) = connect_async(format!("ws://127.0.0.1:{port}{DOWNLOAD_PATH}")).await?;
    let began = Instant::now();
    let mut bytes = 0u64;
    // Bounded: each turn sends a frame or reads one; the core ends after `done`.
    loop {
        match session.poll() {
            DownloadAction::Send(text) => ws.send(Message::text(text)).await?,
            DownloadAction::Ready(_) => {}
            DownloadAction::Wait => match ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    let chunk = session.handle_binary(b.len())?;
                    bytes += b.len() as u64;
                    session.acknowledge(chunk.index + 1)?;
                }
                Some(Ok(Message::Text(t))) => session.handle_text(&t)?,
                Some(Ok(Message::Close(frame))) => {
                    session.handle_closed(frame.as_ref().map(|f| f.reason.as_str()))?
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => session.handle_closed(None)?,
            },
            DownloadAction::Done { .. } => {
                let secs = began.elapsed().as_secs_f64();
                eprintln!(
                    "download: {bytes} bytes in {secs:.2} s = {:.0} MB/s",
                    bytes as f64 / 1e6 / secs
                );
                return Ok(());
            }
            DownloadAction::Failed(e) => return Err(e.into()),
        }
    }
}
