//! The wasm AES-GCM engine spread over helper workers.
//!
//! Where WebCrypto is missing (plain http on a LAN), AES-GCM runs in wasm at ~90 MB/s on
//! one core here. The transfer worker also reads the file, drives the socket and feeds the
//! sink, so sealing on its own thread serialises all of that with the cipher. Instead it
//! starts helpers (more instances of this same worker, one per core up to
//! [`MAX_HELPERS`]), hands each the payload key once, and sends every chunk with the
//! nonce its [`ChunkSequence`](ferry_common::ChunkSequence) fixed. Each chunk comes back
//! as a promise, like WebCrypto's, which the caller awaits in order; the helpers keep no
//! counter, so the order, lengths and last flag are checked in one place only.
//!
//! The key goes from one worker of this page to another and never leaves the device.
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    rc::Rc,
};

use ferry_common::{ChunkAead, Header, b64, keys::AeadKey};
use ferry_worker::{Command, WORKER_URL};
use futures_util::future::join_all;
use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker};

/// Most helpers started for one transfer. More than the cores only adds contention.
const MAX_HELPERS: u32 = 4;

/// How long a helper may take to load its wasm before the pool is given up.
const START_TIMEOUT_MS: i32 = 10_000;

/// Whether a helper seals or opens the chunk it is sent.
#[derive(Clone, Copy)]
pub enum Op {
    Seal,
    Open,
}

/// Promises waiting for a helper's answer, by job number.
type Jobs = Rc<RefCell<HashMap<u32, (Function, Function)>>>;

struct Inner {
    workers: Vec<Worker>,
    jobs: Jobs,
    next_worker: Cell<usize>,
    next_job: Cell<u32>,
    _handlers: Vec<Closure<dyn FnMut(MessageEvent)>>,
    _on_error: Closure<dyn FnMut()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Detach the handlers first: they are dropped with this struct.
        for worker in &self.workers {
            worker.set_onmessage(None);
            worker.set_onerror(None);
            worker.terminate();
        }
    }
}

/// Helper workers sealing or opening one share's chunks; dropping the last clone stops
/// them.
#[derive(Clone)]
pub struct Pool(Rc<Inner>);

/// Helpers worth starting: one per core, none on a single core (where the pool would only
/// add copies).
fn helpers() -> u32 {
    let cores = super::scope().navigator().hardware_concurrency() as u32;
    if cores < 2 { 0 } else { cores.min(MAX_HELPERS) }
}

/// Resolves to `true` once `worker` reports that it listens, `false` on a load error or
/// after [`START_TIMEOUT_MS`].
async fn alive(worker: &Worker) -> bool {
    let promise = Promise::new(&mut |resolve: Function, _reject: Function| {
        let yes = resolve.clone();
        let on_message = Closure::once_into_js(move || {
            let _ = yes.call1(&JsValue::NULL, &JsValue::TRUE);
        });
        let no = resolve.clone();
        let on_error = Closure::once_into_js(move || {
            let _ = no.call1(&JsValue::NULL, &JsValue::FALSE);
        });
        worker.set_onmessage(Some(on_message.unchecked_ref()));
        worker.set_onerror(Some(on_error.unchecked_ref()));
        let late = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::FALSE);
        });
        let _ = super::scope().set_timeout_with_callback_and_timeout_and_arguments_0(
            late.unchecked_ref(),
            START_TIMEOUT_MS,
        );
    });
    let ok = JsFuture::from(promise).await.ok() == Some(JsValue::TRUE);
    worker.set_onmessage(None);
    worker.set_onerror(None);
    ok
}

impl Pool {
    /// Starts the helpers and hands them the key; `None` where helpers would not help or
    /// did not start, and the caller seals on its own thread.
    pub async fn start(key: &AeadKey, header: &Header) -> Option<Pool> {
        let n = helpers();
        if n == 0 {
            return None;
        }
        let workers: Vec<Worker> = (0..n)
            .filter_map(|_| Worker::new(WORKER_URL).ok())
            .collect();
        let started = join_all(workers.iter().map(alive)).await;
        if workers.len() != n as usize || started.contains(&false) {
            for worker in &workers {
                worker.terminate();
            }
            return None;
        }
        let jobs: Jobs = Rc::default();
        // A helper that dies fails every chunk still out, so the transfer fails instead of
        // waiting forever.
        let on_error = {
            let jobs = jobs.clone();
            Closure::<dyn FnMut()>::new(move || {
                for (_, (_, reject)) in jobs.borrow_mut().drain() {
                    let _ = reject.call1(&JsValue::NULL, &"a crypto helper stopped".into());
                }
            })
        };
        let handlers = workers
            .iter()
            .map(|worker| {
                let jobs = jobs.clone();
                let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                    answer(&jobs, &ev.data());
                });
                worker.set_onmessage(Some(handler.as_ref().unchecked_ref()));
                worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
                handler
            })
            .collect();
        // From here on, dropping the pool (an early return included) stops the helpers.
        let pool = Pool(Rc::new(Inner {
            workers,
            jobs,
            next_worker: Cell::new(0),
            next_job: Cell::new(0),
            _handlers: handlers,
            _on_error: on_error,
        }));
        let setup = serde_json::to_string(&Command::CryptoHelper {
            header: b64::encode(&header.to_bytes()),
        })
        .ok()?;
        for worker in &pool.0.workers {
            let raw = Uint8Array::from(&key.expose_secret()[..]);
            let msg = Object::new();
            let _ = Reflect::set(&msg, &"json".into(), &JsValue::from_str(&setup));
            let _ = Reflect::set(&msg, &"key".into(), &raw);
            // Transferred, so no copy of the key stays in this worker's JS heap.
            worker
                .post_message_with_transfer(&msg, &Array::of1(&raw.buffer()))
                .ok()?;
        }
        Some(pool)
    }

    /// Number of helpers, for the page's engine label.
    pub fn size(&self) -> usize {
        self.0.workers.len()
    }

    /// Has the next helper in turn seal or open `bytes` under `nonce`; a promise of the
    /// result (a Uint8Array) that rejects if the chunk does not verify. The chunk travels
    /// in a buffer that goes to the helper and back (transferred, never copied between
    /// threads), with room for the tag when sealing, and comes back holding the result: the
    /// helpers allocate no JS memory per chunk.
    pub fn run(&self, op: Op, nonce: &[u8; 12], bytes: &Uint8Array) -> Promise {
        let inner = &self.0;
        let len = bytes.length();
        let whole = bytes.byte_offset() == 0 && bytes.byte_length() == bytes.buffer().byte_length();
        let buffer = match op {
            Op::Open if whole => bytes.buffer(),
            Op::Open => bytes.slice(0, len).buffer(),
            Op::Seal => {
                let room = Uint8Array::new_with_length(len + ferry_common::TAG_LEN as u32);
                room.set(bytes, 0);
                room.buffer()
            }
        };
        let id = inner.next_job.get();
        inner.next_job.set(id.wrapping_add(1));
        let i = inner.next_worker.get();
        inner.next_worker.set((i + 1) % inner.workers.len());
        let promise = Promise::new(&mut |resolve, reject| {
            inner.jobs.borrow_mut().insert(id, (resolve, reject));
        });
        let msg = Object::new();
        let _ = Reflect::set(&msg, &"job".into(), &id.into());
        let op = match op {
            Op::Seal => "seal",
            Op::Open => "open",
        };
        let _ = Reflect::set(&msg, &"op".into(), &op.into());
        let _ = Reflect::set(&msg, &"nonce".into(), &Uint8Array::from(&nonce[..]));
        let _ = Reflect::set(&msg, &"data".into(), &buffer);
        let _ = Reflect::set(&msg, &"len".into(), &len.into());
        let sent = inner.workers[i].post_message_with_transfer(&msg, &Array::of1(&buffer));
        if sent.is_err()
            && let Some((_, reject)) = inner.jobs.borrow_mut().remove(&id)
        {
            let _ = reject.call1(&JsValue::NULL, &"could not reach a crypto helper".into());
        }
        promise
    }
}

/// Settles the promise of the job a helper answered.
fn answer(jobs: &Jobs, data: &JsValue) {
    let Some(id) = Reflect::get(data, &"job".into())
        .ok()
        .and_then(|v| v.as_f64())
    else {
        return;
    };
    let Some((resolve, reject)) = jobs.borrow_mut().remove(&(id as u32)) else {
        return;
    };
    let buffer = Reflect::get(data, &"data".into()).ok();
    let len = Reflect::get(data, &"len".into())
        .ok()
        .and_then(|v| v.as_f64());
    match (buffer, len) {
        (Some(buf), Some(len)) if buf.is_instance_of::<ArrayBuffer>() => {
            let view = Uint8Array::new_with_byte_offset_and_length(&buf, 0, len as u32);
            let _ = resolve.call1(&JsValue::NULL, &view);
        }
        _ => {
            let _ = reject.call1(&JsValue::NULL, &"the chunk does not verify".into());
        }
    }
}

thread_local! {
    /// In a helper: the chunk AEAD it was handed.
    static AEAD: RefCell<Option<ChunkAead>> = const { RefCell::new(None) };
    /// In a helper: the buffer each chunk is copied into, reused.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// In a helper: takes the key (a Uint8Array, zeroed here) for `header` (base64url).
pub fn configure(header: &str, key: &JsValue) {
    let header = b64::decode(header).and_then(|bytes| Header::parse(&bytes));
    let Ok(raw) = key.clone().dyn_into::<Uint8Array>() else {
        return;
    };
    let mut bytes = [0u8; 32];
    if raw.length() == 32 {
        raw.copy_to(&mut bytes);
    }
    raw.fill(0, 0, raw.length());
    let key = AeadKey::from_secret(bytes);
    if let Ok(header) = header {
        AEAD.with(|aead| *aead.borrow_mut() = Some(ChunkAead::new(&key, &header)));
    }
}

/// In a helper: seals or opens the first `len` bytes of the buffer it is sent, writes
/// the result back into that buffer and returns it (or `error`).
pub fn job(data: &JsValue) {
    let id = Reflect::get(data, &"job".into()).unwrap_or(JsValue::NULL);
    let buffer: Option<ArrayBuffer> = Reflect::get(data, &"data".into())
        .ok()
        .and_then(|v| v.dyn_into().ok());
    let out = AEAD.with(|aead| {
        let aead = aead.borrow();
        let aead = aead.as_ref()?;
        let buffer = buffer.as_ref()?;
        let nonce: Uint8Array = Reflect::get(data, &"nonce".into()).ok()?.dyn_into().ok()?;
        let op = Reflect::get(data, &"op".into()).ok()?.as_string()?;
        let len = Reflect::get(data, &"len".into()).ok()?.as_f64()? as u32;
        let mut n = [0u8; 12];
        if nonce.length() != 12 || len > buffer.byte_length() {
            return None;
        }
        nonce.copy_to(&mut n);
        BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.clear();
            buf.reserve(len as usize + ferry_common::TAG_LEN);
            buf.resize(len as usize, 0);
            Uint8Array::new_with_byte_offset_and_length(buffer, 0, len).copy_to(&mut buf);
            let done = match op.as_str() {
                "seal" => aead.seal_in_place(&n, &mut buf),
                "open" => aead.open_in_place(&n, &mut buf),
                _ => return None,
            };
            done.ok()?;
            let out = u32::try_from(buf.len()).ok()?;
            if out > buffer.byte_length() {
                return None;
            }
            Uint8Array::new_with_byte_offset_and_length(buffer, 0, out).copy_from(&buf);
            Some(out)
        })
    });
    let msg = Object::new();
    let _ = Reflect::set(&msg, &"job".into(), &id);
    let scope = super::scope();
    match (out, buffer) {
        (Some(len), Some(buffer)) => {
            let _ = Reflect::set(&msg, &"data".into(), &buffer);
            let _ = Reflect::set(&msg, &"len".into(), &len.into());
            let _ = scope.post_message_with_transfer(&msg, &Array::of1(&buffer));
        }
        _ => {
            let _ = Reflect::set(&msg, &"error".into(), &JsValue::TRUE);
            let _ = scope.post_message(&msg);
        }
    }
}
