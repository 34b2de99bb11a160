//! In headless Chromium: WebCrypto's AES-256-GCM, fed the key, nonce and associated data
//! that `ferry-common` defines, writes exactly the bytes of `StreamEncryptor`, and opens
//! them. This is what lets the web app use `crypto.subtle` as its fast path.
#![cfg(target_arch = "wasm32")]

use ferry_common::{
    Header, KdfParams, Keys, LinkSecret, StreamDecryptor, StreamEncryptor, stream::chunk_nonce,
};
use js_sys::{Array, ArrayBuffer, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

wasm_bindgen_test_configure!(run_in_browser);

fn subtle() -> SubtleCrypto {
    web_sys::window().unwrap().crypto().unwrap().subtle()
}

async fn import(key: &[u8; 32]) -> CryptoKey {
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let promise = subtle()
        .import_key_with_str(
            "raw",
            &Uint8Array::from(&key[..]),
            "AES-GCM",
            false,
            &usages,
        )
        .unwrap();
    JsFuture::from(promise).await.unwrap().unchecked_into()
}

/// IV and AAD are copied into JS-owned arrays: views into wasm memory detach when it grows.
fn params(counter: u64, last: bool, aad: &[u8]) -> Object {
    let p = AesGcmParams::new(
        "AES-GCM",
        &Uint8Array::from(&chunk_nonce(counter, last)[..]),
    );
    p.set_additional_data(&Uint8Array::from(aad));
    p.set_tag_length(128);
    p.into()
}

async fn webcrypto_seal(
    key: &CryptoKey,
    counter: u64,
    last: bool,
    aad: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let promise = subtle()
        .encrypt_with_object_and_u8_array(&params(counter, last, aad), key, data)
        .unwrap();
    let buf: ArrayBuffer = JsFuture::from(promise).await.unwrap().unchecked_into();
    Uint8Array::new(&buf).to_vec()
}

async fn webcrypto_open(
    key: &CryptoKey,
    counter: u64,
    last: bool,
    aad: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, JsValue> {
    let promise = subtle()
        .decrypt_with_object_and_u8_array(&params(counter, last, aad), key, data)
        .unwrap();
    let buf: ArrayBuffer = JsFuture::from(promise).await?.unchecked_into();
    Ok(Uint8Array::new(&buf).to_vec())
}

fn setup(chunk_size: u32) -> (Keys, Header) {
    let header = Header {
        passphrase_only: false,
        kdf: KdfParams::FLOOR,
        salt: [0x42; 16],
        chunk_size,
    };
    let keys = Keys::derive(&header, "pw", Some(&LinkSecret::from_bytes([7; 16]))).unwrap();
    (keys, header)
}

#[wasm_bindgen_test]
async fn webcrypto_matches_aes_gcm_crate() {
    for (chunk_size, len) in [
        (1024u32, 0usize),
        (1024, 1),
        (1024, 1024),
        (1024, 3000),
        (262_144, 600_000),
    ] {
        let (keys, header) = setup(chunk_size);
        let aad = header.to_bytes();
        let key = import(keys.payload.expose_secret()).await;
        let data: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
        let cs = chunk_size as usize;
        let n = len.div_ceil(cs).max(1);
        let mut enc = StreamEncryptor::new(&keys.payload, &header);
        let mut dec = StreamDecryptor::new(&keys.payload, &header);
        for i in 0..n {
            let chunk = &data[(i * cs).min(len)..((i + 1) * cs).min(len)];
            let last = i + 1 == n;
            let ours = enc.seal_chunk(chunk, last).unwrap();
            let theirs = webcrypto_seal(&key, i as u64, last, &aad, chunk).await;
            assert_eq!(ours, theirs, "chunk {i} of {len} bytes");
            // Each side opens the other's output.
            assert_eq!(dec.open_chunk(&theirs, last).unwrap(), chunk);
            assert_eq!(
                webcrypto_open(&key, i as u64, last, &aad, &ours)
                    .await
                    .unwrap(),
                chunk
            );
        }
        dec.finish().unwrap();
    }
}

#[wasm_bindgen_test]
async fn webcrypto_rejects_tampering() {
    let (keys, header) = setup(1024);
    let aad = header.to_bytes();
    let key = import(keys.payload.expose_secret()).await;
    let mut sealed = webcrypto_seal(&key, 0, true, &aad, b"hello").await;
    assert!(
        webcrypto_open(&key, 0, false, &aad, &sealed).await.is_err(),
        "last flag is bound"
    );
    sealed[0] ^= 1;
    assert!(webcrypto_open(&key, 0, true, &aad, &sealed).await.is_err());
}
