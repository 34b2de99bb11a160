//! One upload over several sockets at once ("lanes"), each carrying whole segments.
//!
//! A browser's WebSocket carries only so much (`scripts/bench-browser-socket.sh`), so a
//! transfer may spread its segments over a few sockets. Every lane is an [`Upload`] of the
//! same session: the first begins it (`start`), the others join with `resume` once the
//! first `ready` gave the upload token. Segments are handed out one at a time to whichever
//! lane has room, so a slow lane holds up at most the segment it is sending. Lane `i`
//! begins at the `i`-th `n`-th of what is missing and goes on with the segment after its
//! last one while that is free, so each lane reads the file in order; a lane that
//! fails gives its unacknowledged segments back for the others (the server stores a
//! segment sent twice once). When every segment is acknowledged, one lane sends `finish`.
//! Each lane keeps its own window, so what is in flight stays within lanes × window.
use std::collections::{BTreeSet, VecDeque};

use super::{ClientError, Layout, Resumable, Upload, UploadAction, Uploaded};
use crate::protocol::UploadRequest;

/// Where a segment stands, once the server announced the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// Not stored, and no lane is sending it.
    Free,
    /// Being sent on this lane.
    Sending(usize),
    /// Acknowledged on some lane, or not missing in some `ready`.
    Stored,
}

/// One upload over up to `lanes` sockets; see the [module docs](self). The transport keeps
/// one socket per connected lane and drives each lane as it would drive an [`Upload`],
/// naming the lane in every call.
#[derive(Debug)]
pub struct UploadLanes {
    lanes: Vec<Option<Upload>>,
    /// `start` for the first lane, until a `ready` made the upload resumable.
    first: Option<Upload>,
    resumable: Option<Resumable>,
    layout: Layout,
    ciphertext_size: u64,
    /// Known after the first `ready`.
    segments: Vec<Segment>,
    /// How many of `segments` are stored.
    stored: usize,
    segment_chunks: u64,
    free: BTreeSet<u64>,
    /// The segment each lane was last given.
    last: Vec<Option<u64>>,
    stored_bytes: u64,
    /// The lane that sent `finish`.
    finisher: Option<usize>,
    outcome: Option<Result<Uploaded, ClientError>>,
}

impl UploadLanes {
    /// A new upload (see [`Upload::new`]) over at most `lanes` sockets (at least one).
    pub fn new(start: &UploadRequest, lanes: usize) -> Result<UploadLanes, ClientError> {
        let first = Upload::new(start)?;
        let (layout, size) = (first.layout(), first.total_bytes());
        Ok(Self::with(
            Some(first.into_lane()),
            None,
            layout,
            size,
            lanes,
        ))
    }

    /// Continues an upload (see [`Upload::resume`]) over at most `lanes` sockets.
    pub fn resume(saved: &Resumable, lanes: usize) -> Result<UploadLanes, ClientError> {
        let layout = Upload::resume(saved)?.layout();
        let size = saved.ciphertext_size;
        Ok(Self::with(None, Some(saved.clone()), layout, size, lanes))
    }

    fn with(
        first: Option<Upload>,
        resumable: Option<Resumable>,
        layout: Layout,
        ciphertext_size: u64,
        lanes: usize,
    ) -> UploadLanes {
        UploadLanes {
            lanes: vec![None; lanes.max(1)],
            first,
            resumable,
            layout,
            ciphertext_size,
            segments: Vec::new(),
            stored: 0,
            segment_chunks: 0,
            free: BTreeSet::new(),
            last: vec![None; lanes.max(1)],
            stored_bytes: 0,
            finisher: None,
            outcome: None,
        }
    }

    /// The number of lanes.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Whether `lane` may open a socket now: it has none, the upload is not over, and
    /// either it is the first lane of a new upload, or the upload token is known and there
    /// is work for it (a free segment, or the `finish` no connected lane will send).
    pub fn can_connect(&self, lane: usize) -> bool {
        let unconnected = self.lanes.get(lane).is_some_and(Option::is_none);
        let first = lane == 0 && self.first.is_some();
        self.outcome.is_none()
            && unconnected
            && (first || self.resumable.is_some() && self.has_work())
    }

    /// Whether a lane that connects now would have something to do.
    fn has_work(&self) -> bool {
        let all_stored = self.stored == self.segments.len();
        self.segments.is_empty()
            || !self.free.is_empty()
            || (all_stored && self.lanes.iter().all(Option::is_none))
    }

    /// `lane` has nothing to send or wait for ([`UploadLanes::poll`] said `None`) and no
    /// segment is free: close its socket (true) rather than keep it silent until the
    /// other lanes are done, which on a slow link can outlast the server's idle timeout.
    /// It may connect again once [`UploadLanes::can_connect`] says there is work.
    pub fn park(&mut self, lane: usize) -> bool {
        let idle = match self.lanes.get(lane) {
            Some(Some(upload)) => upload.held().next().is_none() && upload.is_sending(),
            _ => false,
        };
        if idle && self.free.is_empty() && self.finisher != Some(lane) {
            self.lanes[lane] = None;
        }
        idle && self.lanes[lane].is_none()
    }

    /// `lane` has a new socket: its first [`UploadLanes::poll`] says what to send.
    pub fn connect(&mut self, lane: usize) -> Result<(), ClientError> {
        if !self.can_connect(lane) {
            return Err(ClientError::Misuse("this lane cannot connect now"));
        }
        let upload = match &self.resumable {
            Some(saved) => Upload::resume(saved)?.into_lane(),
            // unwrap-free: `can_connect` checked there is a first upload.
            None => self.first.take().ok_or(ClientError::Misuse("no start"))?,
        };
        self.lanes[lane] = Some(upload);
        Ok(())
    }

    /// What `lane` should do next, as [`Upload::poll`] says; `None` when it has nothing to
    /// send or wait for until another lane moves on (an ack, a failure, the end; a lane
    /// with no socket waits for [`UploadLanes::can_connect`]): poll it again then. [`UploadAction::Failed`] with a transient error ends only this lane:
    /// its segments go back to the others, and it may [`connect`](UploadLanes::connect)
    /// again; any other failure ends the upload.
    pub fn poll(&mut self, lane: usize) -> Option<UploadAction> {
        if let Some(outcome) = &self.outcome {
            return Some(match outcome {
                Ok(done) => UploadAction::Done(done.clone()),
                Err(e) => UploadAction::Failed(e.clone()),
            });
        }
        let Some(Some(upload)) = self.lanes.get_mut(lane) else {
            return None;
        };
        Some(match upload.poll_lane() {
            None => return self.next_segment(lane),
            Some(UploadAction::Done(done)) => {
                self.stored_bytes = self.ciphertext_size;
                self.outcome = Some(Ok(done.clone()));
                UploadAction::Done(done)
            }
            Some(UploadAction::Failed(e)) => self.lane_failed(lane, e),
            Some(action) => action,
        })
    }

    /// Hands an idle lane the next free segment, or `finish` once all are stored.
    fn next_segment(&mut self, lane: usize) -> Option<UploadAction> {
        let picked = self.pick(lane);
        let all_stored = self.stored == self.segments.len() && !self.segments.is_empty();
        let upload = self.lanes[lane].as_mut()?;
        if let Some(segment) = picked {
            upload.assign(segment);
            self.free.remove(&segment);
            self.last[lane] = Some(segment);
            self.segments[segment as usize] = Segment::Sending(lane);
            return upload.poll_lane();
        }
        if all_stored && self.finisher.is_none() {
            self.finisher = Some(lane);
            return Some(upload.finish_now());
        }
        None
    }

    /// The free segment `lane` should send next: the one after its last, else (its first,
    /// or after a jump) the start of its share of what is free.
    fn pick(&self, lane: usize) -> Option<u64> {
        let after = self.last[lane].map(|s| s + 1);
        if let Some(next) = after.filter(|s| self.free.contains(s)) {
            return Some(next);
        }
        let share = match after {
            None => self.free.len() * lane / self.lanes.len(),
            Some(_) => 0,
        };
        self.free.iter().nth(share).copied()
    }

    fn lane_failed(&mut self, lane: usize, e: ClientError) -> UploadAction {
        self.settle(lane);
        self.lanes[lane] = None;
        UploadAction::Failed(e)
    }

    /// `segment`, which `lane` held, is free again unless the server has it.
    fn release(&mut self, segment: u64, lane: usize) {
        let slot = &mut self.segments[segment as usize];
        if *slot == Segment::Sending(lane) {
            *slot = Segment::Free;
            self.free.insert(segment);
        }
    }

    /// The transport sealed the chunk `lane` asked for (see [`Upload::chunk_ready`]).
    pub fn chunk_ready(&mut self, lane: usize, len: usize) -> Result<(), ClientError> {
        let result = self.lane(lane)?.chunk_ready(len);
        self.settle(lane);
        result
    }

    /// A text message from the server on `lane`'s socket.
    pub fn handle_text(&mut self, lane: usize, text: &str) -> Result<(), ClientError> {
        let result = self.lane(lane)?.handle_text(text);
        self.take_reports(lane)?;
        self.settle(lane);
        result
    }

    /// A binary frame on `lane`'s socket (never allowed).
    pub fn handle_binary(&mut self, lane: usize, len: usize) -> Result<(), ClientError> {
        let result = self.lane(lane)?.handle_binary(len);
        self.settle(lane);
        result
    }

    /// `lane`'s socket ended.
    pub fn handle_closed(&mut self, lane: usize, reason: Option<&str>) -> Result<(), ClientError> {
        let result = self.lane(lane)?.handle_closed(reason);
        self.settle(lane);
        result
    }

    /// Takes in at once what ended `lane`, so that every other lane sees it on its next
    /// poll (whichever lane polls first): the upload's end, or the segments a failed
    /// lane gives back. The lane itself still reports its end on its next poll.
    fn settle(&mut self, lane: usize) {
        let Some(Some(upload)) = self.lanes.get(lane) else {
            return;
        };
        match upload.ended() {
            Some(Ok(done)) => {
                self.stored_bytes = self.ciphertext_size;
                self.outcome.get_or_insert(Ok(done));
            }
            Some(Err(e)) => {
                let held: Vec<u64> = upload.held().collect();
                for segment in held {
                    self.release(segment, lane);
                }
                if self.finisher == Some(lane) {
                    self.finisher = None;
                }
                // Before the first `ready` there is nothing another socket could continue.
                let unresumable = self.resumable.is_none() && self.first.is_none();
                if !e.is_transient() || unresumable {
                    self.outcome.get_or_insert(Err(e));
                }
            }
            None => {}
        }
    }

    fn lane(&mut self, lane: usize) -> Result<&mut Upload, ClientError> {
        match self.lanes.get_mut(lane) {
            Some(Some(upload)) => Ok(upload),
            _ => Err(ClientError::Misuse("a lane with no socket")),
        }
    }

    /// Takes in what `lane` learned: the segments its `ready` said are missing, and its
    /// acks.
    fn take_reports(&mut self, lane: usize) -> Result<(), ClientError> {
        let upload = self.lane(lane)?;
        let reports = upload.take_reports();
        let (resumable, segment_chunks) = (upload.resumable().cloned(), upload.segment_chunks());
        if self.resumable.is_none() {
            self.resumable = resumable;
        }
        if let Some(missing) = reports.missing {
            self.merge_ready(lane, segment_chunks, missing)?;
        }
        for segment in reports.acked {
            self.mark_stored(segment);
        }
        Ok(())
    }

    /// A lane's `ready`: the first one announces the segments; any says which are stored.
    fn merge_ready(
        &mut self,
        lane: usize,
        segment_chunks: u64,
        missing: VecDeque<u64>,
    ) -> Result<(), ClientError> {
        if self.segments.is_empty() {
            self.segment_chunks = segment_chunks;
            let count = self.layout.chunks.div_ceil(segment_chunks);
            self.segments = vec![Segment::Stored; count as usize];
            self.stored = self.segments.len() - missing.len();
            self.stored_bytes = self.ciphertext_size;
            for &segment in &missing {
                self.segments[segment as usize] = Segment::Free;
                self.stored_bytes -= self.segment_bytes(segment);
            }
            self.free = missing.into_iter().collect();
            return Ok(());
        }
        if segment_chunks != self.segment_chunks {
            return self.fail_lane(lane, "lanes announce different segments");
        }
        // A segment this `ready` lists as missing may have been acknowledged on another
        // socket since the server wrote it: sockets are not ordered with each other, so
        // only "not missing" is news.
        let mut missing = missing.into_iter().peekable();
        for segment in 0..self.segments.len() as u64 {
            if missing.next_if_eq(&segment).is_none() {
                self.mark_stored(segment);
            }
        }
        Ok(())
    }

    fn fail_lane(&mut self, lane: usize, why: &'static str) -> Result<(), ClientError> {
        let e = ClientError::ServerProtocol(why);
        self.outcome = Some(Err(e.clone()));
        self.lanes[lane] = None;
        Err(e)
    }

    fn mark_stored(&mut self, segment: u64) {
        let slot = &mut self.segments[segment as usize];
        if *slot == Segment::Free {
            self.free.remove(&segment);
        }
        if *slot != Segment::Stored {
            *slot = Segment::Stored;
            self.stored += 1;
            self.stored_bytes += self.segment_bytes(segment);
        }
    }

    fn segment_bytes(&self, segment: u64) -> u64 {
        self.layout.segment_bytes(segment, self.segment_chunks)
    }

    /// Ciphertext bytes the server holds durably, over every lane.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// Chunks `lane` may still send before an ack (0 without a socket or before `ready`).
    pub fn window_room(&self, lane: usize) -> u64 {
        match self.lanes.get(lane) {
            Some(Some(upload)) => upload.window_room(),
            _ => 0,
        }
    }

    /// The window `lane`'s server announced, in chunks (0 before its `ready`).
    pub fn window(&self, lane: usize) -> u64 {
        match self.lanes.get(lane) {
            Some(Some(upload)) => upload.window(),
            _ => 0,
        }
    }

    /// The number of chunks of the whole upload.
    pub fn total_chunks(&self) -> u64 {
        self.layout.chunks
    }

    /// Ciphertext bytes of the whole upload.
    pub fn total_bytes(&self) -> u64 {
        self.ciphertext_size
    }

    /// What a new socket (or a later run) needs to continue this upload; known once the
    /// first `ready` arrived.
    pub fn resumable(&self) -> Option<&Resumable> {
        self.resumable.as_ref()
    }
}
