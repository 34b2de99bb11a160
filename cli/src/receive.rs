//! `ferry receive`: download, verify and decrypt a share.
//!
//! The async side ([`crate::fetch`]) reads chunk frames and acknowledges only what a
//! blocking writer thread has verified and written, so the server's window bounds memory;
//! a broken connection is replaced and the download resumes inside its claim, so the
//! writer simply sees the next chunk. The plaintext goes to
//! a short-named temporary file beside the target ([`crate::save`]); after the final chunk
//! verified and the size matched it is fsynced and claims its final name, and only then
//! is the final chunk acknowledged. Once verified it is never removed.
//!
//! A download stopped by Ctrl-C or a network failure keeps its partial file and records
//! its claim ([`crate::unfinished`], [`crate::writer::Checkpoint`]), so running the same
//! command again continues it ([`crate::rerun`]); any other failure removes both.
use std::path::{Path, PathBuf};

use ferry_common::{Header, Keys, Manifest, Metadata, StreamDecryptor, client::ShareId};
use tempfile::NamedTempFile;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite;

use crate::{
    error::{Error, Result},
    fetch::{ClaimToken, Fetch},
    interrupt::Interrupt,
    keys::derive_keys,
    link::ShareLink,
    names, net,
    passphrase::{self, Prompt},
    progress,
    rerun::{self, Resume},
    save::{self, Destination, Saved},
    tree::Unpack,
    unfinished::Unfinished,
    writer::{Checkpoint, Writer, Written},
};

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

/// Downloads the share, continuing what an interrupted run of the same command left;
/// returns where the file was saved.
pub async fn run(opts: ReceiveOptions) -> Result<PathBuf> {
    let link = ShareLink::parse(&opts.link)?;
    // With an explicit file path, refuse before spending a passphrase try.
    if let Some(out) = opts.output.as_deref().filter(|p| !p.is_dir()) {
        let target = names::resolve_target(Some(out), names::FALLBACK_NAME)?;
        check_target(&target, opts.force)?;
    }
    let mut record = Unfinished::locate(link.server.as_str(), &link.share_id);
    let opened = open_share(&link, opts.passphrase_file.as_deref())
        .await
        .map_err(|e| rerun::settle_early(e, record.as_mut()))?;
    let resume = rerun::resume_point(
        record.as_ref(),
        opened.header.chunk_size,
        opts.output.as_deref(),
    )?;
    let mut fetch = Fetch::new(
        link.server.clone(),
        opened.share_id.clone(),
        opened.keys.download_token.as_bytes(),
        opened.header.clone(),
        |line| progress::info(line),
    );
    if let Some(r) = &resume {
        fetch.continue_claim(&r.claim_token, r.from);
    }
    let (meta, chunks) = ready(&mut fetch, &opened, resume.as_ref())
        .await
        .map_err(|e| rerun::settle_early(e, record.as_mut()))?;
    let dest = match &meta {
        Metadata::File(file) => destination(
            opts.output.as_deref(),
            &names::sanitize(&file.name),
            opts.force,
        )?,
        Metadata::Files(manifest) => tree_destination(opts.output.as_deref(), manifest)?,
    };
    let wanted = dest.first().to_path_buf();
    // From here a partial file exists, so Ctrl-C must be caught to keep or remove it.
    let mut interrupt = Interrupt::listen()?;
    let chunk_size = u64::from(opened.header.chunk_size);
    let claims = fetch.claims();
    let (temp, first, checkpoint) = open_partial(
        &dest,
        resume.as_ref(),
        record,
        claims,
        chunks,
        &opened.header,
    )?;
    let (chunk_tx, chunk_rx) = mpsc::channel::<tungstenite::Bytes>(QUEUE);
    let (verified_tx, mut verified_rx) = mpsc::unbounded_channel::<u64>();
    let mut decryptor = StreamDecryptor::new(&opened.keys.payload, &opened.header);
    decryptor.seek(first);
    let size = meta.size();
    let writer = Writer {
        temp,
        decryptor,
        first,
        chunks,
        size,
        chunk_size,
        dest,
        checkpoint,
    };
    let writer = tokio::task::spawn_blocking(move || writer.run(chunk_rx, verified_tx));

    let bar = progress::bar(size, "Downloading");
    bar.set_position((first * chunk_size).min(size));
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
        () = interrupt.recv() => Err(Error::Interrupted("")),
    };
    bar.finish_and_clear();
    // The transfer future is gone, so the writer's queue is closed and it returns soon.
    let (written, checkpoint) = writer
        .await
        .map_err(|e| Error::Other(format!("the file writer failed: {e}")))?;
    // Only a transfer that ended normally sent the final ack, so only then is `done` due.
    let acked = transferred.is_ok();
    let saved = settle(transferred, written, checkpoint)?;
    let confirmed = if acked {
        fetch.confirmation().await
    } else {
        None
    };
    let target = match saved {
        Saved::Named(path) => {
            report(&path, &wanted, size, confirmed);
            path
        }
        Saved::Tree(placed) => {
            report_tree(&meta, &placed, size, confirmed);
            names::parent_dir(&wanted)
        }
        Saved::Kept { path, reason } => return Err(Error::Kept { path, reason }),
    };
    Ok(target)
}

/// The partial file to write into (the earlier run's, cut to its verified chunks, or a new
/// one beside the target), the first chunk it lacks, and the checkpoints that record its
/// progress under the claim `claims` announces (none without a state directory).
fn open_partial(
    dest: &Destination,
    resume: Option<&Resume>,
    record: Option<Unfinished>,
    claims: watch::Receiver<ClaimToken>,
    chunks: u64,
    header: &Header,
) -> Result<(NamedTempFile, u64, Option<Checkpoint>)> {
    let chunk_size = u64::from(header.chunk_size);
    let (temp, first) = match resume.and_then(|r| Some((r.part.as_ref()?, r.from))) {
        Some((part, from)) => (save::reopen_partial(part, from * chunk_size)?, from),
        None => (dest.temp_file()?, 0),
    };
    let checkpoint = record.map(|record| {
        let part = std::fs::canonicalize(temp.path()).unwrap_or_else(|_| temp.path().into());
        let mut c = Checkpoint::new(record, claims, part, chunks, header.chunk_size);
        // Before any ack: from here the server may hold the claim for this download.
        c.now(temp.as_file(), first);
        c
    });
    Ok((temp, first, checkpoint))
}

/// The download's end: the saved file, or the failure, with the partial file and its
/// record kept for a rerun or removed ([`rerun::settle_failure`]).
fn settle(
    transferred: Result<()>,
    written: Result<Written>,
    checkpoint: Option<Checkpoint>,
) -> Result<Saved> {
    match (transferred, written) {
        // Verified and saved: kept whatever happened to the socket or Ctrl-C meanwhile.
        (_, Ok(Written::Saved(saved))) => {
            if let Some(c) = checkpoint {
                c.into_record().forget();
            }
            Ok(saved)
        }
        (Err(e), Ok(Written::Unfinished(partial))) => {
            Err(rerun::settle_failure(e, Some(partial), checkpoint))
        }
        (Ok(()), Ok(Written::Unfinished(partial))) => {
            let e = Error::Network("the download ended before the last chunk".into());
            Err(rerun::settle_failure(e, Some(partial), checkpoint))
        }
        // The writer failed and removed the partial file; Ctrl-C or tampering explain most.
        (Err(e @ Error::Interrupted(_)), Err(_))
        | (_, Err(e @ Error::Tampered(_)))
        | (Err(e), Err(_))
        | (Ok(()), Err(e)) => Err(rerun::settle_failure(e, None, checkpoint)),
    }
}

/// The share, opened: its header, ID and keys.
struct Opened {
    header: Header,
    share_id: ShareId,
    keys: Keys,
}

/// Fetches the share's header, asks for the passphrase and derives the keys.
async fn open_share(link: &ShareLink, passphrase_file: Option<&Path>) -> Result<Opened> {
    let info = net::share_info(&link.server, &link.share_id).await?;
    let header = Header::parse(&info.header.0).map_err(Error::from_envelope)?;
    let secret = match (header.passphrase_only, link.secret.clone()) {
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
    let passphrase = passphrase::obtain(passphrase_file, Prompt::Once)?;
    let keys = derive_keys(header.clone(), passphrase, secret).await?;
    Ok(Opened {
        header,
        share_id,
        keys,
    })
}

/// Claims (or continues) the download and opens its metadata: the file's metadata (or the
/// manifest of several) and chunk count, checked against the header and what an earlier
/// run saw.
async fn ready(
    fetch: &mut Fetch,
    opened: &Opened,
    resume: Option<&Resume>,
) -> Result<(Metadata, u64)> {
    let ready = fetch.ready().await?;
    let header = &opened.header;
    // The server accepted the token, so metadata that fails to open was altered.
    let meta =
        Metadata::open(&ready.metadata, &opened.keys.metadata, header).map_err(|e| match e {
            e @ ferry_common::Error::UnsupportedMetadata(_) => Error::Usage(e.to_string()),
            e @ ferry_common::Error::Manifest(_) => Error::Tampered(format!(
                "the share's list of files is unsafe or broken ({e}); nothing was saved"
            )),
            _ => Error::Tampered("the file's encrypted name and size do not verify".into()),
        })?;
    let size = meta.size();
    if header.ciphertext_len(size) != ready.ciphertext_size
        || header.chunk_count(size) != ready.chunks
        || resume.is_some_and(|r| r.total != ready.chunks)
    {
        return Err(Error::Tampered(
            "the server announces a size that does not match the file's".into(),
        ));
    }
    Ok((meta, ready.chunks))
}

/// Says where the file went and how many downloads the link has left.
fn report(target: &Path, wanted: &Path, size: u64, confirmed: Option<u32>) {
    if !progress::interactive() {
        return;
    }
    if target != wanted {
        progress::info(format!("{} exists.", wanted.display()));
    }
    progress::info(format!(
        "Saved {} ({}).",
        target.display(),
        indicatif::HumanBytes(size)
    ));
    report_downloads(confirmed);
}

/// Says what arrived, for a share of several files.
fn report_tree(meta: &Metadata, placed: &[PathBuf], size: u64, confirmed: Option<u32>) {
    if !progress::interactive() {
        return;
    }
    let files = match meta {
        Metadata::Files(m) => m.files.len(),
        Metadata::File(_) => 1,
    };
    progress::info(format!(
        "Saved {files} files ({}):",
        indicatif::HumanBytes(size)
    ));
    for path in placed {
        progress::info(format!("  {}", path.display()));
    }
    report_downloads(confirmed);
}

fn report_downloads(confirmed: Option<u32>) {
    match confirmed {
        Some(0) => progress::info("That was the last download: the link no longer works."),
        Some(1) => progress::info("The link allows one more download."),
        Some(n) => progress::info(format!("The link allows {n} more downloads.")),
        None => progress::info("(The server did not confirm the download.)"),
    }
}

/// A share of several files lands in `-o DIR`, or here; `-o NEW` makes that directory
/// (its parent must exist). `-o FILE` cannot hold a tree, and by now the claim may
/// already count, so the tree lands beside that file instead, and says so.
fn tree_destination(output: Option<&Path>, manifest: &Manifest) -> Result<Destination> {
    let mut dir = output.unwrap_or(Path::new(".")).to_path_buf();
    if !dir.exists() && names::parent_dir(&dir).is_dir() {
        std::fs::create_dir(&dir).map_err(Error::io(format!("cannot create {}", dir.display())))?;
    }
    if !dir.is_dir() {
        let beside = names::parent_dir(&dir);
        progress::info(format!(
            "This share holds {} files and folders, which cannot go into the file {}; \
             they go into {} instead.",
            manifest.entries(),
            dir.display(),
            beside.display()
        ));
        dir = beside;
    }
    Ok(Destination::tree(Unpack::new(dir, manifest)))
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

fn protocol(what: &str) -> Error {
    Error::Network(format!("the server broke the protocol: {what}"))
}
