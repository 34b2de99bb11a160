//! `ferry send`: encrypt a file chunk by chunk and stream it to the server.
//!
//! A blocking thread reads and seals one chunk at a time into a small channel; the
//! async side sends one chunk per binary frame and never runs more than the server's
//! `window` ahead of its last `ack`. Memory stays at a few chunks whatever the file size.
use std::{fs::File, io::Read, path::PathBuf};

use ferry_common::{
    DEFAULT_CHUNK_SIZE, FileMetadata, Header, KdfParams, LinkSecret, StreamEncryptor,
    b64::Bytes,
    client::{ClientError, Upload, UploadAction},
    protocol::{PROTOCOL_VERSION, UPLOAD_PATH, UploadRequest},
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    error::{Error, Result},
    interrupt::Interrupt,
    keys::derive_keys,
    link::Server,
    net::{self, Incoming},
    passphrase::{self, Prompt},
    progress, time,
};

/// Lifetime when `--expires` is not given (capped at the server's maximum).
pub const DEFAULT_EXPIRY_SECS: u64 = 86_400;
/// Sealed chunks read ahead of the socket.
const READ_AHEAD: usize = 4;

/// What `ferry send` was asked to do.
pub struct SendOptions {
    /// The file to send.
    pub file: PathBuf,
    /// The server's base URL.
    pub server: String,
    /// Requested lifetime in seconds.
    pub expires: Option<u64>,
    /// Allowed downloads.
    pub downloads: u32,
    /// `--passphrase-file`.
    pub passphrase_file: Option<PathBuf>,
    /// `--no-link-secret`: a passphrase-only share (the link has no `#` part).
    pub no_link_secret: bool,
}

/// Uploads the file and returns the share link.
pub async fn run(opts: SendOptions) -> Result<String> {
    let server = Server::parse(&opts.server)?;
    let shown = opts.file.display().to_string();
    let file = File::open(&opts.file).map_err(Error::io(format!("cannot open {shown}")))?;
    let stat = file
        .metadata()
        .map_err(Error::io(format!("cannot read {shown}")))?;
    if !stat.is_file() {
        return Err(Error::Usage(format!("{shown} is not a regular file")));
    }
    let size = stat.len();
    let name = opts
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Usage(format!("{shown} has no file name")))?;

    let limits = net::limits(&server).await?;
    if size > limits.max_file_size {
        return Err(Error::TooLarge {
            name,
            size,
            max: limits.max_file_size,
        });
    }
    let expires = match opts.expires {
        Some(secs) if secs > limits.max_expiry_secs => {
            return Err(Error::Usage(format!(
                "--expires {} is longer than this server allows (at most {})",
                time::format_duration(secs),
                time::format_duration(limits.max_expiry_secs)
            )));
        }
        Some(secs) => secs,
        None => DEFAULT_EXPIRY_SECS.min(limits.max_expiry_secs),
    };
    if opts.downloads == 0 || opts.downloads > limits.max_downloads {
        return Err(Error::Usage(format!(
            "--downloads must be between 1 and {} on this server",
            limits.max_downloads
        )));
    }
    let chunk_size = DEFAULT_CHUNK_SIZE.min(limits.max_chunk_size);
    if chunk_size == 0 {
        return Err(Error::Network(
            "the server's limits allow no chunk size; is it configured correctly?".into(),
        ));
    }

    let passphrase = passphrase::obtain(opts.passphrase_file.as_deref(), Prompt::Confirm)?;
    let header = Header::generate(KdfParams::DEFAULT, chunk_size, opts.no_link_secret)
        .map_err(Error::from_envelope)?;
    let secret = if opts.no_link_secret {
        None
    } else {
        Some(LinkSecret::generate().map_err(Error::from_envelope)?)
    };
    let keys = derive_keys(header.clone(), passphrase, secret.clone()).await?;
    let sealed_metadata = FileMetadata {
        name: name.clone(),
        size,
        media_type: crate::names::media_type(&opts.file).to_owned(),
    }
    .seal(&keys.metadata, &header)
    .map_err(|e| match e {
        ferry_common::Error::NameTooLong { .. } => Error::Usage(format!("{e}; rename the file")),
        other => Error::from_envelope(other),
    })?;
    let total_chunks = header.chunk_count(size);

    let start = UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: Bytes(header.to_bytes().to_vec()),
        metadata: Bytes(sealed_metadata),
        verifier: Bytes(keys.download_token.verifier().to_vec()),
        expires_in_secs: expires,
        max_downloads: opts.downloads,
        ciphertext_size: header.ciphertext_len(size),
    };
    let encryptor = StreamEncryptor::new(&keys.payload, &header);
    drop(keys);
    // Ctrl-C is caught only now: during the passphrase prompt it must still kill at once.
    let mut interrupt = Interrupt::listen()?;
    let upload = upload(
        &server,
        start,
        file,
        encryptor,
        chunk_size,
        size,
        total_chunks,
        shown,
    );
    let (share_id, expires_at) = tokio::select! {
        r = upload => r?,
        () = interrupt.recv() => {
            return Err(Error::Interrupted("the upload was abandoned; no share was created"));
        }
    };
    if progress::interactive() {
        let downloads = match opts.downloads {
            1 => "one download".to_owned(),
            n => format!("{n} downloads"),
        };
        progress::info(format!(
            "Sent {name} ({}). The link allows {downloads} until {}.",
            indicatif::HumanBytes(size),
            time::format_utc(expires_at)
        ));
        progress::info("Give the recipient the link and, separately, the passphrase. Link:");
    }
    Ok(server.share_link(&share_id, secret.as_ref()))
}

/// Streams the sealed chunks as the client core directs; returns the share ID and
/// expiry from `done`.
#[expect(clippy::too_many_arguments, reason = "one call site, all plain values")]
async fn upload(
    server: &Server,
    start: UploadRequest,
    file: File,
    encryptor: StreamEncryptor,
    chunk_size: u32,
    size: u64,
    total_chunks: u64,
    shown: String,
) -> Result<(String, i64)> {
    let mut session = Upload::new(&start).map_err(Error::from_client)?;
    let (mut sink, mut stream) = net::connect(server, UPLOAD_PATH).await?.split();
    // The reader starts once the server said `ready` (the first chunk is asked for).
    let mut reading = Some((file, encryptor, shown));
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let mut reader = None;
    let mut tx = Some(tx);
    let bar = progress::bar(size, "Uploading");
    let acked_bytes = |chunks: u64| (chunks * u64::from(chunk_size)).min(size);
    // Bounded: every turn sends a frame or consumes a server message (each awaited at
    // most the idle timeout), and the core ends after `done` or a failure.
    loop {
        match session.poll() {
            UploadAction::Send(text) => {
                if let Err(e) = net::send_text(&mut sink, text).await {
                    return Err(reason_after_break(&mut stream, &mut session, e).await);
                }
            }
            UploadAction::SendChunk { index, .. } => {
                if let (Some((file, encryptor, shown)), Some(tx)) = (reading.take(), tx.take()) {
                    reader = Some(tokio::task::spawn_blocking(move || {
                        read_and_seal(file, encryptor, chunk_size, size, total_chunks, &shown, tx)
                    }));
                }
                let chunk = match rx.recv().await {
                    Some(chunk) => chunk?,
                    None => return Err(Error::Other("the file reader stopped".into())),
                };
                if index + 1 == total_chunks {
                    // The reader has sealed the final chunk; surface any late error (the
                    // file grew) before the share can be completed.
                    if let Some(reader) = reader.take() {
                        reader
                            .await
                            .map_err(|e| Error::Other(format!("the file reader failed: {e}")))??;
                    }
                }
                session
                    .chunk_ready(chunk.len())
                    .map_err(Error::from_client)?;
                if let Err(e) = sink.send(Message::binary(chunk)).await {
                    return Err(
                        reason_after_break(&mut stream, &mut session, net::broken(e)).await,
                    );
                }
            }
            UploadAction::Wait => {
                let _ = feed(&mut session, net::next(&mut stream).await?);
                bar.set_position(acked_bytes(session.acked_chunks()));
            }
            UploadAction::Done(uploaded) => {
                bar.finish_and_clear();
                let _ = sink.send(Message::Close(None)).await;
                return Ok((uploaded.share_id.as_str().to_owned(), uploaded.expires_at));
            }
            UploadAction::Failed(e) => return Err(Error::from_client(e)),
        }
    }
}

/// Hands what the server sent to the core; its verdict comes from the next `poll`.
fn feed(session: &mut Upload, incoming: Incoming) -> std::result::Result<(), ClientError> {
    match incoming {
        Incoming::Text(text) => session.handle_text(&text),
        Incoming::Binary(frame) => session.handle_binary(frame.len()),
        Incoming::Closed(reason) => session.handle_closed(reason.as_deref()),
    }
}

/// Reads and seals the file in order; runs on a blocking thread.
fn read_and_seal(
    mut file: File,
    mut encryptor: StreamEncryptor,
    chunk_size: u32,
    size: u64,
    total_chunks: u64,
    shown: &str,
    tx: mpsc::Sender<Result<Vec<u8>>>,
) -> Result<()> {
    let mut buf = vec![0u8; chunk_size as usize];
    let mut remaining = size;
    for i in 0..total_chunks {
        let n = remaining.min(u64::from(chunk_size)) as usize;
        let sealed = file
            .read_exact(&mut buf[..n])
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Error::Other(format!("{shown} shrank while it was being sent"))
                } else {
                    Error::Io {
                        what: format!("cannot read {shown}"),
                        source: e,
                    }
                }
            })
            .and_then(|()| {
                encryptor
                    .seal_chunk(&buf[..n], i + 1 == total_chunks)
                    .map_err(Error::from_envelope)
            });
        remaining -= n as u64;
        let failed = sealed.is_err();
        if tx.blocking_send(sealed).is_err() || failed {
            return Ok(());
        }
    }
    let mut probe = [0u8; 1];
    match file.read(&mut probe) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Error::Other(format!(
            "{shown} grew while it was being sent; the share would be incomplete"
        ))),
        Err(e) => Err(Error::Io {
            what: format!("cannot read {shown}"),
            source: e,
        }),
    }
}

/// After a failed send, the server may have said why before closing: prefer its reason.
async fn reason_after_break<S>(stream: &mut S, session: &mut Upload, fallback: Error) -> Error
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let wait = async {
        // Bounded by the timeout below.
        loop {
            let Ok(incoming) = net::next(stream).await else {
                return None;
            };
            match feed(session, incoming) {
                Err(e) if e.server_code().is_some() => return Some(e),
                Err(_) => return None,
                Ok(()) => continue,
            }
        }
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), wait).await {
        Ok(Some(e)) => Error::from_client(e),
        _ => fallback,
    }
}
