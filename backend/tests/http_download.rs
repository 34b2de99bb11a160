//! Downloads over plain HTTP (`POST …/claims`, `GET …/chunks?from=N`, `POST …/claims/done`):
//! the download socket's one-time rules, request by request.
mod support;

use std::time::Duration;

use ferry_common::{
    FileMetadata, Header, Keys, StreamDecryptor, b64,
    protocol::{DownloadEvent, DownloadRequest, ErrorBody, ErrorCode, PROTOCOL_VERSION},
};
use support::*;

/// 64 KiB chunks: the server's window is 64 chunks, so 160 chunks is 2.5 windows.
const CHUNK: usize = 64 * 1024;

/// A claim made over HTTP, and what its `ready` said.
struct Claimed {
    token: String,
    chunks: u64,
    ciphertext_size: u64,
    metadata: Vec<u8>,
}

fn api(port: u16, share: &Share, tail: &str) -> String {
    format!("http://127.0.0.1:{port}/api/shares/{}{tail}", share.id)
}

async fn refusal(response: reqwest::Response) -> (u16, ErrorBody) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("an ErrorBody"))
}

async fn claim(port: u16, share: &Share, token: [u8; 32]) -> Result<Claimed, (u16, ErrorBody)> {
    let start = DownloadRequest::Start {
        version: PROTOCOL_VERSION,
        share_id: share.id.clone(),
        token: token.to_vec().into(),
        claim_token: None,
        from_chunk: None,
    };
    let response = reqwest::Client::new()
        .post(api(port, share, "/claims"))
        .json(&start)
        .send()
        .await
        .expect("POST claims");
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    match response.json().await.expect("ready JSON") {
        DownloadEvent::Ready {
            chunks,
            ciphertext_size,
            metadata,
            claim_token: Some(claim),
            ..
        } => Ok(Claimed {
            token: b64::encode(&claim.0),
            chunks,
            ciphertext_size,
            metadata: metadata.0,
        }),
        other => panic!("not a fresh ready: {other:?}"),
    }
}

async fn get_chunks(port: u16, share: &Share, claim: &str, from: u64) -> reqwest::Response {
    get_chunks_accepting(port, share, claim, from, "identity").await
}

/// A chunk request whose client accepts the answer in these encodings.
async fn get_chunks_accepting(
    port: u16,
    share: &Share,
    claim: &str,
    from: u64,
    encodings: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .get(api(port, share, &format!("/chunks?from={from}")))
        .header("Authorization", format!("Bearer {claim}"))
        .header("Accept-Encoding", encodings)
        .send()
        .await
        .expect("GET chunks")
}

/// Reads a chunk response's body, at most `limit` bytes (then drops the connection).
async fn body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    // Bounded: each turn takes a piece of a body of known length, or stops at `limit`.
    while let Some(piece) = response.chunk().await? {
        out.extend_from_slice(&piece);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

async fn done(port: u16, share: &Share, claim: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(api(port, share, "/claims/done"))
        .header("Authorization", format!("Bearer {claim}"))
        .send()
        .await
        .expect("POST done")
}

/// Opens every sealed chunk in `ciphertext` (the whole stream, in order).
fn open_all(port_share: (&Share, &Header), claimed: &Claimed, ciphertext: &[u8]) -> Vec<u8> {
    let (share, header) = port_share;
    let keys = Keys::derive(header, PASSPHRASE, Some(&share.link_secret)).expect("keys");
    FileMetadata::open(&claimed.metadata, &keys.metadata, header).expect("metadata opens");
    let mut dec = StreamDecryptor::new(&keys.payload, header);
    let sealed = header.chunk_size as usize + 16;
    let pieces: Vec<_> = ciphertext.chunks(sealed).collect();
    let mut plain = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        plain.extend(
            dec.open_chunk(piece, i + 1 == pieces.len())
                .expect("chunk opens"),
        );
    }
    dec.finish().expect("stream complete");
    plain
}

async fn header_of(port: u16, share: &Share) -> Header {
    let info = share_info(port, &share.id).await.expect("info");
    Header::parse(&info.header.0).expect("header")
}

#[tokio::test]
async fn a_file_comes_in_two_requests_and_counts_once_done() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(160 * CHUNK + 99);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let claimed = claim(server.port, &share, share.token).await.unwrap();
    assert_eq!(claimed.chunks, 161);
    let sealed = CHUNK as u64 + 16;

    // Everything but the final chunk, exactly as stored, even to a client that accepts
    // compressed answers (a browser).
    let browser = "gzip, deflate, br, zstd";
    let response = get_chunks_accepting(server.port, &share, &claimed.token, 0, browser).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(160 * sealed));
    let encoding = response.headers().get("content-encoding");
    assert!(encoding.is_none_or(|e| e == "identity"), "{encoding:?}");
    let mut ciphertext = body(response, usize::MAX).await.unwrap();
    assert_eq!(ciphertext.len() as u64, 160 * sealed);
    // Asking for the final chunk is the acknowledgement of the rest.
    let last = body(
        get_chunks(server.port, &share, &claimed.token, 160).await,
        usize::MAX,
    )
    .await
    .unwrap();
    ciphertext.extend(last);
    assert_eq!(ciphertext.len() as u64, claimed.ciphertext_size);
    let header = header_of(server.port, &share).await;
    assert_eq!(open_all((&share, &header), &claimed, &ciphertext), data);

    // Nothing counted until `done`.
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (0, 1));
    let response = done(server.port, &share, &claimed.token).await;
    assert_eq!(response.status(), 200);
    let left: DownloadEvent = response.json().await.unwrap();
    assert!(
        matches!(left, DownloadEvent::Done { downloads_left: 0 }),
        "{left:?}"
    );
    // Used up: no second claim, and the claim token is spent.
    let (status, err) = claim(server.port, &share, share.token).await.err().unwrap();
    assert!(
        matches!(err.code, ErrorCode::UsedUp | ErrorCode::NotFound),
        "{status} {err:?}"
    );
    let (status, err) = refusal(done(server.port, &share, &claimed.token).await).await;
    assert!(
        status == 409 || status == 404 || status == 410,
        "{status} {err:?}"
    );
}

/// A chunk request cut midway resumes from the next whole chunk, any number of times; the
/// file is byte-exact and counts once.
#[tokio::test]
async fn a_cut_chunk_request_resumes_from_the_next_chunk() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(160 * CHUNK);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let claimed = claim(server.port, &share, share.token).await.unwrap();
    let sealed = CHUNK + 16;
    let mut ciphertext = Vec::new();
    // Three cuts (inside the first window, past it, near the end), then the rest.
    for cut in [10 * sealed + 5, 70 * sealed + 1, 150 * sealed - 7] {
        let from = (ciphertext.len() / sealed) as u64;
        let response = get_chunks(server.port, &share, &claimed.token, from).await;
        let got = body(response, cut - ciphertext.len()).await.unwrap();
        ciphertext.extend(got);
        ciphertext.truncate(ciphertext.len() / sealed * sealed);
    }
    let from = (ciphertext.len() / sealed) as u64;
    let rest = body(
        get_chunks(server.port, &share, &claimed.token, from).await,
        usize::MAX,
    );
    ciphertext.extend(rest.await.unwrap());
    let last = get_chunks(server.port, &share, &claimed.token, claimed.chunks - 1).await;
    ciphertext.extend(body(last, usize::MAX).await.unwrap());
    let header = header_of(server.port, &share).await;
    assert_eq!(open_all((&share, &header), &claimed, &ciphertext), data);
    assert_eq!(
        done(server.port, &share, &claimed.token).await.status(),
        200
    );
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (1, 0));
}

/// Reading past the first window holds the claim: the lease ending counts it. A claim that
/// only read inside its first window is free again when its lease ends, counting nothing.
#[tokio::test]
async fn held_claims_count_at_lease_end_and_others_lapse_free() {
    let server = TestServer::start(short_leases).await;
    let data = random_bytes(160 * CHUNK);
    let opts = UploadOpts {
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(server.port, &data, &opts).await.unwrap();

    // Inside the first window only, then gone.
    let claimed = claim(server.port, &share, share.token).await.unwrap();
    let response = get_chunks(server.port, &share, &claimed.token, 0).await;
    body(response, 10 * (CHUNK + 16)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (0, 2));
    let (status, err) = refusal(get_chunks(server.port, &share, &claimed.token, 10).await).await;
    assert_eq!((status, err.code), (409, ErrorCode::ClaimLost), "{err:?}");

    // Everything but the final chunk, and never `done`: it counts once the lease ends.
    let claimed = claim(server.port, &share, share.token).await.unwrap();
    let response = get_chunks(server.port, &share, &claimed.token, 0).await;
    body(response, usize::MAX).await.unwrap();
    eventually("the held claim counted", async || {
        owner_status(server.port, &share).await.downloads_done == 1
    })
    .await;
    assert_eq!(owner_status(server.port, &share).await.downloads_left, 1);
}

#[tokio::test]
async fn refusals_say_why() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(3 * CHUNK);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    // A wrong download token costs an attempt.
    let (status, err) = claim(server.port, &share, [7; 32]).await.err().unwrap();
    assert_eq!((status, err.code), (403, ErrorCode::WrongToken));
    assert_eq!(err.attempts_left, Some(9));
    // A body that is not JSON (what a cross-site form could send) is refused unread.
    let response = reqwest::Client::new()
        .post(api(server.port, &share, "/claims"))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, err) = refusal(response).await;
    assert_eq!((status, err.code), (400, ErrorCode::BadRequest));
    // No claim token, a wrong one, a `from` past the end, `done` before the final chunk.
    let response = reqwest::get(api(server.port, &share, "/chunks?from=0"))
        .await
        .unwrap();
    assert_eq!(refusal(response).await.1.code, ErrorCode::Unauthorized);
    let wrong = b64::encode(&[1; 32]);
    let (status, err) = refusal(get_chunks(server.port, &share, &wrong, 0).await).await;
    assert_eq!((status, err.code), (409, ErrorCode::ClaimLost));
    let claimed = claim(server.port, &share, share.token).await.unwrap();
    let (status, err) = refusal(get_chunks(server.port, &share, &claimed.token, 3).await).await;
    assert_eq!((status, err.code), (400, ErrorCode::BadRequest), "{err:?}");
    let (status, err) = refusal(done(server.port, &share, &claimed.token).await).await;
    assert_eq!(
        (status, err.code),
        (400, ErrorCode::ProtocolViolation),
        "{err:?}"
    );
    // While the claim is live, a second recipient of a one-time link is told to wait.
    let (status, err) = claim(server.port, &share, share.token).await.err().unwrap();
    assert_eq!((status, err.code), (409, ErrorCode::Busy));
}

/// A stored blob shorter than recorded: the response breaks off, and the download never
/// counts even though its claim was held.
#[tokio::test]
async fn a_blob_shorter_than_recorded_is_never_counted() {
    let server = TestServer::start(|c| c.lease = Duration::from_secs(3600)).await;
    let share = share_with_short_blob(&server).await;
    let claimed = claim(server.port, &share, share.token).await.unwrap();
    let whole = body(
        get_chunks(server.port, &share, &claimed.token, 0).await,
        usize::MAX,
    )
    .await;
    assert_eq!(whole.unwrap().len(), 2 * (CHUNK + 16));
    let last = body(
        get_chunks(server.port, &share, &claimed.token, 2).await,
        usize::MAX,
    )
    .await;
    assert!(last.is_err(), "a short final chunk must break the response");
    let status = owner_status(server.port, &share).await;
    assert_eq!((status.downloads_done, status.downloads_left), (0, 1));
    // The released claim is free again at once.
    assert!(claim(server.port, &share, share.token).await.is_ok());
}
