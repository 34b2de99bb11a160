//! The upload session: `start` → `ready` → chunks within the window → `finish` → `done`.
use super::{ClientError, Layout, ShareId, to_text};
use crate::{
    Header,
    protocol::{UploadEvent, UploadRequest},
};

/// What the upload's transport should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadAction {
    /// Send this text frame (a JSON control message).
    Send(String),
    /// The window has room for chunk `index`: seal it, pass its length to
    /// [`Upload::chunk_ready`], then send it as one binary frame. It must be exactly `len`
    /// bytes.
    SendChunk {
        /// The chunk's position, from 0.
        index: u64,
        /// Its exact sealed size.
        len: usize,
    },
    /// Read the next server message (or the socket's end) and feed it in.
    Wait,
    /// The share is committed; close the socket.
    Done(Uploaded),
    /// The upload failed; close the socket.
    Failed(ClientError),
}

/// A committed share, from the server's `done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The share's ID.
    pub share_id: ShareId,
    /// 32 bytes that let the sender query and delete the share.
    pub owner_token: Vec<u8>,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
enum State {
    /// `start` not yet handed out.
    Start,
    /// `start` sent; waiting for `ready`.
    AwaitReady,
    /// Chunks flowing.
    Sending,
    /// `finish` sent; waiting for the last acks and `done`.
    AwaitDone,
    Done(Uploaded),
    Failed(ClientError),
}

/// One upload, from `start` to `done` (see the [module docs](super)).
#[derive(Debug, Clone)]
pub struct Upload {
    state: State,
    start: String,
    layout: Layout,
    share_id: Option<ShareId>,
    window: u64,
    /// Chunks handed to the transport to send.
    sent: u64,
    /// Chunks the server acknowledged as stored.
    acked: u64,
}

impl Upload {
    /// A new upload of the share described by `start` (an [`UploadRequest::Start`] whose
    /// header and `ciphertext_size` fix every chunk's size).
    pub fn new(start: &UploadRequest) -> Result<Upload, ClientError> {
        let UploadRequest::Start {
            header,
            ciphertext_size,
            ..
        } = start
        else {
            return Err(ClientError::Misuse("an upload begins with `start`"));
        };
        let header = Header::parse(&header.0)
            .map_err(|_| ClientError::Misuse("the upload's header is invalid"))?;
        let layout = Layout::new(&header, *ciphertext_size).ok_or(ClientError::Misuse(
            "the upload's ciphertext size is impossible",
        ))?;
        Ok(Upload {
            state: State::Start,
            start: to_text(start),
            layout,
            share_id: None,
            window: 0,
            sent: 0,
            acked: 0,
        })
    }

    /// What to do next.
    pub fn poll(&mut self) -> UploadAction {
        match &self.state {
            State::Start => {
                self.state = State::AwaitReady;
                UploadAction::Send(std::mem::take(&mut self.start))
            }
            State::AwaitReady | State::AwaitDone => UploadAction::Wait,
            State::Sending if self.sent < self.layout.chunks => {
                if self.sent - self.acked < self.window {
                    UploadAction::SendChunk {
                        index: self.sent,
                        len: self.layout.len_of(self.sent) as usize,
                    }
                } else {
                    UploadAction::Wait
                }
            }
            State::Sending => {
                self.state = State::AwaitDone;
                UploadAction::Send(to_text(&UploadRequest::Finish))
            }
            State::Done(up) => UploadAction::Done(up.clone()),
            State::Failed(e) => UploadAction::Failed(e.clone()),
        }
    }

    /// The transport has sealed the chunk [`UploadAction::SendChunk`] asked for, `len`
    /// bytes, and is about to send it (only its size matters here, so the bytes stay where
    /// the transport keeps them: a JavaScript buffer in the browser). Refuses a chunk of
    /// the wrong size or one the window has no room for, which would make the server end
    /// the upload.
    pub fn chunk_ready(&mut self, len: usize) -> Result<(), ClientError> {
        if !matches!(self.state, State::Sending)
            || self.sent >= self.layout.chunks
            || self.sent - self.acked >= self.window
        {
            return self.fail(ClientError::Misuse("a chunk outside the window"));
        }
        if len as u64 != self.layout.len_of(self.sent) {
            return self.fail(ClientError::Misuse("a chunk of the wrong size"));
        }
        self.sent += 1;
        Ok(())
    }

    /// A text message from the server.
    pub fn handle_text(&mut self, text: &str) -> Result<(), ClientError> {
        if self.is_over() {
            return Ok(());
        }
        match serde_json::from_str::<UploadEvent>(text) {
            Ok(event) => self.handle_event(event),
            Err(e) => self.fail(ClientError::Malformed(e.to_string())),
        }
    }

    /// A binary frame of `len` bytes from the server: never allowed on the upload socket.
    pub fn handle_binary(&mut self, _len: usize) -> Result<(), ClientError> {
        if self.is_over() {
            return Ok(());
        }
        self.fail(ClientError::ServerProtocol(
            "a binary frame on the upload socket",
        ))
    }

    /// The socket ended (close frame with `reason`, or the connection broke). After
    /// `done` that is the normal end; before it the upload failed and no share exists.
    pub fn handle_closed(&mut self, reason: Option<&str>) -> Result<(), ClientError> {
        if self.is_over() {
            return Ok(());
        }
        self.fail(ClientError::Closed {
            reason: reason.map(str::to_owned),
        })
    }

    /// Chunks the server has acknowledged as stored.
    pub fn acked_chunks(&self) -> u64 {
        self.acked
    }

    /// Ciphertext bytes the server has acknowledged as stored.
    pub fn acked_bytes(&self) -> u64 {
        self.layout.bytes_in(self.acked)
    }

    /// The number of chunks this upload sends.
    pub fn total_chunks(&self) -> u64 {
        self.layout.chunks
    }

    /// The share's ID, once the server has said `ready`.
    pub fn share_id(&self) -> Option<&ShareId> {
        self.share_id.as_ref()
    }

    /// The window the server announced (0 before `ready`).
    pub fn window(&self) -> u64 {
        self.window
    }

    fn is_over(&self) -> bool {
        matches!(self.state, State::Done(_) | State::Failed(_))
    }

    fn handle_event(&mut self, event: UploadEvent) -> Result<(), ClientError> {
        match (event, &self.state) {
            (UploadEvent::Error(body), _) => self.fail(body.into()),
            (UploadEvent::Unknown, _) => Ok(()),
            (UploadEvent::Ready { share_id, window }, State::AwaitReady) => {
                let Ok(id) = ShareId::parse(&share_id) else {
                    return self.fail(ClientError::ServerProtocol("a malformed share ID"));
                };
                if window == 0 {
                    return self.fail(ClientError::ServerProtocol("a window of 0 chunks"));
                }
                self.share_id = Some(id);
                self.window = u64::from(window);
                self.state = State::Sending;
                Ok(())
            }
            (UploadEvent::Ready { .. }, _) => {
                self.fail(ClientError::ServerProtocol("`ready` out of turn"))
            }
            (UploadEvent::Ack { chunks, bytes }, State::Sending | State::AwaitDone) => {
                if chunks < self.acked || chunks > self.sent {
                    return self.fail(ClientError::ServerProtocol(
                        "an ack that goes backwards or beyond what was sent",
                    ));
                }
                if bytes != self.layout.bytes_in(chunks) {
                    return self.fail(ClientError::ServerProtocol(
                        "an ack whose bytes do not match its chunks",
                    ));
                }
                self.acked = chunks;
                Ok(())
            }
            (UploadEvent::Ack { .. }, _) => {
                self.fail(ClientError::ServerProtocol("`ack` out of turn"))
            }
            (
                UploadEvent::Done {
                    share_id,
                    owner_token,
                    expires_at,
                },
                State::AwaitDone,
            ) => {
                if self.acked != self.layout.chunks {
                    return self.fail(ClientError::ServerProtocol(
                        "`done` before every chunk was acknowledged",
                    ));
                }
                let Some(id) = self.share_id.clone().filter(|id| id.as_str() == share_id) else {
                    return self.fail(ClientError::ServerProtocol(
                        "`done` names another share than `ready`",
                    ));
                };
                self.state = State::Done(Uploaded {
                    share_id: id,
                    owner_token: owner_token.0,
                    expires_at,
                });
                Ok(())
            }
            (UploadEvent::Done { .. }, _) => {
                self.fail(ClientError::ServerProtocol("`done` before `finish`"))
            }
        }
    }

    fn fail<T>(&mut self, e: ClientError) -> Result<T, ClientError> {
        self.state = State::Failed(e.clone());
        Err(e)
    }
}
