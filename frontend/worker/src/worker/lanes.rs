//! One upload over several WebSockets at once, as the client core's `UploadLanes` directs:
//! each lane is a task with its own socket and its own reader and sealer, and they share
//! the core. A lane with nothing to do waits until another lane moves on; a lane whose
//! socket broke pauses and reconnects (`ferry_worker::reconnect`) while the others carry
//! its segments on.
use std::cell::{Cell, RefCell};

use ferry_common::client::{UploadAction, UploadLanes, Uploaded};
use ferry_common::protocol::{UPLOAD_PATH, UploadRequest};
use ferry_worker::{Failure, FailureCode, Phase, Report, reconnect::Retries};

/// Why an upload's lanes stopped: [`Stop::Transient`] when a lane ran out of tries (the
/// upload may still be continued later), [`Stop::Fatal`] when it was refused or failed.
pub(super) use super::upload::Stop;
use futures_channel::oneshot;
use futures_util::future::{Either, select, try_join_all};

use super::{
    now_ms, post, sleep_ms,
    socket::{Event, Socket},
    upload::Producer,
};

/// What the lanes of one upload share.
struct Shared {
    session: RefCell<UploadLanes>,
    /// Lanes waiting for another lane to move on.
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// Whether the final chunk was sealed (with the final flag) on some lane.
    final_sealed: Cell<bool>,
    progress: RefCell<Progress>,
    /// Plaintext bytes of the file.
    size: u64,
    engine: String,
}

impl Shared {
    fn poll(&self, lane: usize) -> Option<UploadAction> {
        self.session.borrow_mut().poll(lane)
    }

    /// Hands a socket event of `lane` to the core (its verdict comes from the next
    /// `poll`) and wakes the lanes that wait for news.
    fn feed(&self, lane: usize, event: Event) {
        let mut session = self.session.borrow_mut();
        let _ = match event {
            Event::Text(text) => session.handle_text(lane, &text),
            Event::Binary(frame) => session.handle_binary(lane, frame.length() as usize),
            Event::Closed => session.handle_closed(lane, None),
        };
        drop(session);
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Resolves once some lane fed the core an event.
    async fn news(&self) {
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        let _ = rx.await;
    }

    fn phase(&self, phase: Phase) {
        let engine = Some(self.engine.clone());
        post(&Report::Phase { phase, engine }, None);
    }
}

/// Runs the upload `session` with one lane per producer (as many as the session has
/// lanes) until the server committed it.
pub(super) async fn run(
    session: UploadLanes,
    producers: Vec<Producer>,
    size: u64,
    engine: String,
) -> Result<Uploaded, Stop> {
    let shared = Shared {
        session: RefCell::new(session),
        waiters: RefCell::default(),
        final_sealed: Cell::new(false),
        progress: RefCell::default(),
        size,
        engine,
    };
    let lanes = producers
        .into_iter()
        .enumerate()
        .map(|(lane, producer)| lane_task(&shared, lane, producer));
    let mut done = try_join_all(lanes).await?;
    done.pop().ok_or_else(|| Stop::Fatal(internal()))
}

/// One lane, over as many sockets as it takes. Bounded: every turn ends the lane or counts
/// a try, and the count starts over only when the server stored more than ever before.
async fn lane_task(shared: &Shared, lane: usize, mut producer: Producer) -> Result<Uploaded, Stop> {
    let (mut retries, mut best) = (Retries::default(), 0);
    loop {
        let why = match connection(shared, lane, &mut producer).await {
            Ok(Some(done)) => return Ok(done),
            // Parked: it connects again once there is work (another lane failed).
            Ok(None) => continue,
            Err(Stop::Transient(failure)) => failure,
            Err(fatal) => return Err(fatal),
        };
        // Before the server's first `ready` there is nothing to resume.
        let stored = shared.session.borrow().stored_bytes();
        let resumable = shared.session.borrow().resumable().is_some();
        let Some((attempt, pause)) = retries.next(stored > best).filter(|_| resumable) else {
            return Err(Stop::Transient(why));
        };
        best = best.max(stored);
        shared.phase(Phase::Reconnecting { attempt });
        sleep_ms(pause).await;
    }
}

/// Waits until `lane` may open a socket; `Ok(Some(_))` if the upload ended meanwhile.
async fn turn(shared: &Shared, lane: usize) -> Result<Option<Uploaded>, Stop> {
    // Bounded: the core allows a connection once the first lane's `ready` arrived, or
    // ends the upload.
    loop {
        if shared.session.borrow().can_connect(lane) {
            return Ok(None);
        }
        match shared.poll(lane) {
            Some(UploadAction::Done(done)) => return Ok(Some(done)),
            Some(UploadAction::Failed(e)) => return Err(Stop::Fatal(Failure::from(e))),
            _ => shared.news().await,
        }
    }
}

/// One socket of `lane`: its first message (`start` or `resume`), the server's `ready`,
/// then the chunks of every segment the core hands this lane, and `finish` on the lane
/// that is last. `Ok(None)`: the lane ran out of work and closed its socket (parked).
async fn connection(
    shared: &Shared,
    lane: usize,
    producer: &mut Producer,
) -> Result<Option<Uploaded>, Stop> {
    if let Some(done) = turn(shared, lane).await? {
        return Ok(Some(done));
    }
    let mut socket = Socket::open(UPLOAD_PATH).await.map_err(Stop::Transient)?;
    if shared.session.borrow_mut().connect(lane).is_err() {
        // Another lane took the work, or the upload ended, while the socket opened.
        return Ok(None);
    }
    let mut flowing = false;
    loop {
        // Take in every ack that already arrived before deciding how far to run ahead.
        while let Some(event) = socket.try_next() {
            shared.feed(lane, event);
        }
        shared
            .progress
            .borrow_mut()
            .report(&shared.session.borrow(), shared.size);
        let room = shared.session.borrow().window_room(lane);
        producer
            .fill(producer.next_out() + room)
            .await
            .map_err(Stop::Fatal)?;
        shared
            .final_sealed
            .set(shared.final_sealed.get() | producer.final_sealed);
        match shared.poll(lane) {
            Some(UploadAction::SendChunk { index, .. })
                if !flowing || index != producer.next_out() =>
            {
                if !flowing {
                    flowing = true;
                    begin(shared, producer).await;
                    shared.phase(Phase::Transferring);
                }
                // A new connection, or the server has the segments in between.
                let window = shared.session.borrow().window(lane);
                producer.restart(index, window).map_err(Stop::Fatal)?;
            }
            Some(UploadAction::SendChunk { .. }) => {
                let Some(sealed) = producer.take().await.map_err(Stop::Fatal)? else {
                    // Room in the window, but the next block does not fit in it yet.
                    shared.feed(lane, socket.next().await);
                    continue;
                };
                shared
                    .session
                    .borrow_mut()
                    .chunk_ready(lane, sealed.length() as usize)?;
                socket.send_chunk(&sealed).map_err(Stop::Transient)?;
            }
            Some(UploadAction::Send(text)) if is_finish(&text) => {
                if !shared.final_sealed.get() {
                    return Err(Stop::Fatal(Failure::new(
                        FailureCode::Internal,
                        "the upload would end without its final chunk",
                    )));
                }
                socket.send_text(&text).map_err(Stop::Transient)?;
                shared.phase(Phase::Finishing);
            }
            // The first message, or a segment's announcement.
            Some(UploadAction::Send(text)) => socket.send_text(&text).map_err(Stop::Transient)?,
            Some(UploadAction::Wait) => shared.feed(lane, socket.next().await),
            // Nothing for this lane until another one moves on; its own socket may still
            // speak (close, or an error).
            None if shared.session.borrow_mut().park(lane) => return Ok(None),
            None => {
                let news = std::pin::pin!(shared.news());
                let own = std::pin::pin!(socket.next());
                if let Either::Right((event, _)) = select(news, own).await {
                    shared.feed(lane, event);
                }
            }
            Some(UploadAction::Done(done)) => return Ok(Some(done)),
            Some(UploadAction::Failed(e)) => return Err(e.into()),
        }
    }
}

/// The server accepted this connection: the keeper writes a new upload's record before its
/// first chunk goes out (see `keeper`).
async fn begin(shared: &Shared, producer: &Producer) {
    let (saved, stored, total) = {
        let session = shared.session.borrow();
        let saved = session.resumable().cloned();
        (saved, session.stored_bytes(), session.total_bytes())
    };
    let mut keeper = producer.keeper.lock().await;
    keeper
        .begin(saved.as_ref(), (stored, total), shared.size)
        .await;
}

fn internal() -> Failure {
    Failure::new(FailureCode::Internal, "the upload ended out of turn")
}

/// Whether `text` (from the core) is the `finish` message.
fn is_finish(text: &str) -> bool {
    matches!(
        serde_json::from_str::<UploadRequest>(text),
        Ok(UploadRequest::Finish)
    )
}

/// Progress reports to the page, at most every 100 ms (and at the end).
#[derive(Default)]
struct Progress {
    stored: u64,
    at: f64,
}

impl Progress {
    /// Reports the plaintext share of what the server stored, of `size` bytes.
    fn report(&mut self, session: &UploadLanes, size: u64) {
        let stored = session.stored_bytes();
        if stored == self.stored {
            return;
        }
        let now = now_ms();
        let total = session.total_bytes().max(1);
        if now - self.at > 100.0 || stored == total {
            (self.stored, self.at) = (stored, now);
            let done = (u128::from(stored) * u128::from(size) / u128::from(total)) as u64;
            post(&Report::Progress { done, total: size }, None);
        }
    }
}
