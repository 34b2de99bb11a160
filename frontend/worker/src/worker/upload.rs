//! Send: derive keys, seal the metadata, then read, encrypt and send chunks as the client
//! core (`ferry_common::client`) directs: never more than `window` chunks beyond the last
//! ack, so memory stays bounded whatever the file size.
//!
//! The segments travel over one or more sockets at once (`lanes`), each lane with its own
//! reader and sealer here. A connection that breaks after the server said `ready` (or a
//! server that is briefly unable) is replaced after a pause, a bounded number of times in
//! a row without progress (`ferry_worker::reconnect`): the lane resumes with the upload
//! token, and the chunks of the segments the server lacks are read and sealed again from
//! the same `File`. Every chunk's tag is logged before it is sent (`keeper`, shared by the
//! lanes), and a chunk sealed again must match.
//!
//! An upload that an earlier page began (reloaded or closed tab) is continued when the same
//! file is chosen and the same passphrase typed (`resume`): every logged chunk is re-sealed
//! from the file and compared before anything is sent; otherwise a new upload starts.
use ferry_common::{
    Header, LinkSecret, b64,
    client::{ClientError, UploadLanes, Uploaded},
    manifest::Manifest,
};
use ferry_worker::{
    AesChoice, Failure, FailureCode, Phase, Report, ResumeNote, pending::Store, read_plan::ReadPlan,
};
use futures_util::lock::Mutex;
use std::{collections::VecDeque, rc::Rc};
use zeroize::Zeroizing;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;

use super::{
    begin,
    engine::{Chunks, result},
    keeper::Keeper,
    lanes, post, resume,
};

/// What the page asked for besides the file and the passphrase.
pub struct UploadOptions {
    /// Requested lifetime.
    pub expires_in_secs: u64,
    /// Requested download limit.
    pub max_downloads: u32,
    /// Which AES-GCM engine to use.
    pub aes: AesChoice,
    /// Sockets to spread the segments over.
    pub lanes: usize,
    /// The upload token or invitation for a new upload's `start` (a resumed upload needs
    /// none: its own upload token admits it).
    pub credential: Option<String>,
    /// For a share of several files, their manifest; the file is then their bytes one
    /// after the other.
    pub manifest: Option<Manifest>,
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

/// The file read in blocks of `per_block` chunks, each read only once it lies wholly
/// within the window (`limit` = last ack + window), the next one read while the current
/// one is sealed: at most two blocks (one window) are held whatever the file size, and
/// reads stay whole blocks however the acks arrive.
struct Reader {
    file: gloo_file::File,
    size: u64,
    chunk_size: u64,
    total: u64,
    plan: ReadPlan,
    blocks: VecDeque<Block>,
}

impl Reader {
    fn new(file: gloo_file::File, size: u64, chunk_size: u64, total: u64) -> Self {
        Reader {
            file,
            size,
            chunk_size,
            total,
            // Replaced once the server announced its window (`restart`).
            plan: ReadPlan::new(READ_BYTES, chunk_size, total, 2),
            blocks: VecDeque::new(),
        }
    }

    /// Forgets what was read ahead; the next chunk asked for starts a new block. `window`:
    /// the server's window in chunks.
    fn restart(&mut self, window: u64) {
        self.plan = ReadPlan::new(READ_BYTES, self.chunk_size, self.total, window);
        self.blocks.clear();
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
    /// for in order (after a [`Reader::restart`], from any chunk).
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

/// Chunks read and sealed ahead of the socket, in order from chunk `issued - ahead.len()`.
/// Never more than the window beyond the acknowledged segments is issued, so memory stays
/// bounded whatever the file size.
pub(super) struct Producer {
    reader: Reader,
    chunks: Chunks,
    ahead: VecDeque<Ahead>,
    /// The next chunk to read and seal.
    issued: u64,
    total: u64,
    /// The server's window in chunks, from its `ready`.
    window: u64,
    /// Whether the final chunk was sealed (with the final flag) at least once.
    pub(super) final_sealed: bool,
    /// The tag of every chunk sealed, logged (and stored) before the chunk is sent; one
    /// for all the lanes of an upload.
    pub(super) keeper: Rc<Mutex<Keeper>>,
}

impl Producer {
    /// Reads `file` (`size` bytes, `total` chunks of `chunk_size`) and seals it with
    /// `chunks`, logging every chunk in `keeper`.
    pub(super) fn new(
        file: gloo_file::File,
        (size, chunk_size, total): (u64, u64, u64),
        chunks: Chunks,
        keeper: Rc<Mutex<Keeper>>,
    ) -> Producer {
        Producer {
            reader: Reader::new(file, size, chunk_size, total),
            chunks,
            ahead: VecDeque::new(),
            issued: 0,
            total,
            window: 0,
            final_sealed: false,
            keeper,
        }
    }

    /// Continues at chunk `index` (the first chunk of a connection, or of a segment after
    /// segments the server already has): drops what was read or sealed ahead and seals
    /// from `index` on again, the same plaintext under the same nonces.
    pub(super) fn restart(&mut self, index: u64, window: u64) -> Result<(), Failure> {
        self.ahead.clear();
        self.window = window;
        self.reader.restart(window);
        self.chunks.seek(index)?;
        self.issued = index;
        Ok(())
    }

    /// The chunk the socket gets next.
    pub(super) fn next_out(&self) -> u64 {
        self.issued - self.ahead.len() as u64
    }

    /// Reads and starts sealing chunks below `limit` (the last ack plus the window).
    pub(super) async fn fill(&mut self, limit: u64) -> Result<(), Failure> {
        while self.issued < self.total && self.issued < limit && self.ahead.len() < AHEAD {
            let last = self.issued + 1 == self.total;
            let Some((plain, len)) = self.reader.chunk(self.issued, limit)? else {
                break;
            };
            match self.chunks.seal_ahead(&plain, len, last) {
                Some(sealed) => self
                    .ahead
                    .push_back(Ahead::Pending(JsFuture::from(sealed?))),
                None => {
                    let plain: Uint8Array = JsFuture::from(plain)
                        .await
                        .map_err(|_| unreadable())?
                        .unchecked_into();
                    self.ahead
                        .push_back(Ahead::Ready(self.chunks.seal(&plain, last)?));
                }
            }
            self.issued += 1;
            self.final_sealed |= last;
        }
        Ok(())
    }

    /// The next sealed chunk, logged, or `None` if none is read yet (its block does not
    /// fit in the window yet: wait for an ack). Chunks are logged in batches: every chunk
    /// sealed ahead at once, the new tags stored before any of them is sent, and a chunk
    /// sealed before (a new connection) compared with its tag.
    pub(super) async fn take(&mut self) -> Result<Option<Uint8Array>, Failure> {
        // Logged chunks form a prefix of `ahead`: all are logged whenever the first is not.
        if self
            .ahead
            .front()
            .is_some_and(|a| !matches!(a, Ahead::Logged(_)))
        {
            let mut batch = Vec::with_capacity(self.ahead.len());
            for ahead in self.ahead.iter_mut() {
                let sealed = match ahead {
                    Ahead::Pending(future) => result(future.await.map_err(|_| unreadable())?),
                    Ahead::Ready(sealed) | Ahead::Logged(sealed) => sealed.clone(),
                };
                batch.push(sealed.clone());
                *ahead = Ahead::Logged(sealed);
            }
            let refs: Vec<&Uint8Array> = batch.iter().collect();
            let first = self.next_out();
            self.keeper.lock().await.log(first, &refs).await?;
        }
        self.pop().await
    }

    /// The next sealed chunk as it is, or `None` if none is read yet.
    async fn pop(&mut self) -> Result<Option<Uint8Array>, Failure> {
        Ok(match self.ahead.pop_front() {
            None => None,
            Some(Ahead::Ready(sealed) | Ahead::Logged(sealed)) => Some(sealed),
            Some(Ahead::Pending(future)) => Some(result(future.await.map_err(|_| unreadable())?)),
        })
    }

    /// Re-seals every chunk up to the last logged one from the file and compares each
    /// logged one with its tag, before a resumed upload sends anything: false if the file
    /// differs anywhere.
    pub(super) async fn unchanged(&mut self) -> Result<bool, Failure> {
        let Some(last) = self.keeper.lock().await.last_logged(self.total) else {
            return Ok(true);
        };
        self.restart(0, VERIFY_WINDOW)?;
        // Bounded: each turn takes chunk `next_out()` and moves past it.
        while self.next_out() <= last {
            self.fill(self.total).await?;
            let index = self.next_out();
            let Some(sealed) = self.pop().await? else {
                return Err(unreadable());
            };
            if !self.keeper.lock().await.matches(index, &sealed) {
                return Ok(false);
            }
        }
        self.final_sealed = false;
        Ok(true)
    }
}

/// The read window (in chunks) while a resumed upload's file is checked: 64 chunks a read.
const VERIFY_WINDOW: u64 = 128;

/// Why one connection's part of the upload ended.
pub(super) enum Stop {
    /// The connection broke, or the server was briefly unable: a new one may resume.
    Transient(Failure),
    /// Anything else: the upload is over.
    Fatal(Failure),
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Stop {
        if e.is_transient() {
            Stop::Transient(Failure::from(e))
        } else {
            Stop::Fatal(Failure::from(e))
        }
    }
}

/// Sends `file`: continues an interrupted upload it and the passphrase match (see
/// `resume`), else starts a new one.
pub async fn run(
    file: web_sys::File,
    passphrase: String,
    options: UploadOptions,
) -> Result<(), Failure> {
    let passphrase = Zeroizing::new(passphrase);
    let store = Store::open().await.ok();
    let why = match resume::find(store.as_ref(), &file, &passphrase).await {
        Ok(found) => match begin::resumed(found, &file, store.clone(), &options).await {
            begin::Continued::Over(result) => return result,
            begin::Continued::Declined(why) => Some(why),
        },
        Err(why) => why,
    };
    if let Some(why) = why {
        post(&Report::Resume(ResumeNote::NotResumed(why)), None);
    }
    let (session, producers, secret, size) =
        begin::fresh(file, &passphrase, &options, store).await?;
    drop(passphrase);
    drive(session, producers, &secret, size)
        .await
        .map_err(|e| e.failure)
}

/// One producer per lane, each with its own reader and sealer over the same file and key
/// and all with one keeper (the wasm engine on this thread seals strictly in order, so it
/// gets one lane). `shape`: the file's size, chunk size and chunk count.
pub(super) fn producers(
    file: gloo_file::File,
    shape: (u64, u64, u64),
    (chunks, header): (Chunks, &Header),
    keeper: Keeper,
    lanes: usize,
) -> Vec<Producer> {
    let keeper = Rc::new(Mutex::new(keeper));
    let mut sealers: Vec<Chunks> = (1..lanes).filter_map(|_| chunks.fork(header)).collect();
    sealers.insert(0, chunks);
    sealers
        .into_iter()
        .map(|chunks| Producer::new(file.clone(), shape, chunks, keeper.clone()))
        .collect()
}

/// The failure that ended an upload.
pub(super) struct Ended {
    pub(super) failure: Failure,
    /// Refused for good (its record removed), rather than a connection lost for good.
    pub(super) fatal: bool,
}

/// Runs the upload over its lanes, each over as many connections as it takes; the record
/// goes once it is committed or refused for good (a connection lost for good keeps it, to
/// resume later).
pub(super) async fn drive(
    session: UploadLanes,
    producers: Vec<Producer>,
    secret: &LinkSecret,
    size: u64,
) -> Result<(), Ended> {
    let (Some(keeper), Some(engine)) = (
        producers.first().map(|p| p.keeper.clone()),
        producers.first().map(|p| p.chunks.engine()),
    ) else {
        let failure = Failure::new(FailureCode::Internal, "an upload with no lane");
        return Err(Ended {
            failure,
            fatal: true,
        });
    };
    post(
        &Report::Phase {
            phase: Phase::Connecting,
            engine: Some(engine.clone()),
        },
        None,
    );
    match lanes::run(session, producers, size, engine).await {
        Ok(done) => {
            keeper.lock().await.forget().await;
            finished(done, secret, size).map_err(|failure| Ended {
                failure,
                fatal: true,
            })
        }
        Err(Stop::Fatal(failure)) => {
            keeper.lock().await.forget().await;
            Err(Ended {
                failure,
                fatal: true,
            })
        }
        Err(Stop::Transient(failure)) => Err(Ended {
            failure,
            fatal: false,
        }),
    }
}

/// How many chunks are sealed ahead of the socket (and always within the window). With
/// WebCrypto or the helper workers these run concurrently;
/// 16 rather than 4 in flight took uploads from ~85-140 to ~180 MB/s here (256 MiB,
/// `scripts/bench-browser-transfer.sh`).
const AHEAD: usize = 16;

/// A chunk read and sealed ahead: still running (WebCrypto, helper workers), done by
/// the wasm engine on this thread, or done and its tag logged (ready to send).
enum Ahead {
    Pending(JsFuture),
    Ready(Uint8Array),
    Logged(Uint8Array),
}

fn unreadable() -> Failure {
    Failure::new(
        FailureCode::Read,
        "the file could not be read or encrypted; was it moved or changed?",
    )
}

fn finished(done: Uploaded, secret: &LinkSecret, size: u64) -> Result<(), Failure> {
    post(
        &Report::Progress {
            done: size,
            total: size,
        },
        None,
    );
    let origin = super::scope().location().origin();
    let share_id = done.share_id.as_str().to_owned();
    let link = format!("{origin}/s/{share_id}#{}", secret.to_fragment());
    post(
        &Report::Uploaded {
            qr_svg: qr_svg(&link),
            link,
            share_id,
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
