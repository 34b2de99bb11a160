//! `BlobStore`: ciphertext through `object_store`, on the local file system (the default)
//! or in an S3-compatible bucket ([`s3`]); every method works the same on both.
//!
//! A share's ciphertext is stored as segments of consecutive sealed chunks, one object
//! each under `segments/<id>/<index>`, written once with `PutMode::Create`: the local
//! store writes a staging file and hard-links it into place (with fsync on), S3 sends
//! `If-None-Match: *`. So a segment is either absent or whole, a second writer of the
//! same index is told it exists, and nothing needs multipart bookkeeping that only one
//! process could continue. Shares stored before segments keep one object, `blobs/<id>`,
//! and stay readable.
//!
//! Keys hold the share ID (public: it is in every link) and a segment index, never a file
//! name or anything secret.
mod s3;

use std::{
    collections::HashMap,
    ops::Range,
    path::{Path as FsPath, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

pub(crate) use self::s3::refused_for_space;
pub use self::s3::{S3Credentials, S3Settings};

use anyhow::Context;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    local::LocalFileSystem, memory::InMemory, path::Path,
};

const PREFIX: &str = "blobs";
const SEGMENTS: &str = "segments";

/// What writing a segment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The object was created and is durable.
    Created,
    /// An object already existed under that index (nothing was written).
    Exists,
}

/// The pieces of a streaming read ([`BlobStore::stream_segment`]), each of any size.
pub type ByteStream = BoxStream<'static, anyhow::Result<Bytes>>;

/// A completed blob as listed.
pub struct StoredBlob {
    /// The share ID it belongs to.
    pub id: String,
    /// When it was last written.
    pub modified: SystemTime,
}

/// Blob storage for share ciphertext.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Root directory of the local store (for sweeping stale staging files); `None` on
    /// S3, which has no staging files.
    local_root: Option<PathBuf>,
}

/// Where the blobs are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BlobBackend {
    /// Under `<data_dir>/blobs` and `<data_dir>/segments` (the default).
    #[default]
    Local,
    /// In an S3-compatible bucket.
    S3(S3Settings),
}

impl BlobStore {
    /// A durable (fsync) local store under `<data_dir>/blobs`.
    pub fn local(data_dir: &std::path::Path) -> anyhow::Result<BlobStore> {
        let root = data_dir.join(PREFIX);
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let store = LocalFileSystem::new_with_prefix(data_dir)
            .context("opening the blob store")?
            .with_fsync(true);
        Ok(BlobStore {
            store: Arc::new(store),
            local_root: Some(root),
        })
    }

    /// The bucket `settings` name, checked to answer (see [`s3`]).
    pub async fn s3(settings: &S3Settings) -> anyhow::Result<BlobStore> {
        Ok(BlobStore {
            store: s3::open(settings).await?,
            local_root: None,
        })
    }

    /// A store in this process's memory: the contract tests' third backend (nothing
    /// survives the process, so the server itself never uses it).
    pub fn in_memory() -> BlobStore {
        BlobStore {
            store: Arc::new(InMemory::new()),
            local_root: None,
        }
    }

    /// Opens the store `backend` names (`data_dir` is used by the local one only).
    pub async fn open(backend: &BlobBackend, data_dir: &FsPath) -> anyhow::Result<BlobStore> {
        match backend {
            BlobBackend::Local => Self::local(data_dir),
            BlobBackend::S3(settings) => Self::s3(settings).await,
        }
    }

    /// The same store with every call timed into `metrics` (`ferry_store_*`).
    pub(crate) fn timed(self, metrics: &crate::metrics::Metrics) -> BlobStore {
        BlobStore {
            store: crate::metrics::TimedObjects::wrap(self.store, metrics.clone()),
            ..self
        }
    }

    /// Whether the blobs live on the data directory's filesystem (so that its free space
    /// limits uploads).
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    fn key(id: &str) -> Path {
        Path::from(format!("{PREFIX}/{id}"))
    }

    fn segment_key(id: &str, index: u64) -> Path {
        Path::from(format!("{SEGMENTS}/{id}/{index}"))
    }

    /// Writes segment `index` of share `id` once: an existing object is never replaced.
    pub async fn put_segment(
        &self,
        id: &str,
        index: u64,
        payload: PutPayload,
    ) -> anyhow::Result<Put> {
        let key = Self::segment_key(id, index);
        let opts = PutOptions::from(PutMode::Create);
        match self.store.put_opts(&key, payload, opts).await {
            Ok(_) => Ok(Put::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Put::Exists),
            Err(e) => self.after_failed_put(&key, e).await,
        }
    }

    /// A PUT that failed without a verdict: an S3 server may refuse `If-None-Match: *`
    /// before reading the body and close the connection, so the client sees a broken pipe
    /// instead of 412 (s3s-fs does, for any body larger than its buffers); a connection
    /// cut after the server stored the object looks the same. If an object is there now,
    /// it is reported as existing, which makes the caller compare it with what it sent
    /// (equal when this write landed); if none is, the write failed.
    async fn after_failed_put(
        &self,
        key: &Path,
        failed: object_store::Error,
    ) -> anyhow::Result<Put> {
        match self.store.head(key).await {
            Ok(_) => Ok(Put::Exists),
            Err(_) => Err(failed.into()),
        }
    }

    /// The whole of segment `index` of share `id`.
    pub async fn segment(&self, id: &str, index: u64) -> anyhow::Result<Bytes> {
        Ok(self
            .store
            .get(&Self::segment_key(id, index))
            .await?
            .bytes()
            .await?)
    }

    /// Reads `range` of segment `index` of share `id`.
    pub async fn read_segment(
        &self,
        id: &str,
        index: u64,
        range: Range<u64>,
    ) -> anyhow::Result<Bytes> {
        Ok(self
            .store
            .get_range(&Self::segment_key(id, index), range)
            .await?)
    }

    /// Reads `range` of a share stored as one blob (before segments).
    pub async fn read(&self, id: &str, range: Range<u64>) -> anyhow::Result<Bytes> {
        Ok(self.store.get_range(&Self::key(id), range).await?)
    }

    /// `range` of segment `index` of share `id` through one streaming read, in pieces of
    /// whatever size the store yields as they arrive: one request for many chunks where
    /// each request costs a round trip (S3), without holding the range in memory.
    pub async fn stream_segment(
        &self,
        id: &str,
        index: u64,
        range: Range<u64>,
    ) -> anyhow::Result<ByteStream> {
        self.stream(&Self::segment_key(id, index), range).await
    }

    /// As [`BlobStore::stream_segment`], for a share stored as one blob (before segments).
    pub async fn stream_blob(&self, id: &str, range: Range<u64>) -> anyhow::Result<ByteStream> {
        self.stream(&Self::key(id), range).await
    }

    async fn stream(&self, key: &Path, range: Range<u64>) -> anyhow::Result<ByteStream> {
        let opts = GetOptions::default().with_range(Some(GetRange::Bounded(range)));
        let got = self.store.get_opts(key, opts).await?;
        Ok(got.into_stream().map_err(anyhow::Error::from).boxed())
    }

    /// Writes share `id` as one blob, the layout from before segments (which the server
    /// no longer writes but still reads and deletes): for tests and tools that need a
    /// share stored that way.
    pub async fn put_blob(&self, id: &str, payload: PutPayload) -> anyhow::Result<()> {
        self.store.put(&Self::key(id), payload).await?;
        Ok(())
    }

    /// Size of a share's blob, or `None` if it does not exist.
    pub async fn size(&self, id: &str) -> anyhow::Result<Option<u64>> {
        match self.store.head(&Self::key(id)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes everything stored for share `id`: its segments (by prefix) and its blob
    /// from before segments. Absent is fine.
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let prefix = Path::from(format!("{SEGMENTS}/{id}"));
        let keys = self
            .store
            .list(Some(&prefix))
            .map(|meta| meta.map(|meta| meta.location))
            .boxed();
        let mut deleted = self.store.delete_stream(keys);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match self.store.delete(&Self::key(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every share with stored objects, with the time its newest object was written.
    pub async fn list(&self) -> anyhow::Result<Vec<StoredBlob>> {
        let mut newest: HashMap<String, SystemTime> = HashMap::new();
        for (prefix, depth) in [(PREFIX, 1), (SEGMENTS, 2)] {
            let prefix = Path::from(prefix);
            let mut stream = self.store.list(Some(&prefix));
            while let Some(meta) = stream.next().await {
                let meta = meta?;
                let parts: Vec<_> = meta.location.parts().collect();
                let Some(id) = parts.get(1).filter(|_| parts.len() == depth + 1) else {
                    continue;
                };
                let modified = SystemTime::from(meta.last_modified);
                let entry = newest.entry(id.as_ref().to_owned()).or_insert(modified);
                *entry = (*entry).max(modified);
            }
        }
        Ok(newest
            .into_iter()
            .map(|(id, modified)| StoredBlob { id, modified })
            .collect())
    }

    /// Removes staging files (`<key>#<digits>`) that a crash left behind, once older than
    /// `grace` (a live write's staging file is younger, whichever process writes it).
    /// Returns how many were removed. Nothing to do on S3: an object there appears whole
    /// when its PUT completes, and a PUT cut short leaves nothing behind.
    pub fn sweep_staging(&self, grace: Duration) -> anyhow::Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let mut removed = sweep_staging_in(root, grace)?;
        let segments = root.with_file_name(SEGMENTS);
        if segments.is_dir() {
            for entry in std::fs::read_dir(&segments)? {
                let path = entry?.path();
                if path.is_dir() {
                    removed += sweep_staging_in(&path, grace)?;
                }
            }
        }
        Ok(removed)
    }
}

fn sweep_staging_in(dir: &FsPath, grace: Duration) -> anyhow::Result<usize> {
    let cutoff = SystemTime::now() - grace;
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((_, suffix)) = name.rsplit_once('#') else {
            continue;
        };
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        if modified <= cutoff {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
