//! The streaming save: verified plaintext chunks go over a `MessagePort` to the page's
//! service worker (`sw.js`), which hands them to the browser's download manager as a
//! `ReadableStream`. The service worker grants a few chunks when its stream starts and one
//! more ("pull") whenever its stream has room, so chunks flow without a round trip each,
//! at most [`QUEUE_BYTES`] wait here, and the server is acknowledged only as fast as the
//! disk takes the data: memory stays flat whatever the file size.
//!
//! The save starts only once [`QUEUE_BYTES`] are verified (or the whole file, if smaller),
//! so a small file that fails verification never reaches the download manager at all. A
//! larger one that fails later errors the stream ([`StreamSink::fail`]), and the browser
//! marks the download failed instead of keeping a truncated file as complete.
use std::collections::VecDeque;

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::StreamExt;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{MessageEvent, MessagePort};

use ferry_worker::{Failure, FailureCode, Report};

use super::post;

/// Verified plaintext held here before the service worker takes it (at least two chunks).
const QUEUE_BYTES: u32 = 4 << 20;
/// Most chunks a service worker may ask for ahead of its pulls (what it grants it holds).
const MAX_CREDIT: u32 = 64;
/// How long the browser may take to request the download after the page was told to.
const START_TIMEOUT_MS: i32 = 20_000;

/// What the service worker (or the start timer) said.
enum Signal {
    /// The download manager requested the stream, which may take this many chunks before
    /// its first pull.
    Started(u32),
    /// The stream has room for one more chunk.
    Pull,
    /// The person cancelled the download in the browser, or the page cancelled it.
    Cancel,
    /// The stream took the end of the file.
    Closed,
    /// [`START_TIMEOUT_MS`] passed.
    Timeout,
}

/// Sends verified chunks to the service worker's stream.
pub struct StreamSink {
    port: MessagePort,
    tx: UnboundedSender<Signal>,
    rx: UnboundedReceiver<Signal>,
    queue: VecDeque<Uint8Array>,
    queued_bytes: u32,
    /// Chunks the stream may take now: its credit, plus pulls not yet answered.
    wanted: u32,
    /// The page was told to start the download.
    announced: bool,
    /// The download manager requested the stream.
    started: bool,
    name: String,
    size: u64,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _timer: Option<Closure<dyn FnMut()>>,
}

fn cancelled() -> Failure {
    Failure::new(
        FailureCode::Cancelled,
        "the download was cancelled; nothing was saved and it was not counted",
    )
}

impl StreamSink {
    /// A sink for the file `name` of `size` bytes, over `port` (whose other end the page
    /// gives the service worker).
    pub fn new(port: MessagePort, name: String, size: u64) -> Self {
        let (tx, rx) = unbounded();
        let on_message = {
            let tx = tx.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let data = ev.data();
                let kind = Reflect::get(&data, &"type".into())
                    .ok()
                    .and_then(|t| t.as_string())
                    .unwrap_or_default();
                let signal = match kind.as_str() {
                    "started" => Signal::Started(credit(&data)),
                    "pull" => Signal::Pull,
                    "cancel" => Signal::Cancel,
                    "closed" => Signal::Closed,
                    _ => return,
                };
                let _ = tx.unbounded_send(signal);
            })
        };
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        StreamSink {
            port,
            tx,
            rx,
            queue: VecDeque::new(),
            queued_bytes: 0,
            wanted: 0,
            announced: false,
            started: false,
            name,
            size,
            _on_message: on_message,
            _timer: None,
        }
    }

    /// Queues one verified chunk; waits while the queue is full.
    pub async fn push(&mut self, plain: Uint8Array) -> Result<(), Failure> {
        self.queued_bytes += plain.length();
        self.queue.push_back(plain);
        while let Ok(signal) = self.rx.try_recv() {
            self.on_signal(signal)?;
        }
        self.send_wanted()?;
        while self.queued_bytes >= QUEUE_BYTES && self.queue.len() >= 2 {
            self.announce();
            self.wait().await?;
        }
        Ok(())
    }

    /// Every chunk verified: hands the rest to the stream, then closes it. Returns once
    /// the service worker took the end, so terminating this worker loses nothing.
    pub async fn finish(mut self) -> Result<(), Failure> {
        self.announce();
        while !self.queue.is_empty() {
            self.wait().await?;
        }
        self.send(&msg("end"), None)?;
        loop {
            match self.rx.next().await {
                Some(Signal::Closed) => return Ok(()),
                Some(Signal::Cancel) | None => return Err(cancelled()),
                Some(_) => {}
            }
        }
    }

    /// Errors the stream, so the browser marks the download failed.
    pub fn fail(&self, failure: &Failure) {
        let m = msg("error");
        let _ = Reflect::set(&m, &"message".into(), &failure.message.as_str().into());
        let _ = self.send(&m, None);
    }

    /// Tells the page to start the browser's download (once), and arms the start timer.
    fn announce(&mut self) {
        if self.announced {
            return;
        }
        self.announced = true;
        post(
            &Report::Streaming {
                name: self.name.clone(),
                size: self.size,
            },
            None,
        );
        let tx = self.tx.clone();
        let timer = Closure::<dyn FnMut()>::new(move || {
            let _ = tx.unbounded_send(Signal::Timeout);
        });
        let _ = super::scope().set_timeout_with_callback_and_timeout_and_arguments_0(
            timer.as_ref().unchecked_ref(),
            START_TIMEOUT_MS,
        );
        self._timer = Some(timer);
    }

    /// Waits for the next signal and acts on it.
    async fn wait(&mut self) -> Result<(), Failure> {
        let signal = self.rx.next().await.unwrap_or(Signal::Cancel);
        self.on_signal(signal)?;
        self.send_wanted()
    }

    fn on_signal(&mut self, signal: Signal) -> Result<(), Failure> {
        match signal {
            Signal::Started(credit) => {
                self.started = true;
                self.wanted += credit;
            }
            Signal::Pull => self.wanted += 1,
            Signal::Cancel => return Err(cancelled()),
            Signal::Closed => {}
            Signal::Timeout if !self.started => {
                return Err(Failure::new(
                    FailureCode::Internal,
                    "the browser did not start saving the file; reload the page and try again",
                ));
            }
            Signal::Timeout => {}
        }
        Ok(())
    }

    /// Answers outstanding pulls from the queue.
    fn send_wanted(&mut self) -> Result<(), Failure> {
        while self.wanted > 0 {
            let Some(chunk) = self.queue.pop_front() else {
                break;
            };
            self.wanted -= 1;
            self.queued_bytes -= chunk.length();
            // Transfer the chunk's buffer instead of copying it, with the length to use.
            // Every chunk here owns its buffer; one opened by a crypto helper was decrypted
            // in place, so only its own 16-byte tag follows the plaintext. A view that
            // starts further in is copied first.
            let buffer = if chunk.byte_offset() == 0 {
                chunk.buffer()
            } else {
                chunk.slice(0, chunk.length()).buffer()
            };
            let m = msg("chunk");
            let _ = Reflect::set(&m, &"chunk".into(), &buffer);
            let _ = Reflect::set(&m, &"length".into(), &chunk.length().into());
            self.send(&m, Some(&buffer))?;
        }
        Ok(())
    }

    fn send(&self, message: &Object, transfer: Option<&JsValue>) -> Result<(), Failure> {
        let result = match transfer {
            Some(t) => self
                .port
                .post_message_with_transferable(message, &Array::of1(t)),
            None => self.port.post_message(message),
        };
        result.map_err(|_| {
            Failure::new(
                FailureCode::Internal,
                "the browser's download stream closed",
            )
        })
    }
}

impl Drop for StreamSink {
    fn drop(&mut self) {
        self.port.set_onmessage(None);
    }
}

/// The chunks a `started` message grants before the first pull (none from a service worker
/// of an earlier release, which pulls one at a time), at most [`MAX_CREDIT`].
fn credit(data: &JsValue) -> u32 {
    let credit = Reflect::get(data, &"credit".into())
        .ok()
        .and_then(|c| c.as_f64())
        .unwrap_or(0.0);
    (credit.max(0.0) as u32).min(MAX_CREDIT)
}

fn msg(kind: &str) -> Object {
    let m = Object::new();
    let _ = Reflect::set(&m, &"type".into(), &kind.into());
    m
}
