//! The one `File` the transfer worker reads for a selection: the chosen file itself, or
//! for several files their bytes one after the other (a `File` built from the others,
//! which the browser reads from the originals as it goes, so nothing is copied) with the
//! manifest that says where each ends.
use ferry_common::{
    b64,
    manifest::{ManifestError, ManifestFile},
};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsValue;
use web_sys::{File, FilePropertyBag};

use crate::{selection::Selection, tr};

/// What the worker is given to send.
pub struct Bundle {
    /// The bytes to send.
    pub file: File,
    /// For several files: the manifest's files (empty for a share of one file).
    pub files: Vec<ManifestFile>,
    /// For several files: the empty folders.
    pub dirs: Vec<String>,
}

/// The bundle for `selection`, or why it cannot be sent (a sentence for people).
pub fn of(selection: &Selection<File>) -> Result<Bundle, String> {
    if let Some(file) = selection.single() {
        return Ok(Bundle {
            file: file.clone(),
            files: Vec::new(),
            dirs: Vec::new(),
        });
    }
    let (manifest, handles) = selection.manifest().map_err(|e| refusal(&e))?;
    let parts: js_sys::Array = handles.into_iter().map(JsValue::from).collect();
    let options = FilePropertyBag::new();
    let newest = manifest.files.iter().filter_map(|f| f.mtime).max();
    options.set_last_modified(newest.unwrap_or(0) as f64);
    let file = File::new_with_blob_sequence_and_options(
        &parts,
        &identity(&manifest.files, &manifest.dirs),
        &options,
    )
    .map_err(|_| tr!("bundle-failed"))?;
    Ok(Bundle {
        file,
        files: manifest.files,
        dirs: manifest.dirs,
    })
}

/// Why a selection cannot be sent, in the current language.
pub fn refusal(e: &ManifestError) -> String {
    let why = match e {
        ManifestError::Empty => tr!("manifest-empty"),
        ManifestError::TooManyEntries { max } => tr!("manifest-too-many", max = *max),
        ManifestError::PathTooLong { path, max } => {
            tr!("manifest-too-long", path = format!("{path:?}"), max = *max)
        }
        ManifestError::TooDeep { path, max } => {
            tr!("manifest-too-deep", path = format!("{path:?}"), max = *max)
        }
        ManifestError::NotRelative { path } => {
            tr!("manifest-not-relative", path = format!("{path:?}"))
        }
        _ => e.to_string(),
    };
    tr!("selection-refused", why = why)
}

/// The bundle's name: a digest of its manifest. An interrupted upload is continued only
/// with a file of the same name and modification time (and then every chunk sent before is
/// compared), so the same selection continues it and another one does not. The name stays
/// in this browser, sealed in the record of the upload (`ferry_worker::pending`).
fn identity(files: &[ManifestFile], dirs: &[String]) -> String {
    let mut digest = Sha256::new();
    // unwrap: plain structs always serialise.
    digest.update(serde_json::to_vec(&(files, dirs)).expect("manifest serialises"));
    format!("files-{}", b64::encode(&digest.finalize()))
}
