//! The `start` message, checked against the server's limits, and the shape of the
//! upload it describes: chunk sizes and segments.
use ferry_common::{
    Header, KdfParams,
    client::Layout,
    protocol::{ErrorCode, PROTOCOL_VERSION, UploadRequest},
};

use crate::{
    AppState,
    config::{MAX_METADATA_LEN, SERVER_MAX_CHUNK_SIZE},
    ws::{self, End},
};

/// Ciphertext bytes a segment holds at most (fewer when the window is small: a segment
/// never takes more than half the window, so the next one can arrive while it is stored).
const SEGMENT_BYTES: u64 = 5 * 1024 * 1024;

/// The exact size of every chunk and segment of one upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Every chunk's size (the envelope's rule, shared with the clients).
    pub layout: Layout,
    /// Chunks per segment (the last segment may have fewer).
    pub segment_chunks: u64,
    /// Number of segments.
    pub segments: u64,
    /// Chunks a socket may have sent beyond its acknowledged segments.
    pub window: u32,
}

impl Shape {
    /// The shape of `ciphertext_size` bytes under `header`, with `segment_chunks` chunks
    /// per segment (`None`: this server's choice for a new upload). `None` when no
    /// stream has that size.
    pub fn new(
        header: &Header,
        ciphertext_size: u64,
        segment_chunks: Option<u64>,
    ) -> Option<Shape> {
        let layout = Layout::new(header, ciphertext_size)?;
        let window = ws::window_for(layout.sealed());
        let segment_chunks = segment_chunks
            .unwrap_or_else(|| {
                SEGMENT_BYTES
                    .div_ceil(layout.sealed())
                    .min(u64::from(window / 2))
            })
            .max(1);
        Some(Shape {
            layout,
            segment_chunks,
            segments: layout.chunks().div_ceil(segment_chunks),
            window,
        })
    }

    /// The chunks of segment `index`: first chunk and count.
    pub fn segment(&self, index: u64) -> (u64, u64) {
        let first = index * self.segment_chunks;
        (first, self.segment_chunks.min(self.layout.chunks() - first))
    }

    /// Ciphertext bytes of segment `index`.
    pub fn segment_bytes(&self, index: u64) -> u64 {
        let (first, count) = self.segment(index);
        self.layout.bytes_in(first + count) - self.layout.bytes_in(first)
    }
}

/// What a valid `start` message describes.
pub(crate) struct Plan {
    pub header: Vec<u8>,
    pub metadata: Vec<u8>,
    pub verifier: Vec<u8>,
    pub ciphertext_size: u64,
    pub shape: Shape,
    pub max_downloads: u32,
    pub expires_in_secs: u64,
    /// The upload token or invitation it came with, as sent.
    pub credential: Option<String>,
}

/// Checks a `start` message against the server's limits.
pub(crate) fn parse_start(state: &AppState, msg: UploadRequest) -> Result<Plan, End> {
    let UploadRequest::Start {
        version,
        header,
        metadata,
        verifier,
        expires_in_secs,
        max_downloads,
        ciphertext_size,
        credential,
    } = msg
    else {
        return Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "the first message must be \"start\" or \"resume\"",
        ));
    };
    let cfg = &state.config;
    check_version(version)?;
    let parsed = Header::parse(&header.0).map_err(|e| match e {
        ferry_common::Error::UnsupportedVersion(v) => End::refuse(
            ErrorCode::UnsupportedVersion,
            format!("this server does not know format version {v}"),
        ),
        ferry_common::Error::WeakKdf(below) => End::refuse(
            ErrorCode::BadRequest,
            format!(
                "the header's key-derivation {below} is below Ferry's minimum (Argon2id with \
                 at least {} KiB and {} iterations, docs/FORMAT.md), which would make the \
                 passphrase cheap to guess",
                KdfParams::MIN_M_COST,
                KdfParams::MIN_T_COST
            ),
        ),
        other => End::refuse(
            ErrorCode::BadRequest,
            format!("the header is not a valid Ferry header: {other}"),
        ),
    })?;
    if parsed.chunk_size > SERVER_MAX_CHUNK_SIZE {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            format!(
                "chunks of {} bytes are larger than this server's maximum of {SERVER_MAX_CHUNK_SIZE}",
                parsed.chunk_size
            ),
        ));
    }
    if verifier.0.len() != 32 {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "the download-token verifier must be 32 bytes",
        ));
    }
    if metadata.0.is_empty() || metadata.0.len() > MAX_METADATA_LEN {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            format!("the sealed metadata must be 1 to {MAX_METADATA_LEN} bytes"),
        ));
    }
    let Some(plaintext_len) = parsed.plaintext_len(ciphertext_size) else {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "ciphertext_size is not a possible size for this header's chunk size",
        ));
    };
    if plaintext_len > cfg.max_file_size {
        return Err(End::refuse(
            ErrorCode::TooLarge,
            format!(
                "the file is {}; this server accepts files up to {}",
                human_size(plaintext_len),
                human_size(cfg.max_file_size)
            ),
        ));
    }
    if expires_in_secs == 0 {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "the expiry must be at least one second",
        ));
    }
    if expires_in_secs > cfg.max_expiry_secs {
        return Err(End::refuse(
            ErrorCode::ExpiryTooLong,
            format!(
                "this server keeps files for at most {} seconds",
                cfg.max_expiry_secs
            ),
        ));
    }
    if max_downloads == 0 {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "the download limit must be at least 1",
        ));
    }
    if max_downloads > cfg.max_downloads {
        return Err(End::refuse(
            ErrorCode::TooManyDownloads,
            format!(
                "this server allows at most {} downloads per share",
                cfg.max_downloads
            ),
        ));
    }
    let shape = Shape::new(&parsed, ciphertext_size, None)
        .ok_or_else(|| End::refuse(ErrorCode::BadRequest, "ciphertext_size is impossible"))?;
    Ok(Plan {
        header: header.0,
        metadata: metadata.0,
        verifier: verifier.0,
        ciphertext_size,
        shape,
        max_downloads,
        expires_in_secs,
        credential,
    })
}

/// Refuses a protocol version this server does not speak.
pub(crate) fn check_version(version: u32) -> Result<(), End> {
    if version == PROTOCOL_VERSION {
        return Ok(());
    }
    Err(End::refuse(
        ErrorCode::UnsupportedVersion,
        format!(
            "this server speaks protocol version {PROTOCOL_VERSION}, not {version}; \
             please update your Ferry client"
        ),
    ))
}

/// Human-readable byte count for messages.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
