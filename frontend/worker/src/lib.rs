//! Messages between Ferry's page and its transfer worker.
//!
//! The page owns nothing secret for longer than a click: it hands the worker a passphrase
//! (and, to send, a `File`), and the worker derives keys, encrypts or decrypts, runs the
//! WebSocket transfer and reports progress. Every message is a JS object
//! `{ json: "<Command or Report as JSON>", file?: File, blob?: Blob, port?: MessagePort }`
//! (and, between a worker and its crypto helpers, see [`Command::CryptoHelper`]);
//! the JSON carries the typed part and the optional fields carry what JSON cannot (a `File`
//! to read, the decrypted `Blob` to save, the port to the service worker that streams a
//! download to disk).
#![deny(missing_docs)]

use ferry_common::{client::ClientError, manifest::ManifestFile, protocol::ErrorCode};
use serde::{Deserialize, Serialize};

pub mod pending;
pub mod read_plan;
pub mod reconnect;
pub mod save_relay;

/// Where Trunk puts the worker's loader (Trunk does not hash worker file names). Absolute,
/// because the receive page lives under `/s/{id}`.
pub const WORKER_URL: &str = "/ferry-worker_loader.js";

/// Largest file the receive page assembles in memory as a `Blob` before saving, where it
/// cannot stream the download through its service worker (no secure context: plain http
/// on a LAN). A private-mode profile keeps Blobs in RAM, so this stays at a few hundred MiB.
pub const BLOB_CAP: u64 = 512 * 1024 * 1024;

/// Sockets an upload spreads its segments over unless the page asks otherwise; chosen by
/// measurement (BENCHMARKS.md, "Browser transfers").
pub const DEFAULT_LANES: usize = 2;

/// Most sockets one upload may use (the server allows 16 per client address).
pub const MAX_LANES: u8 = 4;

/// Which AES-GCM engine a transfer uses. Every engine writes the same bytes; the choice
/// exists for tests and comparisons (the page's `?aes=` parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AesChoice {
    /// WebCrypto where it exists, else the `aes-gcm` wasm code on helper workers (one per
    /// core), else on the transfer worker's own thread.
    #[default]
    Auto,
    /// The wasm code even where WebCrypto exists (on helpers where there are cores).
    Wasm,
    /// The wasm code on the transfer worker's own thread only.
    WasmSingle,
}

/// Page → worker.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Command {
    /// Encrypt and upload the `file` that travels beside this message.
    Upload {
        /// The passphrase the recipient will type.
        passphrase: String,
        /// Requested lifetime.
        expires_in_secs: u64,
        /// Requested download limit.
        max_downloads: u32,
        /// Which AES-GCM engine to use.
        #[serde(default)]
        aes: AesChoice,
        /// Sockets to spread the upload over (1 to [`MAX_LANES`]); the default is
        /// [`DEFAULT_LANES`] (the page's `?lanes=` parameter, for tests and comparisons).
        #[serde(default)]
        lanes: Option<u8>,
        /// The upload token (`ft1.…`) or invitation (`fi1.…`) for `start`, where the
        /// server's limits say uploads need one; absent for an open server. The page holds
        /// it in memory only, and the worker sends it nowhere else.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
        /// For a share of several files: every file, in the order its bytes follow one
        /// another in the `file` beside this message (the page's selection concatenated),
        /// sealed as the share's manifest (`docs/FORMAT.md` §4.1). Empty, with `dirs`, for a
        /// share of one file.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<ManifestFile>,
        /// For a share of several files: its empty folders.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dirs: Vec<String>,
    },
    /// Download and decrypt a share. With a `MessagePort` beside this message (whose other
    /// end the page gave its service worker) the worker claims the download over HTTP and
    /// hands the service worker its source; the service worker fetches, opens and saves the
    /// file (see `sw.js` and [`save_relay`]). Without one the worker receives it over the
    /// download socket into a `Blob` of at most [`BLOB_CAP`] bytes.
    Download {
        /// The share ID from the link's path.
        share_id: String,
        /// The share's public header (base64url), from `GET /api/shares/{id}`.
        header: String,
        /// The link secret: the link's fragment.
        secret: String,
        /// The passphrase the person typed.
        passphrase: String,
        /// Which AES-GCM engine to use.
        #[serde(default)]
        aes: AesChoice,
    },
    /// Worker → helper worker (another instance of this worker, started by a transfer
    /// worker without WebCrypto): seal or open chunks of the share with this header under
    /// the key that travels beside this message as a transferred `Uint8Array` (`key`).
    /// Chunks then arrive as `{ job, op: "seal" | "open", nonce, data }` and go back as
    /// `{ job, data }` or `{ job, error: true }`.
    CryptoHelper {
        /// The share's public header (base64url).
        header: String,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a passphrase or link secret.
        match self {
            Command::Upload { .. } => f.write_str("Command::Upload"),
            Command::Download { share_id, .. } => write!(f, "Command::Download({share_id})"),
            Command::CryptoHelper { .. } => f.write_str("Command::CryptoHelper"),
        }
    }
}

/// What the worker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Running Argon2id (a fraction of a second to a few seconds).
    DerivingKeys,
    /// Opening the WebSocket and waiting for the server's answer.
    Connecting,
    /// Chunks are flowing.
    Transferring,
    /// Waiting for the server to commit (upload) or count (download).
    Finishing,
    /// The connection broke (or the server was briefly unable); waiting before try
    /// `attempt` (from 1, at most [`reconnect::MAX_TRIES`] in a row without progress) to
    /// continue the same transfer on a new connection.
    Reconnecting {
        /// Which try in a row this is.
        attempt: u32,
    },
}

/// Worker → page.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Report {
    /// The worker is loaded and listens; the page sends its command after this.
    Alive,
    /// A new phase started.
    Phase {
        /// The phase.
        phase: Phase,
        /// Which AES-GCM engine runs the bulk work: `"webcrypto"` or `"wasm"`.
        engine: Option<String>,
    },
    /// Plaintext bytes done so far (acknowledged by the server on upload, decrypted on
    /// download) out of `total`.
    Progress {
        /// Bytes done.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// Upload committed.
    Uploaded {
        /// The share ID.
        share_id: String,
        /// The full link, `{origin}/s/{share_id}#{link secret}`.
        link: String,
        /// The link's QR code as an SVG element (drawn here, off the main thread).
        qr_svg: String,
        /// The owner token (base64url) for status and delete.
        owner_token: String,
        /// Expiry, milliseconds since the Unix epoch.
        expires_at: i64,
    },
    /// The token was accepted and the metadata opened.
    Metadata {
        /// Original file name (for a share of several files, the ZIP's name).
        name: String,
        /// Plaintext size.
        size: u64,
        /// For a share of several files: its files and empty folders, under the safe
        /// names they get in the ZIP; empty for a single file.
        #[serde(default)]
        entries: Vec<ListedEntry>,
    },
    /// Streaming download: the service worker has the download's source and fetches, opens
    /// and saves the file; the `port` beside this message carries its reports (see
    /// [`save_relay`]). The transfer worker is finished.
    HandedOver {
        /// Original file name.
        name: String,
        /// Plaintext size.
        size: u64,
    },
    /// Streaming download: the first chunks verified (all of a small file), so the page
    /// should now have its service worker start the browser's download of the stream.
    Streaming {
        /// Original file name.
        name: String,
        /// Plaintext size.
        size: u64,
    },
    /// Every chunk verified and, when streaming, handed to the download manager; without
    /// streaming the `blob` beside this message is the whole file.
    Downloaded {
        /// Original file name.
        name: String,
        /// Downloads the share still allows, if the server said.
        downloads_left: Option<u32>,
    },
    /// About continuing an upload that an earlier page began (see [`pending`]).
    Resume(ResumeNote),
    /// The transfer failed; the worker is finished.
    Failed(Failure),
}

/// One entry of a share of several files, as the receive page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedEntry {
    /// Path inside the ZIP (folders end with `/`).
    pub path: String,
    /// Size in bytes; `None` for a folder.
    pub size: Option<u64>,
}

/// What became of an interrupted upload kept in the browser's storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResumeNote {
    /// The file and passphrase match an interrupted upload and the file seals to every
    /// chunk sent before: this upload continues it, and its link will be that upload's.
    Resuming,
    /// The server answered the resumed upload: `already` of `total` plaintext bytes were
    /// stored before and are not sent again.
    Continued {
        /// Bytes the server already had.
        already: u64,
        /// Bytes in all.
        total: u64,
    },
    /// An interrupted upload of a file this size exists but is not continued, for this
    /// reason; a new upload starts instead.
    NotResumed(NotResumed),
    /// The upload's record was stored (the page may remove it if the person cancels).
    Kept {
        /// The share ID (part of the link, no secret beyond it).
        share_id: String,
    },
}

/// Why an interrupted upload was not continued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotResumed {
    /// The passphrase is not the one that upload used (its record does not open).
    OtherPassphrase,
    /// The chosen file's name or modification time differ from that upload's file.
    OtherFile,
    /// The file's content differs from what was sent before (a re-sealed chunk did not
    /// match its kept tag); that upload's record was removed.
    FileChanged,
    /// The server refused to continue it (expired, abandoned or already gone); its record
    /// was removed.
    ServerRefused,
}

/// Why a transfer failed, as a code the page can match on (the worker and the page are
/// built together, so the set is closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCode {
    /// The server refused, with this code (`wrong-token`, `used-up`, `claim-lost`, ...).
    Server(ErrorCode),
    /// The metadata or a chunk did not verify, or the stream was cut short: altered in
    /// storage.
    Corrupted,
    /// The connection could not be opened, or broke (after the tries to replace it).
    Network,
    /// Larger than this page can save without streaming ([`BLOB_CAP`]).
    TooLarge,
    /// The link's secret (after `#`) is missing or damaged.
    LinkIncomplete,
    /// The passphrase does not open the share (passphrase-only links).
    WrongPassphrase,
    /// No passphrase was typed.
    EmptyPassphrase,
    /// The file to send could not be read (moved or changed on disk).
    Read,
    /// The person cancelled the download.
    Cancelled,
    /// Anything else: a browser failure, or a server that broke the protocol.
    Internal,
}

/// Why a transfer failed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    /// What went wrong, for the page to match on.
    pub code: FailureCode,
    /// A sentence for people.
    pub message: String,
    /// With `wrong-token`: wrong tries the share still survives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

impl Failure {
    /// A failure with a code and a message.
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            attempts_left: None,
        }
    }

    /// A connection that broke mid-transfer (and could not be replaced).
    pub fn lost() -> Self {
        Failure::new(
            FailureCode::Network,
            "the connection to the server was lost; please try again",
        )
    }
}

impl From<ClientError> for Failure {
    /// A failure of the client core: a server refusal keeps its code (and the attempts
    /// left after a wrong token); anything else is the page's own kind of failure.
    fn from(e: ClientError) -> Failure {
        if let (Some(code), Some(message)) = (e.server_code(), e.server_message()) {
            let attempts_left = match &e {
                ClientError::WrongToken { attempts_left, .. } => *attempts_left,
                _ => None,
            };
            return Failure {
                code: FailureCode::Server(code),
                message: message.to_owned(),
                attempts_left,
            };
        }
        match e {
            ClientError::Closed { .. } => Failure::lost(),
            ClientError::Misuse(_) => Failure::new(FailureCode::Internal, e.to_string()),
            _ => Failure::new(FailureCode::Internal, "the server answered out of turn"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure crosses from the worker to the page as JSON: its code survives typed,
    /// server codes included (before, a string the page compared by hand).
    #[test]
    fn failures_cross_to_the_page_typed() {
        for code in [
            FailureCode::Server(ErrorCode::WrongToken),
            FailureCode::Server(ErrorCode::ClaimLost),
            FailureCode::Server(ErrorCode::Internal),
            FailureCode::Internal,
            FailureCode::TooLarge,
            FailureCode::Server(ErrorCode::TooLarge),
            FailureCode::Corrupted,
            FailureCode::Network,
        ] {
            let report = Report::Failed(Failure {
                code,
                message: "m".into(),
                attempts_left: Some(3),
            });
            let json = serde_json::to_string(&report).unwrap();
            let Report::Failed(back) = serde_json::from_str(&json).unwrap() else {
                panic!("not a failure: {json}");
            };
            assert_eq!(back.code, code, "{json}");
            assert_eq!(back.attempts_left, Some(3));
        }
        let json = serde_json::to_string(&FailureCode::Server(ErrorCode::UsedUp)).unwrap();
        assert_eq!(json, r#"{"server":"used-up"}"#);
        assert_eq!(
            serde_json::to_string(&FailureCode::Corrupted).unwrap(),
            r#""corrupted""#
        );
    }

    /// The upload's credential reaches the worker when the page has one, and a command
    /// without one (an open server) carries no `credential` key at all; its `Debug` never
    /// shows it.
    #[test]
    fn upload_commands_carry_the_credential_only_when_given() {
        let upload = |credential: Option<&str>| Command::Upload {
            passphrase: "p".into(),
            expires_in_secs: 60,
            max_downloads: 1,
            aes: AesChoice::Auto,
            lanes: None,
            credential: credential.map(str::to_owned),
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let json = serde_json::to_string(&upload(Some("ft1.id.secret"))).unwrap();
        let Command::Upload { credential, .. } = serde_json::from_str(&json).unwrap() else {
            panic!("not an upload: {json}");
        };
        assert_eq!(credential.as_deref(), Some("ft1.id.secret"));
        let json = serde_json::to_string(&upload(None)).unwrap();
        assert!(!json.contains("credential"), "{json}");
        assert_eq!(
            format!("{:?}", upload(Some("ft1.id.secret"))),
            "Command::Upload"
        );
    }

    /// A share of several files takes its manifest along; one file's command has none.
    #[test]
    fn upload_commands_carry_a_manifest_only_for_several_files() {
        let file = ManifestFile {
            path: "photos/a.jpg".into(),
            size: 3,
            mtime: Some(1_700_000_000_000),
        };
        let upload = |files: Vec<ManifestFile>, dirs: Vec<String>| Command::Upload {
            passphrase: "p".into(),
            expires_in_secs: 60,
            max_downloads: 1,
            aes: AesChoice::Auto,
            lanes: None,
            credential: None,
            files,
            dirs,
        };
        let json = serde_json::to_string(&upload(Vec::new(), Vec::new())).unwrap();
        assert!(!json.contains("files") && !json.contains("dirs"), "{json}");
        let json =
            serde_json::to_string(&upload(vec![file.clone()], vec!["empty".into()])).unwrap();
        let Command::Upload { files, dirs, .. } = serde_json::from_str(&json).unwrap() else {
            panic!("not an upload: {json}");
        };
        assert_eq!((files, dirs), (vec![file], vec!["empty".to_owned()]));
    }

    /// What became of an interrupted upload crosses to the page typed too, so the page
    /// words it without comparing strings.
    #[test]
    fn resume_notes_cross_to_the_page_typed() {
        for note in [
            ResumeNote::Resuming,
            ResumeNote::Continued {
                already: 5,
                total: 9,
            },
            ResumeNote::NotResumed(NotResumed::OtherPassphrase),
            ResumeNote::NotResumed(NotResumed::OtherFile),
            ResumeNote::NotResumed(NotResumed::FileChanged),
            ResumeNote::NotResumed(NotResumed::ServerRefused),
            ResumeNote::Kept {
                share_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            },
        ] {
            let json = serde_json::to_string(&Report::Resume(note.clone())).unwrap();
            let Report::Resume(back) = serde_json::from_str(&json).unwrap() else {
                panic!("not a resume note: {json}");
            };
            assert_eq!(back, note, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&ResumeNote::NotResumed(NotResumed::FileChanged)).unwrap(),
            r#"{"not-resumed":"file-changed"}"#
        );
    }
}
