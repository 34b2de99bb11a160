//! `ferry receive`: download, verify and decrypt a share.
//!
//! The async side reads chunk frames and acknowledges only what a blocking writer thread
//! has verified and written, so the server's window bounds memory. The plaintext goes to
//! a temporary file beside the target (`.{name}.ferry-partial-XXXX`), which is fsynced
//! and renamed into place only after the final chunk verified and the size matched; on
//! any failure or Ctrl-C it is removed.
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use ferry_common::{
    FileMetadata, Header, StreamDecryptor,
    b64::Bytes,
    protocol::{DOWNLOAD_PATH, DownloadEvent, DownloadRequest, PROTOCOL_VERSION},
};
use futures_util::StreamExt;
use tempfile::NamedTempFile;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

use crate::{
    error::{Error, Result},
    interrupt::Interrupt,
    keys::derive_keys,
    link::ShareLink,
    names,
    net::{self, Incoming},
    passphrase::{self, Prompt},
    progress,
};

/// What Ctrl-C leaves behind.
const INTERRUPTED: &str = "the partial download was removed";
/// Chunks queued between the socket and the writer.
const QUEUE: usize = 8;

/// What `ferry receive` was asked to do.
pub struct ReceiveOptions {
    /// The share link.
    pub link: String,
    /// `-o`: a directory or a file path.
    pub output: Option<PathBuf>,
    /// Overwrite an existing file.
    pub force: bool,
    /// `--passphrase-file`.
    pub passphrase_file: Option<PathBuf>,
}

/// Downloads the share; returns where the file was saved.
pub async fn run(opts: ReceiveOptions) -> Result<PathBuf> {
    let link = ShareLink::parse(&opts.link)?;
    // With an explicit file path, refuse before spending a passphrase try.
    if let Some(out) = opts.output.as_deref().filter(|p| !p.is_dir()) {
        let target = names::resolve_target(Some(out), names::FALLBACK_NAME)?;
        check_target(&target, opts.force)?;
    }
    let info = net::share_info(&link.server, &link.share_id).await?;
    let header = Header::parse(&info.header.0).map_err(Error::from_envelope)?;
    let secret = match (header.passphrase_only, link.secret) {
        (false, None) => {
            return Err(Error::Usage(
                "the link is incomplete: the part after '#' is missing; copy the whole link".into(),
            ));
        }
        (true, _) => None,
        (false, secret) => secret,
    };
    let passphrase = passphrase::obtain(opts.passphrase_file.as_deref(), Prompt::Once)?;
    let keys = derive_keys(header.clone(), passphrase, secret).await?;

    let (mut sink, mut stream) = net::connect(&link.server, DOWNLOAD_PATH).await?.split();
    net::send_json(
        &mut sink,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: link.share_id.clone(),
            token: Bytes(keys.download_token.as_bytes().to_vec()),
        },
    )
    .await?;
    let (sealed_metadata, ciphertext_size, chunks) = loop {
        match net::next::<_, DownloadEvent>(&mut stream).await? {
            Incoming::Event(DownloadEvent::Ready {
                metadata,
                ciphertext_size,
                chunks,
                ..
            }) => break (metadata, ciphertext_size, chunks),
            Incoming::Event(DownloadEvent::Error(body)) => return Err(Error::from_server(body)),
            Incoming::Event(DownloadEvent::Unknown) => continue,
            _ => return Err(protocol("expected `ready`")),
        }
    };
    // The server accepted the token, so metadata that fails to open was altered.
    let meta = FileMetadata::open(&sealed_metadata.0, &keys.metadata, &header)
        .map_err(|_| Error::Tampered("the file's encrypted name and size do not verify".into()))?;
    if header.ciphertext_len(meta.size) != ciphertext_size
        || header.chunk_count(meta.size) != chunks
    {
        return Err(Error::Tampered(
            "the server announces a size that does not match the file's".into(),
        ));
    }
    let name = names::sanitize(&meta.name);
    let mut target = names::resolve_target(opts.output.as_deref(), &name)?;
    let explicit_file = opts.output.as_deref().is_some_and(|p| !p.is_dir());
    if explicit_file {
        check_target(&target, opts.force)?;
    } else if target.symlink_metadata().is_ok() && (!opts.force || target.is_dir()) {
        // The sender's name is only known now, after the server granted the download:
        // refusing here could spend a one-time link, so pick a free name, as browsers do.
        let free = names::free_name(&target).ok_or_else(|| Error::Exists(target.clone()))?;
        if progress::interactive() {
            progress::info(format!(
                "{} exists; saving as {}",
                target.display(),
                free.display()
            ));
        }
        target = free;
    }
    // From here a partial file exists, so Ctrl-C must be caught to remove it.
    let mut interrupt = Interrupt::listen()?;
    let temp = temp_file_beside(&target)?;

    let (chunk_tx, chunk_rx) = mpsc::channel::<tungstenite::Bytes>(QUEUE);
    let (verified_tx, mut verified_rx) = mpsc::unbounded_channel::<u64>();
    let decryptor = StreamDecryptor::new(&keys.payload, &header);
    let size = meta.size;
    let writer = tokio::task::spawn_blocking(move || {
        write_chunks(temp, decryptor, chunk_rx, verified_tx, chunks, size)
    });

    let bar = progress::bar(size, "Downloading");
    let chunk_size = u64::from(header.chunk_size);
    let transfer = async {
        let chunk_tx = chunk_tx; // dropped when this future ends or is cancelled
        let mut received = 0u64;
        loop {
            tokio::select! {
                incoming = net::next::<_, DownloadEvent>(&mut stream), if received < chunks => {
                    match incoming? {
                        Incoming::Chunk(data) => {
                            received += 1;
                            if chunk_tx.send(data).await.is_err() {
                                return Ok(()); // the writer stopped; its error explains why
                            }
                        }
                        Incoming::Event(DownloadEvent::Error(body)) => {
                            return Err(Error::from_server(body));
                        }
                        Incoming::Event(DownloadEvent::Unknown) => {}
                        Incoming::Event(_) => return Err(protocol("unexpected message during download")),
                    }
                }
                verified = verified_rx.recv() => match verified {
                    Some(n) => {
                        net::send_json(&mut sink, &DownloadRequest::Ack { chunks: n }).await?;
                        bar.set_position((n * chunk_size).min(size));
                        if n == chunks {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                },
            }
        }
    };
    let transferred = tokio::select! {
        r = transfer => r,
        () = interrupt.recv() => Err(Error::Interrupted(INTERRUPTED)),
    };
    bar.finish_and_clear();
    // The transfer future is gone, so the writer's queue is closed and it returns soon.
    let written = writer
        .await
        .map_err(|e| Error::Other(format!("the file writer failed: {e}")))?;
    let temp = match (transferred, written) {
        (Err(e @ Error::Interrupted(_)), _) => return Err(e),
        (_, Err(e @ Error::Tampered(_))) => return Err(e),
        (Err(e), _) | (Ok(()), Err(e)) => return Err(e),
        (Ok(()), Ok(None)) => {
            return Err(Error::Network(
                "the download ended before the last chunk".into(),
            ));
        }
        (Ok(()), Ok(Some(temp))) => temp,
    };
    persist(temp, &target, opts.force)?;

    let confirmed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match net::next::<_, DownloadEvent>(&mut stream).await {
                Ok(Incoming::Event(DownloadEvent::Done { downloads_left })) => {
                    return Some(downloads_left);
                }
                Ok(Incoming::Event(DownloadEvent::Error(_))) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .flatten();
    if progress::interactive() {
        progress::info(format!(
            "Saved {} ({}).",
            target.display(),
            indicatif::HumanBytes(size)
        ));
        match confirmed {
            Some(0) => progress::info("That was the last download: the link no longer works."),
            Some(1) => progress::info("The link allows one more download."),
            Some(n) => progress::info(format!("The link allows {n} more downloads.")),
            None => progress::info("(The server did not confirm the download.)"),
        }
    }
    Ok(target)
}

fn check_target(target: &Path, force: bool) -> Result<()> {
    if target.is_dir() {
        return Err(Error::Usage(format!("{} is a directory", target.display())));
    }
    if !force && target.symlink_metadata().is_ok() {
        return Err(Error::Exists(target.to_path_buf()));
    }
    Ok(())
}

/// `.{name}.ferry-partial-XXXX` in the target's directory, so the rename stays on one
/// file system and is atomic.
fn temp_file_beside(target: &Path) -> Result<NamedTempFile> {
    let dir = names::parent_dir(target);
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| names::FALLBACK_NAME.into());
    let prefix = format!(".{file_name}.ferry-partial-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).rand_bytes(4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Like any new file: 0666 less the umask (tempfile's default is 0600).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(&dir).map_err(Error::io(format!(
        "cannot create a file in {}",
        dir.display()
    )))
}

/// Opens, checks and writes chunks in order; runs on a blocking thread. `Ok(None)` means
/// the queue closed before the final chunk (network failure or Ctrl-C); dropping the
/// temporary file removes it.
fn write_chunks(
    mut temp: NamedTempFile,
    mut decryptor: StreamDecryptor,
    mut queue: mpsc::Receiver<tungstenite::Bytes>,
    verified: mpsc::UnboundedSender<u64>,
    chunks: u64,
    size: u64,
) -> Result<Option<NamedTempFile>> {
    let what = format!("cannot write {}", temp.path().display());
    let mut written = 0u64;
    for i in 0..chunks {
        let Some(sealed) = queue.blocking_recv() else {
            return Ok(None);
        };
        let last = i + 1 == chunks;
        let plain = decryptor
            .open_chunk(&sealed, last)
            .map_err(Error::from_envelope)?;
        written += plain.len() as u64;
        if written > size {
            return Err(Error::Tampered("the file is longer than announced".into()));
        }
        temp.as_file_mut()
            .write_all(&plain)
            .map_err(Error::io(what.clone()))?;
        if !last {
            let _ = verified.send(i + 1);
        }
    }
    decryptor.finish().map_err(Error::from_envelope)?;
    if written != size {
        return Err(Error::Tampered("the file is shorter than announced".into()));
    }
    temp.as_file().sync_all().map_err(Error::io(what))?;
    // Acknowledge the final chunk only once the plaintext is durable.
    let _ = verified.send(chunks);
    Ok(Some(temp))
}

/// Renames the verified temporary file to the target (never replacing one unless
/// `force`), then syncs the directory so the rename survives a crash.
fn persist(temp: NamedTempFile, target: &Path, force: bool) -> Result<()> {
    let result = if force {
        temp.persist(target).map(drop)
    } else {
        temp.persist_noclobber(target).map(drop)
    };
    result.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists(target.to_path_buf())
        } else {
            Error::Io {
                what: format!("cannot save {}", target.display()),
                source: e.error,
            }
        }
    })?;
    if let Ok(dir) = std::fs::File::open(names::parent_dir(target)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn protocol(what: &str) -> Error {
    Error::Network(format!("the server broke the protocol: {what}"))
}
