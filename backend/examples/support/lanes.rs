//! One upload over several sockets at once ("lanes"), driven by the client core's
//! `UploadLanes`: a tokio task per lane, all sharing the core. For the load tools
//! (`bench_client`) and the server's tests.
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferry_common::{
    client::{ClientError, UploadAction, UploadLanes, Uploaded},
    protocol::{UPLOAD_PATH, UploadRequest},
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::{connect_async, tungstenite::Message};

/// Chunk `index` of the upload, exactly `len` bytes.
pub type ChunkSource = Arc<dyn Fn(u64, usize) -> Bytes + Send + Sync>;

/// What one lane did.
#[derive(Default, Debug)]
pub struct LaneLog {
    /// The segments it announced, in order.
    pub segments: Vec<u64>,
    /// The sockets it opened.
    pub connections: u32,
    /// The times it closed its socket for want of work.
    pub parked: u32,
}

/// What the lanes of one upload share.
struct Shared {
    session: Mutex<UploadLanes>,
    news: Notify,
}

impl Shared {
    fn poll(&self, lane: usize) -> Option<UploadAction> {
        self.session.lock().unwrap().poll(lane)
    }

    /// Hands a server message (or the socket's end) of `lane` to the core and wakes the
    /// lanes waiting for news.
    fn feed(&self, lane: usize, msg: Option<Message>) {
        let mut session = self.session.lock().unwrap();
        let _ = match msg {
            Some(Message::Text(text)) => session.handle_text(lane, &text),
            Some(Message::Binary(frame)) => session.handle_binary(lane, frame.len()),
            _ => session.handle_closed(lane, None),
        };
        drop(session);
        self.news.notify_waiters();
    }
}

/// Faults a test asks for.
#[derive(Clone, Copy, Default)]
pub struct Faults {
    /// Drop lane `.0`'s first socket once it sent `.1` chunks.
    pub cut: Option<(usize, u32)>,
    /// Pause lane `.0` this long before each chunk (a slow link).
    pub slow: Option<(usize, std::time::Duration)>,
}

/// Uploads `start`'s share to the server on 127.0.0.1:`port` over `lanes` sockets, with
/// the chunks `chunks` gives and the `faults` asked for. Returns the committed share and
/// what each lane did.
pub async fn upload(
    port: u16,
    start: &UploadRequest,
    lanes: usize,
    chunks: ChunkSource,
    faults: Faults,
) -> Result<(Uploaded, Vec<LaneLog>), ClientError> {
    let shared = Arc::new(Shared {
        session: Mutex::new(UploadLanes::new(start, lanes)?),
        news: Notify::new(),
    });
    let tasks: Vec<_> = (0..lanes)
        .map(|i| {
            let cut_after = faults.cut.filter(|c| c.0 == i).map(|c| c.1);
            let pause = faults.slow.filter(|s| s.0 == i).map(|s| s.1);
            let faults = LaneFaults { cut_after, pause };
            tokio::spawn(lane(port, shared.clone(), i, chunks.clone(), faults))
        })
        .collect();
    let mut logs = Vec::new();
    let mut uploaded = None;
    for task in tasks {
        let (done, log) = task.await.expect("a lane task")?;
        uploaded = Some(done);
        logs.push(log);
    }
    Ok((uploaded.expect("at least one lane"), logs))
}

/// One lane's share of the [`Faults`].
struct LaneFaults {
    cut_after: Option<u32>,
    pause: Option<std::time::Duration>,
}

/// Drives `lane` over as many sockets as it takes (at most 10) until the upload ends.
async fn lane(
    port: u16,
    shared: Arc<Shared>,
    lane: usize,
    chunks: ChunkSource,
    faults: LaneFaults,
) -> Result<(Uploaded, LaneLog), ClientError> {
    let LaneFaults {
        mut cut_after,
        pause,
    } = faults;
    let mut log = LaneLog::default();
    for _ in 0..10 {
        // Bounded: the core lets this lane connect once the first `ready` came, or ends.
        while !shared.session.lock().unwrap().can_connect(lane) {
            let news = shared.news.notified();
            match shared.poll(lane) {
                Some(UploadAction::Done(done)) => return Ok((done, log)),
                Some(UploadAction::Failed(e)) => return Err(e),
                _ => news.await,
            }
        }
        let url = format!("ws://127.0.0.1:{port}{UPLOAD_PATH}");
        let Ok((mut ws, _)) = connect_async(url).await else {
            continue;
        };
        if shared.session.lock().unwrap().connect(lane).is_err() {
            // Another lane took the work while the socket opened.
            continue;
        }
        log.connections += 1;
        let mut sent = 0;
        // Bounded: each turn sends a frame, reads one, or waits for another lane; the
        // core ends after `done` or a failure.
        loop {
            let news = shared.news.notified();
            let action = shared.poll(lane);
            match action {
                Some(UploadAction::Send(text)) => {
                    if let Ok(UploadRequest::Segment { index }) = serde_json::from_str(&text) {
                        log.segments.push(index);
                    }
                    if ws.send(Message::text(text)).await.is_err() {
                        shared.feed(lane, None);
                    }
                }
                Some(UploadAction::SendChunk { index, len }) => {
                    if cut_after == Some(sent) {
                        cut_after = None;
                        drop(ws);
                        shared.feed(lane, None);
                        // The core reports the lane's failure once, and frees its segments.
                        let _ = shared.poll(lane);
                        break;
                    }
                    if let Some(pause) = pause {
                        tokio::time::sleep(pause).await;
                    }
                    shared.session.lock().unwrap().chunk_ready(lane, len)?;
                    if ws.send(Message::Binary(chunks(index, len))).await.is_err() {
                        shared.feed(lane, None);
                    }
                    sent += 1;
                }
                Some(UploadAction::Wait) => {
                    let msg = ws.next().await.and_then(Result::ok);
                    shared.feed(lane, msg);
                }
                None if shared.session.lock().unwrap().park(lane) => {
                    log.parked += 1;
                    let _ = ws.close(None).await;
                    break;
                }
                // Idle: like the real clients, it still hears its own socket (a close).
                None => {
                    tokio::select! {
                        () = news => {}
                        msg = ws.next() => shared.feed(lane, msg.and_then(Result::ok)),
                    }
                }
                Some(UploadAction::Done(done)) => return Ok((done, log)),
                Some(UploadAction::Failed(e)) if e.is_transient() => break,
                Some(UploadAction::Failed(e)) => return Err(e),
            }
        }
    }
    panic!("lane {lane} kept failing");
}
