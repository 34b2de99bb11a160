//! Messages between clients and the server (see `docs/PROTOCOL.md`).
//!
//! Control messages are JSON text frames tagged by `"type"` (kebab-case); ciphertext
//! chunks travel as binary frames, exactly one sealed chunk per frame. Unknown fields are
//! ignored and unknown message types parse as `Unknown`, so later versions can add
//! fields (for example resume offsets) without breaking older peers. Byte fields are
//! unpadded base64url strings.
use serde::{Deserialize, Serialize};

use crate::b64::Bytes;

/// The protocol version clients send in their `start` and `resume` messages. Version 2
/// stores uploads as index-addressed segments that a client can resume; a server of
/// version 2 refuses version 1 with `unsupported-version`.
pub const PROTOCOL_VERSION: u32 = 2;

/// WebSocket path of the upload socket.
pub const UPLOAD_PATH: &str = "/api/ws/upload";
/// WebSocket path of the download socket.
pub const DOWNLOAD_PATH: &str = "/api/ws/download";
/// HTTP path of the server's limits ([`Limits`]).
pub const LIMITS_PATH: &str = "/api/limits";
/// HTTP path prefix of share information: `GET /api/shares/{id}` ([`ShareInfo`]);
/// `GET /api/shares/{id}/status` and `DELETE /api/shares/{id}` with
/// `Authorization: Bearer <owner token>` for the sender.
pub const SHARES_PATH: &str = "/api/shares";
/// `POST` with an upload token creates an invitation; `POST {INVITATIONS_PATH}/check`
/// describes one (see docs/PROTOCOL.md, "Upload credentials").
pub const INVITATIONS_PATH: &str = "/api/invitations";

/// Client → server on the upload socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UploadRequest {
    /// First message: describes the share. The server checks it against its limits and
    /// answers [`UploadEvent::Ready`] or [`UploadEvent::Error`].
    Start {
        /// Must be [`PROTOCOL_VERSION`].
        version: u32,
        /// The 40-byte public header.
        header: Bytes,
        /// The sealed metadata block.
        metadata: Bytes,
        /// `verifier(download token)`, 32 bytes.
        verifier: Bytes,
        /// Requested lifetime in seconds.
        expires_in_secs: u64,
        /// How many complete downloads the share allows.
        max_downloads: u32,
        /// Exact total of ciphertext bytes that will follow.
        ciphertext_size: u64,
        /// An upload token (`ft1.…`) or an invitation (`fi1.…`), where the server asks
        /// for one ([`Limits::upload_access`]). Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
    },
    /// First message instead of `start`: continues an upload that an earlier connection
    /// (to any server process) began. The server answers [`UploadEvent::Ready`] listing
    /// the segments it still lacks, or [`UploadEvent::Done`] if the upload was already
    /// committed.
    Resume {
        /// Must be [`PROTOCOL_VERSION`].
        version: u32,
        /// The share ID the first `ready` gave.
        share_id: String,
        /// The 32-byte upload token the first `ready` gave.
        upload_token: Bytes,
    },
    /// Announces that the next binary frames on this socket are the chunks of segment
    /// `index`, all of them, in order.
    Segment {
        /// The segment's position, from 0.
        index: u64,
    },
    /// After every segment is acknowledged: asks the server to commit the share. Sent
    /// again after a reconnect, it answers `done` once more.
    Finish,
    /// A message type this server does not know.
    #[serde(other)]
    Unknown,
}

/// A half-open range `[start, end)` of segment indices.
pub type SegmentRange = [u64; 2];

/// Server → client on the upload socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UploadEvent {
    /// The upload session exists; segments may flow.
    Ready {
        /// The share's ID (public, goes into the link's path).
        share_id: String,
        /// How many chunks this socket may have sent beyond those in acknowledged segments.
        window: u32,
        /// Chunks per segment (every segment but the last has exactly this many).
        segment_chunks: u64,
        /// Number of segments of the whole upload.
        segments: u64,
        /// The segments the server does not have yet, as ascending disjoint ranges.
        missing: Vec<SegmentRange>,
        /// After `start` only: 32 random bytes that let the sender continue this upload
        /// after a lost connection; the server keeps only their verifier.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload_token: Option<Bytes>,
        /// After `start` only: 32 random bytes that let the sender query and delete the
        /// share once committed; the server keeps only their verifier.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner_token: Option<Bytes>,
    },
    /// Segment `segment` is stored: its object and its record both exist.
    Ack {
        /// The segment's index.
        segment: u64,
    },
    /// The share is committed and downloadable.
    Done {
        /// The share's ID.
        share_id: String,
        /// Expiry time, milliseconds since the Unix epoch.
        expires_at: i64,
    },
    /// The upload is refused or failed; the server closes the socket after this.
    Error(ErrorBody),
    /// A message type this client does not know.
    #[serde(other)]
    Unknown,
}

/// Client → server on the download socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DownloadRequest {
    /// First message: which share, and proof of passphrase and link.
    Start {
        /// Must be [`PROTOCOL_VERSION`].
        version: u32,
        /// The share's ID.
        share_id: String,
        /// The 32-byte download token from the key schedule.
        token: Bytes,
        /// Resuming a cut-off download: the claim token its first `ready` carried. Absent
        /// on a fresh download.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claim_token: Option<Bytes>,
        /// Resuming: the index of the first chunk still wanted (every chunk before it was
        /// received). Only with `claim_token`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_chunk: Option<u64>,
    },
    /// Chunks received so far (cumulative); grants the server room for more. The final
    /// chunk is sent only after an ack of every chunk before it (an ack of 0 for a
    /// one-chunk share).
    Ack {
        /// Count of chunks received.
        chunks: u64,
    },
    /// A message type this server does not know.
    #[serde(other)]
    Unknown,
}

/// Server → client on the download socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DownloadEvent {
    /// The token was right and a download was claimed; chunks follow as binary frames.
    Ready {
        /// The sealed metadata block.
        metadata: Bytes,
        /// Total ciphertext bytes that will follow.
        ciphertext_size: u64,
        /// Number of chunk frames that will follow.
        chunks: u64,
        /// How many chunks the server sends beyond the client's last ack.
        window: u32,
        /// 32 random bytes naming this download's claim, so a cut-off download can
        /// resume inside it; the server keeps only their verifier. Absent in the `ready`
        /// that answers a resumed `start`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claim_token: Option<Bytes>,
    },
    /// Every chunk was delivered and the download counted.
    Done {
        /// Downloads the share still allows (0: it is gone).
        downloads_left: u32,
    },
    /// The download is refused or failed; the server closes the socket after this.
    Error(ErrorBody),
    /// A message type this client does not know.
    #[serde(other)]
    Unknown,
}

/// A refusal: a machine-readable code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// With `wrong-token`: how many more wrong tries the share survives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

/// Error codes shared by HTTP answers and WebSocket `error` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// A message could not be parsed or has invalid fields.
    BadRequest,
    /// The client speaks a protocol or format version the server does not.
    UnsupportedVersion,
    /// A message arrived out of order (a chunk before `start`, frames after `finish`...).
    ProtocolViolation,
    /// The file is larger than the server accepts.
    TooLarge,
    /// A frame is larger than a sealed chunk can be.
    FrameTooLarge,
    /// The requested expiry is beyond the server's maximum.
    ExpiryTooLong,
    /// The requested download limit is beyond the server's maximum.
    TooManyDownloads,
    /// No such share (never existed, deleted, or fully downloaded).
    NotFound,
    /// The share has expired.
    Expired,
    /// The share has no downloads left.
    UsedUp,
    /// The download token is wrong: wrong passphrase or link.
    WrongToken,
    /// Every remaining download is claimed by someone else right now.
    Busy,
    /// The owner token is missing or wrong.
    Unauthorized,
    /// An HTTP API path asked with a method it does not answer (HTTP 405, with `Allow`).
    MethodNotAllowed,
    /// The server is out of storage space (its disk or quota is full): nothing was kept;
    /// the client may retry later.
    InsufficientStorage,
    /// The server failed; the client may retry later.
    Internal,
    /// A segment was sent again with bytes that differ from the stored one (which would
    /// mean a chunk index sealed twice over different plaintext): the upload cannot go on.
    SegmentMismatch,
    /// A WebSocket handshake came from a web page at an origin this server does not
    /// serve (answered with HTTP 403 before the upgrade).
    ForbiddenOrigin,
    /// The server (or this client address) has the most connections it allows open; the
    /// client may retry once one of its others ended. Sent before close code 1013.
    TooManyConnections,
    /// A resumed download's claim token is unknown, or its claim has ended (released,
    /// counted, or its lease ran out): the client must start a new download.
    ClaimLost,
    /// The server accepts uploads only with an upload token or an invitation, and the
    /// `start` carried none.
    CredentialRequired,
    /// The upload token or invitation is unknown, malformed, revoked, expired or used up.
    CredentialRefused,
    /// The upload would take its token or invitation past its quota.
    QuotaExceeded,
    /// This client address started too many uploads or downloads, or gave too many wrong
    /// passphrases, in a short time; the client may retry later.
    RateLimited,
    /// A code this client does not know.
    #[serde(other)]
    Unknown,
}

/// Who may upload to a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UploadAccess {
    /// Anyone who reaches the server.
    #[default]
    Open,
    /// Only with an upload token or an invitation in `start`.
    Credential,
}

/// `POST /api/invitations` (with `Authorization: Bearer <upload token>`): asks for an
/// invitation that lets someone without a token upload one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRequest {
    /// The largest file (ciphertext bytes) it allows.
    pub max_bytes: u64,
    /// How long it stays usable, in seconds.
    pub expires_in_secs: u64,
}

/// An invitation as the server describes it: in answer to [`InvitationRequest`] (with
/// `invitation` set, shown once) and to `POST /api/invitations/check` (without).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The credential to put in `start` (`fi1.…`); only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<String>,
    /// The largest file (ciphertext bytes) it allows.
    pub max_bytes: u64,
    /// Until when it can be used, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// `POST /api/invitations/check`: is this invitation still usable, and for how much.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationCheck {
    /// The credential (`fi1.…`).
    pub invitation: String,
}

/// `GET /api/limits`: what the server accepts, so clients refuse early.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest plaintext file in bytes.
    pub max_file_size: u64,
    /// Longest expiry in seconds.
    pub max_expiry_secs: u64,
    /// Expiry choices to offer, in seconds.
    pub expiry_choices_secs: Vec<u64>,
    /// Largest download limit.
    pub max_downloads: u32,
    /// Download-limit choices to offer.
    pub download_choices: Vec<u32>,
    /// Largest chunk size (plaintext bytes) the server accepts in a header.
    pub max_chunk_size: u32,
    /// Whether uploads need a credential (absent from servers before it: open).
    #[serde(default)]
    pub upload_access: UploadAccess,
}

/// `GET /api/shares/{id}`: the public part of a share. Consumes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareInfo {
    /// The 40-byte public header.
    pub header: Bytes,
    /// Total ciphertext bytes.
    pub ciphertext_size: u64,
    /// Downloads left.
    pub downloads_left: u32,
    /// Wrong-token tries left before the share is deleted.
    pub attempts_left: u32,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// `GET /api/shares/{id}/status` for the owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareStatus {
    /// Completed downloads so far.
    pub downloads_done: u32,
    /// Downloads left (0 once used up; the share is then gone).
    pub downloads_left: u32,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_format_is_pinned() {
        let start = UploadRequest::Start {
            version: 1,
            header: Bytes(vec![1, 2]),
            metadata: Bytes(vec![]),
            verifier: Bytes(vec![255]),
            expires_in_secs: 3600,
            max_downloads: 1,
            ciphertext_size: 16,
            credential: None,
        };
        assert_eq!(
            serde_json::to_value(&start).unwrap(),
            json!({"type": "start", "version": 1, "header": "AQI", "metadata": "",
                   "verifier": "_w", "expires_in_secs": 3600, "max_downloads": 1,
                   "ciphertext_size": 16})
        );
        assert_eq!(
            serde_json::to_value(UploadEvent::Ack { segment: 2 }).unwrap(),
            json!({"type": "ack", "segment": 2})
        );
        assert_eq!(
            serde_json::to_value(UploadRequest::Segment { index: 7 }).unwrap(),
            json!({"type": "segment", "index": 7})
        );
        let ready = UploadEvent::Ready {
            share_id: "x".into(),
            window: 64,
            segment_chunks: 20,
            segments: 3,
            missing: vec![[1, 3]],
            upload_token: None,
            owner_token: None,
        };
        assert_eq!(
            serde_json::to_value(&ready).unwrap(),
            json!({"type": "ready", "share_id": "x", "window": 64, "segment_chunks": 20,
                   "segments": 3, "missing": [[1, 3]]})
        );
        let err = UploadEvent::Error(ErrorBody {
            code: ErrorCode::TooLarge,
            message: "too big".into(),
            attempts_left: None,
        });
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"type": "error", "code": "too-large", "message": "too big"})
        );
        assert_eq!(
            serde_json::to_value(UploadRequest::Finish).unwrap(),
            json!({"type": "finish"})
        );
    }

    #[test]
    fn resume_fields_are_pinned_and_optional() {
        let resume = DownloadRequest::Start {
            version: 1,
            share_id: "x".into(),
            token: Bytes(vec![1, 2]),
            claim_token: Some(Bytes(vec![255])),
            from_chunk: Some(7),
        };
        assert_eq!(
            serde_json::to_value(&resume).unwrap(),
            json!({"type": "start", "version": 1, "share_id": "x", "token": "AQI",
                   "claim_token": "_w", "from_chunk": 7})
        );
        let ready = DownloadEvent::Ready {
            metadata: Bytes(vec![]),
            ciphertext_size: 16,
            chunks: 1,
            window: 2,
            claim_token: None,
        };
        assert_eq!(
            serde_json::to_value(&ready).unwrap(),
            json!({"type": "ready", "metadata": "", "ciphertext_size": 16, "chunks": 1,
                   "window": 2})
        );
        assert_eq!(
            serde_json::to_value(ErrorCode::ClaimLost).unwrap(),
            json!("claim-lost")
        );
    }

    #[test]
    fn unknown_types_and_fields_are_tolerated() {
        let m: DownloadRequest =
            serde_json::from_value(json!({"type": "resume", "offset": 5})).unwrap();
        assert_eq!(m, DownloadRequest::Unknown);
        let m: DownloadRequest =
            serde_json::from_value(json!({"type": "ack", "chunks": 3, "future": true})).unwrap();
        assert_eq!(m, DownloadRequest::Ack { chunks: 3 });
        let m: DownloadRequest = serde_json::from_value(
            json!({"type": "start", "version": 1, "share_id": "x", "token": "AQI"}),
        )
        .unwrap();
        assert!(matches!(
            m,
            DownloadRequest::Start {
                claim_token: None,
                from_chunk: None,
                ..
            }
        ));
        let e: ErrorBody =
            serde_json::from_value(json!({"code": "brand-new", "message": "x"})).unwrap();
        assert_eq!(e.code, ErrorCode::Unknown);
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<UploadRequest>("{").is_err());
        assert!(serde_json::from_str::<UploadRequest>(r#"{"type":"start"}"#).is_err());
        assert!(
            serde_json::from_value::<DownloadRequest>(
                json!({"type":"start","version":1,"share_id":"x","token":"!!"})
            )
            .is_err()
        );
    }
}
