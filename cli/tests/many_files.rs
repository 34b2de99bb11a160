//! Shares of several files and folders (`docs/FORMAT.md` §4.1) through the real server and
//! the real `ferry` binary: the tree comes back byte for byte, nothing in the destination
//! is replaced, and a cheating sender's paths are refused or made safe.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use aes_gcm::{Aes256Gcm, KeyInit, aead::Aead, aead::Payload};
use ferry_common::{
    Header, KdfParams, Keys, LinkSecret, StreamEncryptor,
    client::{Upload, UploadAction},
    protocol::{PROTOCOL_VERSION, UPLOAD_PATH, UploadRequest},
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{connect_async, tungstenite::Message};

mod support;

use support::*;

/// Exit status for data that failed verification (`ferry --help`).
const EXIT_TAMPERED: i32 = 5;

/// What a directory holds: relative path → file contents, or `None` for a folder.
fn snapshot(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let kind = entry.file_type().unwrap();
            assert!(!kind.is_symlink(), "{rel} is a link");
            if kind.is_dir() {
                out.insert(rel, None);
                stack.push(path);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// A tree of 1,000 small files in nested folders, empty files and folders, non-ASCII
/// names and one larger file.
fn build_tree(root: &Path, large: usize) {
    for i in 0..1000 {
        let dir = root.join(format!("d{}/e{}", i % 10, i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(i % 13),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join("empty/inner")).unwrap();
    std::fs::create_dir_all(root.join("Grüße 日本")).unwrap();
    std::fs::write(root.join("Grüße 日本/résumé ☃.txt"), "non-ASCII").unwrap();
    std::fs::write(root.join("zero"), "").unwrap();
    random_file(root, "large.bin", large);
}

async fn send_paths(server: &TestServer, cwd: &Path, paths: &[&str]) -> String {
    let mut args = vec!["send"];
    args.extend_from_slice(paths);
    args.extend_from_slice(&["--server", &server.url]);
    let out = ferry(&args, cwd, Some(PASSPHRASE)).await;
    assert_eq!(code(&out), 0, "send failed: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn receive_into(link: &str, dir: &Path) -> std::process::Output {
    ferry(
        &["receive", link, "-o", dir.to_str().unwrap()],
        &std::env::temp_dir(),
        Some(PASSPHRASE),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_of_files_and_folders_comes_back_whole() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("project");
    build_tree(&tree, 20 << 20);
    std::fs::write(src.path().join("notes.md"), "loose file").unwrap();
    let link = send_paths(&server, src.path(), &["project", "notes.md"]).await;

    let dst = tempfile::tempdir().unwrap();
    // Already there: must be kept, and the share's folder takes another name.
    std::fs::create_dir(dst.path().join("project")).unwrap();
    std::fs::write(dst.path().join("project/mine"), "keep me").unwrap();
    let out = receive_into(&link, dst.path()).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    assert_eq!(
        snapshot(&dst.path().join("project (1)")),
        snapshot(&tree),
        "the tree came back as it was sent"
    );
    assert_eq!(
        std::fs::read(dst.path().join("notes.md")).unwrap(),
        b"loose file"
    );
    assert_eq!(
        std::fs::read(dst.path().join("project/mine")).unwrap(),
        b"keep me"
    );
    let left: Vec<String> = std::fs::read_dir(dst.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ferry-"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    // Modification times travel (to the millisecond the manifest keeps).
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let (a, b) = (
        mtime(&tree.join("d3/e3/f3.txt")),
        mtime(&dst.path().join("project (1)/d3/e3/f3.txt")),
    );
    let diff = a
        .duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap();
    assert!(diff.as_millis() < 1, "{diff:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_of_several_files_lands_in_a_directory() {
    let server = spawn_server().await;
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a"), "a").unwrap();
    std::fs::write(src.path().join("b"), "b").unwrap();
    // `-o` a directory that does not exist yet: it is made.
    let link = send_paths(&server, src.path(), &["a", "b"]).await;
    let dst = tempfile::tempdir().unwrap();
    let new = dst.path().join("from-bob");
    let out = receive_into(&link, &new).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(new.join("b")).unwrap(), b"b");
    // `-o FILE --force`: the file is not replaced; the tree lands beside it.
    let link = send_paths(&server, src.path(), &["a", "b"]).await;
    let file = dst.path().join("out.bin");
    std::fs::write(&file, "mine").unwrap();
    let out = ferry(
        &["receive", &link, "-o", file.to_str().unwrap(), "--force"],
        dst.path(),
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("instead"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    assert_eq!(std::fs::read(dst.path().join("a")).unwrap(), b"a");
}

/// A share a cheating sender built by hand: `json` sealed as its metadata, `payload` as its
/// chunks. Returns the link.
async fn cheat(server: &TestServer, json: &str, payload: &[u8]) -> String {
    let header = Header::generate(KdfParams::FLOOR, 64 * 1024, false).unwrap();
    let secret = LinkSecret::generate().unwrap();
    let keys = Keys::derive(&header, PASSPHRASE, Some(&secret)).unwrap();
    let mut block = (json.len() as u32).to_be_bytes().to_vec();
    block.extend_from_slice(json.as_bytes());
    block.resize(block.len().div_ceil(256) * 256, 0);
    let metadata = Aes256Gcm::new(keys.metadata.expose_secret().into())
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: &block,
                aad: &header.to_bytes(),
            },
        )
        .unwrap();
    let chunk = StreamEncryptor::new(&keys.payload, &header)
        .seal_chunk(payload, true)
        .unwrap();
    let start = UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: header.to_bytes().to_vec().into(),
        metadata: metadata.into(),
        verifier: keys.download_token.verifier().to_vec().into(),
        expires_in_secs: 3600,
        max_downloads: 1,
        ciphertext_size: chunk.len() as u64,
        credential: None,
    };
    let (mut ws, _) = connect_async(format!("ws://127.0.0.1:{}{UPLOAD_PATH}", server.port))
        .await
        .unwrap();
    let mut session = Upload::new(&start).unwrap();
    // Bounded: one chunk; the core ends after `done` or a failure.
    let done = loop {
        match session.poll() {
            UploadAction::Send(text) => ws.send(Message::text(text)).await.unwrap(),
            UploadAction::SendChunk { .. } => {
                session.chunk_ready(chunk.len()).unwrap();
                ws.send(Message::binary(chunk.clone())).await.unwrap();
            }
            UploadAction::Wait => match ws.next().await {
                Some(Ok(Message::Text(t))) => drop(session.handle_text(&t)),
                Some(Ok(Message::Binary(b))) => drop(session.handle_binary(b.len())),
                _ => drop(session.handle_closed(None)),
            },
            UploadAction::Done(done) => break done,
            UploadAction::Failed(e) => panic!("upload failed: {e}"),
        }
    };
    format!(
        "{}/s/{}#{}",
        server.url,
        done.share_id.as_str(),
        secret.to_fragment()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_senders_paths_are_refused_or_made_safe() {
    let server = spawn_server().await;
    let outside = tempfile::tempdir().unwrap();
    let dst_parent = outside.path().join("inbox");
    std::fs::create_dir(&dst_parent).unwrap();
    // Climbing out, absolute: refused as tampering, nothing written anywhere.
    for path in ["../escaped", "/tmp/escaped", "a/../../escaped", "a//b"] {
        let json = format!(r#"{{"v":2,"size":1,"files":[{{"path":"{path}","size":1}}]}}"#);
        let link = cheat(&server, &json, b"x").await;
        let out = receive_into(&link, &dst_parent).await;
        assert_eq!(code(&out), EXIT_TAMPERED, "{path}: {}", stderr(&out));
        assert!(stderr(&out).contains("list of files"), "{}", stderr(&out));
        assert!(snapshot(outside.path()).keys().eq(["inbox"]), "{path}");
    }
    // Names that are unsafe somewhere, and clashes: made safe, nothing lost.
    let names = [
        "A.txt",
        "a.txt",
        "con.txt",
        "x",
        "x/y",
        "dir\\\\..\\\\..\\\\win.ini",
        ".bashrc",
        "tab\\there",
    ];
    let files: Vec<String> = names
        .iter()
        .map(|n| format!(r#"{{"path":"{n}","size":1}}"#))
        .collect();
    let json = format!(
        r#"{{"v":2,"size":{},"files":[{}]}}"#,
        names.len(),
        files.join(",")
    );
    let link = cheat(&server, &json, b"12345678").await;
    let out = receive_into(&link, &dst_parent).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = snapshot(&dst_parent);
    let want: BTreeMap<String, Option<Vec<u8>>> = [
        ("A.txt", Some("1")),
        ("a (2).txt", Some("2")),
        ("_con.txt", Some("3")),
        ("x", Some("4")),
        ("x (2)", None),
        ("x (2)/y", Some("5")),
        ("dir_.._.._win.ini", Some("6")),
        ("bashrc", Some("7")),
        ("tab_here", Some("8")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.map(|s| s.as_bytes().to_vec())))
    .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_files_and_folders_make_a_share_of_no_bytes() {
    let server = spawn_server().await;
    let json = r#"{"v":2,"size":0,"files":[{"path":"only/empty.txt","size":0}],"dirs":["nothing here","only/sub"]}"#;
    let link = cheat(&server, json, b"").await;
    let dst = tempfile::tempdir().unwrap();
    let out = receive_into(&link, dst.path()).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got: Vec<PathBuf> = snapshot(dst.path()).keys().map(PathBuf::from).collect();
    assert_eq!(
        got,
        ["nothing here", "only", "only/empty.txt", "only/sub"].map(PathBuf::from)
    );
}
