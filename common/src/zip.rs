//! A share of several files as one ZIP archive (STORE, ZIP64 where needed), laid out
//! before a byte of it is decrypted.
//!
//! Every size is known from the manifest, so the whole archive is fixed in advance but for
//! each file's CRC-32: [`layout`] returns it as [`Piece`]s, bytes to write as they are,
//! a file's plaintext to pass through, and the place where a file's CRC goes once its
//! bytes went by. Whoever streams the payload (the browser's service worker, in its own
//! language, or [`Renderer`] here) only fills in the CRCs, so the archive is written in
//! one pass with memory that does not grow with the files' sizes, and its exact length is
//! known at once (a download with a `Content-Length`).
//!
//! Files carry general-purpose flag bit 3 (their CRC follows in a data descriptor) and
//! bit 11 (UTF-8 names); times are the DOS fields plus the extended-timestamp field
//! (0x5455) in UTC. ZIP64 fields appear exactly where a size or offset reaches 2³² − 1 or
//! the entries exceed 65,535 (APPNOTE 6.3.10, sections 4.3.7-4.3.16, 4.5.3).
use crate::{
    manifest::{EntryKind, PlannedEntry},
    utc,
};

/// One part of the archive, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes written as they are.
    Bytes(Vec<u8>),
    /// The plaintext of file `file` (its index in the manifest), `size` bytes, which also
    /// go into its CRC-32.
    Data {
        /// Index in the manifest.
        file: usize,
        /// Bytes.
        size: u64,
    },
    /// The CRC-32 of file `file`, 4 bytes little-endian, once its data went by.
    Crc {
        /// Index in the manifest.
        file: usize,
    },
}

const LOCAL: u32 = 0x0403_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
/// Flag bits: 3 (sizes and CRC in a data descriptor) and 11 (UTF-8 names).
const FLAGS_FILE: u16 = 0x0808;
const FLAGS_DIR: u16 = 0x0800;
/// "Made by" Unix (3), specification 4.5, so the Unix modes in the attributes count.
const MADE_BY: u16 = 0x032d;
const NEEDS: u16 = 20;
const NEEDS64: u16 = 45;
/// `-rw-r--r--` and `drwxr-xr-x` (plus MS-DOS's directory bit), high 16 bits.
const ATTR_FILE: u32 = 0o100_644 << 16;
const ATTR_DIR: u32 = (0o040_755 << 16) | 0x10;
const MAX32: u64 = 0xffff_ffff;

/// The archive of `plan`'s entries, in order (see the module docs).
pub fn layout(plan: &[PlannedEntry]) -> Vec<Piece> {
    let mut out = Out::default();
    let mut central = Out::default();
    for entry in plan {
        let name = entry.zip_name();
        let offset = out.len;
        let time = Time::of(entry.mtime);
        match entry.kind {
            EntryKind::File { index, size } => {
                let big = size >= MAX32;
                out.local_header(&name, &time, true, big);
                out.push(Piece::Data { file: index, size });
                out.u32(DESCRIPTOR);
                out.push(Piece::Crc { file: index });
                out.sizes(size, big);
                central.central_header(&name, &time, Some((index, size)), offset);
            }
            EntryKind::Dir => {
                out.local_header(&name, &time, false, false);
                central.central_header(&name, &time, None, offset);
            }
        }
    }
    let (start, size) = (out.len, central.len);
    out.pieces.extend(central.pieces);
    out.len += size;
    out.end(plan.len() as u64, start, size);
    out.pieces
}

/// The archive's length in bytes.
pub fn archive_len(pieces: &[Piece]) -> u64 {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Data { size, .. } => *size,
            Piece::Crc { .. } => 4,
        })
        .sum()
}

/// An archive being laid out: its pieces (adjacent bytes merged) and length so far.
#[derive(Default)]
struct Out {
    pieces: Vec<Piece>,
    len: u64,
}

impl Out {
    fn push(&mut self, piece: Piece) {
        self.len += archive_len(std::slice::from_ref(&piece));
        self.pieces.push(piece);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if let Some(Piece::Bytes(last)) = self.pieces.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.pieces.push(Piece::Bytes(bytes.to_vec()));
        }
    }

    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// A 32-bit field, or its ZIP64 marker.
    fn u32_or_max(&mut self, v: u64) {
        self.u32(
            u32::try_from(v)
                .ok()
                .filter(|&v| u64::from(v) < MAX32)
                .unwrap_or(u32::MAX),
        );
    }

    /// A data descriptor's two sizes (STORE: compressed = uncompressed).
    fn sizes(&mut self, size: u64, big: bool) {
        for _ in 0..2 {
            if big {
                self.u64(size);
            } else {
                self.u32_or_max(size);
            }
        }
    }

    /// A file's (`is_file`) or a folder's local header; `big`: the file needs ZIP64.
    fn local_header(&mut self, name: &str, time: &Time, is_file: bool, big: bool) {
        self.u32(LOCAL);
        self.u16(if big { NEEDS64 } else { NEEDS });
        self.u16(if is_file { FLAGS_FILE } else { FLAGS_DIR });
        self.u16(0); // STORE
        self.u16(time.dos_time);
        self.u16(time.dos_date);
        // With flag bit 3 the CRC and sizes are zero here and follow in the data
        // descriptor (APPNOTE 4.4.4); a ZIP64 entry marks its sizes and carries a ZIP64
        // field of zeros, which tells readers the descriptor's sizes are 8 bytes each.
        self.u32(0);
        let marker = if big { u32::MAX } else { 0 };
        self.u32(marker);
        self.u32(marker);
        let zip64 = if big { 4 + 16 } else { 0 };
        self.u16(name.len() as u16);
        self.u16(zip64 + time.extra_len());
        self.bytes(name.as_bytes());
        if big {
            self.u16(0x0001);
            self.u16(16);
            self.u64(0);
            self.u64(0);
        }
        time.extra(self);
    }

    /// `file` is `Some((index, size))` for a file, `None` for a folder.
    fn central_header(&mut self, name: &str, time: &Time, file: Option<(usize, u64)>, at: u64) {
        let size = file.map_or(0, |f| f.1);
        let mut zip64 = Vec::new();
        for v in [size, size, at] {
            if v >= MAX32 {
                zip64.extend_from_slice(&v.to_le_bytes());
            }
        }
        // The order of APPNOTE 4.5.3 is uncompressed, compressed, offset: the two sizes
        // are equal, so pushing them in either order gives the same bytes.
        let extra = if zip64.is_empty() {
            0
        } else {
            4 + zip64.len() as u16
        };
        self.u32(CENTRAL);
        self.u16(MADE_BY);
        self.u16(if zip64.is_empty() { NEEDS } else { NEEDS64 });
        self.u16(if file.is_some() {
            FLAGS_FILE
        } else {
            FLAGS_DIR
        });
        self.u16(0);
        self.u16(time.dos_time);
        self.u16(time.dos_date);
        match file {
            Some((index, _)) => self.push(Piece::Crc { file: index }),
            None => self.u32(0),
        }
        self.u32_or_max(size);
        self.u32_or_max(size);
        self.u16(name.len() as u16);
        self.u16(extra + time.extra_len());
        self.u16(0); // comment
        self.u16(0); // disk
        self.u16(0); // internal attributes
        self.u32(if file.is_some() { ATTR_FILE } else { ATTR_DIR });
        self.u32_or_max(at);
        self.bytes(name.as_bytes());
        if !zip64.is_empty() {
            self.u16(0x0001);
            self.u16(zip64.len() as u16);
            self.bytes(&zip64);
        }
        time.extra(self);
    }

    /// The end records: ZIP64's when a count, size or offset needs them, then the classic.
    fn end(&mut self, entries: u64, start: u64, size: u64) {
        // 0xFFFF entries is already the classic record's "see ZIP64" value.
        let zip64 = entries >= 0xffff || start >= MAX32 || size >= MAX32;
        if zip64 {
            let at = self.len;
            self.u32(END64);
            self.u64(44);
            self.u16(MADE_BY);
            self.u16(NEEDS64);
            self.u32(0);
            self.u32(0);
            self.u64(entries);
            self.u64(entries);
            self.u64(size);
            self.u64(start);
            self.u32(LOCATOR64);
            self.u32(0);
            self.u64(at);
            self.u32(1);
        }
        let count = u16::try_from(entries).unwrap_or(u16::MAX);
        self.u32(END);
        self.u32(0); // this disk, the directory's disk
        self.u16(count);
        self.u16(count);
        self.u32_or_max(size);
        self.u32_or_max(start);
        self.u16(0); // comment
    }
}

/// An entry's time in the two forms written.
struct Time {
    dos_time: u16,
    dos_date: u16,
    /// Seconds since the epoch for the 0x5455 field, when it fits.
    unix: Option<u32>,
}

impl Time {
    /// DOS fields can say 1980 to 2107 in two-second steps; earlier and later times are
    /// clamped. An unknown time is 1980-01-01 with no extended field.
    fn of(mtime: Option<i64>) -> Time {
        let Some(ms) = mtime else {
            return Time {
                dos_time: 0,
                dos_date: (1 << 5) | 1,
                unix: None,
            };
        };
        let (year, month, day, hour, minute, second) = utc::civil(ms);
        let (dos_time, dos_date) = match year {
            ..1980 => (0, (1 << 5) | 1),
            2108.. => ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31),
            _ => (
                ((hour << 11) | (minute << 5) | (second / 2)) as u16,
                (((year - 1980) << 9) | (month << 5) | day) as u16,
            ),
        };
        Time {
            dos_time,
            dos_date,
            unix: u32::try_from(ms.div_euclid(1000)).ok(),
        }
    }

    fn extra_len(&self) -> u16 {
        if self.unix.is_some() { 9 } else { 0 }
    }

    /// The extended-timestamp field: modification time only.
    fn extra(&self, out: &mut Out) {
        if let Some(secs) = self.unix {
            out.u16(0x5455);
            out.u16(5);
            out.bytes(&[1]);
            out.u32(secs);
        }
    }
}

/// The payload's plaintext came out different from what the layout expects.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the files' bytes do not match the archive's layout")]
pub struct LayoutMismatch;

/// Writes an archive from its [`layout`] and the payload's plaintext, given in pieces of
/// any size: the reference for the browser's own renderer, and the one the browser uses
/// when it has no service worker.
pub struct Renderer {
    pieces: std::vec::IntoIter<Piece>,
    current: Option<Piece>,
    crcs: Vec<u32>,
    hasher: crc32fast::Hasher,
    left: u64,
}

impl Renderer {
    /// A renderer of `pieces` for a manifest of `files` files.
    pub fn new(pieces: Vec<Piece>, files: usize) -> Renderer {
        let mut r = Renderer {
            pieces: pieces.into_iter(),
            current: None,
            crcs: vec![0; files],
            hasher: crc32fast::Hasher::new(),
            left: 0,
        };
        r.advance();
        r
    }

    fn advance(&mut self) {
        self.current = self.pieces.next();
        if let Some(Piece::Data { size, .. }) = self.current {
            self.left = size;
            self.hasher = crc32fast::Hasher::new();
        }
    }

    /// Passes `plain` through, with whatever comes before and between files, to `out`.
    pub fn push(
        &mut self,
        mut plain: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), LayoutMismatch> {
        loop {
            match &self.current {
                None if plain.is_empty() => return Ok(()),
                None => return Err(LayoutMismatch),
                Some(Piece::Bytes(bytes)) => out(bytes),
                Some(Piece::Crc { file }) => out(&self.crcs[*file].to_le_bytes()),
                Some(Piece::Data { file, .. }) => {
                    if self.left > 0 {
                        if plain.is_empty() {
                            return Ok(());
                        }
                        let take = usize::try_from(self.left)
                            .unwrap_or(usize::MAX)
                            .min(plain.len());
                        let (now, rest) = plain.split_at(take);
                        self.hasher.update(now);
                        out(now);
                        plain = rest;
                        self.left -= take as u64;
                        continue;
                    }
                    let file = *file;
                    self.crcs[file] = std::mem::take(&mut self.hasher).finalize();
                }
            }
            self.advance();
        }
    }

    /// After the last plaintext: the rest of the archive. Fails if data is missing.
    pub fn finish(mut self, out: &mut impl FnMut(&[u8])) -> Result<(), LayoutMismatch> {
        self.push(&[], out)?;
        if self.current.is_some() {
            return Err(LayoutMismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_files(n: usize) -> Vec<PlannedEntry> {
        (0..n)
            .map(|i| PlannedEntry {
                path: vec![format!("{i}")],
                kind: EntryKind::File { index: i, size: 0 },
                mtime: None,
            })
            .collect()
    }

    fn has_zip64_end(pieces: &[Piece]) -> bool {
        let Some(Piece::Bytes(tail)) = pieces.last() else {
            panic!("the archive ends with its end records");
        };
        tail.windows(4).any(|w| w == END64.to_le_bytes())
    }

    #[test]
    fn zip64_end_records_from_65535_entries() {
        assert!(!has_zip64_end(&layout(&empty_files(65_534))));
        assert!(has_zip64_end(&layout(&empty_files(65_535))));
    }

    #[test]
    fn local_headers_leave_crc_and_sizes_to_the_descriptor() {
        let plan = vec![PlannedEntry {
            path: vec!["a".into()],
            kind: EntryKind::File { index: 0, size: 3 },
            mtime: None,
        }];
        let pieces = layout(&plan);
        let Piece::Bytes(local) = &pieces[0] else {
            panic!("a local header first")
        };
        assert_eq!(&local[..4], &LOCAL.to_le_bytes());
        assert_eq!(&local[6..8], &FLAGS_FILE.to_le_bytes());
        assert_eq!(&local[14..26], &[0; 12], "CRC and both sizes zero");
        assert_eq!(pieces[1], Piece::Data { file: 0, size: 3 });
        let mut out = Vec::new();
        let mut r = Renderer::new(pieces.clone(), 1);
        r.push(b"abc", &mut |b| out.extend_from_slice(b)).unwrap();
        r.finish(&mut |b| out.extend_from_slice(b)).unwrap();
        assert_eq!(out.len() as u64, archive_len(&pieces));
        let descriptor = &out[local.len() + 3..local.len() + 3 + 16];
        assert_eq!(&descriptor[..4], &DESCRIPTOR.to_le_bytes());
        assert_eq!(&descriptor[4..8], &crc32fast::hash(b"abc").to_le_bytes());
        assert_eq!(&descriptor[8..16], &[3, 0, 0, 0, 3, 0, 0, 0]);
    }
}
