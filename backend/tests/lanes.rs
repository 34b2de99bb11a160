//! One upload over several sockets at once ("lanes", driven by the client core's
//! `UploadLanes`) against the real server: every segment stored once, a lane cut in the
//! middle of a segment hands it to the others, and the share arrives byte-exact.
#[path = "../examples/support/lanes.rs"]
mod lanes;
mod support;

use std::sync::Arc;

use bytes::Bytes;
use lanes::{Faults, LaneLog};
use support::*;

/// 12 MiB of 64 KiB chunks: six segments of 32 chunks.
const SIZE: usize = 12 << 20;

/// Uploads `prep` over `lanes` sockets; returns the share and what each lane did.
async fn upload_lanes(
    port: u16,
    prep: Prepared,
    lanes: usize,
    faults: Faults,
) -> (Share, Vec<LaneLog>) {
    let chunks: Arc<Vec<Bytes>> = Arc::new(prep.chunks.into_iter().map(Bytes::from).collect());
    let source: lanes::ChunkSource = Arc::new(move |index, len| {
        let chunk = chunks[index as usize].clone();
        assert_eq!(chunk.len(), len);
        chunk
    });
    let (done, logs) = lanes::upload(port, &prep.start, lanes, source, faults)
        .await
        .expect("the upload commits");
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
    let (share, logs) = upload_lanes(
        server.port,
        prepare(&data, &UploadOpts::default()),
        3,
        Faults::default(),
    )
    .await;
    let mut sent: Vec<u64> = logs.iter().flat_map(|l| l.segments.clone()).collect();
    sent.sort_unstable();
    assert_eq!(sent, (0..6).collect::<Vec<_>>(), "{logs:?}");
    // Which lane takes which segment is the scheduler's call (a lane connects only after
    // the first `ready`, and a busy machine may let the first lanes take every segment
    // before the last one connects); that the upload was spread is not.
    let busy = logs.iter().filter(|l| !l.segments.is_empty()).count();
    assert!(busy >= 2, "the segments went over several lanes: {logs:?}");
    let objects = list_files(
        &blob_root(server.dir.path())
            .join("segments")
            .join(&share.id),
    );
    assert_eq!(objects.len(), 6, "one object per segment: {objects:?}");
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn a_lane_cut_inside_a_segment_hands_it_on_and_reconnects() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(SIZE);
    let prep = prepare(&data, &UploadOpts::default());
    // Lane 1 is cut after 40 chunks: inside its second segment.
    let (share, logs) = upload_lanes(
        server.port,
        prep,
        2,
        Faults {
            cut: Some((1, 40)),
            ..Faults::default()
        },
    )
    .await;
    assert_eq!(logs[1].connections, 2, "{logs:?}");
    let cut = logs[1].segments[1];
    let all: Vec<u64> = logs.iter().flat_map(|l| l.segments.clone()).collect();
    let times = all.iter().filter(|&&s| s == cut).count();
    assert_eq!(times, 2, "the cut segment went again: {logs:?}");
    let objects = list_files(
        &blob_root(server.dir.path())
            .join("segments")
            .join(&share.id),
    );
    assert_eq!(objects.len(), 6, "one object per segment: {objects:?}");
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn a_lane_out_of_work_closes_rather_than_outlast_the_idle_timeout() {
    // Lane 0 crawls (a slow link): lane 1 runs out of segments long before the upload
    // ends, and a socket silent for the server's idle timeout would be ended with
    // `protocol-violation`, failing the whole upload. It parks instead.
    let server = TestServer::start(|c| c.idle_timeout = std::time::Duration::from_secs(1)).await;
    let data = random_bytes(SIZE);
    let slow = Some((0, std::time::Duration::from_millis(50)));
    let faults = Faults {
        slow,
        ..Faults::default()
    };
    let (share, logs) = upload_lanes(
        server.port,
        prepare(&data, &UploadOpts::default()),
        2,
        faults,
    )
    .await;
    assert!(logs[1].parked >= 1, "{logs:?}");
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}
