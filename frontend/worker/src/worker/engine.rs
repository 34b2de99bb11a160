//! AES-256-GCM STREAM chunks through WebCrypto when it exists, else through `ferry-common`
//! on helper workers (`crypto_pool`), else through `ferry-common` on this thread.
//!
//! Every engine makes the very same calls `ferry_common::stream` defines (payload key,
//! nonce `chunk_nonce(counter, last)`, the 40 header bytes as associated data, 128-bit
//! tag), so their output is byte-identical. WebCrypto and the helpers run several chunks
//! at once; they take the counter, last flag and chunk-length rules from one
//! `ferry_common::stream::ChunkSequence` here, the same bookkeeping
//! `StreamEncryptor`/`StreamDecryptor` use, and keep every buffer in JS memory (an IV view
//! into wasm memory detaches when memory grows, so it is copied).
use ferry_common::{
    Error, Header, StreamDecryptor, StreamEncryptor, keys::AeadKey, stream::ChunkSequence,
};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

use ferry_worker::{AesChoice, Failure, FailureCode};

use super::crypto_pool::{Op, Pool};

/// An engine that seals or opens chunks asynchronously, several at once, each under the
/// nonce it is given: WebCrypto, or the wasm code on helper workers.
#[derive(Clone)]
enum Ahead {
    Web {
        subtle: SubtleCrypto,
        key: CryptoKey,
        aad: Uint8Array,
    },
    Pool(Pool),
}

impl Ahead {
    /// A promise of `bytes` sealed (`Op::Seal`) or opened under `nonce`: an ArrayBuffer
    /// from WebCrypto, a Uint8Array from the helpers; [`result`] takes either.
    fn run(&self, op: Op, nonce: &[u8; 12], bytes: &Uint8Array) -> Promise {
        let promise = match self {
            Ahead::Pool(pool) => return pool.run(op, nonce, bytes),
            Ahead::Web { subtle, key, aad } => {
                let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(&nonce[..]));
                params.set_additional_data(aad);
                params.set_tag_length(128);
                match op {
                    Op::Seal => subtle.encrypt_with_object_and_buffer_source(&params, key, bytes),
                    Op::Open => subtle.decrypt_with_object_and_buffer_source(&params, key, bytes),
                }
            }
        };
        promise.unwrap_or_else(|e| Promise::reject(&e))
    }
}

enum Kind {
    /// Chunks run ahead, in parallel; `seq` fixes each one's nonce in call order.
    Ahead {
        engine: Ahead,
        seq: ChunkSequence,
    },
    WasmSeal(StreamEncryptor),
    WasmOpen(StreamDecryptor),
}

/// Seals or opens one share's chunks in order.
pub struct Chunks {
    kind: Kind,
}

/// The bytes a promise from [`Chunks::seal_ahead`] or [`Chunks::open_ahead`] resolved to.
pub fn result(value: JsValue) -> Uint8Array {
    match value.dyn_into::<Uint8Array>() {
        Ok(view) => view,
        Err(buffer) => Uint8Array::new(&buffer),
    }
}

/// Maps `ferry-common`'s errors to what the page shows.
pub fn failure(e: Error) -> Failure {
    let code = match e {
        Error::Corrupted | Error::Truncated | Error::TrailingData => FailureCode::Corrupted,
        Error::WrongPassphrase => FailureCode::WrongPassphrase,
        Error::LinkSecret => FailureCode::LinkIncomplete,
        Error::EmptyPassphrase => FailureCode::EmptyPassphrase,
        _ => FailureCode::Internal,
    };
    Failure::new(code, e.to_string())
}

fn subtle() -> Option<SubtleCrypto> {
    let crypto = super::scope().crypto().ok()?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle")).ok()?;
    // `crypto.subtle` is undefined outside secure contexts (plain http on a LAN).
    subtle.dyn_into::<SubtleCrypto>().ok()
}

async fn import(subtle: &SubtleCrypto, key: &AeadKey) -> Result<CryptoKey, JsValue> {
    let raw = Uint8Array::from(&key.expose_secret()[..]);
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let promise = subtle.import_key_with_str("raw", &raw, "AES-GCM", false, &usages)?;
    raw.fill(0, 0, 32);
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

/// `key` as a non-extractable WebCrypto key for opening chunks (handed to the service
/// worker), or `None` where this browser has no WebCrypto here.
pub async fn web_key(key: &AeadKey) -> Option<CryptoKey> {
    import(&subtle()?, key).await.ok()
}

impl Chunks {
    async fn new(key: &AeadKey, header: &Header, aes: AesChoice, seal: bool) -> Self {
        let web = match subtle() {
            Some(subtle) if aes == AesChoice::Auto => {
                import(&subtle, key).await.ok().map(|key| Ahead::Web {
                    subtle,
                    key,
                    aad: Uint8Array::from(&header.to_bytes()[..]),
                })
            }
            _ => None,
        };
        let engine = match web {
            Some(web) => Some(web),
            None if aes == AesChoice::WasmSingle => None,
            None => Pool::start(key, header).await.map(Ahead::Pool),
        };
        let kind = match engine {
            Some(engine) => Kind::Ahead {
                engine,
                seq: ChunkSequence::new(header),
            },
            None if seal => Kind::WasmSeal(StreamEncryptor::new(key, header)),
            None => Kind::WasmOpen(StreamDecryptor::new(key, header)),
        };
        Chunks { kind }
    }

    /// An encryptor for `header` under the payload key.
    pub async fn sealer(key: &AeadKey, header: &Header, aes: AesChoice) -> Self {
        Self::new(key, header, aes, true).await
    }

    /// A decryptor for `header` under the payload key.
    pub async fn opener(key: &AeadKey, header: &Header, aes: AesChoice) -> Self {
        Self::new(key, header, aes, false).await
    }

    /// How many lanes an upload sealed here may use, of `wanted`: one for the wasm engine
    /// on this thread (it cannot [`fork`](Chunks::fork)).
    pub fn lanes(&self, wanted: usize) -> usize {
        match &self.kind {
            Kind::Ahead { .. } => wanted.max(1),
            _ => 1,
        }
    }

    /// Another sealer of the same share on the same engine, for another lane (each lane
    /// seeks to its own segments); `None` for the wasm engine on this thread, which seals
    /// strictly in order.
    pub fn fork(&self, header: &Header) -> Option<Chunks> {
        match &self.kind {
            Kind::Ahead { engine, .. } => Some(Chunks {
                kind: Kind::Ahead {
                    engine: engine.clone(),
                    seq: ChunkSequence::new(header),
                },
            }),
            _ => None,
        }
    }

    /// `"webcrypto"`, `"wasm"` (on this thread) or `"wasm, N workers"`.
    pub fn engine(&self) -> String {
        match &self.kind {
            Kind::Ahead {
                engine: Ahead::Web { .. },
                ..
            } => "webcrypto".into(),
            Kind::Ahead {
                engine: Ahead::Pool(pool),
                ..
            } => format!("wasm, {} workers", pool.size()),
            _ => "wasm".into(),
        }
    }

    /// Starts sealing the next chunk as soon as `plain` (a promise of its `len` bytes as a
    /// Uint8Array) resolves, and returns a promise of the sealed bytes (see [`result`]), so
    /// reading and encrypting run ahead of the socket. The nonce is fixed here, in call
    /// order, so the promises may settle in any order. `None` with the wasm engine on this
    /// thread, whose state must advance strictly in order: use [`Chunks::seal`].
    pub fn seal_ahead(
        &mut self,
        plain: &Promise,
        len: usize,
        last: bool,
    ) -> Option<Result<Promise, Failure>> {
        let Kind::Ahead { engine, seq } = &mut self.kind else {
            return None;
        };
        let nonce = match seq.seal_nonce(len, last) {
            Ok(nonce) => nonce,
            Err(e) => return Some(Err(failure(e))),
        };
        // The nonce is taken now; a failure later fails the whole upload.
        seq.advance(last);
        let engine = engine.clone();
        let encrypt = Closure::once_into_js(move |buf: JsValue| -> JsValue {
            engine.run(Op::Seal, &nonce, buf.unchecked_ref()).into()
        });
        let then: Option<Function> = Reflect::get(plain, &"then".into())
            .ok()
            .and_then(|f| f.dyn_into().ok());
        let sealed = then
            .and_then(|then| then.call1(plain, &encrypt).ok())
            .and_then(|p| p.dyn_into::<Promise>().ok())
            .ok_or_else(|| Failure::new(FailureCode::Internal, "the browser failed to encrypt"));
        Some(sealed)
    }

    /// Seals chunk `index` next (a resumed upload, or one that skips segments the server
    /// already has). Only ever to re-seal the very same plaintext (see
    /// `ChunkSequence::seek`): the page's `File` is a snapshot the browser refuses to read
    /// once the file changed on disk, and no re-sealed chunk is sent unless it matches the
    /// tag logged when it was first sealed (`keeper`), in this page or an earlier one.
    pub fn seek(&mut self, index: u64) -> Result<(), Failure> {
        match &mut self.kind {
            Kind::Ahead { seq, .. } => seq.seek(index),
            Kind::WasmSeal(enc) => enc.seek(index),
            Kind::WasmOpen(_) => {
                return Err(Failure::new(FailureCode::Internal, "sealed out of turn"));
            }
        }
        Ok(())
    }

    /// Seals the next chunk on this thread (every chunk but the last exactly
    /// `chunk_size` bytes). Only for the engine [`Chunks::seal_ahead`] refuses.
    pub fn seal(&mut self, plain: &Uint8Array, last: bool) -> Result<Uint8Array, Failure> {
        match &mut self.kind {
            Kind::WasmSeal(enc) => Ok(Uint8Array::from(
                &enc.seal_chunk(&plain.to_vec(), last).map_err(failure)?[..],
            )),
            _ => Err(Failure::new(FailureCode::Internal, "sealed out of turn")),
        }
    }

    /// Starts opening the next sealed chunk now and returns a promise of its plaintext
    /// (see [`result`]), so several chunks decrypt while the socket delivers more. The
    /// nonce is fixed here, in call order; the promise rejects if the chunk does not
    /// verify. The caller MUST await every promise, in order, before it treats the file as
    /// complete: [`Chunks::finish`] only knows which chunks were started. `None` with the
    /// wasm engine on this thread: use [`Chunks::open`].
    pub fn open_ahead(
        &mut self,
        sealed: &Uint8Array,
        last: bool,
    ) -> Option<Result<Promise, Failure>> {
        let Kind::Ahead { engine, seq } = &mut self.kind else {
            return None;
        };
        let nonce = match seq.open_nonce(sealed.length() as usize, last) {
            Ok(nonce) => nonce,
            Err(e) => return Some(Err(failure(e))),
        };
        seq.advance(last);
        Some(Ok(engine.run(Op::Open, &nonce, sealed)))
    }

    /// Opens the next sealed chunk on this thread; `last` is whether the caller expects
    /// the final one. Only for the engine [`Chunks::open_ahead`] refuses.
    pub fn open(&mut self, sealed: &Uint8Array, last: bool) -> Result<Uint8Array, Failure> {
        match &mut self.kind {
            Kind::WasmOpen(dec) => Ok(Uint8Array::from(
                &dec.open_chunk(&sealed.to_vec(), last).map_err(failure)?[..],
            )),
            _ => Err(Failure::new(FailureCode::Internal, "opened out of turn")),
        }
    }

    /// Succeeds only once the final chunk went through. MUST be checked before a file is
    /// presented as complete.
    pub fn finish(&self) -> Result<(), Failure> {
        match &self.kind {
            Kind::Ahead { seq, .. } => seq.finish().map_err(failure),
            Kind::WasmSeal(enc) if enc.is_finished() => Ok(()),
            Kind::WasmOpen(dec) => dec.finish().map_err(failure),
            Kind::WasmSeal(_) => Err(failure(Error::Truncated)),
        }
    }
}
