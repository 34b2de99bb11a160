//! `ferry receive` continues an interrupted download into its partial file when the same
//! command runs again: after SIGKILL, after Ctrl-C, after the partial file was cut
//! shorter; and says so clearly, leaving nothing behind, when the claim is gone.
//!
//! The real server in-process, the real `ferry` binary as a child process, and between
//! them a forwarder on 127.0.0.1 that can hold the download still (stop passing the
//! server's bytes) so the test can stop `ferry` at a known point, and counts the bytes it
//! passed, which shows where a rerun started.
use std::{
    path::{Path, PathBuf},
    process::Output,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tempfile::TempDir;
use tokio::process::Command;

use support::PASSPHRASE;
const CHUNK: usize = 256 * 1024;
const MIB: usize = 1 << 20;
/// The test file: more than two windows (16 MiB each) of chunks.
const LEN: usize = 32 * MIB + 1234;
/// The forwarder holds the first run still after this many bytes from the server: past
/// the first window (so the claim is held), and past the checkpoint at 16 MiB.
const STALL_AT: usize = 24 * MIB;
/// The partial file's size that shows the first run got as far as the forwarder allows,
/// with its 16 MiB checkpoint recorded (checkpoints come every 8 MiB, in order).
const PARTIAL_AT: u64 = 20 * MIB as u64;

mod support;

use support::{
    TestServer, assert_same_file, code, random_file, spawn_server_with, state_dir, stderr,
};

async fn spawn_server(lease: Duration) -> TestServer {
    spawn_server_with(|config| config.lease = lease).await
}

fn ferry_command(args: &[&str], cwd: &Path) -> Command {
    support::ferry_command(args, cwd, Some(PASSPHRASE))
}

async fn ferry(args: &[&str], cwd: &Path) -> Output {
    support::ferry(args, cwd, Some(PASSPHRASE)).await
}

async fn send(server: &TestServer, file: &Path, downloads: &str) -> String {
    let args = [
        "send",
        file.to_str().unwrap(),
        "--server",
        &server.url,
        "--downloads",
        downloads,
    ];
    let out = ferry(&args, file.parent().unwrap()).await;
    assert_eq!(code(&out), 0, "send failed: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn share_id(link: &str) -> &str {
    link.rsplit('/').next().unwrap().split('#').next().unwrap()
}

async fn downloads_left(server: &TestServer, link: &str) -> serde_json::Value {
    let url = format!("{}/api/shares/{}", server.url, share_id(link));
    let info: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    info["downloads_left"].clone()
}

/// The receiver's partial files (`.ferry-XXXXXXXX.part`) in `dir`.
fn partial_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(".ferry-") && name.ends_with(".part")
        })
        .collect()
}

/// The state record of the download of `link`, if there is one (found by the share ID it
/// holds; its file name shows only a hash).
fn record_of(link: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(state_dir()).ok()?;
    entries.map(|e| e.unwrap().path()).find(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.starts_with("receive-")
            && std::fs::read_to_string(p).is_ok_and(|t| t.contains(share_id(link)))
    })
}

/// A forwarder on 127.0.0.1 in front of the server: passes both ways, counts the bytes
/// from the server, and while holding stops passing them (keeping every connection open)
/// once the count, over all connections, reaches [`STALL_AT`]. One forwarder serves a
/// test's runs, so they all see one server address (which keys the state record).
struct Forwarder {
    port: u16,
    down: Arc<AtomicUsize>,
    stall_at: Arc<AtomicUsize>,
    /// True: an outage (every connection is dropped, new ones at once).
    outage: tokio::sync::watch::Sender<bool>,
}

impl Forwarder {
    async fn start(target: u16) -> Forwarder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicUsize::new(0));
        let stall_at = Arc::new(AtomicUsize::new(STALL_AT));
        let (counter, limit) = (down.clone(), stall_at.clone());
        let outage = tokio::sync::watch::Sender::new(false);
        let is_down = outage.subscribe();
        tokio::spawn(async move {
            // Bounded: a test makes a handful of connections.
            for _ in 0..64 {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if *is_down.borrow() {
                    continue; // dropped: the client sees its connection fail
                }
                let server = tokio::net::TcpStream::connect(("127.0.0.1", target))
                    .await
                    .unwrap();
                let limits = (counter.clone(), limit.clone(), is_down.clone());
                tokio::spawn(forward(client, server, limits));
            }
        });
        Forwarder {
            port,
            down,
            stall_at,
            outage,
        }
    }

    fn link(&self, server: &TestServer, link: &str) -> String {
        link.replace(&server.url, &format!("http://127.0.0.1:{}", self.port))
    }

    /// Counts from 0 again, and holds the next run still at [`STALL_AT`].
    fn hold(&self) {
        self.down.store(0, Ordering::SeqCst);
        self.stall_at.store(STALL_AT, Ordering::SeqCst);
    }

    /// Counts from 0 again, and lets everything through.
    fn release(&self) {
        self.down.store(0, Ordering::SeqCst);
        self.stall_at.store(usize::MAX, Ordering::SeqCst);
    }

    /// Drops every connection, and every new one until [`Forwarder::up`].
    fn go_down(&self) {
        self.outage.send_replace(true);
    }

    fn up(&self) {
        self.outage.send_replace(false);
    }

    fn bytes_down(&self) -> usize {
        self.down.load(Ordering::SeqCst)
    }
}

/// Copies both ways until either side ends or an outage begins; the server's bytes only
/// until `down` reaches `stall_at` (then that direction waits until the client goes).
async fn forward(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    (down, stall_at, mut outage): (
        Arc<AtomicUsize>,
        Arc<AtomicUsize>,
        tokio::sync::watch::Receiver<bool>,
    ),
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::io::copy(&mut client_read, &mut server_write);
    let pass_down = async {
        let mut buf = vec![0u8; 64 * 1024];
        // Bounded by the server's bytes: every turn passes some, ends, or stalls for good.
        loop {
            let room = stall_at
                .load(Ordering::SeqCst)
                .saturating_sub(down.load(Ordering::SeqCst));
            if room == 0 {
                return std::future::pending::<std::io::Result<()>>().await;
            }
            let want = room.min(buf.len());
            let n = server_read.read(&mut buf[..want]).await?;
            if n == 0 {
                return Ok(());
            }
            down.fetch_add(n, Ordering::SeqCst);
            client_write.write_all(&buf[..n]).await?;
        }
    };
    tokio::select! {
        _ = up => {}
        _ = pass_down => {}
        _ = outage.wait_for(|down| *down) => {}
    }
}

/// Starts `ferry receive LINK -o DIR` (through a holding forwarder) and waits until its
/// partial file holds [`PARTIAL_AT`] bytes.
async fn held_receive(link: &str, dir: &Path) -> tokio::process::Child {
    let child = ferry_command(&["receive", link, "-o", dir.to_str().unwrap()], dir)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    // Bounded by the deadline.
    loop {
        let len = partial_files(dir)
            .first()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        if len >= PARTIAL_AT {
            return child;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the download never reached {PARTIAL_AT} bytes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `signal` to a `ferry` this test started and waits for it to end.
async fn stop(child: tokio::process::Child, signal: &str) -> Output {
    support::signal(&child, signal);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("ferry ends")
        .unwrap()
}

/// A share of [`LEN`] random bytes allowing two downloads, and a receive of it killed
/// (SIGKILL) while the forwarder held it past its first window.
struct Killed {
    server: TestServer,
    forwarder: Forwarder,
    src: TempDir,
    file: PathBuf,
    /// The link through the forwarder.
    link: String,
    out: TempDir,
}

async fn killed_receive(lease: Duration) -> Killed {
    let server = spawn_server(lease).await;
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "big.bin", LEN);
    let forwarder = Forwarder::start(server.port).await;
    let link = forwarder.link(&server, &send(&server, &file, "2").await);
    let out = tempfile::tempdir().unwrap();
    let child = held_receive(&link, out.path()).await;
    let killed = stop(child, "-KILL").await;
    assert!(killed.status.code().is_none(), "killed by the signal");
    assert_eq!(partial_files(out.path()).len(), 1, "the partial file stays");
    Killed {
        server,
        forwarder,
        src,
        file,
        link,
        out,
    }
}

/// Runs the same command again, the forwarder only counting; returns its output and the
/// bytes the server sent.
async fn rerun(k: &Killed) -> (Output, usize) {
    k.forwarder.release();
    let out = ferry(
        &["receive", &k.link, "-o", k.out.path().to_str().unwrap()],
        k.out.path(),
    )
    .await;
    (out, k.forwarder.bytes_down())
}

/// A normal receive into `dir` afterwards.
async fn assert_round_trip(k: &Killed) {
    let file = random_file(k.src.path(), "after.bin", 2 * CHUNK + 9);
    let link = send(&k.server, &file, "1").await;
    let dir = k.out.path();
    let out = ferry(&["receive", &link, "-o", dir.to_str().unwrap()], dir).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &dir.join("after.bin"));
    assert!(partial_files(dir).is_empty());
    assert!(record_of(&link).is_none());
}

/// Issue 13: a receive killed after more than one window was written continues into its
/// partial file when run again: byte-exact, counted once, and from its checkpoint, not
/// from chunk 0 (the rerun's server bytes are far fewer than the file's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_receive_resumes_into_its_partial_file() {
    let k = killed_receive(Duration::from_secs(60)).await;
    let record = record_of(&k.link).expect("a record of the interrupted download");
    let name = record.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!name.contains(share_id(&k.link)), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&record), 0o600);
        assert_eq!(mode(&state_dir()), 0o700);
    }
    let text = std::fs::read_to_string(&record).unwrap();
    let secret = k.link.rsplit('#').next().unwrap();
    for secret in [PASSPHRASE, secret, "big.bin"] {
        assert!(
            !text.contains(secret),
            "the record holds {secret:?}: {text}"
        );
    }

    let (out, bytes) = rerun(&k).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eprintln!("{} (rerun: {bytes} bytes from the server)", stderr(&out));
    assert!(stderr(&out).contains("Resuming the interrupted download at"));
    assert_same_file(&k.file, &k.out.path().join("big.bin"));
    // From chunk 0 the server would send all of LEN again; from the 16 MiB checkpoint
    // (or later) about 16 MiB.
    assert!(
        bytes < LEN - 12 * MIB,
        "the rerun started over: {bytes} bytes"
    );
    assert!(partial_files(k.out.path()).is_empty());
    assert!(record_of(&k.link).is_none(), "the record is removed");
    assert_eq!(downloads_left(&k.server, &k.link).await, 1, "counted once");
    assert_round_trip(&k).await;
}

/// A partial file cut below what its record says it holds: the rerun continues from the
/// whole chunks it still has (asking the claim for the rest again) and the file is still
/// byte-exact; a partial file that is gone: the rerun starts at chunk 0 inside the claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortened_or_missing_partial_file_still_gives_the_right_file() {
    let k = killed_receive(Duration::from_secs(60)).await;
    let part = partial_files(k.out.path()).remove(0);
    let cut = 5 * MIB as u64 + 100;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&part)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let (out, bytes) = rerun(&k).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("at {} of", cut / CHUNK as u64)),
        "{}",
        stderr(&out)
    );
    assert!(bytes > LEN - 5 * MIB - CHUNK, "the cut chunks came again");
    assert_same_file(&k.file, &k.out.path().join("big.bin"));
    assert_eq!(downloads_left(&k.server, &k.link).await, 1, "counted once");

    // The second download, killed too; its partial file then deleted.
    k.forwarder.hold();
    let dir = tempfile::tempdir().unwrap();
    let child = held_receive(&k.link, dir.path()).await;
    stop(child, "-KILL").await;
    std::fs::remove_file(partial_files(dir.path()).remove(0)).unwrap();
    k.forwarder.release();
    let out = ferry(
        &["receive", &k.link, "-o", dir.path().to_str().unwrap()],
        dir.path(),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("partial file is gone"),
        "{}",
        stderr(&out)
    );
    assert_same_file(&k.file, &dir.path().join("big.bin"));
    assert!(partial_files(dir.path()).is_empty());
    // Both downloads counted, and nothing more: the link is used up.
    let info = reqwest::get(format!("{}/api/shares/{}", k.server.url, share_id(&k.link)))
        .await
        .unwrap();
    assert_eq!(info.status(), 410);
    assert_round_trip(&k).await;
}

/// A rerun whose claim is gone (its lease ran out: it counted) says so, exits 6, and
/// leaves no partial plaintext and no record; a new run then gets the link's other
/// download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_whose_claim_is_gone_fails_clearly_and_leaves_nothing() {
    let lease = Duration::from_secs(2);
    let k = killed_receive(lease).await;
    assert!(record_of(&k.link).is_some());
    // Not a timing assertion: the lease must be over for the claim to be gone.
    tokio::time::sleep(lease + Duration::from_secs(2)).await;
    let (out, _) = rerun(&k).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be resumed") && stderr(&out).contains("claim"),
        "{}",
        stderr(&out)
    );
    assert!(
        partial_files(k.out.path()).is_empty(),
        "no partial plaintext"
    );
    assert!(!k.out.path().join("big.bin").exists());
    assert!(record_of(&k.link).is_none(), "no record");
    // The lapsed claim counted; the same command now starts the other download.
    let (out, _) = rerun(&k).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&k.file, &k.out.path().join("big.bin"));
    assert_round_trip(&k).await;
}

/// Ctrl-C keeps the partial file and says so (exit 130); the same command continues it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_the_partial_download_and_the_same_command_resumes() {
    let server = spawn_server(Duration::from_secs(60)).await;
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "big.bin", LEN);
    let forwarder = Forwarder::start(server.port).await;
    let link = forwarder.link(&server, &send(&server, &file, "1").await);
    let out = tempfile::tempdir().unwrap();
    let child = held_receive(&link, out.path()).await;
    let stopped = stop(child, "-INT").await;
    assert_eq!(code(&stopped), 130, "{}", stderr(&stopped));
    assert!(stderr(&stopped).contains("interrupted; the partial download was kept"));
    assert!(!out.path().join("big.bin").exists());
    let part = partial_files(out.path());
    assert_eq!(part.len(), 1);
    // On Ctrl-C everything written is recorded, not only the last checkpoint.
    let kept = std::fs::metadata(&part[0]).unwrap().len();
    assert!(kept >= PARTIAL_AT, "{kept}");

    forwarder.release();
    let dir = out.path().to_str().unwrap();
    let got = ferry(&["receive", &link, "-o", dir], out.path()).await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert!(
        stderr(&got).contains(&format!("at {} of", kept / CHUNK as u64)),
        "{}",
        stderr(&got)
    );
    assert_same_file(&file, &out.path().join("big.bin"));
    assert!(partial_files(out.path()).is_empty());
    assert!(record_of(&link).is_none());
}

/// A receive whose retries run out (the server unreachable for longer than they last)
/// keeps its partial file and says so (exit 6); once the server is reachable again, the
/// same command continues it from where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_whose_retries_run_out_keeps_its_partial_file_for_a_rerun() {
    let server = spawn_server(Duration::from_secs(60)).await;
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "big.bin", LEN);
    let forwarder = Forwarder::start(server.port).await;
    let link = forwarder.link(&server, &send(&server, &file, "1").await);
    let out = tempfile::tempdir().unwrap();
    let child = held_receive(&link, out.path()).await;
    forwarder.go_down();
    // The retries take about 16 s of backoff; bounded by the timeout.
    let failed = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the retries end")
        .unwrap();
    assert_eq!(code(&failed), 6, "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("the partial download was kept"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(partial_files(out.path()).len(), 1);
    assert!(record_of(&link).is_some());

    forwarder.up();
    forwarder.release();
    let dir = out.path().to_str().unwrap();
    let got = ferry(&["receive", &link, "-o", dir], out.path()).await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert!(stderr(&got).contains("Resuming the interrupted download at"));
    let bytes = forwarder.bytes_down();
    assert!(
        bytes < LEN - 12 * MIB,
        "the rerun started over: {bytes} bytes"
    );
    assert_same_file(&file, &out.path().join("big.bin"));
    assert!(partial_files(out.path()).is_empty());
    assert!(record_of(&link).is_none());
}
