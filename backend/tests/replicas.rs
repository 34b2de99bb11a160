//! Several server processes sharing one database and one blob store (replicas): they
//! migrate an empty database together, agree on the database's clock, take turns at the
//! periodic sweep through the janitor lease, and sweeping at the same moment removes each
//! expired share once and leaves no object behind. Runs on SQLite and local disk, and in
//! CI on PostgreSQL and S3 (`scripts/with-postgres.sh`, `scripts/with-s3.sh`); the
//! migration race needs PostgreSQL (a SQLite file is never shared by replicas).
mod support;

use std::time::Duration;

use ferry_backend::{
    AppState, Application,
    lifecycle::{Janitor, sweep},
    store::ShareStore,
};
use ferry_common::protocol::ErrorCode;
use support::*;

/// The state of a replica of `server` that is built (migrated, reconciled) but not run:
/// the test drives its sweeps.
async fn idle_replica(server: &TestServer, sweep_interval: Duration) -> AppState {
    let config = server.replica_config(|c| c.sweep_interval = sweep_interval);
    let app = Application::build(config).await.expect("a replica builds");
    app.state().clone()
}

#[tokio::test]
async fn replicas_starting_together_migrate_an_empty_database_once() {
    let Ok(cluster) = std::env::var("FERRY_TEST_DATABASE_URL") else {
        println!("skipped: FERRY_TEST_DATABASE_URL unset (run under scripts/with-postgres.sh)");
        return;
    };
    let url = fresh_database(&cluster, "ferry_migration_race", true).await;
    let connects = (0..4).map(|_| ShareStore::connect(&url));
    let stores = futures_util::future::join_all(connects).await;
    for store in &stores {
        assert!(
            store.is_ok(),
            "a replica failed to start: {:?}",
            store.as_ref().err()
        );
    }
    // Every migration applied once, and the tables they make usable by all.
    let store = stores.into_iter().next().unwrap().unwrap();
    let ids = store.all_ids().await.unwrap();
    assert!(ids.is_empty());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(applied, (1..=files as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn now_is_the_databases_clock_whatever_the_hosts_clock_says() {
    let server = TestServer::start(|_| {}).await;
    let state = idle_replica(&server, Duration::from_secs(3600)).await;
    let local = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let hour = 3_600_000;
    // A host whose clock runs an hour slow is an hour behind the database.
    let offset = state
        .shares
        .sync_clock_from(|| local() - hour)
        .await
        .unwrap();
    assert!((offset - hour).abs() < 2_000, "offset {offset} ms");
    assert!((state.shares.now_ms() - local() - hour).abs() < 2_000);
    // Measured again against the real clock, the database agrees with this host's.
    let offset = state.shares.sync_clock().await.unwrap();
    assert!(offset.abs() < 2_000, "offset {offset} ms");
}

#[tokio::test]
async fn one_replica_at_a_time_holds_the_janitor_lease() {
    let server = TestServer::start(|_| {}).await;
    // Its own janitor took the lease at startup, for three of its (hour-long) intervals:
    // the test's replicas wait for it.
    let interval = Duration::from_millis(200);
    let a = Janitor::new(idle_replica(&server, interval).await, interval).unwrap();
    let b = Janitor::new(idle_replica(&server, interval).await, interval).unwrap();
    assert!(
        a.tick().await.unwrap().is_none(),
        "the running server holds it"
    );
    let _dir = server.stop().await;
    // A stopped server gives the lease up: the next taker has it at once.
    let (first, second) = tokio::join!(a.tick(), b.tick());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(
        first.is_some() != second.is_some(),
        "exactly one of two replicas ticking together sweeps: {first:?} {second:?}"
    );
    let (holder, other) = if first.is_some() { (&a, &b) } else { (&b, &a) };
    assert!(
        holder.tick().await.unwrap().is_some(),
        "the holder renews it"
    );
    assert!(other.tick().await.unwrap().is_none());
    // A holder that dies (stops ticking) loses it after three intervals.
    tokio::time::sleep(interval * 3 + Duration::from_millis(100)).await;
    assert!(other.tick().await.unwrap().is_some(), "taken over");
    assert!(holder.tick().await.unwrap().is_none());
}

#[tokio::test]
async fn replicas_sweeping_together_remove_each_expired_share_once() {
    let server = TestServer::start(|_| {}).await;
    let opts = UploadOpts {
        expires_in_secs: 2,
        max_downloads: 3,
        ..UploadOpts::default()
    };
    let mut shares = Vec::new();
    for _ in 0..6 {
        let data = random_bytes(200_000);
        shares.push(upload(server.port, &data, &opts).await.unwrap());
    }
    let keeper = upload(server.port, &random_bytes(1000), &UploadOpts::default())
        .await
        .unwrap();
    assert_eq!(server.blob_files().len(), 7);
    let a = idle_replica(&server, Duration::from_secs(3600)).await;
    let b = idle_replica(&server, Duration::from_secs(3600)).await;
    let last = shares.last().unwrap();
    eventually("the shares expire", async || {
        matches!(server.info(&last.id).await, Err((410, _)))
    })
    .await;

    // No lease here: the removals themselves must be safe when two processes sweep.
    let (swept_a, swept_b) = tokio::join!(sweep(&a), sweep(&b));
    let (swept_a, swept_b) = (swept_a.unwrap(), swept_b.unwrap());
    assert_eq!(
        swept_a.expired + swept_b.expired,
        6,
        "{swept_a:?} {swept_b:?}"
    );
    assert_eq!((swept_a.failed, swept_b.failed), (0, 0));
    assert_eq!(
        server.blob_files(),
        vec![keeper.id.clone()],
        "no orphan left"
    );
    for share in &shares {
        let (status, body) = server.info(&share.id).await.unwrap_err();
        assert_eq!((status, body.code), (410, ErrorCode::Expired));
    }
    // Nothing left for a later sweep either.
    let again = sweep(&b).await.unwrap();
    assert_eq!((again.expired, again.orphans), (0, 0), "{again:?}");
    let got = download(server.port, &keeper).await.unwrap();
    assert_eq!(got.plaintext.len(), 1000);
}
