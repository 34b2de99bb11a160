//! One upload over several lanes against a scripted server that stores a segment once
//! its last chunk arrived, answers `resume` with what it lacks, and can lose a socket.
use std::collections::{BTreeSet, VecDeque};

use serde_json::json;

use super::tests::{ID, json_of, start};
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const SEGMENT_CHUNKS: u64 = 3;
const WINDOW: u64 = 7;

/// What the server knows of one lane's socket.
#[derive(Default)]
struct Socket {
    /// The segment being received: index, chunks received, chunk count.
    segment: Option<(u64, u64, u64)>,
    /// Stored segments whose ack is not sent yet.
    unacked: VecDeque<u64>,
    in_window: u64,
}

struct Server {
    chunks: u64,
    stored: BTreeSet<u64>,
    /// Every `segment` announcement, on any lane.
    announced: Vec<u64>,
    /// The lanes that announced a segment.
    busy_lanes: BTreeSet<usize>,
    finishes: u32,
    sockets: Vec<Socket>,
    /// Cut this lane's socket once this many chunks arrived over all lanes.
    cut: Option<(usize, u64)>,
    received: u64,
    /// Holds `done` back: the lane that sent `finish`.
    hold_done: Option<Option<usize>>,
}

impl Server {
    fn segments(&self) -> u64 {
        self.chunks.div_ceil(SEGMENT_CHUNKS)
    }

    fn ready(&self, fresh: bool) -> String {
        let missing: Vec<[u64; 2]> = (0..self.segments())
            .filter(|s| !self.stored.contains(s))
            .map(|s| [s, s + 1])
            .collect();
        let mut ready = json!({"type": "ready", "share_id": ID, "window": WINDOW,
            "segment_chunks": SEGMENT_CHUNKS, "segments": self.segments(), "missing": missing});
        if fresh {
            ready["upload_token"] = json!(crate::b64::encode(&[5; 32]));
            ready["owner_token"] = json!(crate::b64::encode(&[6; 32]));
        }
        ready.to_string()
    }

    /// Answers one text message from `lane`.
    fn text(&mut self, up: &mut UploadLanes, lane: usize, text: &str) {
        let msg = json_of(text);
        let reply = match msg["type"].as_str().unwrap() {
            "start" => Some(self.ready(true)),
            "resume" => Some(self.ready(false)),
            "segment" => {
                let index = msg["index"].as_u64().unwrap();
                let count = (self.chunks - index * SEGMENT_CHUNKS).min(SEGMENT_CHUNKS);
                self.announced.push(index);
                self.busy_lanes.insert(lane);
                self.sockets[lane].segment = Some((index, 0, count));
                None
            }
            "finish" => {
                assert_eq!(
                    self.stored.len() as u64,
                    self.segments(),
                    "finish too early"
                );
                self.finishes += 1;
                match &mut self.hold_done {
                    Some(held) => {
                        *held = Some(lane);
                        None
                    }
                    None => Some(done_text()),
                }
            }
            other => panic!("unexpected {other}"),
        };
        if let Some(reply) = reply {
            let _ = up.handle_text(lane, &reply);
        }
    }

    /// Receives chunk `index` on `lane`; returns whether the socket was cut.
    fn chunk(&mut self, up: &mut UploadLanes, lane: usize, index: u64, len: usize) -> bool {
        up.chunk_ready(lane, len).unwrap();
        let socket = &mut self.sockets[lane];
        let (segment, got, count) = socket.segment.expect("a chunk inside a segment");
        assert_eq!(index, segment * SEGMENT_CHUNKS + got, "chunks in order");
        socket.in_window += 1;
        assert!(socket.in_window <= WINDOW, "window exceeded");
        socket.segment = (got + 1 < count).then_some((segment, got + 1, count));
        if got + 1 == count {
            self.stored.insert(segment);
            socket.unacked.push_back(segment);
        }
        self.received += 1;
        if self
            .cut
            .is_some_and(|(l, at)| l == lane && self.received >= at)
        {
            self.cut = None;
            self.sockets[lane] = Socket::default();
            let _ = up.handle_closed(lane, None);
            return true;
        }
        false
    }

    fn ack(&mut self, up: &mut UploadLanes, lane: usize) {
        let segment = self.sockets[lane]
            .unacked
            .pop_front()
            .expect("waits for an ack");
        let count = (self.chunks - segment * SEGMENT_CHUNKS).min(SEGMENT_CHUNKS);
        self.sockets[lane].in_window -= count;
        let ack = json!({"type": "ack", "segment": segment}).to_string();
        up.handle_text(lane, &ack).unwrap();
    }
}

/// Drives every lane in turn, reconnecting a cut lane, until every lane is done.
fn run(up: &mut UploadLanes, server: &mut Server) -> Uploaded {
    let lanes = up.lanes();
    let mut done: Vec<Option<Uploaded>> = vec![None; lanes];
    for _ in 0..100_000 {
        for (lane, done) in done.iter_mut().enumerate() {
            if done.is_some() {
                continue;
            }
            if up.can_connect(lane) {
                up.connect(lane).unwrap();
                server.sockets[lane] = Socket::default();
            }
            let Some(action) = up.poll(lane) else {
                continue;
            };
            match action {
                UploadAction::Send(text) => server.text(up, lane, &text),
                UploadAction::SendChunk { index, len } => {
                    server.chunk(up, lane, index, len);
                }
                UploadAction::Wait => server.ack(up, lane),
                UploadAction::Done(uploaded) => *done = Some(uploaded),
                UploadAction::Failed(e) => assert!(e.is_transient(), "{e}"),
            }
        }
        if done.iter().all(Option::is_some) {
            return done[0].clone().unwrap();
        }
    }
    panic!("did not finish")
}

fn server(chunks: u64, lanes: usize) -> Server {
    Server {
        chunks,
        stored: BTreeSet::new(),
        announced: Vec::new(),
        busy_lanes: BTreeSet::new(),
        finishes: 0,
        sockets: (0..lanes).map(|_| Socket::default()).collect(),
        cut: None,
        received: 0,
        hold_done: None,
    }
}

fn done_text() -> String {
    json!({"type": "done", "share_id": ID, "expires_at": 7}).to_string()
}

/// Two lanes of a new upload: lane 0 started (its `ready` taken in), lane 1 connected and
/// its `resume` returned, not yet sent to the server.
fn two_lanes() -> (UploadLanes, Server, String) {
    let mut up = UploadLanes::new(&start(LEN), 2).unwrap();
    let mut server = server(21, 2);
    up.connect(0).unwrap();
    let Some(UploadAction::Send(text)) = up.poll(0) else {
        panic!("start")
    };
    server.text(&mut up, 0, &text);
    up.connect(1).unwrap();
    let Some(UploadAction::Send(resume)) = up.poll(1) else {
        panic!("resume")
    };
    assert_eq!(json_of(&resume)["type"], "resume");
    (up, server, resume)
}

/// 20 chunks of 1 KiB plus a short one: 7 segments of 3 chunks.
const LEN: u64 = 20 * 1024 + 10;

#[test]
fn three_lanes_send_every_segment_once_and_finish_once() {
    let mut up = UploadLanes::new(&start(LEN), 3).unwrap();
    assert!(up.can_connect(0));
    assert!(
        !up.can_connect(1),
        "other lanes join once the upload token is known"
    );
    let mut server = server(21, 3);
    let done = run(&mut up, &mut server);
    assert_eq!(done.share_id.as_str(), ID);
    let mut announced = server.announced.clone();
    announced.sort_unstable();
    assert_eq!(announced, (0..7).collect::<Vec<_>>());
    assert_eq!(server.finishes, 1);
    assert_eq!(up.stored_bytes(), up.total_bytes());
    assert_eq!(server.busy_lanes.len(), 3, "segments spread over the lanes");
}

#[test]
fn a_cut_lane_gives_its_segments_back_and_the_upload_completes() {
    let mut up = UploadLanes::new(&start(LEN), 2).unwrap();
    let mut server = server(21, 2);
    // Lane 1 is cut after the 8th chunk overall, inside a segment.
    server.cut = Some((1, 8));
    run(&mut up, &mut server);
    assert_eq!(server.stored.len(), 7);
    assert_eq!(server.finishes, 1);
    assert!(server.announced.len() > 7, "the cut segment was sent again");
    assert_eq!(up.stored_bytes(), up.total_bytes());
}

#[test]
fn resumed_lanes_send_only_what_the_server_lacks() {
    let mut first = UploadLanes::new(&start(LEN), 1).unwrap();
    let mut server = server(21, 2);
    first.connect(0).unwrap();
    let Some(UploadAction::Send(text)) = first.poll(0) else {
        panic!("start")
    };
    server.text(&mut first, 0, &text);
    let saved = first.resumable().unwrap().clone();
    server.stored.extend([0, 2, 3]);
    let mut up = UploadLanes::resume(&saved, 2).unwrap();
    assert!(up.can_connect(0) && up.can_connect(1));
    run(&mut up, &mut server);
    let mut announced = server.announced.clone();
    announced.sort_unstable();
    assert_eq!(announced, vec![1, 4, 5, 6]);
}

#[test]
fn a_refusal_on_one_lane_ends_every_lane() {
    let mut up = UploadLanes::new(&start(LEN), 2).unwrap();
    let mut server = server(21, 2);
    up.connect(0).unwrap();
    let Some(UploadAction::Send(text)) = up.poll(0) else {
        panic!("start")
    };
    server.text(&mut up, 0, &text);
    up.connect(1).unwrap();
    let mismatch = json!({"type": "error", "code": "segment-mismatch", "message": "m"});
    up.handle_text(1, &mismatch.to_string()).unwrap_err();
    assert!(matches!(up.poll(1), Some(UploadAction::Failed(e)) if !e.is_transient()));
    assert!(matches!(up.poll(0), Some(UploadAction::Failed(_))));
    assert!(!up.can_connect(1));
}

#[test]
fn a_first_lane_cut_before_ready_fails_the_upload() {
    let mut up = UploadLanes::new(&start(LEN), 2).unwrap();
    up.connect(0).unwrap();
    let _ = up.poll(0);
    up.handle_closed(0, None).unwrap_err();
    assert!(matches!(up.poll(0), Some(UploadAction::Failed(_))));
    assert!(!up.can_connect(0), "nothing to resume");
}

#[test]
fn every_lane_sees_the_end_as_soon_as_one_lane_got_it() {
    // Idle lanes poll again only when another lane moves on: the `done` that arrives on
    // one lane must end the others at once, even if they poll before that lane does.
    let mut up = UploadLanes::new(&start(LEN), 3).unwrap();
    let mut server = server(21, 3);
    server.hold_done = Some(None);
    for _ in 0..10_000 {
        if server.hold_done != Some(None) {
            break;
        }
        for lane in 0..3 {
            if up.can_connect(lane) {
                up.connect(lane).unwrap();
            }
            match up.poll(lane) {
                Some(UploadAction::Send(text)) => server.text(&mut up, lane, &text),
                Some(UploadAction::SendChunk { index, len }) => {
                    server.chunk(&mut up, lane, index, len);
                }
                Some(UploadAction::Wait) if !server.sockets[lane].unacked.is_empty() => {
                    server.ack(&mut up, lane)
                }
                _ => {}
            }
        }
    }
    let finisher = server.hold_done.flatten().expect("finish was sent");
    up.handle_text(finisher, &done_text()).unwrap();
    for lane in (0..3).filter(|&l| l != finisher) {
        assert!(
            matches!(up.poll(lane), Some(UploadAction::Done(_))),
            "lane {lane} sees the end before lane {finisher} polled"
        );
    }
    assert!(matches!(up.poll(finisher), Some(UploadAction::Done(_))));
}

#[test]
fn a_ready_older_than_an_ack_on_another_lane_is_no_failure() {
    // Lane 1 asks to join; the server answers it before lane 0's first segment is stored,
    // but the answer arrives after lane 0's ack.
    let (mut up, mut server, _) = two_lanes();
    let stale_ready = server.ready(false);
    let Some(UploadAction::Send(segment)) = up.poll(0) else {
        panic!("segment")
    };
    server.text(&mut up, 0, &segment);
    for _ in 0..SEGMENT_CHUNKS {
        let Some(UploadAction::SendChunk { index, len }) = up.poll(0) else {
            panic!("chunk")
        };
        server.chunk(&mut up, 0, index, len);
    }
    server.ack(&mut up, 0);
    let before = up.stored_bytes();
    up.handle_text(1, &stale_ready).unwrap();
    assert_eq!(
        up.stored_bytes(),
        before,
        "an acknowledged segment stays stored"
    );
    run(&mut up, &mut server);
    assert_eq!(server.announced.iter().filter(|&&s| s == 0).count(), 1);
}

#[test]
fn a_lane_out_of_work_parks_and_comes_back_when_another_lane_fails() {
    let (mut up, mut server, resume) = two_lanes();
    server.text(&mut up, 1, &resume);
    // Lane 0 alone takes every segment; lane 1 is not polled meanwhile.
    for _ in 0..1_000 {
        if server.announced.len() == 7 {
            break;
        }
        match up.poll(0) {
            Some(UploadAction::Send(text)) => server.text(&mut up, 0, &text),
            Some(UploadAction::SendChunk { index, len }) => {
                server.chunk(&mut up, 0, index, len);
            }
            Some(UploadAction::Wait) => server.ack(&mut up, 0),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.announced.len(), 7);
    // Lane 1 has nothing to do and nothing is free: it parks, and may not come back yet.
    assert_eq!(up.poll(1), None);
    assert!(!up.park(0), "lane 0 still holds a segment");
    assert!(up.park(1));
    assert!(!up.can_connect(1), "no work for it");
    // Lane 0 breaks: what it held is free, so lane 1 has work again.
    up.handle_closed(0, None).unwrap_err();
    assert!(up.can_connect(1));
    assert!(matches!(up.poll(0), Some(UploadAction::Failed(_))));
    server.sockets[0] = Socket::default();
    run(&mut up, &mut server);
    assert_eq!(server.stored.len(), 7);
}
