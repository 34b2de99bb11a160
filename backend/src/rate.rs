//! Per-address rate limits (upload starts, download starts, wrong passphrases): a burst of
//! `n` allowed at once, refilled evenly over `per` (GCRA: one "theoretical arrival time"
//! per address). Kept in each server process's memory: with several replicas an address
//! gets the rate at each of them, which bounds abuse just as well and costs no database
//! write per request.
use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    str::FromStr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Addresses remembered at most; past this, addresses whose burst is whole again are
/// forgotten first (they would be allowed anyway).
const MAX_ADDRESSES: usize = 100_000;

/// `n` events per `per`, as `30/min`, `10/s`, `100/h`, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed at once and per period; 0 turns the limit off.
    pub n: u32,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate {
        n: 0,
        per: Duration::from_secs(1),
    };
}

/// A rate that is not `N/s`, `N/min`, `N/h` or `off`.
#[derive(Debug, thiserror::Error)]
#[error("not a rate (expected N/s, N/min, N/h or off): {0:?}")]
pub struct InvalidRate(String);

impl FromStr for Rate {
    type Err = InvalidRate;

    fn from_str(text: &str) -> Result<Rate, InvalidRate> {
        let bad = || InvalidRate(text.to_owned());
        if text.trim() == "off" {
            return Ok(Rate::OFF);
        }
        let (n, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let n = n.trim().parse().map_err(|_| bad())?;
        Ok(Rate { n, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.n == 0 {
            return f.write_str("off");
        }
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => return write!(f, "{}/{}s", self.n, self.per.as_secs()),
        };
        write!(f, "{}/{unit}", self.n)
    }
}

/// One limit over client addresses.
pub struct Limiter {
    rate: Rate,
    /// Per address: when its bucket is full again.
    full_at: Mutex<HashMap<IpAddr, Instant>>,
}

/// An event over the limit: when the next one would be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// How long until one more event is allowed.
    pub retry_after: Duration,
}

impl Limiter {
    /// A limiter for `rate`.
    pub fn new(rate: Rate) -> Limiter {
        Limiter {
            rate,
            full_at: Mutex::default(),
        }
    }

    /// Whether one more event from `client` at `now` would be allowed, without counting
    /// it.
    pub fn peek(&self, client: IpAddr, now: Instant) -> Result<(), Limited> {
        if self.rate.n == 0 {
            return Ok(());
        }
        let full_at = self.full_at.lock().unwrap_or_else(|e| e.into_inner());
        self.next_after(full_at.get(&client).copied(), now)
            .map(drop)
    }

    /// When the bucket of an address whose bucket is full again at `full_at` would be
    /// full after one more event at `now`, if that event is allowed.
    fn next_after(&self, full_at: Option<Instant>, now: Instant) -> Result<Instant, Limited> {
        let interval = self.rate.per / self.rate.n;
        let at = full_at.unwrap_or(now).max(now);
        // Allowed while the bucket's debt after this event stays within one period.
        let next = at + interval;
        if next > now + self.rate.per {
            return Err(Limited {
                retry_after: next - now - self.rate.per,
            });
        }
        Ok(next)
    }

    /// Counts one event from `client` at `now`: allowed, or how long until it would be.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Limited> {
        if self.rate.n == 0 {
            return Ok(());
        }
        let mut full_at = self.full_at.lock().unwrap_or_else(|e| e.into_inner());
        if full_at.len() >= MAX_ADDRESSES {
            full_at.retain(|_, at| *at > now);
        }
        let next = self.next_after(full_at.get(&client).copied(), now)?;
        full_at.insert(client, next);
        Ok(())
    }
}

/// The three per-address limits.
pub struct RateLimits {
    /// Starting new uploads.
    pub upload_starts: Limiter,
    /// Starting downloads (a resumed claim is not a new start).
    pub download_starts: Limiter,
    /// Wrong download tokens (wrong passphrases), over every share.
    pub wrong_passphrases: Limiter,
}

impl RateLimits {
    /// The limits `config` sets.
    pub fn new(config: &crate::Config) -> RateLimits {
        RateLimits {
            upload_starts: Limiter::new(config.rate_upload_starts),
            download_starts: Limiter::new(config.rate_download_starts),
            wrong_passphrases: Limiter::new(config.rate_wrong_passphrases),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval_per_address() {
        let limiter = Limiter::new("3/min".parse().unwrap());
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check(a, t0).unwrap();
        }
        let refused = limiter.check(a, t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(20));
        // Peeking counts nothing; others are not affected.
        assert!(limiter.peek(a, t0).is_err());
        limiter.peek(b, t0).unwrap();
        limiter.check(b, t0).unwrap();
        // One more after one interval, not two.
        let later = t0 + Duration::from_secs(20);
        limiter.check(a, later).unwrap();
        assert!(limiter.check(a, later).is_err());
        // A whole period later the burst is whole again.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            limiter.check(a, much_later).unwrap();
        }
    }

    #[test]
    fn rates_parse_and_print() {
        for text in ["30/min", "10/s", "100/h", "off"] {
            assert_eq!(text.parse::<Rate>().unwrap().to_string(), text);
        }
        for bad in ["30", "30/day", "x/min", "-1/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        let off = Limiter::new(Rate::OFF);
        let ip = "192.0.2.1".parse().unwrap();
        for _ in 0..1000 {
            off.check(ip, Instant::now()).unwrap();
        }
    }
}
