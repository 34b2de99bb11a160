//! The rules a server on the web must keep beyond the protocol (issue 12, items 7 and 8):
//! no share whose KDF cost is below Ferry's floor, WebSockets only from its own pages.
//! Each rule is followed by a normal round trip.
mod support;

use ferry_common::protocol::{
    DOWNLOAD_PATH, DownloadEvent, DownloadRequest, ErrorBody, ErrorCode, PROTOCOL_VERSION,
    UPLOAD_PATH, UploadRequest,
};
use support::*;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{
        self, Message,
        client::IntoClientRequest,
        http::{HeaderName, HeaderValue},
    },
};

/// Uploads `plaintext` and downloads it again through the test client (no `Origin`, as
/// the CLI), checking the bytes.
async fn round_trip(port: u16) {
    let plaintext = random_bytes(3 * 64 * 1024 + 17);
    let share = upload(port, &plaintext, &UploadOpts::default())
        .await
        .expect("upload");
    let got = download(port, &share).await.expect("download");
    assert!(got.plaintext == plaintext, "round trip differs");
}

// -- KDF floor -- //

/// Issue 12 item 7: a `start` whose header asks for Argon2id with 8 KiB and one pass was
/// stored; its download token would be cheap to brute-force offline. Now it is refused
/// before anything is stored, with a message naming the floor.
#[tokio::test]
async fn uploads_below_the_kdf_floor_are_refused() {
    let server = TestServer::start(|_| {}).await;
    for (m_cost, t_cost) in [(8u32, 1u32), (19 * 1024 - 1, 2), (64 * 1024, 1)] {
        let mut prep = prepare(b"cheap to guess", &UploadOpts::default());
        if let UploadRequest::Start { header, .. } = &mut prep.start {
            header.0[8..12].copy_from_slice(&m_cost.to_be_bytes());
            header.0[12..16].copy_from_slice(&t_cost.to_be_bytes());
        }
        let mut ws = connect(server.port, UPLOAD_PATH).await;
        let refused = start_upload(&mut ws, &prep.start)
            .await
            .expect_err("a below-floor header is refused");
        assert_eq!(refused.code, ErrorCode::BadRequest, "m {m_cost} t {t_cost}");
        assert!(
            refused.message.contains("below Ferry's minimum")
                && refused.message.contains("19456 KiB and 2 iterations"),
            "{}",
            refused.message
        );
    }
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
    round_trip(server.port).await;
}

// -- Origin -- //

/// A WebSocket handshake to `path` with extra request headers: the socket, or the HTTP
/// status and JSON error body of a refusal.
async fn handshake(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, (u16, ErrorBody)> {
    let mut request = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(res)) => {
            let body = res.body().as_deref().expect("a refusal has a body");
            Err((
                res.status().as_u16(),
                serde_json::from_slice(body).expect("ErrorBody JSON"),
            ))
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// Sends a download `start` with the right token and expects `ready`.
async fn download_starts(ws: &mut Ws, share: &Share) {
    send_json(
        ws,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share.id.clone(),
            token: share.token.to_vec().into(),
        },
    )
    .await;
    match next(ws).await {
        Some(Message::Text(text)) => assert!(
            matches!(
                serde_json::from_str(&text).unwrap(),
                DownloadEvent::Ready { .. }
            ),
            "{text}"
        ),
        other => panic!("no ready: {other:?}"),
    }
}

/// Issue 12 item 8: a page on `https://evil.example` (or a DNS-rebinding page whose name
/// now points at this server) could open the upload and download sockets. Now such a
/// handshake is refused with 403 before the upgrade; the server's own pages, configured
/// origins and clients that send no `Origin` still work.
#[tokio::test]
async fn websockets_only_from_the_servers_own_pages() {
    let server = TestServer::start(|c| {
        c.allowed_origins = vec!["https://ferry.example.org".parse().unwrap()];
    })
    .await;
    let port = server.port;
    let rebound_host = format!("evil.example:{port}");
    let rebound_origin = format!("http://evil.example:{port}");
    let foreign: [&[(&str, &str)]; 4] = [
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("origin", "http://127.0.0.1:1")],
        &[("host", &rebound_host), ("origin", &rebound_origin)],
    ];
    for path in [UPLOAD_PATH, DOWNLOAD_PATH] {
        for headers in foreign {
            let (status, body) = handshake(port, path, headers)
                .await
                .err()
                .unwrap_or_else(|| panic!("{path} {headers:?} accepted"));
            assert_eq!(status, 403, "{path} {headers:?}");
            assert_eq!(body.code, ErrorCode::ForbiddenOrigin);
            assert!(
                body.message.contains("--allowed-origin"),
                "{}",
                body.message
            );
        }
    }
    assert!(server.blob_files().is_empty());

    // The server's own origin, a configured one, and no Origin at all.
    let own = format!("http://127.0.0.1:{port}");
    let share = upload(
        port,
        b"for the origin test",
        &UploadOpts {
            max_downloads: 3,
            ..UploadOpts::default()
        },
    )
    .await
    .expect("upload without Origin");
    for origin in [own.as_str(), "https://ferry.example.org"] {
        let prep = prepare(b"x", &UploadOpts::default());
        let mut ws = handshake(port, UPLOAD_PATH, &[("origin", origin)])
            .await
            .unwrap_or_else(|e| panic!("{origin}: {e:?}"));
        start_upload(&mut ws, &prep.start).await.expect("ready");
        let mut ws = handshake(port, DOWNLOAD_PATH, &[("origin", origin)])
            .await
            .unwrap_or_else(|e| panic!("{origin}: {e:?}"));
        download_starts(&mut ws, &share).await;
    }
    round_trip(port).await;
}
