//! Landing a share of several files: the verified payload becomes the sender's tree under
//! the output directory.
//!
//! The download itself runs as for one file, into one partial file that can be resumed;
//! only once every chunk verified is it cut into the manifest's files. They are written
//! into a fresh private folder (`.ferry-XXXXXXXX.tree`) beside their destination, under
//! the safe names of [`Manifest::plan`], each created new (never opened through an
//! existing name, so no link is followed) and synced. Then each top-level entry moves into
//! the output directory with an atomic no-replace rename, taking `name (N)` when its name
//! is taken: nothing that was there is replaced, and nothing is visible before it is
//! complete. If the tree cannot be written, the verified payload is kept instead.
use std::{
    collections::{BTreeSet, HashSet},
    fs::{self, File},
    io::{self, BufReader, Read},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use ferry_common::{
    Manifest,
    manifest::{EntryKind, Plan, PlannedEntry},
};
use tempfile::{NamedTempFile, TempDir, TempPath};

use crate::{names, save::Saved};

/// Alternative names tried for a taken top-level name, as for a single file.
const MAX_NUMBERED: u32 = 999;

/// Where a share of several files lands, and under which names.
pub(crate) struct Unpack {
    dir: PathBuf,
    plan: Plan,
}

impl Unpack {
    /// `manifest`'s files and folders under `dir`.
    pub(crate) fn new(dir: PathBuf, manifest: &Manifest) -> Unpack {
        Unpack {
            dir,
            plan: manifest.plan(),
        }
    }

    /// The first top-level name, to show where the share is going.
    pub(crate) fn first(&self) -> PathBuf {
        self.dir.join(&self.plan[0].path[0])
    }

    /// Cuts the verified, synced payload in `temp` into the tree and moves it into place
    /// (see the module docs). The payload is removed once the tree is in place, and kept
    /// when it cannot be.
    pub(crate) fn claim(&self, temp: NamedTempFile) -> Saved {
        let staged = match self.stage(&temp) {
            Ok(staged) => staged,
            Err(e) => return keep(temp, format!("cannot write the files: {e}")),
        };
        match self.place(&staged) {
            Ok(placed) => Saved::Tree(placed),
            Err((placed, reason)) => {
                // What could not move stays in the staging folder, which is kept.
                let kept = staged.keep();
                Saved::Kept {
                    path: kept,
                    reason: format!("{reason} ({} of the entries were placed)", placed.len()),
                }
            }
        }
    }

    /// Writes every entry into a new private folder beside the destination.
    fn stage(&self, temp: &NamedTempFile) -> io::Result<TempDir> {
        let staged = tempfile::Builder::new()
            .prefix(".ferry-")
            .suffix(".tree")
            .rand_bytes(8)
            .tempdir_in(&self.dir)?;
        let mut payload = BufReader::with_capacity(1 << 20, temp.reopen()?);
        let mut folders = BTreeSet::new();
        for entry in &self.plan {
            let path = entry
                .path
                .iter()
                .fold(staged.path().to_path_buf(), |p, c| p.join(c));
            let parent = names::parent_dir(&path);
            fs::create_dir_all(&parent)?;
            folders.insert(parent);
            match entry.kind {
                EntryKind::File { size, .. } => write_file(&path, &mut payload, size, entry)?,
                EntryKind::Dir => {
                    fs::create_dir_all(&path)?;
                    folders.insert(path);
                }
            }
        }
        for folder in folders {
            File::open(folder)?.sync_all()?;
        }
        Ok(staged)
    }

    /// Moves each top-level entry out of `staged` into the destination, under a free name.
    /// On failure: the paths placed so far and why the rest could not be.
    fn place(&self, staged: &TempDir) -> Result<Vec<PathBuf>, (Vec<PathBuf>, String)> {
        let mut seen = HashSet::new();
        let tops: Vec<&String> = self
            .plan
            .iter()
            .map(|e| &e.path[0])
            .filter(|name| seen.insert(*name))
            .collect();
        let mut placed = Vec::with_capacity(tops.len());
        for name in tops {
            match self.place_one(&staged.path().join(name), name) {
                Ok(path) => placed.push(path),
                Err(reason) => return Err((placed, reason)),
            }
        }
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(placed)
    }

    fn place_one(&self, from: &Path, name: &str) -> Result<PathBuf, String> {
        let candidates = std::iter::once(name.to_owned())
            .chain((1..=MAX_NUMBERED).map(|n| names::numbered(name, n)));
        let mut from = TempPath::try_from_path(from).map_err(|e| e.to_string())?;
        for candidate in candidates {
            let to = self.dir.join(&candidate);
            match from.persist_noclobber(&to) {
                Ok(()) => return Ok(to),
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => from = e.path,
                Err(e) => {
                    // Not removed on drop: it is the person's data.
                    let _ = e.path.keep();
                    return Err(format!("cannot move {name} into place: {}", e.error));
                }
            }
        }
        let _ = from.keep();
        Err(format!(
            "{name} and {MAX_NUMBERED} numbered names beside it are taken"
        ))
    }
}

/// Creates `path` new and fills it with the next `size` bytes of `payload`.
fn write_file(
    path: &Path,
    payload: &mut impl Read,
    size: u64,
    entry: &PlannedEntry,
) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let copied = io::copy(&mut payload.take(size), &mut file)?;
    if copied != size {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if let Some(time) = entry.mtime.and_then(system_time) {
        // Best effort: not every file system keeps times.
        let _ = file.set_modified(time);
    }
    file.sync_all()
}

fn system_time(ms: i64) -> Option<SystemTime> {
    let offset = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(offset)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(offset)
    }
}

/// Keeps the verified payload under its temporary name and says why.
fn keep(temp: NamedTempFile, reason: String) -> Saved {
    let path = temp.path().to_path_buf();
    let path = temp.keep().map_or(path, |(_, path)| path);
    Saved::Kept { path, reason }
}
