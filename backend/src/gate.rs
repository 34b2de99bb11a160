//! How many WebSockets may be open at once, per client address and in total.
//!
//! Without a cap, 997 idle sockets from one client took every descriptor of a server with a
//! 1,024-descriptor limit: the health check, the CLI and every other user were refused. A
//! socket takes a [`Pass`] before its upgrade is served and gives it back when its task
//! ends (the pass is dropped), whatever the way it ends.
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex, MutexGuard},
};

use actix_web::HttpRequest;

/// Why a socket was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// This client address already has the most sockets one address may have.
    #[error("this address already has {0} connections open, the most one address may have")]
    PerAddress(usize),
    /// The server has the most sockets it may have.
    #[error("the server has the most connections it can take ({0})")]
    Total(usize),
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Counts open sockets against the two caps.
pub struct SocketGate {
    per_address: usize,
    total: usize,
    counts: Mutex<Counts>,
}

/// One admitted socket; dropping it frees its place.
pub struct Pass {
    gate: Arc<SocketGate>,
    client: IpAddr,
}

impl SocketGate {
    /// A gate letting in `per_address` sockets per client and `total` in all.
    pub fn new(per_address: usize, total: usize) -> Arc<SocketGate> {
        Arc::new(SocketGate {
            per_address,
            total,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // A panic while holding the lock leaves the counts consistent (each update is one
        // statement), so a poisoned lock is still usable.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets one more socket of `client` in, or says why not.
    pub fn enter(self: &Arc<Self>, client: IpAddr) -> Result<Pass, Refused> {
        let client = client_key(client);
        let mut counts = self.counts();
        if counts.total >= self.total {
            return Err(Refused::Total(self.total));
        }
        let mine = counts.by_client.entry(client).or_insert(0);
        if *mine >= self.per_address {
            return Err(Refused::PerAddress(self.per_address));
        }
        *mine += 1;
        counts.total += 1;
        Ok(Pass {
            gate: self.clone(),
            client,
        })
    }

    /// Sockets open now (for tests and logs).
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut counts = self.gate.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                counts.by_client.remove(&self.client);
            }
        }
    }
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64 (one host
/// usually owns a whole /64, so per-address counting would not hold it back).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The client's address: the peer's, or, when the peer is a trusted reverse proxy, the
/// last address it appended to `Forwarded` (RFC 7239, its last `for=`) or else to
/// `X-Forwarded-For` (earlier entries come from the client and prove nothing).
pub fn client_address(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let last = |name: &str| {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .map(str::to_owned)
    };
    let forwarded = match last("forwarded") {
        Some(element) => forwarded_for(&element),
        None => last("x-forwarded-for").and_then(|entry| entry.trim().parse().ok()),
    };
    Some(forwarded.unwrap_or(peer))
}

/// The address in one `Forwarded` element's `for=` (`for=192.0.2.60`,
/// `for="[2001:db8::1]:4711"`); `None` for an obfuscated or unknown one.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })?;
    if let Some(v6) = value.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    value
        .parse()
        .ok()
        .or_else(|| value.rsplit_once(':')?.0.parse().ok())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn caps_per_address_and_in_total() {
        let gate = SocketGate::new(2, 3);
        let a1 = gate.enter(ip("10.0.0.1")).unwrap();
        let _a2 = gate.enter(ip("10.0.0.1")).unwrap();
        assert_eq!(
            gate.enter(ip("10.0.0.1")).err(),
            Some(Refused::PerAddress(2))
        );
        let _b1 = gate.enter(ip("10.0.0.2")).unwrap();
        assert_eq!(gate.enter(ip("10.0.0.3")).err(), Some(Refused::Total(3)));
        drop(a1);
        assert_eq!(gate.open(), 2);
        let _a3 = gate.enter(ip("10.0.0.1")).unwrap();
        assert_eq!(gate.open(), 3);
    }

    #[test]
    fn one_ipv6_slash_64_counts_as_one_client() {
        let gate = SocketGate::new(1, 10);
        let _p = gate.enter(ip("2001:db8:1:2::1")).unwrap();
        assert!(gate.enter(ip("2001:db8:1:2:ffff::9")).is_err());
        assert!(gate.enter(ip("2001:db8:1:3::1")).is_ok());
        // An IPv4-mapped address is the IPv4 client.
        let _q = gate.enter(ip("192.0.2.7")).unwrap();
        assert!(gate.enter(ip("::ffff:192.0.2.7")).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.9"))
            .to_http_request();
        assert_eq!(client_address(&req, &[]), Some(ip("127.0.0.1")));
        assert_eq!(
            client_address(&req, &[ip("127.0.0.1")]),
            Some(ip("203.0.113.9"))
        );
        // RFC 7239: the last element's `for=`, with a port or an IPv6 literal.
        let rfc = |value: &'static str| {
            TestRequest::default()
                .peer_addr("127.0.0.1:5000".parse().unwrap())
                .insert_header(("forwarded", value))
                .to_http_request()
        };
        let trusted = [ip("127.0.0.1")];
        let with_port = rfc("for=6.6.6.6, for=\"203.0.113.9:4711\";proto=https");
        assert_eq!(
            client_address(&with_port, &trusted),
            Some(ip("203.0.113.9"))
        );
        let v6 = rfc("proto=https;for=\"[2001:db8::7]:443\"");
        assert_eq!(client_address(&v6, &trusted), Some(ip("2001:db8::7")));
        let hidden = rfc("for=_hidden");
        assert_eq!(client_address(&hidden, &trusted), Some(ip("127.0.0.1")));
        assert_eq!(client_address(&with_port, &[]), Some(ip("127.0.0.1")));
        let direct = TestRequest::default()
            .peer_addr("198.51.100.4:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9"))
            .to_http_request();
        assert_eq!(
            client_address(&direct, &[ip("127.0.0.1")]),
            Some(ip("198.51.100.4"))
        );
    }
}
