//! What `/metrics` reads from the database when scraped: a handful of `COUNT`s over
//! indexed or small tables, in one statement.
use anyhow::Context;
use sqlx::Row;

use super::ShareStore;

/// Shares, uploads and claims by state, at one instant of the database's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShareCounts {
    /// Committed shares (downloadable, or expired and not yet swept).
    pub live: u64,
    /// Ciphertext bytes of those shares.
    pub stored_bytes: u64,
    /// Upload sessions not committed yet (in progress, or waiting to be resumed).
    pub uploading: u64,
    /// Download claims whose lease runs and that may still be released.
    pub claimed: u64,
    /// Held claims whose lease runs: their client may have the file.
    pub held: u64,
    /// Tombstones of deleted, expired or used-up shares still answering for them.
    pub tombstones: u64,
}

const COUNTS: &str = "SELECT \
     (SELECT COUNT(*) FROM shares) AS live, \
     (SELECT CAST(COALESCE(SUM(ciphertext_size), 0) AS BIGINT) FROM shares) AS stored_bytes, \
     (SELECT COUNT(*) FROM uploads WHERE committed = 0) AS uploading, \
     (SELECT COUNT(*) FROM download_slots WHERE held = 0 AND lease_until > $1) AS claimed, \
     (SELECT COUNT(*) FROM download_slots WHERE held = 1 AND lease_until > $2) AS held, \
     (SELECT COUNT(*) FROM tombstones) AS tombstones";

impl ShareStore {
    /// The counts at `now` (the database's clock, ms).
    pub async fn counts(&self, now: i64) -> anyhow::Result<ShareCounts> {
        let row = sqlx::query(COUNTS)
            .bind(now)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .context("counting shares for metrics")?;
        let get =
            |name: &str| -> anyhow::Result<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
        Ok(ShareCounts {
            live: get("live")?,
            stored_bytes: get("stored_bytes")?,
            uploading: get("uploading")?,
            claimed: get("claimed")?,
            held: get("held")?,
            tombstones: get("tombstones")?,
        })
    }
}
