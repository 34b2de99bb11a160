//! One upload over several sockets at once ("lanes", driven by the client core's
//! `UploadLanes`) against the real server: every segment stored once, a lane cut in the
//! middle of a segment hands it to the others, and the share arrives byte-exact.
mod support;

use std::sync::{Arc, Mutex};

use ferry_common::{
    client::{ClientError, UploadAction, UploadLanes, Uploaded},
    protocol::UPLOAD_PATH,
};
use futures_util::SinkExt;
use support::*;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// 12 MiB of 64 KiB chunks: six segments of 32 chunks.
const SIZE: usize = 12 << 20;

/// What the lanes of one upload share.
struct Shared {
    session: Mutex<UploadLanes>,
    news: Notify,
}

/// What one lane did.
#[derive(Default, Debug)]
struct LaneLog {
    segments: Vec<u64>,
    connections: u32,
}

/// Drives `lane` over as many sockets as it takes (cutting its first socket once after
/// `cut_after` chunks, if given) until the upload ends.
async fn lane(
    port: u16,
    shared: Arc<Shared>,
    lane: usize,
    chunks: Arc<Vec<Vec<u8>>>,
    mut cut_after: Option<u32>,
) -> Result<(Uploaded, LaneLog), ClientError> {
    let mut log = LaneLog::default();
    for _ in 0..10 {
        while !shared.session.lock().unwrap().can_connect(lane) {
            let news = shared.news.notified();
            match shared.session.lock().unwrap().poll(lane) {
                Some(UploadAction::Done(done)) => return Ok((done, log)),
                Some(UploadAction::Failed(e)) => return Err(e),
                _ => {}
            }
            news.await;
        }
        let mut ws = connect(port, UPLOAD_PATH).await;
        shared.session.lock().unwrap().connect(lane)?;
        log.connections += 1;
        let mut sent = 0;
        loop {
            let news = shared.news.notified();
            let action = shared.session.lock().unwrap().poll(lane);
            match action {
                Some(UploadAction::Send(text)) => {
                    if let Ok(ferry_common::protocol::UploadRequest::Segment { index }) =
                        serde_json::from_str(&text)
                    {
                        log.segments.push(index);
                    }
                    ws.send(Message::text(text)).await.expect("send");
                }
                Some(UploadAction::SendChunk { index, len }) => {
                    if cut_after == Some(sent) {
                        cut_after = None;
                        drop(ws);
                        let mut session = shared.session.lock().unwrap();
                        let _ = session.handle_closed(lane, None);
                        // The core reports the lane's failure once, and frees its segments.
                        assert!(matches!(session.poll(lane), Some(UploadAction::Failed(_))));
                        drop(session);
                        shared.news.notify_waiters();
                        break;
                    }
                    shared.session.lock().unwrap().chunk_ready(lane, len)?;
                    let chunk = chunks[index as usize].clone();
                    ws.send(Message::binary(chunk)).await.expect("send chunk");
                    sent += 1;
                }
                Some(UploadAction::Wait) => {
                    let event = next(&mut ws).await;
                    let mut session = shared.session.lock().unwrap();
                    let _ = match event {
                        Some(Message::Text(text)) => session.handle_text(lane, &text),
                        _ => session.handle_closed(lane, None),
                    };
                    drop(session);
                    shared.news.notify_waiters();
                }
                None => news.await,
                Some(UploadAction::Done(done)) => return Ok((done, log)),
                Some(UploadAction::Failed(e)) if e.is_transient() => break,
                Some(UploadAction::Failed(e)) => return Err(e),
            }
        }
    }
    panic!("lane {lane} kept failing");
}

/// Uploads `prep` over `lanes` sockets; returns the share and what each lane did.
async fn upload_lanes(
    port: u16,
    prep: Prepared,
    lanes: usize,
    cut: Option<(usize, u32)>,
) -> (Share, Vec<LaneLog>) {
    let shared = Arc::new(Shared {
        session: Mutex::new(UploadLanes::new(&prep.start, lanes).unwrap()),
        news: Notify::new(),
    });
    let chunks = Arc::new(prep.chunks);
    let tasks: Vec<_> = (0..lanes)
        .map(|i| {
            let cut_after = cut.filter(|c| c.0 == i).map(|c| c.1);
            tokio::spawn(lane(port, shared.clone(), i, chunks.clone(), cut_after))
        })
        .collect();
    let mut logs = Vec::new();
    let mut uploaded = None;
    for task in tasks {
        let (done, log) = task.await.unwrap().expect("the lane ends with the upload");
        uploaded = Some(done);
        logs.push(log);
    }
    let done = uploaded.unwrap();
    let share = Share {
        id: done.share_id.as_str().to_owned(),
        link_secret: prep.link_secret,
        token: prep.token,
        owner_token: done.owner_token,
        expires_at: done.expires_at,
    };
    (share, logs)
}

#[tokio::test]
async fn three_lanes_store_every_segment_once() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(SIZE);
    let (share, logs) =
        upload_lanes(server.port, prepare(&data, &UploadOpts::default()), 3, None).await;
    let mut sent: Vec<u64> = logs.iter().flat_map(|l| l.segments.clone()).collect();
    sent.sort_unstable();
    assert_eq!(sent, (0..6).collect::<Vec<_>>(), "{logs:?}");
    assert!(
        logs.iter().all(|l| !l.segments.is_empty()),
        "every lane carried segments: {logs:?}"
    );
    let objects = list_files(&server.dir.path().join("segments").join(&share.id));
    assert_eq!(objects.len(), 6, "one object per segment: {objects:?}");
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn a_lane_cut_inside_a_segment_hands_it_on_and_reconnects() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(SIZE);
    let prep = prepare(&data, &UploadOpts::default());
    // Lane 1 is cut after 40 chunks: inside its second segment.
    let (share, logs) = upload_lanes(server.port, prep, 2, Some((1, 40))).await;
    assert_eq!(logs[1].connections, 2, "{logs:?}");
    let cut = logs[1].segments[1];
    let all: Vec<u64> = logs.iter().flat_map(|l| l.segments.clone()).collect();
    let times = all.iter().filter(|&&s| s == cut).count();
    assert_eq!(times, 2, "the cut segment went again: {logs:?}");
    let objects = list_files(&server.dir.path().join("segments").join(&share.id));
    assert_eq!(objects.len(), 6, "one object per segment: {objects:?}");
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}
