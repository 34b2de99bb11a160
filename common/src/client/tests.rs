//! Scripted server conversations for both sessions: the happy paths, the window, and a
//! server that speaks out of turn, sends garbage or refuses.
use serde_json::{Value, json};

use super::*;
use crate::{
    Header, KdfParams,
    b64::Bytes,
    protocol::{PROTOCOL_VERSION, UploadRequest},
};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

pub(super) const ID: &str = "q3Xv0m4yLrZ4cF2kHk8VtA";
pub(super) const CHUNK: u32 = 1024;
pub(super) const SEALED: usize = CHUNK as usize + 16;

pub(super) fn header() -> Header {
    Header::generate(KdfParams::FLOOR, CHUNK, false).unwrap()
}

pub(super) fn start(plaintext_len: u64) -> UploadRequest {
    let h = header();
    UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: Bytes(h.to_bytes().to_vec()),
        metadata: Bytes(vec![1; 40]),
        verifier: Bytes(vec![2; 32]),
        expires_in_secs: 60,
        max_downloads: 1,
        ciphertext_size: h.ciphertext_len(plaintext_len),
        credential: None,
    }
}

pub(super) fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The sizes of the chunks of a `plaintext_len`-byte file.
pub(super) fn sizes(plaintext_len: u64) -> Vec<usize> {
    let h = header();
    let n = h.chunk_count(plaintext_len);
    let last = h.ciphertext_len(plaintext_len) as usize - (n as usize - 1) * SEALED;
    (0..n)
        .map(|i| if i + 1 == n { last } else { SEALED })
        .collect()
}

// -- downloads -- //

const TOKEN: [u8; 32] = [9; 32];

fn ready_json(plaintext_len: u64, window: u32) -> String {
    let h = header();
    json!({"type": "ready", "metadata": "AQID", "ciphertext_size": h.ciphertext_len(plaintext_len),
           "chunks": h.chunk_count(plaintext_len), "window": window})
    .to_string()
}

fn download_ready(plaintext_len: u64, window: u32) -> Download {
    let id = ShareId::parse(ID).unwrap();
    let mut down = Download::new(&id, &TOKEN, &header());
    let DownloadAction::Send(text) = down.poll() else {
        panic!("start first")
    };
    assert_eq!(
        json_of(&text),
        json!({"type": "start", "version": PROTOCOL_VERSION, "share_id": ID,
               "token": crate::b64::encode(&TOKEN)})
    );
    assert_eq!(down.poll(), DownloadAction::Wait);
    down.handle_text(&ready_json(plaintext_len, window))
        .unwrap();
    if header().chunk_count(plaintext_len) == 1 {
        // The only chunk is also the final one: it must be asked for.
        let DownloadAction::Send(text) = down.poll() else {
            panic!("an ack of 0 first")
        };
        assert_eq!(json_of(&text), json!({"type": "ack", "chunks": 0}));
    }
    let DownloadAction::Ready(ready) = down.poll() else {
        panic!("ready first")
    };
    assert_eq!(ready.metadata, vec![1, 2, 3]);
    assert_eq!(ready.window, u64::from(window));
    down
}

#[test]
fn download_happy_path_acks_every_chunk_then_done() {
    for (len, window) in [(0u64, 2u32), (1024, 1), (5000, 2), (10 * 1024, 3)] {
        let mut down = download_ready(len, window);
        let sizes = sizes(len);
        // A server that sends as far as the window lets it, then waits for acks.
        let (mut sent, mut acked, mut got_done) = (0usize, 0u64, None);
        for _ in 0..1000 {
            while sent < sizes.len() && (sent as u64) - acked < u64::from(window) {
                let info = down.handle_binary(sizes[sent]).unwrap();
                assert_eq!(info.index, sent as u64);
                assert_eq!(info.last, sent + 1 == sizes.len());
                sent += 1;
                down.acknowledge(sent as u64).unwrap();
            }
            match down.poll() {
                DownloadAction::Send(text) => {
                    let ack = json_of(&text);
                    assert_eq!(ack["type"], "ack");
                    acked = ack["chunks"].as_u64().unwrap();
                }
                DownloadAction::Wait => {
                    assert_eq!(acked, sizes.len() as u64, "waiting with nothing to do");
                    down.handle_text(r#"{"type":"done","downloads_left":0}"#)
                        .unwrap();
                }
                DownloadAction::Done { downloads_left } => {
                    got_done = Some(downloads_left);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got_done, Some(0), "{len}");
        down.handle_closed(None).unwrap();
    }
}

#[test]
fn download_refuses_a_server_that_exceeds_the_window() {
    let mut down = download_ready(10 * 1024, 2);
    down.handle_binary(SEALED).unwrap();
    down.handle_binary(SEALED).unwrap();
    // Acknowledged locally but not yet sent: the server cannot know, so still refused.
    down.acknowledge(2).unwrap();
    assert_eq!(
        down.handle_binary(SEALED),
        Err(ClientError::ServerProtocol(
            "more chunks than the window allows"
        ))
    );
}

#[test]
fn download_refuses_wrong_sizes_extra_chunks_and_early_done() {
    let mut down = download_ready(2000, 4);
    assert!(down.handle_binary(SEALED + 1).is_err());

    let mut down = download_ready(2000, 4);
    down.handle_binary(SEALED).unwrap();
    let last = sizes(2000)[1];
    assert!(down.handle_binary(last - 1).is_err());

    let mut down = download_ready(1000, 4);
    down.handle_binary(sizes(1000)[0]).unwrap();
    assert_eq!(
        down.handle_binary(16),
        Err(ClientError::ServerProtocol("more chunks than announced"))
    );

    let mut down = download_ready(1000, 4);
    down.handle_binary(sizes(1000)[0]).unwrap();
    assert!(matches!(
        down.handle_text(r#"{"type":"done","downloads_left":0}"#),
        Err(ClientError::ServerProtocol(_))
    ));
}

#[test]
fn download_refuses_an_inconsistent_or_out_of_turn_ready() {
    let id = ShareId::parse(ID).unwrap();
    let fresh = || {
        let mut d = Download::new(&id, &TOKEN, &header());
        let _ = d.poll();
        d
    };
    let bad_ready = [
        json!({"type":"ready","metadata":"","ciphertext_size":5,"chunks":1,"window":2}),
        json!({"type":"ready","metadata":"","ciphertext_size":2000,"chunks":1,"window":2}),
        json!({"type":"ready","metadata":"","ciphertext_size":16,"chunks":1,"window":0}),
    ];
    for ready in bad_ready {
        let mut d = fresh();
        assert!(
            matches!(
                d.handle_text(&ready.to_string()),
                Err(ClientError::ServerProtocol(_))
            ),
            "{ready}"
        );
    }
    let mut d = fresh();
    assert!(d.handle_binary(16).is_err(), "a chunk before ready");
    let mut d = download_ready(10, 2);
    assert!(d.handle_text(&ready_json(10, 2)).is_err(), "ready twice");
}

#[test]
fn download_maps_every_refusal() {
    let id = ShareId::parse(ID).unwrap();
    for (code, want) in [
        (
            json!({"code": "wrong-token", "message": "wrong passphrase or link", "attempts_left": 9}),
            ClientError::WrongToken {
                attempts_left: Some(9),
                message: "wrong passphrase or link".into(),
            },
        ),
        (
            json!({"code": "used-up", "message": "m"}),
            ClientError::Gone {
                why: Gone::UsedUp,
                message: "m".into(),
            },
        ),
        (
            json!({"code": "expired", "message": "m"}),
            ClientError::Gone {
                why: Gone::Expired,
                message: "m".into(),
            },
        ),
        (
            json!({"code": "not-found", "message": "m"}),
            ClientError::Gone {
                why: Gone::NotFound,
                message: "m".into(),
            },
        ),
        (
            json!({"code": "busy", "message": "m"}),
            ClientError::Busy {
                message: "m".into(),
            },
        ),
        (
            json!({"code": "too-many-connections", "message": "m"}),
            ClientError::TooManyConnections {
                message: "m".into(),
            },
        ),
        (
            json!({"code": "a-future-code", "message": "m"}),
            ClientError::Refused {
                code: crate::protocol::ErrorCode::Unknown,
                message: "m".into(),
            },
        ),
    ] {
        let mut d = Download::new(&id, &TOKEN, &header());
        let _ = d.poll();
        let mut msg = code.clone();
        msg["type"] = "error".into();
        assert_eq!(d.handle_text(&msg.to_string()), Err(want.clone()), "{code}");
        assert_eq!(d.poll(), DownloadAction::Failed(want));
    }
}

#[test]
fn download_acks_only_what_was_received_and_never_backwards() {
    let mut d = download_ready(5000, 4);
    assert!(d.clone().acknowledge(1).is_err(), "nothing received");
    d.handle_binary(SEALED).unwrap();
    d.acknowledge(1).unwrap();
    assert!(d.clone().acknowledge(1).is_err(), "not forward");
    let closed = d.handle_closed(None);
    assert_eq!(closed, Err(ClientError::Closed { reason: None }));
}

/// A `ready` that carries a claim token, for `plaintext_len` bytes.
fn ready_with_claim(plaintext_len: u64, window: u32) -> String {
    let mut ready = json_of(&ready_json(plaintext_len, window));
    ready["claim_token"] = crate::b64::encode(&[5; 32]).into();
    ready.to_string()
}

/// Starts a download whose `ready` carries a claim token.
fn claimed(plaintext_len: u64, window: u32) -> Download {
    let id = ShareId::parse(ID).unwrap();
    let mut down = Download::new(&id, &TOKEN, &header());
    let _ = down.poll();
    down.handle_text(&ready_with_claim(plaintext_len, window))
        .unwrap();
    if header().chunk_count(plaintext_len) == 1 {
        let _ = down.poll();
    }
    assert!(matches!(down.poll(), DownloadAction::Ready(_)));
    down
}

#[test]
fn a_cut_download_resumes_inside_its_claim_from_the_next_chunk() {
    let mut down = claimed(10 * 1024, 4);
    for i in 1..=3u64 {
        down.handle_binary(SEALED).unwrap();
        if i < 3 {
            down.acknowledge(i).unwrap();
            assert!(matches!(down.poll(), DownloadAction::Send(_)));
        }
    }
    // Chunk 3 arrived but is not verified yet when the socket breaks.
    assert!(down.handle_closed(None).is_err());
    assert!(down.can_resume());
    down.resume().unwrap();
    let DownloadAction::Send(text) = down.poll() else {
        panic!("a resumed start")
    };
    assert_eq!(
        json_of(&text),
        json!({"type": "start", "version": PROTOCOL_VERSION, "share_id": ID,
               "token": crate::b64::encode(&TOKEN),
               "claim_token": crate::b64::encode(&[5; 32]), "from_chunk": 3})
    );
    assert_eq!(down.poll(), DownloadAction::Wait);
    // The answer carries no claim token and is not handed out again.
    down.handle_text(&ready_json(10 * 1024, 2)).unwrap();
    assert_eq!(down.poll(), DownloadAction::Wait);
    // The verification of chunk 3 finishes: the resumed start already said so.
    down.acknowledge(3).unwrap();
    assert_eq!(down.poll(), DownloadAction::Wait);
    let info = down.handle_binary(SEALED).unwrap();
    assert_eq!(info.index, 3);
    down.acknowledge(4).unwrap();
    assert_eq!(
        down.poll(),
        DownloadAction::Send(r#"{"type":"ack","chunks":4}"#.into())
    );
    // The window (now 2) counts from the resume point.
    down.handle_binary(SEALED).unwrap();
    down.handle_binary(SEALED).unwrap();
    assert!(down.handle_binary(SEALED).is_err());
}

#[test]
fn chunks_verified_while_the_socket_is_replaced_are_acknowledged_in_turn() {
    let mut down = claimed(10 * 1024, 4);
    for _ in 0..3 {
        down.handle_binary(SEALED).unwrap();
    }
    down.acknowledge(1).unwrap();
    assert!(matches!(down.poll(), DownloadAction::Send(_)));
    down.handle_closed(None).unwrap_err();
    // Verified after the cut, before the resume: accepted, never sent (the resumed
    // `start` covers it).
    down.acknowledge(2).unwrap();
    down.resume().unwrap();
    let _ = down.poll();
    // Verified while the resumed `ready` is awaited: accepted, not sent yet.
    down.acknowledge(3).unwrap();
    assert_eq!(down.poll(), DownloadAction::Wait);
    down.handle_text(&ready_json(10 * 1024, 4)).unwrap();
    assert_eq!(down.poll(), DownloadAction::Wait);
    down.handle_binary(SEALED).unwrap();
    down.acknowledge(4).unwrap();
    assert_eq!(
        down.poll(),
        DownloadAction::Send(r#"{"type":"ack","chunks":4}"#.into())
    );
}

#[test]
fn a_resumed_ready_for_another_file_is_refused() {
    let mut down = claimed(10 * 1024, 4);
    down.handle_binary(SEALED).unwrap();
    down.handle_closed(None).unwrap_err();
    down.resume().unwrap();
    let _ = down.poll();
    assert_eq!(
        down.handle_text(&ready_json(20 * 1024, 4)),
        Err(ClientError::ServerProtocol(
            "a resumed `ready` announces another file"
        ))
    );
}

#[test]
fn no_resume_without_a_claim_token_or_with_nothing_missing() {
    // An old server's `ready` has no claim token.
    let mut down = download_ready(10 * 1024, 4);
    down.handle_binary(SEALED).unwrap();
    down.handle_closed(None).unwrap_err();
    assert!(!down.can_resume());
    assert!(matches!(down.resume(), Err(ClientError::Misuse(_))));
    // Cut before `ready`: nothing to resume.
    let id = ShareId::parse(ID).unwrap();
    let mut down = Download::new(&id, &TOKEN, &header());
    let _ = down.poll();
    down.handle_closed(None).unwrap_err();
    assert!(!down.can_resume());
    // Every chunk received: nothing left to resume.
    let mut down = claimed(2000, 4);
    down.handle_binary(SEALED).unwrap();
    down.handle_binary(sizes(2000)[1]).unwrap();
    assert!(!down.can_resume());
}

#[test]
fn a_one_chunk_share_asks_for_its_only_chunk_before_ready() {
    let id = ShareId::parse(ID).unwrap();
    let mut down = Download::new(&id, &TOKEN, &header());
    let _ = down.poll();
    down.handle_text(&ready_json(100, 4)).unwrap();
    assert_eq!(
        down.poll(),
        DownloadAction::Send(r#"{"type":"ack","chunks":0}"#.into())
    );
    assert!(matches!(down.poll(), DownloadAction::Ready(_)));
    assert_eq!(down.poll(), DownloadAction::Wait);
    // A resume of it asks with its `start` instead (from chunk 0).
    let mut down = claimed(100, 4);
    down.handle_closed(None).unwrap_err();
    down.resume().unwrap();
    let DownloadAction::Send(text) = down.poll() else {
        panic!("a resumed start")
    };
    assert_eq!(json_of(&text)["from_chunk"], 0);
    down.handle_text(&ready_json(100, 4)).unwrap();
    assert_eq!(down.poll(), DownloadAction::Wait);
}

/// A later process continues a claim: its first `start` names the claim and the first
/// chunk it lacks, its `ready` (without a claim token) is handed out for the metadata,
/// and chunks, acks and the window go on from there.
#[test]
fn a_claim_is_continued_by_a_new_session_from_its_chunk() {
    let id = ShareId::parse(ID).unwrap();
    let mut down = Download::continue_claim(&id, &TOKEN, &header(), &[5; 32], 3);
    let DownloadAction::Send(text) = down.poll() else {
        panic!("a continued start")
    };
    assert_eq!(
        json_of(&text),
        json!({"type": "start", "version": PROTOCOL_VERSION, "share_id": ID,
               "token": crate::b64::encode(&TOKEN),
               "claim_token": crate::b64::encode(&[5; 32]), "from_chunk": 3})
    );
    assert_eq!(down.poll(), DownloadAction::Wait);
    down.handle_text(&ready_json(10 * 1024, 2)).unwrap();
    let DownloadAction::Ready(ready) = down.poll() else {
        panic!("the ready is handed out")
    };
    assert_eq!(ready.chunks, 10);
    assert_eq!(down.claim_token(), Some(&[5u8; 32][..]));
    assert_eq!(down.handle_binary(SEALED).unwrap().index, 3);
    // Acks go on from the continued count, never below it.
    assert!(matches!(
        down.clone().acknowledge(3),
        Err(ClientError::Misuse(_))
    ));
    down.acknowledge(4).unwrap();
    assert_eq!(
        down.poll(),
        DownloadAction::Send(r#"{"type":"ack","chunks":4}"#.into())
    );
    down.handle_binary(SEALED).unwrap();
    down.handle_binary(SEALED).unwrap();
    assert!(
        down.handle_binary(SEALED).is_err(),
        "the window counts from 4"
    );
    // Cut again: it resumes inside the same claim.
    let mut down = Download::continue_claim(&id, &TOKEN, &header(), &[5; 32], 3);
    let _ = down.poll();
    down.handle_text(&ready_json(10 * 1024, 2)).unwrap();
    let _ = down.poll();
    down.handle_closed(None).unwrap_err();
    down.resume().unwrap();
    let DownloadAction::Send(text) = down.poll() else {
        panic!("a resumed start")
    };
    assert_eq!(json_of(&text)["from_chunk"], 3);
}

/// A continued claim whose `ready` announces no more chunks than were kept is refused,
/// and a continued one-chunk share does not ask again with an ack of 0.
#[test]
fn a_continued_claim_checks_its_ready() {
    let id = ShareId::parse(ID).unwrap();
    let mut down = Download::continue_claim(&id, &TOKEN, &header(), &[5; 32], 10);
    let _ = down.poll();
    assert!(matches!(
        down.handle_text(&ready_json(10 * 1024, 2)),
        Err(ClientError::ServerProtocol(_))
    ));
    let mut down = Download::continue_claim(&id, &TOKEN, &header(), &[5; 32], 0);
    let _ = down.poll();
    down.handle_text(&ready_json(100, 4)).unwrap();
    assert!(matches!(down.poll(), DownloadAction::Ready(_)));
    assert_eq!(down.poll(), DownloadAction::Wait);
}

#[test]
fn claim_lost_is_its_own_failure() {
    let mut down = claimed(10 * 1024, 4);
    down.handle_binary(SEALED).unwrap();
    down.handle_closed(None).unwrap_err();
    down.resume().unwrap();
    let _ = down.poll();
    let err = down
        .handle_text(r#"{"type":"error","code":"claim-lost","message":"m"}"#)
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::ClaimLost {
            message: "m".into()
        }
    );
    assert!(!err.is_transient());
}

#[test]
fn debug_output_carries_no_token() {
    let id = ShareId::parse(ID).unwrap();
    let mut d = Download::new(&id, &TOKEN, &header());
    let _ = d.poll();
    d.handle_text(&ready_with_claim(5000, 4)).unwrap();
    let text = format!("{d:?}");
    assert!(!text.contains(&crate::b64::encode(&[5; 32])), "{text}");
    assert!(!text.contains(&crate::b64::encode(&TOKEN)), "{text}");
    assert!(!text.contains(ID), "{text}");
}

/// The layout agrees with the format's own arithmetic for every edge size.
#[test]
fn layout_matches_the_format() {
    let header = Header::generate(KdfParams::FLOOR, 1024, false).unwrap();
    for len in [0u64, 1, 1023, 1024, 1025, 2048, 5000] {
        let ct = header.ciphertext_len(len);
        let l = Layout::new(&header, ct).unwrap();
        assert_eq!(l.chunks, header.chunk_count(len), "{len}");
        assert_eq!(l.bytes_in(l.chunks), ct, "{len}");
        assert_eq!(header.plaintext_len(ct), Some(len));
    }
    for bad in [0u64, 15, 1040 + 5, 1040 + 16] {
        assert_eq!(Layout::new(&header, bad), None, "{bad}");
        assert_eq!(header.plaintext_len(bad), None, "{bad}");
    }
    // A chunk size of 0 has no layout: no header can carry it.
    assert!(Header::generate(KdfParams::FLOOR, 0, false).is_err());
}
