//! AES-256-GCM STREAM chunks through WebCrypto when it exists, else through `ferry-common`.
//!
//! Both engines make the very same calls `ferry_common::stream` defines (payload key,
//! nonce `chunk_nonce(counter, last)`, the 40 header bytes as associated data, 128-bit
//! tag), so their output is byte-identical. The WebCrypto path takes its counter, last
//! flag and chunk-length rules from `ferry_common::stream::ChunkSequence`, the same
//! bookkeeping `StreamEncryptor`/`StreamDecryptor` use, and keeps every buffer in JS memory
//! (an IV view into wasm memory detaches when memory grows, so it is copied).
use ferry_common::{
    Error, Header, StreamDecryptor, StreamEncryptor, keys::AeadKey, stream::ChunkSequence,
};
use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

use ferry_worker::Failure;

enum Kind {
    Web {
        subtle: SubtleCrypto,
        key: CryptoKey,
        aad: Uint8Array,
        seq: ChunkSequence,
    },
    WasmSeal(StreamEncryptor),
    WasmOpen(StreamDecryptor),
}

/// Seals or opens one share's chunks in order.
pub struct Chunks {
    kind: Kind,
}

/// Maps `ferry-common`'s errors to what the page shows.
pub fn failure(e: Error) -> Failure {
    let code = match e {
        Error::Corrupted | Error::Truncated | Error::TrailingData => "corrupted",
        Error::WrongPassphrase => "wrong-passphrase",
        Error::LinkSecret => "link-incomplete",
        Error::EmptyPassphrase => "empty-passphrase",
        _ => "internal",
    };
    Failure::new(code, e.to_string())
}

fn corrupted() -> Failure {
    failure(Error::Corrupted)
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

impl Chunks {
    async fn new(key: &AeadKey, header: &Header, force_wasm: bool, seal: bool) -> Self {
        let web = match subtle() {
            Some(subtle) if !force_wasm => match import(&subtle, key).await {
                Ok(key) => Some(Kind::Web {
                    subtle,
                    key,
                    aad: Uint8Array::from(&header.to_bytes()[..]),
                    seq: ChunkSequence::new(header),
                }),
                Err(_) => None,
            },
            _ => None,
        };
        let kind = web.unwrap_or_else(|| {
            if seal {
                Kind::WasmSeal(StreamEncryptor::new(key, header))
            } else {
                Kind::WasmOpen(StreamDecryptor::new(key, header))
            }
        });
        Chunks { kind }
    }

    /// An encryptor for `header` under the payload key.
    pub async fn sealer(key: &AeadKey, header: &Header, force_wasm: bool) -> Self {
        Self::new(key, header, force_wasm, true).await
    }

    /// A decryptor for `header` under the payload key.
    pub async fn opener(key: &AeadKey, header: &Header, force_wasm: bool) -> Self {
        Self::new(key, header, force_wasm, false).await
    }

    /// `"webcrypto"` or `"wasm"`.
    pub fn engine(&self) -> &'static str {
        match self.kind {
            Kind::Web { .. } => "webcrypto",
            _ => "wasm",
        }
    }

    fn params(aad: &Uint8Array, nonce: &[u8; 12]) -> AesGcmParams {
        let iv = Uint8Array::from(&nonce[..]);
        let params = AesGcmParams::new("AES-GCM", &iv);
        params.set_additional_data(aad);
        params.set_tag_length(128);
        params
    }

    /// With WebCrypto: starts sealing the next chunk as soon as `plain` (a promise of its
    /// `len` bytes as an ArrayBuffer) resolves, and returns a promise of the sealed bytes,
    /// so reading and encrypting run ahead of the socket. The nonce is fixed here, in call
    /// order, so the promises may settle in any order. `None` with the wasm engine, whose
    /// state must advance strictly in order: use [`Chunks::seal`].
    pub fn seal_ahead(
        &mut self,
        plain: &Promise,
        len: usize,
        last: bool,
    ) -> Option<Result<Promise, Failure>> {
        let Kind::Web {
            subtle,
            key,
            aad,
            seq,
        } = &mut self.kind
        else {
            return None;
        };
        let nonce = match seq.seal_nonce(len, last) {
            Ok(nonce) => nonce,
            Err(e) => return Some(Err(failure(e))),
        };
        // The nonce is taken now; a failure later fails the whole upload.
        seq.advance(last);
        let (subtle, key) = (subtle.clone(), key.clone());
        let params = Self::params(aad, &nonce);
        let encrypt = Closure::once_into_js(move |buf: JsValue| -> JsValue {
            match subtle.encrypt_with_object_and_buffer_source(
                &params,
                &key,
                buf.unchecked_ref::<Object>(),
            ) {
                Ok(promise) => promise.into(),
                Err(e) => Promise::reject(&e).into(),
            }
        });
        let then: Option<Function> = Reflect::get(plain, &"then".into())
            .ok()
            .and_then(|f| f.dyn_into().ok());
        let sealed = then
            .and_then(|then| then.call1(plain, &encrypt).ok())
            .and_then(|p| p.dyn_into::<Promise>().ok())
            .ok_or_else(|| Failure::new("internal", "the browser failed to encrypt"));
        Some(sealed)
    }

    /// Seals the next chunk (every chunk but the last exactly `chunk_size` bytes).
    pub async fn seal(&mut self, plain: &Uint8Array, last: bool) -> Result<Uint8Array, Failure> {
        let sealed = match &mut self.kind {
            Kind::WasmSeal(enc) => {
                Uint8Array::from(&enc.seal_chunk(&plain.to_vec(), last).map_err(failure)?[..])
            }
            Kind::Web {
                subtle,
                key,
                aad,
                seq,
            } => {
                let nonce = seq
                    .seal_nonce(plain.length() as usize, last)
                    .map_err(failure)?;
                let params = Self::params(aad, &nonce);
                let out = async {
                    let p = subtle.encrypt_with_object_and_buffer_source(&params, key, plain)?;
                    JsFuture::from(p).await
                }
                .await
                .map_err(|_| Failure::new("internal", "the browser failed to encrypt"))?;
                seq.advance(last);
                Uint8Array::new(&out.unchecked_into::<ArrayBuffer>())
            }
            Kind::WasmOpen(_) => unreachable!("a sealer is built with a StreamEncryptor"),
        };
        Ok(sealed)
    }

    /// With WebCrypto: starts opening the next sealed chunk now and returns a promise of
    /// its plaintext (an ArrayBuffer), so several chunks decrypt while the socket delivers
    /// more. The nonce is fixed here, in call order; the promise rejects if the chunk does
    /// not verify. The caller MUST await every promise, in order, before it treats the
    /// file as complete: [`Chunks::finish`] only knows which chunks were started. `None`
    /// with the wasm engine: use [`Chunks::open`].
    pub fn open_ahead(
        &mut self,
        sealed: &Uint8Array,
        last: bool,
    ) -> Option<Result<Promise, Failure>> {
        let Kind::Web {
            subtle,
            key,
            aad,
            seq,
        } = &mut self.kind
        else {
            return None;
        };
        let nonce = match seq.open_nonce(sealed.length() as usize, last) {
            Ok(nonce) => nonce,
            Err(e) => return Some(Err(failure(e))),
        };
        seq.advance(last);
        let params = Self::params(aad, &nonce);
        Some(
            subtle
                .decrypt_with_object_and_buffer_source(&params, key, sealed)
                .map_err(|_| corrupted()),
        )
    }

    /// Opens the next sealed chunk; `last` is whether the caller expects the final one.
    pub async fn open(&mut self, sealed: &Uint8Array, last: bool) -> Result<Uint8Array, Failure> {
        let plain = match &mut self.kind {
            Kind::WasmOpen(dec) => {
                Uint8Array::from(&dec.open_chunk(&sealed.to_vec(), last).map_err(failure)?[..])
            }
            Kind::Web {
                subtle,
                key,
                aad,
                seq,
            } => {
                let nonce = seq
                    .open_nonce(sealed.length() as usize, last)
                    .map_err(failure)?;
                let params = Self::params(aad, &nonce);
                let out = async {
                    let p = subtle.decrypt_with_object_and_buffer_source(&params, key, sealed)?;
                    JsFuture::from(p).await
                }
                .await
                .map_err(|_| corrupted())?;
                seq.advance(last);
                Uint8Array::new(&out.unchecked_into::<ArrayBuffer>())
            }
            Kind::WasmSeal(_) => unreachable!("an opener is built with a StreamDecryptor"),
        };
        Ok(plain)
    }

    /// Succeeds only once the final chunk went through. MUST be checked before a file is
    /// presented as complete.
    pub fn finish(&self) -> Result<(), Failure> {
        match &self.kind {
            Kind::Web { seq, .. } => seq.finish().map_err(failure),
            Kind::WasmSeal(enc) if enc.is_finished() => Ok(()),
            Kind::WasmOpen(dec) => dec.finish().map_err(failure),
            Kind::WasmSeal(_) => Err(failure(Error::Truncated)),
        }
    }
}
