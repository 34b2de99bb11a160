//! Hostile load for `scripts/bench-hostile.sh` (issue 12, items 1, 4 and 5), over raw TCP
//! to 127.0.0.1. Each phase opens COUNT sockets from the loopback addresses 127.0.0.2,
//! 127.0.0.3, … (SOURCES of them, round robin), keeps them for at most HOLD seconds, then
//! prints one line of outcomes. Bounded: every socket stops at HOLD, every write loop at a
//! byte budget.
//!
//! ```text
//! hostile_load PORT huge-frame COUNT SOURCES HOLD        1 TiB declared, then zeros
//! hostile_load PORT stalled-download COUNT SOURCES HOLD  downloads that never read
//! hostile_load PORT idle-pings COUNT SOURCES HOLD        idle sockets, a ping a second
//! hostile_load PORT upload-starts COUNT SOURCES HOLD     uploads that send `start` only
//! ```
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

#[path = "support/filler.rs"]
mod filler;
#[path = "support/lanes.rs"]
mod lanes;
#[path = "../tests/support/raw_ws.rs"]
mod raw_ws;

use anyhow::{Context, bail};
use ferry_common::protocol::{
    DOWNLOAD_PATH, DownloadRequest, PROTOCOL_VERSION, UPLOAD_PATH, UploadEvent, UploadRequest,
};
use filler::Filler;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpSocket, TcpStream, tcp::OwnedReadHalf},
    time::{Instant, sleep, timeout},
};

/// Zeros one huge-frame socket sends at most.
const HUGE_FRAME_BUDGET: u64 = 1 << 30;
/// Size of the share the stalled downloads ask for: well over one 16 MiB window.
const STALLED_SHARE: u64 = 64 << 20;

struct Args {
    port: u16,
    phase: String,
    count: usize,
    sources: usize,
    hold: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, phase, count, sources, hold] = args.as_slice() else {
        bail!("usage: hostile_load PORT PHASE COUNT SOURCES HOLD_SECS (see the source)");
    };
    Ok(Args {
        port: port.parse()?,
        phase: phase.clone(),
        count: count.parse()?,
        sources: sources.parse::<usize>()?.clamp(1, 250),
        hold: Duration::from_secs(hold.parse()?),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let start = match args.phase.as_str() {
        "stalled-download" => {
            let (id, token) = upload_share(args.port).await?;
            Some(serde_json::to_vec(&DownloadRequest::Start {
                version: PROTOCOL_VERSION,
                share_id: id,
                token: token.to_vec().into(),
                claim_token: None,
                from_chunk: None,
            })?)
        }
        "upload-starts" => Some(serde_json::to_vec(&upload_start(1 << 20)?)?),
        "huge-frame" | "idle-pings" => None,
        other => bail!("unknown phase {other}"),
    };
    let began = Instant::now();
    let deadline = began + args.hold;
    let mut tasks = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % args.sources) as u8));
        let phase = args.phase.clone();
        let start = start.clone();
        let port = args.port;
        tasks.push(tokio::spawn(async move {
            let outcome = match one_socket(port, source, &phase, start, deadline).await {
                Ok(outcome) => outcome,
                Err(err) => format!("failed: {err:#}"),
            };
            (outcome, began.elapsed().as_secs_f64())
        }));
    }
    // Per outcome: how many, and the first and last second it happened at.
    let mut outcomes: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for task in tasks {
        let (outcome, at) = task.await?;
        let entry = outcomes.entry(outcome).or_insert((0, f64::MAX, 0.0));
        *entry = (entry.0 + 1, entry.1.min(at), entry.2.max(at));
    }
    let summary: Vec<String> = outcomes
        .iter()
        .map(|(k, (n, first, last))| format!("{n} {k} ({first:.1}-{last:.1} s)"))
        .collect();
    println!("{}: {}", args.phase, summary.join(", "));
    Ok(())
}

/// Runs one hostile socket; returns what became of it.
async fn one_socket(
    port: u16,
    source: IpAddr,
    phase: &str,
    start: Option<Vec<u8>>,
    deadline: Instant,
) -> anyhow::Result<String> {
    let path = if phase == "stalled-download" {
        DOWNLOAD_PATH
    } else {
        UPLOAD_PATH
    };
    let tcp = handshake(port, source, path).await?;
    let (read, mut write) = tcp.into_split();
    // Stalled downloads never read; the others watch for the server's refusal.
    let watcher = (phase != "stalled-download").then(|| tokio::spawn(watch(read)));
    if let Some(start) = start {
        write
            .write_all(&raw_ws::frame_header(true, 0x1, start.len() as u64))
            .await?;
        write.write_all(&start).await?;
    }
    let mut written = 0u64;
    if phase == "huge-frame" {
        write
            .write_all(&raw_ws::frame_header(true, 0x2, 1 << 40))
            .await?;
    }
    let zeros = vec![0u8; 1 << 20];
    let ping = raw_ws::frame_header(true, 0x9, 0);
    let mut dropped = false;
    // Bounded by the deadline and, for huge frames, the byte budget.
    while Instant::now() < deadline {
        if watcher.as_ref().is_some_and(|w| w.is_finished()) {
            break;
        }
        let step = if phase == "huge-frame" && written < HUGE_FRAME_BUDGET {
            write.write_all(&zeros).await.map(|()| written += 1 << 20)
        } else {
            sleep(Duration::from_millis(500)).await;
            write.write_all(&ping).await
        };
        if step.is_err() {
            dropped = true;
            break;
        }
    }
    let outcome = match watcher {
        Some(watcher) if watcher.is_finished() => watcher.await?,
        Some(watcher) => {
            watcher.abort();
            "still open".to_owned()
        }
        None if dropped => "dropped by the server".to_owned(),
        None => "still open".to_owned(),
    };
    if phase == "huge-frame" {
        return Ok(format!("{outcome} after {} MiB", written >> 20));
    }
    Ok(outcome)
}

/// Reads server frames: the `error` code and close code, or how the connection ended.
async fn watch(mut read: OwnedReadHalf) -> String {
    let mut code = String::new();
    // Bounded: the connection ends or the caller aborts this task at its deadline.
    loop {
        let frame = raw_ws::read_frame(&mut read).await;
        match frame {
            Ok((0x1, payload)) => {
                if let Ok(UploadEvent::Error(body)) = serde_json::from_slice(&payload) {
                    code = format!("{:?}", body.code);
                }
            }
            Ok((0x8, payload)) => {
                let close = payload
                    .get(..2)
                    .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
                return format!("closed {close} {code}");
            }
            Ok(_) => {}
            Err(_) => return format!("connection ended {code}"),
        }
    }
}

async fn handshake(port: u16, source: IpAddr, path: &str) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let mut tcp = socket.connect(([127, 0, 0, 1], port).into()).await?;
    timeout(
        Duration::from_secs(30),
        raw_ws::upgrade(&mut tcp, port, path),
    )
    .await
    .context("handshake timed out")??;
    Ok(tcp)
}

fn upload_start(plaintext_len: u64) -> anyhow::Result<UploadRequest> {
    Ok(Filler::new(plaintext_len, 100)?.start)
}

/// Uploads a share of filler ciphertext that 100 downloads may fetch; returns its ID and
/// download token.
async fn upload_share(port: u16) -> anyhow::Result<(String, [u8; 32])> {
    let filler = Filler::new(STALLED_SHARE, 100)?;
    let done = filler.upload(port, 1).await?;
    Ok((done.share_id.as_str().to_owned(), filler.token))
}
