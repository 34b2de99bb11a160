//! The process's open-file (descriptor) limit and what it allows.
//!
//! Every WebSocket holds one descriptor (its TCP connection) and, while an upload writes or
//! a download reads a chunk, a second one (the blob file). Many systems start services with
//! a soft limit of 1,024 although the hard limit is far higher, so the server raises its soft
//! limit to the hard one at start and derives its default socket cap from the result.

/// Descriptors kept for everything that is not a WebSocket: the listener, the database
/// pool, log files, health checks and plain HTTP requests.
pub const RESERVED: u64 = 128;
/// Descriptors one WebSocket may hold at once: its connection and one blob file.
pub const PER_SOCKET: u64 = 2;
/// Upper end of the derived default: beyond it memory, not descriptors, is the limit (see
/// `docs/DEPLOYMENT.md`, "Memory").
pub const MAX_DEFAULT_SOCKETS: u64 = 4096;

/// Raises the soft open-file limit to the hard limit; returns the soft limit in force
/// afterwards (`None` where the platform has no such limit).
pub fn raise_limit() -> Option<u64> {
    imp::raise_limit()
}

/// The default cap on open WebSockets for a soft limit of `limit` descriptors: what fits
/// beside [`RESERVED`] at [`PER_SOCKET`] each, between 16 and [`MAX_DEFAULT_SOCKETS`].
pub fn default_max_sockets(limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return 1024;
    };
    let fits = limit.saturating_sub(RESERVED) / PER_SOCKET;
    fits.clamp(16, MAX_DEFAULT_SOCKETS) as usize
}

#[cfg(unix)]
mod imp {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};

    pub fn raise_limit() -> Option<u64> {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        if soft >= hard {
            return Some(soft);
        }
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the open-file limit");
                Some(hard)
            }
            Err(err) => {
                tracing::warn!(soft, hard, %err, "could not raise the open-file limit");
                Some(soft)
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn raise_limit() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_room_for_everything_else() {
        assert_eq!(default_max_sockets(Some(1024)), 448);
        assert_eq!(default_max_sockets(Some(100)), 16);
        assert_eq!(default_max_sockets(Some(1 << 20)), 4096);
        assert_eq!(default_max_sockets(None), 1024);
    }

    #[cfg(unix)]
    #[test]
    fn raising_reaches_the_hard_limit() {
        let limit = raise_limit().expect("unix has RLIMIT_NOFILE");
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((limit, soft), (hard, hard));
    }
}
