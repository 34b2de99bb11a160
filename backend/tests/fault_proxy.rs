//! The fault-injecting proxy (`faultproxy/`) in front of the real server: WebSocket
//! transfers pass through it byte-exact while it lets them, a cut ends a download socket
//! as a network failure (no close frame), and an outage refuses connections until lifted.
//! A template for the resume tests.
mod support;

use std::net::SocketAddr;

use ferry_common::protocol::{DOWNLOAD_PATH, DownloadRequest, PROTOCOL_VERSION};
use ferry_faultproxy::{CutPoint, Direction, FaultPlan, Proxy};
use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio_tungstenite::tungstenite::Message;

async fn proxy(server: &TestServer, plan: FaultPlan) -> Proxy {
    let upstream: SocketAddr = ([127, 0, 0, 1], server.port).into();
    Proxy::start("127.0.0.1:0".parse().unwrap(), upstream, plan)
        .await
        .expect("proxy starts")
}

#[tokio::test]
async fn transfers_pass_through_cuts_fail_and_outages_refuse() {
    let server = TestServer::start(|_| {}).await;
    let plaintext = random_bytes(3 * 256 * 1024 + 99);
    let opts = UploadOpts {
        max_downloads: 3,
        ..UploadOpts::default()
    };

    // Pass-through: upload and download through the proxy, byte-exact.
    let clear = proxy(&server, FaultPlan::default()).await;
    let port = clear.local_addr().port();
    let share = upload(port, &plaintext, &opts).await.expect("upload");
    let got = download(port, &share).await.expect("download");
    assert!(got.plaintext == plaintext);
    let seen = clear.counters();
    assert!(seen.bytes_up > plaintext.len() as u64 && seen.bytes_down > plaintext.len() as u64);
    assert_eq!(seen.cuts, 0);

    // A download cut after 300 KiB from the server: the socket fails (no close frame).
    let cutting = proxy(
        &server,
        FaultPlan {
            cut: Some(CutPoint::After(300 * 1024)),
            direction: Direction::Down,
            max_cuts: Some(1),
            ..FaultPlan::default()
        },
    )
    .await;
    let port = cutting.local_addr().port();
    let mut ws = connect(port, DOWNLOAD_PATH).await;
    let start = DownloadRequest::Start {
        version: PROTOCOL_VERSION,
        share_id: share.id.clone(),
        token: share.token.to_vec().into(),
        claim_token: None,
        from_chunk: None,
    };
    ws.send(Message::text(serde_json::to_string(&start).unwrap()))
        .await
        .unwrap();
    let mut received = 0usize;
    let ended = loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => received += b.len(),
            Some(Ok(Message::Close(frame))) => break Ok(frame),
            Some(Ok(_)) => {}
            Some(Err(e)) => break Err(e),
            None => break Ok(None),
        }
    };
    assert!(
        ended.is_err(),
        "a failed connection, not a close: {ended:?}"
    );
    assert!(received < 300 * 1024, "{received}");
    assert_eq!(cutting.counters().cuts, 1);

    // Its single cut spent, the same proxy passes the next download through.
    let got = download(port, &share)
        .await
        .expect("download after the cut");
    assert!(got.plaintext == plaintext);

    // An outage refuses connections; lifted, transfers work again.
    cutting.set_down(true);
    let refused =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{DOWNLOAD_PATH}")).await;
    assert!(refused.is_err());
    cutting.set_down(false);
    let again = upload(port, &plaintext, &opts)
        .await
        .expect("upload after the outage");
    assert!(download(port, &again).await.expect("download").plaintext == plaintext);
}
