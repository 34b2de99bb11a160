//! Property tests: round trips over random lengths and chunk sizes, and every tamper case
//! the format promises to detect (flip, truncate, drop, duplicate, reorder, append, wrong key).
#![cfg(not(target_arch = "wasm32"))]

use ferry_common::{
    BufferedDecryptor, Error, Header, KdfParams, Keys, LinkSecret, StreamEncryptor,
};
use proptest::prelude::*;
use std::sync::OnceLock;

/// The keys for link secret `secret` (1 or 2), derived once: at Ferry's KDF floor each
/// derivation costs tens of milliseconds, too much for every generated case. The header's
/// chunk size varies per case; it stays the associated data of every chunk, so tampering
/// with it is still detected.
fn keys(secret: u8) -> &'static Keys {
    static KEYS: OnceLock<[Keys; 2]> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        [1, 2].map(|s| {
            let header = header(64);
            Keys::derive(&header, "pw", Some(&LinkSecret::from_bytes([s; 16]))).unwrap()
        })
    });
    &all[usize::from(secret - 1)]
}

fn header(chunk_size: u32) -> Header {
    Header {
        passphrase_only: false,
        kdf: KdfParams::FLOOR,
        salt: [9; 16],
        chunk_size,
    }
}

fn setup(chunk_size: u32, secret: u8) -> (&'static Keys, Header) {
    (keys(secret), header(chunk_size))
}

/// Seals `data`, returning the sealed chunks in order.
fn seal(keys: &Keys, header: &Header, data: &[u8]) -> Vec<Vec<u8>> {
    let cs = header.chunk_size as usize;
    let n = data.len().div_ceil(cs).max(1);
    let mut enc = StreamEncryptor::new(&keys.payload, header);
    (0..n)
        .map(|i| {
            let chunk = &data[(i * cs).min(data.len())..((i + 1) * cs).min(data.len())];
            enc.seal_chunk(chunk, i + 1 == n).unwrap()
        })
        .collect()
}

/// Opens a byte stream fed in pieces of `piece` bytes.
fn open(keys: &Keys, header: &Header, bytes: &[u8], piece: usize) -> Result<Vec<u8>, Error> {
    let mut dec = BufferedDecryptor::new(&keys.payload, header);
    let mut out = Vec::new();
    for p in bytes.chunks(piece.max(1)) {
        out.extend(dec.push(p)?);
    }
    out.extend(dec.finish()?);
    Ok(out)
}

fn data_and_chunk() -> impl Strategy<Value = (Vec<u8>, u32)> {
    (1u32..300).prop_flat_map(|cs| (proptest::collection::vec(any::<u8>(), 0..2000), Just(cs)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip((data, cs) in data_and_chunk(), piece in 1usize..5000) {
        let (keys, header) = setup(cs, 1);
        let sealed = seal(keys, &header, &data).concat();
        prop_assert_eq!(sealed.len() as u64, header.ciphertext_len(data.len() as u64));
        prop_assert_eq!(header.plaintext_len(sealed.len() as u64), Some(data.len() as u64));
        prop_assert_eq!(open(keys, &header, &sealed, piece)?, data);
    }

    #[test]
    fn any_flipped_bit_is_detected((data, cs) in data_and_chunk(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (keys, header) = setup(cs, 1);
        let mut sealed = seal(keys, &header, &data).concat();
        let i = pos.index(sealed.len());
        sealed[i] ^= 1 << bit;
        prop_assert!(open(keys, &header, &sealed, 4096).is_err());
    }

    #[test]
    fn any_truncation_is_detected((data, cs) in data_and_chunk(), cut in any::<prop::sample::Index>()) {
        let (keys, header) = setup(cs, 1);
        let sealed = seal(keys, &header, &data).concat();
        let keep = cut.index(sealed.len()); // strictly shorter than the whole
        prop_assert!(open(keys, &header, &sealed[..keep], 4096).is_err());
    }

    #[test]
    fn appended_bytes_are_detected((data, cs) in data_and_chunk(), extra in proptest::collection::vec(any::<u8>(), 1..400)) {
        let (keys, header) = setup(cs, 1);
        let mut sealed = seal(keys, &header, &data).concat();
        sealed.extend(extra);
        prop_assert!(open(keys, &header, &sealed, 4096).is_err());
    }

    #[test]
    fn dropped_duplicated_reordered_chunks_are_detected(
        (data, cs) in data_and_chunk(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), op in 0u8..3
    ) {
        let (keys, header) = setup(cs, 1);
        let mut chunks = seal(keys, &header, &data);
        let (i, j) = (a.index(chunks.len()), b.index(chunks.len()));
        match op {
            0 => { chunks.remove(i); }
            1 => { let c = chunks[i].clone(); chunks.insert(j, c); }
            _ => {
                prop_assume!(i != j && chunks[i] != chunks[j]);
                chunks.swap(i, j);
            }
        }
        prop_assert!(open(keys, &header, &chunks.concat(), 4096).is_err());
    }

    #[test]
    fn wrong_key_or_altered_header_is_detected((data, cs) in data_and_chunk()) {
        let (keys, header) = setup(cs, 1);
        let sealed = seal(keys, &header, &data).concat();
        let (other, _) = setup(cs, 2);
        prop_assert!(open(other, &header, &sealed, 4096).is_err());
        // The header is associated data: changing any field (here the KDF cost) breaks it,
        // even for someone who already holds the right key.
        let mut altered = header.clone();
        altered.kdf.t_cost += 1;
        prop_assert!(open(keys, &altered, &sealed, 4096).is_err());
    }
}

#[test]
fn empty_stream_is_truncated_not_empty_file() {
    let (keys, header) = setup(64, 1);
    assert_eq!(open(keys, &header, &[], 1), Err(Error::Truncated));
}
