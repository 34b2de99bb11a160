//! What the proxy has done so far, readable while it runs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// A snapshot of the proxy's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Connections accepted (including refused ones).
    pub connections: u64,
    /// Connections cut by the fault plan (at their cut point).
    pub cuts: u64,
    /// Connections reset because the proxy was down (open ones when it went down, and new
    /// ones while it was), because too many were open, or because the upstream refused.
    pub refused: u64,
    /// Bytes forwarded from clients to the upstream server.
    pub bytes_up: u64,
    /// Bytes forwarded from the upstream server to clients.
    pub bytes_down: u64,
    /// Connections open now.
    pub open: u64,
}

/// The live counters behind [`Counters`].
#[derive(Default)]
pub(crate) struct Live {
    pub(crate) connections: AtomicU64,
    pub(crate) cuts: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
    pub(crate) open: AtomicU64,
}

impl Live {
    pub(crate) fn snapshot(&self) -> Counters {
        Counters {
            connections: self.connections.load(Relaxed),
            cuts: self.cuts.load(Relaxed),
            refused: self.refused.load(Relaxed),
            bytes_up: self.bytes_up.load(Relaxed),
            bytes_down: self.bytes_down.load(Relaxed),
            open: self.open.load(Relaxed),
        }
    }

    /// Takes one cut from the budget of `max` (`None`: unlimited); false once it is spent.
    pub(crate) fn reserve_cut(&self, max: Option<u64>) -> bool {
        self.cuts
            .fetch_update(Relaxed, Relaxed, |made| match max {
                Some(max) if made >= max => None,
                _ => Some(made + 1),
            })
            .is_ok()
    }
}
