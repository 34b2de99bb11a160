//! Scripted server conversations for the upload session: segments within the window,
//! resume, and a server that speaks out of turn.
use serde_json::json;

use super::tests::{ID, SEALED, json_of, sizes, start};
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const UPLOAD_TOKEN: [u8; 32] = [5; 32];
const OWNER_TOKEN: [u8; 32] = [6; 32];

fn b64(bytes: &[u8]) -> String {
    crate::b64::encode(bytes)
}

fn ready(segment_chunks: u64, segments: u64, window: u32, missing: &[[u64; 2]]) -> String {
    json!({"type": "ready", "share_id": ID, "window": window, "segment_chunks": segment_chunks,
           "segments": segments, "missing": missing,
           "upload_token": b64(&UPLOAD_TOKEN), "owner_token": b64(&OWNER_TOKEN)})
    .to_string()
}

/// A server that acknowledges a segment whenever the client waits with one outstanding,
/// and checks every frame: returns the upload's result, the segments it was sent and the
/// size of every chunk.
fn serve(mut up: Upload, segment_chunks: u64, window: u64) -> (Uploaded, Vec<u64>, Vec<usize>) {
    let (mut segments, mut lens) = (Vec::new(), Vec::new());
    let mut unacked: Vec<(u64, u64)> = Vec::new();
    let mut in_segment: Option<(u64, u64)> = None;
    let mut outstanding = 0;
    for _ in 0..10_000 {
        match up.poll() {
            UploadAction::Send(text) => {
                let msg = json_of(&text);
                match msg["type"].as_str().unwrap() {
                    "segment" => {
                        assert!(in_segment.is_none(), "segment inside a segment");
                        let index = msg["index"].as_u64().unwrap();
                        segments.push(index);
                        in_segment = Some((index, 0));
                    }
                    "finish" => {
                        assert!(unacked.is_empty() && in_segment.is_none());
                        let done = json!({"type": "done", "share_id": ID, "expires_at": 7});
                        up.handle_text(&done.to_string()).unwrap();
                    }
                    other => panic!("unexpected {other}"),
                }
            }
            UploadAction::SendChunk { index, len } => {
                let (segment, sent) = in_segment.expect("chunk inside a segment");
                assert_eq!(index, segment * segment_chunks + sent, "chunks in order");
                up.chunk_ready(len).unwrap();
                lens.push(len);
                outstanding += 1;
                assert!(outstanding <= window, "window exceeded");
                let count = (sizes_total(&up) - segment * segment_chunks).min(segment_chunks);
                in_segment = (sent + 1 < count).then_some((segment, sent + 1));
                if in_segment.is_none() {
                    unacked.push((segment, count));
                }
            }
            UploadAction::Wait => {
                let (segment, count) = unacked.remove(0);
                outstanding -= count;
                up.handle_text(&json!({"type": "ack", "segment": segment}).to_string())
                    .unwrap();
            }
            UploadAction::Done(done) => return (done, segments, lens),
            UploadAction::Failed(e) => panic!("failed: {e}"),
        }
    }
    panic!("did not finish")
}

fn sizes_total(up: &Upload) -> u64 {
    up.total_chunks()
}

fn opened(plaintext_len: u64, ready_text: &str) -> Upload {
    let mut up = Upload::new(&start(plaintext_len)).unwrap();
    let UploadAction::Send(text) = up.poll() else {
        panic!("start first")
    };
    assert_eq!(json_of(&text)["type"], "start");
    assert_eq!(up.poll(), UploadAction::Wait);
    up.handle_text(ready_text).unwrap();
    up
}

#[test]
fn a_fresh_upload_sends_every_segment_in_order_within_the_window() {
    // 7 chunks of 1 KiB (the last shorter), 3 per segment: segments of 3, 3 and 1 chunk.
    let len = 6 * 1024 + 100;
    let up = opened(len, &ready(3, 3, 4, &[[0, 3]]));
    let (done, segments, lens) = serve(up, 3, 4);
    assert_eq!(segments, vec![0, 1, 2]);
    assert_eq!(lens, sizes(len));
    assert_eq!(done.owner_token, OWNER_TOKEN.to_vec());
    assert_eq!(done.share_id.as_str(), ID);
}

#[test]
fn a_resumed_upload_sends_only_the_missing_segments() {
    let len = 6 * 1024 + 100;
    let fresh = opened(len, &ready(3, 3, 4, &[[0, 3]]));
    let saved = fresh.resumable().unwrap().clone();
    let mut up = Upload::resume(&saved).unwrap();
    let UploadAction::Send(text) = up.poll() else {
        panic!("resume first")
    };
    let msg = json_of(&text);
    assert_eq!(msg["type"], "resume");
    assert_eq!(msg["share_id"], ID);
    assert_eq!(msg["upload_token"], b64(&UPLOAD_TOKEN));
    let resumed = json!({"type": "ready", "share_id": ID, "window": 4, "segment_chunks": 3,
                         "segments": 3, "missing": [[1, 2]]});
    up.handle_text(&resumed.to_string()).unwrap();
    let before = up.stored_bytes();
    assert_eq!(before, (3 * SEALED + 100 + 16) as u64);
    let (done, segments, lens) = serve(up, 3, 4);
    assert_eq!(segments, vec![1]);
    assert_eq!(lens, vec![SEALED; 3]);
    assert_eq!(done.owner_token, OWNER_TOKEN.to_vec());
}

#[test]
fn resuming_a_committed_upload_is_done_at_once() {
    let fresh = opened(10, &ready(3, 1, 4, &[[0, 1]]));
    let mut up = Upload::resume(fresh.resumable().unwrap()).unwrap();
    let _ = up.poll();
    up.handle_text(&json!({"type": "done", "share_id": ID, "expires_at": 9}).to_string())
        .unwrap();
    let UploadAction::Done(done) = up.poll() else {
        panic!("done")
    };
    assert_eq!(done.expires_at, 9);
    assert_eq!(up.stored_bytes(), up.total_bytes());
}

#[test]
fn a_server_out_of_turn_or_inconsistent_is_refused() {
    let len = 6 * 1024 + 100;
    let bad_ready = [
        ready(3, 4, 4, &[[0, 4]]),         // wrong segment count
        ready(3, 3, 2, &[[0, 3]]),         // window smaller than a segment
        ready(3, 3, 4, &[[0, 4]]),         // missing beyond the end
        ready(3, 3, 4, &[[1, 2], [0, 1]]), // out of order
        ready(0, 3, 4, &[[0, 3]]),
        json!({"type": "ready", "share_id": ID, "window": 4, "segment_chunks": 3,
               "segments": 3, "missing": [[0, 3]]})
        .to_string(), // no tokens after start
    ];
    for text in bad_ready {
        let mut up = Upload::new(&start(len)).unwrap();
        let _ = up.poll();
        assert!(
            matches!(up.handle_text(&text), Err(ClientError::ServerProtocol(_))),
            "{text}"
        );
        assert!(matches!(up.poll(), UploadAction::Failed(_)));
    }
    let mut up = opened(len, &ready(3, 3, 4, &[[0, 3]]));
    assert!(
        up.clone()
            .handle_text(&json!({"type": "ack", "segment": 0}).to_string())
            .is_err(),
        "an ack for a segment not sent"
    );
    assert!(
        up.clone()
            .handle_text(&json!({"type": "done", "share_id": ID, "expires_at": 1}).to_string())
            .is_err(),
        "done before finish"
    );
    assert!(
        up.handle_text(&ready(3, 3, 4, &[[0, 3]])).is_err(),
        "ready twice"
    );
}

#[test]
fn chunks_are_refused_outside_a_segment_or_at_the_wrong_size() {
    let mut up = opened(6 * 1024 + 100, &ready(3, 3, 4, &[[0, 3]]));
    assert!(up.clone().chunk_ready(SEALED).is_err(), "before `segment`");
    let UploadAction::Send(_) = up.poll() else {
        panic!("segment first")
    };
    assert!(up.clone().chunk_ready(SEALED - 1).is_err());
    up.chunk_ready(SEALED).unwrap();
}

#[test]
fn refusals_and_closes_fail_the_upload_and_keep_it_resumable() {
    let mut up = opened(10, &ready(3, 1, 4, &[[0, 1]]));
    up.handle_closed(Some("bye")).unwrap_err();
    let UploadAction::Failed(e) = up.poll() else {
        panic!("failed")
    };
    assert!(e.is_transient());
    assert!(up.resumable().is_some());
    let mut up = opened(10, &ready(3, 1, 4, &[[0, 1]]));
    let mismatch = json!({"type": "error", "code": "segment-mismatch", "message": "m"});
    let err = up.handle_text(&mismatch.to_string()).unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err.server_code(),
        Some(crate::protocol::ErrorCode::SegmentMismatch)
    );
}

#[test]
fn no_token_shows_in_debug_output() {
    let up = opened(10, &ready(3, 1, 4, &[[0, 1]]));
    let shown = format!("{:?} {:?}", up.resumable().unwrap(), up);
    assert!(!shown.contains("5, 5, 5"), "{shown}");
    assert!(!shown.contains(&b64(&UPLOAD_TOKEN)), "{shown}");
}
