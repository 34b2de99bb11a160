//! End-to-end: the real server in-process, the real `ferry` binary as a child process.
use std::os::unix::fs::PermissionsExt;
use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

const CHUNK: usize = 256 * 1024;

mod support;

use support::*;

/// Sends `file` and returns the link printed on stdout.
async fn send(server: &TestServer, file: &Path, extra: &[&str]) -> String {
    let mut args = vec!["send", file.to_str().unwrap(), "--server", &server.url];
    args.extend_from_slice(extra);
    let out = ferry(&args, file.parent().unwrap(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 0, "send failed: {}", stderr(&out));
    let link = String::from_utf8(out.stdout).unwrap();
    let link = link.trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/s/", server.url)),
        "stdout is only the link: {link:?}"
    );
    assert!(!link.contains('\n'));
    link
}

/// Receives `link` into a fresh directory and checks it gives back `original`.
async fn receives_the_same(link: &str, original: &Path) {
    let dst = tempfile::tempdir().unwrap();
    let dst_arg = dst.path().to_str().unwrap();
    let out = ferry(
        &["receive", link, "-o", dst_arg],
        dst.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(original, &dst.path().join(original.file_name().unwrap()));
}

/// The receiver's temporary files (`.ferry-XXXXXXXX.part`) in `dir`.
fn partial_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ferry-") && n.ends_with(".part"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_small_and_multi_chunk_files() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    for (i, len) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17]
        .into_iter()
        .enumerate()
    {
        let name = format!("file-{i}.bin");
        let file = random_file(src.path(), &name, len);
        let link = send(&server, &file, &[]).await;
        let out = ferry(
            &["receive", &link, "-o", dst.path().to_str().unwrap()],
            dst.path(),
            Some(PASSPHRASE),
        )
        .await;
        assert_eq!(code(&out), 0, "len {len}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "receive prints nothing on stdout");
        assert_same_file(&file, &dst.path().join(&name));
    }
    assert!(partial_files(dst.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_over_several_connections_at_once_or_just_one() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    // 12 segments of 20 chunks.
    let file = random_file(src.path(), "lanes.bin", 60 << 20);
    for lanes in [4, 1] {
        let most = std::sync::atomic::AtomicUsize::new(0);
        let watch = async {
            // Bounded: until the send below is done, at most 60 s.
            for _ in 0..60_000 {
                most.fetch_max(server.gate.open(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let lanes_arg = lanes.to_string();
        let args = ["--lanes", lanes_arg.as_str()];
        let link = tokio::select! {
            link = send(&server, &file, &args) => link,
            () = watch => panic!("the send did not end"),
        };
        let most = most.into_inner();
        if lanes == 1 {
            assert_eq!(most, 1, "one connection");
        } else {
            assert!(most >= 2, "connections at once: {most}");
        }
        receives_the_same(&link, &file).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_100_mib_with_default_name_in_cwd() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "big.dat", 100 << 20);
    let link = send(&server, &file, &["--expires", "1h"]).await;
    let out = ferry(&["receive", &link], dst.path(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &dst.path().join("big.dat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrase_file_and_explicit_output_path() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "a.txt", 1000);
    let link = send(&server, &file, &[]).await;
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSPHRASE}\n")).unwrap();
    let target = dir.path().join("renamed.txt");
    let out = ferry(
        &[
            "receive",
            &link,
            "-o",
            target.to_str().unwrap(),
            "--passphrase-file",
            pw.to_str().unwrap(),
        ],
        dir.path(),
        // The file wins over the environment.
        Some("not the passphrase"),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &target);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passphrase_exits_3_and_the_right_one_still_works() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "w.bin", 5000);
    let link = send(&server, &file, &[]).await;
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = ferry(
        &["receive", &link, "-o", out_dir.to_str().unwrap()],
        dir.path(),
        Some("wrong passphrase"),
    )
    .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(msg.contains("wrong passphrase"), "{msg}");
    assert_eq!(msg.trim().lines().count(), 1, "one line: {msg}");
    assert!(std::fs::read_dir(&out_dir).unwrap().next().is_none());

    let out = ferry(
        &["receive", &link, "-o", out_dir.to_str().unwrap()],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &out_dir.join("w.bin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_up_and_unknown_links_exit_4() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "once.bin", 3000);
    let link = send(&server, &file, &["--downloads", "1"]).await;
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let first = ferry(
        &["receive", &link, "-o", out_dir.to_str().unwrap()],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let again = ferry(
        &["receive", &link, "-o", out_dir.to_str().unwrap(), "--force"],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&again), 4, "{}", stderr(&again));

    let (_, fragment) = link.split_once('#').unwrap();
    let unknown = format!("{}/s/NoSuchShare123#{fragment}", server.url);
    let out = ferry(&["receive", &unknown], dir.path(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

/// Every regular file under `dir` whose size is exactly `len`.
fn files_of_len(dir: &Path, len: u64, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_of_len(&path, len, found);
        } else if std::fs::metadata(&path).unwrap().len() == len {
            found.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blob_exits_5_and_leaves_no_file() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let len = 3 * CHUNK + 100;
    let file = random_file(dir.path(), "t.bin", len);
    let link = send(&server, &file, &[]).await;

    let ciphertext_len = (len + 4 * 16) as u64;
    let mut blobs = Vec::new();
    files_of_len(server.data_dir.path(), ciphertext_len, &mut blobs);
    assert_eq!(
        blobs.len(),
        1,
        "exactly one blob of the ciphertext size: {blobs:?}"
    );
    let mut bytes = std::fs::read(&blobs[0]).unwrap();
    bytes[CHUNK + 1000] ^= 0x01; // inside the second chunk
    std::fs::write(&blobs[0], &bytes).unwrap();

    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = ferry(
        &["receive", &link, "-o", out_dir.to_str().unwrap()],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        !out_dir.join("t.bin").exists(),
        "no file under the target name"
    );
    assert!(partial_files(&out_dir).is_empty(), "temporary file removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_exits_6() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "x.bin", 10);
    let url = format!("http://127.0.0.1:{port}");
    let out = ferry(
        &["send", file.to_str().unwrap(), "--server", &url],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let link = format!("{url}/s/abc#AAAAAAAAAAAAAAAAAAAAAA");
    let out = ferry(&["receive", &link], dir.path(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "u.bin", 10);
    let f = file.to_str().unwrap();
    for args in [
        vec!["send"],
        vec!["bogus"],
        vec!["send", f, "--expires", "1y"],
        vec!["send", f, "--downloads", "0"],
        vec!["receive", "not a link"],
        vec!["receive", "http://127.0.0.1:1/s/abc#tooshort"],
    ] {
        let out = ferry(&args, dir.path(), Some(PASSPHRASE)).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }
    // Beyond the server's limits.
    for extra in [["--expires", "30d"], ["--downloads", "100000"]] {
        let out = ferry(
            &["send", f, "--server", &server.url, extra[0], extra[1]],
            dir.path(),
            Some(PASSPHRASE),
        )
        .await;
        assert_eq!(code(&out), 2, "{extra:?}: {}", stderr(&out));
    }
    // A passphrase argument does not exist.
    let out = ferry(&["send", f, "--passphrase", "x"], dir.path(), None).await;
    assert_eq!(code(&out), 2);
    // A link without its secret.
    let link = send(&server, &file, &[]).await;
    let (bare, _) = link.split_once('#').unwrap();
    let out = ferry(&["receive", bare], dir.path(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("incomplete"), "{}", stderr(&out));
    // --help documents the exit codes.
    let out = ferry(&["--help"], dir.path(), None).await;
    assert_eq!(code(&out), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Exit codes",
        "wrong passphrase",
        "tampered",
        "FERRY_PASSPHRASE",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_overwrites_without_force() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "keep.bin", 2 * CHUNK + 5);
    let link = send(&server, &file, &["--downloads", "3"]).await;
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let existing = out_dir.join("keep.bin");
    std::fs::write(&existing, b"precious").unwrap();

    // Explicit path: refused before anything is downloaded.
    let out = ferry(
        &["receive", &link, "-o", existing.to_str().unwrap()],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    // Directory target: the name is known only once the download is granted, so rather
    // than spend the download the file is saved under a free name.
    let out = ferry(
        &["receive", &link, "-o", out_dir.to_str().unwrap()],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        std::fs::read(&existing).unwrap() == b"precious",
        "the existing file was replaced"
    );
    assert_same_file(&file, &out_dir.join("keep (1).bin"));
    assert!(partial_files(&out_dir).is_empty());

    let out = ferry(
        &[
            "receive",
            &link,
            "-o",
            existing.to_str().unwrap(),
            "--force",
        ],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &existing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_sanitised() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    // A name the sender's file system allows but that must not steer the receiver.
    let file = random_file(src.path(), "..evil\u{202e}txt.exe", 100);
    let link = send(&server, &file, &[]).await;
    let dst = tempfile::tempdir().unwrap();
    let out = ferry(&["receive", &link], dst.path(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &dst.path().join("evil_txt.exe"));
}

fn any_file_under(dir: &Path, name_contains: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let path = e.unwrap().path();
        if path.is_dir() {
            any_file_under(&path, name_contains)
        } else {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(name_contains)
        }
    })
}

/// Starts `ferry send FILE` and interrupts it (SIGINT) once the server is writing its
/// ciphertext (a staging file `<n>#<k>` exists under the data directory).
async fn interrupted_send(server: &TestServer, file: &Path) -> Output {
    let dir = file.parent().unwrap();
    let args = ["send", file.to_str().unwrap(), "--server", &server.url];
    let child = ferry_command(&args, dir, Some(PASSPHRASE)).spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !any_file_under(server.data_dir.path(), "#") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "upload never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_upload_exits_130_and_the_same_command_resumes() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "up.bin", 64 << 20);
    let out = interrupted_send(&server, &file).await;
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no link printed");
    assert!(
        stderr(&out).contains("run the same command again to resume"),
        "{}",
        stderr(&out)
    );
    // The same command again resumes the upload (its state is private to the user) and
    // the link gives back the file.
    let states: Vec<_> = std::fs::read_dir(state_dir()).unwrap().collect();
    assert!(!states.is_empty());
    for state in states {
        let mode = state.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "state readable by others: {mode:o}");
    }
    let link = send(&server, &file, &[]).await;
    receives_the_same(&link, &file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_a_changed_file_is_refused() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "changing.bin", 32 << 20);
    let out = interrupted_send(&server, &file).await;
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    // The first chunk changes but keeps its size and the file its modification time: only
    // the seal log can tell.
    let meta = std::fs::metadata(&file).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    let args = ["send", file.to_str().unwrap(), "--server", &server.url];
    let out = ferry(&args, src.path(), Some(PASSPHRASE)).await;
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("changed since its interrupted upload"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    // Its state is gone: the next run starts a new upload, which works.
    let link = send(&server, &file, &[]).await;
    assert!(link.contains("/s/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrase_only_links_round_trip() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "p.bin", CHUNK + 3);
    let link = send(&server, &file, &["--no-link-secret"]).await;
    assert!(!link.contains('#'), "{link}");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = ferry(
        &["receive", &link, "-o", out_dir.to_str().unwrap()],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &out_dir.join("p.bin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_links_exit_4() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = random_file(dir.path(), "e.bin", 10);
    let link = send(&server, &file, &["--expires", "1s"]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = ferry(&["receive", &link], dir.path(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
}

/// The test PKI (`tests/fixtures/tls`, made by `cargo run -p ferry-cli --example
/// make_test_pki`): a private CA and a server certificate it issued for ferry.test and
/// 127.0.0.1.
fn test_pki(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tls")
        .join(file)
}

/// The server speaking HTTPS and WSS itself (`--tls-cert/--tls-key`) with a certificate
/// from a private CA, as on a LAN: the CLI refuses it as unknown until `--ca-cert` names
/// that CA, then sends and receives through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_server_with_a_private_ca() {
    let (ca, cert, key) = (
        test_pki("ca.pem"),
        test_pki("server.pem"),
        test_pki("server.key"),
    );
    let server = spawn_server_with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let work = tempfile::tempdir().unwrap();
    let file = random_file(work.path(), "over-tls.bin", 3 * CHUNK + 5);
    let file_arg = file.to_str().unwrap();

    // Not a public CA: refused, and the message says why.
    let out = ferry(
        &["send", file_arg, "--server", &server.url],
        work.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "names the certificate: {}",
        stderr(&out)
    );

    let ca_arg = ca.to_str().unwrap();
    let link = send(&server, &file, &["--ca-cert", ca_arg]).await;
    let dst = tempfile::tempdir().unwrap();
    let out = ferry(
        &[
            "receive",
            &link,
            "-o",
            dst.path().to_str().unwrap(),
            "--ca-cert",
            ca_arg,
        ],
        dst.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &dst.path().join("over-tls.bin"));

    // A file that holds no certificate is a usage error, before any connection.
    let out = ferry(
        &["receive", &link, "--ca-cert", file_arg],
        dst.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no PEM certificate"),
        "{}",
        stderr(&out)
    );
}

/// Waits (bounded) until a temporary download file exists in `dir`.
async fn wait_for_partial_file(dir: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while partial_files(dir).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "download never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A normal send and receive into `dir`, after a test of something unusual.
async fn assert_round_trip(server: &TestServer, dir: &Path) {
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "after.bin", 2 * CHUNK + 9);
    let link = send(server, &file, &[]).await;
    let out = ferry(
        &["receive", &link, "-o", dir.to_str().unwrap()],
        dir,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_file(&file, &dir.join("after.bin"));
    assert!(partial_files(dir).is_empty(), "{:?}", partial_files(dir));
}

/// Issue 12 item 6: two receives of two one-time shares, both named `report.bin`, into
/// one directory at once. The first picked its name and is still downloading (held with
/// SIGSTOP so the overlap is certain) when the second saves `report.bin`; the first must
/// then claim `report (1).bin`, not fail "already exists" and delete its plaintext after
/// its one download was spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_one_time_receives_of_one_name_keep_both_files() {
    let server = spawn_server().await;
    let (src_a, src_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let big = random_file(src_a.path(), "report.bin", 64 << 20);
    let small = random_file(src_b.path(), "report.bin", CHUNK + 11);
    let link_a = send(&server, &big, &["--downloads", "1"]).await;
    let link_b = send(&server, &small, &["--downloads", "1"]).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    let out_arg = out.to_str().unwrap();

    let first = ferry_command(&["receive", &link_a, "-o", out_arg], out, Some(PASSPHRASE))
        .spawn()
        .unwrap();
    wait_for_partial_file(out).await;
    signal(&first, "-STOP");
    assert!(
        !out.join("report.bin").exists(),
        "the first receive is still downloading"
    );
    let second = ferry(&["receive", &link_b, "-o", out_arg], out, Some(PASSPHRASE)).await;
    signal(&first, "-CONT");
    let first = tokio::time::timeout(Duration::from_secs(300), first.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert_same_file(&small, &out.join("report.bin"));
    assert_same_file(&big, &out.join("report (1).bin"));
    assert!(partial_files(out).is_empty(), "{:?}", partial_files(out));
    // Both shares are used up: their files exist only here now.
    for link in [&link_a, &link_b] {
        let again = ferry(&["receive", link, "-o", out_arg], out, Some(PASSPHRASE)).await;
        assert_eq!(code(&again), 4, "{}", stderr(&again));
    }
    assert_round_trip(&server, out).await;
}

/// Issue 12 item 6: a 250-byte name (the old temporary name added 20 bytes and failed
/// "File name too long" after the download was granted), and a 255-byte one received
/// twice, whose numbered alternative must be cut to 255 bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_up_to_255_bytes_are_saved_and_numbered_within_255() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    let name_250 = format!("{}.bin", "\u{e9}".repeat(123));
    assert_eq!(name_250.len(), 250);
    let file = random_file(src.path(), &name_250, CHUNK + 1);
    let link = send(&server, &file, &["--downloads", "1"]).await;
    let got = ferry(
        &["receive", &link, "-o", out.to_str().unwrap()],
        out,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert_same_file(&file, &out.join(&name_250));

    let name_255 = format!("{}.dat", "n".repeat(251));
    let file = random_file(src.path(), &name_255, 1000);
    let link = send(&server, &file, &["--downloads", "2"]).await;
    for _ in 0..2 {
        let got = ferry(&["receive", &link], out, Some(PASSPHRASE)).await;
        assert_eq!(code(&got), 0, "{}", stderr(&got));
    }
    let numbered = format!("{} (1).dat", "n".repeat(247));
    assert_eq!(numbered.len(), 255);
    assert_same_file(&file, &out.join(&name_255));
    assert_same_file(&file, &out.join(&numbered));
    assert!(partial_files(out).is_empty(), "{:?}", partial_files(out));
    assert_round_trip(&server, out).await;
}

/// Issue 12 item 6: `--force` must not let the sender choose which file is overwritten.
/// With a directory target (or none) the sender's name is never replaced, `--force` or
/// not; `-o given/path --force` replaces the path the person typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_applies_only_to_a_path_given_on_the_command_line() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "keep.bin", CHUNK + 5);
    let link = send(&server, &file, &["--downloads", "3"]).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    let existing = out.join("keep.bin");
    std::fs::write(&existing, b"precious").unwrap();

    let got = ferry(
        &["receive", &link, "-o", out.to_str().unwrap(), "--force"],
        out,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert!(
        std::fs::read(&existing).unwrap() == b"precious",
        "the existing file was replaced"
    );
    assert_same_file(&file, &out.join("keep (1).bin"));
    let got = ferry(&["receive", &link, "--force"], out, Some(PASSPHRASE)).await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert!(
        std::fs::read(&existing).unwrap() == b"precious",
        "the existing file was replaced"
    );
    assert_same_file(&file, &out.join("keep (2).bin"));

    let got = ferry(
        &[
            "receive",
            &link,
            "-o",
            existing.to_str().unwrap(),
            "--force",
        ],
        out,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert_same_file(&file, &existing);
    assert!(partial_files(out).is_empty(), "{:?}", partial_files(out));
    assert_round_trip(&server, out).await;
}

/// Issue 12 item 6: names Windows cannot hold (`: < > " | ? *`, device names) are made
/// safe on every platform, so a received file can be copied anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_unsafe_names_are_sanitised() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    for (name, saved) in [
        ("a<b>c:d\"e|f?g*h.txt", "a_b_c_d_e_f_g_h.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("lpt1.tar.gz", "_lpt1.tar.gz"),
    ] {
        let file = random_file(src.path(), name, 300);
        let link = send(&server, &file, &[]).await;
        let got = ferry(
            &["receive", &link, "-o", out.to_str().unwrap()],
            out,
            Some(PASSPHRASE),
        )
        .await;
        assert_eq!(code(&got), 0, "{name}: {}", stderr(&got));
        assert_same_file(&file, &out.join(saved));
    }
    let mut names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["_CON.txt", "_lpt1.tar.gz", "_nul", "a_b_c_d_e_f_g_h.txt"]
    );
    assert_round_trip(&server, out).await;
}

/// A chunk that fails verification in the middle leaves no half file: not under the
/// sender's name, not over a file `-o FILE --force` would have replaced, and no
/// temporary file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_midway_never_leaves_a_half_file_under_the_final_name() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let len = 3 * CHUNK + 100;
    let file = random_file(src.path(), "mid.bin", len);
    let link = send(&server, &file, &["--downloads", "2"]).await;
    let mut blobs = Vec::new();
    files_of_len(server.data_dir.path(), (len + 4 * 16) as u64, &mut blobs);
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    let mut bytes = std::fs::read(&blobs[0]).unwrap();
    bytes[2 * CHUNK + 500] ^= 0x80; // inside the third chunk
    std::fs::write(&blobs[0], &bytes).unwrap();

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    let existing = out.join("given.bin");
    std::fs::write(&existing, b"precious").unwrap();
    let got = ferry(
        &[
            "receive",
            &link,
            "-o",
            existing.to_str().unwrap(),
            "--force",
        ],
        out,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 5, "{}", stderr(&got));
    assert!(
        std::fs::read(&existing).unwrap() == b"precious",
        "the existing file was replaced"
    );
    let got = ferry(
        &["receive", &link, "-o", out.to_str().unwrap()],
        out,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 5, "{}", stderr(&got));
    assert!(!out.join("mid.bin").exists());
    assert!(!out.join("mid (1).bin").exists());
    assert!(partial_files(out).is_empty(), "{:?}", partial_files(out));
    assert_round_trip(&server, out).await;
}

/// When no name can be claimed (here: the name and all 999 numbered ones are taken) the
/// verified file is kept under its temporary name, and the error says where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_free_name_the_verified_file_is_kept_and_located() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "full.bin", CHUNK + 77);
    let link = send(&server, &file, &["--downloads", "1"]).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    std::fs::write(out.join("full.bin"), b"").unwrap();
    for n in 1..=999 {
        std::fs::write(out.join(format!("full ({n}).bin")), b"").unwrap();
    }
    let got = ferry(
        &["receive", &link, "-o", out.to_str().unwrap()],
        out,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 1, "{}", stderr(&got));
    let kept = partial_files(out);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let message = stderr(&got);
    assert!(message.contains(&kept[0]), "names the kept file: {message}");
    assert!(message.contains("taken"), "{message}");
    assert_same_file(&file, &out.join(&kept[0]));
    std::fs::remove_file(out.join(&kept[0])).unwrap();
    assert_round_trip(&server, out).await;
}

/// A TCP forwarder on 127.0.0.1 in front of `target` that cuts connections: the first
/// connection whose server-to-client bytes pass `cuts[0]` is dropped mid-stream, then the
/// next one that passes `cuts[1]`, and so on. Returns its port and the count of cuts made.
async fn cutting_forwarder(
    target: u16,
    cuts: Vec<usize>,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::{Arc, Mutex, atomic::AtomicUsize};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cuts = Arc::new(Mutex::new(std::collections::VecDeque::from(cuts)));
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    tokio::spawn(async move {
        // Bounded: a test makes a handful of connections.
        for _ in 0..64 {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = tokio::net::TcpStream::connect(("127.0.0.1", target))
                .await
                .unwrap();
            tokio::spawn(forward(client, server, cuts.clone(), counter.clone()));
        }
    });
    (port, made)
}

/// Copies both ways until either side ends, or until the server-to-client bytes pass the
/// next cut (then both sides are dropped without a close: a broken connection).
async fn forward(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    cuts: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<usize>>>,
    made: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::io::copy(&mut client_read, &mut server_write);
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut passed = 0usize;
        // Bounded by the server's bytes: every turn reads some or ends.
        loop {
            let n = server_read.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            passed += n;
            let cut = {
                let mut cuts = cuts.lock().unwrap();
                let due = cuts.front().is_some_and(|&limit| passed > limit);
                if due {
                    cuts.pop_front();
                }
                due
            };
            if cut {
                made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return Ok(());
            }
            client_write.write_all(&buf[..n]).await?;
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// A download whose connection is cut four times resumes by itself each time, arrives
/// byte-exact, and counts once. The first cut comes a few KiB into the socket, inside the
/// first chunk, before any ack: that claim is released, so its resume may find it gone and
/// start a fresh claim. The next cut comes after 20 MiB (more than the server's first
/// window of 16 MiB, so the claim is held) and the next two inside the resumed claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_four_times_resumes_and_counts_once() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let len = 256 * CHUNK + 1234;
    let file = random_file(src.path(), "cut.bin", len);
    let link = send(&server, &file, &["--downloads", "2"]).await;
    let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();
    // (The share-information GET through the forwarder is well under 4 KiB.)
    let (proxy, cuts) = cutting_forwarder(port, vec![4 << 10, 20 << 20, 8 << 20, 6 << 20]).await;
    let through_proxy = link.replace(&server.url, &format!("http://127.0.0.1:{proxy}"));

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    let got = ferry(
        &["receive", &through_proxy, "-o", out.to_str().unwrap()],
        out,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert_eq!(
        cuts.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "every cut happened"
    );
    let log = stderr(&got);
    eprintln!("{log}");
    assert!(log.contains("reconnecting"), "{log}");
    // The cuts of the held claim were resumed inside it, not started over.
    assert!(
        log.matches("starting a fresh download").count() <= 1,
        "{log}"
    );
    assert_same_file(&file, &out.join("cut.bin"));
    assert!(partial_files(out).is_empty(), "{:?}", partial_files(out));

    // Counted exactly once: one download of the two is left.
    let id = link.rsplit('/').next().unwrap().split('#').next().unwrap();
    let info: serde_json::Value = reqwest::get(format!("{}/api/shares/{id}", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["downloads_left"], 1, "{info}");
    assert_round_trip(&server, out).await;
}

/// A 64 MiB upload whose connection is cut three times on its way to the server (after
/// 8 MiB each time) resumes by itself and arrives byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_three_times_resumes_by_itself() {
    use ferry_faultproxy::{CutPoint, Direction, FaultPlan, Proxy};
    let server = spawn_server().await;
    let upstream: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let plan = FaultPlan {
        cut: Some(CutPoint::After(8 << 20)),
        direction: Direction::Up,
        max_cuts: Some(3),
        ..FaultPlan::default()
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), upstream, plan)
        .await
        .unwrap();
    let via_proxy = format!("http://{}", proxy.local_addr());
    let src = tempfile::tempdir().unwrap();
    let file = random_file(src.path(), "cut.bin", 64 << 20);
    let args = ["send", file.to_str().unwrap(), "--server", &via_proxy];
    let out = ferry(&args, src.path(), Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(proxy.counters().cuts, 3);
    assert!(stderr(&out).contains("reconnecting"), "{}", stderr(&out));
    let link = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .replace(&via_proxy, &server.url);
    receives_the_same(&link, &file).await;
}
