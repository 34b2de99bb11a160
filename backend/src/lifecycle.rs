//! Removing shares (on deletion, expiry, use), expiry sweeping and startup reconciliation
//! of blobs with rows.
//!
//! Every step is safe while other server processes share the database and the store:
//! removals are conditional (a share removed by another process is skipped, not removed
//! twice), objects are deleted only after their row is gone, and objects without a row go
//! only after a grace period (another process may be writing them a moment before their
//! row). The periodic sweep is further done by one process at a time, whichever holds the
//! janitor lease, so N replicas do not list the bucket N times a minute.
use std::{collections::HashSet, time::Duration};

use crate::{
    AppState, ids,
    space::is_storage_full,
    store::{GoneReason, JANITOR},
};

/// How old objects without a share or upload row must be before a sweep deletes them. A
/// segment is written a moment before its row, by whichever process serves the upload;
/// anything this old without a row was never downloadable (a crash between the two, a
/// write racing an abandoned upload's removal, or a removal whose deletion failed).
const ORPHAN_GRACE: Duration = Duration::from_secs(15 * 60);

/// Removes a share for `reason`: its row first (leaving a tombstone), then its blob, so a
/// row never points at a missing blob. On a full disk the database may be unable to write
/// even a deletion: the space reserve is released and the removal tried once more. A blob
/// whose deletion fails stays behind as an orphan for a later sweep; the share is gone
/// either way. True if this call removed it (false: someone else did first).
pub async fn remove_share(state: &AppState, id: &str, reason: GoneReason) -> anyhow::Result<bool> {
    let removed = match state.shares.remove(id, reason).await {
        Err(err) if is_storage_full(&err) && state.space.release_ballast() => {
            state.shares.remove(id, reason).await?
        }
        result => result?,
    };
    if removed {
        tracing::info!(share = %ids::short(id), ?reason, "share removed");
    }
    if let Err(err) = state.blobs.delete(id).await {
        tracing::error!(
            share = %ids::short(id),
            error = ids::redact(&format!("{err:#}")),
            "could not delete a removed share's blob; a later sweep will"
        );
    }
    Ok(removed)
}

/// What a reconciliation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Stale staging files of interrupted writes removed.
    pub staging_removed: usize,
    /// Held claims whose lease ran out, counted as downloads.
    pub lapsed_counted: u64,
    /// Objects without a row (older than the grace period) removed.
    pub orphan_blobs: usize,
    /// Rows whose blob was missing removed.
    pub missing_blobs: usize,
    /// Used-up shares removed.
    pub used_up: usize,
}

/// Brings storage and database back in line after a stop or crash. Safe while other
/// server processes share the store: only staging files and orphans older than the grace
/// period go.
pub async fn reconcile(state: &AppState) -> anyhow::Result<Reconciled> {
    let mut out = Reconciled {
        staging_removed: state.blobs.sweep_staging(ORPHAN_GRACE)?,
        lapsed_counted: state
            .shares
            .count_lapsed(None, state.shares.now_ms())
            .await?,
        ..Reconciled::default()
    };
    for id in state.shares.used_up_ids().await? {
        if remove_share(state, &id, GoneReason::UsedUp).await? {
            out.used_up += 1;
        }
    }
    // Rows first, then objects: a share's objects are written before its row, so every
    // row read here has its objects in the listing unless they are really gone.
    let rows: HashSet<String> = state.shares.all_ids().await?.into_iter().collect();
    let stored: HashSet<String> = state
        .blobs
        .list()
        .await?
        .into_iter()
        .map(|blob| blob.id)
        .collect();
    for id in rows.difference(&stored) {
        // Removed meanwhile by another process (row first, then objects) is not missing.
        if state.shares.remove(id, GoneReason::Deleted).await? {
            tracing::error!(share = %ids::short(id), "share row without its ciphertext; removed it");
            out.missing_blobs += 1;
        }
    }
    let mut swept = Swept::default();
    sweep_orphans(state, &mut swept).await?;
    out.orphan_blobs = swept.orphans;
    tracing::info!(?out, "storage reconciled");
    Ok(out)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Expired shares removed.
    pub expired: usize,
    /// Abandoned uploads removed with what they stored.
    pub abandoned: usize,
    /// Held claims whose lease ran out, counted as downloads.
    pub lapsed: u64,
    /// Shares removed because those counts used them up.
    pub used_up: usize,
    /// Blobs without a row (older than the grace period) deleted.
    pub orphans: usize,
    /// Shares or blobs that could not be removed this time (logged; tried again next
    /// sweep).
    pub failed: usize,
}

/// Counts held claims whose lease ran out (a download cut past its first window and never
/// resumed is used), deletes expired and used-up shares (row, then blob) and old orphan
/// blobs, forgets old tombstones and restores the space reserve. A share that fails to go
/// does not stop the others.
pub async fn sweep(state: &AppState) -> anyhow::Result<Swept> {
    let now = state.shares.now_ms();
    let mut out = Swept {
        lapsed: state.shares.count_lapsed(None, now).await?,
        ..Swept::default()
    };
    // Also catches a share whose last slot was counted just before a crash.
    for id in state.shares.used_up_ids().await? {
        match remove_share(state, &id, GoneReason::UsedUp).await {
            Ok(removed) => out.used_up += usize::from(removed),
            Err(err) => {
                out.failed += 1;
                tracing::error!(
                    share = %ids::short(&id),
                    error = ids::redact(&format!("{err:#}")),
                    "could not remove a used-up share"
                );
            }
        }
    }
    for id in state.shares.expired_ids(now).await? {
        match remove_share(state, &id, GoneReason::Expired).await {
            Ok(removed) => out.expired += usize::from(removed),
            Err(err) => {
                out.failed += 1;
                tracing::error!(
                    share = %ids::short(&id),
                    error = ids::redact(&format!("{err:#}")),
                    "could not remove an expired share"
                );
            }
        }
    }
    sweep_abandoned(state, now, &mut out).await?;
    sweep_orphans(state, &mut out).await?;
    state.shares.purge_tombstones(now).await?;
    state.shares.forget_committed_uploads(now).await?;
    state.space.restore_ballast();
    if out != Swept::default() {
        tracing::info!(?out, "swept");
    }
    Ok(out)
}

/// Removes uploads that stored nothing for their abandonment period: the row (so no
/// client can resume or commit it), then its objects.
async fn sweep_abandoned(state: &AppState, now: i64, out: &mut Swept) -> anyhow::Result<()> {
    for id in state.shares.abandoned_uploads(now).await? {
        if !state.shares.remove_abandoned(&id, now).await? {
            continue;
        }
        out.abandoned += 1;
        if let Err(err) = state.blobs.delete(&id).await {
            out.failed += 1;
            tracing::error!(
                share = %ids::short(&id),
                error = ids::redact(&format!("{err:#}")),
                "could not delete an abandoned upload's segments; the orphan sweep will"
            );
        }
    }
    Ok(())
}

async fn sweep_orphans(state: &AppState, out: &mut Swept) -> anyhow::Result<()> {
    let cutoff = std::time::SystemTime::now() - ORPHAN_GRACE;
    for blob in state.blobs.list().await? {
        if blob.modified > cutoff || state.shares.exists(&blob.id).await? {
            continue;
        }
        match state.blobs.delete(&blob.id).await {
            Ok(()) => out.orphans += 1,
            Err(err) => {
                out.failed += 1;
                tracing::error!(
                    share = %ids::short(&blob.id),
                    error = ids::redact(&format!("{err:#}")),
                    "could not delete an orphan blob"
                );
            }
        }
    }
    Ok(())
}

/// The periodic sweep of one server process among several: each `interval` it reads the
/// database's clock again and, if it holds the janitor lease (taking it when free),
/// sweeps. The lease lasts three intervals, so a holder that dies is replaced within them.
pub struct Janitor {
    state: AppState,
    holder: String,
    interval: Duration,
}

impl Janitor {
    /// A janitor for `state` sweeping every `interval`, under a fresh holder name.
    pub fn new(state: AppState, interval: Duration) -> anyhow::Result<Janitor> {
        Ok(Janitor {
            state,
            holder: ids::random_id()?,
            interval: interval.max(Duration::from_millis(10)),
        })
    }

    /// One turn: `Some` with what it swept if this process holds the lease, `None` if
    /// another one does.
    pub async fn tick(&self) -> anyhow::Result<Option<Swept>> {
        self.state.shares.sync_clock().await?;
        let ttl = self.interval.saturating_mul(3);
        if !self
            .state
            .shares
            .take_lease(JANITOR, &self.holder, ttl)
            .await?
        {
            // The ballast is this process's own (its data directory), lease or not.
            self.state.space.restore_ballast();
            return Ok(None);
        }
        sweep(&self.state).await.map(Some)
    }

    /// Runs [`Janitor::tick`] every interval until the task is aborted.
    pub async fn run(self: std::sync::Arc<Self>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(err) = self.tick().await {
                tracing::error!(error = ids::redact(&format!("{err:#}")), "sweep failed");
            }
        }
    }

    /// Gives the lease up (a process that stops), so another takes over at its next turn.
    pub async fn resign(&self) {
        if let Err(err) = self.state.shares.release_lease(JANITOR, &self.holder).await {
            tracing::warn!(
                error = ids::redact(&format!("{err:#}")),
                "could not give the janitor lease up"
            );
        }
    }
}
