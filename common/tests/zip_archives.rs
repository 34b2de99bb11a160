//! Archives laid out by `ferry_common::zip` and written by its `Renderer`, checked by the
//! real tools: Python's `zipfile` and Info-ZIP's `unzip -t` (both must be installed; the
//! test fails, not skips, without them). ZIP64 is checked on a sparse 4 GiB + 1 MiB entry
//! and on 70,000 entries.
#![cfg(not(target_arch = "wasm32"))]

use std::{
    io::{Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    process::Command,
};

use ferry_common::{
    Manifest,
    manifest::{EntryKind, ManifestFile, PlannedEntry},
    zip::{Piece, Renderer, archive_len, layout},
};

fn python_check(path: &Path, script: &str) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 is installed (scripts/install.sh)");
    assert!(
        out.status.success(),
        "zipfile refused the archive:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn unzip_test(path: &Path) {
    let out = Command::new("unzip")
        .args(["-tq"])
        .arg(path)
        .output()
        .expect("unzip is installed (scripts/install.sh)");
    assert!(
        out.status.success(),
        "unzip -t refused the archive:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferry-zip-{}-{name}", std::process::id()))
}

/// Renders `manifest`'s archive with `payload` fed in pieces of 1000 bytes.
fn render(manifest: &Manifest, payload: &[u8]) -> Vec<u8> {
    let pieces = layout(&manifest.plan());
    let expected = archive_len(&pieces);
    let mut out = Vec::new();
    let mut r = Renderer::new(pieces, manifest.files.len());
    for piece in payload.chunks(1000) {
        r.push(piece, &mut |b| out.extend_from_slice(b)).unwrap();
    }
    r.finish(&mut |b| out.extend_from_slice(b)).unwrap();
    assert_eq!(out.len() as u64, expected, "the announced length is exact");
    out
}

fn file(path: &str, size: u64, mtime: Option<i64>) -> ManifestFile {
    ManifestFile {
        path: path.into(),
        size,
        mtime,
    }
}

#[test]
fn nested_files_empty_entries_and_non_ascii_names() {
    let manifest = Manifest {
        files: vec![
            file("docs/readme.txt", 5, Some(1_700_000_000_000)),
            file("docs/empty.txt", 0, None),
            file("Grüße/日本 ☃.bin", 3000, Some(315_532_800_000)),
            file("old.txt", 2, Some(-1)),
        ],
        dirs: vec!["nothing/here".into()],
    };
    let mut payload = b"hello".to_vec();
    payload.extend((0..3000u32).map(|i| (i * 7) as u8));
    payload.extend(b"ok");
    let zip = render(&manifest, &payload);
    let path = temp_path("nested.zip");
    std::fs::write(&path, &zip).unwrap();
    python_check(
        &path,
        r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
names = z.namelist()
assert names == ["docs/readme.txt", "docs/empty.txt", "Grüße/日本 ☃.bin", "old.txt", "nothing/here/"], names
assert z.read("docs/readme.txt") == b"hello"
assert z.read("docs/empty.txt") == b""
assert z.read("Grüße/日本 ☃.bin") == bytes((i * 7) % 256 for i in range(3000))
assert z.getinfo("docs/readme.txt").date_time == (2023, 11, 14, 22, 13, 20), z.getinfo("docs/readme.txt").date_time
assert z.getinfo("Grüße/日本 ☃.bin").date_time == (1980, 1, 1, 0, 0, 0)
assert z.getinfo("old.txt").date_time == (1980, 1, 1, 0, 0, 0)
assert z.getinfo("nothing/here/").is_dir()
assert z.getinfo("docs/readme.txt").external_attr >> 16 == 0o100644
"#,
    );
    unzip_test(&path);
    // Extracted by unzip, byte for byte, empty folder and times included.
    let dir = temp_path("nested-out");
    let status = Command::new("unzip")
        .args(["-q", "-d"])
        .arg(&dir)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(dir.join("docs/readme.txt")).unwrap(),
        b"hello"
    );
    assert_eq!(
        std::fs::read(dir.join("Grüße/日本 ☃.bin")).unwrap(),
        &payload[5..3005]
    );
    assert!(dir.join("nothing/here").is_dir());
    let mtime = std::fs::metadata(dir.join("docs/readme.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_700_000_000
    );
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_payload_that_does_not_fit_the_layout_is_refused() {
    let manifest = Manifest {
        files: vec![file("a", 3, None)],
        dirs: vec![],
    };
    let mut sink = |_: &[u8]| {};
    let mut r = Renderer::new(layout(&manifest.plan()), 1);
    r.push(b"ab", &mut sink).unwrap();
    assert!(r.finish(&mut sink).is_err(), "short");
    let mut r = Renderer::new(layout(&manifest.plan()), 1);
    assert!(r.push(b"abcd", &mut sink).is_err(), "long");
}

#[test]
fn more_than_65535_entries_use_zip64_end_records() {
    let plan: Vec<PlannedEntry> = (0..70_000)
        .map(|i| PlannedEntry {
            path: vec![format!("d{}", i % 100), format!("f{i}")],
            kind: EntryKind::File { index: i, size: 0 },
            mtime: None,
        })
        .collect();
    let pieces = layout(&plan);
    let mut out = Vec::new();
    Renderer::new(pieces, plan.len())
        .finish(&mut |b| out.extend_from_slice(b))
        .unwrap();
    let path = temp_path("many.zip");
    std::fs::write(&path, &out).unwrap();
    python_check(
        &path,
        r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert len(z.namelist()) == 70000, len(z.namelist())
assert z.namelist()[69999] == "d99/f69999"
assert z.testzip() is None
"#,
    );
    unzip_test(&path);
    std::fs::remove_file(path).unwrap();
}

/// A file over 4 GiB, written sparse (its bytes are zeros the disk never stores).
#[test]
fn a_file_over_4_gib_uses_zip64_fields() {
    const SIZE: u64 = (4 << 30) + (1 << 20);
    let manifest = Manifest {
        files: vec![
            file("small.txt", 2, None),
            file("big.bin", SIZE, None),
            file("after.txt", 3, None),
        ],
        dirs: vec!["z".into()],
    };
    let pieces = layout(&manifest.plan());
    let path = temp_path("big.zip");
    let mut f = std::fs::File::create(&path).unwrap();
    let zeros_crc = {
        let mut h = crc32fast::Hasher::new();
        let mib = vec![0u8; 1 << 20];
        for _ in 0..(SIZE >> 20) {
            h.update(&mib);
        }
        h.finalize()
    };
    let crcs = [crc32fast::hash(b"hi"), zeros_crc, crc32fast::hash(b"end")];
    for piece in &pieces {
        match piece {
            Piece::Bytes(b) => f.write_all(b).unwrap(),
            Piece::Crc { file } => f.write_all(&crcs[*file].to_le_bytes()).unwrap(),
            Piece::Data { file: 0, .. } => f.write_all(b"hi").unwrap(),
            Piece::Data { file: 2, .. } => f.write_all(b"end").unwrap(),
            Piece::Data { size, .. } => {
                f.seek(SeekFrom::Current(*size as i64)).unwrap();
            }
        }
    }
    assert_eq!(f.stream_position().unwrap(), archive_len(&pieces));
    drop(f);
    python_check(
        &path,
        r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.namelist() == ["small.txt", "big.bin", "after.txt", "z/"], z.namelist()
assert z.getinfo("big.bin").file_size == (4 << 30) + (1 << 20)
assert z.read("after.txt") == b"end"
assert z.read("small.txt") == b"hi"
assert z.getinfo("after.txt").header_offset > 1 << 32
"#,
    );
    unzip_test(&path);
    std::fs::remove_file(path).unwrap();
}
