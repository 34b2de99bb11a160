//! `ferry receive`: download, verify and decrypt a share.
//!
//! The async side ([`crate::fetch`]) reads chunk frames and acknowledges only what a
//! blocking writer thread has verified and written, so the server's window bounds memory;
//! a broken connection is replaced and the download resumes inside its claim, so the
//! writer simply sees the next chunk. The plaintext goes to
//! a short-named temporary file beside the target ([`crate::save`]); after the final chunk
//! verified and the size matched it is fsynced and claims its final name, and only then
//! is the final chunk acknowledged. On any failure before that, or Ctrl-C, it is removed;
//! once verified it is never removed.
use std::{
    io::Write,
    path::{Path, PathBuf},
};

use ferry_common::{FileMetadata, Header, StreamDecryptor, client::ShareId};
use tempfile::NamedTempFile;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

use crate::{
    error::{Error, Result},
    fetch::Fetch,
    interrupt::Interrupt,
    keys::derive_keys,
    link::ShareLink,
    names, net,
    passphrase::{self, Prompt},
    progress,
    save::{Destination, Saved},
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
    /// Replace an existing file at `-o FILE` (never one the sender's name points at).
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
    // The server knows the share, so its ID has the shape every Ferry server gives one.
    let share_id = ShareId::parse(&link.share_id)
        .map_err(|_| protocol("it serves a share whose ID is malformed"))?;
    let passphrase = passphrase::obtain(opts.passphrase_file.as_deref(), Prompt::Once)?;
    let keys = derive_keys(header.clone(), passphrase, secret).await?;

    let mut fetch = Fetch::new(
        link.server.clone(),
        share_id,
        keys.download_token.as_bytes(),
        header.clone(),
        |line| progress::info(line),
    );
    let ready = fetch.ready().await?;
    let (sealed_metadata, ciphertext_size, chunks) =
        (ready.metadata, ready.ciphertext_size, ready.chunks);
    // The server accepted the token, so metadata that fails to open was altered.
    let meta = FileMetadata::open(&sealed_metadata, &keys.metadata, &header)
        .map_err(|_| Error::Tampered("the file's encrypted name and size do not verify".into()))?;
    if header.ciphertext_len(meta.size) != ciphertext_size
        || header.chunk_count(meta.size) != chunks
    {
        return Err(Error::Tampered(
            "the server announces a size that does not match the file's".into(),
        ));
    }
    let name = names::sanitize(&meta.name);
    let dest = destination(opts.output.as_deref(), &name, opts.force)?;
    let wanted = dest.first().to_path_buf();
    // From here a partial file exists, so Ctrl-C must be caught to remove it.
    let mut interrupt = Interrupt::listen()?;
    let temp = dest.temp_file()?;

    let (chunk_tx, chunk_rx) = mpsc::channel::<tungstenite::Bytes>(QUEUE);
    let (verified_tx, mut verified_rx) = mpsc::unbounded_channel::<u64>();
    let decryptor = StreamDecryptor::new(&keys.payload, &header);
    let size = meta.size;
    let writer = tokio::task::spawn_blocking(move || {
        write_chunks(temp, decryptor, chunk_rx, verified_tx, chunks, size, &dest)
    });

    let bar = progress::bar(size, "Downloading");
    let chunk_size = u64::from(header.chunk_size);
    let transfer = async {
        let chunk_tx = chunk_tx; // dropped when this future ends or is cancelled
        fetch
            .receive(chunks, &chunk_tx, &mut verified_rx, |n| {
                bar.set_position((n * chunk_size).min(size))
            })
            .await
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
    // Only a transfer that ended normally sent the final ack, so only then is `done` due.
    let acked = transferred.is_ok();
    let saved = match (transferred, written) {
        // Verified and saved: kept whatever happened to the socket or Ctrl-C meanwhile.
        (_, Ok(Some(saved))) => saved,
        (Err(e @ Error::Interrupted(_)), _) => return Err(e),
        (_, Err(e @ Error::Tampered(_))) => return Err(e),
        (Err(e), _) | (Ok(()), Err(e)) => return Err(e),
        (Ok(()), Ok(None)) => {
            return Err(Error::Network(
                "the download ended before the last chunk".into(),
            ));
        }
    };
    let confirmed = if acked {
        fetch.confirmation().await
    } else {
        None
    };
    let target = match saved {
        Saved::Named(path) => path,
        Saved::Kept { path, reason } => return Err(Error::Kept { path, reason }),
    };
    if progress::interactive() {
        if target != wanted {
            progress::info(format!("{} exists.", wanted.display()));
        }
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

/// `-o FILE` is the person's own path, which `--force` may replace; otherwise the file
/// takes the sender's sanitised `name` in `-o DIR` or here and never replaces anything
/// (the sender must not choose which file is overwritten).
fn destination(output: Option<&Path>, name: &str, force: bool) -> Result<Destination> {
    let target = names::resolve_target(output, name)?;
    if output.is_some_and(|p| !p.is_dir()) {
        return Ok(Destination::given(target, force));
    }
    if force && progress::interactive() {
        progress::info(
            "--force replaces only a file named with -o FILE; an existing file under the sender's name is kept.",
        );
    }
    Ok(Destination::sender_named(target, name))
}

/// Opens, checks and writes chunks in order; runs on a blocking thread. After the final
/// chunk verified the file is synced and claims its name in `dest`, and only then is that
/// chunk acknowledged (spending a one-time link). `Ok(None)` means the queue closed
/// before the final chunk (network failure or Ctrl-C); dropping the temporary file
/// removes it.
fn write_chunks(
    mut temp: NamedTempFile,
    mut decryptor: StreamDecryptor,
    mut queue: mpsc::Receiver<tungstenite::Bytes>,
    verified: mpsc::UnboundedSender<u64>,
    chunks: u64,
    size: u64,
    dest: &Destination,
) -> Result<Option<Saved>> {
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
    // Acknowledge the final chunk only once the plaintext is durable under a name.
    let saved = dest.claim(temp);
    let _ = verified.send(chunks);
    Ok(Some(saved))
}

fn protocol(what: &str) -> Error {
    Error::Network(format!("the server broke the protocol: {what}"))
}
