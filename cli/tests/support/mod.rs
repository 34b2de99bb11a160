//! What the CLI's end-to-end tests share: the real server in-process on 127.0.0.1, and the
//! real `ferry` binary as a child process with a state directory of its own.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::Duration,
};

use tempfile::TempDir;
use tokio::process::Command;

pub const PASSPHRASE: &str = "correct horse battery staple";

pub struct TestServer {
    pub url: String,
    pub port: u16,
    pub data_dir: TempDir,
    /// The server's socket caps (to see how many sockets are open).
    pub gate: std::sync::Arc<ferry_backend::gate::SocketGate>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn spawn_server() -> TestServer {
    spawn_server_with(|_| {}).await
}

/// A server with the test defaults adjusted by `tweak` (https:// once it has a certificate).
pub async fn spawn_server_with(tweak: impl FnOnce(&mut ferry_backend::Config)) -> TestServer {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = ferry_backend::Config::for_tests(data_dir.path().to_path_buf());
    tweak(&mut config);
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let app = ferry_backend::Application::build(config)
        .await
        .expect("server starts");
    let port = app.port();
    let url = format!("{scheme}://127.0.0.1:{port}");
    let gate = app.state().gate.clone();
    let task = tokio::spawn(app.run_until_stopped());
    TestServer {
        url,
        port,
        data_dir,
        gate,
        task,
    }
}

pub fn ferry_command(args: &[&str], cwd: &Path, passphrase: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_PASSPHRASE")
        .env_remove("FERRY_CA_CERT")
        .env_remove("FERRY_TOKEN")
        .env("FERRY_STATE_DIR", state_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = passphrase {
        cmd.env("FERRY_PASSPHRASE", p);
    }
    cmd
}

/// Where the tests' `ferry send` keeps interrupted uploads (one per file path, so tests
/// running at once do not meet).
pub fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("ferry-cli-tests-{}", std::process::id()))
}

pub async fn ferry(args: &[&str], cwd: &Path, passphrase: Option<&str>) -> Output {
    tokio::time::timeout(
        Duration::from_secs(300),
        ferry_command(args, cwd, passphrase).output(),
    )
    .await
    .expect("ferry finishes in time")
    .expect("ferry runs")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A file of `len` random bytes (from the kernel: fast even in a debug build).
pub fn random_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    use std::io::Read;
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    let mut random = std::fs::File::open("/dev/urandom")
        .unwrap()
        .take(len as u64);
    assert_eq!(std::io::copy(&mut random, &mut file).unwrap(), len as u64);
    path
}

/// `a` and `b` hold the same bytes.
pub fn assert_same_file(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(x.len(), y.len(), "sizes differ");
    assert!(x == y, "contents differ");
}

/// Sends `signal` (`-STOP`, `-CONT`, `-INT`) to a `ferry` this test started.
pub fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}
