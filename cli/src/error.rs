//! The CLI's typed errors and the exit code each maps to.
//!
//! Every variant renders as one sentence a person can act on; [`Error::exit_code`] gives
//! scripts a stable number per category (documented in `--help` and `cli/README.md`).
use std::{io, path::PathBuf};

use ferry_common::{
    client::ClientError,
    protocol::{ErrorBody, ErrorCode},
};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: anything not covered below (local I/O, refusing to overwrite, ...).
pub const EXIT_OTHER: u8 = 1;
/// Exit code: the command line or the passphrase input was unusable.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: wrong passphrase (or a damaged link secret).
pub const EXIT_WRONG_PASSPHRASE: u8 = 3;
/// Exit code: the share is gone (unknown, expired or used up).
pub const EXIT_GONE: u8 = 4;
/// Exit code: the data failed verification (tampered or corrupted).
pub const EXIT_TAMPERED: u8 = 5;
/// Exit code: the network or the server failed.
pub const EXIT_NETWORK: u8 = 6;
/// Exit code: interrupted by Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a share cannot be downloaded any more (the client core's, with its sentences).
pub use ferry_common::client::Gone;

/// Everything `ferry` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line or passphrase input cannot be used.
    #[error("{0}")]
    Usage(String),
    /// The server refused the download token, or the passphrase does not open the share.
    #[error("wrong passphrase or link{}", attempts_note(*.attempts_left))]
    WrongPassphrase {
        /// Wrong tries the share survives, when the server said.
        attempts_left: Option<u32>,
    },
    /// The share is unknown, expired or used up.
    #[error("{0}")]
    Gone(Gone),
    /// Data failed authentication: tampered with or corrupted in storage or transit.
    #[error("the download failed verification: {0}; nothing was saved")]
    Tampered(String),
    /// The server could not be reached, broke the connection or failed.
    #[error("{0}")]
    Network(String),
    /// The server refused the request for a reason the client could not foresee.
    #[error("the server refused: {message}")]
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The file is larger than the server accepts.
    #[error("{name} is {size} bytes; this server accepts at most {max} bytes")]
    TooLarge {
        /// The file's name.
        name: String,
        /// Its size.
        size: u64,
        /// The server's maximum.
        max: u64,
    },
    /// The target file exists and `--force` was not given.
    #[error("{} already exists; use --force to overwrite it or -o to choose another path", .0.display())]
    Exists(PathBuf),
    /// The verified file could not take its name; it was kept under its temporary name.
    #[error("{reason}; the verified file was kept as {}", .path.display())]
    Kept {
        /// The temporary file that holds the download.
        path: PathBuf,
        /// Why no name could be claimed.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The share uses a format or feature this build does not know.
    #[error("{0}")]
    Unsupported(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
    /// An interrupted upload cannot be resumed: the file is not the one it began with.
    #[error(
        "{0} changed since its interrupted upload began, so that upload cannot be resumed \
         (it would mix two files); run the command again to start a new upload"
    )]
    SourceChanged(String),
    /// An interrupted download's claim is gone, so its partial file cannot be completed
    /// (and was removed).
    #[error(
        "the interrupted download cannot be resumed: the server no longer holds its claim \
         (its lease ran out, which counted it as a download, or it was cut within its first \
         window, which counted nothing); its partial file was removed; run the command again \
         to start a new download if the link allows one"
    )]
    ClaimLost,
    /// Ctrl-C during a transfer; says what was cleaned up.
    #[error("interrupted; {0}")]
    Interrupted(&'static str),
}

fn attempts_note(attempts_left: Option<u32>) -> String {
    match attempts_left {
        Some(0) => " (that was the last try: the share has been deleted)".into(),
        Some(1) => " (1 more wrong try deletes the share)".into(),
        Some(n) => format!(" ({n} more wrong tries delete the share)"),
        None => String::new(),
    }
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::WrongPassphrase { .. } => EXIT_WRONG_PASSPHRASE,
            Error::Gone(_) => EXIT_GONE,
            Error::Tampered(_) => EXIT_TAMPERED,
            Error::Network(_) | Error::ClaimLost => EXIT_NETWORK,
            Error::Refused { code, .. } => match code {
                ErrorCode::Internal
                | ErrorCode::InsufficientStorage
                | ErrorCode::Busy
                | ErrorCode::TooManyConnections
                | ErrorCode::RateLimited
                | ErrorCode::Unknown => EXIT_NETWORK,
                _ => EXIT_OTHER,
            },
            Error::Interrupted(_) => EXIT_INTERRUPTED,
            Error::TooLarge { .. }
            | Error::Exists(_)
            | Error::Kept { .. }
            | Error::Io { .. }
            | Error::Unsupported(_)
            | Error::SourceChanged(_)
            | Error::Other(_) => EXIT_OTHER,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// Maps a server `error` message (WebSocket or HTTP body) to an error.
    pub fn from_server(body: ErrorBody) -> Error {
        Error::from_client(body.into())
    }

    /// Maps a failure of the client core (a server refusal, a server that broke the
    /// protocol, a closed socket) to an error.
    pub fn from_client(e: ClientError) -> Error {
        let code = e.server_code().unwrap_or(ErrorCode::Unknown);
        match e {
            ClientError::Gone { why, .. } => Error::Gone(why),
            ClientError::WrongToken { attempts_left, .. } => {
                Error::WrongPassphrase { attempts_left }
            }
            ClientError::Busy { .. }
            | ClientError::Internal { .. }
            | ClientError::TooManyConnections { .. }
            | ClientError::ServerProtocol(_)
            | ClientError::Malformed(_)
            | ClientError::ClaimLost { .. }
            | ClientError::Closed { .. } => Error::Network(e.to_string()),
            ClientError::TooLarge { message }
            | ClientError::InsufficientStorage { message }
            | ClientError::ForbiddenOrigin { message }
            | ClientError::Refused { message, .. } => Error::Refused { code, message },
            other => Error::Other(other.to_string()),
        }
    }

    /// Maps an envelope error met while opening a share that the server served.
    pub fn from_envelope(e: ferry_common::Error) -> Error {
        use ferry_common::Error as E;
        match e {
            E::WrongPassphrase => Error::WrongPassphrase {
                attempts_left: None,
            },
            E::LinkSecret => Error::Usage(e.to_string()),
            E::EmptyPassphrase => Error::Usage(e.to_string()),
            E::UnsupportedVersion(_) | E::UnknownFlags(_) | E::UnknownKdf(_) => {
                Error::Unsupported(e.to_string())
            }
            E::Corrupted | E::Truncated | E::TrailingData => Error::Tampered(match e {
                E::Truncated => "the file ended early".into(),
                E::TrailingData => "data follows the end of the file".into(),
                _ => "a chunk was modified, dropped or reordered".into(),
            }),
            E::NotAHeader | E::ExcessiveWork(_) | E::InvalidKdfParams | E::InvalidChunkSize => {
                Error::Tampered(format!("the share's public header is invalid ({e})"))
            }
            // No Ferry sender writes it: the server, the network or the link is hostile.
            // Checked before the passphrase is asked for, so it is never used on it.
            E::WeakKdf(_) => Error::Tampered(format!(
                "the share's public header was not written by Ferry: {e}"
            )),
            other => Error::Other(other.to_string()),
        }
    }
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_per_category() {
        let cases = [
            (Error::Usage("x".into()), 2),
            (
                Error::WrongPassphrase {
                    attempts_left: Some(2),
                },
                3,
            ),
            (Error::Gone(Gone::Expired), 4),
            (Error::Tampered("x".into()), 5),
            (Error::Network("x".into()), 6),
            (Error::Exists("f".into()), 1),
            (
                Error::Kept {
                    path: ".ferry-x.part".into(),
                    reason: "r".into(),
                },
                1,
            ),
            (Error::Interrupted("x"), 130),
            (Error::ClaimLost, 6),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }

    #[test]
    fn server_codes_map_to_categories() {
        let body = |code| ErrorBody {
            code,
            message: "m".into(),
            attempts_left: Some(4),
        };
        assert_eq!(Error::from_server(body(ErrorCode::UsedUp)).exit_code(), 4);
        assert_eq!(Error::from_server(body(ErrorCode::NotFound)).exit_code(), 4);
        assert_eq!(Error::from_server(body(ErrorCode::Expired)).exit_code(), 4);
        let wrong = Error::from_server(body(ErrorCode::WrongToken));
        assert_eq!(wrong.exit_code(), 3);
        assert!(wrong.to_string().contains("4 more wrong tries"));
        assert_eq!(Error::from_server(body(ErrorCode::Internal)).exit_code(), 6);
        let full = Error::from_server(body(ErrorCode::InsufficientStorage));
        assert_eq!(
            full.exit_code(),
            6,
            "a full server disk is worth retrying later"
        );
        assert_eq!(Error::from_server(body(ErrorCode::TooLarge)).exit_code(), 1);
    }

    #[test]
    fn messages_are_one_line() {
        let all = [
            Error::Gone(Gone::NotFound).to_string(),
            Error::Tampered("a chunk was modified".into()).to_string(),
            Error::WrongPassphrase {
                attempts_left: Some(0),
            }
            .to_string(),
        ];
        for m in all {
            assert!(!m.contains('\n'), "{m}");
        }
    }
}
