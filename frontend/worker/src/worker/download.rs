//! Receive: derive keys, present the download token, open the metadata, then decrypt
//! chunk by chunk into a sink: the service worker's download stream where the page has
//! one, else a `Blob`. A file is presented as complete only after every chunk verified and
//! the final chunk closed the stream; on any failure a Blob is never handed over and a
//! stream is errored, so the browser marks the download failed.
use ferry_common::{
    FileMetadata, Header, Keys, LinkSecret, b64,
    client::{ClientError, Download, DownloadAction, ShareId},
    protocol::DOWNLOAD_PATH,
};
use ferry_worker::{AesChoice, BLOB_CAP, Failure, Phase, Report};
use std::collections::VecDeque;

use js_sys::{Array, Uint8Array};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag};

use super::{
    engine::{Chunks, failure, result},
    now_ms, post,
    save_stream::StreamSink,
    socket::{Event, Socket, lost},
    upload::client_failure,
};

/// Where decrypted chunks go.
enum Sink {
    Stream(StreamSink),
    Blob(BlobSink),
}

impl Sink {
    async fn push(&mut self, plain: Uint8Array) -> Result<(), Failure> {
        match self {
            Sink::Stream(s) => s.push(plain).await,
            Sink::Blob(b) => b.push(plain),
        }
    }
}

/// The fallback sink: the pieces of one `Blob`, which is why files are capped at
/// [`BLOB_CAP`]. Every [`FOLD`] chunks the pieces are folded into a Blob (which the
/// browser may keep outside the worker's heap), so the worker never holds more than a few
/// MiB of loose plaintext.
struct BlobSink {
    parts: Array,
    folded: Array,
}

/// Chunks folded into one Blob at a time (16 MiB at 256 KiB chunks).
const FOLD: u32 = 64;

impl BlobSink {
    fn new() -> Self {
        BlobSink {
            parts: Array::new(),
            folded: Array::new(),
        }
    }

    fn blob(parts: &Array) -> Result<Blob, Failure> {
        let options = BlobPropertyBag::new();
        options.set_type("application/octet-stream");
        Blob::new_with_u8_array_sequence_and_options(parts, &options)
            .map_err(|_| Failure::new("internal", "the browser could not assemble the file"))
    }

    fn push(&mut self, plain: Uint8Array) -> Result<(), Failure> {
        self.parts.push(&plain);
        if self.parts.length() >= FOLD {
            let blob = Self::blob(&self.parts)?;
            self.folded.push(&blob);
            self.parts = Array::new();
        }
        Ok(())
    }

    fn finish(self) -> Result<Blob, Failure> {
        let tail = Self::blob(&self.parts)?;
        self.folded.push(&tail);
        Self::blob(&self.folded)
    }
}

fn protocol_error() -> Failure {
    Failure::new("internal", "the server answered out of turn")
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
    let mut chunks = Chunks::opener(&keys.payload, &header, aes).await;
    post(
        &Report::Phase {
            phase: Phase::Connecting,
            engine: Some(chunks.engine()),
        },
        None,
    );

    let share_id = ShareId::parse(&share_id)
        .map_err(|_| Failure::new("internal", "the link's share ID is malformed"))?;
    let mut session = Download::new(&share_id, keys.download_token.as_bytes(), &header);
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
            DownloadAction::Failed(e) => return Err(client_failure(e)),
        }
    };
    let (metadata, ciphertext_size, total) = (ready.metadata, ready.ciphertext_size, ready.chunks);
    // The token was right, so the keys are right: a metadata block that does not open
    // was altered in storage.
    let meta = FileMetadata::open(&metadata, &keys.metadata, &header).map_err(|_| {
        Failure::new(
            "corrupted",
            "the file's sealed description does not verify: it was modified in storage",
        )
    })?;
    let size = header
        .plaintext_len(ciphertext_size)
        .filter(|&len| len == meta.size && header.chunk_count(len) == total)
        .ok_or_else(|| failure(ferry_common::Error::Corrupted))?;
    if port.is_none() && size > BLOB_CAP {
        return Err(Failure::new(
            "too-large",
            format!(
                "this file is larger than the {} MiB this page can save for now",
                BLOB_CAP >> 20
            ),
        ));
    }
    post(
        &Report::Metadata {
            name: meta.name.clone(),
            size,
        },
        None,
    );
    post(
        &Report::Phase {
            phase: Phase::Transferring,
            engine: Some(chunks.engine()),
        },
        None,
    );

    let mut sink = match port {
        Some(port) => Sink::Stream(StreamSink::new(port, meta.name.clone(), size)),
        None => Sink::Blob(BlobSink::new()),
    };
    let result = receive(
        &mut socket,
        &mut session,
        &mut chunks,
        &mut sink,
        total,
        size,
    )
    .await;
    let downloads_left = match (result, sink) {
        (Err(failure), Sink::Stream(stream)) => {
            stream.fail(&failure);
            return Err(failure);
        }
        (Err(failure), Sink::Blob(_)) => return Err(failure),
        (Ok(left), Sink::Stream(stream)) => {
            stream.finish().await?;
            left
        }
        (Ok(left), Sink::Blob(blob)) => {
            let blob = blob.finish()?;
            post(
                &Report::Downloaded {
                    name: meta.name,
                    downloads_left: left,
                },
                Some(&blob),
            );
            return Ok(());
        }
    };
    post(
        &Report::Downloaded {
            name: meta.name,
            downloads_left,
        },
        None,
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

/// Receives, verifies and sinks every chunk, in order, as the client core directs (it
/// checks every chunk's size, the window and the order of the server's messages); `Ok`
/// only once the final chunk closed the stream, every chunk's verification was awaited
/// and the sizes match. Returns the downloads the share still allows, if the server said.
async fn receive(
    socket: &mut Socket,
    session: &mut Download,
    chunks: &mut Chunks,
    sink: &mut Sink,
    total: u64,
    size: u64,
) -> Result<Option<u32>, Failure> {
    let mut opening: VecDeque<Opening> = VecDeque::new();
    let (mut received, mut done_bytes, mut last_report) = (0u64, 0u64, 0.0);
    // `Done` from the server, and whether the socket closed.
    let (mut done, mut closed) = (None, false);
    let downloads_left = loop {
        if opening.is_empty() {
            if let Some(left) = done {
                break Some(left);
            }
            if closed {
                // Every chunk verified but the server hung up before confirming: the file
                // is still complete and authentic.
                if received == total {
                    break None;
                }
                return Err(lost());
            }
        }
        // Take what the socket has; finish the oldest chunk when enough are in flight or
        // nothing else is waiting.
        let event = if closed || opening.len() >= IN_FLIGHT {
            None
        } else if opening.is_empty() {
            Some(socket.next().await)
        } else {
            socket.try_next()
        };
        match event {
            None => {
                let Some(next) = opening.pop_front() else {
                    continue;
                };
                let plain = match next {
                    Opening::Ready(plain) => plain,
                    Opening::Pending(future) => result(
                        future
                            .await
                            .map_err(|_| failure(ferry_common::Error::Corrupted))?,
                    ),
                };
                done_bytes += u64::from(plain.length());
                sink.push(plain).await?;
                received += 1;
                session.acknowledge(received).map_err(stream_failure)?;
                done = done.or(step(session, socket)?);
                let last = received == total;
                let now = now_ms();
                if now - last_report > 100.0 || last {
                    last_report = now;
                    post(
                        &Report::Progress {
                            done: done_bytes,
                            total: size,
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
            Some(Event::Binary(sealed)) => {
                let chunk = session
                    .handle_binary(sealed.length() as usize)
                    .map_err(stream_failure)?;
                opening.push_back(match chunks.open_ahead(&sealed, chunk.last) {
                    Some(promise) => Opening::Pending(JsFuture::from(promise?)),
                    None => Opening::Ready(chunks.open(&sealed, chunk.last)?),
                });
            }
            Some(Event::Text(text)) => {
                session.handle_text(&text).map_err(stream_failure)?;
                done = done.or(step(session, socket)?);
            }
            // Not handed to the core: a download whose every chunk verified is complete
            // even if the server hung up before `done` (see the top of the loop).
            Some(Event::Closed) => closed = true,
        }
    };
    chunks.finish()?;
    if received != total || done_bytes != size {
        return Err(failure(ferry_common::Error::Truncated));
    }
    Ok(downloads_left)
}

/// Sends what the core has due (an ack); `Some` once the server's `done` arrived.
fn step(session: &mut Download, socket: &Socket) -> Result<Option<u32>, Failure> {
    // At most one ack is ever due: each `acknowledge` is followed by a step.
    for _ in 0..2 {
        match session.poll() {
            DownloadAction::Send(text) => socket.send_text(&text)?,
            DownloadAction::Done { downloads_left } => return Ok(Some(downloads_left)),
            DownloadAction::Failed(e) => return Err(stream_failure(e)),
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
        other => client_failure(other),
    }
}
