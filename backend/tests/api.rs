//! End-to-end tests against a real server on an ephemeral loopback port.
mod support;

use std::time::Duration;

use ferry_common::protocol::{
    DOWNLOAD_PATH, DownloadRequest, ErrorCode, Limits, PROTOCOL_VERSION, ShareStatus, UPLOAD_PATH,
    UploadEvent, UploadRequest,
};
use futures_util::SinkExt;
use support::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn round_trips_are_byte_exact() {
    let server = TestServer::start(|_| {}).await;
    let cs = 64 * 1024;
    for len in [0usize, 1, cs, cs - 1, cs + 1, 3 * cs + 5] {
        let plaintext = random_bytes(len);
        let opts = UploadOpts {
            name: format!("file-{len}.bin"),
            ..UploadOpts::default()
        };
        let share = upload(server.port, &plaintext, &opts)
            .await
            .expect("upload");
        assert_eq!(share.id.len(), 22);
        let info = server.info(&share.id).await.expect("info");
        assert_eq!(info.downloads_left, 1);
        assert_eq!(info.attempts_left, 10);
        let got = download(server.port, &share).await.expect("download");
        assert_eq!(got.plaintext, plaintext, "len {len}");
        assert_eq!(got.name, opts.name);
        assert_eq!(got.downloads_left, 0);
        // A one-time share is gone: 410 used-up, and its blob is deleted.
        let (status, body) = server.info(&share.id).await.unwrap_err();
        assert_eq!((status, body.code), (410, ErrorCode::UsedUp));
        assert!(!server.blob_files().contains(&share.id));
    }
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
}

#[tokio::test]
async fn fifty_mib_round_trip() {
    let server = TestServer::start(|_| {}).await;
    let plaintext = random_bytes(50 * 1024 * 1024);
    let opts = UploadOpts {
        chunk_size: 256 * 1024,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &plaintext, &opts)
        .await
        .expect("upload");
    let got = download(server.port, &share).await.expect("download");
    assert!(got.plaintext == plaintext, "50 MiB differ");
}

#[tokio::test]
async fn data_dir_never_holds_plaintext_or_name() {
    let server = TestServer::start(|_| {}).await;
    let marker = b"FERRY-PLAINTEXT-MARKER-7f3a9c";
    let name = "very-secret-file-name-5d2e.txt";
    let plaintext: Vec<u8> = marker.iter().copied().cycle().take(300_000).collect();
    let opts = UploadOpts {
        name: name.into(),
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &plaintext, &opts)
        .await
        .expect("upload");
    let got = download(server.port, &share).await.expect("download");
    assert_eq!(got.plaintext, plaintext);
    let mut files = 0;
    // The data directory and, on S3, the bucket's objects (s3s-fs keeps them as files).
    let mut searched = walk(server.dir.path());
    if test_s3().is_some() {
        searched.extend(walk(&blob_root(server.dir.path())));
    }
    for entry in searched {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        for needle in [
            &marker[..],
            name.as_bytes(),
            PASSPHRASE.as_bytes(),
            &share.token[..],
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} contains a secret",
                entry.display()
            );
        }
    }
    let expected = if std::env::var("FERRY_TEST_DATABASE_URL").is_ok() {
        1 // the database lives elsewhere
    } else {
        2
    };
    assert!(files >= expected, "blob and database were searched");
}

#[tokio::test]
async fn one_time_share_serves_exactly_one_of_eight() {
    let server = TestServer::start(|_| {}).await;
    let plaintext = random_bytes(200_000);
    let share = std::sync::Arc::new(
        upload(server.port, &plaintext, &UploadOpts::default())
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let share = share.clone();
        let port = server.port;
        tasks.push(tokio::spawn(async move { download(port, &share).await }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(got) => {
                assert_eq!(got.plaintext, plaintext);
                ok += 1;
            }
            Err(body) => assert!(
                matches!(
                    body.code,
                    ErrorCode::Busy | ErrorCode::UsedUp | ErrorCode::NotFound
                ),
                "{body:?}"
            ),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn limit_three_serves_exactly_three() {
    let server = TestServer::start(|_| {}).await;
    let plaintext = random_bytes(100_000);
    let opts = UploadOpts {
        max_downloads: 3,
        ..UploadOpts::default()
    };
    let share = std::sync::Arc::new(upload(server.port, &plaintext, &opts).await.unwrap());
    // Six at once, then retries until the share says it is used up.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let share = share.clone();
        let port = server.port;
        tasks.push(tokio::spawn(async move { download(port, &share).await }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    loop {
        match download(server.port, &share).await {
            Ok(got) => {
                assert_eq!(got.plaintext, plaintext);
                ok += 1;
            }
            Err(body) if body.code == ErrorCode::Busy => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(body) => {
                assert_eq!(body.code, ErrorCode::UsedUp, "{body:?}");
                break;
            }
        }
    }
    assert_eq!(ok, 3);
}

#[tokio::test]
async fn owner_status_and_delete() {
    let server = TestServer::start(|_| {}).await;
    let opts = UploadOpts {
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(server.port, b"hello", &opts).await.unwrap();
    let client = reqwest::Client::new();
    let bearer = format!("Bearer {}", ferry_common::b64::encode(&share.owner_token));
    let status_url = server.http(&format!("/api/shares/{}/status", share.id));
    let res = client.get(&status_url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .get(&status_url)
        .header("Authorization", "Bearer AAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let status: ShareStatus = client
        .get(&status_url)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((status.downloads_done, status.downloads_left), (0, 2));
    assert_eq!(status.expires_at, share.expires_at);
    download(server.port, &share).await.unwrap();
    let status: ShareStatus = client
        .get(&status_url)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((status.downloads_done, status.downloads_left), (1, 1));
    let url = server.http(&format!("/api/shares/{}", share.id));
    assert_eq!(client.delete(&url).send().await.unwrap().status(), 401);
    let res = client
        .delete(&url)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = server.info(&share.id).await.unwrap_err();
    assert_eq!((status, body.code), (404, ErrorCode::NotFound));
    assert!(server.blob_files().is_empty());
}

#[tokio::test]
async fn wrong_token_consumes_nothing_and_the_limit_deletes() {
    let server = TestServer::start(|_| {}).await;
    let opts = UploadOpts {
        max_downloads: 1,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &random_bytes(1000), &opts)
        .await
        .unwrap();
    for i in 1..=10u32 {
        let err = download_with(server.port, &share, [7; 32], None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::WrongToken);
        assert_eq!(err.message, "wrong passphrase or link");
        assert_eq!(err.attempts_left, Some(10 - i));
        if i == 9 {
            let info = server.info(&share.id).await.unwrap();
            assert_eq!((info.downloads_left, info.attempts_left), (1, 1));
        }
    }
    let (status, _) = server.info(&share.id).await.unwrap_err();
    assert_eq!(status, 404);
    assert!(server.blob_files().is_empty());
    // And the right token no longer helps.
    let err = download(server.port, &share).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn a_wrong_token_then_the_right_one_works() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(70_000);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let err = download_with(server.port, &share, [1; 32], None)
        .await
        .unwrap_err();
    assert_eq!(err.attempts_left, Some(9));
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn cut_off_download_frees_its_claim_at_once() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    // More chunks than the window, so the server cannot have sent them all; cut at the
    // first chunk, before any ack, so it sent nothing past the first window.
    let data = random_bytes(100 * 64 * 1024);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let _ = download_with(server.port, &share, share.token, Some(1)).await;
    // Nothing was consumed, and the retry need not wait for the (hour-long) lease.
    assert_eq!(server.info(&share.id).await.unwrap().downloads_left, 1);
    let mut got = None;
    eventually(
        "the retry is served once the server saw the first socket close",
        async || match download(server.port, &share).await {
            Ok(d) => {
                got = Some(d);
                true
            }
            Err(e) if e.code == ErrorCode::Busy => false,
            Err(e) => panic!("{e:?}"),
        },
    )
    .await;
    assert_eq!(got.unwrap().plaintext, data);
    assert_eq!(
        download(server.port, &share).await.unwrap_err().code,
        ErrorCode::UsedUp
    );
}

#[tokio::test]
async fn expiry_answers_410_and_the_sweeper_removes_the_blob() {
    let server = TestServer::start(|c| c.sweep_interval = Duration::from_millis(100)).await;
    let opts = UploadOpts {
        expires_in_secs: 2,
        max_downloads: 5,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &random_bytes(10_000), &opts)
        .await
        .unwrap();
    assert!(server.blob_files().contains(&share.id));
    eventually("the share answers 410 expired", async || {
        matches!(server.info(&share.id).await, Err((410, ref b)) if b.code == ErrorCode::Expired)
    })
    .await;
    eventually("the sweeper removes the blob", async || {
        server.blob_files().is_empty()
    })
    .await;
    let (status, body) = server.info(&share.id).await.unwrap_err();
    assert_eq!((status, body.code), (410, ErrorCode::Expired));
    assert_eq!(body.message, "this link has expired");
    let err = download(server.port, &share).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Expired);
}

#[tokio::test]
async fn limits_endpoint_and_refusals_before_storing() {
    let server = TestServer::start(|c| {
        c.max_file_size = 1024 * 1024;
        c.max_expiry_secs = 3600;
        c.max_downloads = 5;
    })
    .await;
    let limits: Limits = reqwest::get(server.http("/api/limits"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(limits.max_file_size, 1024 * 1024);
    assert_eq!(limits.expiry_choices_secs, vec![300, 3600]);
    assert_eq!(limits.download_choices, vec![1, 2, 3, 5]);
    assert_eq!(limits.max_chunk_size, 4 * 1024 * 1024);

    let cases = [
        (UploadOpts::default(), 1024 * 1024 + 1, ErrorCode::TooLarge),
        (
            UploadOpts {
                expires_in_secs: 3601,
                ..UploadOpts::default()
            },
            10,
            ErrorCode::ExpiryTooLong,
        ),
        (
            UploadOpts {
                max_downloads: 6,
                ..UploadOpts::default()
            },
            10,
            ErrorCode::TooManyDownloads,
        ),
    ];
    for (opts, len, code) in cases {
        let prep = prepare(&random_bytes(len), &opts);
        let mut ws = connect(server.port, UPLOAD_PATH).await;
        let err = start_upload(&mut ws, &prep.start).await.unwrap_err();
        assert_eq!(err.code, code, "{err:?}");
        let (close, reason) = expect_close(&mut ws).await;
        assert_ne!(close, 1000);
        assert_eq!(reason, err.message);
        assert!(server.blob_files().is_empty());
    }
    // A chunk size above the server's maximum, and a size that cannot be a stream.
    let mut prep = prepare(b"x", &UploadOpts::default());
    if let UploadRequest::Start {
        ciphertext_size, ..
    } = &mut prep.start
    {
        *ciphertext_size = 5;
    }
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    assert_eq!(
        start_upload(&mut ws, &prep.start).await.unwrap_err().code,
        ErrorCode::BadRequest
    );
    let big = UploadOpts {
        chunk_size: 8 * 1024 * 1024,
        ..UploadOpts::default()
    };
    let prep = prepare(b"x", &big);
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    assert_eq!(
        start_upload(&mut ws, &prep.start).await.unwrap_err().code,
        ErrorCode::BadRequest
    );
    assert!(server.blob_files().is_empty());
}

/// Opens an upload socket that got `ready` and announced segment 0, with the prepared
/// share (the small files here fit in one segment).
async fn ready_upload(port: u16, data: &[u8]) -> (Ws, Prepared, String) {
    let prep = prepare(data, &UploadOpts::default());
    let mut ws = connect(port, UPLOAD_PATH).await;
    let ready = start_upload(&mut ws, &prep.start).await.unwrap();
    assert!(prep.chunks.len() as u64 <= ready.segment_chunks);
    send_json(&mut ws, &UploadRequest::Segment { index: 0 }).await;
    (ws, prep, ready.id)
}

#[tokio::test]
async fn bad_messages_close_only_that_socket() {
    let server = TestServer::start(|_| {}).await;
    let port = server.port;
    // A healthy upload in progress alongside the bad ones.
    let (mut healthy, healthy_prep, _) = ready_upload(port, &random_bytes(3 * 64 * 1024)).await;

    let mut cases: Vec<(&str, ErrorCode, u16)> = Vec::new();

    // Malformed JSON.
    let mut ws = connect(port, UPLOAD_PATH).await;
    ws.send(Message::text("{not json")).await.unwrap();
    let (err, code, reason) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert_eq!(reason, err.message);
    cases.push(("malformed", err.code, code));

    // Unknown message type first, and after start.
    let mut ws = connect(port, UPLOAD_PATH).await;
    ws.send(Message::text(r#"{"type":"rewind","offset":4}"#))
        .await
        .unwrap();
    let (err, code, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);
    cases.push(("unknown first", err.code, code));
    let (mut ws, _, _) = ready_upload(port, b"abc").await;
    ws.send(Message::text(r#"{"type":"rewind"}"#))
        .await
        .unwrap();
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);

    // A chunk before start.
    let mut ws = connect(port, UPLOAD_PATH).await;
    ws.send(Message::binary(vec![0u8; 100])).await.unwrap();
    let (err, code, reason) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);
    assert!(reason.contains("before"), "{reason}");
    cases.push(("chunk before start", err.code, code));

    // Frames after the final one.
    let (mut ws, prep, id) = ready_upload(port, &random_bytes(64 * 1024 + 3)).await;
    for chunk in &prep.chunks {
        ws.send(Message::binary(chunk.clone())).await.unwrap();
    }
    ws.send(Message::binary(prep.chunks[1].clone()))
        .await
        .unwrap();
    let (err, code, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);
    cases.push(("frame after the last", err.code, code));
    assert_eq!(server.info(&id).await.unwrap_err().0, 404);

    // A chunk of the wrong size, and finish too early.
    let (mut ws, prep, _) = ready_upload(port, &random_bytes(3 * 64 * 1024)).await;
    ws.send(Message::binary(prep.chunks[0][..100].to_vec()))
        .await
        .unwrap();
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);
    let (mut ws, prep, _) = ready_upload(port, &random_bytes(3 * 64 * 1024)).await;
    ws.send(Message::binary(prep.chunks[0].clone()))
        .await
        .unwrap();
    send_json(&mut ws, &UploadRequest::Finish).await;
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);

    // An oversized frame (more than any sealed chunk).
    let (mut ws, _, _) = ready_upload(port, &random_bytes(100)).await;
    let _ = ws
        .send(Message::binary(vec![0u8; 4 * 1024 * 1024 + 4096]))
        .await;
    let (err, code, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::FrameTooLarge);
    assert_eq!(code, 1009);
    cases.push(("oversized frame", err.code, code));
    // A frame larger than this share's chunks (but under the server's frame limit).
    let (mut ws, _, _) = ready_upload(port, &random_bytes(100)).await;
    ws.send(Message::binary(vec![0u8; 200_000])).await.unwrap();
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::FrameTooLarge);

    // The download socket: malformed, unknown, binary first, bad version.
    for (msg, want) in [
        (Message::text("]"), ErrorCode::BadRequest),
        (
            Message::text(r#"{"type":"hello"}"#),
            ErrorCode::ProtocolViolation,
        ),
        (Message::binary(vec![1u8; 10]), ErrorCode::ProtocolViolation),
        (
            Message::text(
                serde_json::to_string(&DownloadRequest::Start {
                    version: PROTOCOL_VERSION + 1,
                    share_id: "x".into(),
                    token: vec![0; 32].into(),
                    claim_token: None,
                    from_chunk: None,
                })
                .unwrap(),
            ),
            ErrorCode::UnsupportedVersion,
        ),
    ] {
        let mut ws = connect(port, DOWNLOAD_PATH).await;
        ws.send(msg).await.unwrap();
        let (err, code, reason) = expect_download_error(&mut ws).await;
        assert_eq!(err.code, want);
        assert_eq!(reason, err.message);
        assert_ne!(code, 1000);
    }

    // An ack for chunks never sent ends that download (and consumes nothing).
    let opts = UploadOpts {
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(port, &random_bytes(100 * 64 * 1024), &opts)
        .await
        .unwrap();
    let mut ws = connect(port, DOWNLOAD_PATH).await;
    send_json(
        &mut ws,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share.id.clone(),
            token: share.token.to_vec().into(),
            claim_token: None,
            from_chunk: None,
        },
    )
    .await;
    send_json(&mut ws, &DownloadRequest::Ack { chunks: 1000 }).await;
    let (err, code, _) = expect_download_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);
    assert_eq!(code, 1002);
    assert_eq!(server.info(&share.id).await.unwrap().downloads_left, 2);

    for (what, _, close) in &cases {
        assert!(
            *close >= 1002 && *close != 1005,
            "{what}: close code {close}"
        );
    }
    // The healthy upload still completes, and a fresh round trip works.
    for chunk in &healthy_prep.chunks {
        healthy.send(Message::binary(chunk.clone())).await.unwrap();
    }
    send_json(&mut healthy, &UploadRequest::Finish).await;
    loop {
        match next(&mut healthy).await {
            Some(Message::Text(t)) => match serde_json::from_str::<UploadEvent>(&t).unwrap() {
                UploadEvent::Done { .. } => break,
                UploadEvent::Ack { .. } => continue,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }
    let data = random_bytes(123_456);
    let share = upload(port, &data, &UploadOpts::default()).await.unwrap();
    assert_eq!(download(port, &share).await.unwrap().plaintext, data);
    eventually("no staging file is left", async || {
        server.blob_files().iter().all(|f| !f.contains('#'))
    })
    .await;
}

#[tokio::test]
async fn static_files_headers_and_placeholder() {
    let server = TestServer::start(|_| {}).await;
    let res = reqwest::get(server.http("/s/AAAABBBBCCCCDDDDEEEEFF"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("not built"));

    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<!doctype html><p>app").unwrap();
    std::fs::write(
        site.path().join("ferry-frontend-0123456789abcdef_bg.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(site.path().join("sw.js"), "x".repeat(10_000)).unwrap();
    let dir = site.path().to_path_buf();
    let server = TestServer::start(move |c| c.static_dir = Some(dir)).await;
    let client = reqwest::Client::new();
    let check_security = |res: &reqwest::Response| {
        let h = res.headers();
        assert_eq!(h["content-security-policy"], ferry_backend::CSP);
        assert!(ferry_backend::CSP.contains("connect-src 'self'"));
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
    };
    for path in ["/", "/s/AAAABBBBCCCCDDDDEEEEFF"] {
        let res = client.get(server.http(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        check_security(&res);
        assert_eq!(res.headers()["cache-control"], "no-cache");
        assert!(res.text().await.unwrap().contains("app"));
    }
    let res = client
        .get(server.http("/ferry-frontend-0123456789abcdef_bg.wasm"))
        .send()
        .await
        .unwrap();
    check_security(&res);
    assert_eq!(res.headers()["content-type"], "application/wasm");
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let res = client
        .get(server.http("/sw.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let res = client.get(server.http("/healthz")).send().await.unwrap();
    check_security(&res);
    assert_eq!(res.text().await.unwrap(), "ok");
}

/// Starts the real binary on a free port, logging at info level to `log`; returns it
/// and its port.
fn spawn_binary(data_dir: &std::path::Path, log: &std::path::Path) -> (std::process::Child, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-server"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .envs(blob_env(data_dir))
        .env("RUST_LOG", "info")
        .stdout(log_file(log))
        .stderr(log_file(log))
        .spawn()
        .expect("ferry-server starts");
    (child, port)
}

fn log_file(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

async fn wait_healthy(port: u16) {
    eventually("the server answers /healthz", async || {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

#[tokio::test]
async fn sigkill_and_restart_keeps_committed_shares() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let (mut child, port) = spawn_binary(dir.path(), &log);
    wait_healthy(port).await;
    let mut shares = Vec::new();
    for (i, len) in [0usize, 1, 200_000].into_iter().enumerate() {
        let data = random_bytes(len);
        let opts = UploadOpts {
            max_downloads: 2,
            name: format!("f{i}"),
            ..UploadOpts::default()
        };
        let share = upload(port, &data, &opts).await.unwrap();
        shares.push((share, data));
    }
    // One download already used before the crash.
    download(port, &shares[0].0).await.unwrap();
    // An upload in flight when the server dies, with its first segment stored: 5 MiB of
    // 64 KiB chunks is three segments.
    let in_flight = random_bytes(5 << 20);
    let prep = prepare(&in_flight, &UploadOpts::default());
    let mut ws = connect(port, UPLOAD_PATH).await;
    let ready = start_upload(&mut ws, &prep.start).await.unwrap();
    let per = ready.segment_chunks as usize;
    assert_eq!(ready.missing, vec![[0, 3]]);
    send_segments(&mut ws, &prep.chunks[..per + 1], 0, ready.segment_chunks).await;
    loop {
        if let Some(Message::Text(t)) = next(&mut ws).await
            && let UploadEvent::Ack { segment: 0 } = serde_json::from_str(&t).unwrap()
        {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(ws);

    let (mut child, port) = spawn_binary(dir.path(), &log);
    wait_healthy(port).await;
    let stored = stored(dir.path());
    assert!(stored.iter().all(|f| !f.contains('#')), "{stored:?}");
    assert_eq!(stored.len(), 4, "three shares and the upload: {stored:?}");
    // The interrupted upload resumes on the new process: only segments 1 and 2 go.
    let mut ws = connect(port, UPLOAD_PATH).await;
    let resume = UploadRequest::Resume {
        version: PROTOCOL_VERSION,
        share_id: ready.id.clone(),
        upload_token: ready.upload_token.clone().unwrap().into(),
    };
    let again = start_upload(&mut ws, &resume).await.unwrap();
    assert_eq!(again.missing, vec![[1, 3]]);
    assert!(again.upload_token.is_none(), "tokens are given once");
    let session = ferry_common::client::Upload::resume(&resumable(&prep, &ready)).unwrap();
    let done = drive_upload(connect(port, UPLOAD_PATH).await, session, &prep.chunks)
        .await
        .unwrap();
    drop(ws);
    let resumed = Share {
        id: done.share_id.as_str().to_owned(),
        link_secret: prep.link_secret,
        token: prep.token,
        owner_token: done.owner_token,
        expires_at: done.expires_at,
    };
    assert_eq!(download(port, &resumed).await.unwrap().plaintext, in_flight);
    for (i, (share, data)) in shares.iter().enumerate() {
        let got = download(port, share).await.unwrap();
        assert_eq!(&got.plaintext, data);
        assert_eq!(got.downloads_left, if i == 0 { 0 } else { 1 });
        // The owner can still see the share was downloaded.
        let res = reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{port}/api/shares/{}/status",
                share.id
            ))
            .header(
                "Authorization",
                format!("Bearer {}", ferry_common::b64::encode(&share.owner_token)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The logs name shares by their first four characters only, and never a token.
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("upload committed") && log.contains("download counted"));
    for (share, _) in &shares {
        assert!(log.contains(&share.id[..4]));
        assert!(!log.contains(&share.id), "full share ID in the log");
        for secret in [&share.token[..], &share.owner_token[..]] {
            assert!(
                !log.contains(&ferry_common::b64::encode(secret)),
                "token in the log"
            );
        }
    }
}

#[tokio::test]
async fn a_silent_socket_is_closed_with_a_reason() {
    let server = TestServer::start(|c| c.idle_timeout = Duration::from_millis(300)).await;
    let mut ws = connect(server.port, UPLOAD_PATH).await;
    let (err, code, reason) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);
    assert_eq!(code, 1002);
    assert_eq!(reason, err.message);
    // An upload that got `ready` and then stalls is closed too, with nothing visible.
    let (mut ws, _, id) = ready_upload(server.port, b"abc").await;
    let (err, _, _) = expect_upload_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::ProtocolViolation);
    assert_eq!(server.info(&id).await.unwrap_err().0, 404);
    assert!(server.blob_files().is_empty());
}

#[tokio::test]
async fn startup_reconciles_storage_with_the_database() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(1000);
    let kept = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let lost = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let dir = server.stop().await;
    // On S3 (s3s-fs) the objects are files too: written there, they are listed with
    // their modification times as objects.
    let root = blob_root(dir.path());
    let blobs = root.join("blobs");
    let segments = root.join("segments");
    let local = test_s3().is_none();
    // A crash mid-write (staging files), a crash between an object and its row (objects
    // without a row), all older than the grace period; the same but recent (another
    // process may be writing them: they stay); and objects lost from storage (a row
    // without its ciphertext).
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    let write = |path: std::path::PathBuf, age: Option<std::time::SystemTime>| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        if let Some(when) = age {
            file.set_modified(when).unwrap();
        }
    };
    // Staging files exist on the local store only: an S3 object appears whole or not at
    // all.
    if local {
        write(blobs.join("AAAABBBBCCCCDDDDEEEEFF#1"), Some(old));
        write(segments.join(&kept.id).join("1#7"), Some(old));
    } else {
        println!("on S3: no staging files to sweep");
    }
    write(blobs.join("ZZZZBBBBCCCCDDDDEEEEFF"), Some(old));
    write(segments.join("YYYYBBBBCCCCDDDDEEEEFF/0"), Some(old));
    write(segments.join("XXXXBBBBCCCCDDDDEEEEFF/0"), None);
    std::fs::remove_dir_all(segments.join(&lost.id)).unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let mut want = vec![kept.id.clone(), "XXXXBBBBCCCCDDDDEEEEFF".to_owned()];
    want.sort();
    assert_eq!(server.blob_files(), want);
    assert_eq!(server.info(&lost.id).await.unwrap_err().0, 404);
    assert_eq!(download(server.port, &kept).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn a_download_cut_by_the_owners_delete_ends_with_not_found() {
    let server = TestServer::start(|_| {}).await;
    let share = upload(
        server.port,
        &random_bytes(100 * 64 * 1024),
        &UploadOpts::default(),
    )
    .await
    .unwrap();
    let mut ws = connect(server.port, DOWNLOAD_PATH).await;
    send_json(
        &mut ws,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share.id.clone(),
            token: share.token.to_vec().into(),
            claim_token: None,
            from_chunk: None,
        },
    )
    .await;
    // `ready`, then the first chunk; the server now waits for acks.
    assert!(matches!(next(&mut ws).await, Some(Message::Text(_))));
    assert!(matches!(next(&mut ws).await, Some(Message::Binary(_))));
    let res = reqwest::Client::new()
        .delete(server.http(&format!("/api/shares/{}", share.id)))
        .header(
            "Authorization",
            format!("Bearer {}", ferry_common::b64::encode(&share.owner_token)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    send_json(&mut ws, &DownloadRequest::Ack { chunks: 1 }).await;
    let (err, _, _) = expect_download_error(&mut ws).await;
    assert_eq!(err.code, ErrorCode::NotFound);
}
