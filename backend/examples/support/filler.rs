//! Shares of filler ciphertext for the load tools (`bench_client`, `hostile_load`): a real
//! header at the KDF floor and a random download token, with bytes the server cannot tell
//! from ciphertext (it never decrypts), uploaded through the client core (`lanes`).
use ferry_common::{
    Header, KdfParams,
    client::Uploaded,
    keys::{random_token, verifier},
    protocol::{PROTOCOL_VERSION, UploadRequest},
};

/// Plaintext bytes per chunk.
pub const CHUNK: u32 = 256 * 1024;

/// A filler share before upload: its `start` message and its download token.
pub struct Filler {
    pub start: UploadRequest,
    pub token: [u8; 32],
}

impl Filler {
    /// A share of `plaintext_len` bytes that `max_downloads` downloads may fetch.
    pub fn new(plaintext_len: u64, max_downloads: u32) -> anyhow::Result<Filler> {
        let header = Header::generate(KdfParams::FLOOR, CHUNK, true)?;
        let token = random_token()?;
        let start = UploadRequest::Start {
            version: PROTOCOL_VERSION,
            header: header.to_bytes().to_vec().into(),
            metadata: vec![0u8; 256].into(),
            verifier: verifier(&token).to_vec().into(),
            expires_in_secs: 3600,
            max_downloads,
            ciphertext_size: header.ciphertext_len(plaintext_len),
            // An upload token for a server that asks for one (scripts/bench-server.sh).
            credential: std::env::var("FERRY_TOKEN").ok(),
        };
        Ok(Filler { start, token })
    }

    /// Chunks of filler: every chunk the same bytes (the server never decrypts).
    fn chunks() -> super::lanes::ChunkSource {
        let full = bytes::Bytes::from(vec![0xA5u8; CHUNK as usize + 16]);
        std::sync::Arc::new(move |_, len| full.slice(..len))
    }

    /// Uploads it to the server on 127.0.0.1:`port` over `lanes` sockets at once.
    pub async fn upload(&self, port: u16, lanes: usize) -> anyhow::Result<Uploaded> {
        let chunks = Self::chunks();
        let faults = super::lanes::Faults::default();
        let (done, _) = super::lanes::upload(port, &self.start, lanes, chunks, faults).await?;
        Ok(done)
    }
}
