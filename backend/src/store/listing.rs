//! What `ferry-server admin` shows: every live share with its size and expiry, and
//! counts of what the database holds.
use sqlx::Row;

use super::{LEFT_AT_2, ShareStore};

/// One live share as the operator sees it (nothing secret: no verifier, no metadata).
#[derive(Clone, Debug)]
pub struct ShareSummary {
    /// Share ID.
    pub id: String,
    /// Ciphertext bytes.
    pub ciphertext_size: u64,
    /// When it was committed, epoch milliseconds.
    pub created_at: i64,
    /// When it expires, epoch milliseconds.
    pub expires_at: i64,
    /// Downloads left of `max_downloads`.
    pub downloads_left: u32,
    /// The download limit.
    pub max_downloads: u32,
    /// The upload token it counts against, if any.
    pub token_id: Option<String>,
}

/// Counts of the database's rows by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Live shares.
    pub shares: u64,
    /// Uploads not yet committed.
    pub unfinished_uploads: u64,
    /// Downloads in progress (claimed slots whose lease runs).
    pub claims: u64,
    /// Tombstones of removed shares that still answer "expired", "used up"…
    pub tombstones: u64,
}

impl ShareStore {
    /// Every live share, soonest expiry first.
    pub async fn share_summaries(&self) -> anyhow::Result<Vec<ShareSummary>> {
        let left_at_1 = LEFT_AT_2.replace("$2", "$1");
        let rows = sqlx::query(&format!(
            "SELECT s.id, s.ciphertext_size, s.created_at, s.expires_at, s.max_downloads, \
             s.token_id, {left_at_1} AS downloads_left FROM shares s ORDER BY s.expires_at, s.id"
        ))
        .bind(self.now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ShareSummary {
                    id: row.try_get("id")?,
                    ciphertext_size: row.try_get::<i64, _>("ciphertext_size")?.max(0) as u64,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    downloads_left: row.try_get::<i64, _>("downloads_left")?.max(0) as u32,
                    max_downloads: row.try_get::<i64, _>("max_downloads")?.max(0) as u32,
                    token_id: row.try_get("token_id")?,
                })
            })
            .collect()
    }

    /// How many rows of each kind the database holds.
    pub async fn counts(&self) -> anyhow::Result<Counts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM shares) AS shares, \
             (SELECT COUNT(*) FROM uploads WHERE committed = 0) AS unfinished, \
             (SELECT COUNT(*) FROM download_slots WHERE claim_id IS NOT NULL AND lease_until > $1) AS claims, \
             (SELECT COUNT(*) FROM tombstones) AS tombstones",
        )
        .bind(self.now_ms())
        .fetch_one(&self.pool)
        .await?;
        let n = |name: &str| row.try_get::<i64, _>(name).map(|n| n.max(0) as u64);
        Ok(Counts {
            shares: n("shares")?,
            unfinished_uploads: n("unfinished")?,
            claims: n("claims")?,
            tombstones: n("tombstones")?,
        })
    }
}
