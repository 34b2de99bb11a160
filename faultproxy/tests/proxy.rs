//! The proxy against real sockets on 127.0.0.1: cuts land exactly at their point and look
//! like a failed network to both sides, pass-through is byte-exact, seeds replay, outages
//! reset everything until lifted, and the binary speaks its stdout/stdin protocol.

use std::net::SocketAddr;

use ferry_faultproxy::{CutPoint, Direction, Error, FaultPlan, Proxy};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// Deterministic test bytes (xorshift64*), so a corrupted or shifted byte shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// How a read to the end went: the bytes, and whether it ended in a reset (or other error)
/// rather than an orderly end of stream.
struct Received {
    bytes: Vec<u8>,
    reset: bool,
}

/// Reads until end of stream or an error. Bounded by the stream.
async fn read_to_end_or_error(stream: &mut TcpStream) -> Received {
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => {
                return Received {
                    bytes,
                    reset: false,
                };
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => return Received { bytes, reset: true },
        }
    }
}

/// An upstream that sends `data` to every connection, then closes; reports each write's
/// outcome (true: all of `data` was written and the close was orderly).
async fn source(data: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let data = data.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let ok = socket.write_all(&data).await.is_ok() && socket.shutdown().await.is_ok();
                // Drain whatever comes back so a reset from the proxy is seen here too.
                let ok = ok && !read_to_end_or_error(&mut socket).await.reset;
                let _ = tx.send(ok);
            });
        }
    });
    (addr, rx)
}

/// An upstream that reads each connection to its end and reports what it got.
async fn sink() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(read_to_end_or_error(&mut socket).await);
            });
        }
    });
    (addr, rx)
}

/// An upstream that echoes every connection back.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                    let _ = w.shutdown().await;
                }
            });
        }
    });
    addr
}

async fn start(upstream: SocketAddr, plan: FaultPlan) -> Proxy {
    Proxy::start("127.0.0.1:0".parse().unwrap(), upstream, plan)
        .await
        .expect("proxy starts")
}

/// Sends `data` through an echo path and reads what comes back (writing and reading at
/// once, so neither side's buffers fill up).
async fn round_trip(addr: SocketAddr, data: &[u8]) -> Received {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = stream.split();
    let write = async {
        let _ = w.write_all(data).await;
        let _ = w.shutdown().await;
    };
    let read = async {
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match r.read(&mut buf).await {
                Ok(0) => {
                    return Received {
                        bytes,
                        reset: false,
                    };
                }
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(_) => return Received { bytes, reset: true },
            }
        }
    };
    tokio::join!(write, read).1
}

#[tokio::test]
async fn a_download_cut_after_n_bytes_delivers_exactly_n_then_resets_both_sides() {
    let data = pattern(1 << 20, 1);
    let (upstream, mut outcomes) = source(data.clone()).await;
    let n = 100_003;
    let proxy = start(
        upstream,
        FaultPlan {
            cut: Some(CutPoint::After(n)),
            direction: Direction::Down,
            ..FaultPlan::default()
        },
    )
    .await;
    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let got = read_to_end_or_error(&mut client).await;
    assert_eq!(got.bytes.len() as u64, n, "the cut lands exactly at N");
    assert_eq!(
        got.bytes,
        data[..n as usize],
        "and the bytes before it are intact"
    );
    assert!(got.reset, "the client sees a reset, not an orderly end");
    assert!(
        !outcomes.recv().await.unwrap(),
        "the server sees the failure too"
    );
    let counters = proxy.counters();
    assert_eq!((counters.cuts, counters.bytes_down), (1, n));
}

#[tokio::test]
async fn an_upload_cut_counts_only_the_chosen_direction() {
    let (upstream, mut received) = sink().await;
    let n = 5_000;
    let proxy = start(
        upstream,
        FaultPlan {
            cut: Some(CutPoint::After(n)),
            direction: Direction::Up,
            ..FaultPlan::default()
        },
    )
    .await;
    let data = pattern(200_000, 2);
    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    // The write may or may not fail (the reset can arrive while it is still writing).
    let _ = client.write_all(&data).await;
    let at_server = received.recv().await.unwrap();
    assert_eq!(at_server.bytes, data[..n as usize]);
    assert!(at_server.reset);
    assert!(read_to_end_or_error(&mut client).await.reset);
    assert_eq!(proxy.counters().bytes_up, n);
}

#[tokio::test]
async fn cut_at_zero_resets_before_any_byte() {
    let (upstream, _outcomes) = source(pattern(1000, 3)).await;
    let proxy = start(
        upstream,
        FaultPlan {
            cut: Some(CutPoint::After(0)),
            ..FaultPlan::default()
        },
    )
    .await;
    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let got = read_to_end_or_error(&mut client).await;
    assert!(got.bytes.is_empty() && got.reset);
}

#[tokio::test]
async fn after_k_cuts_connections_pass_through_byte_exact() {
    let proxy = start(
        echo().await,
        FaultPlan {
            cut: Some(CutPoint::After(4096)),
            max_cuts: Some(2),
            ..FaultPlan::default()
        },
    )
    .await;
    let data = pattern(3 << 20, 4);
    for _ in 0..2 {
        let got = round_trip(proxy.local_addr(), &data).await;
        assert!(got.reset, "the first two connections are cut");
        assert!(got.bytes.len() < data.len());
    }
    for _ in 0..2 {
        let got = round_trip(proxy.local_addr(), &data).await;
        assert!(!got.reset);
        assert!(got.bytes == data, "pass-through is byte-exact");
    }
    let counters = proxy.counters();
    assert_eq!((counters.connections, counters.cuts), (4, 2));
}

#[tokio::test]
async fn only_the_first_k_connections_are_faulty() {
    let proxy = start(
        echo().await,
        FaultPlan {
            cut: Some(CutPoint::After(10)),
            faulty_connections: Some(1),
            ..FaultPlan::default()
        },
    )
    .await;
    let data = pattern(100_000, 5);
    assert!(round_trip(proxy.local_addr(), &data).await.reset);
    let second = round_trip(proxy.local_addr(), &data).await;
    assert!(!second.reset && second.bytes == data);
}

/// The bytes each of `connections` successive downloads got through a seeded proxy.
async fn seeded_run(seed: u64, connections: u64) -> (Vec<u64>, FaultPlan) {
    let (upstream, _outcomes) = source(pattern(1 << 20, 6)).await;
    let plan = FaultPlan {
        cut: Some(CutPoint::Seeded {
            seed,
            min: 1_000,
            max: 500_000,
        }),
        direction: Direction::Down,
        ..FaultPlan::default()
    };
    let proxy = start(upstream, plan.clone()).await;
    let mut got = Vec::new();
    for _ in 0..connections {
        let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
        let received = read_to_end_or_error(&mut client).await;
        assert!(received.reset);
        got.push(received.bytes.len() as u64);
    }
    (got, plan)
}

#[tokio::test]
async fn seeded_cut_points_replay_exactly() {
    let (first, plan) = seeded_run(42, 6).await;
    let (again, _) = seeded_run(42, 6).await;
    let (other, _) = seeded_run(43, 6).await;
    assert_eq!(first, again, "the same seed cuts at the same points");
    assert_ne!(first, other, "another seed cuts elsewhere");
    let planned: Vec<u64> = (0..6).map(|i| plan.cut_point(i).unwrap()).collect();
    assert_eq!(first, planned, "and exactly where the plan says");
}

#[tokio::test]
async fn an_outage_resets_open_and_new_connections_until_lifted() {
    let proxy = start(echo().await, FaultPlan::default()).await;
    let mut open = TcpStream::connect(proxy.local_addr()).await.unwrap();
    open.write_all(b"ping").await.unwrap();
    let mut pong = [0u8; 4];
    open.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"ping");

    proxy.set_down(true);
    assert!(
        read_to_end_or_error(&mut open).await.reset,
        "open connection cut"
    );
    let during = round_trip(proxy.local_addr(), b"hello").await;
    assert!(
        during.reset && during.bytes.is_empty(),
        "new connection refused"
    );

    proxy.set_down(false);
    let after = round_trip(proxy.local_addr(), b"hello").await;
    assert!(!after.reset && after.bytes == b"hello");
    assert_eq!(proxy.counters().refused, 2);
}

#[tokio::test]
async fn connections_over_the_cap_are_refused() {
    let proxy = start(
        echo().await,
        FaultPlan {
            max_connections: 1,
            ..FaultPlan::default()
        },
    )
    .await;
    let mut first = TcpStream::connect(proxy.local_addr()).await.unwrap();
    first.write_all(b"a").await.unwrap();
    let mut one = [0u8; 1];
    first.read_exact(&mut one).await.unwrap();
    let second = round_trip(proxy.local_addr(), b"b").await;
    assert!(second.reset && second.bytes.is_empty());
    drop(first);
}

#[tokio::test]
async fn refuses_to_leave_loopback() {
    let outside: SocketAddr = "192.0.2.1:80".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let plan = FaultPlan::default;
    assert!(matches!(
        Proxy::start(local, outside, plan()).await,
        Err(Error::NotLoopback(_))
    ));
    assert!(matches!(
        Proxy::start("0.0.0.0:0".parse().unwrap(), local, plan()).await,
        Err(Error::NotLoopback(_))
    ));
}

#[tokio::test]
async fn the_binary_prints_its_address_first_and_obeys_stdin() {
    let (upstream, _outcomes) = source(pattern(50_000, 7)).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry-faultproxy"))
        .args(["--upstream", &upstream.to_string(), "--cut-after", "777"])
        .args(["--direction", "down", "--max-cuts", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = lines.next_line().await.unwrap().unwrap().parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let mut cut = TcpStream::connect(addr).await.unwrap();
    let got = read_to_end_or_error(&mut cut).await;
    assert_eq!((got.bytes.len(), got.reset), (777, true));
    let mut whole = TcpStream::connect(addr).await.unwrap();
    whole.shutdown().await.unwrap();
    let got = read_to_end_or_error(&mut whole).await;
    assert_eq!((got.bytes.len(), got.reset), (50_000, false));
    // Until the proxy has closed both halves (else going down counts it as refused too).
    let mut stats = serde_json::Value::Null;
    for _ in 0..1000 {
        stdin.write_all(b"stats\n").await.unwrap();
        stats = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        if stats["open"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(stats["open"], 0);

    stdin.write_all(b"down\n").await.unwrap();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "ok");
    let mut refused = TcpStream::connect(addr).await.unwrap();
    assert!(read_to_end_or_error(&mut refused).await.reset);
    stdin.write_all(b"stats\n").await.unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(stats["connections"], 3);
    assert_eq!(stats["cuts"], 1);
    assert_eq!(stats["refused"], 1);
    assert_eq!(stats["bytes_down"], 777 + 50_000);
    child.kill().await.unwrap();
}
