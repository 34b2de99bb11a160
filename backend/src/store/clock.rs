//! The database's clock. Leases, expiry and abandonment are instants that every server
//! process sharing the database compares; taken from each host's own clock they would
//! drift apart by however far those clocks differ (a replica whose clock runs a minute
//! fast would free other replicas' claims a minute early). So each process measures how
//! far its clock is from the database's and reads "now" as its own clock plus that
//! offset, accurate to half a round trip. The offset is measured when the store connects
//! and again on every sweep, which follows a host clock that steps.
use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use sqlx::{AnyPool, Row};

/// The database's time in milliseconds since the Unix epoch, in each dialect.
const SQLITE_NOW: &str =
    "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) AS now_ms";
const POSTGRES_NOW: &str =
    "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) AS now_ms";

/// An offset beyond which the host's clock is reported as wrong (it is still corrected).
const WARN_OFFSET_MS: i64 = 1_000;

/// This host's clock in milliseconds since the Unix epoch.
pub(crate) fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// This process's reading of the database's clock.
#[derive(Debug, Default)]
pub(crate) struct DbClock {
    offset_ms: AtomicI64,
}

impl DbClock {
    /// The database's time now, in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        local_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Asks the database for its time and keeps how far `local` (this host's clock) is
    /// from it. Returns the offset in milliseconds.
    pub(crate) async fn sync(
        &self,
        pool: &AnyPool,
        postgres: bool,
        local: impl Fn() -> i64,
    ) -> Result<i64, sqlx::Error> {
        let before = local();
        let row = sqlx::query(if postgres { POSTGRES_NOW } else { SQLITE_NOW })
            .fetch_one(pool)
            .await?;
        let after = local();
        let theirs: i64 = row.try_get("now_ms")?;
        let offset = theirs - (before + (after - before) / 2);
        self.offset_ms.store(offset, Ordering::Relaxed);
        if offset.abs() > WARN_OFFSET_MS {
            tracing::warn!(
                offset_ms = offset,
                "this host's clock differs from the database's; leases and expiry follow the database's"
            );
        }
        Ok(offset)
    }
}
