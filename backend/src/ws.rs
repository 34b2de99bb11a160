//! What the two WebSocket handlers share: admission, frame limits, flow-control windows,
//! refusals, timeouts and how a socket ends.
//!
//! Memory one socket can hold, whatever its client does: reading, one frame of at most
//! [`MAX_FRAME_SIZE`] plus one read from the connection ([`frames`]); sending, the
//! flow-control window ([`window_for`], 16 MiB) in the socket's frame queue and actix-http's
//! write buffer. A send that makes no progress for the idle timeout ends the socket
//! ([`Outbox`]), and the kernel drops a connection whose sent data stays unacknowledged
//! that long ([`bound_unacknowledged`]), which frees what actix-http still held for it.
pub mod frames;

use std::{any::Any, time::Duration};

use actix_http::ws::{OpCode, Parser};
use actix_web::{
    HttpRequest, HttpResponse,
    body::{BodyStream, MessageBody},
    web,
};
use actix_ws::{CloseCode, CloseReason};
use bytes::{Bytes, BytesMut};
use ferry_common::protocol::{ErrorBody, ErrorCode};
use serde::Serialize;

use self::frames::{FrameError, Frames, Message};
use crate::{
    AppState,
    config::SERVER_MAX_CHUNK_SIZE,
    gate::{self, Pass},
};

/// Largest WebSocket frame (and reassembled message) the server reads: one sealed chunk
/// of the largest chunk size, plus room. A frame or fragmented message declaring more ends
/// the socket with `frame-too-large` and close code 1009, from its header alone.
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
    /// The client stopped reading: a send made no progress for the idle timeout, so
    /// nothing more can be sent either.
    Stalled,
}

impl End {
    /// A refusal with the close code that fits `code` (1008, policy, unless more
    /// specific).
    pub fn refuse(code: ErrorCode, message: impl Into<String>) -> End {
        let close = match code {
            ErrorCode::FrameTooLarge | ErrorCode::TooLarge => CloseCode::Size,
            ErrorCode::Internal => CloseCode::Error,
            ErrorCode::InsufficientStorage
            | ErrorCode::TooManyConnections
            | ErrorCode::RateLimited => CloseCode::Again,
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
            End::Gone | End::Stalled => None,
        }
    }
}

impl From<anyhow::Error> for End {
    fn from(err: anyhow::Error) -> End {
        End::internal(err)
    }
}

/// The sending half of a socket: every send gives up (ending the socket with
/// [`End::Stalled`]) when it makes no progress for the idle timeout, so a client that
/// never reads cannot hold a socket task, its claim and its buffers forever.
///
/// Frames go, encoded, through a queue of [`QUEUED_FRAMES`] into the response body; the
/// body ends when the `Outbox` is dropped. (actix-ws's `Session` ends the body with its
/// close frame, so actix-http stops reading the client's frames there and holds the
/// connection open for its disconnect timeout, about a second, because every client waits
/// for the server to close the TCP connection first; [`finish`] instead reads the
/// client's close frame and then ends the body.)
pub struct Outbox {
    queue: tokio::sync::mpsc::Sender<Bytes>,
    timeout: Duration,
    close_grace: Duration,
    /// Where [`finish`] counts a refusal.
    metrics: crate::metrics::Metrics,
}

/// Frames queued for the response body at most (as actix-ws): a send beyond waits.
const QUEUED_FRAMES: usize = 32;

/// The response body is gone: the connection closed.
struct Closed;

/// Awaits one send for at most `timeout`.
async fn within(
    timeout: Duration,
    send: impl Future<Output = Result<(), Closed>>,
) -> Result<(), End> {
    match tokio::time::timeout(timeout, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Closed)) => Err(End::Gone),
        Err(_elapsed) => {
            tracing::info!(
                secs = timeout.as_secs(),
                "the client read nothing for the idle timeout; ending the socket"
            );
            Err(End::Stalled)
        }
    }
}

impl Outbox {
    /// Queues one encoded frame.
    async fn frame(&mut self, frame: BytesMut) -> Result<(), End> {
        let queue = &self.queue;
        within(self.timeout, async move {
            queue.send(frame.freeze()).await.map_err(|_| Closed)
        })
        .await
    }

    /// Encodes and queues one data or control frame (never masked: server to client).
    async fn message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), End> {
        let mut frame = BytesMut::with_capacity(payload.len() + 10);
        Parser::write_message(&mut frame, payload, opcode, true, false);
        self.frame(frame).await
    }

    /// Sends a text message.
    pub async fn text(&mut self, text: String) -> Result<(), End> {
        self.message(OpCode::Text, text.as_bytes()).await
    }

    /// Sends a binary message.
    pub async fn binary(&mut self, bytes: Bytes) -> Result<(), End> {
        self.message(OpCode::Binary, &bytes).await
    }

    /// Answers a ping.
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), End> {
        self.message(OpCode::Pong, payload).await
    }

    /// Sends the close frame; the body stays open until the `Outbox` is dropped.
    async fn close(&mut self, reason: Option<CloseReason>) -> Result<(), End> {
        let mut frame = BytesMut::new();
        Parser::write_close(&mut frame, reason, false);
        self.frame(frame).await
    }

    /// Sends one JSON control message.
    pub async fn json<T: Serialize>(&mut self, msg: &T) -> Result<(), End> {
        // unwrap: protocol messages are plain structs of strings and integers.
        let text = serde_json::to_string(msg).expect("protocol messages serialise");
        self.text(text).await
    }
}

/// Sends one JSON control message.
pub async fn send_json<T: Serialize>(out: &mut Outbox, msg: &T) -> Result<(), End> {
    out.json(msg).await
}

/// An upgraded socket: how to send, what the client sends, and whether it was let in.
pub struct Socket {
    /// The sending half.
    pub out: Outbox,
    /// The client's messages.
    pub frames: Frames,
    /// The socket's place under the caps, or the refusal to send before closing.
    pub admitted: Result<Pass, End>,
}

/// Accepts a WebSocket handshake. One from a page at a foreign origin is refused with HTTP
/// 403 ([`crate::origin`]). A socket over the caps is still upgraded, then refused
/// with `too-many-connections` and close code 1013: a browser cannot read the body of a
/// refused handshake, but it does see an `error` message and a close reason.
pub async fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
) -> actix_web::Result<(HttpResponse, Socket)> {
    crate::origin::check(req, &state.config.allowed_origins)?;
    // The handshake answer (101) with a body of our frames ([`Outbox`]); the request's
    // payload, the client's frames, is read by `Frames`.
    let mut response = actix_http::ws::handshake(req.head())?;
    let (queue, mut queued) = tokio::sync::mpsc::channel::<Bytes>(QUEUED_FRAMES);
    let sent = futures_util::stream::poll_fn(move |cx| {
        queued
            .poll_recv(cx)
            .map(|frame| frame.map(Ok::<_, std::convert::Infallible>))
    });
    let response: HttpResponse = response.message_body(BodyStream::new(sent).boxed())?.into();
    let admitted = match gate::client_address(req, &state.config.trusted_proxies) {
        Some(client) => state.gate.enter(client).map_err(|refused| {
            tracing::warn!(%refused, "socket refused");
            End::refuse(
                ErrorCode::TooManyConnections,
                format!("{refused}; try again later"),
            )
        }),
        None => Err(End::refuse(
            ErrorCode::BadRequest,
            "the connection has no peer address",
        )),
    };
    let socket = Socket {
        out: Outbox {
            queue,
            timeout: state.config.idle_timeout,
            close_grace: state.config.close_grace,
            metrics: state.metrics.clone(),
        },
        frames: Frames::new(body, MAX_FRAME_SIZE),
        admitted,
    };
    Ok((response, socket))
}

/// Runs an admitted socket with `run`, then ends it ([`finish`]); its place under the caps
/// is given back only after that.
pub async fn serve<T: Serialize>(
    socket: Socket,
    wrap: impl FnOnce(ErrorBody) -> T,
    run: impl AsyncFnOnce(&mut Outbox, &mut Frames) -> Result<(), End>,
) {
    let Socket {
        mut out,
        mut frames,
        admitted,
    } = socket;
    let (pass, end) = match admitted {
        Ok(pass) => (Some(pass), run(&mut out, &mut frames).await.err()),
        Err(refusal) => (None, Some(refusal)),
    };
    finish(out, &mut frames, end, wrap).await;
    drop(pass);
}

/// Ends a socket: on a refusal sends the error (built by `wrap`, the socket's own event
/// type) and closes with the code and the message as close reason. Gives up after the
/// idle timeout if the client does not read. Then waits for the client's close frame (at
/// most the close grace) and ends the response, upon which actix-http closes the TCP
/// connection at once: every client waits for the server to close it first (RFC 6455
/// §7.1.1), and the client's close frame is read, so no unread data turns the close into
/// a reset.
pub async fn finish<T: Serialize>(
    mut out: Outbox,
    frames: &mut Frames,
    end: Option<End>,
    wrap: impl FnOnce(ErrorBody) -> T,
) {
    let reason = match end {
        None => Some(CloseCode::Normal.into()),
        Some(End::Gone) => None,
        Some(End::Stalled) => return,
        Some(End::Refuse { body, close }) => {
            out.metrics.refused(body.code);
            let reason = CloseReason {
                code: close,
                description: Some(close_description(&body.message)),
            };
            if out.json(&wrap(body)).await.is_err() {
                return;
            }
            Some(reason)
        }
    };
    if out.close(reason).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(out.close_grace, frames.drain_to_close(DRAIN_BUDGET)).await;
}

/// What the server reads (and drops) after its close frame while waiting for the
/// client's: one flow-control window of chunks and one more frame, all a well-behaved client
/// can have in flight when it learns the socket is closing. Derived from the protocol's
/// bounds, not a setting. A client that sends more is cut off (a reset) without costing the
/// server more than this.
const DRAIN_BUDGET: usize = WINDOW_BYTES as usize + MAX_FRAME_SIZE;

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

/// Waits for the next text or binary message. The idle timeout runs from the call, not
/// from the last frame: pings and pongs are answered but do not keep a socket open.
pub async fn next_message(
    out: &mut Outbox,
    frames: &mut Frames,
    idle: Duration,
) -> Result<Incoming, End> {
    let deadline = tokio::time::Instant::now() + idle;
    // Bounded by the deadline: every pass waits for a frame until then.
    loop {
        let msg = match tokio::time::timeout_at(deadline, frames.recv()).await {
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
            Ok(Message::Text(text)) => return Ok(Incoming::Text(text)),
            Ok(Message::Binary(bytes)) => return Ok(Incoming::Binary(bytes)),
            Ok(Message::Ping(bytes)) => out.pong(&bytes).await?,
            Ok(Message::Pong) => {}
            Ok(Message::Close(_)) => return Ok(Incoming::Closed),
            Err(FrameError::TooLarge { declared, limit }) => {
                return Err(End::refuse(
                    ErrorCode::FrameTooLarge,
                    format!(
                        "a frame or message of {declared} bytes was announced; the limit is \
                         {limit} bytes, more than any chunk can be"
                    ),
                ));
            }
            Err(err @ FrameError::Malformed(_)) => {
                return Err(End::refuse(ErrorCode::BadRequest, err.to_string()));
            }
        }
    }
}

/// Called for every new connection: the kernel drops a connection whose sent data stays
/// unacknowledged (or unsent, the client's window being shut) for `idle`. A socket task
/// that gave up on a client that stopped reading ends, but actix-http keeps the data it
/// already took for that connection until the connection closes; this closes it.
pub fn bound_unacknowledged(conn: &dyn Any, idle: Duration) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    use actix_web::rt::net::TcpStream;
    let tcp = match conn.downcast_ref::<TcpStream>() {
        Some(tcp) => tcp,
        None => match conn.downcast_ref::<TlsStream<TcpStream>>() {
            Some(tls) => tls.get_ref().0,
            None => return,
        },
    };
    set_user_timeout(tcp, idle);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_user_timeout(tcp: &actix_web::rt::net::TcpStream, idle: Duration) {
    if let Err(err) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(idle)) {
        tracing::warn!(%err, "could not set TCP_USER_TIMEOUT");
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_user_timeout(_tcp: &actix_web::rt::net::TcpStream, _idle: Duration) {}

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
