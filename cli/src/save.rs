//! Where a verified download lands, and claiming that name without losing the file.
//!
//! The plaintext is written to a short temporary name (`.ferry-XXXXXXXX.part`) in the
//! target's directory. Once it verified and is durable, and before the last chunk is
//! acknowledged (which spends a one-time link), the final name is claimed with one
//! atomic no-replace rename (`renameat2(RENAME_NOREPLACE)`, or a hard link where that is
//! missing): if another process took the name meanwhile the claim fails and the next
//! `name (N).ext` is tried, so no check-then-rename race can make the file be thrown
//! away. If no name can be claimed, the temporary file is kept and its path reported.
use std::{
    io,
    path::{Path, PathBuf},
};

use tempfile::NamedTempFile;

use crate::{
    error::{Error, Result},
    names,
    tree::Unpack,
};

/// Alternative names tried after the first, `name (1).ext` to `name (999).ext`.
const MAX_NUMBERED: u32 = 999;
/// Random characters in a temporary name; with `.ferry-` and `.part` the name is 20
/// bytes, whatever the final name's length.
const TEMP_RANDOM_CHARS: usize = 8;

/// Where a download may be saved.
pub(crate) struct Destination {
    /// The first name tried.
    first: PathBuf,
    /// The base for `name (N).ext` when `first` is taken.
    base: String,
    /// Replace an existing file at `first`: only for a path the person typed, with
    /// `--force`, never for a name the sender chose.
    replace: bool,
    /// For a share of several files: the tree the payload becomes.
    unpack: Option<Unpack>,
}

/// How a claim ended.
pub(crate) enum Saved {
    /// The file is under this name.
    Named(PathBuf),
    /// The files and folders of a share of several are in place; these are the top-level
    /// entries.
    Tree(Vec<PathBuf>),
    /// No name could be claimed; the verified file stays at its temporary path.
    Kept {
        /// The temporary file, now kept.
        path: PathBuf,
        /// Why no name could be claimed.
        reason: String,
    },
}

impl Destination {
    /// `-o FILE`: the person's own path, replaced only with `--force`.
    pub(crate) fn given(path: PathBuf, force: bool) -> Destination {
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| names::FALLBACK_NAME.into());
        Destination {
            first: path,
            base,
            replace: force,
            unpack: None,
        }
    }

    /// The sender's sanitised `name` at `target`: never replaces anything.
    pub(crate) fn sender_named(target: PathBuf, name: &str) -> Destination {
        Destination {
            first: target,
            base: name.to_owned(),
            replace: false,
            unpack: None,
        }
    }

    /// A share of several files, landing in the directory `unpack` names.
    pub(crate) fn tree(unpack: Unpack) -> Destination {
        Destination {
            first: unpack.first(),
            base: String::new(),
            replace: false,
            unpack: Some(unpack),
        }
    }

    /// The name wanted first.
    pub(crate) fn first(&self) -> &Path {
        &self.first
    }

    /// Creates the temporary file in the destination's directory (so claiming is a rename
    /// on one file system), with a fresh name it did not exist under before.
    pub(crate) fn temp_file(&self) -> Result<NamedTempFile> {
        let dir = names::parent_dir(&self.first);
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(".ferry-")
            .suffix(".part")
            .rand_bytes(TEMP_RANDOM_CHARS);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Like any new file: 0666 less the umask (tempfile's default is 0600).
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        builder.tempfile_in(&dir).map_err(Error::io(format!(
            "cannot create a file in {}",
            dir.display()
        )))
    }

    /// `first`, then `name (1).ext` ... `name (999).ext` beside it.
    fn candidates(&self) -> impl Iterator<Item = PathBuf> + '_ {
        let numbered =
            (1..=MAX_NUMBERED).map(|n| self.first.with_file_name(names::numbered(&self.base, n)));
        std::iter::once(self.first.clone()).chain(numbered)
    }

    /// Gives the verified, synced `temp` its final name: the first candidate it can claim
    /// atomically; it is never thrown away.
    pub(crate) fn claim(&self, mut temp: NamedTempFile) -> Saved {
        if let Some(unpack) = &self.unpack {
            return unpack.claim(temp);
        }
        let mut reason = format!(
            "{} and {MAX_NUMBERED} numbered names beside it are taken",
            self.first.display()
        );
        for (i, candidate) in self.candidates().enumerate() {
            let claimed = if i == 0 && self.replace {
                temp.persist(&candidate)
            } else {
                temp.persist_noclobber(&candidate)
            };
            match claimed {
                Ok(_) => {
                    sync_dir(&candidate);
                    return Saved::Named(candidate);
                }
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => temp = e.file,
                Err(e) => {
                    reason = format!("cannot save {}: {}", candidate.display(), e.error);
                    temp = e.file;
                    break;
                }
            }
        }
        keep(temp, reason)
    }
}

/// Reopens the partial file an interrupted run kept at `path`, cut to its first `len`
/// bytes (what its record says is verified; anything after is unverified), for the
/// download to append to. Like a new one it is removed when dropped.
pub(crate) fn reopen_partial(path: &Path, len: u64) -> Result<NamedTempFile> {
    use std::io::{Seek, SeekFrom};
    let what = || Error::io(format!("cannot reopen {}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(what())?;
    file.set_len(len).map_err(what())?;
    file.seek(SeekFrom::Start(len)).map_err(what())?;
    let path = tempfile::TempPath::try_from_path(path).map_err(what())?;
    Ok(NamedTempFile::from_parts(file, path))
}

/// Stops `temp` from being removed when dropped, and says where it is.
fn keep(temp: NamedTempFile, reason: String) -> Saved {
    let path = temp.path().to_path_buf();
    // `keep` only disarms the removal on drop; the path stays valid either way.
    let path = temp.keep().map_or(path, |(_, path)| path);
    sync_dir(&path);
    Saved::Kept { path, reason }
}

/// Syncs the directory holding `path` so its new name survives a crash (best effort: not
/// every platform can open a directory).
fn sync_dir(path: &Path) {
    if let Ok(dir) = std::fs::File::open(names::parent_dir(path)) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn verified(dest: &Destination, content: &[u8]) -> NamedTempFile {
        let mut temp = dest.temp_file().unwrap();
        temp.write_all(content).unwrap();
        temp
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut all: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        all.sort();
        all
    }

    #[test]
    fn temporary_names_are_short_whatever_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let long = "n".repeat(251) + ".bin";
        let dest = Destination::sender_named(dir.path().join(&long), &long);
        let temp = dest.temp_file().unwrap();
        let name = temp.path().file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 20, "{name}");
        assert!(name.starts_with(".ferry-") && name.ends_with(".part"));
        assert_eq!(temp.path().parent(), Some(dir.path()));
    }

    #[test]
    fn a_taken_sender_name_is_numbered_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"mine").unwrap();
        let dest = Destination::sender_named(dir.path().join("a.txt"), "a.txt");
        let Saved::Named(path) = dest.claim(verified(&dest, b"one")) else {
            panic!("not saved");
        };
        assert_eq!(path, dir.path().join("a (1).txt"));
        let Saved::Named(path) = dest.claim(verified(&dest, b"two")) else {
            panic!("not saved");
        };
        assert_eq!(path, dir.path().join("a (2).txt"));
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"mine");
        assert_eq!(std::fs::read(dir.path().join("a (1).txt")).unwrap(), b"one");
        assert_eq!(names_in(dir.path()), ["a (1).txt", "a (2).txt", "a.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_or_dangling_link_counts_as_taken() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("d (1)")).unwrap();
        let dest = Destination::sender_named(dir.path().join("d"), "d");
        let Saved::Named(path) = dest.claim(verified(&dest, b"x")) else {
            panic!("not saved");
        };
        assert_eq!(path, dir.path().join("d (2)"));
        assert!(
            !dir.path().join("nowhere").exists(),
            "the link was not followed"
        );
    }

    #[test]
    fn force_replaces_only_a_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let given = dir.path().join("out.bin");
        std::fs::write(&given, b"old").unwrap();
        let dest = Destination::given(given.clone(), true);
        assert!(matches!(dest.claim(verified(&dest, b"new")), Saved::Named(p) if p == given));
        assert_eq!(std::fs::read(&given).unwrap(), b"new");
        let dest = Destination::given(given.clone(), false);
        let Saved::Named(path) = dest.claim(verified(&dest, b"newer")) else {
            panic!("not saved");
        };
        assert_eq!(path, dir.path().join("out (1).bin"));
        assert_eq!(std::fs::read(&given).unwrap(), b"new");
    }

    #[test]
    fn with_every_name_taken_the_file_is_kept_and_located() {
        let dir = tempfile::tempdir().unwrap();
        let dest = Destination::sender_named(dir.path().join("x"), "x");
        for candidate in dest.candidates() {
            std::fs::write(candidate, b"").unwrap();
        }
        let temp = verified(&dest, b"precious");
        let Saved::Kept { path, reason } = dest.claim(temp) else {
            panic!("claimed a taken name");
        };
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        assert_eq!(path.parent(), Some(dir.path()));
        assert!(reason.contains("999"), "{reason}");
    }

    #[test]
    fn a_failing_claim_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A parent that does not exist: not "taken", a real failure.
        let dest = Destination::given(dir.path().join("gone").join("f"), false);
        let temp = tempfile::Builder::new()
            .prefix(".ferry-")
            .tempfile_in(dir.path())
            .unwrap();
        let Saved::Kept { path, reason, .. } = dest.claim(temp) else {
            panic!("saved into a missing directory");
        };
        assert!(path.exists());
        assert!(reason.contains("cannot save"), "{reason}");
    }
}
