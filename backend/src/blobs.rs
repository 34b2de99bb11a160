//! `BlobStore`: ciphertext blobs through `object_store` (its local file system store
//! here; the same calls work against S3-compatible stores).
//!
//! An upload is a multipart upload straight to the share's key: the local store writes
//! it to a staging file `<key>#<n>` and renames it into place on `complete()` (with
//! fsync on), so a blob is either absent or whole. Dropping or aborting the upload
//! removes the staging file; a crash can leave one behind, which
//! [`BlobStore::sweep_staging`] removes at startup.
use std::{ops::Range, path::PathBuf, sync::Arc, time::SystemTime};

use anyhow::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::{
    MultipartUpload, ObjectStore, ObjectStoreExt, local::LocalFileSystem, path::Path,
};

const PREFIX: &str = "blobs";

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
    /// Root directory of the local store (for sweeping stale staging files).
    local_root: Option<PathBuf>,
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

    fn key(id: &str) -> Path {
        Path::from(format!("{PREFIX}/{id}"))
    }

    /// Starts writing a share's blob; nothing is visible under its key until
    /// `complete()`.
    pub async fn begin(&self, id: &str) -> anyhow::Result<Box<dyn MultipartUpload>> {
        Ok(self.store.put_multipart(&Self::key(id)).await?)
    }

    /// Reads `range` of a share's blob.
    pub async fn read(&self, id: &str, range: Range<u64>) -> anyhow::Result<Bytes> {
        Ok(self.store.get_range(&Self::key(id), range).await?)
    }

    /// Size of a share's blob, or `None` if it does not exist.
    pub async fn size(&self, id: &str) -> anyhow::Result<Option<u64>> {
        match self.store.head(&Self::key(id)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a share's blob (absent is fine).
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        match self.store.delete(&Self::key(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every stored (completed) blob.
    pub async fn list(&self) -> anyhow::Result<Vec<StoredBlob>> {
        let prefix = Path::from(PREFIX);
        let mut stream = self.store.list(Some(&prefix));
        let mut blobs = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta?;
            if let Some(name) = meta.location.filename() {
                blobs.push(StoredBlob {
                    id: name.to_owned(),
                    modified: SystemTime::from(meta.last_modified),
                });
            }
        }
        Ok(blobs)
    }

    /// Removes staging files (`<key>#<digits>`) that a crash left behind. Only safe
    /// while no upload runs (at startup). Returns how many were removed.
    pub fn sweep_staging(&self) -> anyhow::Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some((_, suffix)) = name.rsplit_once('#')
                && !suffix.is_empty()
                && suffix.bytes().all(|b| b.is_ascii_digit())
            {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
