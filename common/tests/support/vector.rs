//! The vector file format and the one function that computes a vector from its inputs.
use ferry_common::{
    FileMetadata, Header, KdfParams, Keys, LinkSecret, StreamDecryptor, StreamEncryptor,
};
use serde::{Deserialize, Serialize};

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
    pub plaintext: String,
    pub expected_header: String,
    pub expected_download_token: String,
    pub expected_verifier: String,
    pub expected_metadata: String,
    /// All sealed chunks concatenated, as stored on the server.
    pub expected_ciphertext: String,
}

impl Vector {
    pub fn inputs(&self) -> Vector {
        Vector {
            expected_header: String::new(),
            expected_download_token: String::new(),
            expected_verifier: String::new(),
            expected_metadata: String::new(),
            expected_ciphertext: String::new(),
            ..self.clone()
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

/// Fills in the expected fields from the inputs.
pub fn compute(mut v: Vector) -> Vector {
    let header = v.header();
    let keys = v.keys(&header);
    let plaintext = hex::decode(&v.plaintext).unwrap();
    let meta = FileMetadata {
        name: v.file_name.clone(),
        size: plaintext.len() as u64,
        media_type: v.media_type.clone(),
    };
    let mut enc = StreamEncryptor::new(&keys.payload, &header);
    let mut ciphertext = Vec::new();
    let cs = header.chunk_size as usize;
    let n = plaintext.len().div_ceil(cs).max(1);
    for i in 0..n {
        let chunk = &plaintext[(i * cs).min(plaintext.len())..((i + 1) * cs).min(plaintext.len())];
        ciphertext.extend(enc.seal_chunk(chunk, i + 1 == n).unwrap());
    }
    v.expected_header = hex::encode(header.to_bytes());
    v.expected_download_token = hex::encode(keys.download_token.as_bytes());
    v.expected_verifier = hex::encode(keys.download_token.verifier());
    v.expected_metadata = hex::encode(meta.seal(&keys.metadata, &header).unwrap());
    v.expected_ciphertext = hex::encode(ciphertext);
    v
}

/// Decrypts a stored vector the way a recipient would: parse the stored header, derive,
/// open metadata, open the chunks.
pub fn open(v: &Vector) -> Result<(FileMetadata, Vec<u8>), ferry_common::Error> {
    let header = Header::parse(&hex::decode(&v.expected_header).unwrap())?;
    let keys = v.keys(&header);
    let meta = FileMetadata::open(
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
    let base = |description: &str, len: usize| Vector {
        description: description.into(),
        passphrase: "correct horse battery staple".into(),
        link_secret: Some("000102030405060708090a0b0c0d0e0f".into()),
        salt: "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf".into(),
        // Ferry's KDF floor (docs/FORMAT.md §2): the cheapest parameters a reader accepts.
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
        chunk_size: 64,
        file_name: "notes.txt".into(),
        media_type: "text/plain".into(),
        plaintext: pattern(len, 7),
        expected_header: String::new(),
        expected_download_token: String::new(),
        expected_verifier: String::new(),
        expected_metadata: String::new(),
        expected_ciphertext: String::new(),
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
