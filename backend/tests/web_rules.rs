//! The rules a server on the web must keep beyond the protocol (issue 12, items 7 and 8):
//! no share whose KDF cost is below Ferry's floor, WebSockets only from its own pages,
//! logs that never show a share ID however the path is escaped and carry no colour codes
//! when written to a file, and the security headers. Each rule is followed by a normal
//! round trip.
mod support;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
};

use ferry_common::protocol::{
    DOWNLOAD_PATH, DownloadEvent, ErrorBody, ErrorCode, UPLOAD_PATH, UploadRequest,
};
use support::*;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{
        self,
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
    let event = start_by_hand(ws, share).await;
    assert!(matches!(event, DownloadEvent::Ready { .. }), "{event:?}");
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

// -- Security headers -- //

fn test_pki(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tls")
        .join(file)
}

/// Issue 12 item 8: no Cross-Origin-Opener-Policy, no Permissions-Policy, and no HSTS
/// even when the server terminates TLS itself. HSTS only over its own TLS (behind a proxy
/// the proxy decides; on plain http a browser ignores it).
#[tokio::test]
async fn security_headers_and_hsts_over_tls() {
    let check = |res: &reqwest::Response| {
        let h = res.headers();
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        let policy = h["permissions-policy"].to_str().unwrap();
        for denied in ["camera=()", "microphone=()", "geolocation=()", "usb=()"] {
            assert!(policy.contains(denied), "{policy}");
        }
        assert!(policy.contains("clipboard-write=(self)"), "{policy}");
    };
    let plain = TestServer::start(|_| {}).await;
    let res = reqwest::get(plain.http("/healthz")).await.unwrap();
    check(&res);
    assert!(!res.headers().contains_key("strict-transport-security"));

    let tls = TestServer::start(|c| {
        c.tls_cert = Some(test_pki("server.pem"));
        c.tls_key = Some(test_pki("server.key"));
    })
    .await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(test_pki("ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    for path in ["/healthz", "/api/shares/AAAABBBBCCCCDDDDEEEEFF"] {
        let res = client
            .get(format!("https://127.0.0.1:{}{path}", tls.port))
            .send()
            .await
            .unwrap();
        check(&res);
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }
    round_trip(plain.port).await;
}

// -- API refusals -- //

/// Issue 13 item 2: `GET /api/nope` answered 404 with an empty body (the web app's file
/// service took it), and a wrong method on an API path 405 with an empty body, although
/// every non-2xx API answer carries an `ErrorBody`. Now any unknown path under `/api`
/// answers 404 `not-found` and a known path asked with another method 405
/// `method-not-allowed` with `Allow`, whether or not the web app is served.
#[tokio::test]
async fn unknown_api_paths_and_wrong_methods_answer_an_error_body() {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("index.html"),
        "<!doctype html><title>app</title>",
    )
    .unwrap();
    let with_app = TestServer::start(|c| c.static_dir = Some(app.path().to_path_buf())).await;
    let without_app = TestServer::start(|_| {}).await;
    let client = reqwest::Client::new();
    let refusal = async |server: &TestServer, method: &str, path: &str| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = client
            .request(method.clone(), server.http(path))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let allow = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: ErrorBody = res
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: no ErrorBody ({e})"));
        (status, body.code, allow)
    };
    let id = "AAAABBBBCCCCDDDDEEEEFF";
    for server in [&with_app, &without_app] {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            for path in [
                "/api/nope",
                "/api",
                "/api/",
                "/api/shares",
                "/api/ws/nope/deeper",
            ] {
                let (status, code, _) = refusal(server, method, path).await;
                assert_eq!(
                    (status, code),
                    (404, ErrorCode::NotFound),
                    "{method} {path}"
                );
            }
        }
        let share = format!("/api/shares/{id}");
        let status_path = format!("{share}/status");
        for (method, path, allow) in [
            ("POST", "/api/limits", "GET"),
            ("DELETE", "/api/limits", "GET"),
            ("PUT", share.as_str(), "GET, DELETE"),
            ("POST", share.as_str(), "GET, DELETE"),
            ("DELETE", status_path.as_str(), "GET"),
            ("POST", UPLOAD_PATH, "GET"),
            ("PUT", DOWNLOAD_PATH, "GET"),
        ] {
            let got = refusal(server, method, path).await;
            assert_eq!(
                got,
                (405, ErrorCode::MethodNotAllowed, Some(allow.to_owned())),
                "{method} {path}"
            );
        }
        // The routes themselves still answer.
        let limits = client.get(server.http("/api/limits")).send().await.unwrap();
        assert_eq!(limits.status(), 200);
        let (status, code, _) = refusal(server, "GET", &share).await;
        assert_eq!((status, code), (404, ErrorCode::NotFound));
        assert_eq!(
            client.get(server.http("/")).send().await.unwrap().status(),
            200
        );
    }
    let page = client
        .get(with_app.http("/s/whatever"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.text().await.unwrap(),
        "<!doctype html><title>app</title>"
    );
    round_trip(with_app.port).await;
}

// -- Logs -- //

/// The real binary on a free port, its standard output and error appended to `log` (a
/// file, not a terminal), with a clean environment.
fn spawn_binary(data_dir: &Path, log: &Path) -> (Child, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let file = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_ferry-server"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(file())
        .stderr(file())
        .spawn()
        .expect("ferry-server starts");
    (child, port)
}

/// Runs `ferry-server` with its output in a file while `exercise` talks to it; returns
/// the log once the server is stopped.
async fn log_of(exercise: impl AsyncFnOnce(u16)) -> String {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let (mut child, port) = spawn_binary(data.path(), &log);
    eventually("the server answers /healthz", async || {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    exercise(port).await;
    // unwrap-free: this test started the child, so stopping it by its handle is ours.
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap()
}

/// Issue 12 item 8: `/api/shares/%4C…` was logged with 21 of the ID's 22 characters. Now
/// the path is decoded before it is redacted, however it is escaped.
#[tokio::test]
async fn escaped_share_ids_never_reach_the_log() {
    let id = "LAAABBBBCCCCDDDDEEEEFF";
    let escaped = [
        "/api/shares/%4CAAABBBBCCCCDDDDEEEEFF",
        "/api/shares/LAAABBBB%43CCCDDDDEEEEFF/status",
        "/s/%254CAAABBBBCCCCDDDDEEEEFF",
    ];
    let log = log_of(async |port| {
        for path in escaped {
            let res = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
                .await
                .unwrap();
            assert!(res.status().is_client_error() || res.status().is_success());
        }
        round_trip(port).await;
    })
    .await;
    assert!(!log.contains(&id[4..]), "a share ID in the log:\n{log}");
    assert!(log.contains("/api/shares/LAAA…"), "{log}");
    assert!(!log.contains("%4C") && !log.contains("%43"), "{log}");
}

/// Issue 12 item 8: a log written to a file was full of ANSI colour codes. Colour now
/// only goes to a terminal.
#[tokio::test]
async fn a_log_file_has_no_colour_codes() {
    let log = log_of(async |port| round_trip(port).await).await;
    assert!(
        log.contains("listening") && log.contains("request"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "escape codes in the log:\n{log:?}");
}
