//! Known-answer tests: every vector in `tests/vectors/*.json` is recomputed from its inputs
//! and compared byte for byte, then decrypted again. The same file runs natively and, under
//! `wasm-bindgen-test`, in headless Chromium, proving both builds write identical bytes.
//!
//! Regenerate after a deliberate format change with
//! `FERRY_WRITE_VECTORS=1 cargo test -p ferry-common --test vectors` (native only), and
//! check `tests/independent/check_vectors.py` still agrees.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;

#[path = "support/vector.rs"]
mod vector;

use vector::{Vector, compute};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// The checked-in vectors, embedded so the wasm build needs no file system.
const VECTORS: &[(&str, &str)] = &[
    ("empty", include_str!("vectors/empty.json")),
    ("one-chunk", include_str!("vectors/one-chunk.json")),
    ("one-byte-over", include_str!("vectors/one-byte-over.json")),
    (
        "several-chunks",
        include_str!("vectors/several-chunks.json"),
    ),
    ("non-ascii", include_str!("vectors/non-ascii.json")),
    (
        "passphrase-only",
        include_str!("vectors/passphrase-only.json"),
    ),
    (
        "default-params",
        include_str!("vectors/default-params.json"),
    ),
];

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn vectors_recompute_byte_for_byte() {
    for (name, text) in VECTORS {
        let stored: Vector = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let fresh = compute(stored.inputs());
        assert_eq!(
            fresh.expected_header, stored.expected_header,
            "{name}: header"
        );
        assert_eq!(
            fresh.expected_download_token, stored.expected_download_token,
            "{name}: token"
        );
        assert_eq!(
            fresh.expected_verifier, stored.expected_verifier,
            "{name}: verifier"
        );
        assert_eq!(
            fresh.expected_metadata, stored.expected_metadata,
            "{name}: metadata"
        );
        assert_eq!(
            fresh.expected_ciphertext, stored.expected_ciphertext,
            "{name}: ciphertext"
        );
    }
}

/// Headers that ask for less key-derivation work than the floor, all other fields valid.
const REFUSED: &str = include_str!("vectors/refused/below-floor.json");

/// Every reader refuses them (issue 12: an 8 KiB, t = 1 header made each passphrase guess
/// cost 0.03 ms), in the browser build too: the web app opens shares with this code.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn headers_below_the_kdf_floor_are_refused() {
    let doc: serde_json::Value = serde_json::from_str(REFUSED).unwrap();
    let cases = doc["refused"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let what = case["description"].as_str().unwrap();
        let bytes = hex::decode(case["header"].as_str().unwrap()).unwrap();
        match ferry_common::Header::parse(&bytes) {
            Err(ferry_common::Error::WeakKdf(below)) => {
                assert_eq!(below, case["below"].as_str().unwrap(), "{what}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn vectors_decrypt() {
    for (name, text) in VECTORS {
        let stored: Vector = serde_json::from_str(text).unwrap();
        let (meta, plain) = vector::open(&stored).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plain, hex::decode(&stored.plaintext).unwrap(), "{name}");
        assert_eq!(meta.name, stored.file_name, "{name}");
        assert_eq!(meta.size, plain.len() as u64, "{name}");
    }
}

/// Writes the vector files from `vector::cases()`; runs only when asked to.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn write_vectors_when_asked() {
    if std::env::var_os("FERRY_WRITE_VECTORS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    for (name, inputs) in vector::cases() {
        let v = compute(inputs);
        let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
        std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
    }
    for (name, _) in VECTORS {
        assert!(dir.join(format!("{name}.json")).exists());
    }
}

/// Round trips over many lengths and chunk sizes, plus the tamper cases, on both targets
/// (proptest covers random inputs natively; this deterministic sweep runs in the browser too).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn round_trips_and_tampering_sweep() {
    use ferry_common::{BufferedDecryptor, Header, KdfParams, Keys, LinkSecret, StreamEncryptor};
    for cs in [1u32, 7, 64, 1000] {
        let header = Header {
            passphrase_only: false,
            kdf: KdfParams::FLOOR,
            salt: [cs as u8; 16],
            chunk_size: cs,
        };
        let keys = Keys::derive(&header, "pw", Some(&LinkSecret::from_bytes([1; 16]))).unwrap();
        for len in [
            0usize,
            1,
            cs as usize - 1,
            cs as usize,
            cs as usize + 1,
            3 * cs as usize,
            2500,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let n = len.div_ceil(cs as usize).max(1);
            let mut enc = StreamEncryptor::new(&keys.payload, &header);
            let sealed: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let c = &data[(i * cs as usize).min(len)..((i + 1) * cs as usize).min(len)];
                    enc.seal_chunk(c, i + 1 == n).unwrap()
                })
                .collect();
            let open = |bytes: &[u8]| {
                let mut dec = BufferedDecryptor::new(&keys.payload, &header);
                let mut out = dec.push(bytes)?;
                out.extend(dec.finish()?);
                Ok::<_, ferry_common::Error>(out)
            };
            let joined = sealed.concat();
            assert_eq!(open(&joined).unwrap(), data, "cs {cs} len {len}");
            let mut flipped = joined.clone();
            flipped[len / 2] ^= 0x10;
            assert!(open(&flipped).is_err(), "flip cs {cs} len {len}");
            assert!(open(&joined[..joined.len() - 1]).is_err(), "truncate");
            let mut appended = joined.clone();
            appended.push(0);
            assert!(open(&appended).is_err(), "append");
            if n > 1 {
                assert!(open(&sealed[..n - 1].concat()).is_err(), "drop last chunk");
                let mut swapped = sealed.clone();
                swapped.swap(0, 1);
                assert!(open(&swapped.concat()).is_err(), "reorder");
            }
        }
    }
}
