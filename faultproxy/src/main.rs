//! `ferry-faultproxy`: the fault-injecting proxy as a program, for the browser suite and
//! shell scripts. Prints its listening address as the first line of stdout, then runs until
//! killed. Control lines on stdin: `down`, `up`, `stats` (prints the counters as one JSON
//! line). End of stdin changes nothing.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use ferry_faultproxy::{
    CutPoint, DEFAULT_BUFFER_BYTES, DEFAULT_MAX_CONNECTIONS, Direction, FaultPlan, Proxy,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A loopback TCP proxy that cuts connections on purpose (for tests).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Where to listen (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The server to relay to (loopback only).
    #[arg(long)]
    upstream: SocketAddr,
    /// Cut each faulty connection once this many counted bytes have passed (0: at once).
    #[arg(long, conflicts_with = "seed")]
    cut_after: Option<u64>,
    /// Cut each faulty connection at a pseudo-random count drawn from this seed and the
    /// connection's number (the same seed replays the same points).
    #[arg(long)]
    seed: Option<u64>,
    /// Smallest seeded cut point, in bytes.
    #[arg(long, default_value_t = 1, requires = "seed")]
    cut_min: u64,
    /// Largest seeded cut point, in bytes.
    #[arg(long, default_value_t = 1 << 20, requires = "seed")]
    cut_max: u64,
    /// Which bytes count: `up` (client to server), `down` (server to client) or `either`.
    #[arg(long, value_enum, default_value = "either")]
    direction: Flow,
    /// Only the first this many connections are faulty; later ones pass through.
    #[arg(long)]
    faulty_connections: Option<u64>,
    /// At most this many cuts in all; then every connection passes through.
    #[arg(long)]
    max_cuts: Option<u64>,
    /// Start down: every connection is reset until `up` is read on stdin.
    #[arg(long)]
    start_down: bool,
    /// Connections relayed at once; more are reset.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Bytes read at a time per direction per connection.
    #[arg(long, default_value_t = DEFAULT_BUFFER_BYTES)]
    buffer_bytes: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Flow {
    Either,
    Up,
    Down,
}

impl Args {
    fn plan(&self) -> FaultPlan {
        let cut = match (self.cut_after, self.seed) {
            (Some(n), _) => Some(CutPoint::After(n)),
            (None, Some(seed)) => Some(CutPoint::Seeded {
                seed,
                min: self.cut_min,
                max: self.cut_max,
            }),
            (None, None) => None,
        };
        FaultPlan {
            cut,
            direction: match self.direction {
                Flow::Either => Direction::Either,
                Flow::Up => Direction::Up,
                Flow::Down => Direction::Down,
            },
            faulty_connections: self.faulty_connections,
            max_cuts: self.max_cuts,
            start_down: self.start_down,
            max_connections: self.max_connections,
            buffer_bytes: self.buffer_bytes,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proxy = Proxy::start(args.listen, args.upstream, args.plan())
        .await
        .context("starting the proxy")?;
    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("{}\n", proxy.local_addr()).as_bytes())
        .await?;
    stdout.flush().await?;
    if let Err(error) = control(&proxy, &mut stdout).await {
        eprintln!("ferry-faultproxy: control lines stopped: {error:#}");
    }
    // Stdin closed: run on until killed.
    std::future::pending::<()>().await;
    Ok(())
}

/// Obeys control lines on stdin until it closes. Bounded by stdin.
async fn control(proxy: &Proxy, stdout: &mut tokio::io::Stdout) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match line.trim() {
            "down" => {
                proxy.set_down(true);
                "ok".to_owned()
            }
            "up" => {
                proxy.set_down(false);
                "ok".to_owned()
            }
            "stats" => serde_json::to_string(&proxy.counters())?,
            "" => continue,
            _ => "error: unknown command (down, up, stats)".to_owned(),
        };
        stdout.write_all(format!("{reply}\n").as_bytes()).await?;
        stdout.flush().await?;
    }
    Ok(())
}
