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

use vector::{RefusedMetadata, Vector, compute};

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
        "metadata-fills-one-block",
        include_str!("vectors/metadata-fills-one-block.json"),
    ),
    (
        "default-params",
        include_str!("vectors/default-params.json"),
    ),
    ("several-files", include_str!("vectors/several-files.json")),
];

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn vectors_recompute_byte_for_byte() {
    for (name, text) in VECTORS {
        let stored: Vector = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let fresh = compute(stored.inputs());
        // Every field: the intermediate values too (docs/FORMAT.md says the files hold
        // them), so a stale or hand-edited file fails here.
        assert_eq!(
            serde_json::to_value(&fresh).unwrap(),
            serde_json::to_value(&stored).unwrap(),
            "{name}"
        );
    }
}

/// docs/FORMAT.md §4: the block is `256·ceil((4 + len(json)) / 256)` bytes, so a block whose
/// JSON and length fill 256 bytes exactly has no padding at all.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn metadata_padding_follows_the_rule() {
    for (name, text) in VECTORS {
        let v: Vector = serde_json::from_str(text).unwrap();
        let block = hex::decode(&v.expected_metadata_block).unwrap();
        let json_len = v.expected_metadata_json.len();
        assert_eq!(block.len(), (4 + json_len).div_ceil(256) * 256, "{name}");
        assert_eq!(
            hex::decode(&v.expected_metadata).unwrap().len(),
            block.len() + 16
        );
    }
    let (_, text) = VECTORS
        .iter()
        .find(|(name, _)| *name == "metadata-fills-one-block")
        .unwrap();
    let exact: Vector = serde_json::from_str(text).unwrap();
    assert_eq!(exact.expected_metadata_json.len() + 4, 256);
    assert_eq!(exact.expected_metadata_block.len() / 2, 256);
}

/// Blocks whose tag verifies but which break the block rules (one not a multiple of 256
/// among them).
const REFUSED_METADATA: &str = include_str!("vectors/refused/metadata.json");

/// Every reader refuses them as corrupted, in the browser build too.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn metadata_blocks_breaking_the_rules_are_refused() {
    let doc: RefusedMetadata = serde_json::from_str(REFUSED_METADATA).unwrap();
    let (header, keys) = doc.key();
    assert!(doc.refused.len() >= 5);
    for case in &doc.refused {
        let sealed = hex::decode(&case.sealed).unwrap();
        assert_eq!(
            ferry_common::FileMetadata::open(&sealed, &keys.metadata, &header),
            Err(ferry_common::Error::Corrupted),
            "{}",
            case.description
        );
    }
}

/// Manifests with a path that climbs out, is absolute or too deep, or sizes that don't add up.
const REFUSED_MANIFESTS: &str = include_str!("vectors/refused/manifest.json");

/// Every reader refuses them, in the browser build too.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn hostile_manifests_are_refused() {
    let doc: RefusedMetadata = serde_json::from_str(REFUSED_MANIFESTS).unwrap();
    let (header, keys) = doc.key();
    assert!(doc.refused.len() >= 10);
    for case in &doc.refused {
        let sealed = hex::decode(&case.sealed).unwrap();
        assert!(
            matches!(
                ferry_common::Metadata::open(&sealed, &keys.metadata, &header),
                Err(ferry_common::Error::Manifest(_))
            ),
            "{}",
            case.description
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
        assert_eq!(meta.size(), plain.len() as u64, "{name}");
        match (meta, &stored.manifest) {
            (ferry_common::Metadata::File(file), None) => assert_eq!(file.name, stored.file_name),
            (ferry_common::Metadata::Files(m), Some(want)) => {
                assert_eq!((&m.files, &m.dirs), (&want.files, &want.dirs), "{name}")
            }
            (other, _) => panic!("{name}: {other:?}"),
        }
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
    let refused = serde_json::to_string_pretty(&vector::refused_metadata()).unwrap() + "\n";
    std::fs::write(dir.join("refused/metadata.json"), refused).unwrap();
    let refused = serde_json::to_string_pretty(&vector::refused_manifests()).unwrap() + "\n";
    std::fs::write(dir.join("refused/manifest.json"), refused).unwrap();
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
