//! Leases: work that one server process at a time should do among all that share the
//! database (the periodic sweep), taken and renewed with one conditional UPDATE each on
//! the database's clock, so a holder that dies hands it on when its time runs out.
use std::time::Duration;

use super::{ShareStore, returning};

/// The lease of the periodic sweep (expiry, lapsed claims, abandoned uploads, orphans).
pub const JANITOR: &str = "janitor";

impl ShareStore {
    /// Takes lease `name` for `holder` until `ttl` from now if it is free or already
    /// `holder`'s (which renews it). True if `holder` holds it now.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> anyhow::Result<bool> {
        let now = self.now_ms();
        let query = sqlx::query(
            "UPDATE leases SET holder = $1, until_ms = $2 \
             WHERE name = $3 AND (until_ms <= $4 OR holder = $1) RETURNING holder",
        )
        .bind(holder)
        .bind(now + ttl.as_millis() as i64)
        .bind(name)
        .bind(now);
        Ok(returning(query, &self.pool).await?.is_some())
    }

    /// Gives lease `name` up if `holder` holds it (a process that stops), so another
    /// process need not wait for it to run out.
    pub async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("UPDATE leases SET until_ms = 0 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
