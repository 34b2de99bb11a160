//! Files only the user may read, in the CLI's state directory: what an interrupted
//! `ferry send` or `ferry receive` keeps so that running the same command again resumes.
use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// `$FERRY_STATE_DIR`, else `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`; `None`
/// when none is set (nothing is then kept, so nothing resumes).
pub(crate) fn state_dir() -> Option<PathBuf> {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("FERRY_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("ferry")))
        .or_else(|| env("HOME").map(|d| d.join(".local/state/ferry")))
}

/// Options that create a file with mode 0600.
pub(crate) fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `dir` (and its parents) with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(Error::io("cannot create the state directory"))
}

/// Replaces `path` with `bytes` atomically: a 0600 temporary file beside it, synced, then
/// renamed over it, so a crash leaves the old contents or the new, never a mix. `what`
/// names the file in errors.
pub(crate) fn replace_private(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let dir = path.parent().expect("a file in a directory");
    create_private_dir(dir)?;
    let fail = || Error::io(format!("cannot write {what}"));
    // tempfile creates its files with mode 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail())?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(fail())?;
    tmp.persist(path).map_err(|e| fail()(e.error))?;
    Ok(())
}
