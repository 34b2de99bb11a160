//! What the two WebSocket handlers share: frame limits, flow-control windows, refusals
//! and how a socket ends.
use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use ferry_common::protocol::{ErrorBody, ErrorCode};
use serde::Serialize;

use crate::config::SERVER_MAX_CHUNK_SIZE;

/// Largest WebSocket frame (and aggregated message) the server reads: one sealed chunk
/// of the largest chunk size, plus room. Anything bigger ends the socket with
/// `frame-too-large` and close code 1009.
pub const MAX_FRAME_SIZE: usize = SERVER_MAX_CHUNK_SIZE as usize + ferry_common::TAG_LEN + 1024;

/// Most chunks in flight per socket.
pub const MAX_WINDOW: u32 = 64;
/// Bytes of chunks in flight a window aims at: 16 MiB (63 chunks of the default 256 KiB,
/// 15 of 1 MiB, never fewer than 2). Large enough that a browser can read the file in
/// multi-MiB blocks (one `File.slice` round trip each) without reading past the window.
const WINDOW_BYTES: u64 = 16 * 1024 * 1024;

/// The flow-control window for sealed chunks of `sealed_len` bytes.
pub fn window_for(sealed_len: u64) -> u32 {
    (WINDOW_BYTES / sealed_len.max(1)).clamp(2, u64::from(MAX_WINDOW)) as u32
}

/// What a client is told when the server's storage is full.
pub const STORAGE_FULL_MESSAGE: &str =
    "the server is out of storage space; nothing was kept, please try again later";

/// Why a socket ends early: an error sent to the client (when there is one) and a close
/// frame.
#[derive(Debug)]
pub enum End {
    /// Refuse: send `error{code, message}` and close with `close` and the message.
    Refuse {
        /// The body sent as an `error` message.
        body: ErrorBody,
        /// Close code.
        close: CloseCode,
    },
    /// The client went away (closed, disconnected); nothing more to send.
    Gone,
}

impl End {
    /// A refusal with close code 1008 (policy).
    pub fn refuse(code: ErrorCode, message: impl Into<String>) -> End {
        let close = match code {
            ErrorCode::FrameTooLarge | ErrorCode::TooLarge => CloseCode::Size,
            ErrorCode::Internal => CloseCode::Error,
            ErrorCode::InsufficientStorage => CloseCode::Again,
            ErrorCode::BadRequest
            | ErrorCode::ProtocolViolation
            | ErrorCode::UnsupportedVersion => CloseCode::Protocol,
            _ => CloseCode::Policy,
        };
        End::Refuse {
            body: ErrorBody {
                code,
                message: message.into(),
                attempts_left: None,
            },
            close,
        }
    }

    /// A failure of the server's storage or database: logged in full, reported vaguely,
    /// except that a full disk is named as such (the client should try later, and knows
    /// nothing was kept).
    pub fn internal(err: anyhow::Error) -> End {
        let message = crate::ids::redact(&format!("{err:#}"));
        if crate::space::is_storage_full(&err) {
            tracing::error!(error = message, "storage full");
            return End::refuse(ErrorCode::InsufficientStorage, STORAGE_FULL_MESSAGE);
        }
        tracing::error!(error = message, "internal error");
        End::refuse(
            ErrorCode::Internal,
            "the server failed; please try again later",
        )
    }

    /// The machine-readable code, for logs.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            End::Refuse { body, .. } => Some(body.code),
            End::Gone => None,
        }
    }
}

impl From<anyhow::Error> for End {
    fn from(err: anyhow::Error) -> End {
        End::internal(err)
    }
}

/// Sends one JSON control message.
pub async fn send_json<T: Serialize>(session: &mut Session, msg: &T) -> Result<(), End> {
    // unwrap: protocol messages are plain structs of strings and integers.
    let text = serde_json::to_string(msg).expect("protocol messages serialise");
    session.text(text).await.map_err(|_| End::Gone)
}

/// Ends a socket: on a refusal sends the error (built by `wrap`, the socket's own event
/// type) and closes with the code and the message as close reason.
pub async fn finish<T: Serialize>(
    mut session: Session,
    end: Option<End>,
    wrap: impl FnOnce(ErrorBody) -> T,
) {
    match end {
        None => {
            let _ = session.close(Some(CloseCode::Normal.into())).await;
        }
        Some(End::Gone) => {
            let _ = session.close(None).await;
        }
        Some(End::Refuse { body, close }) => {
            let reason = CloseReason {
                code: close,
                description: Some(close_description(&body.message)),
            };
            let _ = send_json(&mut session, &wrap(body)).await;
            let _ = session.close(Some(reason)).await;
        }
    }
}

/// RFC 6455 §5.5: a close frame's payload is at most 125 bytes, 2 of them the code. A
/// longer reason (a parser's message can be long) would make the close frame itself invalid,
/// so it is cut at a character boundary; the full sentence already went out in the `error`
/// message.
const MAX_CLOSE_REASON: usize = 123;

fn close_description(message: &str) -> String {
    let mut end = message.len().min(MAX_CLOSE_REASON);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_owned()
}

/// One message from the client, with pings answered and the idle timeout applied.
pub enum Incoming {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(bytes::Bytes),
    /// The client closed or disconnected.
    Closed,
}

/// Waits for the next text or binary message.
pub async fn next_message(
    session: &mut Session,
    stream: &mut AggregatedMessageStream,
    idle: Duration,
) -> Result<Incoming, End> {
    loop {
        let msg = match tokio::time::timeout(idle, stream.recv()).await {
            Err(_) => {
                return Err(End::refuse(
                    ErrorCode::ProtocolViolation,
                    format!("no message for {} seconds; closing", idle.as_secs()),
                ));
            }
            Ok(None) => return Ok(Incoming::Closed),
            Ok(Some(msg)) => msg,
        };
        match msg {
            Ok(AggregatedMessage::Text(text)) => return Ok(Incoming::Text(text.to_string())),
            Ok(AggregatedMessage::Binary(bytes)) => return Ok(Incoming::Binary(bytes)),
            Ok(AggregatedMessage::Ping(bytes)) => {
                session.pong(&bytes).await.map_err(|_| End::Gone)?;
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => return Ok(Incoming::Closed),
            Err(actix_ws::ProtocolError::Overflow) => {
                return Err(End::refuse(
                    ErrorCode::FrameTooLarge,
                    format!(
                        "a frame was larger than {} bytes, more than any chunk can be",
                        MAX_FRAME_SIZE
                    ),
                ));
            }
            Err(err) => {
                return Err(End::refuse(
                    ErrorCode::BadRequest,
                    format!("malformed WebSocket frame: {err}"),
                ));
            }
        }
    }
}

/// Wraps a message stream with the server's frame limits.
pub fn limit(stream: actix_ws::MessageStream) -> AggregatedMessageStream {
    stream
        .max_frame_size(MAX_FRAME_SIZE)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_bound_memory() {
        assert_eq!(window_for(256 * 1024 + 16), 63);
        assert_eq!(window_for(1024 * 1024 + 16), 15);
        assert_eq!(window_for(4 * 1024 * 1024 + 16), 3);
        assert_eq!(window_for(17), 64);
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        assert_eq!(close_description("short"), "short");
        let long = "é".repeat(100); // 200 bytes
        let cut = close_description(&long);
        assert!(cut.len() <= MAX_CLOSE_REASON);
        assert_eq!(cut, "é".repeat(61));
    }
}
