//! What the send page will send: the files and folders a person dropped or chose, grouped
//! as they were picked (a file, or a folder with everything in it) so that each can be
//! removed again, and turned into a share's manifest (`docs/FORMAT.md` §4.1).
//!
//! Generic over the file handle (`web_sys::File` in the page) so that the rules are tested
//! natively.
use ferry_common::manifest::{MAX_DEPTH, MAX_ENTRIES, Manifest, ManifestError, ManifestFile};

/// One thing found in what was dropped or chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Picked<F> {
    /// A file at `path` (relative, `/`-separated; a lone file's path is its name).
    File {
        /// Where it goes in the share.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// Its modification time, milliseconds since the Unix epoch.
        mtime: Option<i64>,
        /// Where its bytes are read from.
        handle: F,
    },
    /// A folder with nothing in it.
    EmptyDir {
        /// Where it goes in the share.
        path: String,
    },
}

impl<F> Picked<F> {
    fn path(&self) -> &str {
        match self {
            Picked::File { path, .. } | Picked::EmptyDir { path } => path,
        }
    }

    /// The first component of the path: the name of what was picked.
    fn top(&self) -> &str {
        let path = self.path();
        path.split_once('/').map_or(path, |(top, _)| top)
    }
}

/// A file or a folder as it was picked, with everything found in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Item<F> {
    /// The file's or folder's name.
    pub name: String,
    /// True for a folder (even one holding a single file).
    pub folder: bool,
    entries: Vec<Picked<F>>,
}

impl<F> Item<F> {
    /// Files in it.
    pub fn files(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Picked::File { .. }))
            .count()
    }

    /// Empty folders in it (the folder itself, when it is empty).
    pub fn empty_dirs(&self) -> usize {
        self.entries.len() - self.files()
    }

    /// Bytes in all its files.
    pub fn size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e {
                Picked::File { size, .. } => *size,
                Picked::EmptyDir { .. } => 0,
            })
            .sum()
    }
}

/// Everything chosen so far, in the order it was picked.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection<F> {
    items: Vec<Item<F>>,
    /// Set when a folder held more entries than a share may, and reading it stopped there.
    overflowed: bool,
}

impl<F> Default for Selection<F> {
    fn default() -> Self {
        Selection {
            items: Vec::new(),
            overflowed: false,
        }
    }
}

/// Stop reading a dropped folder after this many entries: one more than a share may hold,
/// so that the limit is reported instead of a folder of millions being listed.
pub const READ_LIMIT: usize = MAX_ENTRIES + 1;

/// Do not descend into a dropped folder deeper than this: one level past what a share
/// may hold, so that the limit is reported (and a folder that contains itself ends).
pub const DEPTH_LIMIT: usize = MAX_DEPTH + 1;

impl<F> Selection<F> {
    /// Adds what one drop or one pick found. Entries are grouped by their first path
    /// component; an item of the same name as one already chosen replaces it (the same
    /// file or folder picked again). `overflowed`: the walk stopped at [`READ_LIMIT`].
    pub fn add(&mut self, picked: Vec<Picked<F>>, overflowed: bool) {
        self.overflowed |= overflowed;
        let mut added: Vec<Item<F>> = Vec::new();
        for entry in picked {
            let (name, folder) = (entry.top().to_owned(), entry.path().contains('/'));
            let folder = folder || matches!(entry, Picked::EmptyDir { .. });
            match added.iter_mut().find(|i| i.name == name) {
                Some(item) => item.entries.push(entry),
                None => added.push(Item {
                    name,
                    folder,
                    entries: vec![entry],
                }),
            }
        }
        for item in added {
            match self.items.iter_mut().find(|i| i.name == item.name) {
                Some(old) => *old = item,
                None => self.items.push(item),
            }
        }
    }

    /// Removes the item at `index` (as [`Selection::items`] lists them).
    pub fn remove(&mut self, index: usize) {
        if index < self.items.len() {
            self.items.remove(index);
        }
        if self.items.is_empty() {
            self.overflowed = false;
        }
    }

    /// The items, in the order they were picked.
    pub fn items(&self) -> &[Item<F>] {
        &self.items
    }

    /// Nothing chosen.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes in all the files.
    pub fn size(&self) -> u64 {
        self.items.iter().map(Item::size).sum()
    }

    /// Files in all.
    pub fn files(&self) -> usize {
        self.items.iter().map(Item::files).sum()
    }

    /// Empty folders in all.
    pub fn empty_dirs(&self) -> usize {
        self.items.iter().map(Item::empty_dirs).sum()
    }

    /// The one file chosen, when the selection is a single file outside any folder: it is
    /// sent as a share of one file, which every release of Ferry opens.
    pub fn single(&self) -> Option<&F> {
        match self.items.as_slice() {
            [
                Item {
                    folder: false,
                    entries,
                    ..
                },
            ] => match entries.as_slice() {
                [Picked::File { handle, .. }] => Some(handle),
                _ => None,
            },
            _ => None,
        }
    }

    /// The share's manifest and the files' handles in the same (payload) order, or why
    /// this selection cannot be sent.
    pub fn manifest(&self) -> Result<(Manifest, Vec<&F>), ManifestError> {
        if self.overflowed {
            return Err(ManifestError::TooManyEntries { max: MAX_ENTRIES });
        }
        let mut manifest = Manifest::default();
        let mut handles = Vec::new();
        for entry in self.items.iter().flat_map(|i| &i.entries) {
            match entry {
                Picked::File {
                    path,
                    size,
                    mtime,
                    handle,
                } => {
                    manifest.files.push(ManifestFile {
                        path: path.clone(),
                        size: *size,
                        mtime: *mtime,
                    });
                    handles.push(handle);
                }
                Picked::EmptyDir { path } => manifest.dirs.push(path.clone()),
            }
        }
        manifest.check()?;
        Ok((manifest, handles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> Picked<u32> {
        Picked::File {
            path: path.into(),
            size,
            mtime: Some(1_700_000_000_000),
            handle: size as u32,
        }
    }

    fn dir(path: &str) -> Picked<u32> {
        Picked::EmptyDir { path: path.into() }
    }

    #[test]
    fn a_lone_file_is_a_single_file_share() {
        let mut s = Selection::default();
        s.add(vec![file("a.pdf", 7)], false);
        assert_eq!(s.single(), Some(&7));
        assert_eq!((s.files(), s.size()), (1, 7));
        // A folder holding one file is not.
        let mut s = Selection::default();
        s.add(vec![file("photos/a.jpg", 7)], false);
        assert_eq!(s.single(), None);
        assert!(s.items()[0].folder);
    }

    #[test]
    fn picks_group_by_what_was_picked_and_can_be_removed() {
        let mut s = Selection::default();
        s.add(
            vec![
                file("a.pdf", 1),
                file("photos/x.jpg", 2),
                file("photos/y/z.jpg", 3),
            ],
            false,
        );
        s.add(vec![dir("empty"), file("b.png", 4)], false);
        let names: Vec<_> = s.items().iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a.pdf", "photos", "empty", "b.png"]);
        assert_eq!((s.items()[1].files(), s.items()[1].size()), (2, 5));
        assert_eq!((s.files(), s.empty_dirs(), s.size()), (4, 1, 10));
        assert!(s.items()[2].folder);
        s.remove(1);
        let (manifest, handles) = s.manifest().unwrap();
        let paths: Vec<_> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.pdf", "b.png"]);
        assert_eq!(manifest.dirs, ["empty"]);
        assert_eq!(handles, [&1, &4], "handles follow the payload order");
        assert_eq!(manifest.total_size(), 5);
    }

    #[test]
    fn the_same_name_picked_again_replaces_it() {
        let mut s = Selection::default();
        s.add(vec![file("photos/old.jpg", 1), file("a.txt", 2)], false);
        s.add(vec![file("photos/new.jpg", 5)], false);
        assert_eq!(s.items().len(), 2);
        assert_eq!(s.items()[0].size(), 5);
        assert_eq!(s.manifest().unwrap().0.files[0].path, "photos/new.jpg");
    }

    #[test]
    fn limits_are_refused_before_upload() {
        let mut s = Selection::<u32>::default();
        assert_eq!(s.manifest().unwrap_err(), ManifestError::Empty);
        s.add(vec![file("a.txt", 1)], true);
        assert_eq!(
            s.manifest().unwrap_err(),
            ManifestError::TooManyEntries { max: MAX_ENTRIES }
        );
        s.remove(0);
        let deep = vec!["d"; MAX_DEPTH].join("/") + "/f";
        s.add(vec![file(&deep, 1)], false);
        assert!(matches!(
            s.manifest().unwrap_err(),
            ManifestError::TooDeep { .. }
        ));
        s.remove(0);
        s.add(vec![file(&"n".repeat(1025), 1)], false);
        assert!(matches!(
            s.manifest().unwrap_err(),
            ManifestError::PathTooLong { .. }
        ));
    }
}
