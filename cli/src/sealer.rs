//! Reading and sealing chunks of the file by index, a few ahead of the socket.
//!
//! A chunk's nonce comes from its index, so any chunk can be sealed on its own: a resumed
//! upload seals only the chunks of the segments the server lacks. A blocking thread reads
//! and seals consecutive chunks into a small channel; asking for an index it is not about
//! to produce restarts it there. Memory stays at a few chunks whatever the file size.
//!
//! Several files are read as one payload, one after the other ([`Files::Many`]); each is
//! opened only while a chunk that covers it is read, so a share of thousands of files
//! never holds thousands of descriptors.
use std::{fs::File, path::PathBuf, sync::Arc};

use ferry_common::{ChunkAead, Header, stream::chunk_nonce};
use tokio::sync::mpsc;

use crate::{
    error::{Error, Result},
    selection::Picked,
};

/// Sealed chunks read ahead of the socket.
const READ_AHEAD: usize = 4;

/// The bytes to send: one open file, or several files by path, each with its offset in
/// the payload and its size.
pub enum Files {
    /// A single-file share.
    One(File),
    /// A share of several files, in payload order.
    Many(Vec<(PathBuf, u64, u64)>),
}

impl Files {
    /// The files of `picked`, one after the other.
    pub fn many(picked: &[Picked]) -> Files {
        let mut start = 0;
        Files::Many(
            picked
                .iter()
                .map(|p| {
                    start += p.size;
                    (p.path.clone(), start - p.size, p.size)
                })
                .collect(),
        )
    }

    /// Fills `buf` from payload offset `offset`.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let parts = match self {
            Files::One(file) => return read_exact_at(file, buf, offset),
            Files::Many(parts) => parts,
        };
        let mut at = parts.partition_point(|(_, start, len)| start + len <= offset);
        let (mut done, end) = (0, offset + buf.len() as u64);
        while done < buf.len() {
            let (path, start, len) = parts.get(at).ok_or(std::io::ErrorKind::UnexpectedEof)?;
            let from = offset + done as u64;
            let take = (start + len).min(end) - from;
            let file = File::open(path)?;
            read_exact_at(&file, &mut buf[done..done + take as usize], from - start)?;
            done += take as usize;
            at += 1;
        }
        Ok(())
    }

    /// Whether every file still has the size it had when the share was described.
    fn unchanged(&self, total: u64) -> std::io::Result<bool> {
        match self {
            Files::One(file) => Ok(file.metadata()?.len() == total),
            Files::Many(parts) => {
                for (path, _, len) in parts {
                    if std::fs::metadata(path)?.len() != *len {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }
}

/// Everything needed to seal any chunk of one file.
pub struct Source {
    file: Arc<Files>,
    aead: Arc<ChunkAead>,
    chunk_size: u64,
    size: u64,
    chunks: u64,
    shown: Arc<str>,
}

/// The read-ahead thread: the next index it will deliver and its channel.
struct Ahead {
    next: u64,
    rx: mpsc::Receiver<Result<Vec<u8>>>,
}

/// Hands out sealed chunks by index (see the module docs).
pub struct Sealer {
    source: Arc<Source>,
    ahead: Option<Ahead>,
}

impl Source {
    /// A source of `size` bytes from `file`, sealed under `aead` with `header`'s chunk size.
    pub fn new(file: Files, aead: ChunkAead, header: &Header, size: u64, shown: String) -> Source {
        Source {
            file: Arc::new(file),
            aead: Arc::new(aead),
            chunk_size: u64::from(header.chunk_size),
            size,
            chunks: header.chunk_count(size),
            shown: shown.into(),
        }
    }

    /// Reads and seals chunk `index` (blocking). Reads by position, so reader threads
    /// that overlap for a moment after a restart never share a file offset.
    fn seal_at(&self, index: u64) -> Result<Vec<u8>> {
        let offset = index * self.chunk_size;
        let len = self.chunk_size.min(self.size - offset.min(self.size)) as usize;
        let last = index + 1 == self.chunks;
        let io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Other(format!("{} shrank while it was being sent", self.shown))
            } else {
                Error::Io {
                    what: format!("cannot read {}", self.shown),
                    source: e,
                }
            }
        };
        let mut buf = Vec::with_capacity(len + ferry_common::TAG_LEN);
        buf.resize(len, 0);
        self.file.read_at(&mut buf, offset).map_err(io)?;
        if last && !self.file.unchanged(self.size).map_err(io)? {
            return Err(Error::Other(format!(
                "{} changed size while it was being sent; the share would be incomplete",
                self.shown
            )));
        }
        self.aead
            .seal_in_place(&chunk_nonce(index, last), &mut buf)
            .map_err(Error::from_envelope)?;
        Ok(buf)
    }
}

impl Sealer {
    /// A sealer over `source`; no thread runs until the first chunk is asked for.
    pub fn new(source: Source) -> Sealer {
        Sealer {
            source: Arc::new(source),
            ahead: None,
        }
    }

    /// Another sealer of the same file, for another lane (its own read-ahead).
    pub fn fork(&self) -> Sealer {
        Sealer {
            source: Arc::clone(&self.source),
            ahead: None,
        }
    }

    /// The number of chunks of the file.
    pub fn chunks(&self) -> u64 {
        self.source.chunks
    }

    /// Sealed chunk `index`.
    pub async fn chunk(&mut self, index: u64) -> Result<Vec<u8>> {
        if self.ahead.as_ref().is_none_or(|a| a.next != index) {
            self.ahead = Some(self.start_at(index));
        }
        // unwrap: set just above.
        let ahead = self.ahead.as_mut().expect("started");
        let chunk = ahead
            .rx
            .recv()
            .await
            .ok_or_else(|| Error::Other("the file reader stopped".into()))??;
        ahead.next += 1;
        Ok(chunk)
    }

    /// Starts a reader thread at chunk `first` (a previous one stops when its channel is
    /// dropped).
    fn start_at(&self, first: u64) -> Ahead {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let source = Arc::clone(&self.source);
        tokio::task::spawn_blocking(move || {
            for index in first..source.chunks {
                let sealed = source.seal_at(index);
                let failed = sealed.is_err();
                if tx.blocking_send(sealed).is_err() || failed {
                    return;
                }
            }
        });
        Ahead { next: first, rx }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    // Bounded: every turn reads at least one byte or returns.
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}
