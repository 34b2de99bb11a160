//! Shares of filler ciphertext for the load tools (`bench_client`, `hostile_load`): a real
//! header at the KDF floor and a random download token, with bytes the server cannot tell
//! from ciphertext (it never decrypts), uploaded through the client core.
use ferry_common::{
    Header, KdfParams,
    client::{Upload, UploadAction, Uploaded},
    keys::{random_token, verifier},
    protocol::{PROTOCOL_VERSION, UPLOAD_PATH, UploadRequest},
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{connect_async, tungstenite::Message};

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
        };
        Ok(Filler { start, token })
    }

    /// Uploads it to the server on 127.0.0.1:`port`, honouring the window.
    pub async fn upload(&self, port: u16) -> anyhow::Result<Uploaded> {
        let full = bytes::Bytes::from(vec![0xA5u8; CHUNK as usize + 16]);
        let (mut ws, _) = connect_async(format!("ws://127.0.0.1:{port}{UPLOAD_PATH}")).await?;
        let mut session = Upload::new(&self.start)?;
        // Bounded: each turn sends a frame or reads one; the core ends after `done`.
        loop {
            match session.poll() {
                UploadAction::Send(text) => ws.send(Message::text(text)).await?,
                UploadAction::SendChunk { len, .. } => {
                    let frame = full.slice(..len);
                    session.chunk_ready(frame.len())?;
                    ws.send(Message::Binary(frame)).await?;
                }
                UploadAction::Wait => match ws.next().await {
                    Some(Ok(Message::Text(t))) => session.handle_text(&t)?,
                    Some(Ok(Message::Binary(b))) => session.handle_binary(b.len())?,
                    Some(Ok(Message::Close(frame))) => {
                        session.handle_closed(frame.as_ref().map(|f| f.reason.as_str()))?
                    }
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => session.handle_closed(None)?,
                },
                UploadAction::Done(done) => return Ok(done),
                UploadAction::Failed(e) => return Err(e.into()),
            }
        }
    }
}
