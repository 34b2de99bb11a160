//! Receive: derive keys and present the download token, then either hand the download to
//! the page's service worker (`via_service_worker`: it fetches, opens and streams the file
//! to disk) or, where the page has none, receive it here over the download socket,
//! decrypting chunk by chunk into a `Blob`. A file is presented as complete only after
//! every chunk verified and the final chunk closed the stream; on any failure a Blob is
//! never handed over.
//!
//! A socket that breaks after `ready` (or a server that is briefly unable) is replaced
//! after a pause, a bounded number of times in a row without progress
//! (`ferry_worker::reconnect`): the download continues inside its claim (the claim token
//! from the first `ready`) from the first chunk not yet received. What the Blob already
//! has stays; only verified chunks are ever added. A claim that is gone (`claim-lost`) or
//! any other refusal ends the download, visibly.
use ferry_common::{
    Header, Keys, LinkSecret, Metadata, b64,
    client::{ClientError, Download, DownloadAction, Ready, ShareId},
    protocol::DOWNLOAD_PATH,
};
use ferry_worker::{AesChoice, BLOB_CAP, Failure, FailureCode, Phase, Report, reconnect::Retries};
use std::collections::VecDeque;

use ferry_common::zip::Renderer;
use js_sys::{Array, Uint8Array};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag};

use super::{
    archive::Archive,
    engine::{Chunks, failure, result},
    now_ms, post, sleep_ms,
    socket::{Event, Socket, lost},
    via_service_worker,
};

/// The fallback sink: the pieces of one `Blob`, which is why files are capped at
/// [`BLOB_CAP`]. Every [`FOLD`] chunks the pieces are folded into a Blob (which the
/// browser may keep outside the worker's heap), so the worker never holds more than a few
/// MiB of loose plaintext.
struct BlobSink {
    parts: Array,
    folded: Array,
    /// For a share of several files: the ZIP the plaintext goes into.
    zip: Option<Renderer>,
}

/// Chunks folded into one Blob at a time (16 MiB at 256 KiB chunks).
const FOLD: u32 = 64;

impl BlobSink {
    fn new(archive: Option<Archive>) -> Self {
        BlobSink {
            parts: Array::new(),
            folded: Array::new(),
            zip: archive.map(|a| Renderer::new(a.pieces, a.files)),
        }
    }

    fn blob(parts: &Array) -> Result<Blob, Failure> {
        let options = BlobPropertyBag::new();
        options.set_type("application/octet-stream");
        Blob::new_with_u8_array_sequence_and_options(parts, &options).map_err(|_| {
            Failure::new(
                FailureCode::Internal,
                "the browser could not assemble the file",
            )
        })
    }

    fn push(&mut self, plain: Uint8Array) -> Result<(), Failure> {
        if let Some(zip) = &mut self.zip {
            let parts = &self.parts;
            zip.push(&plain.to_vec(), &mut |b| {
                parts.push(&Uint8Array::from(b));
            })
            .map_err(|_| failure(ferry_common::Error::Corrupted))?;
        } else {
            self.parts.push(&plain);
        }
        if self.parts.length() >= FOLD {
            let blob = Self::blob(&self.parts)?;
            self.folded.push(&blob);
            self.parts = Array::new();
        }
        Ok(())
    }

    fn finish(self) -> Result<Blob, Failure> {
        if let Some(zip) = self.zip {
            let parts = &self.parts;
            zip.finish(&mut |b| {
                parts.push(&Uint8Array::from(b));
            })
            .map_err(|_| failure(ferry_common::Error::Corrupted))?;
        }
        let tail = Self::blob(&self.parts)?;
        self.folded.push(&tail);
        Self::blob(&self.folded)
    }
}

fn protocol_error() -> Failure {
    Failure::new(FailureCode::Internal, "the server answered out of turn")
}

pub async fn run(
    share_id: String,
    header: String,
    secret: String,
    passphrase: String,
    aes: AesChoice,
    port: Option<web_sys::MessagePort>,
) -> Result<(), Failure> {
    let header = b64::decode(&header)
        .and_then(|bytes| Header::parse(&bytes))
        .map_err(failure)?;
    let secret = LinkSecret::from_fragment(&secret).map_err(failure)?;
    post(
        &Report::Phase {
            phase: Phase::DerivingKeys,
            engine: None,
        },
        None,
    );
    let keys = Keys::derive(&header, &passphrase, Some(&secret)).map_err(failure)?;
    drop(passphrase);
    let share_id = ShareId::parse(&share_id)
        .map_err(|_| Failure::new(FailureCode::Internal, "the link's share ID is malformed"))?;
    let session = Download::new(&share_id, keys.download_token.as_bytes(), &header);
    match port {
        Some(port) => via_service_worker::run(port, &share_id, session, &keys, &header).await,
        None => into_blob(session, &keys, &header, aes).await,
    }
}

/// What the metadata a `ready` carried says: the name to save under, the plaintext size,
/// and for a share of several files the ZIP it is saved as.
pub struct Opened {
    /// The file's name, or the ZIP's.
    pub name: String,
    /// Plaintext size of the payload.
    pub size: u64,
    /// The ZIP of a share of several files.
    pub archive: Option<Archive>,
}

impl Opened {
    /// The page's [`Report::Metadata`].
    pub fn report(&self) -> Report {
        Report::Metadata {
            name: self.name.clone(),
            size: self.size,
            entries: self
                .archive
                .as_ref()
                .map(|a| a.entries.clone())
                .unwrap_or_default(),
        }
    }
}

/// Opens the metadata a `ready` carried and checks it against the sizes.
pub fn open_metadata(ready: &Ready, keys: &Keys, header: &Header) -> Result<Opened, Failure> {
    // The token was right, so the keys are right: a metadata block that does not open
    // was altered in storage, or (a manifest refused) written by a cheating sender.
    let meta = Metadata::open(&ready.metadata, &keys.metadata, header).map_err(|e| match e {
        ferry_common::Error::Manifest(e) => Failure::new(
            FailureCode::Corrupted,
            format!("the share's list of files is unsafe or broken ({e}); nothing was saved"),
        ),
        e @ ferry_common::Error::UnsupportedMetadata(_) => {
            Failure::new(FailureCode::Internal, e.to_string())
        }
        _ => Failure::new(
            FailureCode::Corrupted,
            "the file's sealed description does not verify: it was modified in storage",
        ),
    })?;
    let size = header
        .plaintext_len(ready.ciphertext_size)
        .filter(|&len| len == meta.size() && header.chunk_count(len) == ready.chunks)
        .ok_or_else(|| failure(ferry_common::Error::Corrupted))?;
    Ok(match meta {
        Metadata::File(file) => Opened {
            name: file.name,
            size,
            archive: None,
        },
        Metadata::Files(manifest) => {
            let archive = Archive::new(&manifest);
            Opened {
                name: archive.name.clone(),
                size,
                archive: Some(archive),
            }
        }
    })
}

/// Receives the download over the socket into a `Blob` (at most [`BLOB_CAP`]), which goes
/// to the page with [`Report::Downloaded`].
async fn into_blob(
    mut session: Download,
    keys: &Keys,
    header: &Header,
    aes: AesChoice,
) -> Result<(), Failure> {
    let mut chunks = Chunks::opener(&keys.payload, header, aes).await;
    post(
        &Report::Phase {
            phase: Phase::Connecting,
            engine: Some(chunks.engine()),
        },
        None,
    );
    let mut socket = Socket::open(DOWNLOAD_PATH).await?;
    let ready = loop {
        match session.poll() {
            DownloadAction::Send(text) => socket.send_text(&text)?,
            DownloadAction::Wait => {
                let _ = match socket.next().await {
                    Event::Text(text) => session.handle_text(&text),
                    Event::Binary(frame) => {
                        session.handle_binary(frame.length() as usize).map(drop)
                    }
                    Event::Closed => session.handle_closed(None),
                };
            }
            DownloadAction::Ready(ready) => break ready,
            DownloadAction::Done { .. } => return Err(protocol_error()),
            DownloadAction::Failed(e) => return Err(Failure::from(e)),
        }
    };
    let opened = open_metadata(&ready, keys, header)?;
    let (name, size) = (opened.name.clone(), opened.size);
    let saved_len = opened.archive.as_ref().map_or(size, |a| a.len);
    if saved_len > BLOB_CAP {
        return Err(Failure::new(
            FailureCode::TooLarge,
            format!(
                "this file is larger than the {} MiB this page can save for now",
                BLOB_CAP >> 20
            ),
        ));
    }
    post(&opened.report(), None);
    post(
        &Report::Phase {
            phase: Phase::Transferring,
            engine: Some(chunks.engine()),
        },
        None,
    );
    let mut sink = BlobSink::new(opened.archive);
    let mut state = Receiving {
        opening: VecDeque::new(),
        sunk: 0,
        done_bytes: 0,
        last_report: 0.0,
        total: ready.chunks,
        size,
    };
    let downloads_left =
        connections(socket, &mut session, &mut chunks, &mut sink, &mut state).await?;
    let blob = sink.finish()?;
    post(
        &Report::Downloaded {
            name,
            downloads_left,
        },
        Some(&blob),
    );
    Ok(())
}

/// Chunks decrypting at once with WebCrypto or the helper workers, so decryption overlaps the socket and the
/// sink (the server's window is at least 2 chunks, usually 16).
const IN_FLIGHT: usize = 8;

/// A chunk being opened: still running (WebCrypto, helper workers), or done by the wasm
/// engine on this thread.
enum Opening {
    Pending(JsFuture),
    Ready(Uint8Array),
}

/// Why one connection's part of the download ended.
enum Stop {
    /// The connection broke, or the server was briefly unable: a new one may resume.
    Transient(Failure),
    /// Anything else (a lost claim, a chunk that does not verify): the download is over.
    Fatal(Failure),
}

/// Sorts a failure of the client core once chunks flow.
fn stop(e: ClientError) -> Stop {
    if e.is_transient() {
        Stop::Transient(Failure::from(e))
    } else {
        Stop::Fatal(stream_failure(e))
    }
}

/// What outlives a connection: the chunks being opened (received before the cut, so the
/// resumed `start` does not ask for them again) and what went to the sink.
struct Receiving {
    opening: VecDeque<Opening>,
    /// Chunks verified and handed to the sink.
    sunk: u64,
    /// Their plaintext bytes.
    done_bytes: u64,
    /// When progress was last reported (ms since the epoch).
    last_report: f64,
    total: u64,
    size: u64,
}

/// Runs the download over as many connections as it takes (see the module docs); returns
/// the downloads the share still allows, if the server said.
async fn connections(
    first: Socket,
    session: &mut Download,
    chunks: &mut Chunks,
    sink: &mut BlobSink,
    state: &mut Receiving,
) -> Result<Option<u32>, Failure> {
    let mut socket = Some(first);
    let (mut retries, mut best) = (Retries::default(), 0);
    // Bounded: every turn ends the download or counts a try, and the count starts over
    // only when more chunks arrived than ever before.
    loop {
        let result = match socket.take() {
            Some(mut socket) => receive(&mut socket, session, chunks, sink, state).await,
            None => resumed(session, chunks, sink, state).await,
        };
        let why = match result {
            Ok(left) => return finish(chunks, state, left),
            Err(Stop::Fatal(failure)) => return Err(failure),
            Err(Stop::Transient(failure)) => failure,
        };
        if !session.can_resume() {
            return Err(why);
        }
        let progressed = session.received_chunks() > best;
        best = best.max(session.received_chunks());
        let Some((attempt, pause)) = retries.next(progressed) else {
            return Err(why);
        };
        post(
            &Report::Phase {
                phase: Phase::Reconnecting { attempt },
                engine: Some(chunks.engine()),
            },
            None,
        );
        sleep_ms(pause).await;
        session.resume().map_err(Failure::from)?;
    }
}

/// A new connection that continues the download inside its claim: the resumed `start`
/// goes out at once; the server's `ready` (or refusal) arrives among the chunks.
async fn resumed(
    session: &mut Download,
    chunks: &mut Chunks,
    sink: &mut BlobSink,
    state: &mut Receiving,
) -> Result<Option<u32>, Stop> {
    let mut socket = Socket::open(DOWNLOAD_PATH).await.map_err(Stop::Transient)?;
    match session.poll() {
        DownloadAction::Send(start) => socket.send_text(&start).map_err(Stop::Transient)?,
        DownloadAction::Failed(e) => return Err(stop(e)),
        _ => return Err(Stop::Fatal(protocol_error())),
    }
    post(
        &Report::Phase {
            phase: Phase::Transferring,
            engine: Some(chunks.engine()),
        },
        None,
    );
    receive(&mut socket, session, chunks, sink, state).await
}
/// Receives, verifies and sinks chunks on one connection, in order, as the client core
/// directs (it checks every chunk's size, the window and the order of the server's
/// messages); `Ok` once the server counted the download, or once every chunk verified
/// and the server hung up before saying so. Returns the downloads the share still allows,
/// if the server said.
async fn receive(
    socket: &mut Socket,
    session: &mut Download,
    chunks: &mut Chunks,
    sink: &mut BlobSink,
    state: &mut Receiving,
) -> Result<Option<u32>, Stop> {
    // `Done` from the server, and whether the socket closed.
    let (mut done, mut closed) = (None, false);
    loop {
        if state.opening.is_empty() {
            if let Some(left) = done {
                return Ok(Some(left));
            }
            if closed {
                // Every chunk verified but the server hung up before confirming: the file
                // is still complete and authentic.
                if state.sunk == state.total {
                    return Ok(None);
                }
                return Err(Stop::Transient(lost()));
            }
        }
        // Take what the socket has; finish the oldest chunk when enough are in flight or
        // nothing else is waiting.
        let event = if closed || state.opening.len() >= IN_FLIGHT {
            None
        } else if state.opening.is_empty() {
            Some(socket.next().await)
        } else {
            socket.try_next()
        };
        match event {
            None => {
                let Some(next) = state.opening.pop_front() else {
                    continue;
                };
                let plain = match next {
                    Opening::Ready(plain) => plain,
                    Opening::Pending(future) => result(
                        future
                            .await
                            .map_err(|_| Stop::Fatal(failure(ferry_common::Error::Corrupted)))?,
                    ),
                };
                state.done_bytes += u64::from(plain.length());
                sink.push(plain).map_err(Stop::Fatal)?;
                state.sunk += 1;
                session.acknowledge(state.sunk).map_err(stop)?;
                done = done.or(step(session, socket)?);
                report(state, chunks);
            }
            Some(Event::Binary(sealed)) => {
                let chunk = session
                    .handle_binary(sealed.length() as usize)
                    .map_err(stop)?;
                state
                    .opening
                    .push_back(match chunks.open_ahead(&sealed, chunk.last) {
                        Some(promise) => {
                            Opening::Pending(JsFuture::from(promise.map_err(Stop::Fatal)?))
                        }
                        None => {
                            Opening::Ready(chunks.open(&sealed, chunk.last).map_err(Stop::Fatal)?)
                        }
                    });
            }
            Some(Event::Text(text)) => {
                session.handle_text(&text).map_err(stop)?;
                done = done.or(step(session, socket)?);
            }
            // Not handed to the core: a download whose every chunk verified is complete
            // even if the server hung up before `done` (see the top of the loop).
            Some(Event::Closed) => closed = true,
        }
    }
}

/// Reports progress (at most every 100 ms, and at the end), and the last phase once
/// every chunk is in.
fn report(state: &mut Receiving, chunks: &Chunks) {
    let last = state.sunk == state.total;
    let now = now_ms();
    if now - state.last_report > 100.0 || last {
        state.last_report = now;
        post(
            &Report::Progress {
                done: state.done_bytes,
                total: state.size,
            },
            None,
        );
    }
    if last {
        post(
            &Report::Phase {
                phase: Phase::Finishing,
                engine: Some(chunks.engine()),
            },
            None,
        );
    }
}

/// The download is complete only once the final chunk closed the stream, every chunk's
/// verification was awaited and the sizes match.
fn finish(chunks: &Chunks, state: &Receiving, left: Option<u32>) -> Result<Option<u32>, Failure> {
    chunks.finish()?;
    if state.sunk != state.total || state.done_bytes != state.size || !state.opening.is_empty() {
        return Err(failure(ferry_common::Error::Truncated));
    }
    Ok(left)
}

/// Sends what the core has due (an ack); `Some` once the server's `done` arrived.
fn step(session: &mut Download, socket: &Socket) -> Result<Option<u32>, Stop> {
    // At most one ack is ever due: each `acknowledge` is followed by a step.
    for _ in 0..2 {
        match session.poll() {
            DownloadAction::Send(text) => socket.send_text(&text).map_err(Stop::Transient)?,
            DownloadAction::Done { downloads_left } => return Ok(Some(downloads_left)),
            DownloadAction::Failed(e) => return Err(stop(e)),
            DownloadAction::Wait | DownloadAction::Ready(_) => return Ok(None),
        }
    }
    Ok(None)
}

/// A failure once chunks flow: a server that sends chunks of the wrong size, beyond the
/// window or beyond the end serves a stream that is not the stored share's, which the
/// page reports as altered in storage (as decryption would).
fn stream_failure(e: ClientError) -> Failure {
    match e {
        ClientError::ServerProtocol(_) => failure(ferry_common::Error::Corrupted),
        other => Failure::from(other),
    }
}
