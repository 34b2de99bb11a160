//! What `ferry send` was given: one file, or several files and folders walked into a
//! manifest (`docs/FORMAT.md` §4.1).
//!
//! A folder contributes itself and everything under it, named relative to the folder's
//! parent (`ferry send ~/photos` sends `photos/…`); folders with nothing in them travel as
//! empty folders. Symbolic links are not followed (a link inside a folder could point
//! anywhere, the sender's home included) and are skipped with a note. Entries are sorted
//! by name so that the same command always describes the same share, which a resumed
//! upload relies on.
use std::{
    fs,
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use ferry_common::{
    FileMetadata, Manifest, Metadata,
    manifest::{MAX_ENTRIES, ManifestFile},
};

use crate::{
    error::{Error, Result},
    names, progress,
    sealer::Files,
};

/// One file to send: where it is, and what the manifest calls it.
#[derive(Clone, Debug)]
pub(crate) struct Picked {
    /// Where it is on this machine.
    pub path: PathBuf,
    /// Its size when walked.
    pub size: u64,
}

/// Everything `ferry send` was given.
pub(crate) struct Selection {
    /// The files, in payload order.
    pub files: Vec<Picked>,
    /// What the recipient learns: one file's metadata or the manifest.
    pub metadata: Metadata,
    /// How to name the selection in messages.
    pub shown: String,
}

impl Selection {
    /// Walks `args`: a single regular file is a single-file share as always; anything
    /// else becomes a manifest.
    pub(crate) fn gather(args: &[PathBuf]) -> Result<Selection> {
        if let [only] = args {
            let stat = fs::metadata(only).map_err(cannot_read(only))?;
            if stat.is_file() {
                return single(only, stat.len());
            }
        }
        let mut walk = Walk::default();
        for arg in args {
            walk.argument(arg)?;
        }
        let manifest = Manifest {
            files: walk.entries,
            dirs: walk.dirs,
        };
        manifest.check().map_err(|e| Error::Usage(e.to_string()))?;
        let shown = format!(
            "{} files{}",
            walk.files.len(),
            if manifest.dirs.is_empty() {
                String::new()
            } else {
                format!(" and {} empty folders", manifest.dirs.len())
            }
        );
        Ok(Selection {
            files: walk.files,
            metadata: Metadata::Files(manifest),
            shown,
        })
    }

    /// Plaintext bytes in all.
    pub(crate) fn size(&self) -> u64 {
        self.metadata.size()
    }

    /// The payload's bytes: the one file, opened now, or the files by path.
    pub(crate) fn open(&self) -> Result<Files> {
        match (&self.metadata, self.files.as_slice()) {
            (Metadata::File(_), [only]) => {
                let file = fs::File::open(&only.path)
                    .map_err(Error::io(format!("cannot open {}", only.path.display())))?;
                Ok(Files::One(file))
            }
            _ => Ok(Files::many(&self.files)),
        }
    }

    /// Every file's path.
    pub(crate) fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }
}

fn single(path: &Path, size: u64) -> Result<Selection> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Usage(format!("{} has no file name", path.display())))?;
    Ok(Selection {
        files: vec![Picked {
            path: path.to_path_buf(),
            size,
        }],
        metadata: Metadata::File(FileMetadata {
            name,
            size,
            media_type: names::media_type(path).to_owned(),
        }),
        shown: path.display().to_string(),
    })
}

fn cannot_read(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        what: format!("cannot read {}", path.display()),
        source: e,
    }
}

/// The walk so far.
#[derive(Default)]
struct Walk {
    files: Vec<Picked>,
    entries: Vec<ManifestFile>,
    dirs: Vec<String>,
}

impl Walk {
    /// One command-line argument: a file, or a folder named by its last component.
    fn argument(&mut self, arg: &Path) -> Result<()> {
        let stat = fs::metadata(arg).map_err(cannot_read(arg))?;
        let name = arg
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| {
                Error::Usage(format!("{} has no name to send it under", arg.display()))
            })?;
        if stat.is_dir() {
            self.folder(arg, &name)
        } else if stat.is_file() {
            self.file(arg, name, &stat);
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "{} is neither a file nor a folder",
                arg.display()
            )))
        }
    }

    /// A folder and what is under it; `rel` is its path in the share.
    fn folder(&mut self, dir: &Path, rel: &str) -> Result<()> {
        let mut children: Vec<_> = fs::read_dir(dir)
            .map_err(cannot_read(dir))?
            .collect::<std::io::Result<_>>()
            .map_err(cannot_read(dir))?;
        children.sort_by_key(fs::DirEntry::file_name);
        if children.is_empty() {
            self.dirs.push(rel.to_owned());
        }
        for child in children {
            self.limit()?;
            let path = child.path();
            let child_rel = format!("{rel}/{}", child.file_name().to_string_lossy());
            // `DirEntry::file_type` does not follow symbolic links.
            let kind = child.file_type().map_err(cannot_read(&path))?;
            if kind.is_dir() {
                self.folder(&path, &child_rel)?;
            } else if kind.is_file() {
                let stat = child.metadata().map_err(cannot_read(&path))?;
                self.file(&path, child_rel, &stat);
            } else if progress::interactive() {
                progress::info(format!(
                    "Skipping {}: not a regular file or folder (links are not followed).",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, rel: String, stat: &fs::Metadata) {
        let mtime = stat
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok());
        self.entries.push(ManifestFile {
            path: rel,
            size: stat.len(),
            mtime,
        });
        self.files.push(Picked {
            path: path.to_path_buf(),
            size: stat.len(),
        });
    }

    /// Stops a walk into a huge tree early, before it takes all memory.
    fn limit(&self) -> Result<()> {
        if self.entries.len() + self.dirs.len() >= MAX_ENTRIES {
            return Err(Error::Usage(format!(
                "more than {MAX_ENTRIES} files and folders; send fewer at a time, or an archive"
            )));
        }
        Ok(())
    }
}
