//! `ferry send`: encrypt a file, or several files and folders as one share
//! ([`crate::selection`]), chunk by chunk and stream it to the server, surviving lost
//! connections.
//!
//! This half prepares the upload: keys, sealed metadata, the first message, and for an
//! interrupted upload the check that the file still seals to every chunk sent before. The
//! transfer itself ([`lanes`]) runs over one or more sockets as the client core directs,
//! logging every chunk's tag before it is sent; an interrupted command keeps its state
//! ([`Pending`]) so that running it again resumes it.
use std::path::PathBuf;

use ferry_common::{
    ChunkAead, DEFAULT_CHUNK_SIZE, Header, KdfParams, LinkSecret,
    b64::Bytes,
    client::{SealLog, UploadLanes, Uploaded},
    protocol::{PROTOCOL_VERSION, UploadAccess, UploadRequest},
};

use crate::{
    credential::Credential,
    error::{Error, Result},
    interrupt::Interrupt,
    keys::derive_keys,
    lanes,
    link::Server,
    net,
    passphrase::{self, Prompt},
    pending::{Interrupted, Pending},
    progress,
    sealer::{Sealer, Source},
    selection::Selection,
    time,
};

/// Lifetime when `--expires` is not given (capped at the server's maximum).
pub const DEFAULT_EXPIRY_SECS: u64 = 86_400;

/// What `ferry send` was asked to do.
pub struct SendOptions {
    /// The file, or the files and folders, to send.
    pub files: Vec<PathBuf>,
    /// The server's base URL.
    pub server: String,
    /// The upload token or invitation, if any.
    pub credential: Option<Credential>,
    /// Requested lifetime in seconds.
    pub expires: Option<u64>,
    /// Allowed downloads.
    pub downloads: u32,
    /// `--passphrase-file`.
    pub passphrase_file: Option<PathBuf>,
    /// `--no-link-secret`: a passphrase-only share (the link has no `#` part).
    pub no_link_secret: bool,
    /// Sockets to spread the upload over.
    pub lanes: usize,
}

/// Uploads the file and returns the share link.
pub async fn run(opts: SendOptions) -> Result<String> {
    let server = Server::parse(&opts.server)?;
    let selection = Selection::gather(&opts.files)?;
    let size = selection.size();
    let name = selection.shown.clone();

    let limits = net::limits(&server).await?;
    if limits.upload_access == UploadAccess::Credential && opts.credential.is_none() {
        return Err(Error::Usage(
            "this server accepts uploads only with an upload token (FERRY_TOKEN or \
             --token-file) or an invitation link (--invitation)"
                .into(),
        ));
    }
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

    let mut pending = Pending::locate(&opts.server, &selection.paths())?;
    let shown = selection.shown.clone();
    let interrupted = pending.as_ref().and_then(Pending::interrupted);
    let prepared = match interrupted {
        Some(interrupted) => {
            progress::info(format!(
                "Resuming the interrupted upload of {shown}; type the same passphrase."
            ));
            match prepare_resume(&opts, &selection, interrupted, pending.as_ref()).await {
                Err(err @ Error::SourceChanged(_)) => {
                    pending.as_mut().map(Pending::forget);
                    return Err(err);
                }
                prepared => prepared?,
            }
        }
        None => prepare_new(&opts, &selection, chunk_size, expires).await?,
    };
    let link_secret = prepared.secret.clone();
    // Ctrl-C is caught only now: during the passphrase prompt it must still kill at once.
    let mut interrupt = Interrupt::listen()?;
    let uploaded = tokio::select! {
        r = upload(&server, &opts, prepared, pending.as_mut()) => r,
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

/// An upload ready to run: its session, its chunks and what the state file needs.
struct Prepared {
    session: UploadLanes,
    sealer: Sealer,
    log: SealLog,
    secret: Option<LinkSecret>,
    verifier: Vec<u8>,
    downloads: u32,
}

/// Derives fresh keys and seals the metadata for a new upload.
async fn prepare_new(
    opts: &SendOptions,
    selection: &Selection,
    chunk_size: u32,
    expires: u64,
) -> Result<Prepared> {
    let size = selection.size();
    let files = selection.open()?;
    let passphrase = passphrase::obtain(opts.passphrase_file.as_deref(), Prompt::Confirm)?;
    let header = Header::generate(KdfParams::DEFAULT, chunk_size, opts.no_link_secret)
        .map_err(Error::from_envelope)?;
    let secret = if opts.no_link_secret {
        None
    } else {
        Some(LinkSecret::generate().map_err(Error::from_envelope)?)
    };
    let keys = derive_keys(header.clone(), passphrase, secret.clone()).await?;
    let sealed_metadata =
        selection
            .metadata
            .seal(&keys.metadata, &header)
            .map_err(|e| match e {
                ferry_common::Error::NameTooLong { .. } => {
                    Error::Usage(format!("{e}; rename the file"))
                }
                e @ (ferry_common::Error::MetadataTooLarge { .. }
                | ferry_common::Error::Manifest(_)) => Error::Usage(e.to_string()),
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
        credential: opts.credential.as_ref().map(|c| c.as_str().to_owned()),
    };
    let source = Source::new(
        files,
        ChunkAead::new(&keys.payload, &header),
        &header,
        size,
        selection.shown.clone(),
    );
    Ok(Prepared {
        session: UploadLanes::new(&start, opts.lanes).map_err(Error::from_client)?,
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
    selection: &Selection,
    interrupted: Interrupted,
    pending: Option<&Pending>,
) -> Result<Prepared> {
    let (size, shown) = (selection.size(), selection.shown.clone());
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
        selection.open()?,
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
        session: UploadLanes::resume(&interrupted.resumable, opts.lanes)
            .map_err(Error::from_client)?,
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

/// Runs the prepared upload over `opts.lanes` sockets (see [`lanes`]).
async fn upload(
    server: &Server,
    opts: &SendOptions,
    up: Prepared,
    pending: Option<&mut Pending>,
) -> Result<Uploaded> {
    let record = lanes::Record {
        server: &opts.server,
        secret: up.secret.as_ref(),
        verifier: &up.verifier,
        downloads: up.downloads,
    };
    let sealers = (0..up.session.lanes()).map(|_| up.sealer.fork()).collect();
    let shared = lanes::Shared::new(up.session, up.log, pending, record);
    lanes::transfer(server, &shared, sealers).await
}
