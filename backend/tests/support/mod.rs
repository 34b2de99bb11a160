//! A test harness: a real server on 127.0.0.1:0 with a temporary data directory, and a
//! WebSocket client that builds real encrypted shares with `ferry_common`.
#![allow(dead_code)]

pub mod raw_ws;

use std::{net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use ferry_backend::{
    Application, Config,
    blobs::{BlobBackend, S3Credentials, S3Settings},
    gate::SocketGate,
};
use ferry_common::{
    FileMetadata, Header, KdfParams, Keys, LinkSecret, StreamDecryptor, StreamEncryptor, b64,
    client::{
        ClientError, Download, DownloadAction, Resumable, ShareId, Upload, UploadAction, Uploaded,
    },
    protocol::{
        DOWNLOAD_PATH, DownloadEvent, DownloadRequest, ErrorBody, ErrorCode, PROTOCOL_VERSION,
        ShareInfo, ShareStatus, UPLOAD_PATH, UploadEvent, UploadRequest,
    },
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, client_async, connect_async, tungstenite::Message,
};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The cheapest Argon2id parameters a header may carry (Ferry's floor; the server refuses
/// anything below it).
pub const TEST_KDF: KdfParams = KdfParams::FLOOR;
pub const PASSPHRASE: &str = "correct horse battery staple";

/// A running server.
pub struct TestServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: Config,
    /// The server's socket caps (to see how many sockets are open).
    pub gate: Arc<SocketGate>,
    /// The metrics listener's port (`Config::metrics_listen`).
    pub metrics_port: Option<u16>,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    /// Starts a server with the test defaults, adjusted by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, tweak).await
    }

    /// Starts a server on an existing data directory.
    pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::for_tests(dir.path().to_path_buf());
        // Run the suite against PostgreSQL with FERRY_TEST_DATABASE_URL.
        if let Ok(url) = std::env::var("FERRY_TEST_DATABASE_URL") {
            config.database_url = Some(test_database(&url, dir.path()).await);
        }
        config.blobs = blob_backend(dir.path());
        tweak(&mut config);
        let app = Application::build(config.clone())
            .await
            .expect("server builds");
        let port = app.port();
        let handle = app.handle();
        let gate = app.state().gate.clone();
        let metrics_port = app.metrics_port();
        let task = tokio::spawn(app.run_until_stopped());
        TestServer {
            port,
            dir,
            config,
            gate,
            metrics_port,
            handle,
            task,
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Where the blobs from before segments are files (see [`blob_root`]).
    pub fn blob_dir(&self) -> PathBuf {
        blob_root(self.dir.path()).join("blobs")
    }

    /// What the store holds: the ID of every share or upload with stored objects (a
    /// blob or segments), and the name of every staging file left of a write.
    pub fn blob_files(&self) -> Vec<String> {
        stored(self.dir.path())
    }

    pub async fn info(&self, id: &str) -> Result<ShareInfo, (u16, ErrorBody)> {
        share_info(self.port, id).await
    }

    /// The configuration of another server process on this one's database and blob
    /// store (and data directory, where a local store keeps its blobs), adjusted by
    /// `tweak`: a replica.
    pub fn replica_config(&self, tweak: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::for_tests(self.dir.path().to_path_buf());
        config.database_url = Some(self.config.database_url());
        config.blobs = self.config.blobs.clone();
        tweak(&mut config);
        config
    }

    /// Stops the server, keeping the data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.handle.stop(false).await;
        let _ = self.task.await;
        self.dir
    }
}

/// A database of its own for a server on `data_dir` in the PostgreSQL cluster that
/// `cluster_url` reaches, created if missing (a server restarted on the same directory
/// finds its rows again): tests never see each other's shares, claims or leases.
pub async fn test_database(cluster_url: &str, data_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name = format!("ferry_{}", hex_of(&digest[..8]));
    fresh_database(cluster_url, &name, false).await
}

/// Database `name` in the cluster `cluster_url` reaches (created if missing; dropped
/// first with `replace`), and the URL that reaches it.
pub async fn fresh_database(cluster_url: &str, name: &str, replace: bool) -> String {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(cluster_url)
        .await
        .expect("the test cluster answers");
    if replace {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut conn)
            .await
            .expect("dropping a test database");
    }
    let found = sqlx::query("SELECT COUNT(*) AS n FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .expect("listing databases")
        .get::<i64, _>("n");
    if found == 0 {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("creating a test database");
    }
    let (base, _) = cluster_url
        .rsplit_once('/')
        .expect("a URL with a database path");
    format!("{base}/{name}")
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The S3-compatible server the suite runs against, if any: `scripts/with-s3.sh` starts
/// s3s-fs, creates a bucket and sets these variables.
pub struct TestS3 {
    pub endpoint: String,
    pub bucket: String,
    /// s3s-fs's root directory: it keeps each object as the file `<root>/<bucket>/<key>`.
    pub root: PathBuf,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The bucket from `FERRY_TEST_S3_*`, or `None` to keep blobs in the data directory.
pub fn test_s3() -> Option<TestS3> {
    let var = |name: &str| std::env::var(format!("FERRY_TEST_S3_{name}")).ok();
    Some(TestS3 {
        endpoint: var("ENDPOINT")?,
        bucket: var("BUCKET")?,
        root: var("ROOT")?.into(),
        access_key_id: var("ACCESS_KEY_ID")?,
        secret_access_key: var("SECRET_ACCESS_KEY")?,
    })
}

/// Each data directory's own key prefix in the shared bucket, so that tests never see
/// each other's objects and a server restarted on the same directory finds its own.
pub fn s3_prefix(data_dir: &std::path::Path) -> String {
    let name = data_dir.file_name().expect("a temp dir's name");
    format!("t-{}", name.to_string_lossy().trim_start_matches('.'))
}

/// The blob store a server on `data_dir` uses: the test bucket under the directory's
/// prefix when `FERRY_TEST_S3_*` is set, else the data directory.
pub fn blob_backend(data_dir: &std::path::Path) -> BlobBackend {
    let Some(s3) = test_s3() else {
        return BlobBackend::Local;
    };
    BlobBackend::S3(S3Settings {
        endpoint: Some(s3.endpoint),
        bucket: s3.bucket,
        region: "us-east-1".into(),
        prefix: s3_prefix(data_dir),
        allow_http: true,
        virtual_hosted: false,
        credentials: Some(S3Credentials {
            access_key_id: s3.access_key_id,
            secret_access_key: s3.secret_access_key,
            session_token: None,
        }),
    })
}

/// The environment that gives a `ferry-server` process on `data_dir` the same store.
pub fn blob_env(data_dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let Some(s3) = test_s3() else {
        return Vec::new();
    };
    vec![
        ("FERRY_S3_BUCKET", s3.bucket),
        ("FERRY_S3_ENDPOINT", s3.endpoint),
        ("FERRY_S3_ALLOW_HTTP", "true".into()),
        ("FERRY_S3_PREFIX", s3_prefix(data_dir)),
        ("FERRY_S3_ACCESS_KEY_ID", s3.access_key_id),
        ("FERRY_S3_SECRET_ACCESS_KEY", s3.secret_access_key),
    ]
}

/// The directory where the store of a server on `data_dir` keeps `blobs/` and
/// `segments/` as plain files: the data directory itself, or on S3 the prefix's
/// directory in s3s-fs's root.
pub fn blob_root(data_dir: &std::path::Path) -> PathBuf {
    match test_s3() {
        Some(s3) => s3.root.join(s3.bucket).join(s3_prefix(data_dir)),
        None => data_dir.to_path_buf(),
    }
}

/// What the store of a server on `data_dir` holds (see [`TestServer::blob_files`]).
pub fn stored(data_dir: &std::path::Path) -> Vec<String> {
    let root = blob_root(data_dir);
    let mut names = list_files(&root.join("blobs"));
    for id in list_files(&root.join("segments")) {
        let files = list_files(&root.join("segments").join(&id));
        names.extend(files.iter().filter(|f| f.contains('#')).cloned());
        if files.iter().any(|f| !f.contains('#')) {
            names.push(id);
        }
    }
    names.sort();
    names.dedup();
    names
}

pub fn list_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub async fn share_info(port: u16, id: &str) -> Result<ShareInfo, (u16, ErrorBody)> {
    let res = reqwest::get(format!("http://127.0.0.1:{port}/api/shares/{id}"))
        .await
        .expect("GET share");
    let status = res.status().as_u16();
    if status == 200 {
        Ok(res.json().await.expect("ShareInfo JSON"))
    } else {
        Err((status, res.json().await.expect("ErrorBody JSON")))
    }
}

/// Deterministic-looking but random plaintext.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for piece in out.chunks_mut(1 << 16) {
        getrandom::getrandom(piece).expect("random");
    }
    out
}

/// What to upload.
#[derive(Clone)]
pub struct UploadOpts {
    pub name: String,
    pub chunk_size: u32,
    pub expires_in_secs: u64,
    pub max_downloads: u32,
}

impl Default for UploadOpts {
    fn default() -> Self {
        UploadOpts {
            name: "report.pdf".into(),
            chunk_size: 64 * 1024,
            expires_in_secs: 3600,
            max_downloads: 1,
        }
    }
}

/// A prepared share: the encrypted pieces and the secrets a recipient needs.
pub struct Prepared {
    pub header: Header,
    pub link_secret: LinkSecret,
    pub token: [u8; 32],
    pub start: UploadRequest,
    pub chunks: Vec<Vec<u8>>,
}

pub fn prepare(plaintext: &[u8], opts: &UploadOpts) -> Prepared {
    let header = Header::generate(TEST_KDF, opts.chunk_size, false).expect("header");
    let link_secret = LinkSecret::generate().expect("secret");
    let keys = Keys::derive(&header, PASSPHRASE, Some(&link_secret)).expect("keys");
    let metadata = FileMetadata {
        name: opts.name.clone(),
        size: plaintext.len() as u64,
        media_type: "application/octet-stream".into(),
    }
    .seal(&keys.metadata, &header)
    .expect("seal metadata");
    let mut enc = StreamEncryptor::new(&keys.payload, &header);
    let cs = opts.chunk_size as usize;
    let mut chunks = Vec::new();
    if plaintext.is_empty() {
        chunks.push(enc.seal_chunk(&[], true).expect("seal"));
    } else {
        let n = plaintext.len().div_ceil(cs);
        for (i, piece) in plaintext.chunks(cs).enumerate() {
            chunks.push(enc.seal_chunk(piece, i + 1 == n).expect("seal"));
        }
    }
    let ciphertext_size = chunks.iter().map(|c| c.len() as u64).sum();
    assert_eq!(
        ciphertext_size,
        header.ciphertext_len(plaintext.len() as u64)
    );
    let start = UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: header.to_bytes().to_vec().into(),
        metadata: metadata.into(),
        verifier: keys.download_token.verifier().to_vec().into(),
        expires_in_secs: opts.expires_in_secs,
        max_downloads: opts.max_downloads,
        ciphertext_size,
        credential: None,
    };
    Prepared {
        header,
        link_secret,
        token: *keys.download_token.as_bytes(),
        start,
        chunks,
    }
}

/// A committed share.
pub struct Share {
    pub id: String,
    pub link_secret: LinkSecret,
    pub token: [u8; 32],
    pub owner_token: Vec<u8>,
    pub expires_at: i64,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share({})", self.id)
    }
}

pub async fn connect(port: u16, path: &str) -> Ws {
    let (ws, _) = connect_async(format!("ws://127.0.0.1:{port}{path}"))
        .await
        .expect("WebSocket connects");
    ws
}

/// Connects from a given loopback source address (127.0.0.2 is another client).
pub async fn connect_from(port: u16, path: &str, source: IpAddr) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .expect("bind the source address");
    let tcp = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("TCP connects");
    let (ws, _) = client_async(
        format!("ws://127.0.0.1:{port}{path}"),
        MaybeTlsStream::Plain(tcp),
    )
    .await
    .expect("WebSocket connects");
    ws
}

pub async fn send_json<T: serde::Serialize>(ws: &mut Ws, msg: &T) {
    ws.send(Message::text(serde_json::to_string(msg).unwrap()))
        .await
        .expect("send");
}

/// The next message that is not a ping/pong.
pub async fn next(ws: &mut Ws) -> Option<Message> {
    loop {
        match ws.next().await {
            None | Some(Err(_)) => return None,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(msg)) => return Some(msg),
        }
    }
}

/// Reads until the server's close frame: returns its code and reason.
pub async fn expect_close(ws: &mut Ws) -> (u16, String) {
    loop {
        match next(ws).await {
            Some(Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Message::Close(None)) | None => return (0, String::new()),
            Some(_) => continue,
        }
    }
}

/// Reads an `error` event (skipping acks), then the close frame.
pub async fn expect_upload_error(ws: &mut Ws) -> (ErrorBody, u16, String) {
    loop {
        match next(ws).await {
            Some(Message::Text(text)) => {
                match serde_json::from_str::<UploadEvent>(&text).unwrap() {
                    UploadEvent::Error(body) => {
                        let (code, reason) = expect_close(ws).await;
                        return (body, code, reason);
                    }
                    _ => continue,
                }
            }
            Some(Message::Binary(_)) => continue,
            other => panic!("expected an error event, got {other:?}"),
        }
    }
}

pub async fn expect_download_error(ws: &mut Ws) -> (ErrorBody, u16, String) {
    loop {
        match next(ws).await {
            Some(Message::Text(text)) => {
                match serde_json::from_str::<DownloadEvent>(&text).unwrap() {
                    DownloadEvent::Error(body) => {
                        let (code, reason) = expect_close(ws).await;
                        return (body, code, reason);
                    }
                    _ => continue,
                }
            }
            Some(Message::Binary(_)) => continue,
            other => panic!("expected an error event, got {other:?}"),
        }
    }
}

/// What `ready` said.
#[derive(Debug)]
pub struct Ready {
    pub id: String,
    pub window: u32,
    pub segment_chunks: u64,
    pub upload_token: Option<Vec<u8>>,
    pub owner_token: Option<Vec<u8>>,
    pub missing: Vec<[u64; 2]>,
}

/// Sends `start` (or `resume`) and waits for `ready`.
pub async fn start_upload(ws: &mut Ws, start: &UploadRequest) -> Result<Ready, ErrorBody> {
    send_json(ws, start).await;
    match next(ws).await {
        Some(Message::Text(text)) => match serde_json::from_str::<UploadEvent>(&text).unwrap() {
            UploadEvent::Ready {
                share_id,
                window,
                segment_chunks,
                upload_token,
                owner_token,
                missing,
                ..
            } => Ok(Ready {
                id: share_id,
                window,
                segment_chunks,
                upload_token: upload_token.map(|t| t.0),
                owner_token: owner_token.map(|t| t.0),
                missing,
            }),
            UploadEvent::Error(body) => Err(body),
            other => panic!("unexpected {other:?}"),
        },
        other => panic!("unexpected {other:?}"),
    }
}

/// Sends `chunks` (the upload's chunks from index `first` on) as raw frames, announcing
/// each segment of `segment_chunks` chunks that starts among them.
pub async fn send_segments(ws: &mut Ws, chunks: &[Vec<u8>], first: usize, segment_chunks: u64) {
    let per = segment_chunks as usize;
    for (i, chunk) in chunks.iter().enumerate() {
        let index = first + i;
        if index.is_multiple_of(per) {
            let segment = UploadRequest::Segment {
                index: (index / per) as u64,
            };
            send_json(ws, &segment).await;
        }
        ws.send(Message::binary(chunk.clone()))
            .await
            .expect("send chunk");
    }
}

/// Uploads prepared chunks as the client core directs; returns the committed share.
pub async fn upload_prepared(port: u16, prep: Prepared) -> Result<Share, ErrorBody> {
    upload_over(connect(port, UPLOAD_PATH).await, prep).await
}

/// Uploads prepared chunks over an open upload socket, driven by the client core (which
/// checks the server's side: `ready`, acks, `done` only after every segment was stored).
pub async fn upload_over(ws: Ws, prep: Prepared) -> Result<Share, ErrorBody> {
    let session = Upload::new(&prep.start).expect("a consistent `start`");
    let done = drive_upload(ws, session, &prep.chunks)
        .await
        .map_err(refusal)?;
    Ok(Share {
        id: done.share_id.as_str().to_owned(),
        link_secret: prep.link_secret,
        token: prep.token,
        owner_token: done.owner_token,
        expires_at: done.expires_at,
    })
}

/// What a client keeps to resume the upload `ready` (to `prep.start`) began.
pub fn resumable(prep: &Prepared, ready: &Ready) -> Resumable {
    Resumable {
        share_id: ShareId::parse(&ready.id).expect("a share ID"),
        upload_token: ready.upload_token.clone().expect("an upload token").into(),
        owner_token: ready.owner_token.clone().expect("an owner token").into(),
        header: prep.header.to_bytes().to_vec(),
        ciphertext_size: prep.chunks.iter().map(|c| c.len() as u64).sum(),
    }
}

/// Runs `session` over `ws` with the upload's chunks (indexed from 0) until it ends.
pub async fn drive_upload(
    mut ws: Ws,
    mut session: Upload,
    chunks: &[Vec<u8>],
) -> Result<Uploaded, ClientError> {
    // Bounded: each turn sends a frame or reads one; the core ends after `done` or a
    // failure, and the server after its idle timeout.
    loop {
        match session.poll() {
            UploadAction::Send(text) => ws.send(Message::text(text)).await.expect("send"),
            UploadAction::SendChunk { index, .. } => {
                let chunk = chunks[index as usize].clone();
                session
                    .chunk_ready(chunk.len())
                    .expect("a chunk of the right size");
                ws.send(Message::binary(chunk)).await.expect("send chunk");
            }
            UploadAction::Wait => match next(&mut ws).await {
                Some(Message::Text(text)) => {
                    let _ = session.handle_text(&text);
                }
                Some(Message::Binary(frame)) => {
                    let _ = session.handle_binary(frame.len());
                }
                other => {
                    let _ = session.handle_closed(close_reason(other).as_deref());
                }
            },
            UploadAction::Done(done) => {
                let (code, _) = expect_close(&mut ws).await;
                assert_eq!(code, 1000);
                return Ok(done);
            }
            UploadAction::Failed(e) => return Err(e),
        }
    }
}

/// The reason of a close frame (`None` for no frame or a broken socket).
fn close_reason(msg: Option<Message>) -> Option<String> {
    match msg {
        Some(Message::Close(Some(frame))) => Some(frame.reason.to_string()),
        _ => None,
    }
}

/// The server's refusal as it sent it; any other failure (the server broke the protocol,
/// the socket closed early) fails the test.
pub fn refusal(e: ClientError) -> ErrorBody {
    let (Some(code), Some(message)) = (e.server_code(), e.server_message()) else {
        panic!("the transfer failed without a refusal: {e}");
    };
    let attempts_left = match &e {
        ClientError::WrongToken { attempts_left, .. } => *attempts_left,
        _ => None,
    };
    ErrorBody {
        code,
        message: message.to_owned(),
        attempts_left,
    }
}

pub async fn upload(port: u16, plaintext: &[u8], opts: &UploadOpts) -> Result<Share, ErrorBody> {
    upload_prepared(port, prepare(plaintext, opts)).await
}

/// A finished download.
#[derive(Debug)]
pub struct Downloaded {
    pub name: String,
    pub plaintext: Vec<u8>,
    pub downloads_left: u32,
}

/// Downloads and decrypts a share, driven by the client core (which checks every chunk's
/// size, the window and the order of the server's messages). `stop_after`: drop the
/// connection after that many chunks (a cut-off download).
pub async fn download_with(
    port: u16,
    share: &Share,
    token: [u8; 32],
    stop_after: Option<u64>,
) -> Result<Downloaded, ErrorBody> {
    let info = share_info(port, &share.id).await.map_err(|(_, e)| e)?;
    let ws = connect(port, DOWNLOAD_PATH).await;
    download_on(ws, &info, share, token, stop_after).await
}

/// Downloads `share` from another client address (a loopback `source` such as
/// 127.0.0.2).
pub async fn download_from(
    port: u16,
    share: &Share,
    source: IpAddr,
) -> Result<Downloaded, ErrorBody> {
    let info = share_info(port, &share.id).await.map_err(|(_, e)| e)?;
    let ws = connect_from(port, DOWNLOAD_PATH, source).await;
    download_on(ws, &info, share, share.token, None).await
}

/// [`download_with`] over an open download socket.
async fn download_on(
    mut ws: Ws,
    info: &ShareInfo,
    share: &Share,
    token: [u8; 32],
    stop_after: Option<u64>,
) -> Result<Downloaded, ErrorBody> {
    let header = Header::parse(&info.header.0).expect("header");
    let keys = Keys::derive(&header, PASSPHRASE, Some(&share.link_secret)).expect("keys");
    let id = ShareId::parse(&share.id).expect("a share ID");
    let mut session = Download::new(&id, &token, &header);
    let mut opened: Option<(FileMetadata, StreamDecryptor)> = None;
    let mut plaintext = Vec::new();
    // Bounded: each turn sends a frame or reads one; the core ends after `done` or a
    // failure.
    loop {
        match session.poll() {
            DownloadAction::Send(text) => ws.send(Message::text(text)).await.expect("send"),
            DownloadAction::Ready(ready) => {
                assert_eq!(ready.ciphertext_size, info.ciphertext_size);
                let meta = FileMetadata::open(&ready.metadata, &keys.metadata, &header)
                    .expect("metadata opens");
                opened = Some((meta, StreamDecryptor::new(&keys.payload, &header)));
            }
            DownloadAction::Wait => match next(&mut ws).await {
                Some(Message::Text(text)) => {
                    let _ = session.handle_text(&text);
                }
                Some(Message::Binary(sealed)) => {
                    let Ok(chunk) = session.handle_binary(sealed.len()) else {
                        continue; // the core says why at the next poll
                    };
                    let (_, dec) = opened.as_mut().expect("chunks only after ready");
                    plaintext.extend(dec.open_chunk(&sealed, chunk.last).expect("chunk opens"));
                    if Some(chunk.index + 1) == stop_after {
                        drop(ws);
                        return Err(ErrorBody {
                            code: ErrorCode::Unknown,
                            message: "cut off by the test".into(),
                            attempts_left: None,
                        });
                    }
                    // Ack every chunk (a real client may batch acks within the window).
                    session.acknowledge(chunk.index + 1).expect("ack");
                }
                other => {
                    let _ = session.handle_closed(close_reason(other).as_deref());
                }
            },
            DownloadAction::Done { downloads_left } => {
                let (meta, dec) = opened.expect("done only after ready");
                dec.finish().expect("stream complete");
                assert_eq!(plaintext.len() as u64, meta.size);
                return Ok(Downloaded {
                    name: meta.name,
                    plaintext,
                    downloads_left,
                });
            }
            DownloadAction::Failed(e) => {
                let body = refusal(e);
                let _ = expect_close(&mut ws).await;
                return Err(body);
            }
        }
    }
}

pub async fn download(port: u16, share: &Share) -> Result<Downloaded, ErrorBody> {
    download_with(port, share, share.token, None).await
}

/// Polls `check` until it returns true (no timing assertions: just a generous bound so
/// a broken server fails instead of hanging).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// How one socket of a [`Downloader`] ended.
#[derive(Debug)]
pub enum Leg {
    /// The test cut the socket after the chunk it asked for.
    Cut,
    /// The download completed and counted.
    Done(Downloaded),
    /// The server refused or failed.
    Refused(ErrorBody),
}

/// A download driven by the client core that can be cut off and resumed inside its claim,
/// on the same or another server.
pub struct Downloader {
    session: Download,
    header: Header,
    keys: Keys,
    opened: Option<(FileMetadata, StreamDecryptor)>,
    plaintext: Vec<u8>,
}

impl Downloader {
    pub async fn new(port: u16, share: &Share) -> Downloader {
        let info = share_info(port, &share.id).await.expect("share info");
        let header = Header::parse(&info.header.0).expect("header");
        let keys = Keys::derive(&header, PASSPHRASE, Some(&share.link_secret)).expect("keys");
        let id = ShareId::parse(&share.id).expect("a share ID");
        Downloader {
            session: Download::new(&id, &share.token, &header),
            header,
            keys,
            opened: None,
            plaintext: Vec::new(),
        }
    }

    /// Chunks received and verified so far.
    pub fn received(&self) -> u64 {
        self.session.received_chunks()
    }

    /// Continue inside the claim on the next [`Downloader::run`].
    pub fn resume(&mut self) {
        self.session.resume().expect("a resumable download");
    }

    /// Runs on a new socket to `port`. `cut_after`: drop the socket (without acknowledging
    /// it) once the chunk with that count arrived.
    pub async fn run(&mut self, port: u16, cut_after: Option<u64>) -> Leg {
        let mut ws = connect(port, DOWNLOAD_PATH).await;
        // Bounded: each turn sends a frame or reads one; the core ends after `done` or a
        // failure, and the test cuts at `cut_after`.
        loop {
            match self.session.poll() {
                DownloadAction::Send(text) => ws.send(Message::text(text)).await.expect("send"),
                DownloadAction::Ready(ready) => {
                    let meta =
                        FileMetadata::open(&ready.metadata, &self.keys.metadata, &self.header)
                            .expect("metadata opens");
                    let dec = StreamDecryptor::new(&self.keys.payload, &self.header);
                    self.opened = Some((meta, dec));
                }
                DownloadAction::Wait => match next(&mut ws).await {
                    Some(Message::Text(text)) => {
                        let _ = self.session.handle_text(&text);
                    }
                    Some(Message::Binary(sealed)) => {
                        let Ok(chunk) = self.session.handle_binary(sealed.len()) else {
                            continue;
                        };
                        let (_, dec) = self.opened.as_mut().expect("chunks only after ready");
                        let plain = dec.open_chunk(&sealed, chunk.last).expect("chunk opens");
                        self.plaintext.extend(plain);
                        if Some(chunk.index + 1) == cut_after {
                            drop(ws);
                            // The core learns of the cut as a transport would.
                            let _ = self.session.handle_closed(None);
                            return Leg::Cut;
                        }
                        self.session.acknowledge(chunk.index + 1).expect("ack");
                    }
                    other => {
                        let _ = self.session.handle_closed(close_reason(other).as_deref());
                    }
                },
                DownloadAction::Done { downloads_left } => {
                    let (meta, dec) = self.opened.take().expect("done only after ready");
                    dec.finish().expect("stream complete");
                    assert_eq!(self.plaintext.len() as u64, meta.size);
                    return Leg::Done(Downloaded {
                        name: meta.name,
                        plaintext: std::mem::take(&mut self.plaintext),
                        downloads_left,
                    });
                }
                DownloadAction::Failed(e) => {
                    let body = refusal(e);
                    let _ = expect_close(&mut ws).await;
                    return Leg::Refused(body);
                }
            }
        }
    }
}

/// Sends a fresh download `start` by hand and reads the answer (`ready` with its claim
/// token, or a refusal).
pub async fn start_by_hand(ws: &mut Ws, share: &Share) -> DownloadEvent {
    send_json(
        ws,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share.id.clone(),
            token: share.token.to_vec().into(),
            claim_token: None,
            from_chunk: None,
        },
    )
    .await;
    match next(ws).await {
        Some(Message::Text(text)) => serde_json::from_str(&text).expect("a download event"),
        other => panic!("expected ready, got {other:?}"),
    }
}

/// What the owner sees of a share.
pub async fn owner_status(port: u16, share: &Share) -> ShareStatus {
    reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/api/shares/{}/status",
            share.id
        ))
        .header(
            "Authorization",
            format!("Bearer {}", b64::encode(&share.owner_token)),
        )
        .send()
        .await
        .expect("GET status")
        .json()
        .await
        .expect("ShareStatus JSON")
}

/// A one-time share of 3 chunks of 64 KiB whose stored ciphertext then lost its last 5
/// bytes: shorter than recorded.
pub async fn share_with_short_blob(server: &TestServer) -> Share {
    let data = random_bytes(3 * 64 * 1024);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    truncate_blob(server, &share.id, 5);
    share
}

/// Cuts `by` bytes off the end of the share's stored ciphertext (its last stored file).
pub fn truncate_blob(server: &TestServer, id: &str, by: u64) {
    let files: Vec<_> = walk(&blob_root(server.dir.path()).join("segments").join(id));
    let number = |p: &std::path::PathBuf| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.parse::<u64>().expect("a segment's index")
    };
    let last = files
        .iter()
        .max_by_key(|p| number(p))
        .expect("the share's segments on disk");
    let file = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - by).unwrap();
}

/// Every file under `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Leases of 0.6 s, swept every 0.1 s: claims that lapse within a test.
pub fn short_leases(c: &mut Config) {
    c.lease = Duration::from_millis(600);
    c.sweep_interval = Duration::from_millis(100);
}
