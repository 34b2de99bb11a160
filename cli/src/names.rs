//! Where a download lands, and guessing a media type on send. Cleaning the sender's
//! names is [`ferry_common::names`]'s.
use std::path::{Path, PathBuf};

pub use ferry_common::names::{FALLBACK_NAME, numbered, sanitize};

use crate::error::{Error, Result};

/// Where the download goes: `-o DIR` → `DIR/name`, `-o FILE` → `FILE`, none → `./name`.
pub fn resolve_target(output: Option<&Path>, clean_name: &str) -> Result<PathBuf> {
    match output {
        None => Ok(PathBuf::from(clean_name)),
        Some(p) if p.is_dir() => Ok(p.join(clean_name)),
        Some(p) => {
            let text = p.as_os_str().to_string_lossy();
            if text.ends_with('/') {
                return Err(Error::Usage(format!(
                    "the directory {} does not exist",
                    p.display()
                )));
            }
            let parent = parent_dir(p);
            if !parent.is_dir() {
                return Err(Error::Usage(format!(
                    "the directory {} does not exist",
                    parent.display()
                )));
            }
            Ok(p.to_path_buf())
        }
    }
}

/// The directory a path's file lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A media type from the file extension, for the receiver's browser; empty when unknown.
pub fn media_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "7z" => "application/x-7z-compressed",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_target(None, "a.txt").unwrap(),
            PathBuf::from("a.txt")
        );
        assert_eq!(
            resolve_target(Some(dir.path()), "a.txt").unwrap(),
            dir.path().join("a.txt")
        );
        let file = dir.path().join("out.bin");
        assert_eq!(resolve_target(Some(&file), "a.txt").unwrap(), file);
        let missing = dir.path().join("nope").join("out.bin");
        assert_eq!(
            resolve_target(Some(&missing), "a.txt")
                .unwrap_err()
                .exit_code(),
            2
        );
        assert_eq!(parent_dir(Path::new("x")), PathBuf::from("."));
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type(Path::new("a.PNG")), "image/png");
        assert_eq!(media_type(Path::new("a")), "");
    }
}
