//! The public share header: what anyone holding the share ID may read.
//!
//! It holds only what a recipient needs to derive keys (KDF parameters and salt) and to
//! cut the payload into chunks. Its 40 bytes are the HKDF salt of the key schedule and
//! the associated data of every AEAD call, so a server that alters any field makes the
//! download token and every chunk fail to verify instead of changing behaviour.
//!
//! Layout (all integers big-endian), see `docs/FORMAT.md`:
//! ```text
//! 0..5   magic "ferry"        5      version (1)        6   flags
//! 7      kdf (1 = Argon2id)   8..12  m_cost (KiB)       12..16 t_cost
//! 16..20 p_cost               20..36 salt (16 bytes)    36..40 chunk_size
//! ```
use crate::Error;

/// The five magic bytes every header starts with.
pub const MAGIC: &[u8; 5] = b"ferry";
/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Encoded header length in bytes.
pub const HEADER_LEN: usize = 40;
/// Flag bit: the share has no link secret (passphrase only); see `docs/FORMAT.md`.
pub const FLAG_PASSPHRASE_ONLY: u8 = 0x01;
/// KDF identifier for Argon2id version 0x13 (RFC 9106).
pub const KDF_ARGON2ID: u8 = 1;
/// Largest chunk size a header may declare (16 MiB of plaintext).
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Salt length for Argon2id.
pub const SALT_LEN: usize = 16;

/// Argon2id cost parameters, stored in the header so they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes (parallelism).
    pub p_cost: u32,
}

impl KdfParams {
    /// The default: 64 MiB, 3 iterations, 1 lane (about 0.3 s in Chromium's wasm here).
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
    /// Most memory a header may ask for: 256 MiB. A header is attacker-chosen (the server
    /// serves it), so this bounds what a hostile one can make a browser allocate.
    pub const MAX_M_COST: u32 = 256 * 1024;
    /// Most iterations a header may ask for.
    pub const MAX_T_COST: u32 = 16;
    /// Most lanes a header may ask for.
    pub const MAX_P_COST: u32 = 4;
    /// Least memory a header may ask for: 19 MiB, OWASP's minimum for Argon2id (Password
    /// Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1). A header is attacker-chosen, and a
    /// cheap one would make the download token (which the server, or anyone who sees
    /// the link and the ciphertext's header, can check guesses against) cheap to brute-force.
    pub const MIN_M_COST: u32 = 19 * 1024;
    /// Fewest iterations a header may ask for (OWASP's minimum with 19 MiB).
    pub const MIN_T_COST: u32 = 2;
    /// The floor itself: the cheapest parameters any reader accepts. Tests use it to run
    /// the real key schedule as fast as a header may legitimately ask for.
    pub const FLOOR: KdfParams = KdfParams {
        m_cost: Self::MIN_M_COST,
        t_cost: Self::MIN_T_COST,
        p_cost: 1,
    };

    /// Checks the parameters against Ferry's caps, Argon2's own minimums and Ferry's
    /// floor (`docs/FORMAT.md` §2).
    pub fn validate(&self) -> Result<(), Error> {
        if self.m_cost > Self::MAX_M_COST {
            return Err(Error::ExcessiveWork("memory"));
        }
        if self.t_cost > Self::MAX_T_COST {
            return Err(Error::ExcessiveWork("iterations"));
        }
        if self.p_cost > Self::MAX_P_COST {
            return Err(Error::ExcessiveWork("lanes"));
        }
        if self.t_cost < 1 || self.p_cost < 1 || self.m_cost < 8 * self.p_cost {
            return Err(Error::InvalidKdfParams);
        }
        if self.m_cost < Self::MIN_M_COST {
            return Err(Error::WeakKdf("memory"));
        }
        if self.t_cost < Self::MIN_T_COST {
            return Err(Error::WeakKdf("iterations"));
        }
        Ok(())
    }
}

// Shares made with the default must keep opening whatever the floor: keep it well below.
const _: () = assert!(
    KdfParams::DEFAULT.m_cost >= 3 * KdfParams::MIN_M_COST
        && KdfParams::DEFAULT.t_cost > KdfParams::MIN_T_COST
);

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The decoded public header of a share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// True when the share has no link secret and keys come from the passphrase alone.
    pub passphrase_only: bool,
    /// Argon2id parameters.
    pub kdf: KdfParams,
    /// Random Argon2id salt.
    pub salt: [u8; SALT_LEN],
    /// Plaintext bytes per chunk; every chunk but the last holds exactly this many.
    pub chunk_size: u32,
}

impl Header {
    /// A fresh header with a random salt.
    pub fn generate(kdf: KdfParams, chunk_size: u32, passphrase_only: bool) -> Result<Self, Error> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::getrandom(&mut salt).map_err(|e| Error::Kdf(e.to_string()))?;
        let header = Header {
            passphrase_only,
            kdf,
            salt,
            chunk_size,
        };
        header.validate()?;
        Ok(header)
    }

    fn validate(&self) -> Result<(), Error> {
        self.kdf.validate()?;
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return Err(Error::InvalidChunkSize);
        }
        Ok(())
    }

    /// The 40-byte encoding.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..5].copy_from_slice(MAGIC);
        out[5] = FORMAT_VERSION;
        out[6] = if self.passphrase_only {
            FLAG_PASSPHRASE_ONLY
        } else {
            0
        };
        out[7] = KDF_ARGON2ID;
        out[8..12].copy_from_slice(&self.kdf.m_cost.to_be_bytes());
        out[12..16].copy_from_slice(&self.kdf.t_cost.to_be_bytes());
        out[16..20].copy_from_slice(&self.kdf.p_cost.to_be_bytes());
        out[20..36].copy_from_slice(&self.salt);
        out[36..40].copy_from_slice(&self.chunk_size.to_be_bytes());
        out
    }

    /// Parses and validates an encoded header. Untrusted input: every field is checked,
    /// including the caps on KDF work, before anything else uses it.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let bytes: &[u8; HEADER_LEN] = bytes.try_into().map_err(|_| Error::NotAHeader)?;
        if &bytes[0..5] != MAGIC {
            return Err(Error::NotAHeader);
        }
        if bytes[5] != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(bytes[5]));
        }
        let flags = bytes[6];
        if flags & !FLAG_PASSPHRASE_ONLY != 0 {
            return Err(Error::UnknownFlags(flags));
        }
        if bytes[7] != KDF_ARGON2ID {
            return Err(Error::UnknownKdf(bytes[7]));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&bytes[20..36]);
        let header = Header {
            passphrase_only: flags & FLAG_PASSPHRASE_ONLY != 0,
            kdf: KdfParams {
                m_cost: u32_at(8),
                t_cost: u32_at(12),
                p_cost: u32_at(16),
            },
            salt,
            chunk_size: u32_at(36),
        };
        header.validate()?;
        Ok(header)
    }

    /// Number of sealed chunks for a plaintext of `plaintext_len` bytes: at least one, since
    /// even an empty file ends with a (empty) final chunk.
    pub fn chunk_count(&self, plaintext_len: u64) -> u64 {
        plaintext_len.div_ceil(u64::from(self.chunk_size)).max(1)
    }

    /// Total ciphertext bytes for a plaintext of `plaintext_len` bytes.
    pub fn ciphertext_len(&self, plaintext_len: u64) -> u64 {
        plaintext_len + self.chunk_count(plaintext_len) * crate::TAG_LEN as u64
    }

    /// The plaintext length that a ciphertext of `ciphertext_len` bytes decrypts to, or
    /// `None` if no valid stream has that length under this header.
    pub fn plaintext_len(&self, ciphertext_len: u64) -> Option<u64> {
        let sealed = u64::from(self.chunk_size) + crate::TAG_LEN as u64;
        let tag = crate::TAG_LEN as u64;
        if ciphertext_len < tag {
            return None;
        }
        let full = ciphertext_len / sealed;
        let rest = ciphertext_len % sealed;
        let len = match (full, rest) {
            (0, r) => r - tag,
            (f, 0) => f * u64::from(self.chunk_size),
            (f, r) if r > tag => f * u64::from(self.chunk_size) + (r - tag),
            _ => return None,
        };
        (self.ciphertext_len(len) == ciphertext_len).then_some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            passphrase_only: false,
            kdf: KdfParams::DEFAULT,
            salt: [7; 16],
            chunk_size: 1024,
        }
    }

    #[test]
    fn round_trip() {
        let h = sample();
        assert_eq!(Header::parse(&h.to_bytes()).unwrap(), h);
    }

    #[test]
    fn rejects_hostile_fields() {
        let good = sample().to_bytes();
        let mutate = |i: usize, v: u8| {
            let mut b = good;
            b[i] = v;
            Header::parse(&b)
        };
        assert_eq!(mutate(0, b'F'), Err(Error::NotAHeader));
        assert_eq!(mutate(5, 2), Err(Error::UnsupportedVersion(2)));
        assert_eq!(mutate(6, 0x80), Err(Error::UnknownFlags(0x80)));
        assert_eq!(mutate(7, 2), Err(Error::UnknownKdf(2)));
        assert_eq!(mutate(8, 0x10), Err(Error::ExcessiveWork("memory")));
        assert_eq!(mutate(15, 17), Err(Error::ExcessiveWork("iterations")));
        assert_eq!(mutate(15, 0), Err(Error::InvalidKdfParams));
        assert_eq!(mutate(19, 5), Err(Error::ExcessiveWork("lanes")));
        let mut zero_chunk = good;
        zero_chunk[36..40].copy_from_slice(&[0; 4]);
        assert_eq!(Header::parse(&zero_chunk), Err(Error::InvalidChunkSize));
        assert_eq!(Header::parse(&good[..39]), Err(Error::NotAHeader));
    }

    /// The header from issue 12 (Argon2id m = 8 KiB, t = 1: 0.03 ms per guess) and each
    /// field one step below the floor are refused; the floor itself is accepted.
    #[test]
    fn refuses_kdf_costs_below_the_floor() {
        let with = |m_cost: u32, t_cost: u32| {
            let mut h = sample();
            h.kdf = KdfParams {
                m_cost,
                t_cost,
                p_cost: 1,
            };
            Header::parse(&h.to_bytes())
        };
        assert_eq!(with(8, 1), Err(Error::WeakKdf("memory")));
        assert_eq!(with(19 * 1024 - 1, 2), Err(Error::WeakKdf("memory")));
        assert_eq!(with(19 * 1024, 1), Err(Error::WeakKdf("iterations")));
        assert_eq!(with(64 * 1024, 1), Err(Error::WeakKdf("iterations")));
        assert!(with(19 * 1024, 2).is_ok());
        assert_eq!(KdfParams::FLOOR.validate(), Ok(()));
        let mut weak = sample();
        weak.kdf.m_cost = 8;
        assert_eq!(
            Header::generate(weak.kdf, 1024, false),
            Err(Error::WeakKdf("memory"))
        );
    }

    #[test]
    fn lengths() {
        let h = sample();
        for len in [0u64, 1, 1023, 1024, 1025, 4096, 5000] {
            let ct = h.ciphertext_len(len);
            assert_eq!(h.plaintext_len(ct), Some(len), "len {len}");
        }
        assert_eq!(h.ciphertext_len(0), 16);
        assert_eq!(h.ciphertext_len(1024), 1040);
        assert_eq!(h.ciphertext_len(1025), 1040 + 17);
        assert_eq!(h.plaintext_len(15), None);
        assert_eq!(h.plaintext_len(1040 + 16), None);
        assert_eq!(h.plaintext_len(1040 + 10), None);
    }
}
