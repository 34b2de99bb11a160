//! An interrupted `ferry receive`, kept so that running the same command again continues
//! the download into its partial file.
//!
//! One file per download in the state directory ([`private::state_dir`]), mode 0600:
//! `receive-<key>.json`, where the key is a hash of the server and the share ID (so no
//! file name shows the ID). It holds the share ID, the claim token (which lets whoever has
//! it, and the download token, continue this one download: as secret as the link, kept
//! only until the download completes or fails for good), the path of the partial file and
//! how many chunks in it are verified and durable. Never the passphrase, a key or the
//! file's name.
use std::path::{Path, PathBuf};

use ferry_common::b64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{error::Result, private};

/// The record's contents.
#[derive(Serialize, Deserialize)]
struct Record {
    server: String,
    share_id: String,
    claim_token: String,
    /// The partial file (absolute).
    part: PathBuf,
    /// Chunks verified whose plaintext is durable at the start of `part`.
    chunks: u64,
    /// The share's chunk count, to check the server announces the same file again.
    total: u64,
}

/// What an earlier run left to continue.
pub(crate) struct Kept {
    /// The claim to continue.
    pub claim_token: Zeroizing<Vec<u8>>,
    /// The partial file it wrote.
    pub part: PathBuf,
    /// Chunks verified and durable in `part` (all full-sized: the final one never is kept).
    pub chunks: u64,
    /// The share's chunk count.
    pub total: u64,
}

/// Where one download's record lives, and what it says.
pub(crate) struct Unfinished {
    json: PathBuf,
    server: String,
    share_id: String,
    saved: Option<Record>,
}

impl Unfinished {
    /// The record of downloading `share_id` from `server`; `None` when there is nowhere
    /// to keep one (no state directory), so nothing resumes.
    pub(crate) fn locate(server: &str, share_id: &str) -> Option<Unfinished> {
        let dir = private::state_dir()?;
        let mut hash = Sha256::new();
        hash.update(b"receive\0");
        hash.update(server.as_bytes());
        hash.update([0]);
        hash.update(share_id.as_bytes());
        let key = b64::encode(&hash.finalize()[..12]);
        let json = dir.join(format!("receive-{key}.json"));
        let saved = std::fs::read(&json)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
            .filter(|r| r.server == server && r.share_id == share_id && r.chunks < r.total);
        Some(Unfinished {
            json,
            server: server.to_owned(),
            share_id: share_id.to_owned(),
            saved,
        })
    }

    /// What the previous run left, if anything usable.
    pub(crate) fn kept(&self) -> Option<Kept> {
        let r = self.saved.as_ref()?;
        Some(Kept {
            claim_token: Zeroizing::new(b64::decode(&r.claim_token).ok()?),
            part: r.part.clone(),
            chunks: r.chunks,
            total: r.total,
        })
    }

    /// Records that the first `chunks` chunks of `part` are verified and durable under the
    /// claim `claim_token`. The caller has synced `part` first, so the record never claims
    /// more than the file holds after a crash.
    pub(crate) fn save(
        &mut self,
        claim_token: &[u8],
        part: &Path,
        chunks: u64,
        total: u64,
    ) -> Result<()> {
        let record = Record {
            server: self.server.clone(),
            share_id: self.share_id.clone(),
            claim_token: b64::encode(claim_token),
            part: part.to_path_buf(),
            chunks,
            total,
        };
        let text = Zeroizing::new(serde_json::to_vec(&record).expect("plain struct"));
        private::replace_private(&self.json, &text, "the download's state")?;
        self.saved = Some(record);
        Ok(())
    }

    /// Forgets the download (it completed, or can never be continued).
    pub(crate) fn forget(&mut self) {
        let _ = std::fs::remove_file(&self.json);
        self.saved = None;
    }

    /// Forgets the download and removes the partial plaintext it names: nothing can
    /// complete it any more.
    pub(crate) fn discard(&mut self) {
        if let Some(r) = &self.saved {
            let _ = std::fs::remove_file(&r.part);
        }
        self.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("receive-k.json");
        let mut u = Unfinished {
            json: json.clone(),
            server: "http://s".into(),
            share_id: "q3Xv0m4yLrZ4cF2kHk8VtA".into(),
            saved: None,
        };
        u.save(&[7; 32], Path::new("/tmp/.ferry-x.part"), 5, 9)
            .unwrap();
        let kept = u.kept().unwrap();
        assert_eq!(kept.claim_token.as_slice(), &[7; 32]);
        assert_eq!((kept.chunks, kept.total), (5, 9));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&json).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        u.forget();
        assert!(!json.exists());
        assert!(u.kept().is_none());
    }
}
