//! The client half of protocol v1, written once and driven sans-I/O.
//!
//! [`Upload`] and [`Download`] are state machines in the style of rustls: the transport
//! (tokio-tungstenite in the CLI and the server's tests, a browser WebSocket in the web
//! worker) feeds them what happened — a server text message, a server binary frame, a
//! sealed chunk, the socket closing — and asks [`Upload::poll`] / [`Download::poll`] what
//! to do next: send this text, send a chunk, wait for the server, done, or failed. They
//! own the message order, the window accounting, the exact size of every chunk, the
//! parsing of server events and the mapping of the server's error codes to
//! [`ClientError`]. They do no I/O, start no task and never touch keys: sealing and
//! opening chunks stays with the transport (the browser does AES-GCM in WebCrypto), so the
//! same code runs natively and in wasm32.
//!
//! A typical upload loop:
//!
//! ```text
//! loop match upload.poll() {
//!     Send(text)              => socket.send_text(text),
//!     SendChunk { index, .. } => { let c = seal(index); log.record(index, &c)?;
//!                                  upload.chunk_ready(c.len())?; socket.send_binary(c) }
//!     Wait                    => match socket.next() { Text(t) => upload.handle_text(&t)?,
//!                                                      Binary(b) => upload.handle_binary(b.len())?,
//!                                                      Closed(r) => upload.handle_closed(r)? }
//!     Done(uploaded)          => break uploaded,
//!     Failed(e)               => return Err(e),
//! }
//! ```
//!
//! An upload whose socket failed with a [transient](ClientError::is_transient) error
//! goes on over a new socket with [`Upload::resume`] and what [`Upload::resumable`] gave;
//! the [`SealLog`] makes sure no chunk index is ever sealed twice over different bytes.
mod download;
mod error;
mod lanes;
mod seal_log;
pub mod share_id;
mod upload;

pub use download::{ChunkInfo, Download, DownloadAction, Ready};
pub use error::{ClientError, Gone};
pub use lanes::UploadLanes;
pub use seal_log::SealLog;
pub use share_id::{ShareId, ShareIdError};
pub use upload::{Resumable, Upload, UploadAction, Uploaded};

use crate::{Header, TAG_LEN};

/// The exact sealed size of every chunk of one share: all `chunk_size + 16` bytes but the
/// last, which holds the rest (16 bytes only for an empty file). Clients and the server
/// use this one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of a full sealed chunk.
    sealed: u64,
    /// Number of chunks.
    chunks: u64,
    /// Bytes of the last chunk.
    last: u64,
}

impl Layout {
    /// The layout of a stream of `ciphertext_size` bytes under `header`, or `None` when
    /// no valid stream has that size (the envelope's own rule, [`Header::plaintext_len`]).
    pub fn new(header: &Header, ciphertext_size: u64) -> Option<Layout> {
        let chunks = header.chunk_count(header.plaintext_len(ciphertext_size)?);
        let sealed = u64::from(header.chunk_size) + TAG_LEN as u64;
        Some(Layout {
            sealed,
            chunks,
            last: ciphertext_size - (chunks - 1) * sealed,
        })
    }

    /// Bytes of a full sealed chunk (`chunk_size + 16`).
    pub fn sealed(&self) -> u64 {
        self.sealed
    }

    /// Number of chunks.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The sealed size of chunk `index` (which must be below `chunks`).
    pub fn len_of(&self, index: u64) -> u64 {
        if index + 1 == self.chunks {
            self.last
        } else {
            self.sealed
        }
    }

    /// Ciphertext bytes in the first `n` chunks.
    pub fn bytes_in(&self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            (n - 1) * self.sealed + self.len_of(n - 1)
        }
    }

    /// Ciphertext bytes of segment `segment` when segments hold `segment_chunks` chunks
    /// (the last one the rest).
    pub(crate) fn segment_bytes(&self, segment: u64, segment_chunks: u64) -> u64 {
        let first = (segment * segment_chunks).min(self.chunks);
        let end = (first + segment_chunks).min(self.chunks);
        self.bytes_in(end) - self.bytes_in(first)
    }
}

/// Serialises a client message (plain structs, which always serialise).
fn to_text<T: serde::Serialize>(msg: &T) -> String {
    // unwrap: protocol messages are plain structs with string keys.
    serde_json::to_string(msg).expect("protocol message serialises")
}

#[cfg(test)]
mod lanes_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upload_tests;
