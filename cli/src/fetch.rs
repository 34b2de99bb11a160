//! The network half of `ferry receive`: one download over as many sockets as it takes.
//!
//! The client core ([`Download`]) keeps the protocol; this keeps the sockets. A socket that
//! breaks (or a server that fails, or is busy for a moment) is replaced after a short
//! backoff, a bounded number of times, and the download continues inside its claim from
//! the first chunk not yet received, so the partial file only ever grows with verified
//! plaintext. If the claim is gone (it was cut inside its first window and released), a
//! fresh claim starts again at chunk 0 and the chunks already handed to the writer are
//! read past, not written twice. A download an earlier run left unfinished continues its
//! claim ([`Fetch::continue_claim`]) from the chunks that run kept.
use std::time::Duration;

use ferry_common::{
    Header,
    client::{ClientError, Download, DownloadAction, Ready, ShareId},
    protocol::DOWNLOAD_PATH,
};
use futures_util::{
    StreamExt,
    stream::{SplitSink, SplitStream},
};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{self, Message};
use zeroize::Zeroizing;

use crate::{
    error::{Error, Result},
    link::Server,
    net::{self, Incoming, Socket},
};

/// Sockets tried after the first one broke, per download.
const RETRIES: u32 = 6;
/// The first backoff; it doubles per retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest backoff. With [`RETRIES`] the waits add up to well under a claim's
/// default lease (60 s), so a held claim is still there when the last retry comes.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

type Sink = SplitSink<Socket, Message>;
type Stream = SplitStream<Socket>;

/// Why one socket's part of the download ended.
enum Fault {
    /// Worth another socket: the connection broke, or the server failed or was busy.
    Retry(Error),
    /// The claim is gone; only a fresh claim can continue.
    ClaimLost(Error),
    /// Nothing another socket could change (tampering, a refusal, a local failure).
    Fatal(Error),
}

impl From<ClientError> for Fault {
    fn from(e: ClientError) -> Fault {
        match e {
            ClientError::ClaimLost { .. } => Fault::ClaimLost(Error::from_client(e)),
            e if e.is_transient() => Fault::Retry(Error::from_client(e)),
            e => Fault::Fatal(Error::from_client(e)),
        }
    }
}

/// The current claim's token, for the record that lets a later run continue it.
pub(crate) type ClaimToken = Option<Zeroizing<Vec<u8>>>;

/// One share's download across sockets.
pub(crate) struct Fetch {
    server: Server,
    share_id: ShareId,
    token: Zeroizing<[u8; 32]>,
    header: Header,
    session: Download,
    conn: Option<(Sink, Stream)>,
    /// The first `ready`: a fresh claim must announce the same file.
    ready: Option<(u64, u64)>,
    /// Chunks handed to the writer, over every socket and claim.
    forwarded: u64,
    /// Chunks below this index were handed to the writer under an earlier claim; a fresh
    /// claim's copies of them are read past.
    skip_below: u64,
    /// The highest count the writer verified.
    verified: u64,
    /// The highest count given to the core to acknowledge (this claim).
    acked: u64,
    /// `done`'s downloads left, if it came.
    done: Option<u32>,
    /// Called with a sentence when a socket is replaced.
    note: fn(&str),
    /// The claim an earlier run began and the chunk it continues from, until a claim of
    /// this run's own replaces it.
    continued: Option<(Zeroizing<Vec<u8>>, u64)>,
    /// Publishes the claim token of every claim's `ready`.
    claim: watch::Sender<ClaimToken>,
}

impl Fetch {
    /// A download of `share_id` with the download token from the key schedule.
    pub(crate) fn new(
        server: Server,
        share_id: ShareId,
        token: &[u8; 32],
        header: Header,
        note: fn(&str),
    ) -> Fetch {
        let session = Download::new(&share_id, token, &header);
        Fetch {
            server,
            share_id,
            token: Zeroizing::new(*token),
            header,
            session,
            conn: None,
            ready: None,
            forwarded: 0,
            skip_below: 0,
            verified: 0,
            acked: 0,
            done: None,
            note,
            continued: None,
            claim: watch::Sender::new(None),
        }
    }

    /// Continues the claim an earlier run kept (`claim_token`), from chunk `from` (every
    /// chunk before it is verified and kept): the next `start` presents them.
    pub(crate) fn continue_claim(&mut self, claim_token: &[u8], from: u64) {
        self.continued = Some((Zeroizing::new(claim_token.to_vec()), from));
        self.session = self.first_session();
        (self.forwarded, self.verified, self.acked) = (from, from, from);
    }

    /// The claim token of the current claim, updated whenever a claim's `ready` comes.
    pub(crate) fn claims(&self) -> watch::Receiver<ClaimToken> {
        self.claim.subscribe()
    }

    /// A session for the first `ready`: a fresh claim, or the continued one.
    fn first_session(&self) -> Download {
        match &self.continued {
            Some((claim, from)) => {
                Download::continue_claim(&self.share_id, &self.token, &self.header, claim, *from)
            }
            None => Download::new(&self.share_id, &self.token, &self.header),
        }
    }

    /// Connects and claims a download: the server's `ready`. Retries transient failures.
    pub(crate) async fn ready(&mut self) -> Result<Ready> {
        let mut attempt = 0;
        // Bounded by RETRIES: every failed turn counts one.
        loop {
            match self.try_ready().await {
                Ok(ready) => {
                    self.ready = Some((ready.ciphertext_size, ready.chunks));
                    publish_claim(&self.session, &self.claim);
                    return Ok(ready);
                }
                Err(Fault::Retry(e)) if attempt < RETRIES => {
                    self.conn = None;
                    self.session = self.first_session();
                    backoff(attempt, &e, self.note).await;
                    attempt += 1;
                }
                // Only a continued claim can be lost before its `ready`.
                Err(Fault::ClaimLost(_)) => return Err(Error::ClaimLost),
                Err(Fault::Retry(e) | Fault::Fatal(e)) => return Err(e),
            }
        }
    }

    async fn try_ready(&mut self) -> Result<Ready, Fault> {
        self.connect().await?;
        let Some((sink, stream)) = self.conn.as_mut() else {
            return Err(no_connection());
        };
        // Bounded: each turn sends `start` or consumes one server message.
        loop {
            match self.session.poll() {
                DownloadAction::Send(text) => {
                    net::send_text(sink, text).await.map_err(Fault::Retry)?
                }
                DownloadAction::Wait => {
                    let incoming = net::next(stream).await.map_err(Fault::Retry)?;
                    let _ = feed(&mut self.session, incoming);
                }
                DownloadAction::Ready(ready) => return Ok(ready),
                DownloadAction::Failed(e) => return Err(e.into()),
                DownloadAction::Done { .. } => {
                    return Err(Fault::Fatal(protocol("`done` before `ready`")));
                }
            }
        }
    }

    /// Opens a socket unless one is up.
    async fn connect(&mut self) -> Result<(), Fault> {
        if self.conn.is_none() {
            let socket = net::connect(&self.server, DOWNLOAD_PATH)
                .await
                .map_err(Fault::Retry)?;
            self.conn = Some(socket.split());
        }
        Ok(())
    }

    /// Receives every chunk into `chunks` (for the writer) and acknowledges what the
    /// writer reports verified on `verified`, replacing broken sockets, until the writer
    /// verified all `total` chunks (the last ack is then sent if a socket is up) or stops.
    /// `progress` gets each verified count.
    pub(crate) async fn receive(
        &mut self,
        total: u64,
        chunks: &mpsc::Sender<tungstenite::Bytes>,
        verified: &mut mpsc::UnboundedReceiver<u64>,
        progress: impl Fn(u64),
    ) -> Result<()> {
        let (mut attempt, mut fresh_claims) = (0, 0);
        // Bounded: every failed turn counts a retry, or (at most RETRIES times) a fresh
        // claim after a lost one.
        loop {
            let fault = match self.pump(total, chunks, verified, &progress).await {
                Ok(()) => return Ok(()),
                Err(fault) => fault,
            };
            self.conn = None;
            let e = match fault {
                Fault::Fatal(e) => return Err(e),
                Fault::ClaimLost(e) if fresh_claims < RETRIES => {
                    // A definite answer, not a failure: start over at once.
                    (self.note)(&format!("{e}; starting a fresh download"));
                    self.fresh_claim();
                    fresh_claims += 1;
                    continue;
                }
                Fault::ClaimLost(e) => return Err(e),
                Fault::Retry(e) if self.session.received_chunks() == total => {
                    // Every chunk is here: the file completes without the server (the
                    // claim then counts when its lease runs out).
                    return self
                        .finish_offline(total, verified, &progress)
                        .await
                        .map_err(|()| e);
                }
                Fault::Retry(e) if self.session.can_resume() => {
                    self.session.resume().map_err(Error::from_client)?;
                    e
                }
                Fault::Retry(e) => {
                    self.fresh_claim();
                    e
                }
            };
            if attempt == RETRIES {
                return Err(e);
            }
            backoff(attempt, &e, self.note).await;
            attempt += 1;
        }
    }

    /// Starts over with a fresh claim at chunk 0; what was already handed to the writer
    /// is read past.
    fn fresh_claim(&mut self) {
        self.continued = None;
        self.session = Download::new(&self.share_id, &self.token, &self.header);
        self.skip_below = self.forwarded;
        self.acked = 0;
    }

    /// One socket's part: until the final ack is sent, or a fault.
    async fn pump(
        &mut self,
        total: u64,
        chunks: &mpsc::Sender<tungstenite::Bytes>,
        verified: &mut mpsc::UnboundedReceiver<u64>,
        progress: &impl Fn(u64),
    ) -> Result<(), Fault> {
        self.connect().await?;
        self.drive().await?;
        // Bounded: every turn consumes a chunk (at most `total` per claim) or a verified
        // count (at most `total`).
        loop {
            let Some((_, stream)) = self.conn.as_mut() else {
                return Err(no_connection());
            };
            tokio::select! {
                incoming = net::next(stream), if self.session.received_chunks() < total => {
                    match incoming.map_err(Fault::Retry)? {
                        Incoming::Binary(data) => self.take_chunk(data, chunks).await?,
                        other => feed(&mut self.session, other)?,
                    }
                }
                n = verified.recv() => match n {
                    Some(n) => {
                        self.verified = self.verified.max(n);
                        progress(n);
                    }
                    None => return Ok(()), // the writer stopped; its result explains why
                },
            }
            self.sync_acks()?;
            self.drive().await?;
            if self.verified == total && self.acked == total {
                return Ok(());
            }
        }
    }

    /// A chunk frame: checked by the core, then handed to the writer unless an earlier
    /// claim already did.
    async fn take_chunk(
        &mut self,
        data: tungstenite::Bytes,
        chunks: &mpsc::Sender<tungstenite::Bytes>,
    ) -> Result<(), Fault> {
        let info = self.session.handle_binary(data.len())?;
        if info.index < self.skip_below {
            return Ok(());
        }
        if chunks.send(data).await.is_err() {
            // The writer stopped; its result explains why.
            return Err(Fault::Fatal(Error::Other("the file writer stopped".into())));
        }
        self.forwarded = info.index + 1;
        Ok(())
    }

    /// Acknowledges, on this claim, what the writer verified and what an earlier claim
    /// already handed over.
    fn sync_acks(&mut self) -> Result<(), Fault> {
        let received = self.session.received_chunks();
        let target = self
            .verified
            .max(received.min(self.skip_below))
            .min(received);
        if target > self.acked {
            self.session.acknowledge(target)?;
            self.acked = target;
        }
        Ok(())
    }

    /// Does what the core has due: sends its messages, checks a fresh claim's `ready`,
    /// notes `done`.
    async fn drive(&mut self) -> Result<(), Fault> {
        let Some((sink, _)) = self.conn.as_mut() else {
            return Err(no_connection());
        };
        // At most a `start`, an ack of 0, a `ready` and an ack are due at once.
        for _ in 0..8 {
            match self.session.poll() {
                DownloadAction::Send(text) => {
                    net::send_text(sink, text).await.map_err(Fault::Retry)?
                }
                DownloadAction::Ready(ready) => {
                    if self.ready != Some((ready.ciphertext_size, ready.chunks)) {
                        return Err(Fault::Fatal(Error::Tampered(
                            "the server announces another file than before".into(),
                        )));
                    }
                    publish_claim(&self.session, &self.claim);
                }
                DownloadAction::Done { downloads_left } => {
                    self.done = Some(downloads_left);
                    return Ok(());
                }
                DownloadAction::Wait => return Ok(()),
                DownloadAction::Failed(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Every chunk arrived but the socket broke: waits for the writer to finish.
    async fn finish_offline(
        &mut self,
        total: u64,
        verified: &mut mpsc::UnboundedReceiver<u64>,
        progress: &impl Fn(u64),
    ) -> std::result::Result<(), ()> {
        if self.verified == total {
            return Ok(());
        }
        // Bounded: the writer sends at most `total` counts, then closes.
        while let Some(n) = verified.recv().await {
            progress(n);
            if n == total {
                return Ok(());
            }
        }
        Err(())
    }

    /// The server's `done` after the final ack: the downloads left, or `None` if it does
    /// not come within 10 seconds (the file is saved either way).
    pub(crate) async fn confirmation(&mut self) -> Option<u32> {
        if self.done.is_some() {
            return self.done;
        }
        let (_, stream) = self.conn.as_mut()?;
        let session = &mut self.session;
        let done = async {
            // Bounded by the timeout below.
            loop {
                let Ok(incoming) = net::next(stream).await else {
                    return None;
                };
                let _ = feed(session, incoming);
                match session.poll() {
                    DownloadAction::Done { downloads_left } => return Some(downloads_left),
                    DownloadAction::Wait => {}
                    _ => return None,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), done)
            .await
            .ok()
            .flatten()
    }
}

/// Waits before the next socket: 250 ms doubling up to 8 s.
async fn backoff(attempt: u32, why: &Error, note: fn(&str)) {
    let wait = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF);
    note(&format!(
        "{why}; reconnecting in {wait:?} (retry {} of {RETRIES})",
        attempt + 1
    ));
    tokio::time::sleep(wait).await;
}

/// Makes the claim token of the `ready` `session` just received the current one.
fn publish_claim(session: &Download, claim: &watch::Sender<ClaimToken>) {
    claim.send_replace(session.claim_token().map(|t| Zeroizing::new(t.to_vec())));
}

/// Hands what the server sent to the core; its verdict comes from the next `poll`.
fn feed(session: &mut Download, incoming: Incoming) -> std::result::Result<(), ClientError> {
    match incoming {
        Incoming::Text(text) => session.handle_text(&text),
        Incoming::Binary(frame) => session.handle_binary(frame.len()).map(|_| ()),
        Incoming::Closed(reason) => session.handle_closed(reason.as_deref()),
    }
}

/// A socket was expected to be up (`connect` ran first): a bug, not a network failure.
fn no_connection() -> Fault {
    Fault::Fatal(Error::Other("internal error: no connection".into()))
}

fn protocol(what: &str) -> Error {
    Error::Network(format!("the server broke the protocol: {what}"))
}
