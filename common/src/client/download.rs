//! The download session: `start` → `ready` → chunks and acks within the window → `done`.
//!
//! The server sends the final chunk only after an ack of every chunk before it (for a
//! one-chunk share, an ack of 0 that this core sends by itself right after `ready`). A
//! download cut off after `ready` can continue inside its claim on a new socket:
//! [`Download::resume`] makes the next `start` carry the claim token from `ready` and the
//! index of the first chunk not yet received. A download that a previous process began
//! continues with [`Download::continue_claim`], from the claim token and count it kept.
use std::fmt;

use zeroize::Zeroizing;

use super::{ClientError, Layout, ShareId, to_text};
use crate::{
    Header, b64,
    protocol::{DownloadEvent, DownloadRequest, PROTOCOL_VERSION},
};

/// What the download's transport should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadAction {
    /// Send this text frame (a JSON control message).
    Send(String),
    /// The server accepted the token and claimed a download: open the metadata and get
    /// ready for `chunks` chunks. Given once, before any chunk (a resumed download's
    /// second `ready` is checked against the first and not given again).
    Ready(Ready),
    /// Read the next server message (or the socket's end) and feed it in.
    Wait,
    /// Every chunk was acknowledged and the download counted.
    Done {
        /// Downloads the share still allows (0: it is gone).
        downloads_left: u32,
    },
    /// The download failed; close the socket.
    Failed(ClientError),
}

/// The server's `ready`, checked against the share's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The sealed metadata block.
    pub metadata: Vec<u8>,
    /// Total ciphertext bytes that follow.
    pub ciphertext_size: u64,
    /// Number of chunk frames that follow.
    pub chunks: u64,
    /// Chunks the server sends beyond the last ack.
    pub window: u64,
}

/// A chunk frame the server sent, checked for its position and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Its position, from 0.
    pub index: u64,
    /// Whether it is the final chunk (open it with the final flag).
    pub last: bool,
}

#[derive(Clone, PartialEq, Eq)]
enum State {
    Start,
    AwaitReady,
    Receiving,
    /// The last chunk was acknowledged; waiting for `done`.
    AwaitDone,
    Done(u32),
    Failed(ClientError),
}

/// One download, from `start` to `done` (see the [module docs](super)).
#[derive(Clone)]
pub struct Download {
    state: State,
    /// The `start` message; it holds the download token, so it is wiped once sent.
    start: Zeroizing<String>,
    share_id: String,
    /// The download token, kept for a resumed `start`.
    token: Zeroizing<[u8; 32]>,
    /// The claim token from the first `ready`, for a resumed `start`.
    claim_token: Option<Zeroizing<Vec<u8>>>,
    /// True once the first `ready` was handed out: a later `ready` answers a resume.
    had_ready: bool,
    /// The first `start` already names a claim (a download a previous process began), so
    /// the first `ready` carries no claim token and chunks start at `received`.
    continued: bool,
    /// An ack of 0 is due: it asks for the only chunk of a one-chunk share.
    request_only_chunk: bool,
    header: Header,
    layout: Option<Layout>,
    ready: Option<Ready>,
    window: u64,
    received: u64,
    /// The highest count the transport asked to acknowledge.
    ack_wanted: u64,
    /// The highest count handed out as an `ack` message.
    ack_sent: u64,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("received", &self.received)
            .field("ack_sent", &self.ack_sent)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// A new download of `share_id` with the 32-byte download token from the key
    /// schedule; `header` (from `GET /api/shares/{id}`) fixes every chunk's size.
    pub fn new(share_id: &ShareId, token: &[u8; 32], header: &Header) -> Download {
        let start = DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share_id.as_str().to_owned(),
            token: b64::Bytes(token.to_vec()),
            claim_token: None,
            from_chunk: None,
        };
        Download {
            state: State::Start,
            start: Zeroizing::new(to_text(&start)),
            share_id: share_id.as_str().to_owned(),
            token: Zeroizing::new(*token),
            claim_token: None,
            had_ready: false,
            continued: false,
            request_only_chunk: false,
            header: header.clone(),
            layout: None,
            ready: None,
            window: 0,
            received: 0,
            ack_wanted: 0,
            ack_sent: 0,
        }
    }

    /// Continues a download that an earlier process (or connection) began: the first
    /// `start` presents `claim_token` (from that download's first `ready`) and asks for
    /// chunks from `from_chunk` on (every chunk before it was verified and kept). The
    /// `ready` that answers is handed out like a fresh one (the metadata is needed again);
    /// a `claim-lost` refusal means the claim is gone and nothing continues it.
    pub fn continue_claim(
        share_id: &ShareId,
        token: &[u8; 32],
        header: &Header,
        claim_token: &[u8],
        from_chunk: u64,
    ) -> Download {
        let mut down = Download::new(share_id, token, header);
        let start = DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share_id.as_str().to_owned(),
            token: b64::Bytes(token.to_vec()),
            claim_token: Some(b64::Bytes(claim_token.to_vec())),
            from_chunk: Some(from_chunk),
        };
        *down.start = to_text(&start);
        down.claim_token = Some(Zeroizing::new(claim_token.to_vec()));
        down.continued = true;
        down.received = from_chunk;
        down.ack_wanted = from_chunk;
        down.ack_sent = from_chunk;
        down
    }

    /// The claim token of this download's claim (from its first `ready`, or the one it
    /// continues), for a client that keeps it to continue after a restart. As secret as a
    /// download token: never log it.
    pub fn claim_token(&self) -> Option<&[u8]> {
        self.claim_token.as_deref().map(Vec::as_slice)
    }

    /// What to do next.
    pub fn poll(&mut self) -> DownloadAction {
        match &self.state {
            State::Start => {
                self.state = State::AwaitReady;
                DownloadAction::Send(std::mem::take(&mut *self.start))
            }
            State::AwaitReady | State::AwaitDone => DownloadAction::Wait,
            State::Receiving => {
                if std::mem::take(&mut self.request_only_chunk) {
                    return DownloadAction::Send(to_text(&DownloadRequest::Ack { chunks: 0 }));
                }
                if let Some(ready) = self.ready.take() {
                    return DownloadAction::Ready(ready);
                }
                if self.ack_wanted > self.ack_sent {
                    self.ack_sent = self.ack_wanted;
                    if self.layout.is_some_and(|l| self.ack_sent == l.chunks) {
                        self.state = State::AwaitDone;
                    }
                    return DownloadAction::Send(to_text(&DownloadRequest::Ack {
                        chunks: self.ack_sent,
                    }));
                }
                DownloadAction::Wait
            }
            State::Done(left) => DownloadAction::Done {
                downloads_left: *left,
            },
            State::Failed(e) => DownloadAction::Failed(e.clone()),
        }
    }

    /// A text message from the server.
    pub fn handle_text(&mut self, text: &str) -> Result<(), ClientError> {
        if self.is_over() {
            return Ok(());
        }
        match serde_json::from_str::<DownloadEvent>(text) {
            Ok(event) => self.handle_event(event),
            Err(e) => self.fail(ClientError::Malformed(e.to_string())),
        }
    }

    /// A binary frame of `len` bytes from the server: the next chunk, checked for its size
    /// and against the window and the announced count (only its size matters here, so the
    /// bytes stay with the transport). The transport opens it (with the final flag when
    /// [`ChunkInfo::last`]) and later acknowledges it with [`Download::acknowledge`].
    pub fn handle_binary(&mut self, len: usize) -> Result<ChunkInfo, ClientError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let (State::Receiving, Some(layout)) = (&self.state, self.layout) else {
            return self.fail(ClientError::ServerProtocol("a chunk before `ready`"));
        };
        if self.received >= layout.chunks {
            return self.fail(ClientError::ServerProtocol("more chunks than announced"));
        }
        if self.received - self.ack_sent >= self.window {
            return self.fail(ClientError::ServerProtocol(
                "more chunks than the window allows",
            ));
        }
        if len as u64 != layout.len_of(self.received) {
            return self.fail(ClientError::ServerProtocol(
                "a chunk of the wrong size for its position",
            ));
        }
        let index = self.received;
        self.received += 1;
        Ok(ChunkInfo {
            index,
            last: self.received == layout.chunks,
        })
    }

    /// The transport has dealt with the first `chunks` chunks (verified, written; for
    /// the last one: made durable under its final name, since acknowledging it spends
    /// the download). The next [`Download::poll`] hands out the `ack`.
    ///
    /// Allowed from the first `ready` on, also while a socket is being replaced (the
    /// transport may finish verifying chunks meanwhile): the ack goes out once chunks
    /// flow again, unless the resumed `start` already covered it.
    pub fn acknowledge(&mut self, chunks: u64) -> Result<(), ClientError> {
        if self.layout.is_none() || matches!(self.state, State::AwaitDone | State::Done(_)) {
            return self.fail(ClientError::Misuse("an ack outside the transfer"));
        }
        // Checked against what the transport asked for, not what was sent: after a resume
        // the acks up to the resume point are due locally but never sent.
        if chunks <= self.ack_wanted || chunks > self.received {
            return self.fail(ClientError::Misuse(
                "an ack that goes backwards or beyond what was received",
            ));
        }
        self.ack_wanted = chunks;
        Ok(())
    }

    /// The socket ended (close frame with `reason`, or the connection broke).
    pub fn handle_closed(&mut self, reason: Option<&str>) -> Result<(), ClientError> {
        if self.is_over() {
            return Ok(());
        }
        self.fail(ClientError::Closed {
            reason: reason.map(str::to_owned),
        })
    }

    /// Whether [`Download::resume`] can continue this download: the server's first
    /// `ready` gave a claim token, a chunk is still missing, and it is not over.
    pub fn can_resume(&self) -> bool {
        self.claim_token.is_some()
            && self.layout.is_some_and(|l| self.received < l.chunks)
            && !matches!(self.state, State::Done(_))
    }

    /// After the socket broke (or the server failed), continue inside the same claim on
    /// a new socket: the next [`Download::poll`] sends a `start` with the claim token and
    /// the first chunk not yet received. Acks of chunks received before the cut are not
    /// sent again (the resumed `start` stands for them). Whether the failure was worth a
    /// resume is the transport's call ([`ClientError::is_transient`]).
    pub fn resume(&mut self) -> Result<(), ClientError> {
        if !self.can_resume() {
            return Err(ClientError::Misuse(
                "a resume without a claim, or with nothing left to receive",
            ));
        }
        let claim_token = self.claim_token.as_ref().map(|t| b64::Bytes(t.to_vec()));
        let start = DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: self.share_id.clone(),
            token: b64::Bytes(self.token.to_vec()),
            claim_token,
            from_chunk: Some(self.received),
        };
        *self.start = to_text(&start);
        self.ack_sent = self.ack_sent.max(self.received);
        self.request_only_chunk = false;
        self.state = State::Start;
        Ok(())
    }

    /// Chunks received so far.
    pub fn received_chunks(&self) -> u64 {
        self.received
    }

    fn is_over(&self) -> bool {
        matches!(self.state, State::Done(_) | State::Failed(_))
    }

    fn handle_event(&mut self, event: DownloadEvent) -> Result<(), ClientError> {
        match (event, &self.state) {
            (DownloadEvent::Error(body), _) => self.fail(body.into()),
            (DownloadEvent::Unknown, _) => Ok(()),
            (
                DownloadEvent::Ready {
                    ciphertext_size,
                    chunks,
                    window,
                    ..
                },
                State::AwaitReady,
            ) if self.had_ready => {
                let same = Layout::new(&self.header, ciphertext_size) == self.layout
                    && self.layout.is_some_and(|l| l.chunks == chunks);
                if !same {
                    return self.fail(ClientError::ServerProtocol(
                        "a resumed `ready` announces another file",
                    ));
                }
                if window == 0 {
                    return self.fail(ClientError::ServerProtocol("a window of 0 chunks"));
                }
                self.window = u64::from(window);
                self.state = State::Receiving;
                Ok(())
            }
            (
                DownloadEvent::Ready {
                    metadata,
                    ciphertext_size,
                    chunks,
                    window,
                    claim_token,
                },
                State::AwaitReady,
            ) => {
                let Some(layout) = Layout::new(&self.header, ciphertext_size) else {
                    return self.fail(ClientError::ServerProtocol(
                        "`ready` announces a size no share can have",
                    ));
                };
                if layout.chunks != chunks {
                    return self.fail(ClientError::ServerProtocol(
                        "`ready` announces a chunk count that does not match its size",
                    ));
                }
                if window == 0 {
                    return self.fail(ClientError::ServerProtocol("a window of 0 chunks"));
                }
                if self.received >= chunks {
                    return self.fail(ClientError::ServerProtocol(
                        "`ready` announces fewer chunks than were already received",
                    ));
                }
                self.layout = Some(layout);
                self.window = u64::from(window);
                if !self.continued {
                    self.claim_token = claim_token.map(|t| Zeroizing::new(t.0));
                }
                self.had_ready = true;
                // A continued `start` from chunk 0 of a one-chunk share already asked.
                self.request_only_chunk = chunks == 1 && !self.continued;
                self.ready = Some(Ready {
                    metadata: metadata.0,
                    ciphertext_size,
                    chunks,
                    window: u64::from(window),
                });
                self.state = State::Receiving;
                Ok(())
            }
            (DownloadEvent::Ready { .. }, _) => {
                self.fail(ClientError::ServerProtocol("`ready` out of turn"))
            }
            (DownloadEvent::Done { downloads_left }, State::AwaitDone) => {
                self.state = State::Done(downloads_left);
                Ok(())
            }
            (DownloadEvent::Done { .. }, _) => self.fail(ClientError::ServerProtocol(
                "`done` before the last chunk was acknowledged",
            )),
        }
    }

    fn fail<T>(&mut self, e: ClientError) -> Result<T, ClientError> {
        self.state = State::Failed(e.clone());
        Err(e)
    }
}
