//! The blocking half of `ferry receive`: opens the chunks in order, appends their
//! plaintext to the partial file, and now and then makes it durable and records how far
//! it got ([`Checkpoint`]), so that a run killed midway can be continued by the next.
use std::{fs::File, io::Write, path::PathBuf};

use ferry_common::StreamDecryptor;
use tempfile::NamedTempFile;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite;

use crate::{
    error::{Error, Result},
    fetch::ClaimToken,
    progress,
    save::{Destination, Saved},
    unfinished::Unfinished,
};

/// Plaintext written between two checkpoints: a run killed midway loses at most this
/// much, and pays one `fsync` per this much.
const CHECKPOINT_BYTES: u64 = 8 << 20;

/// Makes the partial file's progress durable, then records it.
pub(crate) struct Checkpoint {
    record: Unfinished,
    claim: watch::Receiver<ClaimToken>,
    part: PathBuf,
    total: u64,
    /// Chunks between checkpoints.
    every: u64,
    /// The count last recorded.
    recorded: u64,
    /// False once the record could not be written: this download then cannot resume.
    working: bool,
}

impl Checkpoint {
    /// Checkpoints of the download of `total` chunks of `chunk_size` bytes into `part`
    /// under the claim `claim` announces.
    pub(crate) fn new(
        record: Unfinished,
        claim: watch::Receiver<ClaimToken>,
        part: PathBuf,
        total: u64,
        chunk_size: u32,
    ) -> Checkpoint {
        Checkpoint {
            record,
            claim,
            part,
            total,
            every: (CHECKPOINT_BYTES / u64::from(chunk_size.max(1))).max(1),
            recorded: 0,
            working: true,
        }
    }

    /// After `n` chunks were written: a checkpoint every [`CHECKPOINT_BYTES`], and at
    /// once when the claim changed (a fresh claim replaced a lost one).
    fn after(&mut self, file: &File, n: u64) {
        let changed = self.claim.has_changed().unwrap_or(false);
        if changed || n >= self.recorded + self.every {
            self.now(file, n);
        }
    }

    /// Syncs `file`, then records that its first `n` chunks are verified. Returns whether
    /// the record now says so; a failure only costs the ability to resume (said once).
    pub(crate) fn now(&mut self, file: &File, n: u64) -> bool {
        let token = self.claim.borrow_and_update().clone();
        let Some(token) = token.filter(|_| self.working) else {
            return false;
        };
        let saved = file
            .sync_data()
            .map_err(Error::io("cannot sync the partial download"))
            .and_then(|()| self.record.save(&token, &self.part, n, self.total));
        match saved {
            Ok(()) => self.recorded = n,
            Err(e) => {
                progress::info(format!("{e}; an interruption cannot be resumed"));
                self.working = false;
            }
        }
        self.working
    }

    /// The record, to forget or keep once the download ends.
    pub(crate) fn into_record(self) -> Unfinished {
        self.record
    }
}

/// How the writer ended without failing.
pub(crate) enum Written {
    /// Verified, durable and named (or kept under its temporary name).
    Saved(Saved),
    /// The chunks stopped coming before the final one.
    Unfinished(Partial),
}

/// A partial file and how many chunks it holds.
pub(crate) struct Partial {
    /// The file (removed when dropped).
    pub temp: NamedTempFile,
    /// Chunks verified and written to it.
    pub chunks: u64,
}

/// One download's writer: the partial file, the chunks still due, and where it lands.
pub(crate) struct Writer {
    /// The partial file, holding the plaintext of chunks `0..first`.
    pub temp: NamedTempFile,
    /// Sought to chunk `first`.
    pub decryptor: StreamDecryptor,
    /// The first chunk to come.
    pub first: u64,
    /// The share's chunk count.
    pub chunks: u64,
    /// The file's plaintext size.
    pub size: u64,
    /// Every chunk's plaintext size but the last's.
    pub chunk_size: u64,
    /// Where the verified file takes its name.
    pub dest: Destination,
    /// Records progress for a later run (`None`: no state directory, nothing resumes).
    pub checkpoint: Option<Checkpoint>,
}

impl Writer {
    /// Opens, checks and writes chunks in order; runs on a blocking thread. After the
    /// final chunk verified the file is synced and claims its name in `dest`, and only
    /// then is that chunk acknowledged (spending a one-time link). A failure drops (so
    /// removes) the partial file. The checkpoint comes back for the caller to settle.
    pub(crate) fn run(
        mut self,
        queue: mpsc::Receiver<tungstenite::Bytes>,
        verified: mpsc::UnboundedSender<u64>,
    ) -> (Result<Written>, Option<Checkpoint>) {
        let result = match self.write(queue, &verified) {
            Ok(true) => {
                let saved = self.dest.claim(self.temp);
                // Acknowledge the final chunk only once the plaintext is durable under a name.
                let _ = verified.send(self.chunks);
                Ok(Written::Saved(saved))
            }
            Ok(false) => Ok(Written::Unfinished(Partial {
                chunks: self.decryptor.chunks_opened(),
                temp: self.temp,
            })),
            Err(e) => Err(e),
        };
        (result, self.checkpoint)
    }

    /// Writes chunks until the last, verified and synced (`true`), or until the queue
    /// closes (`false`: a network failure or Ctrl-C).
    fn write(
        &mut self,
        mut queue: mpsc::Receiver<tungstenite::Bytes>,
        verified: &mpsc::UnboundedSender<u64>,
    ) -> Result<bool> {
        let what = format!("cannot write {}", self.temp.path().display());
        let mut written = self.first * self.chunk_size;
        for i in self.first..self.chunks {
            let Some(sealed) = queue.blocking_recv() else {
                return Ok(false);
            };
            let last = i + 1 == self.chunks;
            let plain = self
                .decryptor
                .open_chunk(&sealed, last)
                .map_err(Error::from_envelope)?;
            written += plain.len() as u64;
            if written > self.size {
                return Err(Error::Tampered("the file is longer than announced".into()));
            }
            self.temp
                .as_file_mut()
                .write_all(&plain)
                .map_err(Error::io(what.clone()))?;
            if !last {
                if let Some(c) = &mut self.checkpoint {
                    c.after(self.temp.as_file(), i + 1);
                }
                let _ = verified.send(i + 1);
            }
        }
        self.decryptor.finish().map_err(Error::from_envelope)?;
        if written != self.size {
            return Err(Error::Tampered("the file is shorter than announced".into()));
        }
        self.temp.as_file().sync_all().map_err(Error::io(what))?;
        Ok(true)
    }
}
