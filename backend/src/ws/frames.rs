//! Client frames read from the raw request payload, with memory bounded by one frame.
//!
//! actix-ws's `MessageStream` pulls every payload chunk the connection has into its buffer
//! before decoding, and actix-http's `Parser` compares a frame's length with its limit only
//! once the whole frame is buffered: a header declaring 1 TiB followed by zeros grew the
//! server by a gigabyte a second, and a header declaring 5 MiB with no payload got no answer
//! at all. This reader looks at a frame's header first and refuses a frame (or a fragmented
//! message) whose *declared* length is over the limit before reading any of its payload. It
//! reads from the connection only while its buffer holds less than the frame it waits for,
//! so it holds at most one frame, one read from the connection (actix-http hands over at
//! most its 128 KiB read buffer at a time) and the fragments of one message, together never
//! more than the limit plus that read. actix-http stops reading the socket while its own
//! 32 KiB payload queue is full, so nothing else piles up behind it.
use actix_http::ws::{CloseReason, OpCode, Parser};
use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

/// A message from the client: a whole (reassembled) data message or a control frame.
#[derive(Debug)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping, with its payload to echo.
    Ping(Bytes),
    /// A pong (ignored).
    Pong,
    /// The client's close frame.
    Close(Option<CloseReason>),
}

/// Why the client's frames cannot be read further.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame header, or a fragment added to the message so far, declared more than the
    /// limit.
    #[error("a message of {declared} bytes was announced; the limit is {limit} bytes")]
    TooLarge {
        /// Bytes declared (the fragments so far plus this frame's header).
        declared: u64,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid client frame (RFC 6455 §5).
    #[error("malformed WebSocket frame: {0}")]
    Malformed(String),
}

/// Control frames carry at most 125 bytes (RFC 6455 §5.5).
const MAX_CONTROL_LEN: u64 = 125;

/// What a frame header declares.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    opcode: u8,
    /// Header plus payload length.
    frame_len: u64,
    payload_len: u64,
}

/// Reads a frame header from the front of `buf`, or `None` while it is incomplete.
fn peek_head(buf: &[u8]) -> Option<Head> {
    let (&first, rest) = buf.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let (payload_len, ext) = match second & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            2,
        ),
        127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 8),
        short => (u64::from(short), 0),
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    let header_len = 2 + ext + mask;
    Some(Head {
        opcode: first & 0x0F,
        frame_len: payload_len.saturating_add(header_len),
        payload_len,
    })
}

/// A partly received fragmented message.
struct Partial {
    text: bool,
    data: BytesMut,
}

/// Client messages read from a WebSocket's request payload (see the module docs).
pub struct Frames {
    payload: web::Payload,
    buf: BytesMut,
    limit: usize,
    partial: Option<Partial>,
    ended: bool,
    /// The client's frames could not be read further (`ended` is set too).
    failed: bool,
    /// The client's close frame was read: it sends nothing more.
    close_read: bool,
}

impl Frames {
    /// Reads `payload` with messages of at most `limit` bytes.
    pub fn new(payload: web::Payload, limit: usize) -> Frames {
        Frames {
            payload,
            buf: BytesMut::new(),
            limit,
            partial: None,
            ended: false,
            failed: false,
            close_read: false,
        }
    }

    /// Reads what the client still sends, dropping it, until its close frame or the end of
    /// the connection; after a frame it could not read, drops raw bytes until the end.
    /// Called once the server's close frame is out, so that the TCP connection closes with
    /// nothing unread (an orderly close, not a reset that could cost the client the
    /// server's last frames). Bounded by the connection; the caller bounds the time.
    pub async fn drain_to_close(&mut self) {
        // Bounded: every pass reads from the connection, or returns.
        loop {
            if self.close_read {
                return;
            }
            if self.failed {
                match self.payload.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return,
                }
            }
            match self.recv().await {
                None | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_) | Err(_)) => {}
            }
        }
    }

    /// The next message; `None` once the connection ended. After an error nothing more is
    /// read. Cancel-safe: everything read is kept in `self` between calls.
    pub async fn recv(&mut self) -> Option<Result<Message, FrameError>> {
        // Bounded: every pass either returns or appends a read that the next frame needs.
        loop {
            if self.ended {
                return None;
            }
            match self.decode() {
                Ok(Some(msg)) => return Some(Ok(msg)),
                Ok(None) => {}
                Err(err) => {
                    self.ended = true;
                    self.failed = true;
                    self.buf = BytesMut::new();
                    self.partial = None;
                    return Some(Err(err));
                }
            }
            match self.payload.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(_)) | None => self.ended = true,
            }
        }
    }

    /// Decodes the next message from what is buffered, or `None` if more must be read.
    fn decode(&mut self) -> Result<Option<Message>, FrameError> {
        // Bounded: each pass consumes one whole frame from the buffer.
        loop {
            let Some(head) = peek_head(&self.buf) else {
                return Ok(None);
            };
            self.check(&head)?;
            if (self.buf.len() as u64) < head.frame_len {
                return Ok(None);
            }
            let parsed = Parser::parse(&mut self.buf, true, self.limit)
                .map_err(|e| FrameError::Malformed(e.to_string()))?;
            let Some((fin, opcode, payload)) = parsed else {
                return Err(FrameError::Malformed("incomplete frame".into()));
            };
            let payload = payload.unwrap_or_default();
            if let Some(msg) = self.assemble(fin, opcode, payload)? {
                return Ok(Some(msg));
            }
        }
    }

    /// Refuses a frame from its header alone.
    fn check(&self, head: &Head) -> Result<(), FrameError> {
        let control = head.opcode & 0x08 != 0;
        if control {
            if head.payload_len > MAX_CONTROL_LEN {
                return Err(FrameError::Malformed(format!(
                    "a control frame of {} bytes (at most {MAX_CONTROL_LEN})",
                    head.payload_len
                )));
            }
            return Ok(());
        }
        let so_far = match (&self.partial, head.opcode) {
            (Some(partial), 0) => partial.data.len() as u64,
            _ => 0,
        };
        let declared = so_far.saturating_add(head.payload_len);
        if declared > self.limit as u64 {
            return Err(FrameError::TooLarge {
                declared,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// Turns one frame into a message, joining fragments.
    fn assemble(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: BytesMut,
    ) -> Result<Option<Message>, FrameError> {
        let malformed = |what: &str| Err(FrameError::Malformed(what.into()));
        match opcode {
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return malformed("a new message began inside a fragmented one");
                }
                let text = opcode == OpCode::Text;
                if fin {
                    return finish_message(text, payload).map(Some);
                }
                self.partial = Some(Partial {
                    text,
                    data: payload,
                });
                Ok(None)
            }
            OpCode::Continue => {
                let Some(mut partial) = self.partial.take() else {
                    return malformed("a continuation frame without a message to continue");
                };
                partial.data.extend_from_slice(&payload);
                if fin {
                    return finish_message(partial.text, partial.data).map(Some);
                }
                self.partial = Some(partial);
                Ok(None)
            }
            _ if !fin => malformed("a fragmented control frame"),
            OpCode::Ping => Ok(Some(Message::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(Message::Pong)),
            OpCode::Close => {
                self.close_read = true;
                Parser::try_parse_close_payload(&payload)
                    .map(|reason| Some(Message::Close(reason)))
                    .map_err(|e| FrameError::Malformed(e.to_string()))
            }
            OpCode::Bad => malformed("an unknown opcode"),
        }
    }
}

fn finish_message(text: bool, data: BytesMut) -> Result<Message, FrameError> {
    if !text {
        return Ok(Message::Binary(data.freeze()));
    }
    String::from_utf8(data.to_vec())
        .map(Message::Text)
        .map_err(|_| FrameError::Malformed("a text message that is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_declare_their_length_before_any_payload() {
        assert_eq!(peek_head(&[0x82]), None);
        assert_eq!(
            peek_head(&[0x82, 0x85]),
            Some(Head {
                opcode: 2,
                frame_len: 2 + 4 + 5,
                payload_len: 5
            })
        );
        // 16-bit length, incomplete then complete.
        assert_eq!(peek_head(&[0x82, 0xFE, 0x01]), None);
        assert_eq!(
            peek_head(&[0x82, 0xFE, 0x01, 0x00]).unwrap().payload_len,
            256
        );
        // 1 TiB declared: known from 10 bytes, no mask or payload needed yet.
        let tib = [0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0];
        let head = peek_head(&tib).unwrap();
        assert_eq!(head.payload_len, 1 << 40);
        assert_eq!(head.frame_len, (1 << 40) + 14);
        // The largest declarable length saturates instead of overflowing.
        let max = [0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(peek_head(&max).unwrap().frame_len, u64::MAX);
    }
}
