use thiserror::Error;

/// Everything that can go wrong when building or opening a share.
///
/// Cryptographic failures are deliberately opaque: they say what a person can do about
/// them, not which byte failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The passphrase is empty (after Unicode normalisation).
    #[error("the passphrase must not be empty")]
    EmptyPassphrase,
    /// The header does not start with Ferry's magic bytes or is the wrong length.
    #[error("this is not a Ferry share header")]
    NotAHeader,
    /// The header names a format version this build does not know.
    #[error(
        "this share uses format version {0}, which this version of Ferry cannot read; please update"
    )]
    UnsupportedVersion(u8),
    /// The header sets flags this build does not know.
    #[error(
        "this share uses features this version of Ferry does not know (flags {0:#04x}); please update"
    )]
    UnknownFlags(u8),
    /// The header names a key-derivation function this build does not know.
    #[error("this share uses an unknown key-derivation function ({0})")]
    UnknownKdf(u8),
    /// The header asks for more key-derivation work or memory than Ferry allows, which a
    /// hostile server could use to exhaust a recipient's memory.
    #[error("this share asks for excessive key-derivation work ({0}); refusing")]
    ExcessiveWork(&'static str),
    /// The header asks for less key-derivation work than Ferry's floor (`docs/FORMAT.md`
    /// §2). No Ferry client writes such a header, and it would make the download token
    /// cheap to brute-force, so it was crafted by a hostile server, link or network.
    #[error(
        "this share asks for too little key-derivation work ({0} below Ferry's minimum), which would make its passphrase cheap to guess; refusing"
    )]
    WeakKdf(&'static str),
    /// The header's KDF parameters are below what Argon2id accepts.
    #[error("this share's key-derivation parameters are invalid")]
    InvalidKdfParams,
    /// The header's chunk size is zero or above the maximum.
    #[error("this share's chunk size is invalid")]
    InvalidChunkSize,
    /// A link secret was needed but missing, or given for a passphrase-only share.
    #[error("the link is incomplete: the part after '#' is missing or damaged")]
    LinkSecret,
    /// The download token or the metadata did not verify: the passphrase or link is wrong.
    #[error("wrong passphrase or link")]
    WrongPassphrase,
    /// A payload chunk failed to verify, or chunks are missing, reordered or duplicated.
    #[error("the file was modified or truncated in storage")]
    Corrupted,
    /// The stream ended before its final chunk.
    #[error("the file was modified or truncated in storage (it ended early)")]
    Truncated,
    /// More data followed the final chunk.
    #[error("the file was modified in storage (data after its end)")]
    TrailingData,
    /// A caller passed a chunk of the wrong size to the encryptor, or used it after the end.
    #[error("internal error: chunk {0}")]
    Misuse(&'static str),
    /// The file name is too long to store in the metadata block.
    #[error("the file name is too long (at most {max} bytes)")]
    NameTooLong {
        /// The maximum name length in UTF-8 bytes.
        max: usize,
    },
    /// The metadata names a format this build does not know.
    #[error(
        "this share's file list uses format {0}, which this version of Ferry cannot read; please update"
    )]
    UnsupportedMetadata(u32),
    /// The files' manifest is outside the limits, or (when opening) has a path that can
    /// only come from a hostile or broken sender.
    #[error("{0}")]
    Manifest(crate::manifest::ManifestError),
    /// The sealed metadata would exceed what readers accept.
    #[error("the list of files is too large to send (at most {max} bytes sealed)")]
    MetadataTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// A base64url field is malformed.
    #[error("malformed base64url data")]
    Base64,
    /// Key derivation failed inside Argon2 (it rejects the parameters or runs out of memory).
    #[error("key derivation failed: {0}")]
    Kdf(String),
}
