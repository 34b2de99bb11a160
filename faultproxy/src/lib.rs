//! A fault-injecting TCP proxy for Ferry's tests, on loopback only.
//!
//! It sits between clients and a server and cuts connections on purpose: after N bytes
//! (counted per connection, in one direction or both), at pseudo-random points that a seed
//! replays, only for the first K connections or the first K cuts, and all of them while it is
//! "down" (a simulated outage). A cut resets both sockets (SO_LINGER 0, then close), so each
//! side sees what a failed network path looks like, not an orderly close.
//!
//! Rust tests use [`Proxy`]; browser and shell tests use the `ferry-faultproxy` binary.
#![deny(missing_docs)]

mod counters;
mod plan;
mod relay;

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering::Relaxed},
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
    task::JoinHandle,
};

pub use counters::Counters;
pub use plan::{
    CutPoint, DEFAULT_BUFFER_BYTES, DEFAULT_MAX_CONNECTIONS, Direction, FaultPlan, MAX_BUFFER_BYTES,
};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening or upstream address is not a loopback address: the proxy is a test tool
    /// and never touches another host.
    #[error("{0} is not a loopback address (the proxy only runs on loopback)")]
    NotLoopback(SocketAddr),
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    Invalid(&'static str),
    /// The listening socket could not be bound.
    #[error("cannot listen: {0}")]
    Bind(#[source] std::io::Error),
}

/// State shared by the accept loop and every connection.
pub(crate) struct Shared {
    pub(crate) plan: FaultPlan,
    pub(crate) live: counters::Live,
}

/// A running proxy. Dropping it stops accepting; connections already open run on.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    down: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` (port 0 picks a free one) and relays to `upstream` per `plan`.
    /// Must be called inside a Tokio runtime.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        plan: FaultPlan,
    ) -> Result<Proxy, Error> {
        for addr in [listen, upstream] {
            if !addr.ip().is_loopback() {
                return Err(Error::NotLoopback(addr));
            }
        }
        plan.validate()?;
        let listener = TcpListener::bind(listen).await.map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let (down, down_rx) = watch::channel(plan.start_down);
        let shared = Arc::new(Shared {
            plan,
            live: counters::Live::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone(), down_rx));
        Ok(Proxy {
            addr,
            shared,
            down,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the proxy has done so far.
    pub fn counters(&self) -> Counters {
        self.shared.live.snapshot()
    }

    /// Goes down (`true`: open connections are reset, new ones reset as they arrive) or
    /// back up (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    /// Whether the proxy is down.
    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Accepts until the proxy is dropped. Bounded by the listener: each pass takes one
/// connection, and at most `max_connections` are relayed at once.
async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    down: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(shared.plan.max_connections));
    let mut index = 0u64;
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors or similar: a later accept may succeed.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        shared.live.connections.fetch_add(1, Relaxed);
        let cut_at = shared.plan.cut_point(index);
        index += 1;
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) if !*down.borrow() => slot,
            _ => {
                refuse(&client, &shared);
                continue;
            }
        };
        let shared = shared.clone();
        let down = down.clone();
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(upstream).await else {
                refuse(&client, &shared);
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            shared.live.open.fetch_add(1, Relaxed);
            relay::relay(client, upstream, cut_at, shared.clone(), down).await;
            shared.live.open.fetch_sub(1, Relaxed);
            drop(slot);
        });
    }
}

/// Resets a connection the proxy will not relay.
fn refuse(client: &TcpStream, shared: &Shared) {
    shared.live.refused.fetch_add(1, Relaxed);
    let _ = client.set_zero_linger();
}
