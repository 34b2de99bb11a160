//! Send: derive keys, seal the metadata, then read, encrypt and send chunks driven by the
//! server's acknowledgements (never more than `window` chunks beyond the last ack, so
//! memory stays bounded whatever the file size).
use ferry_common::{
    DEFAULT_CHUNK_SIZE, FileMetadata, Header, KdfParams, Keys, LinkSecret, b64,
    protocol::{ErrorBody, PROTOCOL_VERSION, UPLOAD_PATH, UploadEvent, UploadRequest},
};
use ferry_worker::{AesChoice, Failure, Phase, Report, read_plan::ReadPlan};
use std::collections::VecDeque;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;

use super::{
    engine::{Chunks, failure, result},
    now_ms, post,
    socket::{Event, Socket, lost},
};

/// Turns a server refusal into a failure for the page.
pub fn refused(body: ErrorBody) -> Failure {
    let code = serde_json::to_value(body.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    Failure {
        code,
        message: body.message,
        attempts_left: body.attempts_left,
    }
}

/// Starts reading bytes `start..end` of the file (`File.slice`, then `arrayBuffer()`).
fn read(file: &gloo_file::File, start: u64, end: u64) -> Promise {
    let blob: web_sys::Blob = gloo_file::Blob::from(file.slice(start, end)).into();
    blob.array_buffer()
}

/// Most bytes read from the file at a time. Each `File.slice().arrayBuffer()` is a round
/// trip to the browser process, and one read per 256 KiB chunk cost more than the
/// encryption: in Chromium 156 here (`PRIMITIVES=1 scripts/bench-browser-transfer.sh`),
/// 256 KiB reads ran at ~130 MB/s one at a time, 4 MiB reads at ~390 MB/s, 16 MiB reads
/// at ~660 MB/s; 1 GiB uploads went from ~50 MB/s (256 KiB reads) to ~90-150 (4 MiB) and
/// ~140-190 (16 MiB) under the same load. A block is also at most half the server's
/// window, and a block is read only if it ends within the window, so the file is never
/// read further ahead than the window allows sending (16 MiB with the server's default).
const READ_BYTES: u64 = 16 << 20;

/// One read of several consecutive chunks, still running or done.
struct Block {
    /// One past its last chunk.
    end: u64,
    /// Byte offset of its first chunk in the file.
    offset: u64,
    /// A promise of the block's bytes (an ArrayBuffer).
    bytes: Promise,
}

/// The file read in aligned blocks of `per_block` chunks, each read only once it lies
/// wholly within the window (`limit` = last ack + window), the next one read while the
/// current one is sealed: at most two blocks (one window) are held whatever the file size,
/// and reads stay whole blocks however the acks arrive.
struct Reader {
    file: gloo_file::File,
    size: u64,
    chunk_size: u64,
    plan: ReadPlan,
    blocks: VecDeque<Block>,
}

impl Reader {
    fn new(file: gloo_file::File, size: u64, chunk_size: u64, total: u64, window: u64) -> Self {
        Reader {
            file,
            size,
            chunk_size,
            plan: ReadPlan::new(READ_BYTES, chunk_size, total, window),
            blocks: VecDeque::new(),
        }
    }

    /// Starts reading the block that begins at chunk `first` if it fits below `limit`.
    fn start(&mut self, first: u64, limit: u64) -> bool {
        let Some((first, end)) = self.plan.block(first, limit) else {
            return false;
        };
        let offset = first * self.chunk_size;
        let bytes = read(&self.file, offset, (end * self.chunk_size).min(self.size));
        self.blocks.push_back(Block { end, offset, bytes });
        true
    }

    /// A promise of chunk `index`'s plaintext (a Uint8Array over its block) and its length,
    /// or `None` until its block fits below `limit` (wait for acks). Chunks must be asked
    /// for in order.
    fn chunk(&mut self, index: u64, limit: u64) -> Result<Option<(Promise, usize)>, Failure> {
        while self.blocks.front().is_some_and(|b| b.end <= index) {
            self.blocks.pop_front();
        }
        if self.blocks.is_empty() && !self.start(index, limit) {
            return Ok(None);
        }
        // Read the next block while this one is sealed and sent.
        if self.blocks.len() < 2 {
            let next = self.blocks.back().map_or(index, |b| b.end);
            self.start(next, limit);
        }
        let block = &self.blocks[0];
        let start = index * self.chunk_size;
        let len = (start + self.chunk_size).min(self.size) - start;
        let (offset, len) = ((start - block.offset) as u32, len as u32);
        let view = Closure::once_into_js(move |buf: JsValue| -> JsValue {
            Uint8Array::new_with_byte_offset_and_length(&buf, offset, len).into()
        });
        let then: Option<Function> = Reflect::get(&block.bytes, &"then".into())
            .ok()
            .and_then(|f| f.dyn_into().ok());
        let plain = then
            .and_then(|then| then.call1(&block.bytes, &view).ok())
            .and_then(|p| p.dyn_into::<Promise>().ok())
            .ok_or_else(unreadable)?;
        Ok(Some((plain, len as usize)))
    }
}

pub async fn run(
    file: web_sys::File,
    passphrase: String,
    expires_in_secs: u64,
    max_downloads: u32,
    aes: AesChoice,
) -> Result<(), Failure> {
    post(
        &Report::Phase {
            phase: Phase::DerivingKeys,
            engine: None,
        },
        None,
    );
    let header =
        Header::generate(KdfParams::DEFAULT, DEFAULT_CHUNK_SIZE, false).map_err(failure)?;
    let secret = LinkSecret::generate().map_err(failure)?;
    let keys = Keys::derive(&header, &passphrase, Some(&secret)).map_err(failure)?;
    drop(passphrase);
    let file = gloo_file::File::from(file);
    let size = file.size();
    let metadata = FileMetadata {
        name: file.name(),
        size,
        media_type: file.raw_mime_type(),
    }
    .seal(&keys.metadata, &header)
    .map_err(failure)?;
    let mut chunks = Chunks::sealer(&keys.payload, &header, aes).await;
    post(
        &Report::Phase {
            phase: Phase::Connecting,
            engine: Some(chunks.engine()),
        },
        None,
    );

    let mut socket = Socket::open(UPLOAD_PATH).await?;
    socket.send_json(&UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: header.to_bytes().to_vec().into(),
        metadata: metadata.into(),
        verifier: keys.download_token.verifier().to_vec().into(),
        expires_in_secs,
        max_downloads,
        ciphertext_size: header.ciphertext_len(size),
    })?;
    let window = match socket.next().await {
        Event::Text(text) => match serde_json::from_str::<UploadEvent>(&text) {
            Ok(UploadEvent::Ready { window, .. }) => u64::from(window.max(1)),
            Ok(UploadEvent::Error(body)) => return Err(refused(body)),
            _ => return Err(Failure::new("internal", "the server answered out of turn")),
        },
        Event::Binary(_) => {
            return Err(Failure::new("internal", "the server answered out of turn"));
        }
        Event::Closed => return Err(lost()),
    };
    post(
        &Report::Phase {
            phase: Phase::Transferring,
            engine: Some(chunks.engine()),
        },
        None,
    );

    let total = header.chunk_count(size);
    let chunk_size = u64::from(header.chunk_size);
    // Chunks read and sealed ahead of the socket, in order. Never more than the window
    // beyond the last ack is issued, so memory stays bounded whatever the file size.
    let mut reader = Reader::new(file, size, chunk_size, total, window);
    let mut ahead: VecDeque<Ahead> = VecDeque::new();
    let (mut issued, mut sent, mut acked, mut finish_sent) = (0u64, 0u64, 0u64, false);
    let mut last_report = 0.0;
    loop {
        // Take in every ack that already arrived before deciding how far to run ahead.
        while let Some(event) = socket.try_next() {
            if let Some(done) = on_event(
                event,
                &mut acked,
                sent,
                size,
                chunk_size,
                total,
                &mut last_report,
            )? {
                return finished(done, &secret, size);
            }
        }
        while issued < total && issued < acked + window && ahead.len() < AHEAD {
            let last = issued + 1 == total;
            let Some((plain, len)) = reader.chunk(issued, acked + window)? else {
                break;
            };
            match chunks.seal_ahead(&plain, len, last) {
                Some(sealed) => ahead.push_back(Ahead::Pending(JsFuture::from(sealed?))),
                None => {
                    let plain: Uint8Array = JsFuture::from(plain)
                        .await
                        .map_err(|_| unreadable())?
                        .unchecked_into();
                    ahead.push_back(Ahead::Ready(chunks.seal(&plain, last)?));
                }
            }
            issued += 1;
        }
        if let Some(next) = ahead.pop_front() {
            let sealed = match next {
                Ahead::Ready(sealed) => sealed,
                Ahead::Pending(future) => result(future.await.map_err(|_| unreadable())?),
            };
            socket.send_chunk(&sealed)?;
            sent += 1;
            continue;
        }
        if sent == total && !finish_sent {
            chunks.finish()?;
            socket.send_json(&UploadRequest::Finish)?;
            finish_sent = true;
            post(
                &Report::Phase {
                    phase: Phase::Finishing,
                    engine: Some(chunks.engine()),
                },
                None,
            );
        }
        let event = socket.next().await;
        if let Some(done) = on_event(
            event,
            &mut acked,
            sent,
            size,
            chunk_size,
            total,
            &mut last_report,
        )? {
            return finished(done, &secret, size);
        }
    }
}

/// How many chunks are sealed ahead of the socket (and always within the window). With
/// WebCrypto or the helper workers these run concurrently;
/// 16 rather than 4 in flight took uploads from ~85-140 to ~180 MB/s here (256 MiB,
/// `scripts/bench-browser-transfer.sh`).
const AHEAD: usize = 16;

/// A chunk read and sealed ahead: still running (WebCrypto, helper workers), or done by
/// the wasm engine on this thread.
enum Ahead {
    Pending(JsFuture),
    Ready(Uint8Array),
}

/// What `done` carried.
struct Done {
    share_id: String,
    owner_token: Vec<u8>,
    expires_at: i64,
}

fn unreadable() -> Failure {
    Failure::new(
        "read",
        "the file could not be read or encrypted; was it moved or changed?",
    )
}

/// Handles one socket event: acks move `acked` (and progress), `done` ends the upload.
fn on_event(
    event: Event,
    acked: &mut u64,
    sent: u64,
    size: u64,
    chunk_size: u64,
    total: u64,
    last_report: &mut f64,
) -> Result<Option<Done>, Failure> {
    match event {
        Event::Text(text) => match serde_json::from_str::<UploadEvent>(&text) {
            Ok(UploadEvent::Ack { chunks: n, .. }) => {
                *acked = n.min(sent);
                let now = now_ms();
                if now - *last_report > 100.0 || *acked == total {
                    *last_report = now;
                    post(
                        &Report::Progress {
                            done: (*acked * chunk_size).min(size),
                            total: size,
                        },
                        None,
                    );
                }
                Ok(None)
            }
            Ok(UploadEvent::Done {
                share_id,
                owner_token,
                expires_at,
            }) => Ok(Some(Done {
                share_id,
                owner_token: owner_token.0,
                expires_at,
            })),
            Ok(UploadEvent::Error(body)) => Err(refused(body)),
            _ => Ok(None),
        },
        Event::Binary(_) => Ok(None),
        Event::Closed => Err(lost()),
    }
}

fn finished(done: Done, secret: &LinkSecret, size: u64) -> Result<(), Failure> {
    post(
        &Report::Progress {
            done: size,
            total: size,
        },
        None,
    );
    let origin = super::scope().location().origin();
    let link = format!("{origin}/s/{}#{}", done.share_id, secret.to_fragment());
    post(
        &Report::Uploaded {
            qr_svg: qr_svg(&link),
            link,
            share_id: done.share_id,
            owner_token: b64::encode(&done.owner_token),
            expires_at: done.expires_at,
        },
        None,
    );
    Ok(())
}

/// The QR code of `text` as an SVG element (no scripts, no inline styles).
fn qr_svg(text: &str) -> String {
    use qrcode::{EcLevel, QrCode, render::svg};
    let Ok(code) = QrCode::with_error_correction_level(text, EcLevel::M) else {
        return String::new();
    };
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // Drop the XML declaration: this goes into HTML.
    match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    }
}
