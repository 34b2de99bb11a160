//! The client's typed failures: every server `error` code, a server that breaks the
//! protocol, a closed socket, and a transport that misuses the core.
use crate::protocol::{ErrorBody, ErrorCode};

/// Why a share cannot be downloaded any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Never existed, deleted, or fully downloaded (`not-found`).
    NotFound,
    /// Past its expiry time (`expired`).
    Expired,
    /// No downloads left (`used-up`).
    UsedUp,
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gone::NotFound => {
                "this link does not exist (any more): it was never valid, was deleted, or was already downloaded"
            }
            Gone::Expired => "this link has expired",
            Gone::UsedUp => "this link has no downloads left",
        })
    }
}

/// Everything an upload or a download can fail with, as seen by a client.
///
/// The server's refusals keep its sentence (`message`) for people; programs match on the
/// variant. Nothing here carries a secret: no token, key, full share ID or file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `wrong-token`: wrong passphrase or link.
    #[error("wrong passphrase or link")]
    WrongToken {
        /// Wrong tries the share survives, when the server said.
        attempts_left: Option<u32>,
        /// The server's sentence.
        message: String,
    },
    /// `not-found`, `expired` or `used-up`.
    #[error("{why}")]
    Gone {
        /// Which of the three.
        why: Gone,
        /// The server's sentence.
        message: String,
    },
    /// `busy`: every remaining download is claimed by someone else right now.
    #[error("someone else is downloading this share right now; try again in a minute")]
    Busy {
        /// The server's sentence.
        message: String,
    },
    /// `too-large`: the file is larger than the server accepts.
    #[error("the server refused: {message}")]
    TooLarge {
        /// The server's sentence.
        message: String,
    },
    /// `insufficient-storage`: the server's disk is full; nothing was kept.
    #[error("the server refused: {message}")]
    InsufficientStorage {
        /// The server's sentence.
        message: String,
    },
    /// `too-many-connections`: over the server's socket caps; retry later.
    #[error("the server refused the connection: {message}")]
    TooManyConnections {
        /// The server's sentence.
        message: String,
    },
    /// `forbidden-origin`: a web page at an origin the server does not serve.
    #[error("the server refused: {message}")]
    ForbiddenOrigin {
        /// The server's sentence.
        message: String,
    },
    /// `claim-lost`: a resumed download's claim ended (released, counted, or its lease
    /// ran out) or its token is wrong; only a new download can follow.
    #[error("the interrupted download cannot continue: {message}")]
    ClaimLost {
        /// The server's sentence.
        message: String,
    },
    /// `internal`: the server failed; retry later.
    #[error("the server failed: {message}")]
    Internal {
        /// The server's sentence.
        message: String,
    },
    /// Any other refusal (`bad-request`, `unsupported-version`, `protocol-violation`,
    /// `frame-too-large`, `expiry-too-long`, `too-many-downloads`, `unauthorized`,
    /// `segment-mismatch`, `credential-required`, `credential-refused`, `quota-exceeded`,
    /// `rate-limited`, or a code this build does not know): the client asked for something the server does
    /// not accept.
    #[error("the server refused: {message}")]
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The server sent something the protocol does not allow at this point (a message
    /// out of turn, a chunk of the wrong size, more chunks than the window or the share,
    /// an ack that goes backwards). The transfer cannot continue.
    #[error("the server broke the protocol: {0}")]
    ServerProtocol(&'static str),
    /// The server sent a text message that is not valid protocol JSON.
    #[error("the server sent a malformed message: {0}")]
    Malformed(String),
    /// The socket closed before the transfer ended.
    #[error("{}", closed_sentence(.reason.as_deref()))]
    Closed {
        /// The close frame's reason, if it had one.
        reason: Option<String>,
    },
    /// Resuming an upload, a chunk sealed from the file differs from the one sealed
    /// before under the same index: the file changed. Sending it would reuse a nonce, so
    /// the upload cannot continue; a new upload (new key) can.
    #[error("the file changed since this upload began (chunk {chunk} differs); start a new upload")]
    SourceChanged {
        /// The first chunk found to differ.
        chunk: u64,
    },
    /// The transport used the core wrongly (a chunk of the wrong size, an event after the
    /// end): a bug in the client, not in the server.
    #[error("internal error: {0}")]
    Misuse(&'static str),
}

fn closed_sentence(reason: Option<&str>) -> String {
    match reason.filter(|r| !r.is_empty()) {
        Some(r) => format!("the server closed the connection: {r}"),
        None => "the server closed the connection unexpectedly".into(),
    }
}

impl ClientError {
    /// The server's code, when this is a refusal the server sent.
    pub fn server_code(&self) -> Option<ErrorCode> {
        Some(match self {
            ClientError::WrongToken { .. } => ErrorCode::WrongToken,
            ClientError::Gone { why, .. } => match why {
                Gone::NotFound => ErrorCode::NotFound,
                Gone::Expired => ErrorCode::Expired,
                Gone::UsedUp => ErrorCode::UsedUp,
            },
            ClientError::Busy { .. } => ErrorCode::Busy,
            ClientError::TooLarge { .. } => ErrorCode::TooLarge,
            ClientError::InsufficientStorage { .. } => ErrorCode::InsufficientStorage,
            ClientError::TooManyConnections { .. } => ErrorCode::TooManyConnections,
            ClientError::ForbiddenOrigin { .. } => ErrorCode::ForbiddenOrigin,
            ClientError::Internal { .. } => ErrorCode::Internal,
            ClientError::ClaimLost { .. } => ErrorCode::ClaimLost,
            ClientError::Refused { code, .. } => *code,
            ClientError::ServerProtocol(_)
            | ClientError::Malformed(_)
            | ClientError::Closed { .. }
            | ClientError::SourceChanged { .. }
            | ClientError::Misuse(_) => return None,
        })
    }

    /// The server's own sentence, when this is a refusal the server sent.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            ClientError::WrongToken { message, .. }
            | ClientError::Gone { message, .. }
            | ClientError::Busy { message }
            | ClientError::TooLarge { message }
            | ClientError::InsufficientStorage { message }
            | ClientError::TooManyConnections { message }
            | ClientError::ForbiddenOrigin { message }
            | ClientError::Internal { message }
            | ClientError::ClaimLost { message }
            | ClientError::Refused { message, .. } => Some(message),
            ClientError::ServerProtocol(_)
            | ClientError::Malformed(_)
            | ClientError::Closed { .. }
            | ClientError::SourceChanged { .. }
            | ClientError::Misuse(_) => None,
        }
    }

    /// Whether trying the same transfer again later may succeed (the server was busy,
    /// full or failing, or the connection broke), as opposed to a refusal that will not
    /// change.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClientError::Busy { .. }
                | ClientError::InsufficientStorage { .. }
                | ClientError::TooManyConnections { .. }
                | ClientError::Internal { .. }
                | ClientError::Closed { .. }
        )
    }
}

impl From<ErrorBody> for ClientError {
    fn from(body: ErrorBody) -> ClientError {
        let message = body.message;
        match body.code {
            ErrorCode::WrongToken => ClientError::WrongToken {
                attempts_left: body.attempts_left,
                message,
            },
            ErrorCode::NotFound => ClientError::Gone {
                why: Gone::NotFound,
                message,
            },
            ErrorCode::Expired => ClientError::Gone {
                why: Gone::Expired,
                message,
            },
            ErrorCode::UsedUp => ClientError::Gone {
                why: Gone::UsedUp,
                message,
            },
            ErrorCode::Busy => ClientError::Busy { message },
            ErrorCode::TooLarge => ClientError::TooLarge { message },
            ErrorCode::InsufficientStorage => ClientError::InsufficientStorage { message },
            ErrorCode::TooManyConnections => ClientError::TooManyConnections { message },
            ErrorCode::ForbiddenOrigin => ClientError::ForbiddenOrigin { message },
            ErrorCode::Internal => ClientError::Internal { message },
            ErrorCode::ClaimLost => ClientError::ClaimLost { message },
            code @ (ErrorCode::BadRequest
            | ErrorCode::UnsupportedVersion
            | ErrorCode::ProtocolViolation
            | ErrorCode::FrameTooLarge
            | ErrorCode::ExpiryTooLong
            | ErrorCode::TooManyDownloads
            | ErrorCode::Unauthorized
            | ErrorCode::SegmentMismatch
            | ErrorCode::MethodNotAllowed
            | ErrorCode::CredentialRequired
            | ErrorCode::CredentialRefused
            | ErrorCode::QuotaExceeded
            | ErrorCode::RateLimited
            | ErrorCode::Unknown) => ClientError::Refused { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Every code the protocol defines, each with the variant it must become.
    #[test]
    fn every_error_code_maps_to_its_variant() {
        let body = |code| ErrorBody {
            code,
            message: "m".into(),
            attempts_left: Some(4),
        };
        let m = || "m".to_owned();
        let gone = |why| ClientError::Gone { why, message: m() };
        let cases = [
            (
                ErrorCode::WrongToken,
                ClientError::WrongToken {
                    attempts_left: Some(4),
                    message: m(),
                },
            ),
            (ErrorCode::NotFound, gone(Gone::NotFound)),
            (ErrorCode::Expired, gone(Gone::Expired)),
            (ErrorCode::UsedUp, gone(Gone::UsedUp)),
            (ErrorCode::Busy, ClientError::Busy { message: m() }),
            (ErrorCode::TooLarge, ClientError::TooLarge { message: m() }),
            (
                ErrorCode::InsufficientStorage,
                ClientError::InsufficientStorage { message: m() },
            ),
            (
                ErrorCode::TooManyConnections,
                ClientError::TooManyConnections { message: m() },
            ),
            (
                ErrorCode::ForbiddenOrigin,
                ClientError::ForbiddenOrigin { message: m() },
            ),
            (ErrorCode::Internal, ClientError::Internal { message: m() }),
            (
                ErrorCode::ClaimLost,
                ClientError::ClaimLost { message: m() },
            ),
        ];
        for (code, want) in cases {
            let got = ClientError::from(body(code));
            assert_eq!(got, want, "{code:?}");
            assert_eq!(got.server_code(), Some(code));
            assert_eq!(got.server_message(), Some("m"));
        }
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::UnsupportedVersion,
            ErrorCode::ProtocolViolation,
            ErrorCode::FrameTooLarge,
            ErrorCode::ExpiryTooLong,
            ErrorCode::TooManyDownloads,
            ErrorCode::Unauthorized,
            ErrorCode::SegmentMismatch,
            ErrorCode::MethodNotAllowed,
            ErrorCode::CredentialRequired,
            ErrorCode::CredentialRefused,
            ErrorCode::QuotaExceeded,
            ErrorCode::RateLimited,
            ErrorCode::Unknown,
        ] {
            let got = ClientError::from(body(code));
            assert_eq!(got, ClientError::Refused { code, message: m() });
            assert_eq!(got.server_code(), Some(code));
            assert!(!got.is_transient(), "{code:?}");
        }
    }

    #[test]
    fn transient_failures_are_the_retryable_ones() {
        let m = String::new;
        assert!(ClientError::Busy { message: m() }.is_transient());
        assert!(ClientError::Closed { reason: None }.is_transient());
        let used_up = ClientError::Gone {
            why: Gone::UsedUp,
            message: m(),
        };
        assert!(!used_up.is_transient());
        assert_eq!(used_up.to_string(), "this link has no downloads left");
        assert!(!ClientError::ServerProtocol("x").is_transient());
        assert_eq!(
            ClientError::Closed {
                reason: Some("bye".into())
            }
            .to_string(),
            "the server closed the connection: bye"
        );
    }
}
