//! The network half of `ferry send`: one upload over one or more sockets at once
//! ("lanes"), as the client core's [`UploadLanes`] directs.
//!
//! Each lane has its own socket and its own [`Sealer`] (reading and sealing a few chunks
//! ahead on a blocking thread); they share the core, the seal log and the state file, all
//! in one task. A lane whose connection breaks (or whose server fails for a moment) pauses
//! and reconnects, a bounded number of times in a row without progress, while the others
//! carry its segments on. Every chunk's tag is logged before the chunk is sent.
use std::{cell::RefCell, time::Duration};

use ferry_common::{
    LinkSecret,
    client::{ClientError, SealLog, UploadAction, UploadLanes, Uploaded},
    protocol::UPLOAD_PATH,
};
use futures_util::{
    SinkExt, StreamExt,
    future::{Either, select, try_join_all},
};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    error::{Error, Result},
    link::Server,
    net::{self, Incoming},
    pending::Pending,
    progress,
    sealer::Sealer,
};

/// New connections a lane tries in a row without any segment stored before giving up.
const MAX_RETRIES: u32 = 6;

/// What the state file records once the server gave the upload token.
pub(crate) struct Record<'a> {
    pub server: &'a str,
    pub secret: Option<&'a LinkSecret>,
    pub verifier: &'a [u8],
    pub downloads: u32,
}

/// What the lanes of one upload share.
pub(crate) struct Shared<'a> {
    session: RefCell<UploadLanes>,
    log: RefCell<SealLog>,
    pending: RefCell<Option<&'a mut Pending>>,
    record: Record<'a>,
    bar: indicatif::ProgressBar,
    news: Notify,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(
        session: UploadLanes,
        log: SealLog,
        pending: Option<&'a mut Pending>,
        record: Record<'a>,
    ) -> Shared<'a> {
        let bar = progress::bar(session.total_bytes(), "Uploading");
        Shared {
            session: RefCell::new(session),
            log: RefCell::new(log),
            pending: RefCell::new(pending),
            record,
            bar,
            news: Notify::new(),
        }
    }

    /// Hands what `lane`'s server sent to the core (its verdict comes from the next
    /// `poll`) and wakes the lanes that wait for news.
    fn feed(&self, lane: usize, incoming: Incoming) -> std::result::Result<(), ClientError> {
        let mut session = self.session.borrow_mut();
        let result = match incoming {
            Incoming::Text(text) => session.handle_text(lane, &text),
            Incoming::Binary(frame) => session.handle_binary(lane, frame.len()),
            Incoming::Closed(reason) => session.handle_closed(lane, reason.as_deref()),
        };
        self.bar.set_position(session.stored_bytes());
        drop(session);
        self.news.notify_waiters();
        result
    }

    fn stored_bytes(&self) -> u64 {
        self.session.borrow().stored_bytes()
    }

    /// Writes the state file once the upload token is known (before anything is sent).
    fn save_state(&self) -> Result<()> {
        let mut pending = self.pending.borrow_mut();
        let session = self.session.borrow();
        let (Some(p), Some(resumable)) = (pending.as_deref_mut(), session.resumable()) else {
            return Ok(());
        };
        if p.is_saved() {
            return Ok(());
        }
        let r = &self.record;
        p.save(r.server, resumable, r.secret, r.verifier, r.downloads)
    }

    /// Logs chunk `index`'s tag (refusing a chunk sealed before to other bytes), in the
    /// state file too.
    fn log_chunk(&self, index: u64, chunk: &[u8]) -> Result<()> {
        let tag = self
            .log
            .borrow_mut()
            .record(index, chunk)
            .map_err(Error::from_client)?;
        if let (Some(tag), Some(p)) = (tag, self.pending.borrow_mut().as_deref_mut()) {
            p.append_seal(index, &tag)?;
        }
        Ok(())
    }
}

/// Runs the upload with one lane per sealer until the server committed it.
pub(crate) async fn transfer(
    server: &Server,
    shared: &Shared<'_>,
    sealers: Vec<Sealer>,
) -> Result<Uploaded> {
    let lanes = sealers
        .into_iter()
        .enumerate()
        .map(|(lane, sealer)| lane_task(server, shared, lane, sealer));
    let done = try_join_all(lanes).await?;
    shared.bar.finish_and_clear();
    done.into_iter()
        .next()
        .ok_or_else(|| Error::Other("an upload with no lane".into()))
}

/// One lane over as many connections as it takes. Bounded: every turn ends the lane or
/// counts a failure, and the count starts over only when the server stored more.
async fn lane_task(
    server: &Server,
    shared: &Shared<'_>,
    lane: usize,
    mut sealer: Sealer,
) -> Result<Uploaded> {
    let mut failures = 0;
    loop {
        let before = shared.stored_bytes();
        let err = match connection(server, shared, lane, &mut sealer).await {
            Ok(Some(uploaded)) => return Ok(uploaded),
            // Parked: it connects again once there is work (another lane failed).
            Ok(None) => continue,
            Err(err @ Error::Network(_)) => err,
            Err(err) => return Err(err),
        };
        // Before the server's first `ready` there is nothing to resume.
        if shared.session.borrow().resumable().is_none() {
            return Err(err);
        }
        failures = if shared.stored_bytes() > before {
            1
        } else {
            failures + 1
        };
        if failures > MAX_RETRIES {
            return Err(Error::Network(format!(
                "{err}; gave up after {MAX_RETRIES} attempts (run the same command again to resume)"
            )));
        }
        let pause = Duration::from_millis(250 << (failures - 1).min(6));
        shared.bar.suspend(|| {
            progress::info(format!(
                "{err}; reconnecting in {:.1} s ({} of {} stored)",
                pause.as_secs_f64(),
                indicatif::HumanBytes(shared.stored_bytes()),
                indicatif::HumanBytes(shared.session.borrow().total_bytes()),
            ))
        });
        tokio::time::sleep(pause).await;
    }
}

/// Waits until `lane` may open a socket; `Ok(Some(_))` if the upload ended meanwhile.
async fn turn(shared: &Shared<'_>, lane: usize) -> Result<Option<Uploaded>> {
    // Bounded: the core allows a connection once the first lane's `ready` arrived, or
    // ends the upload.
    loop {
        let news = shared.news.notified();
        if shared.session.borrow().can_connect(lane) {
            return Ok(None);
        }
        let action = shared.session.borrow_mut().poll(lane);
        match action {
            Some(UploadAction::Done(done)) => return Ok(Some(done)),
            Some(UploadAction::Failed(e)) => return Err(Error::from_client(e)),
            _ => news.await,
        }
    }
}

/// One connection of `lane`, as the client core directs. `Ok(None)`: the lane ran out of
/// work and closed its connection (parked).
async fn connection(
    server: &Server,
    shared: &Shared<'_>,
    lane: usize,
    sealer: &mut Sealer,
) -> Result<Option<Uploaded>> {
    if let Some(done) = turn(shared, lane).await? {
        return Ok(Some(done));
    }
    let (mut sink, mut stream) = net::connect(server, UPLOAD_PATH).await?.split();
    if shared.session.borrow_mut().connect(lane).is_err() {
        // Another lane took the work, or the upload ended, while the socket opened.
        return Ok(None);
    }
    // Bounded: every turn sends a frame or consumes a server message (each awaited at
    // most the idle timeout) or waits for another lane, and the core ends after `done`
    // or a failure.
    loop {
        let news = shared.news.notified();
        let action = shared.session.borrow_mut().poll(lane);
        match action {
            Some(UploadAction::Send(text)) => {
                shared.save_state()?;
                if let Err(e) = net::send_text(&mut sink, text).await {
                    return Err(reason_after_break(&mut stream, shared, lane, e).await);
                }
            }
            Some(UploadAction::SendChunk { index, .. }) => {
                let chunk = sealer.chunk(index).await?;
                shared.log_chunk(index, &chunk)?;
                shared
                    .session
                    .borrow_mut()
                    .chunk_ready(lane, chunk.len())
                    .map_err(Error::from_client)?;
                if let Err(e) = sink.send(Message::binary(chunk)).await {
                    let e = net::broken(e);
                    return Err(reason_after_break(&mut stream, shared, lane, e).await);
                }
            }
            Some(UploadAction::Wait) => receive(shared, lane, &mut stream).await,
            None if shared.session.borrow_mut().park(lane) => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(None);
            }
            None => {
                // Nothing for this lane until another one moves on; its own socket may
                // still speak (a close, an error).
                let own = std::pin::pin!(net::next(&mut stream));
                if let Either::Right((incoming, _)) = select(std::pin::pin!(news), own).await {
                    let _ = shared.feed(lane, incoming.unwrap_or(Incoming::Closed(None)));
                }
            }
            Some(UploadAction::Done(uploaded)) => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(Some(uploaded));
            }
            Some(UploadAction::Failed(e)) => return Err(Error::from_client(e)),
        }
    }
}

/// Reads `lane`'s next server message into the core (a broken socket counts as closed).
async fn receive<S>(shared: &Shared<'_>, lane: usize, stream: &mut S)
where
    S: StreamExt<Item = std::result::Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    let incoming = net::next(stream).await.unwrap_or(Incoming::Closed(None));
    let _ = shared.feed(lane, incoming);
}

/// After a failed send, the server may have said why before closing: prefer its reason.
async fn reason_after_break<S>(
    stream: &mut S,
    shared: &Shared<'_>,
    lane: usize,
    fallback: Error,
) -> Error
where
    S: StreamExt<Item = std::result::Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    let wait = async {
        // Bounded by the timeout below.
        loop {
            let Ok(incoming) = net::next(stream).await else {
                return None;
            };
            match shared.feed(lane, incoming) {
                Err(e) if e.server_code().is_some() => return Some(e),
                Err(_) => return None,
                Ok(()) => continue,
            }
        }
    };
    let reason = match tokio::time::timeout(Duration::from_secs(2), wait).await {
        Ok(Some(e)) => Error::from_client(e),
        _ => fallback,
    };
    // The core must see this lane's end, so that its segments go to the others.
    let _ = shared.feed(lane, Incoming::Closed(None));
    let _ = shared.session.borrow_mut().poll(lane);
    reason
}
