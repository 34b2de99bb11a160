//! A share of several files, received as one ZIP: its name, its listing for the page and
//! its layout (`ferry_common::zip`), which the service worker or the Blob sink fills in
//! with the files' bytes and CRCs as they are decrypted.
use ferry_common::{
    Manifest,
    manifest::{EntryKind, Plan},
    zip::{self, Piece},
};
use ferry_worker::ListedEntry;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;

/// The ZIP a share of several files is saved as.
pub struct Archive {
    /// Its name: the single top-level folder's, or `ferry-download`, with `.zip`.
    pub name: String,
    /// Its layout.
    pub pieces: Vec<Piece>,
    /// Its length in bytes.
    pub len: u64,
    /// Files in the manifest.
    pub files: usize,
    /// What the page lists.
    pub entries: Vec<ListedEntry>,
}

impl Archive {
    /// The archive of `manifest`, with safe, unique names (`Manifest::plan`).
    pub fn new(manifest: &Manifest) -> Archive {
        let plan = manifest.plan();
        let pieces = zip::layout(&plan);
        Archive {
            name: name(&plan),
            len: zip::archive_len(&pieces),
            pieces,
            files: manifest.files.len(),
            entries: plan
                .iter()
                .map(|e| ListedEntry {
                    path: e.zip_name(),
                    size: match e.kind {
                        EntryKind::File { size, .. } => Some(size),
                        EntryKind::Dir => None,
                    },
                })
                .collect(),
        }
    }

    /// The layout for the service worker: `{b: bytes}`, `{d: size, f: file}` (the file's
    /// plaintext) and `{c: file}` (its CRC-32, little-endian).
    pub fn to_js(&self) -> Array {
        let set = |o: &Object, k: &str, v: JsValue| {
            let _ = Reflect::set(o, &k.into(), &v);
        };
        self.pieces
            .iter()
            .map(|piece| {
                let o = Object::new();
                match piece {
                    Piece::Bytes(b) => set(&o, "b", Uint8Array::from(&b[..]).into()),
                    Piece::Data { file, size } => {
                        set(&o, "d", (*size as f64).into());
                        set(&o, "f", (*file as f64).into());
                    }
                    Piece::Crc { file } => set(&o, "c", (*file as f64).into()),
                }
                JsValue::from(o)
            })
            .collect()
    }
}

/// `folder.zip` when everything is in one top-level folder, else `ferry-download.zip`.
fn name(plan: &Plan) -> String {
    let first = &plan[0];
    let one_folder = plan
        .iter()
        .all(|e| e.path.len() > 1 && e.path[0] == first.path[0]);
    if one_folder {
        format!("{}.zip", first.path[0])
    } else {
        "ferry-download.zip".into()
    }
}
