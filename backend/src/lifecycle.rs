//! Expiry sweeping and startup reconciliation of blobs with rows.
use std::{collections::HashSet, time::Duration};

use crate::{
    AppState,
    download::remove_share,
    ids,
    store::{GoneReason, now_ms},
};

/// What a reconciliation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Stale staging files of interrupted uploads removed.
    pub staging_removed: usize,
    /// Delivered downloads counted.
    pub delivered_counted: u64,
    /// Blobs without a row removed.
    pub orphan_blobs: usize,
    /// Rows whose blob was missing removed.
    pub missing_blobs: usize,
    /// Used-up shares removed.
    pub used_up: usize,
}

/// Brings storage and database back in line after a stop or crash. Run it before the
/// server accepts uploads: every staging file is then stale.
pub async fn reconcile(state: &AppState) -> anyhow::Result<Reconciled> {
    let mut out = Reconciled {
        staging_removed: state.blobs.sweep_staging()?,
        delivered_counted: state.shares.consume_delivered().await?,
        ..Reconciled::default()
    };
    for id in state.shares.used_up_ids().await? {
        remove_share(state, &id, GoneReason::UsedUp).await?;
        out.used_up += 1;
    }
    let rows: HashSet<String> = state.shares.all_ids().await?.into_iter().collect();
    let blobs: HashSet<String> = state.blobs.list_ids().await?.into_iter().collect();
    for id in blobs.difference(&rows) {
        // A blob completed just before a crash, before its row was inserted: it was
        // never downloadable.
        state.blobs.delete(id).await?;
        out.orphan_blobs += 1;
    }
    for id in rows.difference(&blobs) {
        tracing::error!(share = %ids::short(id), "share row without a blob; removing it");
        state.shares.remove(id, GoneReason::Deleted).await?;
        out.missing_blobs += 1;
    }
    tracing::info!(?out, "storage reconciled");
    Ok(out)
}

/// Deletes expired shares (blob and row) and forgets old tombstones. Returns how many
/// shares it removed.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let now = now_ms();
    let expired = state.shares.expired_ids(now).await?;
    for id in &expired {
        remove_share(state, id, GoneReason::Expired).await?;
    }
    state.shares.purge_tombstones(now).await?;
    if !expired.is_empty() {
        tracing::info!(removed = expired.len(), "expired shares swept");
    }
    Ok(expired.len())
}

/// Runs [`sweep`] every `interval` until the task is aborted.
pub async fn run_sweeper(state: AppState, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = sweep(&state).await {
            tracing::error!(error = ids::redact(&format!("{err:#}")), "sweep failed");
        }
    }
}
