//! `ferry receive` against a server that lies: the real `ferry` binary as a child process,
//! talking to a hand-written HTTP responder on 127.0.0.1 that serves what a malicious
//! server (or a man in the middle on plain http) would. The real server refuses to store
//! such shares, so only a hostile one can serve them.
use std::{
    path::Path,
    process::{Output, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use ferry_common::{Header, KdfParams, b64::Bytes, protocol::ShareInfo};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    process::Command,
    task::JoinHandle,
};

const PASSPHRASE: &str = "correct horse battery staple";
/// Exit status for data that failed verification (`ferry --help`).
const EXIT_TAMPERED: i32 = 5;
/// Most connections the hostile server answers; the client needs one or two.
const MAX_CONNECTIONS: usize = 8;
/// Most bytes of a request head it reads.
const MAX_HEAD: usize = 16 * 1024;

async fn ferry(args: &[&str], cwd: &Path) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(cwd)
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_CA_CERT")
        .env("FERRY_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("ferry finishes in time")
        .expect("ferry runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A server that answers every request with `info` as JSON and records each request line.
struct HostileServer {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hostile_server(info: ShareInfo) -> HostileServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = serde_json::to_string(&info).unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let task = tokio::spawn(async move {
        for _ in 0..MAX_CONNECTIONS {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head);
            let line = text.lines().next().unwrap_or_default().to_owned();
            seen.lock().unwrap().push(line);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    HostileServer {
        url,
        requests,
        task,
    }
}

/// Issue 12: a header asking for Argon2id with 8 KiB and one pass (0.03 ms per guess
/// instead of ~180 ms) was used silently, so whoever served it got a download token that
/// is cheap to brute-force. Now the client refuses it as not written by Ferry before it
/// asks for or uses the passphrase, and never opens the download socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_refuses_a_header_below_the_kdf_floor() {
    let mut header = Header::generate(KdfParams::DEFAULT, 256 * 1024, false).unwrap();
    header.kdf = KdfParams {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };
    let server = hostile_server(ShareInfo {
        header: Bytes(header.to_bytes().to_vec()),
        ciphertext_size: header.ciphertext_len(100),
        downloads_left: 1,
        attempts_left: 10,
        expires_at: i64::MAX / 2,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let link = format!(
        "{}/s/AAAAAAAAAAAAAAAAAAAAAA#{}",
        server.url,
        ferry_common::b64::encode(&[7u8; 16])
    );
    let out = ferry(&["receive", &link], dir.path()).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_TAMPERED), "{err}");
    assert!(err.contains("too little key-derivation work"), "{err}");
    assert!(err.contains("not written by Ferry"), "{err}");
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(
        requests,
        ["GET /api/shares/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1"],
        "only the share information was asked for: no download socket, no token"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // A share the real server holds, made by `ferry send`, still round-trips.
    let data = tempfile::tempdir().unwrap();
    let config = ferry_backend::Config::for_tests(data.path().to_path_buf());
    let app = ferry_backend::Application::build(config).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    let running = tokio::spawn(app.run_until_stopped());
    let file = dir.path().join("floor.txt");
    std::fs::write(&file, b"opened with the default KDF parameters").unwrap();
    let sent = ferry(&["send", "floor.txt", "--server", &url], dir.path()).await;
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    let link = String::from_utf8(sent.stdout).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let got = ferry(
        &["receive", link.trim(), "-o", out_dir.to_str().unwrap()],
        dir.path(),
    )
    .await;
    assert_eq!(got.status.code(), Some(0), "{}", stderr(&got));
    assert_eq!(
        std::fs::read(out_dir.join("floor.txt")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    running.abort();
}
