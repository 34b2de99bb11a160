//! What `ferry-server admin shares` shows: every live share with its size and expiry.
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
}
