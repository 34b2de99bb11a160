//! Who may upload and how much (issue 15): a server that takes uploads only with an
//! upload token or an invitation, tokens made and revoked by `ferry-server admin`, token
//! quotas, invitations for one file, the server's storage quota, and per-address rate
//! limits. Every refusal comes at `start`, before a byte is stored, with its own code;
//! another client's round trip beside it goes through.
mod support;

use std::{net::IpAddr, time::Duration};

use ferry_backend::{
    AppState, Config,
    admin::{self, Admin, TokenCommand},
};
use ferry_common::protocol::{
    ErrorBody, ErrorCode, INVITATIONS_PATH, Invitation, LIMITS_PATH, Limits, UploadAccess,
    UploadRequest,
};
use support::*;

const OTHER: [u8; 4] = [127, 0, 0, 2];

/// Runs `ferry-server admin` on `server`'s database and store; returns what it printed.
async fn admin(server: &TestServer, cmd: Admin) -> String {
    let state = AppState::open(server.replica_config(|_| {}))
        .await
        .expect("the admin command opens the server's storage");
    let out = admin::run(&state, cmd).await.expect("the admin command");
    state.shares.close().await;
    out
}

async fn new_token(server: &TestServer, quota: Option<u64>) -> String {
    let cmd = Admin::Token(TokenCommand::Create {
        label: "test".into(),
        quota,
    });
    admin(server, cmd).await.trim().to_owned()
}

/// `prepare`d with `credential` in its `start`.
fn with_credential(data: &[u8], credential: Option<&str>) -> Prepared {
    let mut prep = prepare(data, &UploadOpts::default());
    if let UploadRequest::Start { credential: c, .. } = &mut prep.start {
        *c = credential.map(str::to_owned);
    }
    prep
}

async fn upload_with(
    server: &TestServer,
    data: &[u8],
    credential: Option<&str>,
) -> Result<Share, ErrorBody> {
    upload_prepared(server.port, with_credential(data, credential)).await
}

fn credential_server(c: &mut Config) {
    c.upload_access = UploadAccess::Credential;
}

#[tokio::test]
async fn a_credential_server_takes_uploads_only_with_a_valid_token() {
    let server = TestServer::start(credential_server).await;
    let limits: Limits = reqwest::get(server.http(LIMITS_PATH))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(limits.upload_access, UploadAccess::Credential);
    let data = random_bytes(100_000);

    let none = upload_with(&server, &data, None).await.unwrap_err();
    assert_eq!(none.code, ErrorCode::CredentialRequired, "{none:?}");
    let token = new_token(&server, None).await;
    assert!(token.starts_with("ft1."), "{token}");
    // A token of the right shape that the server never issued, one with another secret
    // under a real handle, and text that is no token at all.
    let handle = token.split('.').nth(1).unwrap();
    let other_secret = new_token(&server, None).await;
    let forged = format!("ft1.{handle}.{}", other_secret.rsplit('.').next().unwrap());
    for bad in [forged.as_str(), "ft1.AAAAAAAAAAAA.AAAA", "Bearer nothing"] {
        let refused = upload_with(&server, &data, Some(bad)).await.unwrap_err();
        assert_eq!(
            refused.code,
            ErrorCode::CredentialRefused,
            "{bad}: {refused:?}"
        );
    }
    assert!(
        server.blob_files().is_empty(),
        "nothing stored for refused uploads"
    );

    let share = upload_with(&server, &data, Some(&token)).await.unwrap();
    let listed = admin(&server, Admin::Token(TokenCommand::List)).await;
    assert!(
        listed.contains(handle) && !listed.contains(&token),
        "{listed}"
    );

    // Revoked: the next upload is refused at once; the share already made stays.
    admin(
        &server,
        Admin::Token(TokenCommand::Revoke { id: handle.into() }),
    )
    .await;
    let revoked = upload_with(&server, &data, Some(&token)).await.unwrap_err();
    assert_eq!(revoked.code, ErrorCode::CredentialRefused);
    assert!(revoked.message.contains("revoked"), "{revoked:?}");
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}

#[tokio::test]
async fn a_token_quota_is_refused_at_start_and_freed_by_deleting() {
    let server = TestServer::start(credential_server).await;
    let token = new_token(&server, Some(300_000)).await;
    let first = upload_with(&server, &random_bytes(200_000), Some(&token))
        .await
        .unwrap();
    let over = upload_with(&server, &random_bytes(200_000), Some(&token))
        .await
        .unwrap_err();
    assert_eq!(over.code, ErrorCode::QuotaExceeded, "{over:?}");
    assert_eq!(server.blob_files(), vec![first.id.clone()]);

    // The owner deletes the first share: its bytes are no longer held.
    let deleted = reqwest::Client::new()
        .delete(server.http(&format!("/api/shares/{}", first.id)))
        .bearer_auth(ferry_common::b64::encode(&first.owner_token))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    upload_with(&server, &random_bytes(200_000), Some(&token))
        .await
        .unwrap();
}

async fn invite(server: &TestServer, bearer: Option<&str>, max_bytes: u64) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(server.http(INVITATIONS_PATH))
        .json(&serde_json::json!({ "max_bytes": max_bytes, "expires_in_secs": 3600 }));
    if let Some(bearer) = bearer {
        req = req.bearer_auth(bearer);
    }
    req.send().await.unwrap()
}

async fn check(server: &TestServer, invitation: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(server.http(&format!("{INVITATIONS_PATH}/check")))
        .json(&serde_json::json!({ "invitation": invitation }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn an_invitation_lets_one_file_in_and_counts_against_its_token() {
    let server = TestServer::start(credential_server).await;
    let token = new_token(&server, Some(1_000_000)).await;
    assert_eq!(invite(&server, None, 1000).await.status(), 401);
    assert_eq!(
        invite(&server, Some("ft1.AAAAAAAAAAAA.AAAA"), 1000)
            .await
            .status(),
        403
    );
    let made: Invitation = invite(&server, Some(&token), 300_000)
        .await
        .json()
        .await
        .unwrap();
    let invitation = made.invitation.expect("shown once, when made");
    assert!(invitation.starts_with("fi1."));
    let (status, body) = check(&server, &invitation).await;
    assert_eq!((status, body["max_bytes"].as_u64()), (200, Some(300_000)));
    assert!(
        body.get("invitation").is_none(),
        "the check does not echo it"
    );

    let too_big = upload_with(&server, &random_bytes(400_000), Some(&invitation))
        .await
        .unwrap_err();
    assert_eq!(too_big.code, ErrorCode::QuotaExceeded, "{too_big:?}");
    let data = random_bytes(250_000);
    let share = upload_with(&server, &data, Some(&invitation))
        .await
        .unwrap();
    let again = upload_with(&server, &data, Some(&invitation))
        .await
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::CredentialRefused);
    assert!(again.message.contains("already used"), "{again:?}");
    assert_eq!(check(&server, &invitation).await.0, 403);
    // Its file counts against the token that invited: 250 KB of its 1 MB are held.
    let held = upload_with(&server, &random_bytes(800_000), Some(&token))
        .await
        .unwrap_err();
    assert_eq!(held.code, ErrorCode::QuotaExceeded, "{held:?}");
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);

    // An invitation altered in its secret is refused; the server keeps neither secret.
    let mut altered = invitation.clone().into_bytes();
    let inside = altered.len() - 10;
    altered[inside] = if altered[inside] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert_eq!(check(&server, &altered).await.0, 403);
    for secret in [&token, &invitation] {
        let secret = secret.rsplit('.').next().unwrap();
        for file in walk(server.dir.path()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a credential's secret",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn the_storage_quota_refuses_at_start_and_frees_as_shares_go() {
    let server = TestServer::start(|c| c.storage_quota = Some(300_000)).await;
    let first = upload(server.port, &random_bytes(200_000), &UploadOpts::default())
        .await
        .unwrap();
    let full = upload(server.port, &random_bytes(200_000), &UploadOpts::default())
        .await
        .unwrap_err();
    assert_eq!(full.code, ErrorCode::InsufficientStorage, "{full:?}");
    assert!(full.message.contains("quota"), "{full:?}");
    // Downloaded once, the one-time share is gone and so are its bytes.
    download(server.port, &first).await.unwrap();
    upload(server.port, &random_bytes(200_000), &UploadOpts::default())
        .await
        .unwrap();
    let usage = admin(&server, Admin::Usage).await;
    assert!(usage.contains("shares:             1"), "{usage}");
}

#[tokio::test]
async fn rate_limits_refuse_one_address_and_not_another() {
    let server = TestServer::start(|c| {
        c.rate_upload_starts = "2/min".parse().unwrap();
        c.rate_download_starts = "3/min".parse().unwrap();
        c.rate_wrong_passphrases = "2/h".parse().unwrap();
    })
    .await;
    let other: IpAddr = OTHER.into();
    let data = random_bytes(50_000);
    let opts = UploadOpts {
        max_downloads: 10,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &data, &opts).await.unwrap();
    upload(server.port, &data, &opts).await.unwrap();
    let limited = upload(server.port, &data, &opts).await.unwrap_err();
    assert_eq!(limited.code, ErrorCode::RateLimited, "{limited:?}");
    assert!(limited.message.contains("try again in"), "{limited:?}");
    // Another address uploads meanwhile.
    let prep = prepare(&data, &opts);
    upload_over(
        connect_from(server.port, ferry_common::protocol::UPLOAD_PATH, other).await,
        prep,
    )
    .await
    .unwrap();

    // Two wrong passphrases, then even the right one is refused from that address for a
    // while; the other address downloads.
    for _ in 0..2 {
        let wrong = download_with(server.port, &share, [7; 32], None)
            .await
            .unwrap_err();
        assert_eq!(wrong.code, ErrorCode::WrongToken);
    }
    let guessing = download(server.port, &share).await.unwrap_err();
    assert_eq!(guessing.code, ErrorCode::RateLimited, "{guessing:?}");
    for _ in 0..3 {
        download_from(server.port, &share, other).await.unwrap();
    }
    let limited = download_from(server.port, &share, other).await.unwrap_err();
    assert_eq!(limited.code, ErrorCode::RateLimited, "{limited:?}");
    // The limits cost the share nothing: its wrong-passphrase count is what the two
    // wrong tries left, and its downloads are the three that went through.
    let info = server.info(&share.id).await.unwrap();
    assert_eq!((info.attempts_left, info.downloads_left), (8, 7));
    tokio::time::sleep(Duration::from_millis(1)).await;
}
