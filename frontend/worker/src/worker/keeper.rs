//! What an upload keeps so that it never seals a chunk index over different plaintext,
//! and, where the browser has storage, so that a later page can continue it
//! (`ferry_worker::pending`).
//!
//! Every chunk's AES-GCM tag goes into a `SealLog` before the chunk is sent; a chunk sealed
//! again (a new connection, or a resume after a reload) must give the same tag or it is not
//! sent. With storage, the upload's record is written once the server said `ready` (before
//! any chunk goes out), and each batch of new tags is committed before its chunks are sent.
use ferry_common::{
    Header, LinkSecret, TAG_LEN, b64,
    client::{Resumable, SealLog},
    keys::AeadKey,
    resume_record::ResumeSecrets,
};
use ferry_worker::{
    Failure, FailureCode, Report, ResumeNote,
    pending::{KEEP_MS, Record, SEAL_ENTRY, Store},
};
use js_sys::Uint8Array;

use super::post;

/// What a new upload's record will hold, until the server names the share.
pub struct NewRecord {
    /// The share's resume-record key.
    pub key: AeadKey,
    pub link_secret: LinkSecret,
    pub header: Header,
    pub size: u64,
    pub name: String,
    pub last_modified_ms: u64,
}

/// The seal log of one upload and, with storage, its record there.
pub struct Keeper {
    store: Option<Store>,
    /// A new upload's record, written at the first `ready`.
    new: Option<NewRecord>,
    /// The share, once known (a resumed upload knows it from the start).
    share_id: Option<String>,
    log: SealLog,
    /// Continues an upload a previous page began.
    resumed: bool,
    /// Whether a connection reached `ready` yet.
    begun: bool,
}

impl Keeper {
    /// For a new upload of `chunks` chunks.
    pub fn fresh(store: Option<Store>, chunks: u64, new: NewRecord) -> Keeper {
        Keeper {
            store,
            new: Some(new),
            share_id: None,
            log: SealLog::new(chunks),
            resumed: false,
            begun: false,
        }
    }

    /// For an upload a previous page began, with the tags it kept.
    pub fn resumed(store: Option<Store>, share_id: String, log: SealLog) -> Keeper {
        Keeper {
            store,
            new: None,
            share_id: Some(share_id),
            log,
            resumed: true,
            begun: false,
        }
    }

    /// Whether a connection reached `ready`.
    pub fn begun(&self) -> bool {
        self.begun
    }

    /// The server said `ready`: writes a new upload's record before its first chunk, and
    /// tells the page how much of a resumed one the server had. `saved`: what continues
    /// the upload; `stored` of `total` ciphertext bytes are on the server; `size`:
    /// plaintext bytes.
    pub async fn begin(
        &mut self,
        saved: Option<&Resumable>,
        (stored, total): (u64, u64),
        size: u64,
    ) {
        if self.resumed && !self.begun {
            let total = total.max(1);
            let already = (u128::from(stored) * u128::from(size) / u128::from(total)) as u64;
            post(
                &Report::Resume(ResumeNote::Continued {
                    already,
                    total: size,
                }),
                None,
            );
            if let Some(share_id) = self.share_id.clone() {
                post(&Report::Resume(ResumeNote::Kept { share_id }), None);
            }
        }
        self.begun = true;
        let Some(saved) = saved else {
            return;
        };
        let Some(new) = self.new.take() else {
            return;
        };
        let share_id = saved.share_id.as_str().to_owned();
        self.share_id = Some(share_id.clone());
        let Some(store) = &self.store else {
            return;
        };
        let (Ok(upload_token), Ok(owner_token)) = (
            saved.upload_token[..].try_into(),
            saved.owner_token[..].try_into(),
        ) else {
            self.store = None;
            return;
        };
        let secrets = ResumeSecrets {
            upload_token,
            owner_token,
            name: new.name,
            last_modified_ms: new.last_modified_ms,
        };
        let Ok(sealed) = secrets.seal(&new.key, &share_id) else {
            self.store = None;
            return;
        };
        let record = Record {
            share_id: share_id.clone(),
            link_secret: new.link_secret.to_fragment(),
            header: b64::encode(&new.header.to_bytes()),
            ciphertext_size: saved.ciphertext_size,
            size: new.size,
            expires_at: js_sys::Date::now() + KEEP_MS,
            sealed: b64::encode(&sealed),
        };
        if store.put(&record).await.is_err() {
            // Nothing kept, so nothing can be resumed later: go on without storage.
            self.store = None;
            return;
        }
        post(&Report::Resume(ResumeNote::Kept { share_id }), None);
    }

    /// The highest logged chunk, if any.
    pub fn last_logged(&self, chunks: u64) -> Option<u64> {
        (0..chunks).rev().find(|&i| self.log.contains(i))
    }

    /// Whether sealed chunk `index` matches its logged tag (true if none is logged).
    pub fn matches(&mut self, index: u64, sealed: &Uint8Array) -> bool {
        !self.log.contains(index) || self.log.restore(index, tag(sealed)).is_ok()
    }

    /// Logs sealed chunks `first..` (in order) before they are sent, committing the new
    /// tags to storage first. Refuses (and nothing may be sent) when a chunk sealed again
    /// differs from before.
    pub async fn log(&mut self, first: u64, sealed: &[&Uint8Array]) -> Result<(), Failure> {
        let mut entries = Vec::with_capacity(sealed.len() * SEAL_ENTRY);
        for (index, chunk) in (first..).zip(sealed) {
            let tag = tag(chunk);
            match self.log.restore(index, tag) {
                Ok(true) => {
                    entries.extend_from_slice(&index.to_le_bytes());
                    entries.extend_from_slice(&tag);
                }
                Ok(false) => {}
                Err(_) => return Err(changed()),
            }
        }
        let (Some(store), Some(id)) = (&self.store, &self.share_id) else {
            return Ok(());
        };
        if entries.is_empty() || store.add_seals(id, first, &entries).await.is_ok() {
            return Ok(());
        }
        // A record whose tags are incomplete must not survive: a later resume would not
        // compare the missing chunks.
        if store.remove(id).await.is_ok() {
            self.store = None;
            return Ok(());
        }
        Err(Failure::new(
            FailureCode::Internal,
            "the browser's storage failed; start the upload again",
        ))
    }

    /// The upload is over (committed, or refused for good): its record goes.
    pub async fn forget(&mut self) {
        if let (Some(store), Some(id)) = (&self.store, &self.share_id) {
            let _ = store.remove(id).await;
        }
        self.store = None;
    }
}

/// The last 16 bytes of a sealed chunk: its AES-GCM tag.
fn tag(sealed: &Uint8Array) -> [u8; TAG_LEN] {
    let len = sealed.length();
    let mut tag = [0u8; TAG_LEN];
    if len as usize >= TAG_LEN {
        sealed.subarray(len - TAG_LEN as u32, len).copy_to(&mut tag);
    }
    tag
}

/// A chunk sealed again came out different: the file changed since it was first read.
pub fn changed() -> Failure {
    Failure::new(
        FailureCode::Read,
        "the file changed while it was being sent; start a new upload",
    )
}
