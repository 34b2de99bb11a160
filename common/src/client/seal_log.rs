//! The sender's record of every chunk it sealed, so a resumed upload never seals an index
//! again over different plaintext.
//!
//! A chunk's nonce is fixed by its index under the share's one key, so two different
//! ciphertexts under one index would leak the XOR of their plaintexts and the GHASH key to
//! anyone who saw both (the server included), letting them forge chunks. A resumed upload
//! re-seals chunks from the file; this log compares each with what was sealed before and
//! refuses to go on when the file changed.
//!
//! It keeps each sealed chunk's 16-byte authentication tag, which AES-GCM already computed:
//! the tag is a MAC over the chunk's ciphertext under the share's key and the chunk's
//! nonce, so under one index two different ciphertexts have equal tags only with
//! probability about 2^-128 for anyone who does not know the key (the sender's file cannot
//! aim for a collision). Comparing tags costs nothing beyond the sealing, and a tag reveals
//! nothing the server does not already see.
use super::ClientError;
use crate::TAG_LEN;

const HASH: usize = TAG_LEN;

/// The authentication tag of every sealed chunk of one upload, by index (all zeros: not
/// sealed yet).
#[derive(Clone, PartialEq, Eq)]
pub struct SealLog {
    hashes: Vec<[u8; HASH]>,
}

impl std::fmt::Debug for SealLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealLog")
            .field("chunks", &self.hashes.len())
            .finish_non_exhaustive()
    }
}

impl SealLog {
    /// An empty log for an upload of `chunks` chunks.
    pub fn new(chunks: u64) -> SealLog {
        SealLog {
            hashes: vec![[0; HASH]; chunks as usize],
        }
    }

    /// Records sealed chunk `index` before it is sent, or refuses it when an earlier
    /// sealing of that index gave a different chunk (the file changed): that chunk must
    /// then never be sent. Returns its tag when it is new (to be kept).
    pub fn record(&mut self, index: u64, sealed: &[u8]) -> Result<Option<[u8; HASH]>, ClientError> {
        let Some(tag) = sealed.len().checked_sub(HASH).map(|at| &sealed[at..]) else {
            return Err(ClientError::Misuse("a sealed chunk shorter than its tag"));
        };
        let tag: [u8; HASH] = tag.try_into().expect("HASH bytes");
        let new = self.restore(index, tag)?;
        Ok(new.then_some(tag))
    }

    /// Puts back a tag kept from an earlier run; true if the index had none. Refuses a tag
    /// that differs from the one recorded.
    pub fn restore(&mut self, index: u64, hash: [u8; HASH]) -> Result<bool, ClientError> {
        let Some(slot) = self.hashes.get_mut(index as usize) else {
            return Err(ClientError::Misuse("a chunk index beyond the upload"));
        };
        if *slot == [0; HASH] {
            *slot = hash;
            Ok(true)
        } else if *slot == hash {
            Ok(false)
        } else {
            Err(ClientError::SourceChanged { chunk: index })
        }
    }

    /// Whether chunk `index` was sealed before.
    pub fn contains(&self, index: u64) -> bool {
        self.hashes
            .get(index as usize)
            .is_some_and(|h| *h != [0; HASH])
    }

    /// The log as bytes, to keep beside the upload's other state.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }

    /// A log of `chunks` chunks from [`SealLog::to_bytes`]; `None` if the bytes do not
    /// fit.
    pub fn from_bytes(chunks: u64, bytes: &[u8]) -> Option<SealLog> {
        if bytes.len() as u64 != chunks * HASH as u64 {
            return None;
        }
        Some(SealLog {
            hashes: bytes
                .chunks_exact(HASH)
                .map(|h| h.try_into().expect("exact chunks"))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_same_chunk_passes_and_a_different_one_is_refused() {
        use crate::{ChunkAead, Header, KdfParams, keys::AeadKey, stream::chunk_nonce};
        let header = Header::generate(KdfParams::FLOOR, 1024, false).unwrap();
        let aead = ChunkAead::new(&AeadKey::from_secret([7; 32]), &header);
        let seal = |plain: &[u8]| {
            let mut buf = plain.to_vec();
            aead.seal_in_place(&chunk_nonce(1, false), &mut buf)
                .unwrap();
            buf
        };
        let mut log = SealLog::new(3);
        assert!(log.record(1, &seal(b"one")).unwrap().is_some());
        assert!(log.record(1, &seal(b"one")).unwrap().is_none());
        assert!(log.contains(1) && !log.contains(0));
        assert_eq!(
            log.record(1, &seal(b"uno")),
            Err(ClientError::SourceChanged { chunk: 1 })
        );
        let back = SealLog::from_bytes(3, &log.to_bytes()).unwrap();
        assert_eq!(back, log);
        assert!(SealLog::from_bytes(4, &log.to_bytes()).is_none());
        assert!(log.record(3, &seal(b"x")).is_err(), "beyond the upload");
        assert!(log.record(0, b"short").is_err(), "shorter than a tag");
    }
}
