//! The secret half of a browser's record of an interrupted upload, sealed for the
//! sender's own storage (client-local: never sent, never read by the server).
//!
//! ```text
//! body   = upload token (32) || owner token (32) || u64be(last modified, ms) ||
//!          u16be(len(name)) || name || zero bytes, padded to a multiple of 256 bytes
//! sealed = 0x01 || nonce (12 random bytes) ||
//!          AES-256-GCM(resume-record key, nonce, body, aad = "ferry/v1/resume-record" || share ID)
//! ```
//! The resume-record key comes from the share's key schedule ([`crate::keys`]), so opening
//! a record takes the link secret and the passphrase: storage holds nothing the link does
//! not already give. The associated data binds a record to its share, so one share's record
//! cannot be passed off as another's. The padding hides the name's length to within 256
//! bytes.
use aes_gcm::{
    Nonce as GcmNonce,
    aead::{Aead, Payload},
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, keys::AeadKey, keys::TOKEN_LEN};

/// Format byte of a sealed record.
const VERSION: u8 = 1;
/// Associated-data prefix, before the share ID.
const AAD_LABEL: &[u8] = b"ferry/v1/resume-record";
/// Bodies are padded to a multiple of this many bytes.
const PADDING_BLOCK: usize = 256;
/// Longest name kept, in UTF-8 bytes (as the metadata block's limit).
const MAX_NAME_LEN: usize = crate::metadata::MAX_NAME_LEN;
/// Bytes before the name: two tokens, the modification time and the name's length.
const FIXED: usize = 2 * TOKEN_LEN + 8 + 2;

/// What a resumed browser upload needs beyond the link: the tokens that let it continue and
/// then manage the share, and the chosen file's name and modification time (to notice that
/// another file was chosen before reading it).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ResumeSecrets {
    /// Proves to the server that a connection continues this upload.
    pub upload_token: [u8; TOKEN_LEN],
    /// Lets the sender query and delete the share once committed.
    pub owner_token: [u8; TOKEN_LEN],
    /// The file's name.
    pub name: String,
    /// The file's modification time, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
}

impl std::fmt::Debug for ResumeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeSecrets { .. }")
    }
}

fn aad(share_id: &str) -> Vec<u8> {
    [AAD_LABEL, share_id.as_bytes()].concat()
}

impl ResumeSecrets {
    /// Seals the record of share `share_id` under the share's resume-record key.
    pub fn seal(&self, key: &AeadKey, share_id: &str) -> Result<Vec<u8>, Error> {
        if self.name.len() > MAX_NAME_LEN {
            return Err(Error::NameTooLong { max: MAX_NAME_LEN });
        }
        let len = FIXED + self.name.len();
        let mut body = Zeroizing::new(vec![0u8; len.div_ceil(PADDING_BLOCK) * PADDING_BLOCK]);
        body[..TOKEN_LEN].copy_from_slice(&self.upload_token);
        body[TOKEN_LEN..2 * TOKEN_LEN].copy_from_slice(&self.owner_token);
        body[2 * TOKEN_LEN..2 * TOKEN_LEN + 8]
            .copy_from_slice(&self.last_modified_ms.to_be_bytes());
        body[FIXED - 2..FIXED].copy_from_slice(&(self.name.len() as u16).to_be_bytes());
        body[FIXED..len].copy_from_slice(self.name.as_bytes());
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).map_err(|e| Error::Kdf(e.to_string()))?;
        let sealed = key
            .cipher()
            .encrypt(
                &GcmNonce::from(nonce),
                Payload {
                    msg: &body,
                    aad: &aad(share_id),
                },
            )
            .map_err(|_| Error::Misuse("resume record too large"))?;
        Ok([&[VERSION][..], &nonce, &sealed].concat())
    }

    /// Opens a record sealed by [`ResumeSecrets::seal`] for share `share_id`. Any failure
    /// is [`Error::WrongPassphrase`]: the passphrase typed is not the one the upload used
    /// (or the record was altered), so it cannot be resumed.
    pub fn open(sealed: &[u8], key: &AeadKey, share_id: &str) -> Result<ResumeSecrets, Error> {
        let (&version, rest) = sealed.split_first().ok_or(Error::WrongPassphrase)?;
        if version != VERSION || rest.len() < 12 || rest.len() > 4096 {
            return Err(Error::WrongPassphrase);
        }
        let (nonce, ciphertext) = rest.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| Error::WrongPassphrase)?;
        let body = Zeroizing::new(
            key.cipher()
                .decrypt(
                    &GcmNonce::from(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: &aad(share_id),
                    },
                )
                .map_err(|_| Error::WrongPassphrase)?,
        );
        // Authenticated from here on, but still parsed defensively.
        let fixed = body.get(..FIXED).ok_or(Error::Corrupted)?;
        let name_len = usize::from(u16::from_be_bytes([fixed[FIXED - 2], fixed[FIXED - 1]]));
        let name = body
            .get(FIXED..FIXED + name_len)
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or(Error::Corrupted)?;
        let token = |at: usize| -> [u8; TOKEN_LEN] {
            // unwrap: `fixed` holds FIXED bytes, past both tokens.
            fixed[at..at + TOKEN_LEN].try_into().expect("token bytes")
        };
        Ok(ResumeSecrets {
            upload_token: token(0),
            owner_token: token(TOKEN_LEN),
            // unwrap: eight bytes of `fixed`.
            last_modified_ms: u64::from_be_bytes(
                fixed[2 * TOKEN_LEN..2 * TOKEN_LEN + 8]
                    .try_into()
                    .expect("eight bytes"),
            ),
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, KdfParams, Keys, LinkSecret};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn keys(passphrase: &str, secret: u8) -> Keys {
        let header = Header {
            passphrase_only: false,
            kdf: KdfParams::FLOOR,
            salt: [3; 16],
            chunk_size: 1024,
        };
        Keys::derive(
            &header,
            passphrase,
            Some(&LinkSecret::from_bytes([secret; 16])),
        )
        .unwrap()
    }

    fn secrets() -> ResumeSecrets {
        ResumeSecrets {
            upload_token: [0xa1; 32],
            owner_token: [0xb2; 32],
            name: "quarterly-report.pdf".into(),
            last_modified_ms: 1_764_547_200_123,
        }
    }

    #[test]
    fn a_record_opens_with_the_same_passphrase_and_link_only() {
        let k = keys("correct horse", 7);
        let sealed = secrets()
            .seal(&k.resume_record, "AAAAAAAAAAAAAAAAAAAAAA")
            .unwrap();
        let back = ResumeSecrets::open(&sealed, &k.resume_record, "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(back.unwrap(), secrets());
        for other in [keys("correct horsf", 7), keys("correct horse", 8)] {
            assert_eq!(
                ResumeSecrets::open(&sealed, &other.resume_record, "AAAAAAAAAAAAAAAAAAAAAA"),
                Err(Error::WrongPassphrase)
            );
        }
        // Bound to its share: another share ID does not open it.
        assert_eq!(
            ResumeSecrets::open(&sealed, &k.resume_record, "BBBBBBBBBBBBBBBBBBBBBB"),
            Err(Error::WrongPassphrase)
        );
    }

    #[test]
    fn nothing_secret_is_in_clear_and_altered_records_fail() {
        let k = keys("pw", 1);
        let sealed = secrets().seal(&k.resume_record, "id").unwrap();
        let has = |needle: &[u8]| sealed.windows(needle.len()).any(|w| w == needle);
        assert!(!has(b"quarterly") && !has(&[0xa1; 8]) && !has(&[0xb2; 8]));
        // Padded: 1 + 12 + 256 + 16 bytes whatever a short name's length.
        assert_eq!(sealed.len(), 1 + 12 + PADDING_BLOCK + 16);
        // A fresh nonce each time.
        assert_ne!(sealed, secrets().seal(&k.resume_record, "id").unwrap());
        for at in [0, 5, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(ResumeSecrets::open(&bad, &k.resume_record, "id").is_err());
        }
        assert!(ResumeSecrets::open(&[], &k.resume_record, "id").is_err());
        assert!(ResumeSecrets::open(&sealed[..20], &k.resume_record, "id").is_err());
    }

    #[test]
    fn long_names_are_refused_and_unicode_names_survive() {
        let k = keys("pw", 1);
        let mut s = secrets();
        s.name = "x".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            s.seal(&k.resume_record, "id"),
            Err(Error::NameTooLong { .. })
        ));
        s.name = "résumé ✓.txt".into();
        let sealed = s.seal(&k.resume_record, "id").unwrap();
        assert_eq!(
            ResumeSecrets::open(&sealed, &k.resume_record, "id").unwrap(),
            s
        );
    }
}
