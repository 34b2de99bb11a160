//! What a drop or a file picker gave the page, as [`Picked`] entries with relative paths:
//! files chosen one by one keep their names; a folder (dropped, or chosen with the folder
//! picker) brings every file under it with its path below the folder, and a dropped
//! folder its empty folders too.
//!
//! A dropped folder is read through the File and Directory Entries API
//! (`webkitGetAsEntry`), one directory listing at a time, and reading stops at
//! [`READ_LIMIT`] entries or [`DEPTH_LIMIT`] levels so that a huge or self-containing
//! folder ends in a clear refusal instead of a page that lists forever.
use js_sys::{Array, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DataTransfer, File, FileList, FileSystemDirectoryEntry, FileSystemEntry, FileSystemFileEntry,
};

use crate::selection::{DEPTH_LIMIT, Picked, READ_LIMIT};

/// A file as picked: `path` its place in the share.
fn picked(file: File, path: String) -> Picked<File> {
    let mtime = file.last_modified();
    Picked::File {
        path,
        size: file.size() as u64,
        mtime: (mtime.is_finite() && mtime > 0.0).then_some(mtime as i64),
        handle: file,
    }
}

/// The files of a file input: each under its path within the chosen folder
/// (`webkitRelativePath`), or its name when files were chosen one by one.
pub fn from_input(files: &FileList) -> Vec<Picked<File>> {
    (0..files.length())
        .filter_map(|i| files.get(i))
        .map(|f| {
            let relative = js_sys::Reflect::get(&f, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let path = if relative.is_empty() {
                f.name()
            } else {
                relative
            };
            picked(f, path)
        })
        .collect()
}

/// One dropped item, to be read by [`walk`]. Must be taken while the drop event is being
/// handled: the browser empties the `DataTransfer` afterwards.
pub enum Dropped {
    /// A file, read as it is.
    File(File),
    /// A folder, read through the Entries API.
    Folder(FileSystemEntry),
}

/// Takes what a drop carries: folders as entries (where the browser has the Entries API),
/// files as files.
pub fn dropped(transfer: &DataTransfer) -> Vec<Dropped> {
    let items = transfer.items();
    (0..items.length())
        .filter_map(|i| items.get(i))
        .filter(|item| item.kind() == "file")
        .filter_map(|item| match item.webkit_get_as_entry().ok().flatten() {
            Some(entry) if entry.is_directory() => Some(Dropped::Folder(entry)),
            _ => item.get_as_file().ok().flatten().map(Dropped::File),
        })
        .collect()
}

/// Reads what was dropped: the files, and every file under the dropped folders with paths
/// from the dropped folder down, and the empty folders. `true` beside it when reading
/// stopped at [`READ_LIMIT`] entries. A folder [`DEPTH_LIMIT`] levels down is not read: it
/// is listed as an empty folder whose path is too deep, which the selection's check
/// refuses.
pub async fn walk(dropped: Vec<Dropped>) -> (Vec<Picked<File>>, bool) {
    let mut found = Vec::new();
    // Depth-first, bounded by READ_LIMIT entries in all.
    let mut stack: Vec<(FileSystemEntry, String, usize)> = Vec::new();
    for item in dropped.into_iter().rev() {
        match item {
            Dropped::File(file) => {
                let name = file.name();
                found.push(picked(file, name));
            }
            Dropped::Folder(entry) => {
                let name = entry.name();
                stack.push((entry, name, 1));
            }
        }
    }
    found.reverse();
    while let Some((entry, path, depth)) = stack.pop() {
        if found.len() >= READ_LIMIT {
            return (found, true);
        }
        if entry.is_file() {
            if let Some(file) = file_of(entry.unchecked_into()).await {
                found.push(picked(file, path));
            }
            continue;
        }
        if !entry.is_directory() {
            continue;
        }
        if depth >= DEPTH_LIMIT {
            // Too deep to send: listed as it is, so that the refusal names it.
            found.push(Picked::EmptyDir { path });
            continue;
        }
        let Some(children) = list(entry.unchecked_into()).await else {
            continue;
        };
        if children.is_empty() {
            found.push(Picked::EmptyDir { path });
            continue;
        }
        for child in children.into_iter().rev() {
            let child_path = format!("{path}/{}", child.name());
            stack.push((child, child_path, depth + 1));
        }
        if stack.len() > READ_LIMIT {
            return (found, true);
        }
    }
    (found, false)
}

/// A file entry's `File` (`None` when the browser cannot read it, e.g. removed since).
async fn file_of(entry: FileSystemFileEntry) -> Option<File> {
    let promise = Promise::new(&mut |resolve, reject| {
        entry.file_with_callback_and_callback(&resolve, &reject);
    });
    JsFuture::from(promise).await.ok()?.dyn_into().ok()
}

/// Every entry of a folder: `readEntries` gives them a batch at a time until an empty
/// batch, and stops early past [`READ_LIMIT`].
async fn list(dir: FileSystemDirectoryEntry) -> Option<Vec<FileSystemEntry>> {
    let reader = dir.create_reader();
    let mut all = Vec::new();
    loop {
        let promise = Promise::new(&mut |resolve, reject| {
            let _ = reader.read_entries_with_callback_and_callback(&resolve, &reject);
        });
        let batch: Array = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
        if batch.length() == 0 || all.len() > READ_LIMIT {
            return Some(all);
        }
        // Unchecked: Chromium gives entries whose interfaces it does not expose by name,
        // so an `instanceof` check would drop them all.
        all.extend(batch.iter().map(JsCast::unchecked_into::<FileSystemEntry>));
    }
}
