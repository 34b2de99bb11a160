//! The sender's record of every chunk it sealed, so a resumed upload never seals an index
//! again over different plaintext.
//!
//! A chunk's nonce is fixed by its index under the share's one key, so two different
//! ciphertexts under one index would leak the XOR of their plaintexts and the GHASH key to
//! anyone who saw both (the server included), letting them forge chunks. A resumed upload
//! re-seals chunks from the file; this log compares each with what was sealed before and
//! refuses to go on when the file changed. The log holds SHA-256 hashes of ciphertext only,
//! which reveal nothing without the key.
use sha2::{Digest, Sha256};

use super::ClientError;

const HASH: usize = 32;

/// A SHA-256 hash of every sealed chunk of one upload, by index (all zeros: not sealed yet).
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

    /// Records chunk `index`'s ciphertext before it is sent, or refuses it when an
    /// earlier sealing of that index gave different bytes (the file changed): that chunk
    /// must then never be sent. Returns the hash when it is new (to be kept).
    pub fn record(&mut self, index: u64, sealed: &[u8]) -> Result<Option<[u8; 32]>, ClientError> {
        let hash: [u8; HASH] = Sha256::digest(sealed).into();
        let new = self.restore(index, hash)?;
        Ok(new.then_some(hash))
    }

    /// Puts back a hash kept from an earlier run; true if the index had none. Refuses a
    /// hash that differs from the one recorded.
    pub fn restore(&mut self, index: u64, hash: [u8; 32]) -> Result<bool, ClientError> {
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
    fn the_same_bytes_pass_and_different_bytes_are_refused() {
        let mut log = SealLog::new(3);
        assert!(log.record(1, b"one").unwrap().is_some());
        assert!(log.record(1, b"one").unwrap().is_none());
        assert!(log.contains(1) && !log.contains(0));
        assert_eq!(
            log.record(1, b"uno"),
            Err(ClientError::SourceChanged { chunk: 1 })
        );
        let back = SealLog::from_bytes(3, &log.to_bytes()).unwrap();
        assert_eq!(back, log);
        assert!(SealLog::from_bytes(4, &log.to_bytes()).is_none());
        assert!(log.record(3, b"x").is_err());
    }
}
