//! `ShareStore`: share metadata in SQL through sqlx's `Any` driver, so the same queries
//! run on SQLite (the default) and PostgreSQL.
//!
//! The share lifecycle lives here. Every state change is one conditional statement
//! (`UPDATE … WHERE <state> RETURNING`, `DELETE … WHERE <state> RETURNING`), never a
//! read followed by a write in Rust:
//!
//! ```text
//! uploading ──commit──► available ──claim──► claimed ──hold──► held ──commit──► (slot gone)
//! (sessions)            (free slots)  ▲ cut/lease │              │ lease runs out:
//!                                    └───────────┘              └──► counted (slot gone)
//! available/claimed/held ──expiry──► expired     ──owner/attempt limit──► deleted
//! ```
//! A share with `max_downloads = n` has `n` rows in `download_slots`. A slot is free when
//! it is not held and its lease has run out (`lease_until <= now`). A held slot whose lease
//! ran out counts as a download: claimers, the sweeper and startup delete it, and every
//! count of downloads left leaves it out. No decision depends on memory, so any server
//! process sharing the database continues any claim.
mod clock;
mod counts;
mod credentials;
mod leases;
mod listing;
mod sessions;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{
    Any, AnyConnection, AnyPool, Connection, Row,
    any::{AnyArguments, AnyPoolOptions, AnyRow},
    pool::PoolConnection,
    query::Query,
};

pub use counts::ShareCounts;
pub use credentials::{Admission, AdmitRefused, InvitationRow, TokenRow};
pub use leases::JANITOR;
pub use listing::ShareSummary;
pub use sessions::{Committed, NewUpload, Recorded, UploadSession};

use self::clock::DbClock;

/// How long a tombstone of an expired share keeps answering 410 "expired".
const EXPIRED_TOMBSTONE_MS: i64 = 24 * 3600 * 1000;

/// A committed share, as stored.
#[derive(Clone)]
pub struct ShareRow {
    /// Share ID.
    pub id: String,
    /// The 40-byte public header.
    pub header: Vec<u8>,
    /// The sealed metadata block.
    pub metadata: Vec<u8>,
    /// `verifier(download token)`.
    pub verifier: Vec<u8>,
    /// `verifier(owner token)`.
    pub owner_verifier: Vec<u8>,
    /// Total ciphertext bytes.
    pub ciphertext_size: u64,
    /// The download limit the sender chose.
    pub max_downloads: u32,
    /// Downloads left: free, claimed or held slots (not held claims whose lease ran out).
    pub downloads_left: u32,
    /// Wrong-token tries left.
    pub attempts_left: u32,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
    /// Chunks per stored segment; 0 for a share stored as one blob.
    pub segment_chunks: u64,
}

/// Why a share is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoneReason {
    /// Every download was used.
    UsedUp,
    /// It expired.
    Expired,
    /// Its owner deleted it.
    Deleted,
    /// Too many wrong download tokens.
    Locked,
}

impl GoneReason {
    fn as_str(self) -> &'static str {
        match self {
            GoneReason::UsedUp => "used-up",
            GoneReason::Expired => "expired",
            GoneReason::Deleted => "deleted",
            GoneReason::Locked => "locked",
        }
    }

    fn parse(text: &str) -> GoneReason {
        match text {
            "used-up" => GoneReason::UsedUp,
            "expired" => GoneReason::Expired,
            "locked" => GoneReason::Locked,
            _ => GoneReason::Deleted,
        }
    }
}

/// What is remembered of a share that is gone.
#[derive(Clone)]
pub struct Tombstone {
    /// Why it is gone.
    pub reason: GoneReason,
    /// `verifier(owner token)`, so the owner can still ask.
    pub owner_verifier: Vec<u8>,
    /// Downloads completed before it went.
    pub downloads_done: u32,
    /// Its expiry, epoch milliseconds.
    pub expires_at: i64,
}

/// The result of looking up a share ID.
pub enum Lookup {
    /// The share exists (it may have expired a moment ago: compare `expires_at`).
    Live(ShareRow),
    /// The share existed and is gone.
    Gone(Tombstone),
    /// No such share.
    NotFound,
}

/// A share ready to be inserted (its blob is already durable).
pub struct NewShare {
    /// Share ID.
    pub id: String,
    /// Public header.
    pub header: Vec<u8>,
    /// Sealed metadata.
    pub metadata: Vec<u8>,
    /// Download-token verifier.
    pub verifier: Vec<u8>,
    /// Owner-token verifier.
    pub owner_verifier: Vec<u8>,
    /// Ciphertext bytes.
    pub ciphertext_size: u64,
    /// Download limit.
    pub max_downloads: u32,
    /// Wrong-token tries allowed.
    pub attempts: u32,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
    /// Chunks per stored segment; 0 for one blob.
    pub segment_chunks: u64,
}

/// A claimed download as one connection serves it: which slot, under which connection ID.
#[derive(Clone, Debug)]
pub struct Claim {
    /// The share.
    pub share_id: String,
    /// The slot number.
    pub slot: i64,
    /// A random ID naming the connection serving the claim: a resume on another
    /// connection replaces it, so the stale connection's writes no longer match.
    pub claim_id: String,
    /// Whether the claim was already held (it got past its first window or its final
    /// chunk) when this connection took it.
    pub held: bool,
}

/// Why a claim failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimRefused {
    /// Every remaining download is claimed by someone else.
    Busy,
    /// No downloads left.
    UsedUp,
    /// The share expired or vanished.
    Gone,
}

/// Share metadata in SQL.
#[derive(Clone)]
pub struct ShareStore {
    pool: AnyPool,
    /// Whether the database is PostgreSQL (else SQLite): the one place dialects differ.
    postgres: bool,
    clock: Arc<DbClock>,
}

/// Slots of share `s` that still count as downloads left at time `$2`: all but held claims
/// whose lease ran out (those count as used even before they are deleted).
const LEFT_AT_2: &str = "(SELECT COUNT(*) FROM download_slots d WHERE d.share_id = s.id \
     AND NOT (d.held = 1 AND d.lease_until <= $2))";

const SHARE_COLUMNS: &str = "s.id, s.header, s.metadata, s.verifier, s.owner_verifier, \
     s.ciphertext_size, s.max_downloads, s.attempts_left, s.expires_at, s.segment_chunks";

fn share_from_row(row: &AnyRow) -> Result<ShareRow, sqlx::Error> {
    Ok(ShareRow {
        id: row.try_get("id")?,
        header: row.try_get("header")?,
        metadata: row.try_get("metadata")?,
        verifier: row.try_get("verifier")?,
        owner_verifier: row.try_get("owner_verifier")?,
        ciphertext_size: row.try_get::<i64, _>("ciphertext_size")? as u64,
        max_downloads: row.try_get::<i64, _>("max_downloads")? as u32,
        attempts_left: row.try_get::<i64, _>("attempts_left")?.max(0) as u32,
        expires_at: row.try_get("expires_at")?,
        downloads_left: row.try_get::<i64, _>("downloads_left")?.max(0) as u32,
        segment_chunks: row.try_get::<i64, _>("segment_chunks")?.max(0) as u64,
    })
}

/// Runs a `… RETURNING` statement to its end and returns its row, if any.
///
/// Never `fetch_optional`: it stops reading after the first row, and SQLite commits a
/// statement outside a transaction in the step after that row, so a failed commit (a full
/// disk) would be dropped and a rolled-back change believed. Reading to the end surfaces
/// the commit's error on SQLite and PostgreSQL alike. Every caller's statement touches at
/// most one row.
async fn returning<'q, 'e, 'c: 'e, E>(
    query: Query<'q, Any, AnyArguments<'q>>,
    executor: E,
) -> Result<Option<AnyRow>, sqlx::Error>
where
    'q: 'e,
    E: 'e + sqlx::Executor<'c, Database = Any>,
{
    Ok(query.fetch_all(executor).await?.pop())
}

/// Gives a transaction's connection back: to the pool if the transaction succeeded, closed
/// otherwise. After a failed COMMIT the driver's idea of the transaction can differ from
/// the database's (SQLite rolls back by itself on a full disk, the driver's own ROLLBACK
/// then fails and it still counts the transaction as open, so the connection's next
/// transactions would be savepoints); a closed connection cannot carry that state on.
fn settle<T>(mut conn: PoolConnection<Any>, result: &anyhow::Result<T>) {
    if result.is_err() {
        conn.close_on_drop();
    }
}

impl ShareStore {
    /// Connects, configures SQLite (WAL, busy timeout, full sync) and runs migrations.
    pub async fn connect(url: &str) -> anyhow::Result<ShareStore> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA synchronous = FULL",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .context("connecting to the metadata database")?;
        // On PostgreSQL sqlx holds an advisory lock while it migrates, so replicas that
        // start together apply each migration once.
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("running database migrations")?;
        let store = ShareStore {
            pool,
            postgres: !is_sqlite,
            clock: Arc::default(),
        };
        store.sync_clock().await?;
        Ok(store)
    }

    /// The database's time now, in milliseconds since the Unix epoch: every lease,
    /// expiry and abandonment instant is measured on it ([`clock`]).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Measures again how far this host's clock is from the database's; returns the
    /// offset in milliseconds.
    pub async fn sync_clock(&self) -> anyhow::Result<i64> {
        self.sync_clock_from(clock::local_ms).await
    }

    /// As [`ShareStore::sync_clock`], with `local` read as this host's clock (a test
    /// stands in a skewed one).
    pub async fn sync_clock_from(&self, local: impl Fn() -> i64) -> anyhow::Result<i64> {
        self.clock
            .sync(&self.pool, self.postgres, local)
            .await
            .context("reading the database's clock")
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Inserts a committed share and its download slots in one transaction. Returns only
    /// once the transaction is committed.
    pub async fn insert(&self, share: &NewShare) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await?;
        let result = insert_tx(&mut conn, share).await;
        settle(conn, &result);
        result
    }

    /// Looks a share up (consumes nothing).
    pub async fn lookup(&self, id: &str) -> anyhow::Result<Lookup> {
        let row = sqlx::query(&format!(
            "SELECT {SHARE_COLUMNS}, {LEFT_AT_2} AS downloads_left FROM shares s WHERE s.id = $1"
        ))
        .bind(id)
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(Lookup::Live(share_from_row(&row)?));
        }
        let row = sqlx::query(
            "SELECT reason, owner_verifier, downloads_done, expires_at FROM tombstones WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Lookup::Gone(Tombstone {
                reason: GoneReason::parse(&row.try_get::<String, _>("reason")?),
                owner_verifier: row.try_get("owner_verifier")?,
                downloads_done: row.try_get::<i64, _>("downloads_done")?.max(0) as u32,
                expires_at: row.try_get("expires_at")?,
            }),
            None => Lookup::NotFound,
        })
    }

    /// Counts one wrong download token. Returns the tries left, or `None` if the share
    /// is gone or already has none left.
    pub async fn record_wrong_attempt(&self, id: &str) -> anyhow::Result<Option<u32>> {
        let query = sqlx::query(
            "UPDATE shares SET attempts_left = attempts_left - 1 \
             WHERE id = $1 AND attempts_left > 0 RETURNING attempts_left",
        )
        .bind(id);
        let row = returning(query, &self.pool).await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<i64, _>("attempts_left")?.max(0) as u32),
            None => None,
        })
    }

    /// Claims one free download slot for `lease` under `verifier(claim token)`: one
    /// conditional UPDATE, after counting this share's lapsed held claims. Two claimers
    /// racing for the same slot cannot both win: the loser's WHERE no longer matches
    /// (SQLite serialises writers; PostgreSQL re-checks the row after the lock), and it
    /// tries the next free slot.
    pub async fn claim(
        &self,
        id: &str,
        lease: Duration,
        claim_verifier: &[u8],
    ) -> anyhow::Result<Result<Claim, ClaimRefused>> {
        let claim_id = crate::ids::random_id()?;
        for _ in 0..8 {
            let now = self.now_ms();
            self.count_lapsed(Some(id), now).await?;
            let query = sqlx::query(
                "UPDATE download_slots SET claim_id = $1, lease_until = $2, claim_verifier = $5 \
                 WHERE share_id = $3 AND held = 0 AND lease_until <= $4 \
                   AND slot = (SELECT MIN(slot) FROM download_slots \
                               WHERE share_id = $3 AND held = 0 AND lease_until <= $4) \
                   AND EXISTS (SELECT 1 FROM shares WHERE id = $3 AND expires_at > $4) \
                 RETURNING slot",
            )
            .bind(&claim_id)
            .bind(now + lease.as_millis() as i64)
            .bind(id)
            .bind(now)
            .bind(claim_verifier);
            if let Some(row) = returning(query, &self.pool).await? {
                return Ok(Ok(Claim {
                    share_id: id.to_owned(),
                    slot: row.try_get("slot")?,
                    claim_id,
                    held: false,
                }));
            }
            // Nothing claimed: say why (this read only chooses the message).
            let row = sqlx::query(
                "SELECT s.expires_at, \
                 (SELECT COUNT(*) FROM download_slots d WHERE d.share_id = s.id) AS open, \
                 (SELECT COUNT(*) FROM download_slots d WHERE d.share_id = s.id AND d.held = 0 \
                    AND d.lease_until <= $2) AS free \
                 FROM shares s WHERE s.id = $1",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else {
                return Ok(Err(ClaimRefused::Gone));
            };
            if row.try_get::<i64, _>("expires_at")? <= now {
                return Ok(Err(ClaimRefused::Gone));
            }
            if row.try_get::<i64, _>("open")? == 0 {
                return Ok(Err(ClaimRefused::UsedUp));
            }
            if row.try_get::<i64, _>("free")? == 0 {
                return Ok(Err(ClaimRefused::Busy));
            }
            // A free slot appeared or a concurrent claimer took ours: try again.
        }
        Ok(Err(ClaimRefused::Busy))
    }

    /// Takes over the live claim whose token has `claim_verifier`, for a new connection,
    /// and extends its lease: `None` if there is none (wrong token, or the claim was
    /// released, counted or lapsed). The previous connection's ID stops matching, so
    /// whatever it still does to the claim has no effect.
    pub async fn resume(
        &self,
        id: &str,
        claim_verifier: &[u8],
        lease: Duration,
    ) -> anyhow::Result<Option<Claim>> {
        let claim_id = crate::ids::random_id()?;
        let now = self.now_ms();
        let query = sqlx::query(
            "UPDATE download_slots SET claim_id = $1, lease_until = $2 \
             WHERE share_id = $3 AND claim_verifier = $4 AND lease_until > $5 \
               AND EXISTS (SELECT 1 FROM shares WHERE id = $3 AND expires_at > $5) \
             RETURNING slot, held",
        )
        .bind(&claim_id)
        .bind(now + lease.as_millis() as i64)
        .bind(id)
        .bind(claim_verifier)
        .bind(now);
        let Some(row) = returning(query, &self.pool).await? else {
            return Ok(None);
        };
        Ok(Some(Claim {
            share_id: id.to_owned(),
            slot: row.try_get("slot")?,
            claim_id,
            held: row.try_get::<i64, _>("held")? != 0,
        }))
    }

    /// Runs `change` (an UPDATE or DELETE on `download_slots`, whose own parameters start
    /// at `$4`) on this claim's row if this connection still serves it (and, with `held`,
    /// if `held` matches); true if it did. Every step of a claim is one such conditional
    /// statement, so two servers racing for a slot cannot both win it.
    async fn on_claim(
        &self,
        change: &str,
        held: Option<bool>,
        claim: &Claim,
        param: Option<i64>,
    ) -> anyhow::Result<bool> {
        let held = match held {
            Some(held) => format!(" AND held = {}", i32::from(held)),
            None => String::new(),
        };
        let sql = format!(
            "{change} WHERE share_id = $1 AND slot = $2 AND claim_id = $3{held} RETURNING slot"
        );
        let mut query = sqlx::query(&sql)
            .bind(&claim.share_id)
            .bind(claim.slot)
            .bind(&claim.claim_id);
        if let Some(param) = param {
            query = query.bind(param);
        }
        Ok(returning(query, &self.pool).await?.is_some())
    }

    /// Extends a claim's lease; false if this connection lost it (a resume took it over,
    /// or its lease ran out and it was counted or handed to someone else, or the share is
    /// gone).
    pub async fn renew(&self, claim: &Claim, lease: Duration) -> anyhow::Result<bool> {
        let until = self.now_ms() + lease.as_millis() as i64;
        self.on_claim(
            "UPDATE download_slots SET lease_until = $4",
            None,
            claim,
            Some(until),
        )
        .await
    }

    /// Gives a claim that is not held back at once (the download was cut inside its first
    /// window, before its final chunk): a retry need not wait for the lease. A held claim
    /// is never released here. False if there was nothing to release.
    pub async fn release(&self, claim: &Claim) -> anyhow::Result<bool> {
        self.on_claim(
            "UPDATE download_slots SET claim_id = NULL, claim_verifier = NULL, lease_until = 0",
            Some(false),
            claim,
            None,
        )
        .await
    }

    /// Gives a claim back even if held: the server could not serve the file in full (a
    /// storage failure, a blob shorter than recorded), and such a download never counts.
    pub async fn release_unserved(&self, claim: &Claim) -> anyhow::Result<bool> {
        self.on_claim(
            "UPDATE download_slots SET claim_id = NULL, claim_verifier = NULL, lease_until = 0, \
             held = 0",
            None,
            claim,
            None,
        )
        .await
    }

    /// Marks the claim held, before a chunk past its first window or its final chunk goes
    /// out: from then on the slot is never handed to anyone else, and counts as used once
    /// its lease runs out. False if this connection lost the claim.
    pub async fn hold(&self, claim: &Claim) -> anyhow::Result<bool> {
        self.on_claim("UPDATE download_slots SET held = 1", None, claim, None)
            .await
    }

    /// Counts a completed download (the client acknowledged the final chunk): deletes its
    /// slot. Returns the downloads left, or `None` if this connection no longer had it.
    pub async fn consume(&self, claim: &Claim) -> anyhow::Result<Option<u32>> {
        if !self
            .on_claim("DELETE FROM download_slots", Some(true), claim, None)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(self.slots_left(&claim.share_id).await?))
    }

    /// Counts held claims whose lease ran out by `now` (of one share, or of all): deletes
    /// their slots. Returns how many.
    pub async fn count_lapsed(&self, id: Option<&str>, now: i64) -> anyhow::Result<u64> {
        let done = match id {
            Some(id) => {
                sqlx::query(
                    "DELETE FROM download_slots WHERE share_id = $1 AND held = 1 \
                     AND lease_until <= $2",
                )
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query("DELETE FROM download_slots WHERE held = 1 AND lease_until <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(done.rows_affected())
    }

    /// Slots (downloads) still left: not consumed, and not held past their lease.
    async fn slots_left(&self, id: &str) -> anyhow::Result<u32> {
        let row = sqlx::query(&format!(
            "SELECT {LEFT_AT_2} AS n FROM shares s WHERE s.id = $1"
        ))
        .bind(id)
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(0);
        };
        Ok(row.try_get::<i64, _>("n")?.max(0) as u32)
    }

    /// Removes a share's row and slots and leaves a tombstone, in one transaction.
    /// Returns false if there was no such share (someone else removed it first).
    pub async fn remove(&self, id: &str, reason: GoneReason) -> anyhow::Result<bool> {
        let mut conn = self.pool.acquire().await?;
        let result = remove_in(&mut conn, id, reason, self.now_ms()).await;
        settle(conn, &result);
        result
    }

    /// IDs of shares whose expiry has passed.
    pub async fn expired_ids(&self, now: i64) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM shares WHERE expires_at <= $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }

    /// IDs of shares with no download left (every slot consumed, or a crash between the
    /// last consume and the removal).
    pub async fn used_up_ids(&self) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT s.id FROM shares s WHERE NOT EXISTS \
             (SELECT 1 FROM download_slots d WHERE d.share_id = s.id)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }

    /// Whether a share's row or an upload session's row exists for `id`: stored objects
    /// under its ID are then not orphans.
    pub async fn exists(&self, id: &str) -> anyhow::Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM shares WHERE id = $1 UNION ALL SELECT 1 AS one FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(!row.is_empty())
    }

    /// Every share ID.
    pub async fn all_ids(&self) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM shares")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }

    /// Forgets tombstones past their time.
    pub async fn purge_tombstones(&self, now: i64) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM tombstones WHERE forget_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

async fn insert_tx(conn: &mut AnyConnection, share: &NewShare) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    insert_in(&mut tx, share).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts a share's row and its download slots on `conn` (inside the caller's
/// transaction).
async fn insert_in(conn: &mut AnyConnection, share: &NewShare) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO shares (id, header, metadata, verifier, owner_verifier, ciphertext_size, \
         max_downloads, attempts_left, created_at, expires_at, segment_chunks) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&share.id)
    .bind(&share.header)
    .bind(&share.metadata)
    .bind(&share.verifier)
    .bind(&share.owner_verifier)
    .bind(share.ciphertext_size as i64)
    .bind(i64::from(share.max_downloads))
    .bind(i64::from(share.attempts))
    .bind(share.created_at)
    .bind(share.expires_at)
    .bind(share.segment_chunks as i64)
    .execute(&mut *conn)
    .await?;
    for slot in 0..i64::from(share.max_downloads) {
        sqlx::query(
            "INSERT INTO download_slots (share_id, slot, claim_id, lease_until, held) \
             VALUES ($1, $2, NULL, 0, 0)",
        )
        .bind(&share.id)
        .bind(slot)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn remove_in(
    conn: &mut AnyConnection,
    id: &str,
    reason: GoneReason,
    now: i64,
) -> anyhow::Result<bool> {
    let mut tx = conn.begin().await?;
    let deleted = sqlx::query(
        "DELETE FROM shares WHERE id = $1 \
         RETURNING owner_verifier, max_downloads, expires_at, ciphertext_size, token_id",
    )
    .bind(id);
    let Some(row) = returning(deleted, &mut *tx).await? else {
        return Ok(false);
    };
    let owner_verifier: Vec<u8> = row.try_get("owner_verifier")?;
    let max_downloads: i64 = row.try_get("max_downloads")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let token_id: Option<String> = row.try_get("token_id")?;
    credentials::release_in(
        &mut tx,
        row.try_get("ciphertext_size")?,
        token_id.as_deref(),
    )
    .await?;
    // Held claims whose lease ran out count as downloads done.
    let left = sqlx::query(
        "SELECT COUNT(*) AS n FROM download_slots WHERE share_id = $1 \
         AND NOT (held = 1 AND lease_until <= $2)",
    )
    .bind(id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?
    .try_get::<i64, _>("n")?;
    for table in [
        "DELETE FROM download_slots WHERE share_id = $1",
        "DELETE FROM segments WHERE share_id = $1",
        "DELETE FROM uploads WHERE id = $1",
    ] {
        sqlx::query(table).bind(id).execute(&mut *tx).await?;
    }
    let forget_at = match reason {
        GoneReason::Expired => expires_at.max(now) + EXPIRED_TOMBSTONE_MS,
        _ => expires_at.max(now),
    };
    sqlx::query(
        "INSERT INTO tombstones (id, reason, owner_verifier, downloads_done, expires_at, forget_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(reason.as_str())
    .bind(&owner_verifier)
    .bind((max_downloads - left).max(0))
    .bind(expires_at)
    .bind(forget_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}
