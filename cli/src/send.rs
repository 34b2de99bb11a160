//! `ferry send`: encrypt a file chunk by chunk and stream it to the server, surviving
//! lost connections.
//!
//! The client core says which chunk to send next; [`Sealer`] reads and seals it a few
//! chunks ahead; one chunk goes per binary frame, never more than the server's window
//! beyond its acknowledged segments. A connection that breaks is replaced (with backoff)
//! and the upload resumed where the server's stored segments end; an interrupted command
//! keeps its state ([`Pending`]) so that running it again resumes it. Every chunk's hash
//! is logged before it is sent, and a resumed upload re-seals only what matches the log.
use std::{fs::File, path::PathBuf, time::Duration};

use ferry_common::{
    ChunkAead, DEFAULT_CHUNK_SIZE, FileMetadata, Header, KdfParams, LinkSecret,
    b64::Bytes,
    client::{ClientError, SealLog, Upload, UploadAction, Uploaded},
    protocol::{PROTOCOL_VERSION, UPLOAD_PATH, UploadRequest},
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    error::{Error, Result},
    interrupt::Interrupt,
    keys::derive_keys,
    link::Server,
    net::{self, Incoming},
    passphrase::{self, Prompt},
    pending::{Interrupted, Pending},
    progress,
    sealer::{Sealer, Source},
    time,
};

/// Lifetime when `--expires` is not given (capped at the server's maximum).
pub const DEFAULT_EXPIRY_SECS: u64 = 86_400;
/// New connections tried in a row without any segment stored before giving up.
const MAX_RETRIES: u32 = 6;

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

    let mut pending = Pending::locate(&opts.server, &opts.file, &file)?;
    let interrupted = pending.as_ref().and_then(Pending::interrupted);
    let prepared = match interrupted {
        Some(interrupted) => {
            progress::info(format!(
                "Resuming the interrupted upload of {shown}; type the same passphrase."
            ));
            match prepare_resume(&opts, file, size, shown, interrupted, pending.as_ref()).await {
                Err(err @ Error::SourceChanged(_)) => {
                    pending.as_mut().map(Pending::forget);
                    return Err(err);
                }
                prepared => prepared?,
            }
        }
        None => prepare_new(&opts, file, size, name.clone(), shown, chunk_size, expires).await?,
    };
    let link_secret = prepared.secret.clone();
    // Ctrl-C is caught only now: during the passphrase prompt it must still kill at once.
    let mut interrupt = Interrupt::listen()?;
    let uploaded = tokio::select! {
        r = transfer(&server, &opts, prepared, pending.as_mut()) => r,
        () = interrupt.recv() => Err(Error::Interrupted(if pending.is_some() {
            "the upload was interrupted; run the same command again to resume it"
        } else {
            "the upload was abandoned; no share was created"
        })),
    };
    let uploaded = match uploaded {
        Ok(uploaded) => uploaded,
        Err(err) => {
            if let Some(pending) = pending.as_mut().filter(|_| !keeps_state(&err)) {
                pending.forget();
            }
            return Err(err);
        }
    };
    if let Some(pending) = pending.as_mut() {
        pending.forget();
    }
    if progress::interactive() {
        progress::info(format!(
            "Sent {name} ({}). The link works until {}.",
            indicatif::HumanBytes(size),
            time::format_utc(uploaded.expires_at)
        ));
        progress::info("Give the recipient the link and, separately, the passphrase. Link:");
    }
    Ok(server.share_link(uploaded.share_id.as_str(), link_secret.as_ref()))
}

/// Whether a failed upload stays resumable: interrupted, or the server unreachable for
/// longer than the retries.
fn keeps_state(err: &Error) -> bool {
    matches!(err, Error::Interrupted(_) | Error::Network(_))
}

/// An upload ready to run: its first session, its chunks and what the state file needs.
struct Prepared {
    session: Upload,
    sealer: Sealer,
    log: SealLog,
    secret: Option<LinkSecret>,
    verifier: Vec<u8>,
    downloads: u32,
}

/// Derives fresh keys and seals the metadata for a new upload.
async fn prepare_new(
    opts: &SendOptions,
    file: File,
    size: u64,
    name: String,
    shown: String,
    chunk_size: u32,
    expires: u64,
) -> Result<Prepared> {
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
        name,
        size,
        media_type: crate::names::media_type(&opts.file).to_owned(),
    }
    .seal(&keys.metadata, &header)
    .map_err(|e| match e {
        ferry_common::Error::NameTooLong { .. } => Error::Usage(format!("{e}; rename the file")),
        other => Error::from_envelope(other),
    })?;
    let verifier = keys.download_token.verifier().to_vec();
    let start = UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: Bytes(header.to_bytes().to_vec()),
        metadata: Bytes(sealed_metadata),
        verifier: Bytes(verifier.clone()),
        expires_in_secs: expires,
        max_downloads: opts.downloads,
        ciphertext_size: header.ciphertext_len(size),
    };
    let source = Source::new(
        file,
        ChunkAead::new(&keys.payload, &header),
        &header,
        size,
        shown,
    );
    Ok(Prepared {
        session: Upload::new(&start).map_err(Error::from_client)?,
        log: SealLog::new(header.chunk_count(size)),
        sealer: Sealer::new(source),
        secret,
        verifier,
        downloads: opts.downloads,
    })
}

/// Re-derives the interrupted upload's keys from the passphrase typed again and checks
/// that the file still seals to every chunk sent before.
async fn prepare_resume(
    opts: &SendOptions,
    file: File,
    size: u64,
    shown: String,
    interrupted: Interrupted,
    pending: Option<&Pending>,
) -> Result<Prepared> {
    let passphrase = passphrase::obtain(opts.passphrase_file.as_deref(), Prompt::Once)?;
    let header = Header::parse(&interrupted.resumable.header).map_err(Error::from_envelope)?;
    let keys = derive_keys(header.clone(), passphrase, interrupted.link_secret.clone()).await?;
    if keys.download_token.verifier().as_slice() != interrupted.verifier {
        return Err(Error::Usage(format!(
            "this is not the passphrase the interrupted upload of {shown} used; type that one \
             (or remove the state file to start anew)"
        )));
    }
    let chunks = header.chunk_count(size);
    let shown_again = shown.clone();
    let mut log = pending.map_or_else(|| SealLog::new(chunks), |p| p.seal_log(chunks));
    let source = Source::new(
        file,
        ChunkAead::new(&keys.payload, &header),
        &header,
        size,
        shown,
    );
    let mut sealer = Sealer::new(source);
    if !verify_unchanged(&mut sealer, &mut log).await? {
        return Err(Error::SourceChanged(shown_again));
    }
    Ok(Prepared {
        session: Upload::resume(&interrupted.resumable).map_err(Error::from_client)?,
        sealer,
        log,
        secret: interrupted.link_secret,
        verifier: interrupted.verifier,
        downloads: interrupted.downloads,
    })
}

/// Seals every chunk the log holds again and compares: false if one differs. A file
/// changed since would make a resumed share a mix of two files, and its chunks must never
/// be sent.
async fn verify_unchanged(sealer: &mut Sealer, log: &mut SealLog) -> Result<bool> {
    let logged: Vec<u64> = (0..sealer.chunks()).filter(|&i| log.contains(i)).collect();
    for index in logged {
        let chunk = sealer.chunk(index).await?;
        if log.record(index, &chunk).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs the upload over as many connections as it takes: a transient failure is followed
/// by a new connection (after a growing pause) that resumes the same session.
async fn transfer(
    server: &Server,
    opts: &SendOptions,
    mut up: Prepared,
    mut pending: Option<&mut Pending>,
) -> Result<Uploaded> {
    let bar = progress::bar(up.session.total_bytes(), "Uploading");
    let mut failures = 0;
    // Bounded: every turn either ends the upload or counts a failure, and the count is
    // reset only when the server stored more than before.
    loop {
        let before = up.session.stored_bytes();
        let err = match connection(server, &mut up, pending.as_deref_mut(), opts, &bar).await {
            Ok(uploaded) => {
                bar.finish_and_clear();
                return Ok(uploaded);
            }
            Err(err) => err,
        };
        let Some(saved) = up.session.resumable().cloned() else {
            return Err(err);
        };
        if !matches!(err, Error::Network(_)) {
            return Err(err);
        }
        failures = if up.session.stored_bytes() > before {
            1
        } else {
            failures + 1
        };
        if failures > MAX_RETRIES {
            return Err(Error::Network(format!(
                "{err}; gave up after {MAX_RETRIES} attempts (run the same command again to resume)"
            )));
        }
        let pause = Duration::from_millis(250 << (failures - 1).min(6));
        bar.suspend(|| {
            progress::info(format!(
                "{err}; reconnecting in {:.1} s ({} of {} stored)",
                pause.as_secs_f64(),
                indicatif::HumanBytes(up.session.stored_bytes()),
                indicatif::HumanBytes(up.session.total_bytes()),
            ))
        });
        tokio::time::sleep(pause).await;
        up.session = Upload::resume(&saved).map_err(Error::from_client)?;
    }
}

/// One connection's share of the upload, as the client core directs.
async fn connection(
    server: &Server,
    up: &mut Prepared,
    mut pending: Option<&mut Pending>,
    opts: &SendOptions,
    bar: &indicatif::ProgressBar,
) -> Result<Uploaded> {
    let (mut sink, mut stream) = net::connect(server, UPLOAD_PATH).await?.split();
    let session = &mut up.session;
    // Bounded: every turn sends a frame or consumes a server message (each awaited at
    // most the idle timeout), and the core ends after `done` or a failure.
    loop {
        match session.poll() {
            UploadAction::Send(text) => {
                if let (Some(p), Some(r)) = (pending.as_deref_mut(), session.resumable())
                    && !p.is_saved()
                {
                    p.save(
                        &opts.server,
                        &opts.file,
                        r,
                        up.secret.as_ref(),
                        &up.verifier,
                        up.downloads,
                    )?;
                }
                if let Err(e) = net::send_text(&mut sink, text).await {
                    return Err(reason_after_break(&mut stream, session, e).await);
                }
            }
            UploadAction::SendChunk { index, .. } => {
                let chunk = up.sealer.chunk(index).await?;
                if let Some(tag) = up.log.record(index, &chunk).map_err(Error::from_client)?
                    && let Some(p) = pending.as_deref_mut()
                {
                    p.append_seal(index, &tag)?;
                }
                session
                    .chunk_ready(chunk.len())
                    .map_err(Error::from_client)?;
                if let Err(e) = sink.send(Message::binary(chunk)).await {
                    return Err(reason_after_break(&mut stream, session, net::broken(e)).await);
                }
            }
            UploadAction::Wait => {
                let incoming = match net::next(&mut stream).await {
                    Ok(incoming) => incoming,
                    Err(e) => {
                        let _ = session.handle_closed(None);
                        return Err(e);
                    }
                };
                let _ = feed(session, incoming);
                bar.set_position(session.stored_bytes());
            }
            UploadAction::Done(uploaded) => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(uploaded);
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
