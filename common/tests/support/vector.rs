//! The vector file format and the one function that computes a vector from its inputs.
//!
//! The intermediate values of docs/FORMAT.md §3-§5 (normalised passphrase, Argon2id output,
//! HKDF PRK, keys, metadata block, nonces) are computed here step by step with the
//! primitives themselves, and checked against what `ferry-common` derives and seals, so a
//! vector file shows every value an independent implementation needs to debug against.
use aes_gcm::{Aes256Gcm, KeyInit, aead::Aead, aead::Payload};
use ferry_common::{
    FileMetadata, Header, KdfParams, Keys, LinkSecret, Manifest, Metadata, StreamDecryptor,
    StreamEncryptor, manifest::ManifestFile,
};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;

/// Inputs (everything random in real use is fixed here) and expected outputs, all hex.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Vector {
    pub description: String,
    pub passphrase: String,
    /// 16 bytes hex, or null for a passphrase-only share.
    pub link_secret: Option<String>,
    pub salt: String,
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub chunk_size: u32,
    pub file_name: String,
    pub media_type: String,
    /// For a share of several files (§4.1): the files, whose contents are the plaintext
    /// in this order, and the empty folders. `file_name` and `media_type` are then unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<VectorManifest>,
    pub plaintext: String,
    pub expected_header: String,
    /// `UTF-8(NFC(passphrase))`, the Argon2id password (§3 step 1).
    pub expected_passphrase_bytes: String,
    /// Argon2id output `A` (§3 step 2).
    pub expected_argon2: String,
    /// `IKM = A || link secret` (`A` alone for a passphrase-only share) (§3 step 3).
    pub expected_ikm: String,
    /// `PRK = HKDF-Extract(salt = header, IKM)` (§3 step 4).
    pub expected_prk: String,
    /// HKDF-Expand(PRK, `ferry/v1/payload`).
    pub expected_payload_key: String,
    /// HKDF-Expand(PRK, `ferry/v1/metadata`).
    pub expected_metadata_key: String,
    pub expected_download_token: String,
    pub expected_verifier: String,
    /// The metadata JSON as the reference writes it (§4).
    pub expected_metadata_json: String,
    /// The metadata block before sealing: `u32be(len(json)) || json || zero padding`.
    pub expected_metadata_block: String,
    pub expected_metadata: String,
    /// The nonce of each chunk, in order (§5).
    pub expected_nonces: Vec<String>,
    /// All sealed chunks concatenated, as stored on the server.
    pub expected_ciphertext: String,
}

/// The manifest of a several-file vector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VectorManifest {
    pub files: Vec<ManifestFile>,
    pub dirs: Vec<String>,
}

impl Vector {
    pub fn inputs(&self) -> Vector {
        Vector {
            description: self.description.clone(),
            passphrase: self.passphrase.clone(),
            link_secret: self.link_secret.clone(),
            salt: self.salt.clone(),
            file_name: self.file_name.clone(),
            media_type: self.media_type.clone(),
            manifest: self.manifest.clone(),
            plaintext: self.plaintext.clone(),
            ..inputs(self.m_cost, self.t_cost, self.p_cost, self.chunk_size)
        }
    }

    fn header(&self) -> Header {
        Header {
            passphrase_only: self.link_secret.is_none(),
            kdf: KdfParams {
                m_cost: self.m_cost,
                t_cost: self.t_cost,
                p_cost: self.p_cost,
            },
            salt: hex::decode(&self.salt).unwrap().try_into().unwrap(),
            chunk_size: self.chunk_size,
        }
    }

    fn keys(&self, header: &Header) -> Keys {
        let secret = self
            .link_secret
            .as_ref()
            .map(|s| LinkSecret::from_bytes(hex::decode(s).unwrap().try_into().unwrap()));
        Keys::derive(header, &self.passphrase, secret.as_ref()).unwrap()
    }
}

/// A vector with empty inputs and outputs but these parameters.
fn inputs(m_cost: u32, t_cost: u32, p_cost: u32, chunk_size: u32) -> Vector {
    Vector {
        description: String::new(),
        passphrase: String::new(),
        link_secret: None,
        salt: String::new(),
        m_cost,
        t_cost,
        p_cost,
        chunk_size,
        file_name: String::new(),
        media_type: String::new(),
        manifest: None,
        plaintext: String::new(),
        expected_header: String::new(),
        expected_passphrase_bytes: String::new(),
        expected_argon2: String::new(),
        expected_ikm: String::new(),
        expected_prk: String::new(),
        expected_payload_key: String::new(),
        expected_metadata_key: String::new(),
        expected_download_token: String::new(),
        expected_verifier: String::new(),
        expected_metadata_json: String::new(),
        expected_metadata_block: String::new(),
        expected_metadata: String::new(),
        expected_nonces: Vec::new(),
        expected_ciphertext: String::new(),
    }
}

/// The key schedule of docs/FORMAT.md §3, one value per step.
struct Schedule {
    passphrase: Vec<u8>,
    argon2: [u8; 32],
    ikm: Vec<u8>,
    prk: Vec<u8>,
    payload_key: [u8; 32],
    metadata_key: [u8; 32],
    token: [u8; 32],
}

/// Runs the key schedule one step at a time with the primitives themselves.
fn key_schedule(v: &Vector, header: &Header) -> Schedule {
    let p: String = v.passphrase.nfc().collect();
    let params = argon2::Params::new(v.m_cost, v.t_cost, v.p_cost, Some(32)).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut a = [0u8; 32];
    argon
        .hash_password_into(p.as_bytes(), &header.salt, &mut a)
        .unwrap();
    let mut ikm = a.to_vec();
    if let Some(secret) = &v.link_secret {
        ikm.extend(hex::decode(secret).unwrap());
    }
    let (prk, hkdf) = Hkdf::<Sha256>::extract(Some(&header.to_bytes()), &ikm);
    let expand = |label: &[u8]| {
        let mut out = [0u8; 32];
        hkdf.expand(label, &mut out).unwrap();
        out
    };
    Schedule {
        passphrase: p.into_bytes(),
        argon2: a,
        ikm,
        prk: prk.to_vec(),
        payload_key: expand(b"ferry/v1/payload"),
        metadata_key: expand(b"ferry/v1/metadata"),
        token: expand(b"ferry/v1/download-token"),
    }
}

/// The chunk nonce of §5: the index as 11 bytes big-endian, then the last flag.
fn nonce(i: usize, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..11].copy_from_slice(&(i as u128).to_be_bytes()[5..]);
    n[11] = u8::from(last);
    n
}

/// Opens sealed metadata with the raw AEAD (no checks on the block), for showing and
/// for the refusal cases.
fn open_block(sealed: &[u8], key: &[u8; 32], header: &Header) -> Vec<u8> {
    Aes256Gcm::new(key.into())
        .decrypt(
            &[0u8; 12].into(),
            Payload {
                msg: sealed,
                aad: &header.to_bytes(),
            },
        )
        .unwrap()
}

/// Seals a metadata block with the raw AEAD, whatever it holds.
fn seal_block(block: &[u8], key: &[u8; 32], header: &Header) -> Vec<u8> {
    Aes256Gcm::new(key.into())
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: block,
                aad: &header.to_bytes(),
            },
        )
        .unwrap()
}

/// Fills in the expected fields from the inputs.
pub fn compute(mut v: Vector) -> Vector {
    let header = v.header();
    let keys = v.keys(&header);
    let steps = key_schedule(&v, &header);
    assert_eq!(
        &steps.payload_key,
        keys.payload.expose_secret(),
        "payload key"
    );
    assert_eq!(
        &steps.metadata_key,
        keys.metadata.expose_secret(),
        "metadata key"
    );
    assert_eq!(
        &steps.token,
        keys.download_token.as_bytes(),
        "download token"
    );
    let plaintext = hex::decode(&v.plaintext).unwrap();
    let meta = metadata(&v, plaintext.len() as u64);
    let mut enc = StreamEncryptor::new(&keys.payload, &header);
    let mut ciphertext = Vec::new();
    let cs = header.chunk_size as usize;
    let n = plaintext.len().div_ceil(cs).max(1);
    for i in 0..n {
        let chunk = &plaintext[(i * cs).min(plaintext.len())..((i + 1) * cs).min(plaintext.len())];
        ciphertext.extend(enc.seal_chunk(chunk, i + 1 == n).unwrap());
    }
    let sealed_meta = meta.seal(&keys.metadata, &header).unwrap();
    let block = open_block(&sealed_meta, &steps.metadata_key, &header);
    let json_len = u32::from_be_bytes(block[..4].try_into().unwrap()) as usize;
    v.expected_header = hex::encode(header.to_bytes());
    v.expected_passphrase_bytes = hex::encode(steps.passphrase);
    v.expected_argon2 = hex::encode(steps.argon2);
    v.expected_ikm = hex::encode(steps.ikm);
    v.expected_prk = hex::encode(steps.prk);
    v.expected_payload_key = hex::encode(steps.payload_key);
    v.expected_metadata_key = hex::encode(steps.metadata_key);
    v.expected_download_token = hex::encode(keys.download_token.as_bytes());
    v.expected_verifier = hex::encode(keys.download_token.verifier());
    v.expected_metadata_json = String::from_utf8(block[4..4 + json_len].to_vec()).unwrap();
    v.expected_metadata_block = hex::encode(&block);
    v.expected_metadata = hex::encode(sealed_meta);
    v.expected_nonces = (0..n).map(|i| hex::encode(nonce(i, i + 1 == n))).collect();
    v.expected_ciphertext = hex::encode(ciphertext);
    v
}

/// The vector's metadata: its manifest, or its one file.
fn metadata(v: &Vector, size: u64) -> Metadata {
    match &v.manifest {
        Some(m) => {
            let manifest = Manifest {
                files: m.files.clone(),
                dirs: m.dirs.clone(),
            };
            assert_eq!(
                manifest.total_size(),
                size,
                "the files make up the plaintext"
            );
            Metadata::Files(manifest)
        }
        None => Metadata::File(FileMetadata {
            name: v.file_name.clone(),
            size,
            media_type: v.media_type.clone(),
        }),
    }
}

/// Sealed metadata a reader must refuse although its tag verifies (docs/FORMAT.md §4):
/// the share's inputs, and for each case the block and its sealing.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct RefusedMetadata {
    pub description: String,
    /// The share whose metadata key seals the cases (its expected fields left empty).
    pub share: Vector,
    pub refused: Vec<RefusedBlock>,
}

/// One block a reader must refuse.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct RefusedBlock {
    pub description: String,
    /// The block before sealing.
    pub block: String,
    pub sealed: String,
}

impl RefusedMetadata {
    /// The share's header and metadata key.
    pub fn key(&self) -> (Header, Keys) {
        let header = self.share.header();
        let keys = self.share.keys(&header);
        (header, keys)
    }
}

/// The refusal cases, sealed under the `one-byte-over` share's metadata key.
#[allow(dead_code)] // used by the native writer only
pub fn refused_metadata() -> RefusedMetadata {
    let share = cases()
        .into_iter()
        .find(|(name, _)| *name == "one-byte-over")
        .unwrap()
        .1
        .inputs();
    let header = share.header();
    let keys = share.keys(&header);
    let json = br#"{"name":"notes.txt","size":65,"type":"text/plain"}"#;
    let block = |len: usize, json_len: u32| {
        let mut b = json_len.to_be_bytes().to_vec();
        b.extend_from_slice(json);
        b.resize(len.max(b.len()), 0);
        b.truncate(len);
        b
    };
    let aligned = block(256, json.len() as u32);
    let mut dirty = aligned.clone();
    dirty[255] = 1;
    let cases = [
        (
            "a block of 260 bytes: not a multiple of 256 (padding past the boundary)",
            block(260, json.len() as u32),
        ),
        (
            "a block of the length and JSON only, not padded to a multiple of 256",
            block(4 + json.len(), json.len() as u32),
        ),
        ("an empty block", Vec::new()),
        ("a padding byte that is not zero", dirty),
        ("a length field beyond the block", block(256, 253)),
    ];
    RefusedMetadata {
        description: "sealed metadata whose tag verifies but whose block a reader must refuse \
                      (docs/FORMAT.md section 4); each is sealed with the metadata key of the \
                      share described"
            .into(),
        refused: cases
            .into_iter()
            .map(|(description, block)| RefusedBlock {
                description: description.into(),
                sealed: hex::encode(seal_block(&block, keys.metadata.expose_secret(), &header)),
                block: hex::encode(block),
            })
            .collect(),
        share,
    }
}

/// Manifests a reader must refuse (docs/FORMAT.md §4.1), sealed like the cases above.
#[allow(dead_code)] // used by the native writer only
pub fn refused_manifests() -> RefusedMetadata {
    let mut doc = refused_metadata();
    let (header, keys) = doc.key();
    let deep = vec!["d"; 33].join("/");
    let long = "x".repeat(1025);
    let jsons = [
        (
            "a path that climbs out with ..",
            r#"[{"path":"../.bashrc","size":1}]"#.to_owned(),
        ),
        (
            "a .. inside a path",
            r#"[{"path":"a/../../b","size":1}]"#.to_owned(),
        ),
        (
            "an absolute path",
            r#"[{"path":"/etc/cron.d/x","size":1}]"#.to_owned(),
        ),
        (
            "an empty component",
            r#"[{"path":"a//b","size":1}]"#.to_owned(),
        ),
        ("a . component", r#"[{"path":"./a","size":1}]"#.to_owned()),
        ("an empty path", r#"[{"path":"","size":1}]"#.to_owned()),
        (
            "a path ending in /",
            r#"[{"path":"a/","size":1}]"#.to_owned(),
        ),
        (
            "33 levels deep",
            format!(r#"[{{"path":"{deep}","size":1}}]"#),
        ),
        (
            "a path of 1025 bytes",
            format!(r#"[{{"path":"{long}","size":1}}]"#),
        ),
        (
            "sizes that do not add up to size",
            r#"[{"path":"a","size":2}]"#.to_owned(),
        ),
        ("no files and no folders", "[]".to_owned()),
    ];
    doc.description = "manifests (docs/FORMAT.md section 4.1) whose block is well formed but \
                       which a reader must refuse; each is sealed with the metadata key of \
                       the share described"
        .into();
    doc.refused = jsons
        .into_iter()
        .map(|(description, files)| {
            let json = format!(r#"{{"v":2,"size":1,"files":{files}}}"#);
            let mut block = (json.len() as u32).to_be_bytes().to_vec();
            block.extend_from_slice(json.as_bytes());
            block.resize(block.len().div_ceil(256) * 256, 0);
            RefusedBlock {
                description: description.into(),
                sealed: hex::encode(seal_block(&block, keys.metadata.expose_secret(), &header)),
                block: hex::encode(block),
            }
        })
        .collect();
    doc
}

/// Decrypts a stored vector the way a recipient would: parse the stored header, derive,
/// open metadata, open the chunks.
pub fn open(v: &Vector) -> Result<(Metadata, Vec<u8>), ferry_common::Error> {
    let header = Header::parse(&hex::decode(&v.expected_header).unwrap())?;
    let keys = v.keys(&header);
    let meta = Metadata::open(
        &hex::decode(&v.expected_metadata).unwrap(),
        &keys.metadata,
        &header,
    )?;
    let ct = hex::decode(&v.expected_ciphertext).unwrap();
    let sealed = header.chunk_size as usize + 16;
    let mut dec = StreamDecryptor::new(&keys.payload, &header);
    let mut plain = Vec::new();
    let chunks: Vec<&[u8]> = ct.chunks(sealed).collect();
    for (i, c) in chunks.iter().enumerate() {
        plain.extend(dec.open_chunk(c, i + 1 == chunks.len())?);
    }
    dec.finish()?;
    Ok((meta, plain))
}

fn pattern(len: usize, seed: u8) -> String {
    hex::encode(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

/// The cases the vector files hold.
#[allow(dead_code)] // used by the native writer only
pub fn cases() -> Vec<(&'static str, Vector)> {
    // Ferry's KDF floor (docs/FORMAT.md §2): the cheapest parameters a reader accepts.
    let base = |description: &str, len: usize| Vector {
        description: description.into(),
        passphrase: "correct horse battery staple".into(),
        link_secret: Some("000102030405060708090a0b0c0d0e0f".into()),
        salt: "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf".into(),
        file_name: "notes.txt".into(),
        media_type: "text/plain".into(),
        plaintext: pattern(len, 7),
        ..inputs(19 * 1024, 2, 1, 64)
    };
    vec![
        ("empty", base("an empty file: one empty final chunk", 0)),
        ("one-chunk", base("exactly one chunk (64 bytes)", 64)),
        (
            "one-byte-over",
            base("one byte more than a chunk: 64 + 1", 65),
        ),
        (
            "several-chunks",
            base("three full chunks and a partial one", 3 * 64 + 10),
        ),
        (
            "non-ascii",
            Vector {
                passphrase: "pa\u{0308}sswörd 🔑 日本語".into(),
                file_name: "Grüße 📄 данные.txt".into(),
                ..base(
                    "non-ASCII passphrase (not in NFC: a + combining diaeresis) and file name",
                    100,
                )
            },
        ),
        (
            "passphrase-only",
            Vector {
                link_secret: None,
                ..base("passphrase-only share: no link secret, flag 0x01", 150)
            },
        ),
        (
            "metadata-fills-one-block",
            Vector {
                // 4 + len(json) = 256 exactly: the block gets no padding at all (not a
                // second block of zeros).
                file_name: format!("{}.txt", "n".repeat(207)),
                ..base(
                    "metadata of exactly 256 bytes (4 + JSON): no padding is added",
                    10,
                )
            },
        ),
        (
            "several-files",
            Vector {
                file_name: String::new(),
                media_type: String::new(),
                manifest: Some(VectorManifest {
                    files: [
                        ("notes.txt", 70, Some(1_700_000_000_000)),
                        ("photos/2024/\u{e9}t\u{e9} 1.jpg", 0, None),
                        ("photos/\u{65e5}\u{672c}.bin", 30, Some(0)),
                    ]
                    .into_iter()
                    .map(|(path, size, mtime)| ManifestFile {
                        path: path.into(),
                        size,
                        mtime,
                    })
                    .collect(),
                    dirs: vec!["empty folder".into(), "photos/empty".into()],
                }),
                ..base(
                    "three files (one empty, in nested folders, non-ASCII names) and two empty \
                     folders: the manifest of section 4.1; the payload is the files' bytes in \
                     order",
                    100,
                )
            },
        ),
        (
            "default-params",
            Vector {
                m_cost: 65536,
                t_cost: 3,
                p_cost: 1,
                chunk_size: 262144,
                media_type: "application/octet-stream".into(),
                file_name: "data.bin".into(),
                ..base("the default KDF parameters and chunk size", 1000)
            },
        ),
    ]
}
