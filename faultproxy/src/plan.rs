//! What the proxy does to each connection: where (if anywhere) it cuts it.

use crate::Error;

/// Which bytes count towards a connection's cut point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Bytes in both directions, added together.
    #[default]
    Either,
    /// Only bytes from the client to the upstream server.
    Up,
    /// Only bytes from the upstream server to the client.
    Down,
}

impl Direction {
    /// Whether bytes flowing in `flow` (never `Either`) count under this setting.
    pub(crate) fn counts(self, flow: Direction) -> bool {
        self == Direction::Either || self == flow
    }
}

/// Where a faulty connection is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutPoint {
    /// Cut once exactly this many counted bytes have been forwarded (0: at once).
    After(u64),
    /// Cut at a pseudo-random count in `min..=max`, drawn per connection from `seed` and the
    /// connection's index (the order of accepts, from 0), so a seed replays the same points.
    Seeded {
        /// The seed; the same seed gives the same points.
        seed: u64,
        /// The smallest cut point.
        min: u64,
        /// The largest cut point.
        max: u64,
    },
}

/// Everything the proxy is told to do. The default passes everything through untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    /// Where connections are cut; `None` passes every connection through.
    pub cut: Option<CutPoint>,
    /// Which bytes count towards the cut point.
    pub direction: Direction,
    /// Only the first this many connections (by accept order) are faulty; later ones pass
    /// through. `None`: every connection is.
    pub faulty_connections: Option<u64>,
    /// At most this many cuts in all; once made, every connection passes through. `None`:
    /// no limit. (A client's own extra connections, say an HTTP request before a WebSocket,
    /// then do not use up the faults meant for the transfer.)
    pub max_cuts: Option<u64>,
    /// Start "down": every connection refused until [`crate::Proxy::set_down`]`(false)`.
    pub start_down: bool,
    /// Connections open at once; more are reset as they arrive (counted as refused).
    pub max_connections: usize,
    /// Bytes read at a time in each direction of each connection (its whole buffer).
    pub buffer_bytes: usize,
}

/// Default for [`FaultPlan::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default for [`FaultPlan::buffer_bytes`].
pub const DEFAULT_BUFFER_BYTES: usize = 64 * 1024;
/// Largest accepted [`FaultPlan::buffer_bytes`] (memory stays bounded by connections × 2 × this).
pub const MAX_BUFFER_BYTES: usize = 16 * 1024 * 1024;

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            cut: None,
            direction: Direction::Either,
            faulty_connections: None,
            max_cuts: None,
            start_down: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
        }
    }
}

impl FaultPlan {
    /// Refuses settings the proxy cannot honour.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.max_connections == 0 {
            return Err(Error::Invalid("max_connections must be at least 1"));
        }
        if self.buffer_bytes == 0 || self.buffer_bytes > MAX_BUFFER_BYTES {
            return Err(Error::Invalid("buffer_bytes must be in 1..=16 MiB"));
        }
        if let Some(CutPoint::Seeded { min, max, .. }) = self.cut
            && min > max
        {
            return Err(Error::Invalid("a seeded cut needs min <= max"));
        }
        Ok(())
    }

    /// The cut point of the connection accepted `index`-th (from 0), if it is faulty.
    pub fn cut_point(&self, index: u64) -> Option<u64> {
        if self.faulty_connections.is_some_and(|k| index >= k) {
            return None;
        }
        match self.cut? {
            CutPoint::After(n) => Some(n),
            CutPoint::Seeded { seed, min, max } => {
                let span = max - min;
                let draw = splitmix64(seed ^ splitmix64(index));
                Some(
                    min + if span == u64::MAX {
                        draw
                    } else {
                        draw % (span + 1)
                    },
                )
            }
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a fixed, dependency-free mix, so a seed means the
/// same cut points on every platform and in every version of this crate.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_points_are_reproducible_in_range_and_differ_by_seed() {
        let plan = |seed| FaultPlan {
            cut: Some(CutPoint::Seeded {
                seed,
                min: 100,
                max: 200,
            }),
            ..FaultPlan::default()
        };
        let a: Vec<_> = (0..64).map(|i| plan(7).cut_point(i).unwrap()).collect();
        let again: Vec<_> = (0..64).map(|i| plan(7).cut_point(i).unwrap()).collect();
        let other: Vec<_> = (0..64).map(|i| plan(8).cut_point(i).unwrap()).collect();
        assert_eq!(a, again);
        assert_ne!(a, other);
        assert!(a.iter().all(|p| (100..=200).contains(p)));
        // Not one point repeated 64 times: the connection index feeds the draw.
        assert!(a.iter().any(|p| *p != a[0]));
    }

    #[test]
    fn only_the_first_k_connections_are_faulty() {
        let plan = FaultPlan {
            cut: Some(CutPoint::After(10)),
            faulty_connections: Some(2),
            ..FaultPlan::default()
        };
        assert_eq!(plan.cut_point(0), Some(10));
        assert_eq!(plan.cut_point(1), Some(10));
        assert_eq!(plan.cut_point(2), None);
        assert_eq!(FaultPlan::default().cut_point(0), None);
    }

    #[test]
    fn full_range_seeded_cut_does_not_overflow() {
        let plan = FaultPlan {
            cut: Some(CutPoint::Seeded {
                seed: 1,
                min: 0,
                max: u64::MAX,
            }),
            ..FaultPlan::default()
        };
        assert!(plan.cut_point(3).is_some());
        assert!(plan.validate().is_ok());
    }
}
