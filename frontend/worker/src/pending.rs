//! The browser's record of interrupted uploads, in IndexedDB (database `ferry-uploads`),
//! so that a reloaded or reopened send page can continue one.
//!
//! Two object stores, shared by the page and its transfer workers (same origin):
//!
//! - `uploads`, keyed by share ID: one [`Record`] per unfinished upload, a JSON string. In
//!   clear only what the link itself holds (share ID, link secret) and what the server
//!   sees anyway (public header, sizes), plus when the record expires; the upload and owner
//!   tokens and the file's name and modification time are sealed under the share's
//!   resume-record key (`ferry_common::resume_record`), which takes the passphrase to open.
//! - `seals`, keyed by `[share ID, first chunk]`: batches of `u64le(index) || tag` (24
//!   bytes a chunk), the AES-GCM tag of every chunk sealed, each batch committed (strict
//!   durability) before its chunks are sent. Tags are public: the server stores the
//!   ciphertext they end.
//!
//! Records expire after [`KEEP_MS`] (the server abandons an unfinished upload after 24 h
//! by default) and are removed when the upload completes, is refused, or the person
//! discards them.
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStore, IdbRequest, IdbTransaction};

const DB_NAME: &str = "ferry-uploads";
const DB_VERSION: u32 = 1;
const UPLOADS: &str = "uploads";
const SEALS: &str = "seals";
/// Bytes of one seal entry: the chunk index (u64, little-endian) and its tag.
pub const SEAL_ENTRY: usize = 8 + ferry_common::TAG_LEN;
/// How long a record is kept: the server's default for abandoning an unfinished upload.
pub const KEEP_MS: f64 = 24.0 * 3600.0 * 1000.0;
/// Most records kept; a new upload beyond this removes the oldest (bounds the storage and
/// the Argon2id runs a resume may try).
pub const MAX_RECORDS: usize = 4;

/// Why the store could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// This browser offers no IndexedDB here (some private modes, or storage blocked).
    #[error("this browser keeps no storage for this page")]
    Unavailable,
    /// A read or write failed (storage full, or the database was closed).
    #[error("the browser's storage refused a read or write")]
    Failed,
}

/// One unfinished upload, as stored.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The share ID (in the link).
    pub share_id: String,
    /// The link secret, base64url (the link's fragment).
    pub link_secret: String,
    /// The share's public header, base64url.
    pub header: String,
    /// Ciphertext bytes of the whole upload.
    pub ciphertext_size: u64,
    /// Plaintext size: a file of another size is never a candidate.
    pub size: u64,
    /// When the record is dropped, milliseconds since the epoch.
    pub expires_at: f64,
    /// `ResumeSecrets` sealed under the resume-record key, base64url.
    pub sealed: String,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The share ID and the link secret are the link itself: never printed.
        f.debug_struct("Record")
            .field("ciphertext_size", &self.ciphertext_size)
            .field("size", &self.size)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The open database.
#[derive(Clone)]
pub struct Store {
    db: IdbDatabase,
}

/// Waits for a request's `success` (or its `error`) and gives its result. The handlers are
/// attached at once, when this is called, so a request made before an earlier one is
/// awaited is still seen.
fn settle(
    req: &IdbRequest,
) -> impl std::future::Future<Output = Result<JsValue, StoreError>> + use<> {
    let promise = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    let req = req.clone();
    async move {
        let outcome = JsFuture::from(promise).await;
        req.set_onsuccess(None);
        req.set_onerror(None);
        outcome.map_err(|_| StoreError::Failed)?;
        req.result().map_err(|_| StoreError::Failed)
    }
}

/// Waits until a read-write transaction committed (`complete`), or fails if it aborted.
async fn committed(tx: &IdbTransaction) -> Result<(), StoreError> {
    let promise = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onerror(Some(&reject));
        tx.set_onabort(Some(&reject));
    });
    JsFuture::from(promise)
        .await
        .map(drop)
        .map_err(|_| StoreError::Failed)
}

fn failed<T>(_: T) -> StoreError {
    StoreError::Failed
}

/// `[share ID, first]`, a seal batch's key.
fn seal_key(share_id: &str, first: u64) -> JsValue {
    Array::of2(&share_id.into(), &(first as f64).into()).into()
}

impl Store {
    /// Opens (creating on first use) the database, in the page or a worker.
    pub async fn open() -> Result<Store, StoreError> {
        let factory: IdbFactory = Reflect::get(&js_sys::global(), &"indexedDB".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or(StoreError::Unavailable)?;
        let request = factory
            .open_with_u32(DB_NAME, DB_VERSION)
            .map_err(|_| StoreError::Unavailable)?;
        let on_upgrade = {
            let request = request.clone();
            Closure::<dyn FnMut()>::new(move || {
                let Ok(db) = request.result().and_then(|db| db.dyn_into::<IdbDatabase>()) else {
                    return;
                };
                for name in [UPLOADS, SEALS] {
                    if !db.object_store_names().contains(name) {
                        let _ = db.create_object_store(name);
                    }
                }
            })
        };
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        let db = settle(&request).await;
        request.set_onupgradeneeded(None);
        drop(on_upgrade);
        let db = db.map_err(|_| StoreError::Unavailable)?;
        Ok(Store {
            db: db.dyn_into().map_err(|_| StoreError::Unavailable)?,
        })
    }

    /// A transaction over both stores; read-write ones commit with strict durability
    /// (flushed to disk before `complete`), so "stored" means it survives a crash.
    fn transaction(&self, write: bool) -> Result<IdbTransaction, StoreError> {
        let names = Array::of2(&UPLOADS.into(), &SEALS.into());
        let mode = if write { "readwrite" } else { "readonly" };
        let options = Object::new();
        if write {
            let _ = Reflect::set(&options, &"durability".into(), &"strict".into());
        }
        let transaction: Function = Reflect::get(&self.db, &"transaction".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or(StoreError::Failed)?;
        transaction
            .call3(&self.db, &names, &mode.into(), &options)
            .ok()
            .and_then(|tx| tx.dyn_into().ok())
            .ok_or(StoreError::Failed)
    }

    fn stores(tx: &IdbTransaction) -> Result<(IdbObjectStore, IdbObjectStore), StoreError> {
        Ok((
            tx.object_store(UPLOADS).map_err(failed)?,
            tx.object_store(SEALS).map_err(failed)?,
        ))
    }

    /// Every unexpired record, newest first; expired ones (and seal batches whose record is
    /// gone) are removed on the way.
    pub async fn records(&self) -> Result<Vec<Record>, StoreError> {
        let tx = self.transaction(false)?;
        let (uploads, seals) = Self::stores(&tx)?;
        // Both requests are made before awaiting either: a transaction commits once no
        // request is pending.
        let values = settle(&uploads.get_all().map_err(failed)?);
        let seal_keys = settle(&seals.get_all_keys().map_err(failed)?);
        let (values, seal_keys) = (values.await?, seal_keys.await?);
        let now = js_sys::Date::now();
        let (mut live, mut gone) = (Vec::new(), Vec::new());
        for value in Array::from(&values).iter() {
            match value
                .as_string()
                .and_then(|json| serde_json::from_str::<Record>(&json).ok())
            {
                Some(r) if r.expires_at > now => live.push(r),
                Some(r) => gone.push(r.share_id),
                None => {}
            }
        }
        for key in Array::from(&seal_keys).iter() {
            let id = Reflect::get(&key, &0.into())
                .ok()
                .and_then(|v| v.as_string());
            if let Some(id) = id.filter(|id| !live.iter().any(|r| &r.share_id == id))
                && !gone.contains(&id)
            {
                gone.push(id);
            }
        }
        for id in gone {
            self.remove(&id).await?;
        }
        live.sort_by(|a, b| b.expires_at.total_cmp(&a.expires_at));
        Ok(live)
    }

    /// Stores a new record (before the upload's first chunk is sent), dropping the oldest
    /// beyond [`MAX_RECORDS`].
    pub async fn put(&self, record: &Record) -> Result<(), StoreError> {
        for old in self.records().await?.iter().skip(MAX_RECORDS - 1) {
            self.remove(&old.share_id).await?;
        }
        // unwrap: a struct of strings and numbers always serialises.
        let json = serde_json::to_string(record).expect("record serialises");
        let tx = self.transaction(true)?;
        let (uploads, _) = Self::stores(&tx)?;
        uploads
            .put_with_key(&json.into(), &record.share_id.as_str().into())
            .map_err(failed)?;
        committed(&tx).await
    }

    /// Stores a batch of seal entries ([`SEAL_ENTRY`] bytes each) of share `share_id`,
    /// keyed by its first chunk; returns once committed.
    pub async fn add_seals(
        &self,
        share_id: &str,
        first: u64,
        entries: &[u8],
    ) -> Result<(), StoreError> {
        let tx = self.transaction(true)?;
        let (_, seals) = Self::stores(&tx)?;
        seals
            .put_with_key(&Uint8Array::from(entries), &seal_key(share_id, first))
            .map_err(failed)?;
        committed(&tx).await
    }

    /// Every seal entry kept for share `share_id`, concatenated.
    pub async fn seals(&self, share_id: &str) -> Result<Vec<u8>, StoreError> {
        let tx = self.transaction(false)?;
        let (_, seals) = Self::stores(&tx)?;
        let range = IdbKeyRange::bound(&seal_key(share_id, 0), &seal_key(share_id, u64::MAX))
            .map_err(failed)?;
        let values = settle(&seals.get_all_with_key(&range).map_err(failed)?).await?;
        let mut out = Vec::new();
        for value in Array::from(&values).iter() {
            let bytes = Uint8Array::new(&value).to_vec();
            if bytes.len().is_multiple_of(SEAL_ENTRY) {
                out.extend_from_slice(&bytes);
            }
        }
        Ok(out)
    }

    /// Removes share `share_id`'s record and its seals.
    pub async fn remove(&self, share_id: &str) -> Result<(), StoreError> {
        let tx = self.transaction(true)?;
        let (uploads, seals) = Self::stores(&tx)?;
        uploads.delete(&share_id.into()).map_err(failed)?;
        let range = IdbKeyRange::bound(&seal_key(share_id, 0), &seal_key(share_id, u64::MAX))
            .map_err(failed)?;
        seals.delete(&range).map_err(failed)?;
        committed(&tx).await
    }

    /// Removes every record and seal (the person chose to start fresh).
    pub async fn clear(&self) -> Result<(), StoreError> {
        let tx = self.transaction(true)?;
        let (uploads, seals) = Self::stores(&tx)?;
        uploads.clear().map_err(failed)?;
        seals.clear().map_err(failed)?;
        committed(&tx).await
    }
}
