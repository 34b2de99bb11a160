//! A full disk and a database whose commits fail: the server never acknowledges what it
//! did not keep, never believes a change that was rolled back, frees space through DELETE
//! and expiry, and recovers by itself once space returns.
//!
//! The full disk is real: a small tmpfs mounted over the data directory (the suite runs as
//! root, as CI does). The failing commit is real too: a deferred constraint trigger on
//! PostgreSQL raises at COMMIT, after the statement has already returned its row.
mod support;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use ferry_common::protocol::{ErrorCode, UPLOAD_PATH, UploadRequest};
use futures_util::SinkExt;
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// A tmpfs of `size` mounted over a fresh temporary directory; unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size_mib: u64) -> Tmpfs {
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs failed: this test needs root (as in CI)"
        );
        Tmpfs {
            path: dir.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Fills the filesystem holding `dir` with a file of its own until the disk refuses more;
/// returns the file (remove it to give the space back).
fn fill(dir: &Path) -> PathBuf {
    let path = (0..100)
        .map(|i| dir.join(format!("filler{i}")))
        .find(|p| !p.exists())
        .expect("a free name");
    let mut file = std::fs::File::create(&path).expect("create filler");
    let mut block = vec![0xa5u8; 1 << 20];
    // Bounded: at most the tmpfs's size in 1 MiB blocks, then smaller ones.
    for _ in 0..4096 {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(_) if block.len() > 4096 => block.truncate(block.len() / 2),
            Err(_) => break,
        }
    }
    let _ = file.sync_all();
    path
}

fn owner_request(
    client: &reqwest::Client,
    server: &TestServer,
    share: &Share,
) -> reqwest::RequestBuilder {
    client
        .delete(server.http(&format!("/api/shares/{}", share.id)))
        .header(
            "Authorization",
            format!("Bearer {}", ferry_common::b64::encode(&share.owner_token)),
        )
}

/// Wrong tokens against a share: every answer either counts (attempts left going down by
/// one each time) or fails; returns the last count answered.
async fn wrong_tries(server: &TestServer, share: &Share, tries: u32) -> Option<u32> {
    let mut last: Option<u32> = None;
    for _ in 0..tries {
        let err = download_with(server.port, share, [9; 32], None)
            .await
            .unwrap_err();
        match err.code {
            ErrorCode::WrongToken => {
                let left = err.attempts_left.expect("attempts_left with wrong-token");
                if let Some(before) = last {
                    assert_eq!(left + 1, before, "each counted try is counted once");
                }
                last = Some(left);
            }
            ErrorCode::InsufficientStorage | ErrorCode::Internal | ErrorCode::NotFound => {}
            other => panic!(
                "unexpected answer to a wrong token: {other:?} {}",
                err.message
            ),
        }
    }
    last
}

#[tokio::test]
async fn a_full_disk_fails_transfers_clearly_and_space_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(dir.path(), 40);
    // SQLite in the data directory even in the PostgreSQL run: the database is part of
    // what fills up.
    let server = TestServer::start_in(dir, |c| {
        c.database_url = None;
        c.reserve_space = 2 << 20;
        c.sweep_interval = Duration::from_millis(200);
    })
    .await;
    let data_dir = server.dir.path().to_owned();
    let port = server.port;
    let keep_data = random_bytes(300_000);
    let keep = upload(
        port,
        &keep_data,
        &UploadOpts {
            max_downloads: 2,
            ..UploadOpts::default()
        },
    )
    .await
    .unwrap();
    let doomed = upload(port, &random_bytes(3 << 20), &UploadOpts::default())
        .await
        .unwrap();
    let expiring = upload(
        port,
        &random_bytes(1 << 20),
        &UploadOpts {
            expires_in_secs: 2,
            ..UploadOpts::default()
        },
    )
    .await
    .unwrap();

    // Larger than the disk: refused at `start`, before a byte is sent.
    let mut ws = connect(port, UPLOAD_PATH).await;
    let mut huge = prepare(b"x", &UploadOpts::default());
    if let UploadRequest::Start {
        ciphertext_size, ..
    } = &mut huge.start
    {
        *ciphertext_size = huge.header.ciphertext_len(64 << 20);
    }
    let refused = start_upload(&mut ws, &huge.start).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::InsufficientStorage);
    assert!(refused.message.contains("no room"), "{}", refused.message);

    // An upload admitted while there was room, then the disk fills under it.
    let prep = prepare(&random_bytes(2 << 20), &UploadOpts::default());
    let chunks = prep.chunks.clone();
    let mut ws = connect(port, UPLOAD_PATH).await;
    let cut_id = start_upload(&mut ws, &prep.start).await.unwrap().id;
    send_json(&mut ws, &UploadRequest::Segment { index: 0 }).await;
    ws.send(Message::binary(chunks[0].clone())).await.unwrap();
    let filler = fill(&data_dir);
    for chunk in &chunks[1..] {
        if ws.send(Message::binary(chunk.clone())).await.is_err() {
            break;
        }
    }
    let _ = ws.send(Message::text(r#"{"type":"finish"}"#)).await;
    let (body, close, _) = expect_upload_error(&mut ws).await;
    assert_eq!(
        body.code,
        ErrorCode::InsufficientStorage,
        "{}",
        body.message
    );
    assert_eq!(close, 1013, "try again later");
    assert_eq!(server.info(&cut_id).await.unwrap_err().0, 404);
    assert!(
        server.blob_files().iter().all(|f| !f.contains('#')),
        "no staging file left: {:?}",
        server.blob_files()
    );

    // The aborted upload gave its space back: fill the rest too. Now even the database
    // cannot grow, so a wrong passphrase cannot be counted, and must not be answered as
    // counted (nor leave a connection stuck in its transaction).
    let filler2 = fill(&data_dir);
    for _ in 0..4 {
        let err = download_with(port, &keep, [9; 32], None).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InsufficientStorage, "{err:?}");
        assert_eq!(err.attempts_left, None);
    }

    // The owner frees space on the full disk; expiry does too.
    let client = reqwest::Client::new();
    let res = owner_request(&client, &server, &doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(server.info(&doomed.id).await.unwrap_err().0, 404);
    assert!(!server.blob_files().contains(&doomed.id));
    eventually("the sweeper removes the expired share", async || {
        !server.blob_files().contains(&expiring.id)
    })
    .await;
    assert!(matches!(
        server.info(&expiring.id).await.unwrap_err().0,
        404 | 410
    ));

    // Space returns: the server recovers by itself, and `done` means committed.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&filler2).unwrap();
    assert_eq!(wrong_tries(&server, &keep, 1).await, Some(9));
    let after_data = random_bytes(500_000);
    let after = upload(port, &after_data, &UploadOpts::default())
        .await
        .unwrap();
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |c| {
        c.database_url = None;
        c.reserve_space = 2 << 20;
    })
    .await;
    assert_eq!(
        download(server.port, &after).await.unwrap().plaintext,
        after_data
    );
    let info = server.info(&keep.id).await.unwrap();
    assert_eq!(
        info.attempts_left, 9,
        "only the try answered as counted was counted"
    );
    assert_eq!(
        download(server.port, &keep).await.unwrap().plaintext,
        keep_data
    );
    drop(server);
    drop(mount);
}

/// Makes the server's commits fail on demand, after their statements have returned
/// their rows: a trigger that breaks a deferred constraint, checked only at COMMIT
/// (a constraint trigger on PostgreSQL, a deferred foreign key on SQLite, whose
/// connections sqlx opens with `foreign_keys = ON`).
struct CommitFault {
    conn: sqlx::AnyConnection,
    postgres: bool,
}

impl CommitFault {
    async fn connect(server: &TestServer) -> CommitFault {
        use sqlx::Connection;
        let url = server.config.database_url();
        let postgres = url.starts_with("postgres");
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
        let setup: &[&str] = if postgres {
            &[
                "CREATE OR REPLACE FUNCTION ferry_test_refuse_commit() RETURNS trigger \
               LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected commit failure'; END $$",
            ]
        } else {
            &[
                "CREATE TABLE IF NOT EXISTS ferry_test_parent (id INTEGER PRIMARY KEY)",
                "CREATE TABLE IF NOT EXISTS ferry_test_child (parent INTEGER \
                 REFERENCES ferry_test_parent(id) DEFERRABLE INITIALLY DEFERRED)",
            ]
        };
        for sql in setup {
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
        CommitFault { conn, postgres }
    }

    /// From now on every transaction with an `event` (INSERT, UPDATE, DELETE) on `table`
    /// fails at COMMIT.
    async fn arm(&mut self, table: &str, event: &str) {
        self.arm_when(table, event, "TRUE").await;
    }

    /// Like [`Self::arm`], only for rows matching `when` (SQL over `NEW` or `OLD`).
    async fn arm_when(&mut self, table: &str, event: &str, when: &str) {
        let sql = if self.postgres {
            format!(
                "CREATE CONSTRAINT TRIGGER ferry_test_refuse_commit AFTER {event} ON {table} \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({when}) \
                 EXECUTE FUNCTION ferry_test_refuse_commit()"
            )
        } else {
            format!(
                "CREATE TRIGGER ferry_test_refuse_commit AFTER {event} ON {table} \
                 FOR EACH ROW WHEN {when} BEGIN INSERT INTO ferry_test_child VALUES (1); END"
            )
        };
        sqlx::query(&sql)
            .execute(&mut self.conn)
            .await
            .expect("create trigger");
    }

    async fn disarm(&mut self, table: &str) {
        let sql = if self.postgres {
            format!("DROP TRIGGER ferry_test_refuse_commit ON {table}")
        } else {
            "DROP TRIGGER ferry_test_refuse_commit".to_owned()
        };
        sqlx::query(&sql)
            .execute(&mut self.conn)
            .await
            .expect("drop trigger");
    }
}

#[tokio::test]
async fn a_commit_that_fails_is_never_believed() {
    let server = TestServer::start(|_| {}).await;
    let data = random_bytes(200_000);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    let mut fault = CommitFault::connect(&server).await;

    // Wrong tokens whose count cannot commit are not answered as counted.
    fault.arm("shares", "UPDATE").await;
    for _ in 0..3 {
        let err = download_with(server.port, &share, [9; 32], None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal, "{err:?}");
    }
    fault.disarm("shares").await;
    assert_eq!(server.info(&share.id).await.unwrap().attempts_left, 10);
    assert_eq!(wrong_tries(&server, &share, 1).await, Some(9));

    // An upload whose commit fails is not answered `done` and is no share: its segments
    // stay with its session (which a retried `finish` can still commit) and nothing else.
    fault.arm("download_slots", "INSERT").await;
    let Err(err) = upload(server.port, &data, &UploadOpts::default()).await else {
        panic!("an upload whose row did not commit was answered done");
    };
    assert_eq!(err.code, ErrorCode::Internal, "{err:?}");
    fault.disarm("download_slots").await;
    let stored = server.blob_files();
    assert_eq!(stored.len(), 2, "{stored:?}");
    for id in stored.iter().filter(|id| **id != share.id) {
        assert_eq!(server.info(id).await.unwrap_err().0, 404);
    }

    // A one-time download whose count cannot commit is not answered `done`, and the
    // share is still never handed to a second recipient (its claim stays held until its
    // lease runs out, and then counts).
    fault.arm("download_slots", "DELETE").await;
    let err = download(server.port, &share).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal, "{err:?}");
    fault.disarm("download_slots").await;
    let again = download(server.port, &share).await.unwrap_err();
    assert!(
        matches!(
            again.code,
            ErrorCode::Busy | ErrorCode::UsedUp | ErrorCode::NotFound
        ),
        "{again:?}"
    );

    // Everything else still works, on connections that were not left inside a failed
    // transaction.
    for _ in 0..4 {
        let other = upload(server.port, &data, &UploadOpts::default())
            .await
            .unwrap();
        assert_eq!(download(server.port, &other).await.unwrap().plaintext, data);
    }
}

#[tokio::test]
async fn the_sweeper_goes_on_past_a_share_it_cannot_remove() {
    let server = TestServer::start(|c| c.sweep_interval = Duration::from_millis(100)).await;
    let short = UploadOpts {
        expires_in_secs: 1,
        ..UploadOpts::default()
    };
    let stuck = upload(server.port, b"stuck", &short).await.unwrap();
    let other = upload(server.port, b"other", &short).await.unwrap();
    let mut fault = CommitFault::connect(&server).await;
    fault
        .arm_when("tombstones", "INSERT", &format!("NEW.id = '{}'", stuck.id))
        .await;
    eventually("the other expired share is swept", async || {
        !server.blob_files().contains(&other.id)
    })
    .await;
    // A few more sweeps fail on the stuck share: its row stays, so its blob stays too.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(server.blob_files().contains(&stuck.id));
    assert_eq!(server.info(&stuck.id).await.unwrap_err().0, 410);
    fault.disarm("tombstones").await;
    eventually("the stuck share is swept once it can be", async || {
        server.blob_files().is_empty()
    })
    .await;
    assert_eq!(server.info(&stuck.id).await.unwrap_err().0, 410);
    let data = random_bytes(100_000);
    let share = upload(server.port, &data, &UploadOpts::default())
        .await
        .unwrap();
    assert_eq!(download(server.port, &share).await.unwrap().plaintext, data);
}
