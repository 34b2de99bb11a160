//! `ferry send` and `ferry invite` against a server that takes uploads only with an
//! upload token or an invitation: refusals before any byte is sent, with the server's
//! sentence and the documented exit code; a token from FERRY_TOKEN or --token-file; an
//! invitation link made by `ferry invite` and used once by `ferry send --invitation`;
//! a rate limit on new uploads.
mod support;

use std::{path::Path, process::Output, time::Duration};

use ferry_backend::{
    AppState, Config,
    admin::{self, Admin, TokenCommand},
};
use ferry_common::protocol::UploadAccess;
use support::*;

/// A token made by `ferry-server admin token create` on `server`'s storage.
async fn token(server: &TestServer, quota: Option<u64>) -> String {
    let state = AppState::open(Config::for_tests(server.data_dir.path().to_path_buf()))
        .await
        .unwrap();
    let cmd = Admin::Token(TokenCommand::Create {
        label: "cli".into(),
        quota,
    });
    let out = admin::run(&state, cmd).await.unwrap();
    state.shares.close().await;
    out.trim().to_owned()
}

/// `ferry args…` in `dir` with `FERRY_TOKEN` set to `token` (if any).
async fn ferry_with_token(args: &[&str], dir: &Path, token: Option<&str>) -> Output {
    let mut cmd = ferry_command(args, dir, Some(PASSPHRASE));
    if let Some(token) = token {
        cmd.env("FERRY_TOKEN", token);
    }
    tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("ferry finishes in time")
        .expect("ferry runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn send_needs_a_token_and_an_invitation_works_once() {
    let server = spawn_server_with(|c| c.upload_access = UploadAccess::Credential).await;
    let dir = tempfile::tempdir().unwrap();
    random_file(dir.path(), "report.bin", 300_000);
    let send = ["send", "report.bin", "--server", &server.url];

    let none = ferry_with_token(&send, dir.path(), None).await;
    assert_eq!(code(&none), 2, "{}", stderr(&none));
    assert!(stderr(&none).contains("upload token"), "{}", stderr(&none));
    let forged = ferry_with_token(&send, dir.path(), Some("ft1.AAAAAAAAAAAA.AAAA")).await;
    assert_eq!(code(&forged), 1, "{}", stderr(&forged));
    assert!(
        stderr(&forged).contains("not an upload token"),
        "{}",
        stderr(&forged)
    );

    let token = token(&server, None).await;
    let sent = ferry_with_token(&send, dir.path(), Some(&token)).await;
    assert_eq!(code(&sent), 0, "{}", stderr(&sent));
    // The same token from a file.
    std::fs::write(dir.path().join("token.txt"), format!("{token}\n")).unwrap();
    let from_file = [&send[..], &["--token-file", "token.txt"]].concat();
    let sent = ferry_with_token(&from_file, dir.path(), None).await;
    assert_eq!(code(&sent), 0, "{}", stderr(&sent));

    let invite = [
        "invite",
        "--server",
        &server.url,
        "--max-size",
        "1MiB",
        "--expires",
        "1h",
    ];
    let made = ferry_with_token(&invite, dir.path(), Some(&token)).await;
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    let link = stdout(&made);
    assert!(
        link.starts_with(&format!("{}/#invite=fi1.", server.url)),
        "{link}"
    );
    let with_invitation = ["send", "report.bin", "--invitation", &link];
    let sent = ferry_with_token(&with_invitation, dir.path(), None).await;
    assert_eq!(code(&sent), 0, "{}", stderr(&sent));
    let share = stdout(&sent);
    let again = ferry_with_token(&with_invitation, dir.path(), None).await;
    assert_eq!(code(&again), 1, "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already used"),
        "{}",
        stderr(&again)
    );

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let got = ferry(
        &["receive", &share, "-o", "out"],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert_same_file(&dir.path().join("report.bin"), &out.join("report.bin"));
}

#[tokio::test]
async fn a_token_quota_and_a_rate_limit_refuse_before_sending() {
    let server = spawn_server_with(|c| {
        c.upload_access = UploadAccess::Credential;
        c.rate_upload_starts = "2/min".parse().unwrap();
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    random_file(dir.path(), "big.bin", 400_000);
    random_file(dir.path(), "small.bin", 1000);
    let token = token(&server, Some(300_000)).await;
    let over = ferry_with_token(
        &["send", "big.bin", "--server", &server.url],
        dir.path(),
        Some(&token),
    )
    .await;
    assert_eq!(code(&over), 1, "{}", stderr(&over));
    assert!(stderr(&over).contains("quota"), "{}", stderr(&over));
    let small = ["send", "small.bin", "--server", &server.url];
    let ok = ferry_with_token(&small, dir.path(), Some(&token)).await;
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    // The refused upload above counted as a start: this is the third.
    let limited = ferry_with_token(&small, dir.path(), Some(&token)).await;
    assert_eq!(code(&limited), 6, "{}", stderr(&limited));
    assert!(
        stderr(&limited).contains("too many new uploads"),
        "{}",
        stderr(&limited)
    );
}

#[tokio::test]
async fn the_storage_quota_refuses_a_send_and_what_is_stored_still_comes_down() {
    let server = spawn_server_with(|c| c.storage_quota = Some(1 << 20)).await;
    let dir = tempfile::tempdir().unwrap();
    random_file(dir.path(), "kept.bin", 600_000);
    random_file(dir.path(), "over.bin", 600_000);
    let kept = ferry_with_token(
        &["send", "kept.bin", "--server", &server.url],
        dir.path(),
        None,
    )
    .await;
    assert_eq!(code(&kept), 0, "{}", stderr(&kept));
    let over = ferry_with_token(
        &["send", "over.bin", "--server", &server.url],
        dir.path(),
        None,
    )
    .await;
    assert_eq!(code(&over), 6, "{}", stderr(&over));
    assert!(
        stderr(&over).contains("storage quota is full"),
        "{}",
        stderr(&over)
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let link = stdout(&kept);
    let got = ferry(
        &["receive", &link, "-o", "out"],
        dir.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert_same_file(&dir.path().join("kept.bin"), &out.join("kept.bin"));
}
