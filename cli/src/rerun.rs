//! What an interrupted `ferry receive` left, and what to keep when this one stops: the
//! decisions around [`Unfinished`] records.
//!
//! A rerun continues the kept claim from the chunks its partial file still holds in full:
//! normally the recorded count (anything written after the last checkpoint is unverified
//! and cut off); fewer if the file was cut shorter since; from chunk 0 into a new partial
//! file if it is gone. The claim lets the server send any chunk again, so each case ends
//! with a correct file. The partial file is not re-read, so bytes changed inside it stay
//! changed (whoever can write it can write the final file as well).
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::{
    error::{Error, Result},
    names, progress,
    unfinished::Unfinished,
    writer::{Checkpoint, Partial},
};

/// What Ctrl-C leaves behind when the download can be continued.
const KEPT: &str = "the partial download was kept: run the same command again to resume it";
/// What Ctrl-C leaves behind otherwise.
const REMOVED: &str = "the partial download was removed";

/// Where a rerun continues.
pub(crate) struct Resume {
    /// The claim the earlier run held.
    pub claim_token: Zeroizing<Vec<u8>>,
    /// The first chunk wanted; the partial file holds every one before it.
    pub from: u64,
    /// The partial file, `None` when it is gone (the download then starts from chunk 0).
    pub part: Option<PathBuf>,
    /// The share's chunk count the earlier run saw.
    pub total: u64,
}

/// Where the earlier run's download continues, if it left one. `output` is this run's
/// `-o`: the partial file must already be in the directory it saves into.
pub(crate) fn resume_point(
    record: Option<&Unfinished>,
    chunk_size: u32,
    output: Option<&Path>,
) -> Result<Option<Resume>> {
    let Some(kept) = record.and_then(Unfinished::kept) else {
        return Ok(None);
    };
    let chunk_size = u64::from(chunk_size);
    let held = std::fs::symlink_metadata(&kept.part)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len() / chunk_size);
    let Some(held) = held else {
        progress::info(
            "Resuming the interrupted download; its partial file is gone, so from the start.",
        );
        return Ok(Some(Resume {
            claim_token: kept.claim_token,
            from: 0,
            part: None,
            total: kept.total,
        }));
    };
    same_directory(&kept.part, output)?;
    let from = held.min(kept.chunks);
    progress::info(format!(
        "Resuming the interrupted download at {} of {} chunks.",
        from, kept.total
    ));
    Ok(Some(Resume {
        claim_token: kept.claim_token,
        from,
        part: Some(kept.part),
        total: kept.total,
    }))
}

/// Refuses a rerun that would save elsewhere than the partial file is (the final name is
/// claimed by a rename in the same directory).
fn same_directory(part: &Path, output: Option<&Path>) -> Result<()> {
    let out_dir = names::parent_dir(&names::resolve_target(output, names::FALLBACK_NAME)?);
    let part_dir = names::parent_dir(part);
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    if canonical(&out_dir).is_some() && canonical(&out_dir) == canonical(&part_dir) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "an interrupted download of this link is waiting in {}: run the command with -o {} \
         to resume it, or delete {} to start over",
        part_dir.display(),
        part_dir.display(),
        part.display()
    )))
}

/// Settles a failure before any chunk was written: a claim or share that is gone, or a
/// server that announces another file, leaves nothing to continue.
pub(crate) fn settle_early(e: Error, record: Option<&mut Unfinished>) -> Error {
    let hopeless = matches!(e, Error::ClaimLost | Error::Gone(_) | Error::Tampered(_));
    if let Some(record) = record.filter(|_| hopeless) {
        record.discard();
    }
    e
}

/// Settles a download that stopped (`e`), leaving `partial` (`None`: the writer failed
/// and removed it): a partial file worth continuing is synced, recorded and kept;
/// anything else is removed with its record.
pub(crate) fn settle_failure(
    e: Error,
    partial: Option<Partial>,
    checkpoint: Option<Checkpoint>,
) -> Error {
    let resumable = matches!(e, Error::Interrupted(_) | Error::Network(_));
    let Some(mut checkpoint) = checkpoint else {
        return removed(e);
    };
    if let Some(partial) = partial.filter(|_| resumable)
        && checkpoint.now(partial.temp.as_file(), partial.chunks)
    {
        // `keep` only disarms the removal on drop.
        let _ = partial.temp.keep();
        return match e {
            Error::Interrupted(_) => Error::Interrupted(KEPT),
            Error::Network(why) => Error::Network(format!("{why}; {KEPT}")),
            e => e,
        };
    }
    checkpoint.into_record().forget();
    removed(e)
}

/// `e`, once the partial file is dropped (so removed) and its record forgotten.
fn removed(e: Error) -> Error {
    match e {
        Error::Interrupted(_) => Error::Interrupted(REMOVED),
        e => e,
    }
}
