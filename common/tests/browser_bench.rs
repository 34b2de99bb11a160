//! Figures measured inside headless Chromium (not assertions): Argon2id at the default
//! parameters in wasm, and AES-256-GCM throughput through the `aes-gcm` wasm code and
//! through WebCrypto, per chunk size. Ignored by default; run it with
//! `scripts/bench-browser-crypto.sh` (see BENCHMARKS.md).
#![cfg(target_arch = "wasm32")]

use ferry_common::{Header, KdfParams, Keys, LinkSecret, StreamEncryptor, stream::chunk_nonce};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{AesGcmParams, CryptoKey};

wasm_bindgen_test_configure!(run_in_browser);

fn now_ms() -> f64 {
    web_sys::window().unwrap().performance().unwrap().now()
}

fn header(kdf: KdfParams, chunk_size: u32) -> Header {
    Header {
        passphrase_only: false,
        kdf,
        salt: [1; 16],
        chunk_size,
    }
}

#[wasm_bindgen_test]
#[ignore]
async fn bench_browser_crypto() {
    let secret = LinkSecret::from_bytes([2; 16]);
    let h = header(KdfParams::DEFAULT, 262_144);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = now_ms();
        Keys::derive(&h, "correct horse", Some(&secret)).unwrap();
        times.push(now_ms() - t);
    }
    times.sort_by(f64::total_cmp);
    console_log!(
        "FIGURE argon2id m=64MiB t=3 p=1 wasm: median {:.0} ms (min {:.0}, max {:.0})",
        times[2],
        times[0],
        times[4]
    );

    let total = 64 * 1024 * 1024usize;
    let data = vec![0x5au8; total];
    let subtle = web_sys::window().unwrap().crypto().unwrap().subtle();
    for cs in [64 * 1024u32, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024] {
        let h = header(KdfParams::FLOOR, cs);
        let keys = Keys::derive(&h, "x", Some(&secret)).unwrap();
        let n = total / cs as usize;
        let t = now_ms();
        let mut enc = StreamEncryptor::new(&keys.payload, &h);
        for (i, c) in data.chunks(cs as usize).enumerate() {
            std::hint::black_box(enc.seal_chunk(c, i + 1 == n).unwrap());
        }
        let wasm_mbs = total as f64 / 1e6 / ((now_ms() - t) / 1e3);

        let usages = Array::of1(&"encrypt".into());
        let key: CryptoKey = JsFuture::from(
            subtle
                .import_key_with_str(
                    "raw",
                    &Uint8Array::from(&keys.payload.expose_secret()[..]),
                    "AES-GCM",
                    false,
                    &usages,
                )
                .unwrap(),
        )
        .await
        .unwrap()
        .unchecked_into();
        let aad = Uint8Array::from(&h.to_bytes()[..]);
        let chunk = Uint8Array::from(&data[..cs as usize]);
        let t = now_ms();
        for i in 0..n {
            let p = AesGcmParams::new(
                "AES-GCM",
                &Uint8Array::from(&chunk_nonce(i as u64, i + 1 == n)[..]),
            );
            p.set_additional_data(&aad);
            JsFuture::from(
                subtle
                    .encrypt_with_object_and_buffer_source(&p, &key, &chunk)
                    .unwrap(),
            )
            .await
            .unwrap();
        }
        let wc_mbs = total as f64 / 1e6 / ((now_ms() - t) / 1e3);
        console_log!(
            "FIGURE aes-256-gcm chunk {} KiB: aes-gcm wasm {:.0} MB/s, WebCrypto {:.0} MB/s",
            cs / 1024,
            wasm_mbs,
            wc_mbs
        );
    }
}
