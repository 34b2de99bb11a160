//! One proxied connection: bytes copied both ways through bounded buffers, counted, and cut
//! where the plan says.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{ReadHalf, WriteHalf},
    },
    sync::watch,
};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use crate::{Shared, plan::Direction};

/// How a connection ended.
enum End {
    /// Both sides closed their halves: a normal end.
    Closed,
    /// The plan's cut point was reached.
    Cut,
    /// One side failed (reset, broken pipe): the other is reset too, as a network would.
    Broken,
    /// The proxy went down.
    Down,
}

/// Counts one connection's bytes against its cut point.
struct Meter {
    cut_at: Option<u64>,
    direction: Direction,
    counted: AtomicU64,
    /// Cleared once the proxy's cut budget is spent: the connection then passes through.
    armed: AtomicBool,
}

/// What to do with bytes just read.
enum Admit {
    /// Forward them all.
    Pass,
    /// Forward this many, then cut.
    CutAfter(usize),
    /// Forward nothing and wait: the other direction is cutting the connection.
    Hold,
}

impl Meter {
    /// What to do with `n` bytes flowing in `flow`.
    fn admit(&self, flow: Direction, n: usize, shared: &Shared) -> Admit {
        let Some(limit) = self.cut_at else {
            return Admit::Pass;
        };
        if !self.direction.counts(flow) || !self.armed.load(Relaxed) {
            return Admit::Pass;
        }
        let before = self.counted.fetch_add(n as u64, Relaxed);
        if before >= limit {
            return Admit::Hold;
        }
        if before.saturating_add(n as u64) < limit {
            return Admit::Pass;
        }
        if !shared.live.reserve_cut(shared.plan.max_cuts) {
            self.armed.store(false, Relaxed);
            return Admit::Pass;
        }
        // `limit - before` is below `n` or equal to it here.
        Admit::CutAfter(usize::try_from(limit - before).unwrap_or(n))
    }
}

/// Relays between `client` and `upstream` until both close, the cut point, a failure, or
/// the proxy going down; a cut, failure or outage resets both sockets.
pub(crate) async fn relay(
    mut client: TcpStream,
    mut upstream: TcpStream,
    cut_at: Option<u64>,
    shared: Arc<Shared>,
    mut down: watch::Receiver<bool>,
) {
    let meter = Meter {
        cut_at,
        direction: shared.plan.direction,
        counted: AtomicU64::new(0),
        armed: AtomicBool::new(true),
    };
    if cut_at.is_some() {
        prepare(&client);
        prepare(&upstream);
    }
    let end = if cut_at == Some(0) && shared.live.reserve_cut(shared.plan.max_cuts) {
        End::Cut
    } else {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up = pump(client_read, upstream_write, Direction::Up, &meter, &shared);
        let down_flow = pump(
            upstream_read,
            client_write,
            Direction::Down,
            &meter,
            &shared,
        );
        tokio::select! {
            ended = async { tokio::try_join!(up, down_flow) } => match ended {
                Ok(_) => End::Closed,
                Err(end) => end,
            },
            _ = down.wait_for(|is_down| *is_down) => End::Down,
        }
    };
    match end {
        End::Closed => {}
        End::Cut | End::Broken => reset(&client, &upstream),
        End::Down => {
            shared.live.refused.fetch_add(1, Relaxed);
            reset(&client, &upstream);
        }
    }
}

/// Copies `from` into `to` until end of stream (then half-closes `to`), a failure, or the
/// cut point. Bounded by the stream itself: every pass reads at least one byte or ends.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    flow: Direction,
    meter: &Meter,
    shared: &Shared,
) -> Result<(), End> {
    let mut buf = vec![0u8; shared.plan.buffer_bytes];
    let total = match flow {
        Direction::Up => &shared.live.bytes_up,
        _ => &shared.live.bytes_down,
    };
    loop {
        let n = from.read(&mut buf).await.map_err(|_| End::Broken)?;
        if n == 0 {
            to.shutdown().await.map_err(|_| End::Broken)?;
            return Ok(());
        }
        let (forward, cut) = match meter.admit(flow, n, shared) {
            Admit::Pass => (n, false),
            Admit::CutAfter(forward) => (forward, true),
            Admit::Hold => std::future::pending().await,
        };
        to.write_all(&buf[..forward])
            .await
            .map_err(|_| End::Broken)?;
        total.fetch_add(forward as u64, Relaxed);
        if cut {
            drain(to.as_ref()).await;
            return Err(End::Cut);
        }
    }
}

/// Waits (a bounded time) until the kernel has sent every byte written to `stream`, so the
/// reset that follows does not discard the last bytes before the cut point: a receiver that
/// keeps reading gets exactly the bytes up to the cut. With TCP_NOTSENT_LOWAT 1 (set by
/// [`prepare`]) poll(2) reports the socket writable only once nothing is left unsent; Tokio's
/// edge-triggered readiness does not fire again for that, so this polls.
async fn drain(stream: &TcpStream) {
    for _ in 0..DRAIN_POLLS {
        let mut fds = [PollFd::new(stream, PollFlags::OUT)];
        let ready = poll(&mut fds, Some(&Timespec::default())).is_ok()
            && fds[0]
                .revents()
                .intersects(PollFlags::OUT | PollFlags::ERR | PollFlags::HUP);
        if ready {
            return;
        }
        tokio::time::sleep(DRAIN_STEP).await;
    }
}

/// How often [`drain`] looks, and how many times: up to 2 s for a receiver that stopped
/// reading (the cut then loses what it had not taken, as a real failure would).
const DRAIN_STEP: std::time::Duration = std::time::Duration::from_millis(1);
const DRAIN_POLLS: u32 = 2000;

/// Readies a faulty connection's socket for [`drain`].
pub(crate) fn prepare(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_notsent_lowat(1);
}

/// Aborts both connections as a failed network path would look: SO_LINGER 0, so dropping
/// the sockets sends a reset instead of an orderly close.
pub(crate) fn reset(client: &TcpStream, upstream: &TcpStream) {
    // A socket that already failed cannot take the option; dropping it closes it anyway.
    let _ = client.set_zero_linger();
    let _ = upstream.set_zero_linger();
}
