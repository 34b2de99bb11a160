//! Disk space on the data directory's filesystem: uploads are admitted only while they fit
//! with room to spare, and a ballast file keeps space back so that deleting shares (which
//! writes to the database) still works after something else has filled the disk.
//!
//! Two amounts of `reserve` bytes are held back: one stays free for the database and the
//! staging files' overhead (an upload is refused at `start` if it would eat into it), and
//! one sits in the ballast file `<data_dir>/reserve`. When a removal fails because the disk
//! is full, the ballast is deleted, the removal is retried, and the ballast is written again
//! by the next sweep once there is room.
//!
//! With the blobs in an S3 bucket ([`Space::blobs_elsewhere`]) uploads write nothing to
//! this filesystem and a bucket reports no free space, so uploads are admitted without a
//! check (a bucket that is full or over quota refuses the write, which fails the upload
//! as storage-full before anything is acknowledged, as a full disk does). The ballast
//! stays: it protects the database, which still lives in the data directory when it is
//! SQLite.
use std::{
    fs::File,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

const BALLAST_NAME: &str = "reserve";

/// Free space accounting for one data directory.
#[derive(Clone)]
pub struct Space {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    reserve: u64,
    /// Whether uploads are stored on this filesystem (false: blobs in a bucket).
    holds_blobs: bool,
    /// Bytes admitted to uploads that are still running (not yet written in full).
    pending: AtomicU64,
}

/// An upload's claim on free space; given back when dropped.
pub struct Admission {
    space: Space,
    bytes: u64,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.space
            .inner
            .pending
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// An upload that does not fit.
#[derive(Debug, thiserror::Error)]
#[error("{needed} bytes do not fit: {available} bytes are free for uploads")]
pub struct NoSpace {
    /// Bytes the upload declared.
    pub needed: u64,
    /// Bytes free for uploads right now.
    pub available: u64,
}

impl Space {
    /// Space accounting for `dir` keeping `reserve` bytes free and `reserve` more in the
    /// ballast file (written now if there is room).
    pub fn new(dir: &Path, reserve: u64) -> Space {
        Self::build(dir, reserve, true)
    }

    /// As [`Space::new`] for a server whose blobs are kept elsewhere (S3): uploads are
    /// admitted whatever this filesystem has free; only the ballast is kept.
    pub fn blobs_elsewhere(dir: &Path, reserve: u64) -> Space {
        Self::build(dir, reserve, false)
    }

    fn build(dir: &Path, reserve: u64, holds_blobs: bool) -> Space {
        let space = Space {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                reserve,
                holds_blobs,
                pending: AtomicU64::new(0),
            }),
        };
        space.restore_ballast();
        space
    }

    /// Bytes the filesystem lets this process write now.
    pub fn free(&self) -> io::Result<u64> {
        let stat = rustix::fs::statvfs(&self.inner.dir)?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Bytes an upload may still take: free space less the reserve and what running
    /// uploads were promised.
    pub fn available(&self) -> io::Result<u64> {
        let pending = self.inner.pending.load(Ordering::Acquire);
        Ok(self
            .free()?
            .saturating_sub(self.inner.reserve)
            .saturating_sub(pending))
    }

    /// Promises `bytes` to an upload if they fit.
    pub fn admit(&self, bytes: u64) -> io::Result<Result<Admission, NoSpace>> {
        if !self.inner.holds_blobs {
            return Ok(Ok(Admission {
                space: self.clone(),
                bytes: 0,
            }));
        }
        let available = self.available()?;
        if bytes > available {
            return Ok(Err(NoSpace {
                needed: bytes,
                available,
            }));
        }
        // Two uploads checking at once may both pass; the reserve absorbs that overlap and
        // a write that still fails is refused as storage-full, never acknowledged.
        self.inner.pending.fetch_add(bytes, Ordering::AcqRel);
        Ok(Ok(Admission {
            space: self.clone(),
            bytes,
        }))
    }

    fn ballast_path(&self) -> PathBuf {
        self.inner.dir.join(BALLAST_NAME)
    }

    /// Deletes the ballast file to make room for the database; true if there was one.
    pub fn release_ballast(&self) -> bool {
        let released = std::fs::remove_file(self.ballast_path()).is_ok();
        if released {
            tracing::warn!(
                bytes = self.inner.reserve,
                "disk full: released the space reserve to let deletions through"
            );
        }
        released
    }

    /// Writes the ballast file again if it is missing and the disk has room for it and the
    /// free reserve. Failures are logged: the ballast is a safety margin, not a requirement.
    pub fn restore_ballast(&self) {
        let path = self.ballast_path();
        if self.inner.reserve == 0 || path.exists() {
            return;
        }
        match self.free() {
            Ok(free) if free >= self.inner.reserve.saturating_mul(2) => {}
            Ok(_) => return,
            Err(err) => {
                tracing::warn!(%err, "cannot read free space of the data directory");
                return;
            }
        }
        if let Err(err) = write_ballast(&path, self.inner.reserve) {
            let _ = std::fs::remove_file(&path);
            tracing::warn!(%err, "cannot write the space reserve");
        }
    }
}

/// Real bytes (a sparse file would reserve nothing), written under a temporary name and
/// renamed so a half-written ballast never counts as one.
fn write_ballast(path: &Path, len: u64) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    let block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Whether an error (anywhere in its chain) means the disk or a quota is full: the OS's
/// ENOSPC/EDQUOT, SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full` class, or a bucket
/// that refused a write for lack of space (HTTP 507, or an S3 code such as Ceph's
/// `QuotaExceeded`; see `blobs::refused_for_space`).
pub fn is_storage_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        if let Some(store) = cause.downcast_ref::<object_store::Error>() {
            // Not `return`: a local store's error carries the OS's error further down.
            if crate::blobs::refused_for_space(store) {
                return true;
            }
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            );
        }
        if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() {
            // SQLite reports SQLITE_FULL (13) or an extended code with 13 as its low byte;
            // PostgreSQL's SQLSTATE class 53 is "insufficient resources" (53100 disk_full).
            return match db.code().as_deref() {
                Some(code) if code.starts_with("53") && code.len() == 5 => true,
                Some(code) => code.parse::<i32>().is_ok_and(|c| c & 0xff == 13),
                None => false,
            };
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admissions_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let space = Space::new(dir.path(), 1 << 20);
        assert!(dir.path().join(BALLAST_NAME).exists());
        let before = space.available().unwrap();
        let admitted = space.admit(1000).unwrap().unwrap();
        assert!(space.available().unwrap() <= before - 1000);
        drop(admitted);
        let Err(too_big) = space.admit(u64::MAX).unwrap() else {
            panic!("u64::MAX bytes were admitted");
        };
        assert_eq!(too_big.needed, u64::MAX);
        assert!(space.release_ballast());
        assert!(!space.release_ballast());
        space.restore_ballast();
        assert_eq!(
            std::fs::metadata(dir.path().join(BALLAST_NAME))
                .unwrap()
                .len(),
            1 << 20
        );
    }

    #[test]
    fn blobs_elsewhere_are_admitted_whatever_the_disk_holds() {
        let dir = tempfile::tempdir().unwrap();
        let space = Space::blobs_elsewhere(dir.path(), 1 << 20);
        assert!(space.admit(u64::MAX).unwrap().is_ok());
        assert!(
            dir.path().join(BALLAST_NAME).exists(),
            "the database's ballast"
        );
    }

    #[test]
    fn storage_full_is_recognised_through_context() {
        let enospc = anyhow::Error::new(io::Error::from_raw_os_error(28)).context("writing");
        assert!(is_storage_full(&enospc));
        let other = anyhow::Error::new(io::Error::from_raw_os_error(2)).context("reading");
        assert!(!is_storage_full(&other));
    }
}
