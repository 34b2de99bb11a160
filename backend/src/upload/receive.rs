//! Receiving segments on one socket: `segment{index}` then exactly that segment's chunks,
//! any number of times, then `finish`.
//!
//! A full segment is stored (object, then row) while the next one arrives; at most one
//! store is in flight per socket and at most `window` chunks are held unacknowledged, so
//! memory per socket is bounded by the window whatever the file size.
use std::{collections::VecDeque, future::Future, pin::Pin};

use bytes::Bytes;
use ferry_common::protocol::{ErrorCode, UploadEvent, UploadRequest};

use super::{plan::Shape, segment};
use crate::{
    AppState,
    ws::{self, End, Incoming, Outbox, frames::Frames},
};

/// A segment whose chunks are arriving.
struct Filling {
    index: u64,
    first: u64,
    count: u64,
    chunks: Vec<Bytes>,
}

type Storing<'a> = Pin<Box<dyn Future<Output = Result<(), End>> + 'a>>;

/// One socket's segments, from the first `segment` to `finish`.
pub(crate) struct Receiver<'a> {
    state: &'a AppState,
    id: &'a str,
    shape: Shape,
    filling: Option<Filling>,
    /// Full segments waiting for their store.
    full: VecDeque<(u64, Vec<Bytes>)>,
    /// The store in flight: its segment, its chunk count and the store itself.
    storing: Option<(u64, u64, Storing<'a>)>,
    /// Chunks received on this socket and not yet covered by an `ack`.
    unacked: u64,
    finish: bool,
}

impl<'a> Receiver<'a> {
    pub(crate) fn new(state: &'a AppState, id: &'a str, shape: Shape) -> Receiver<'a> {
        Receiver {
            state,
            id,
            shape,
            filling: None,
            full: VecDeque::new(),
            storing: None,
            unacked: 0,
            finish: false,
        }
    }

    /// Runs until `finish` arrived and every segment received is stored and acknowledged.
    pub(crate) async fn run(mut self, out: &mut Outbox, frames: &mut Frames) -> Result<(), End> {
        let idle = self.state.config.idle_timeout;
        loop {
            if self.storing.is_none()
                && let Some((index, chunks)) = self.full.pop_front()
            {
                let count = chunks.len() as u64;
                let store = segment::store(self.state, self.id, index, chunks);
                self.storing = Some((index, count, Box::pin(store)));
            }
            if self.finish && self.storing.is_none() {
                return Ok(());
            }
            tokio::select! {
                stored = async { (&mut self.storing.as_mut().expect("guarded").2).await },
                    if self.storing.is_some() =>
                {
                    stored?;
                    // unwrap: this branch only runs while a store is in flight.
                    let (index, count, _) = self.storing.take().expect("in flight");
                    self.unacked -= count;
                    ws::send_json(out, &UploadEvent::Ack { segment: index }).await?;
                }
                msg = ws::next_message(out, frames, idle), if !self.finish => {
                    match msg? {
                        Incoming::Closed => return Err(End::Gone),
                        Incoming::Binary(chunk) => self.chunk(chunk)?,
                        Incoming::Text(text) => self.text(&text)?,
                    }
                }
            }
        }
    }

    fn text(&mut self, text: &str) -> Result<(), End> {
        let msg = serde_json::from_str::<UploadRequest>(text)
            .map_err(|e| End::refuse(ErrorCode::BadRequest, format!("malformed message: {e}")))?;
        match msg {
            UploadRequest::Segment { index } => self.announce(index),
            UploadRequest::Finish => {
                if let Some(filling) = &self.filling {
                    return Err(violation(format!(
                        "\"finish\" in the middle of segment {}",
                        filling.index
                    )));
                }
                self.finish = true;
                Ok(())
            }
            UploadRequest::Start { .. } | UploadRequest::Resume { .. } => {
                Err(violation("\"start\" or \"resume\" was already sent"))
            }
            UploadRequest::Unknown => Err(violation("unknown message type on the upload socket")),
        }
    }

    fn announce(&mut self, index: u64) -> Result<(), End> {
        if let Some(filling) = &self.filling {
            return Err(violation(format!(
                "segment {index} announced before segment {} was complete",
                filling.index
            )));
        }
        if index >= self.shape.segments {
            return Err(End::refuse(
                ErrorCode::BadRequest,
                format!(
                    "segment {index} does not exist; this upload has {} segments",
                    self.shape.segments
                ),
            ));
        }
        let (first, count) = self.shape.segment(index);
        self.filling = Some(Filling {
            index,
            first,
            count,
            chunks: Vec::with_capacity(count as usize),
        });
        Ok(())
    }

    fn chunk(&mut self, chunk: Bytes) -> Result<(), End> {
        let Some(filling) = &mut self.filling else {
            return Err(violation(
                "a chunk outside a segment (send \"segment\" first)",
            ));
        };
        let index = filling.first + filling.chunks.len() as u64;
        let len = chunk.len() as u64;
        let layout = self.shape.layout;
        if len > layout.sealed() {
            return Err(End::refuse(
                ErrorCode::FrameTooLarge,
                format!(
                    "chunk {index} has {len} bytes; a sealed chunk has at most {}",
                    layout.sealed()
                ),
            ));
        }
        let expected = layout.len_of(index);
        if len != expected {
            return Err(violation(format!(
                "chunk {index} has {len} bytes; expected exactly {expected}"
            )));
        }
        if self.unacked >= u64::from(self.shape.window) {
            return Err(violation(format!(
                "more than {} unacknowledged chunks (the window)",
                self.shape.window
            )));
        }
        self.unacked += 1;
        self.state.metrics.received(len);
        filling.chunks.push(chunk);
        if filling.chunks.len() as u64 == filling.count {
            // unwrap: `filling` is Some (matched above).
            let done = self.filling.take().expect("filling");
            self.full.push_back((done.index, done.chunks));
        }
        Ok(())
    }
}

fn violation(message: impl Into<String>) -> End {
    End::refuse(ErrorCode::ProtocolViolation, message)
}
