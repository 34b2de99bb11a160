//! The sealed metadata block: file name, size and media type, hidden from the server.
//!
//! ```text
//! block     = u32be(len(json)) || json || zero bytes, padded to a multiple of 256 bytes
//! sealed    = AES-256-GCM(metadata key, nonce = 12 zero bytes, block, aad = header bytes)
//! ```
//! The metadata key seals exactly one message per share (it is derived from a fresh salt),
//! so the fixed nonce never repeats under a key. The padding hides the name's length to
//! within 256 bytes.
use aes_gcm::{
    Nonce as GcmNonce,
    aead::{Aead, Payload},
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, header::Header, keys::AeadKey};

/// Block sizes are multiples of this many bytes.
pub const PADDING_BLOCK: usize = 256;
/// Longest file name stored, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Largest sealed metadata a reader accepts (bounds memory on hostile input).
pub const MAX_SEALED_LEN: usize = 8 * 1024;
/// Longest media type stored.
const MAX_TYPE_LEN: usize = 255;

/// What the recipient learns about the file before downloading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMetadata {
    /// The original file name (no directories).
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Media type such as `image/png`; empty when unknown.
    #[serde(rename = "type", default)]
    pub media_type: String,
}

impl FileMetadata {
    /// Seals the metadata for a share.
    pub fn seal(&self, key: &AeadKey, header: &Header) -> Result<Vec<u8>, Error> {
        if self.name.len() > MAX_NAME_LEN {
            return Err(Error::NameTooLong { max: MAX_NAME_LEN });
        }
        let mut meta = self.clone();
        // A media type is a hint; an absurd one is dropped rather than failing the upload.
        if meta.media_type.len() > MAX_TYPE_LEN {
            meta.media_type.clear();
        }
        // unwrap: serialising a struct of strings and integers cannot fail.
        let json = Zeroizing::new(serde_json::to_vec(&meta).expect("metadata serialises"));
        let len = 4 + json.len();
        let mut block = Zeroizing::new(vec![0u8; len.div_ceil(PADDING_BLOCK) * PADDING_BLOCK]);
        block[..4].copy_from_slice(&(json.len() as u32).to_be_bytes());
        block[4..len].copy_from_slice(&json);
        key.cipher()
            .encrypt(
                &GcmNonce::from([0u8; 12]),
                Payload {
                    msg: &block,
                    aad: &header.to_bytes(),
                },
            )
            .map_err(|_| Error::Misuse("metadata too large"))
    }

    /// Opens sealed metadata. A failure means the passphrase or link is wrong, or the
    /// share was altered; either way the person should re-check what they typed.
    pub fn open(sealed: &[u8], key: &AeadKey, header: &Header) -> Result<FileMetadata, Error> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(Error::WrongPassphrase);
        }
        let block = Zeroizing::new(
            key.cipher()
                .decrypt(
                    &GcmNonce::from([0u8; 12]),
                    Payload {
                        msg: sealed,
                        aad: &header.to_bytes(),
                    },
                )
                .map_err(|_| Error::WrongPassphrase)?,
        );
        // Authenticated from here on, but still parsed defensively.
        if block.len() < 4 || block.len() % PADDING_BLOCK != 0 {
            return Err(Error::Corrupted);
        }
        let len = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
        let json = block.get(4..4 + len).ok_or(Error::Corrupted)?;
        if block[4 + len..].iter().any(|&b| b != 0) {
            return Err(Error::Corrupted);
        }
        let meta: FileMetadata = serde_json::from_slice(json).map_err(|_| Error::Corrupted)?;
        if meta.name.len() > MAX_NAME_LEN {
            return Err(Error::Corrupted);
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Keys, header::KdfParams};

    fn setup() -> (Keys, Header) {
        let header = Header {
            passphrase_only: true,
            kdf: KdfParams::FLOOR,
            salt: [5; 16],
            chunk_size: 64,
        };
        (Keys::derive(&header, "pw", None).unwrap(), header)
    }

    #[test]
    fn round_trip_and_padding() {
        let (keys, header) = setup();
        let meta = FileMetadata {
            name: "Grüße 📄.txt".into(),
            size: 42,
            media_type: "text/plain".into(),
        };
        let sealed = meta.seal(&keys.metadata, &header).unwrap();
        assert_eq!(sealed.len(), 256 + 16);
        assert_eq!(
            FileMetadata::open(&sealed, &keys.metadata, &header).unwrap(),
            meta
        );
        let long = FileMetadata {
            name: "x".repeat(300),
            ..meta.clone()
        };
        assert_eq!(long.seal(&keys.metadata, &header).unwrap().len(), 512 + 16);
    }

    #[test]
    fn wrong_key_or_tamper_fails() {
        let (keys, header) = setup();
        let meta = FileMetadata {
            name: "a".into(),
            size: 1,
            media_type: String::new(),
        };
        let mut sealed = meta.seal(&keys.metadata, &header).unwrap();
        assert_eq!(
            FileMetadata::open(&sealed, &keys.payload, &header),
            Err(Error::WrongPassphrase)
        );
        sealed[3] ^= 1;
        assert_eq!(
            FileMetadata::open(&sealed, &keys.metadata, &header),
            Err(Error::WrongPassphrase)
        );
        let too_long = FileMetadata {
            name: "x".repeat(MAX_NAME_LEN + 1),
            ..meta
        };
        assert!(too_long.seal(&keys.metadata, &header).is_err());
    }
}
