//! An interrupted `ferry send`, kept so that running the same command again resumes it.
//!
//! Two files per upload under the state directory (`$FERRY_STATE_DIR`, else
//! `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`), both readable by the user only:
//! `send-<key>.json` holds what a new connection needs (share ID, upload and owner tokens,
//! header, the link secret: as secret as the link itself, never the passphrase or a key),
//! and `send-<key>.seals` the authentication tag of every chunk sealed so far, appended
//! before each chunk is sent, so that a resumed upload can prove the file unchanged and
//! never seal an index twice over different bytes (see `SealLog`). The key is a hash of the server and the file's path
//! (of every file's path, for a share of several).
use std::{
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use ferry_common::{
    LinkSecret, TAG_LEN, b64,
    client::{Resumable, SealLog, ShareId},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{
    error::{Error, Result},
    private::{self, private_options, state_dir},
};

/// Bytes of one seal-log record: the chunk index (u64, little-endian) and its tag.
const RECORD: usize = 8 + TAG_LEN;

/// The state file's contents.
#[derive(Serialize, Deserialize)]
struct Saved {
    server: String,
    path: PathBuf,
    size: u64,
    modified_ms: u128,
    share_id: String,
    upload_token: String,
    owner_token: String,
    header: String,
    ciphertext_size: u64,
    link_secret: Option<String>,
    /// `verifier(download token)`: tells whether a passphrase typed again is the same.
    verifier: String,
    downloads: u32,
}

/// Where an upload's state lives, and what it says.
pub struct Pending {
    /// The canonical path of the file, or of every file one per line.
    path: PathBuf,
    json: PathBuf,
    seals: PathBuf,
    /// The file's size and modification time, to notice a changed file early.
    stamp: (u64, u128),
    saved: Option<Saved>,
    /// The seal log, open for appending once the first hash is written.
    seals_file: Option<File>,
}

/// What a previous run left to resume.
pub struct Interrupted {
    /// What the client core needs for a new connection.
    pub resumable: Resumable,
    /// The link secret the share uses (`None`: a passphrase-only share).
    pub link_secret: Option<LinkSecret>,
    /// The download-token verifier, to check the passphrase.
    pub verifier: Vec<u8>,
    /// Downloads the share allows.
    pub downloads: u32,
}

impl Pending {
    /// The state of sending `files` to `server`; `None` when there is nowhere to keep
    /// it (no home directory), in which case nothing is resumable.
    pub fn locate(server: &str, files: &[&Path]) -> Result<Option<Pending>> {
        let Some(dir) = state_dir() else {
            return Ok(None);
        };
        let (mut lines, mut size, mut modified_ms) = (Vec::new(), 0u64, 0u128);
        for file in files {
            let path = std::fs::canonicalize(file).map_err(Error::io("cannot resolve the path"))?;
            let meta = std::fs::metadata(&path).map_err(Error::io("cannot read the file"))?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis());
            size += meta.len();
            modified_ms = modified_ms.max(modified);
            lines.push(path.into_os_string());
        }
        let path = PathBuf::from(lines.join(std::ffi::OsStr::new("\n")));
        let mut hash = Sha256::new();
        hash.update(server.as_bytes());
        hash.update([0]);
        hash.update(path.as_os_str().as_encoded_bytes());
        let key = b64::encode(&hash.finalize()[..12]);
        let mut pending = Pending {
            path: path.clone(),
            json: dir.join(format!("send-{key}.json")),
            seals: dir.join(format!("send-{key}.seals")),
            stamp: (size, modified_ms),
            saved: None,
            seals_file: None,
        };
        pending.saved = std::fs::read(&pending.json)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Saved>(&bytes).ok())
            .filter(|s| s.path == path && s.server == server);
        Ok(Some(pending))
    }

    /// What the previous run left, if it was this file, unchanged by size and time.
    pub fn interrupted(&self) -> Option<Interrupted> {
        let s = self.saved.as_ref()?;
        if (s.size, s.modified_ms) != self.stamp {
            return None;
        }
        let bytes = |t: &str| b64::decode(t).ok();
        let secret = match &s.link_secret {
            Some(t) => Some(LinkSecret::from_fragment(t).ok()?),
            None => None,
        };
        Some(Interrupted {
            resumable: Resumable {
                share_id: ShareId::parse(&s.share_id).ok()?,
                upload_token: Zeroizing::new(bytes(&s.upload_token)?),
                owner_token: Zeroizing::new(bytes(&s.owner_token)?),
                header: bytes(&s.header)?,
                ciphertext_size: s.ciphertext_size,
            },
            link_secret: secret,
            verifier: bytes(&s.verifier)?,
            downloads: s.downloads,
        })
    }

    /// The seal log the previous run left, for `chunks` chunks (empty if none).
    pub fn seal_log(&self, chunks: u64) -> SealLog {
        let mut log = SealLog::new(chunks);
        let Ok(mut file) = File::open(&self.seals) else {
            return log;
        };
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            return log;
        }
        for record in bytes.chunks_exact(RECORD) {
            let index = u64::from_le_bytes(record[..8].try_into().expect("8 bytes"));
            let mut hash = [0u8; TAG_LEN];
            hash.copy_from_slice(&record[8..]);
            // A record that contradicts an earlier one cannot come from this client.
            if log.restore(index, hash).is_err() {
                return SealLog::new(chunks);
            }
        }
        log
    }

    /// Records a started upload before its first chunk is sent.
    pub fn save(
        &mut self,
        server: &str,
        resumable: &Resumable,
        secret: Option<&LinkSecret>,
        verifier: &[u8],
        downloads: u32,
    ) -> Result<()> {
        let saved = Saved {
            server: server.to_owned(),
            path: self.path.clone(),
            size: self.stamp.0,
            modified_ms: self.stamp.1,
            share_id: resumable.share_id.as_str().to_owned(),
            upload_token: b64::encode(&resumable.upload_token),
            owner_token: b64::encode(&resumable.owner_token),
            header: b64::encode(&resumable.header),
            ciphertext_size: resumable.ciphertext_size,
            link_secret: secret.map(LinkSecret::to_fragment),
            verifier: b64::encode(verifier),
            downloads,
        };
        let text = Zeroizing::new(serde_json::to_vec(&saved).expect("plain struct"));
        let _ = std::fs::remove_file(&self.seals);
        self.seals_file = None;
        private::replace_private(&self.json, &text, "the upload's state")?;
        self.saved = Some(saved);
        Ok(())
    }

    /// Appends chunk `index`'s tag to the seal log file (before the chunk is sent).
    pub fn append_seal(&mut self, index: u64, hash: &[u8; TAG_LEN]) -> Result<()> {
        let file = match &mut self.seals_file {
            Some(file) => file,
            None => self.seals_file.insert(
                private_options()
                    .append(true)
                    .create(true)
                    .open(&self.seals)
                    .map_err(Error::io("cannot write the upload's seal log"))?,
            ),
        };
        let mut record = [0u8; RECORD];
        record[..8].copy_from_slice(&index.to_le_bytes());
        record[8..].copy_from_slice(hash);
        file.write_all(&record)
            .map_err(Error::io("cannot write the upload's seal log"))
    }

    /// Whether the upload's state is on disk.
    pub fn is_saved(&self) -> bool {
        self.saved.is_some()
    }

    /// Forgets the upload (it was committed, or can never be resumed).
    pub fn forget(&mut self) {
        self.seals_file = None;
        let _ = std::fs::remove_file(&self.json);
        let _ = std::fs::remove_file(&self.seals);
        self.saved = None;
    }
}
