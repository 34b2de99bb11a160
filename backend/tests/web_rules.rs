//! The rules a server on the web must keep beyond the protocol (issue 12): no share whose
//! KDF cost is below Ferry's floor. Each rule is followed by a normal round trip.
mod support;

use ferry_common::protocol::{ErrorCode, UPLOAD_PATH, UploadRequest};
use support::*;

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
