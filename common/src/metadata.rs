//! The sealed metadata block: one file's name, size and media type, or the manifest of
//! several files and folders ([`crate::manifest`]), hidden from the server.
//!
//! ```text
//! block     = u32be(len(json)) || json || zero bytes, padded to a multiple of 256 bytes
//! sealed    = AES-256-GCM(metadata key, nonce = 12 zero bytes, block, aad = header bytes)
//! ```
//! The metadata key seals exactly one message per share (it is derived from a fresh salt),
//! so the fixed nonce never repeats under a key. The padding hides the name's length to
//! within 256 bytes.
//!
//! A single file's JSON is `{"name", "size", "type"}` (format 1); a manifest's is
//! `{"v": 2, "size", "files": [{"path", "size", "mtime"}], "dirs": [...]}`. A format-1
//! reader finds no `name` in a manifest and refuses it rather than misreading it.
use aes_gcm::{
    Nonce as GcmNonce,
    aead::{Aead, Payload},
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{
    Error,
    header::Header,
    keys::AeadKey,
    manifest::{self, Manifest, ManifestFile},
};

/// Block sizes are multiples of this many bytes.
pub const PADDING_BLOCK: usize = 256;
/// Longest file name stored, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Largest sealed metadata a reader accepts (bounds memory on hostile input). Large
/// enough for a manifest of [`manifest::MAX_ENTRIES`] entries with paths of typical
/// length, small enough that a `start` message carrying it in base64 fits one frame.
pub const MAX_SEALED_LEN: usize = 2 * 1024 * 1024;
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

/// What a share's sealed metadata describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metadata {
    /// One file (format 1).
    File(FileMetadata),
    /// Several files and folders (format 2).
    Files(Manifest),
}

/// Every member either format may have; which are present says which format it is.
#[derive(Serialize, Deserialize)]
struct Json {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    size: u64,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files: Option<Vec<ManifestFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dirs: Option<Vec<String>>,
}

impl Metadata {
    /// Plaintext size of the whole payload.
    pub fn size(&self) -> u64 {
        match self {
            Metadata::File(file) => file.size,
            Metadata::Files(manifest) => manifest.total_size(),
        }
    }

    /// Seals the metadata for a share.
    pub fn seal(&self, key: &AeadKey, header: &Header) -> Result<Vec<u8>, Error> {
        let json = match self {
            Metadata::File(file) => file.json()?,
            Metadata::Files(manifest) => {
                manifest.check().map_err(Error::Manifest)?;
                Json {
                    v: Some(manifest::VERSION),
                    name: None,
                    size: manifest.total_size(),
                    media_type: None,
                    files: Some(manifest.files.clone()),
                    dirs: Some(manifest.dirs.clone()),
                }
            }
        };
        // unwrap: serialising a struct of strings and integers cannot fail.
        let json = Zeroizing::new(serde_json::to_vec(&json).expect("metadata serialises"));
        seal_block(&json, key, header)
    }

    /// Opens sealed metadata. A failure means the passphrase or link is wrong, or the
    /// share was altered; either way the person should re-check what they typed. A
    /// manifest is checked ([`Manifest::check`]) before it is returned.
    pub fn open(sealed: &[u8], key: &AeadKey, header: &Header) -> Result<Metadata, Error> {
        let block = open_block(sealed, key, header)?;
        let json: Json = serde_json::from_slice(&block).map_err(|_| Error::Corrupted)?;
        match (json.v, json.name, json.files) {
            (None, Some(name), _) if name.len() <= MAX_NAME_LEN => {
                Ok(Metadata::File(FileMetadata {
                    name,
                    size: json.size,
                    media_type: json.media_type.unwrap_or_default(),
                }))
            }
            (Some(manifest::VERSION), _, Some(files)) => {
                let manifest = Manifest {
                    files,
                    dirs: json.dirs.unwrap_or_default(),
                };
                manifest.check().map_err(Error::Manifest)?;
                if manifest.total_size() != json.size {
                    return Err(Error::Manifest(manifest::ManifestError::SizeMismatch));
                }
                Ok(Metadata::Files(manifest))
            }
            (Some(v), _, _) if v > manifest::VERSION => Err(Error::UnsupportedMetadata(v)),
            _ => Err(Error::Corrupted),
        }
    }
}

impl FileMetadata {
    /// Seals the metadata of a single-file share.
    pub fn seal(&self, key: &AeadKey, header: &Header) -> Result<Vec<u8>, Error> {
        Metadata::File(self.clone()).seal(key, header)
    }

    /// Opens the sealed metadata of a single-file share; a manifest is refused as
    /// [`Error::Corrupted`] (use [`Metadata::open`] to accept both).
    pub fn open(sealed: &[u8], key: &AeadKey, header: &Header) -> Result<FileMetadata, Error> {
        match Metadata::open(sealed, key, header)? {
            Metadata::File(file) => Ok(file),
            Metadata::Files(_) => Err(Error::Corrupted),
        }
    }

    fn json(&self) -> Result<Json, Error> {
        if self.name.len() > MAX_NAME_LEN {
            return Err(Error::NameTooLong { max: MAX_NAME_LEN });
        }
        // A media type is a hint; an absurd one is dropped rather than failing the upload.
        let media_type = if self.media_type.len() > MAX_TYPE_LEN {
            String::new()
        } else {
            self.media_type.clone()
        };
        Ok(Json {
            v: None,
            name: Some(self.name.clone()),
            size: self.size,
            media_type: Some(media_type),
            files: None,
            dirs: None,
        })
    }
}

/// `u32be(len(json)) || json || zero padding`, sealed under the metadata key.
fn seal_block(json: &[u8], key: &AeadKey, header: &Header) -> Result<Vec<u8>, Error> {
    let len = 4 + json.len();
    let mut block = Zeroizing::new(vec![0u8; len.div_ceil(PADDING_BLOCK) * PADDING_BLOCK]);
    block[..4].copy_from_slice(&(json.len() as u32).to_be_bytes());
    block[4..len].copy_from_slice(json);
    if block.len() + crate::TAG_LEN > MAX_SEALED_LEN {
        return Err(Error::MetadataTooLarge {
            max: MAX_SEALED_LEN,
        });
    }
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

/// Opens a sealed block and returns its JSON, checking the length and the padding.
fn open_block(sealed: &[u8], key: &AeadKey, header: &Header) -> Result<Zeroizing<Vec<u8>>, Error> {
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
    Ok(Zeroizing::new(json.to_vec()))
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

    fn manifest(paths: &[&str]) -> Manifest {
        Manifest {
            files: paths
                .iter()
                .map(|p| ManifestFile {
                    path: (*p).into(),
                    size: 3,
                    mtime: Some(1_700_000_000_000),
                })
                .collect(),
            dirs: vec!["empty".into()],
        }
    }

    /// Seals arbitrary JSON as a writer that skips the checks would.
    fn seal_raw(json: &str, keys: &Keys, header: &Header) -> Vec<u8> {
        seal_block(json.as_bytes(), &keys.metadata, header).unwrap()
    }

    #[test]
    fn manifests_round_trip() {
        let (keys, header) = setup();
        let meta = Metadata::Files(manifest(&["a/b.txt", "\u{e9}t\u{e9}.png"]));
        let sealed = meta.seal(&keys.metadata, &header).unwrap();
        assert_eq!(sealed.len() % PADDING_BLOCK, 16);
        let opened = Metadata::open(&sealed, &keys.metadata, &header).unwrap();
        assert_eq!(opened, meta);
        assert_eq!(opened.size(), 6);
        // A format-1 reader refuses it rather than taking it for one file.
        assert_eq!(
            FileMetadata::open(&sealed, &keys.metadata, &header),
            Err(Error::Corrupted)
        );
    }

    #[test]
    fn hostile_manifests_are_refused() {
        let (keys, header) = setup();
        for (json, want) in [
            (
                r#"{"v":2,"size":1,"files":[{"path":"../x","size":1}]}"#,
                "not a plain relative path",
            ),
            (
                r#"{"v":2,"size":2,"files":[{"path":"x","size":1}]}"#,
                "do not add up",
            ),
            (r#"{"v":2,"size":0,"files":[]}"#, "nothing"),
            (r#"{"v":3,"size":0,"files":[]}"#, "format 3"),
            (r#"{"v":2,"size":0}"#, "modified"),
            (r#"{"v":1,"name":"x","size":0}"#, "modified"),
        ] {
            let err = Metadata::open(&seal_raw(json, &keys, &header), &keys.metadata, &header)
                .unwrap_err();
            assert!(err.to_string().contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn oversized_manifests_are_refused_when_sealing() {
        let (keys, header) = setup();
        // 10,000 paths of 250 bytes: within every per-path limit, 2.5 MB in all.
        let paths: Vec<String> = (0..manifest::MAX_ENTRIES)
            .map(|i| format!("{}/{i:05}", "d".repeat(244)))
            .collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let err = Metadata::Files(manifest(&refs[..manifest::MAX_ENTRIES - 1]))
            .seal(&keys.metadata, &header)
            .unwrap_err();
        assert_eq!(
            err,
            Error::MetadataTooLarge {
                max: MAX_SEALED_LEN
            }
        );
    }
}
