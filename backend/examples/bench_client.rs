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
//! LANES=4 cargo run --release -p ferry-backend --example bench_client -- upload PORT BYTES
//! # share.txt: SHARE_ID DOWNLOAD_TOKEN OWNER_TOKEN
//! cargo run --release -p ferry-backend --example bench_client -- download PORT "$(cat share.txt)"
//! # COUNT uploads of BYTES each at once (scripts/bench-replicas.sh)
//! cargo run --release -p ferry-backend --example bench_client -- many PORT COUNT BYTES
//! ```
#[path = "support/filler.rs"]
mod filler;
#[path = "support/lanes.rs"]
mod lanes;

use std::time::Instant;

use ferry_common::{
    Header,
    client::{Download, DownloadAction, ShareId},
    protocol::{DOWNLOAD_PATH, SHARES_PATH, ShareInfo, UploadRequest},
};
use filler::Filler;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{connect_async, tungstenite::Message};

fn usage() -> ! {
    eprintln!(
        "usage: bench_client upload PORT BYTES | download PORT 'SHARE_ID TOKEN' | many PORT COUNT BYTES"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "many" {
        return many(args[2].parse()?, args[3].parse()?, args[4].parse()?).await;
    }
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
    let filler = Filler::new(plaintext_len, 1)?;
    let UploadRequest::Start {
        ciphertext_size, ..
    } = filler.start
    else {
        unreachable!("Filler::new builds a start message")
    };
    let lanes: usize = std::env::var("LANES").map_or(Ok(1), |n| n.parse())?;
    let began = Instant::now();
    let done = filler.upload(port, lanes).await?;
    let secs = began.elapsed().as_secs_f64();
    eprintln!(
        "upload: {ciphertext_size} bytes in {secs:.2} s = {:.0} MB/s ({lanes} lanes)",
        ciphertext_size as f64 / 1e6 / secs
    );
    // The share, then the download token and the owner token (for DELETE).
    println!(
        "{} {} {}",
        done.share_id.as_str(),
        ferry_common::b64::encode(&filler.token),
        ferry_common::b64::encode(&done.owner_token)
    );
    Ok(())
}

/// `count` uploads of `plaintext_len` bytes each, all started at once, one socket each:
/// prints how many were committed, the wall time and each distinct failure.
async fn many(port: u16, count: usize, plaintext_len: u64) -> anyhow::Result<()> {
    let began = Instant::now();
    let uploads: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(async move {
                let filler = Filler::new(plaintext_len, 1).map_err(|e| format!("{e:#}"))?;
                filler.upload(port, 1).await.map_err(|e| format!("{e:#}"))
            })
        })
        .collect();
    let mut done = 0;
    let mut failures = std::collections::BTreeMap::<String, usize>::new();
    for upload in uploads {
        match upload.await? {
            Ok(_) => done += 1,
            Err(e) => *failures.entry(e).or_default() += 1,
        }
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "{count} uploads of {plaintext_len} bytes at once: {done} committed in {secs:.2} s ({:.0} MB/s of plaintext)",
        (done as u64 * plaintext_len) as f64 / 1e6 / secs
    );
    for (failure, n) in failures {
        println!("  {n} failed: {failure}");
    }
    Ok(())
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
