//! The key schedule: passphrase and link secret in, three single-purpose values out.
//!
//! ```text
//! a    = Argon2id(NFC(passphrase), header.salt, m, t, p)          32 bytes, RFC 9106
//! ikm  = a || link_secret        (a alone for passphrase-only shares)
//! prk  = HKDF-Extract(salt = header bytes, ikm)                   RFC 5869, SHA-256
//! payload key    = HKDF-Expand(prk, "ferry/v1/payload", 32)
//! metadata key   = HKDF-Expand(prk, "ferry/v1/metadata", 32)
//! download token = HKDF-Expand(prk, "ferry/v1/download-token", 32)
//! resume-record key = HKDF-Expand(prk, "ferry/v1/resume-record", 32)   client-local
//! verifier       = SHA-256("ferry/v1/token-verifier" || token)
//! ```
//! The link secret never reaches the server (it lives in the URL fragment), so a server
//! holding the ciphertext cannot brute-force even a weak passphrase: it would have to
//! guess 128 random bits as well.
use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, header::Header};

/// HKDF label of the payload (chunk) key.
const PAYLOAD_KEY_LABEL: &[u8] = b"ferry/v1/payload";
/// HKDF label of the metadata key.
const METADATA_KEY_LABEL: &[u8] = b"ferry/v1/metadata";
/// HKDF label of the download token.
const DOWNLOAD_TOKEN_LABEL: &[u8] = b"ferry/v1/download-token";
/// HKDF label of the key that seals a sender's own record of an interrupted upload
/// (client-local, never on the wire: see `crate::resume_record`).
const RESUME_RECORD_KEY_LABEL: &[u8] = b"ferry/v1/resume-record";
/// Domain-separation prefix of token verifiers.
const VERIFIER_LABEL: &[u8] = b"ferry/v1/token-verifier";

/// Length of the link secret in bytes.
pub const LINK_SECRET_LEN: usize = 16;
/// Length of download and owner tokens in bytes.
pub const TOKEN_LEN: usize = 32;

/// The 16 random bytes carried in the link's fragment.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkSecret([u8; LINK_SECRET_LEN]);

impl LinkSecret {
    /// A fresh random link secret.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; LINK_SECRET_LEN];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Kdf(e.to_string()))?;
        Ok(LinkSecret(bytes))
    }

    /// From raw bytes (test vectors).
    pub fn from_bytes(bytes: [u8; LINK_SECRET_LEN]) -> Self {
        LinkSecret(bytes)
    }

    /// Parses the base64url text of a link fragment (a leading `#` is accepted).
    pub fn from_fragment(text: &str) -> Result<Self, Error> {
        let text = text.strip_prefix('#').unwrap_or(text);
        let bytes = crate::b64::decode(text).map_err(|_| Error::LinkSecret)?;
        let bytes: [u8; LINK_SECRET_LEN] = bytes.try_into().map_err(|_| Error::LinkSecret)?;
        Ok(LinkSecret(bytes))
    }

    /// The base64url text for the link fragment (22 characters, without `#`).
    pub fn to_fragment(&self) -> String {
        crate::b64::encode(&self.0)
    }
}

/// The token that proves to the server that the caller knows passphrase and link.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DownloadToken([u8; TOKEN_LEN]);

impl DownloadToken {
    /// The raw bytes, to send to the server (base64url in the `start` message).
    pub fn as_bytes(&self) -> &[u8; TOKEN_LEN] {
        &self.0
    }

    /// The verifier the server stores instead of the token.
    pub fn verifier(&self) -> [u8; 32] {
        verifier(&self.0)
    }
}

/// `SHA-256("ferry/v1/token-verifier" || token)`: what the server stores for a download
/// or owner token. Tokens are 256-bit uniformly random values, so one hash suffices.
pub fn verifier(token: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(VERIFIER_LABEL);
    h.update(token);
    h.finalize().into()
}

/// Checks a presented token against a stored verifier in constant time.
pub fn verify_token(presented: &[u8], stored_verifier: &[u8]) -> bool {
    verifier(presented).ct_eq(stored_verifier).into()
}

/// A fresh random 32-byte token (the server's owner tokens).
pub fn random_token() -> Result<[u8; TOKEN_LEN], Error> {
    let mut t = [0u8; TOKEN_LEN];
    getrandom::getrandom(&mut t).map_err(|e| Error::Kdf(e.to_string()))?;
    Ok(t)
}

/// An AES-256 key used for exactly one purpose.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AeadKey([u8; 32]);

impl AeadKey {
    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }

    /// The raw key, for importing into WebCrypto (`crypto.subtle.importKey("raw", …)`)
    /// as a faster engine for the very same AES-GCM calls. Never send or store it.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// Takes back a key that [`expose_secret`](Self::expose_secret) gave out, in another
    /// thread of the same program (the web app hands the payload key to its own helper
    /// workers so they can seal chunks in parallel). Never build one from bytes that came
    /// over a network.
    pub fn from_secret(bytes: [u8; 32]) -> Self {
        AeadKey(bytes)
    }
}

/// The values the key schedule derives for one share.
pub struct Keys {
    /// Seals the payload chunks.
    pub payload: AeadKey,
    /// Seals the metadata block.
    pub metadata: AeadKey,
    /// Proves knowledge of passphrase and link to the server.
    pub download_token: DownloadToken,
    /// Seals what a browser keeps of an interrupted upload in its own storage (the upload
    /// and owner tokens, the file's name): client-local, never sent.
    pub resume_record: AeadKey,
}

impl Keys {
    /// Runs the key schedule. Costs one Argon2id evaluation at the header's parameters
    /// (validated when the header was parsed or generated).
    pub fn derive(
        header: &Header,
        passphrase: &str,
        link_secret: Option<&LinkSecret>,
    ) -> Result<Keys, Error> {
        let passphrase: Zeroizing<String> = Zeroizing::new(passphrase.nfc().collect());
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        match (header.passphrase_only, link_secret) {
            (false, None) | (true, Some(_)) => return Err(Error::LinkSecret),
            _ => {}
        }
        header.kdf.validate()?;
        let params = argon2::Params::new(
            header.kdf.m_cost,
            header.kdf.t_cost,
            header.kdf.p_cost,
            Some(32),
        )
        .map_err(|e| Error::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut ikm = Zeroizing::new([0u8; 32 + LINK_SECRET_LEN]);
        argon
            .hash_password_into(passphrase.as_bytes(), &header.salt, &mut ikm[..32])
            .map_err(|e| Error::Kdf(e.to_string()))?;
        let ikm_len = match link_secret {
            Some(secret) => {
                ikm[32..].copy_from_slice(&secret.0);
                32 + LINK_SECRET_LEN
            }
            None => 32,
        };
        let hkdf = Hkdf::<Sha256>::new(Some(&header.to_bytes()), &ikm[..ikm_len]);
        let expand = |label: &[u8]| {
            let mut out = [0u8; 32];
            // unwrap: 32 bytes is far below HKDF-SHA256's 8160-byte limit.
            hkdf.expand(label, &mut out).expect("32-byte HKDF output");
            out
        };
        Ok(Keys {
            payload: AeadKey(expand(PAYLOAD_KEY_LABEL)),
            metadata: AeadKey(expand(METADATA_KEY_LABEL)),
            download_token: DownloadToken(expand(DOWNLOAD_TOKEN_LABEL)),
            resume_record: AeadKey(expand(RESUME_RECORD_KEY_LABEL)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::KdfParams;

    fn header(passphrase_only: bool) -> Header {
        Header {
            passphrase_only,
            kdf: KdfParams::FLOOR,
            salt: [1; 16],
            chunk_size: 64,
        }
    }

    #[test]
    fn labels_give_independent_keys() {
        let keys = Keys::derive(&header(false), "pw", Some(&LinkSecret([2; 16]))).unwrap();
        assert_ne!(keys.payload.0, keys.metadata.0);
        assert_ne!(keys.payload.0, keys.download_token.0);
        for other in [&keys.payload.0, &keys.metadata.0, &keys.download_token.0] {
            assert_ne!(&keys.resume_record.0, other);
        }
    }

    /// The resume-record key is `HKDF-Expand(prk, "ferry/v1/resume-record", 32)`, the same
    /// schedule as the other keys (recomputed here from its definition).
    #[test]
    fn the_resume_record_key_follows_the_schedule() {
        let h = header(false);
        let keys = Keys::derive(&h, "pw", Some(&LinkSecret([2; 16]))).unwrap();
        let params =
            argon2::Params::new(h.kdf.m_cost, h.kdf.t_cost, h.kdf.p_cost, Some(32)).unwrap();
        let mut ikm = [0u8; 48];
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_into(b"pw", &h.salt, &mut ikm[..32])
            .unwrap();
        ikm[32..].copy_from_slice(&[2; 16]);
        let mut expected = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&h.to_bytes()), &ikm)
            .expand(b"ferry/v1/resume-record", &mut expected)
            .unwrap();
        assert_eq!(keys.resume_record.0, expected);
    }

    #[test]
    fn nfc_normalises_passphrase() {
        let secret = LinkSecret([2; 16]);
        let composed = Keys::derive(&header(false), "caf\u{e9}", Some(&secret)).unwrap();
        let decomposed = Keys::derive(&header(false), "cafe\u{301}", Some(&secret)).unwrap();
        assert_eq!(composed.payload.0, decomposed.payload.0);
    }

    #[test]
    fn link_secret_must_match_mode() {
        let secret = LinkSecret([2; 16]);
        assert!(matches!(
            Keys::derive(&header(false), "pw", None),
            Err(Error::LinkSecret)
        ));
        assert!(matches!(
            Keys::derive(&header(true), "pw", Some(&secret)),
            Err(Error::LinkSecret)
        ));
        assert!(matches!(
            Keys::derive(&header(false), "", Some(&secret)),
            Err(Error::EmptyPassphrase)
        ));
    }

    /// A header built in memory (not parsed) below the floor is refused too, before
    /// Argon2id runs: the key schedule is the last gate.
    #[test]
    fn derivation_refuses_kdf_costs_below_the_floor() {
        let mut weak = header(true);
        weak.kdf = KdfParams {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
        };
        assert!(matches!(
            Keys::derive(&weak, "pw", None),
            Err(Error::WeakKdf("memory"))
        ));
        weak.kdf = KdfParams {
            t_cost: 1,
            ..KdfParams::FLOOR
        };
        assert!(matches!(
            Keys::derive(&weak, "pw", None),
            Err(Error::WeakKdf("iterations"))
        ));
    }

    #[test]
    fn tokens_verify_in_constant_time() {
        let keys = Keys::derive(&header(true), "pw", None).unwrap();
        let v = keys.download_token.verifier();
        assert!(verify_token(keys.download_token.as_bytes(), &v));
        assert!(!verify_token(&[0; 32], &v));
        assert!(!verify_token(keys.download_token.as_bytes(), &v[..31]));
    }

    #[test]
    fn fragment_round_trip() {
        let s = LinkSecret::generate().unwrap();
        let text = s.to_fragment();
        assert_eq!(text.len(), 22);
        assert_eq!(
            LinkSecret::from_fragment(&format!("#{text}")).unwrap().0,
            s.0
        );
        assert!(LinkSecret::from_fragment("abc").is_err());
    }
}
