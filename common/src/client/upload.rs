//! The upload session: `start` (or `resume`) → `ready` → for each missing segment,
//! `segment{index}` and its chunks within the window → every segment acknowledged →
//! `finish` → `done`.
use std::collections::VecDeque;

use zeroize::Zeroizing;

use super::{ClientError, Layout, ShareId, to_text};
use crate::{
    Header, b64,
    protocol::{PROTOCOL_VERSION, SegmentRange, UploadEvent, UploadRequest},
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
    /// The upload failed; close the socket. If [`Upload::resumable`] is known and the
    /// failure [is transient](ClientError::is_transient), a new socket may continue it.
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

/// What a client keeps to continue an upload on a new connection (to any server process):
/// secret to the sender, like the link.
#[derive(Clone, PartialEq, Eq)]
pub struct Resumable {
    /// The share the upload becomes.
    pub share_id: ShareId,
    /// 32 bytes that prove this client began the upload.
    pub upload_token: Zeroizing<Vec<u8>>,
    /// 32 bytes that let the sender query and delete the share once committed.
    pub owner_token: Zeroizing<Vec<u8>>,
    /// The share's public header (fixes every chunk's size).
    pub header: Vec<u8>,
    /// Ciphertext bytes of the whole upload.
    pub ciphertext_size: u64,
}

impl std::fmt::Debug for Resumable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumable")
            .field("ciphertext_size", &self.ciphertext_size)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
enum State {
    /// The first message not yet handed out.
    Start,
    /// First message sent; waiting for `ready` (or, resuming, `done`).
    AwaitReady,
    /// Segments flowing.
    Sending,
    /// `finish` sent; waiting for `done`.
    AwaitDone,
    Done(Uploaded),
    Failed(ClientError),
}

/// A segment being sent: its index, the next chunk to send and the end of its chunks.
#[derive(Debug, Clone, Copy)]
struct Current {
    segment: u64,
    next: u64,
    end: u64,
}

/// One upload over one socket, from its first message to `done` (see the
/// [module docs](super)).
#[derive(Clone)]
pub struct Upload {
    state: State,
    /// `start` or `resume`; a `resume` holds the upload token, so it is wiped once sent.
    first: Zeroizing<String>,
    header: Vec<u8>,
    ciphertext_size: u64,
    layout: Layout,
    /// Known after a first `ready`, or given to resume.
    resumable: Option<Resumable>,
    window: u64,
    segment_chunks: u64,
    /// Segments still to send on this socket, ascending.
    todo: VecDeque<u64>,
    current: Option<Current>,
    /// Segments sent whole on this socket, not yet acknowledged: index and chunk count.
    unacked_segments: VecDeque<(u64, u64)>,
    /// Chunks sent on this socket not covered by an `ack`.
    unacked: u64,
    /// Ciphertext bytes the server holds (stored before this socket, or acknowledged).
    stored_bytes: u64,
    /// A lane of [`UploadLanes`](super::UploadLanes): segments come from
    /// [`Upload::assign`], not from `ready`, and `finish` only from
    /// [`Upload::finish_now`].
    lane: Option<LaneReports>,
}

/// What a lane learned that its [`UploadLanes`](super::UploadLanes) has not taken yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct LaneReports {
    /// The segments the server said it lacks, from this lane's `ready`.
    pub(crate) missing: Option<VecDeque<u64>>,
    /// Segments acknowledged on this lane.
    pub(crate) acked: Vec<u64>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("state", &self.state)
            .field("stored_bytes", &self.stored_bytes)
            .field("unacked", &self.unacked)
            .finish_non_exhaustive()
    }
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
        Upload::with_first(to_text(start), header.0.clone(), *ciphertext_size, None)
    }

    /// Continues the upload `saved` describes on a new socket: the server answers which
    /// segments it lacks, and only those are sent.
    pub fn resume(saved: &Resumable) -> Result<Upload, ClientError> {
        let resume = UploadRequest::Resume {
            version: PROTOCOL_VERSION,
            share_id: saved.share_id.as_str().to_owned(),
            upload_token: b64::Bytes(saved.upload_token.to_vec()),
        };
        Upload::with_first(
            to_text(&resume),
            saved.header.clone(),
            saved.ciphertext_size,
            Some(saved.clone()),
        )
    }

    fn with_first(
        first: String,
        header: Vec<u8>,
        ciphertext_size: u64,
        resumable: Option<Resumable>,
    ) -> Result<Upload, ClientError> {
        let parsed = Header::parse(&header)
            .map_err(|_| ClientError::Misuse("the upload's header is invalid"))?;
        let layout = Layout::new(&parsed, ciphertext_size).ok_or(ClientError::Misuse(
            "the upload's ciphertext size is impossible",
        ))?;
        Ok(Upload {
            state: State::Start,
            first: Zeroizing::new(first),
            header,
            ciphertext_size,
            layout,
            resumable,
            window: 0,
            segment_chunks: 0,
            todo: VecDeque::new(),
            current: None,
            unacked_segments: VecDeque::new(),
            unacked: 0,
            stored_bytes: 0,
            lane: None,
        })
    }

    /// This upload as one lane of several: see [`UploadLanes`](super::UploadLanes).
    pub(crate) fn into_lane(mut self) -> Upload {
        self.lane = Some(LaneReports::default());
        self
    }

    /// What this lane learned since the last call.
    pub(crate) fn take_reports(&mut self) -> LaneReports {
        self.lane.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Gives this lane one more segment to send.
    pub(crate) fn assign(&mut self, segment: u64) {
        self.todo.push_back(segment);
    }

    /// The segments this lane holds and the server has not acknowledged: given back when
    /// the lane failed.
    pub(crate) fn held(&self) -> impl Iterator<Item = u64> + '_ {
        let current = self.current.map(|c| c.segment);
        current
            .into_iter()
            .chain(self.unacked_segments.iter().map(|s| s.0))
            .chain(self.todo.iter().copied())
    }

    /// Ends the upload on this lane: every segment is stored (on whichever lane).
    pub(crate) fn finish_now(&mut self) -> UploadAction {
        self.state = State::AwaitDone;
        UploadAction::Send(to_text(&UploadRequest::Finish))
    }

    /// Whether segments flow on this socket (after `ready`, before `finish`).
    pub(crate) fn is_sending(&self) -> bool {
        matches!(self.state, State::Sending)
    }

    /// How this upload ended, once it did.
    pub(crate) fn ended(&self) -> Option<Result<Uploaded, ClientError>> {
        match &self.state {
            State::Done(done) => Some(Ok(done.clone())),
            State::Failed(e) => Some(Err(e.clone())),
            _ => None,
        }
    }

    /// The server's window in chunks (0 before `ready`).
    pub(crate) fn window(&self) -> u64 {
        self.window
    }

    /// Chunks in each segment (0 before `ready`).
    pub(crate) fn segment_chunks(&self) -> u64 {
        self.segment_chunks
    }

    /// The upload's chunk sizes.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// What to do next.
    pub fn poll(&mut self) -> UploadAction {
        // Only a lane is ever idle.
        self.poll_lane().unwrap_or(UploadAction::Wait)
    }

    /// What to do next; `None` when this lane has nothing to send or wait for until
    /// another lane moves on.
    pub(crate) fn poll_lane(&mut self) -> Option<UploadAction> {
        Some(match &self.state {
            State::Start => {
                self.state = State::AwaitReady;
                UploadAction::Send(std::mem::take(&mut *self.first))
            }
            State::AwaitReady | State::AwaitDone => UploadAction::Wait,
            State::Sending => return self.next_in_segments(),
            State::Done(up) => UploadAction::Done(up.clone()),
            State::Failed(e) => UploadAction::Failed(e.clone()),
        })
    }

    fn next_in_segments(&mut self) -> Option<UploadAction> {
        if let Some(cur) = self.current {
            return Some(if self.unacked < self.window {
                UploadAction::SendChunk {
                    index: cur.next,
                    len: self.layout.len_of(cur.next) as usize,
                }
            } else {
                UploadAction::Wait
            });
        }
        if let Some(segment) = self.todo.pop_front() {
            let (next, count) = self.chunks_of(segment);
            self.current = Some(Current {
                segment,
                next,
                end: next + count,
            });
            return Some(UploadAction::Send(to_text(&UploadRequest::Segment {
                index: segment,
            })));
        }
        if !self.unacked_segments.is_empty() {
            return Some(UploadAction::Wait);
        }
        if self.lane.is_some() {
            return None;
        }
        Some(self.finish_now())
    }

    /// The first chunk of `segment` and its chunk count.
    fn chunks_of(&self, segment: u64) -> (u64, u64) {
        let first = segment * self.segment_chunks;
        (first, self.segment_chunks.min(self.layout.chunks - first))
    }

    /// The transport has sealed the chunk [`UploadAction::SendChunk`] asked for, `len`
    /// bytes, and is about to send it (only its size matters here, so the bytes stay where
    /// the transport keeps them: a JavaScript buffer in the browser). Refuses a chunk of
    /// the wrong size or one the window has no room for, which would make the server end
    /// the upload.
    pub fn chunk_ready(&mut self, len: usize) -> Result<(), ClientError> {
        let Some(cur) = self
            .current
            .filter(|_| matches!(self.state, State::Sending))
        else {
            return self.fail(ClientError::Misuse("a chunk outside a segment"));
        };
        if self.unacked >= self.window {
            return self.fail(ClientError::Misuse("a chunk outside the window"));
        }
        if len as u64 != self.layout.len_of(cur.next) {
            return self.fail(ClientError::Misuse("a chunk of the wrong size"));
        }
        self.unacked += 1;
        let next = cur.next + 1;
        if next == cur.end {
            let (first, count) = self.chunks_of(cur.segment);
            debug_assert_eq!(first + count, cur.end);
            self.unacked_segments.push_back((cur.segment, count));
            self.current = None;
        } else {
            self.current = Some(Current { next, ..cur });
        }
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
    /// `done` that is the normal end; before it this socket failed, and what the server
    /// acknowledged stays for a [`Upload::resume`].
    pub fn handle_closed(&mut self, reason: Option<&str>) -> Result<(), ClientError> {
        if self.is_over() {
            return Ok(());
        }
        self.fail(ClientError::Closed {
            reason: reason.map(str::to_owned),
        })
    }

    /// Ciphertext bytes the server holds durably (including what it had before a resume).
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// Chunks this socket may still send before an `ack` (0 before `ready`).
    pub fn window_room(&self) -> u64 {
        self.window.saturating_sub(self.unacked)
    }

    /// The number of chunks of the whole upload.
    pub fn total_chunks(&self) -> u64 {
        self.layout.chunks
    }

    /// Ciphertext bytes of the whole upload.
    pub fn total_bytes(&self) -> u64 {
        self.ciphertext_size
    }

    /// What a new socket needs to continue this upload: known once the server said
    /// `ready` to `start` (keep it from then on), or given to [`Upload::resume`].
    pub fn resumable(&self) -> Option<&Resumable> {
        self.resumable.as_ref()
    }

    fn is_over(&self) -> bool {
        matches!(self.state, State::Done(_) | State::Failed(_))
    }

    fn handle_event(&mut self, event: UploadEvent) -> Result<(), ClientError> {
        match (event, &self.state) {
            (UploadEvent::Error(body), _) => self.fail(body.into()),
            (UploadEvent::Unknown, _) => Ok(()),
            (ready @ UploadEvent::Ready { .. }, State::AwaitReady) => match self.ready(ready) {
                Ok(()) => Ok(()),
                Err(e) => self.fail(e),
            },
            (UploadEvent::Ready { .. }, _) => {
                self.fail(ClientError::ServerProtocol("`ready` out of turn"))
            }
            (UploadEvent::Ack { segment }, State::Sending | State::AwaitDone) => {
                let Some(at) = self.unacked_segments.iter().position(|s| s.0 == segment) else {
                    return self.fail(ClientError::ServerProtocol(
                        "an ack for a segment not sent on this socket",
                    ));
                };
                // unwrap: `at` was just found.
                let (_, count) = self.unacked_segments.remove(at).expect("found");
                self.unacked -= count;
                self.stored_bytes += self.segment_bytes(segment);
                if let Some(reports) = &mut self.lane {
                    reports.acked.push(segment);
                }
                Ok(())
            }
            (UploadEvent::Ack { .. }, _) => {
                self.fail(ClientError::ServerProtocol("`ack` out of turn"))
            }
            (
                UploadEvent::Done {
                    share_id,
                    expires_at,
                },
                State::AwaitDone | State::AwaitReady,
            ) => self.done(&share_id, expires_at),
            (UploadEvent::Done { .. }, _) => {
                self.fail(ClientError::ServerProtocol("`done` before `finish`"))
            }
        }
    }

    fn done(&mut self, share_id: &str, expires_at: i64) -> Result<(), ClientError> {
        // `done` right after the first message only answers a `resume` of an upload that
        // was committed before.
        let resuming_committed = matches!(self.state, State::AwaitReady);
        let Some(saved) = self
            .resumable
            .clone()
            .filter(|r| r.share_id.as_str() == share_id)
        else {
            return self.fail(ClientError::ServerProtocol(
                "`done` names another share, or comes before `ready`",
            ));
        };
        if resuming_committed {
            self.stored_bytes = self.ciphertext_size;
        }
        self.state = State::Done(Uploaded {
            share_id: saved.share_id,
            owner_token: saved.owner_token.to_vec(),
            expires_at,
        });
        Ok(())
    }

    fn segment_bytes(&self, segment: u64) -> u64 {
        self.layout.segment_bytes(segment, self.segment_chunks)
    }

    fn ready(&mut self, ready: UploadEvent) -> Result<(), ClientError> {
        let UploadEvent::Ready {
            share_id,
            window,
            segment_chunks,
            segments,
            missing,
            upload_token,
            owner_token,
        } = ready
        else {
            unreachable!("called with `ready` only");
        };
        let id = ShareId::parse(&share_id)
            .map_err(|_| ClientError::ServerProtocol("a malformed share ID"))?;
        if segment_chunks == 0
            || segments != self.layout.chunks.div_ceil(segment_chunks)
            || u64::from(window) < segment_chunks
        {
            return Err(ClientError::ServerProtocol(
                "`ready` announces segments that do not fit the upload or its window",
            ));
        }
        self.resumable = Some(match self.resumable.take() {
            Some(saved) if saved.share_id == id => saved,
            Some(_) => return Err(ClientError::ServerProtocol("`ready` names another share")),
            None => self.fresh_resumable(id, upload_token, owner_token)?,
        });
        self.window = u64::from(window);
        self.segment_chunks = segment_chunks;
        let missing = missing_segments(&missing, segments)?;
        let missing_bytes: u64 = missing.iter().map(|&s| self.segment_bytes(s)).sum();
        self.stored_bytes = self.ciphertext_size - missing_bytes;
        match &mut self.lane {
            Some(reports) => reports.missing = Some(missing),
            None => self.todo = missing,
        }
        self.state = State::Sending;
        Ok(())
    }

    fn fresh_resumable(
        &self,
        share_id: ShareId,
        upload_token: Option<b64::Bytes>,
        owner_token: Option<b64::Bytes>,
    ) -> Result<Resumable, ClientError> {
        let token = |t: Option<b64::Bytes>| {
            t.filter(|t| t.0.len() == 32)
                .map(|t| Zeroizing::new(t.0))
                .ok_or(ClientError::ServerProtocol(
                    "`ready` to `start` without 32-byte upload and owner tokens",
                ))
        };
        Ok(Resumable {
            share_id,
            upload_token: token(upload_token)?,
            owner_token: token(owner_token)?,
            header: self.header.clone(),
            ciphertext_size: self.ciphertext_size,
        })
    }

    fn fail<T>(&mut self, e: ClientError) -> Result<T, ClientError> {
        self.state = State::Failed(e.clone());
        Err(e)
    }
}

/// The segment indices in `ranges`, which must be ascending, disjoint and within
/// `0..segments`.
fn missing_segments(ranges: &[SegmentRange], segments: u64) -> Result<VecDeque<u64>, ClientError> {
    let mut out = VecDeque::new();
    let mut floor = 0;
    for &[start, end] in ranges {
        if start < floor || end <= start || end > segments {
            return Err(ClientError::ServerProtocol(
                "`ready` lists missing segments out of order or out of range",
            ));
        }
        out.extend(start..end);
        floor = end;
    }
    Ok(out)
}
