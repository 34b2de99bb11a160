//! The manifest of a share of several files and folders: their relative paths, sizes and
//! modification times, sealed like a single file's metadata (`docs/FORMAT.md` §4.1).
//!
//! The payload is every file's bytes, one after the other in the manifest's order, as one
//! STREAM: the chunks know nothing of file boundaries, so one tag check covers the whole
//! share and a file cut short, swapped or reordered fails like any other alteration.
//!
//! Paths come from the sender and are hostile input to the recipient. [`Manifest::check`]
//! refuses what can only be an attack or a broken writer (an absolute path, `..`, an
//! empty component, more entries or depth than the limits); [`Manifest::plan`] then turns
//! every remaining path into one that is safe to create on Linux, macOS and Windows alike
//! ([`crate::names::sanitize`] per component) and renames clashes (`a.txt` and `A.txt`,
//! a file and a folder of the same name) instead of letting one entry replace another.
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

use crate::names::{numbered, sanitize};

/// Most entries (files and empty folders) in one share.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest relative path, in UTF-8 bytes.
pub const MAX_PATH_LEN: usize = 1024;
/// Most folders a path may pass through, plus its final name.
pub const MAX_DEPTH: usize = 32;
/// The JSON member that marks a manifest and gives its version.
pub(crate) const VERSION: u32 = 2;

/// Why a manifest is refused, when a sender builds one or a recipient opens one.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// No files and no folders.
    #[error("there is nothing to send")]
    Empty,
    /// More entries than [`MAX_ENTRIES`].
    #[error("too many files and folders (at most {max})")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// A path longer than [`MAX_PATH_LEN`] bytes.
    #[error("the path {path:?} is too long (at most {max} bytes)")]
    PathTooLong {
        /// The start of the path, for the message.
        path: String,
        /// The limit.
        max: usize,
    },
    /// A path deeper than [`MAX_DEPTH`].
    #[error("the path {path:?} is too deep (at most {max} levels)")]
    TooDeep {
        /// The start of the path, for the message.
        path: String,
        /// The limit.
        max: usize,
    },
    /// An absolute path, or one with an empty, `.` or `..` component.
    #[error("the path {path:?} is not a plain relative path")]
    NotRelative {
        /// The start of the path, for the message.
        path: String,
    },
    /// The files' sizes do not add up to the manifest's total.
    #[error("the sizes of the files do not add up to the total")]
    SizeMismatch,
}

/// One file of a share, in payload order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative path, components separated by `/`.
    pub path: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Modification time in milliseconds since the Unix epoch, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
}

/// The files and empty folders of a share.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Every file, in the order its bytes appear in the payload.
    pub files: Vec<ManifestFile>,
    /// Folders with nothing in them (others are implied by the files' paths).
    pub dirs: Vec<String>,
}

/// One entry of a [`Plan`]: where it goes and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedEntry {
    /// Safe path components (never empty, `.` or `..`; no separators).
    pub path: Vec<String>,
    /// A file (with its place in the manifest) or a folder.
    pub kind: EntryKind,
    /// Modification time in milliseconds since the Unix epoch, when known.
    pub mtime: Option<i64>,
}

/// What a [`PlannedEntry`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// The file at this index of [`Manifest::files`], of this many bytes.
    File {
        /// Index in [`Manifest::files`] (and so in the payload's order).
        index: usize,
        /// Size in bytes.
        size: u64,
    },
    /// An empty folder.
    Dir,
}

impl PlannedEntry {
    /// The path with `/` between components, as a ZIP entry names it (folders end in `/`).
    pub fn zip_name(&self) -> String {
        let joined = self.path.join("/");
        match self.kind {
            EntryKind::Dir => joined + "/",
            EntryKind::File { .. } => joined,
        }
    }
}

/// Every entry of a manifest with a safe, unique path: files first in payload order, then
/// the empty folders.
pub type Plan = Vec<PlannedEntry>;

impl Manifest {
    /// Total plaintext size of the files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Number of files and folders.
    pub fn entries(&self) -> usize {
        self.files.len() + self.dirs.len()
    }

    /// Refuses a manifest outside the limits or with a path that is not a plain relative
    /// path. Writers call it before sealing, readers after opening.
    pub fn check(&self) -> Result<(), ManifestError> {
        if self.entries() == 0 {
            return Err(ManifestError::Empty);
        }
        if self.entries() > MAX_ENTRIES {
            return Err(ManifestError::TooManyEntries { max: MAX_ENTRIES });
        }
        let paths = self.files.iter().map(|f| f.path.as_str());
        paths
            .chain(self.dirs.iter().map(String::as_str))
            .try_for_each(check_path)?;
        self.files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.size))
            .map(|_| ())
            .ok_or(ManifestError::SizeMismatch)
    }

    /// Safe, unique paths for every entry (see the module docs). Call after [`check`].
    ///
    /// [`check`]: Manifest::check
    pub fn plan(&self) -> Plan {
        let mut tree = Tree::default();
        let files = self.files.iter().enumerate().map(|(index, f)| {
            let kind = EntryKind::File {
                index,
                size: f.size,
            };
            (tree.place(&f.path, kind), kind, f.mtime)
        });
        let mut plan: Plan = files
            .map(|(path, kind, mtime)| PlannedEntry { path, kind, mtime })
            .collect();
        for dir in &self.dirs {
            let path = tree.place(dir, EntryKind::Dir);
            plan.push(PlannedEntry {
                path,
                kind: EntryKind::Dir,
                mtime: None,
            });
        }
        plan
    }
}

/// A path's first 64 bytes (on a character boundary), for messages.
fn shown(path: &str) -> String {
    let mut end = path.len().min(64);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

fn check_path(path: &str) -> Result<(), ManifestError> {
    if path.len() > MAX_PATH_LEN {
        return Err(ManifestError::PathTooLong {
            path: shown(path),
            max: MAX_PATH_LEN,
        });
    }
    let mut depth = 0;
    for component in path.split('/') {
        if matches!(component, "" | "." | "..") {
            return Err(ManifestError::NotRelative { path: shown(path) });
        }
        depth += 1;
    }
    if depth > MAX_DEPTH {
        return Err(ManifestError::TooDeep {
            path: shown(path),
            max: MAX_DEPTH,
        });
    }
    Ok(())
}

/// The folders placed so far, to merge entries of one folder and rename clashes.
#[derive(Default)]
struct Tree {
    nodes: Vec<Node>,
}

/// One folder: the names taken in it (folded, see [`fold`]), its subfolders by the folded
/// name the sender gave them (with the name each got), and the next `(n)` to try per name.
#[derive(Default)]
struct Node {
    taken: HashSet<String>,
    subdirs: HashMap<String, (String, usize)>,
    next_number: HashMap<String, u32>,
}

impl Tree {
    /// Places `path` and returns its safe components. Folders of the same (folded) name
    /// merge; anything else that would land on a taken name gets `name (n)`.
    fn place(&mut self, path: &str, kind: EntryKind) -> Vec<String> {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let components: Vec<&str> = path.split('/').collect();
        // unwrap: `split` yields at least one item.
        let (last, parents) = components.split_last().expect("one component");
        let mut node = 0;
        let mut out = Vec::with_capacity(components.len());
        for component in parents {
            let (name, child) = self.enter(node, &sanitize(component));
            out.push(name);
            node = child;
        }
        let name = sanitize(last);
        out.push(match kind {
            EntryKind::Dir => self.enter(node, &name).0,
            EntryKind::File { .. } => self.nodes[node].claim(&name),
        });
        out
    }

    /// The subfolder `name` of `node`, made (under a free name) if it does not exist.
    fn enter(&mut self, node: usize, name: &str) -> (String, usize) {
        let key = fold(name);
        if let Some(found) = self.nodes[node].subdirs.get(&key) {
            return found.clone();
        }
        let actual = self.nodes[node].claim(name);
        let child = self.nodes.len();
        self.nodes.push(Node::default());
        self.nodes[node]
            .subdirs
            .insert(key, (actual.clone(), child));
        (actual, child)
    }
}

impl Node {
    /// Takes `name`, or the first free `name (n)`.
    fn claim(&mut self, name: &str) -> String {
        let key = fold(name);
        if self.taken.insert(key.clone()) {
            return name.to_owned();
        }
        let next = self.next_number.entry(key).or_insert(2);
        loop {
            let candidate = numbered(name, *next);
            *next += 1;
            if self.taken.insert(fold(&candidate)) {
                return candidate;
            }
        }
    }
}

/// The form under which two names clash on a case-insensitive, normalising file system
/// (Windows, macOS): NFC, then lower case.
fn fold(name: &str) -> String {
    name.nfc().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            size,
            mtime: None,
        }
    }

    fn manifest(files: &[&str], dirs: &[&str]) -> Manifest {
        Manifest {
            files: files.iter().map(|p| file(p, 1)).collect(),
            dirs: dirs.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    fn planned(m: &Manifest) -> Vec<String> {
        m.check().unwrap();
        m.plan().iter().map(PlannedEntry::zip_name).collect()
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        for path in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/./b",
            ".",
            "..",
            "",
            "a/",
            "x/..",
        ] {
            assert!(
                matches!(
                    manifest(&[path], &[]).check(),
                    Err(ManifestError::NotRelative { .. })
                ),
                "{path:?}"
            );
            assert!(manifest(&["ok"], &[path]).check().is_err(), "dir {path:?}");
        }
    }

    #[test]
    fn limits_are_refused() {
        assert_eq!(manifest(&[], &[]).check(), Err(ManifestError::Empty));
        let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("f{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            manifest(&refs, &[]).check(),
            Err(ManifestError::TooManyEntries { max: MAX_ENTRIES })
        );
        assert!(manifest(&refs[..MAX_ENTRIES], &[]).check().is_ok());
        let deep = vec!["d"; MAX_DEPTH + 1].join("/");
        assert!(matches!(
            manifest(&[&deep], &[]).check(),
            Err(ManifestError::TooDeep { .. })
        ));
        assert!(
            manifest(&[&vec!["d"; MAX_DEPTH].join("/")], &[])
                .check()
                .is_ok()
        );
        let long = "x".repeat(MAX_PATH_LEN + 1);
        assert!(matches!(
            manifest(&[&long], &[]).check(),
            Err(ManifestError::PathTooLong { .. })
        ));
        let overflow = Manifest {
            files: vec![file("a", u64::MAX), file("b", 1)],
            dirs: vec![],
        };
        assert_eq!(overflow.check(), Err(ManifestError::SizeMismatch));
    }

    #[test]
    fn hostile_names_are_made_safe() {
        assert_eq!(
            planned(&manifest(
                &[
                    "C:\\Windows\\x.dll",
                    "a\\..\\..\\b",
                    "con/aux.txt",
                    ".ssh/id",
                    "d/e\u{202e}gpj.exe"
                ],
                &[]
            )),
            [
                "C__Windows_x.dll",
                "a_.._.._b",
                "_con/_aux.txt",
                "ssh/id",
                "d/e_gpj.exe"
            ]
        );
    }

    #[test]
    fn clashes_are_renamed_not_replaced() {
        assert_eq!(
            planned(&manifest(
                &["a.txt", "A.txt", "a.txt", "x", "x/y", "X/z"],
                &["x", "e"]
            )),
            [
                "a.txt",
                "A (2).txt",
                "a (3).txt",
                "x",
                "x (2)/y",
                "x (2)/z",
                "x (2)/",
                "e/"
            ]
        );
        // NFC and NFD spellings of one name clash on macOS.
        assert_eq!(
            planned(&manifest(&["caf\u{e9}", "cafe\u{301}"], &[])),
            ["caf\u{e9}", "cafe\u{301} (2)"]
        );
        // A name that sanitises to a taken one is numbered too.
        assert_eq!(planned(&manifest(&["a:b", "a_b"], &[])), ["a_b", "a_b (2)"]);
    }

    #[test]
    fn folders_merge_and_keep_the_sender_order() {
        let m = manifest(&["p/1", "q/2", "p/3"], &["p/empty"]);
        assert_eq!(planned(&m), ["p/1", "q/2", "p/3", "p/empty/"]);
        let plan = m.plan();
        assert_eq!(plan[2].kind, EntryKind::File { index: 2, size: 1 });
        assert_eq!(plan[3].kind, EntryKind::Dir);
        assert_eq!(m.total_size(), 3);
    }
}
