//! Ferry's envelope and protocol: the one place where Ferry does cryptography.
//!
//! A share is a 40-byte public [`Header`], a sealed metadata block and a STREAM of
//! AES-256-GCM chunks. The key schedule ([`keys`]) turns a passphrase and a link secret
//! into three independent values: the payload key, the metadata key and the download
//! token the server checks against a stored verifier. The byte-level specification is
//! `docs/FORMAT.md`; the WebSocket messages are in [`protocol`] and `docs/PROTOCOL.md`.
//!
//! Nothing here does I/O or needs an async runtime, so the same code runs in the server,
//! the CLI and the browser (wasm32).
//!
//! # The client core
//!
//! [`client`] is the client half of the protocol, written once: an upload session
//! ([`client::Upload`]) and a download session ([`client::Download`]) that a transport
//! drives the way rustls is driven. The transport feeds in what happened on its socket
//! (a text message, a binary frame, a sealed chunk, the close) and asks `poll` what to do
//! next (send this text, send chunk `i` of exactly `n` bytes, wait, done, failed). The core
//! keeps the order of messages, the window, the exact size of every chunk, and turns the
//! server's error codes into a typed [`client::ClientError`]; [`client::ShareId`] is the
//! one definition of a share ID's shape. Sealing and opening chunks stay with the
//! transport, since the browser does AES-GCM in WebCrypto. The `ferry` CLI, the web
//! worker, the server's test harness and its bench client are such transports.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod b64;
pub mod client;
mod error;
pub mod header;
pub mod keys;
pub mod manifest;
pub mod metadata;
pub mod names;
pub mod protocol;
pub mod resume_record;
pub mod split;
pub mod stream;
pub mod units;
pub mod utc;
pub mod zip;

pub use error::Error;
pub use header::{Header, KdfParams};
pub use keys::{DownloadToken, Keys, LinkSecret};
pub use manifest::Manifest;
pub use metadata::{FileMetadata, Metadata};
pub use stream::{BufferedDecryptor, ChunkAead, ChunkSequence, StreamDecryptor, StreamEncryptor};

/// Size of the AES-GCM authentication tag that every sealed chunk carries.
pub const TAG_LEN: usize = 16;

/// Default plaintext bytes per chunk: 256 KiB, where Chromium's WebCrypto AES-GCM is
/// fastest (larger chunks are about 2.5x slower there; see BENCHMARKS.md).
pub const DEFAULT_CHUNK_SIZE: u32 = 256 * 1024;
