//! Which web pages may open the upload and download sockets.
//!
//! Browsers apply no same-origin rule to WebSockets: any page may open one to any server and
//! the only trace is the `Origin` header of the handshake. Without a check, a page on
//! `https://evil.example` could drive uploads to (or burn the tries of shares on) a server on
//! the visitor's intranet or `localhost`. So a handshake that carries an `Origin` must come
//! from the server's own origin or one the operator allowed (`--allowed-origin`); one without
//! `Origin` comes from a non-browser client (the CLI), which a page cannot imitate.
//!
//! "Own origin" is the handshake's `Host` with the scheme the server itself speaks, but only
//! where DNS rebinding cannot forge it: a rebinding page (`http://evil.example:8080`, its
//! name now resolving to this server) sends a matching `Host` and `Origin`. So plain-http
//! own origins count only for IP literals and `localhost`, which no attacker's DNS answers
//! for; over the server's own TLS any name counts, since a rebound name fails the
//! certificate check. Other names (a reverse proxy, a LAN name over http) are allowed by
//! listing them.
use std::{fmt, net::IpAddr, str::FromStr};

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use ferry_common::protocol::{ErrorBody, ErrorCode};

/// A web origin (RFC 6454): scheme, host and port, normalised so equal origins compare
/// equal (lower-case host, default port made explicit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    https: bool,
    host: String,
    port: u16,
}

/// An `--allowed-origin` value that is not `http(s)://host[:port]`.
#[derive(Debug, thiserror::Error)]
#[error("not a web origin (expected http://host[:port] or https://host[:port]): {0:?}")]
pub struct InvalidOrigin(String);

impl Origin {
    fn default_port(https: bool) -> u16 {
        if https { 443 } else { 80 }
    }

    /// From a scheme and an `authority` (`host[:port]`, IPv6 in brackets).
    fn from_authority(https: bool, authority: &str) -> Option<Origin> {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, Some(port)),
            _ => (authority, None),
        };
        let port = match port {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => Self::default_port(https),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "-._[]:".contains(c);
        if host.is_empty() || !host.chars().all(valid) {
            return None;
        }
        Some(Origin {
            https,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether the host is one no DNS answer can point elsewhere: an IP literal or
    /// `localhost`.
    fn host_is_fixed(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        self.host == "localhost" || bare.parse::<IpAddr>().is_ok()
    }
}

impl FromStr for Origin {
    type Err = InvalidOrigin;

    fn from_str(text: &str) -> Result<Origin, InvalidOrigin> {
        let invalid = || InvalidOrigin(text.to_owned());
        // Scheme and host are case-insensitive; the port is digits.
        let lower = text.trim().to_ascii_lowercase();
        let trimmed = lower.as_str();
        let (https, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(invalid());
        };
        // An operator may paste the site's URL with its trailing slash.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(invalid());
        }
        Origin::from_authority(https, authority).ok_or_else(invalid)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.host)?;
        if self.port != Self::default_port(self.https) {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// A WebSocket handshake from a page this server does not serve: HTTP 403 with the usual
/// JSON error body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OriginRefused(String);

impl ResponseError for OriginRefused {
    fn status_code(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::Forbidden()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(ErrorBody {
                code: ErrorCode::ForbiddenOrigin,
                message: self.0.clone(),
                attempts_left: None,
            });
        crate::metrics::mark(&mut res, ErrorCode::ForbiddenOrigin);
        res
    }
}

/// The origin a handshake names as this server's, from its `Host` (`authority`) and whether
/// the server itself speaks TLS on the connection (`https`); `None` where DNS rebinding
/// could have forged it. Forwarded headers are not read: a proxy's public origin is
/// configured instead.
fn own_origin(https: bool, authority: &str) -> Option<Origin> {
    Origin::from_authority(https, authority).filter(|own| https || own.host_is_fixed())
}

fn authority(req: &HttpRequest) -> Option<&str> {
    match req.headers().get(header::HOST) {
        Some(value) => value.to_str().ok(),
        None => req.uri().authority().map(|a| a.as_str()),
    }
}

/// Refuses a WebSocket handshake whose `Origin` is neither this server's own nor in
/// `allowed`; a handshake without `Origin` (not from a browser) passes.
pub(crate) fn check(req: &HttpRequest, allowed: &[Origin]) -> Result<(), OriginRefused> {
    let Some(value) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = value.to_str().ok().and_then(|v| v.parse::<Origin>().ok());
    if let Some(origin) = &origin
        && (allowed.contains(origin)
            || authority(req).and_then(|a| own_origin(req.app_config().secure(), a))
                == Some(origin.clone()))
    {
        return Ok(());
    }
    let shown = origin.map_or_else(|| "an opaque origin".to_owned(), |o| o.to_string());
    tracing::warn!(origin = %shown, "refused a WebSocket handshake from another origin");
    Err(OriginRefused(format!(
        "this server does not accept transfers started by pages at {shown}; if that is this \
         server's own address (for example behind a reverse proxy), its operator can allow it \
         with --allowed-origin"
    )))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn origin(text: &str) -> Origin {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            origin("HTTPS://Ferry.Example.org/"),
            origin("https://ferry.example.org:443")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080").to_string(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("http://[::1]:8080").to_string(), "http://[::1]:8080");
        assert_ne!(origin("http://a.example"), origin("https://a.example"));
        for bad in [
            "null",
            "ferry.example",
            "https://",
            "https://a.example/path",
            "https://user@a.example",
            "https://a.example:x",
            "ws://a.example",
            "http://a b",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
    }

    fn handshake(host: &str, origin: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::get().insert_header((header::HOST, host));
        if let Some(o) = origin {
            req = req.insert_header((header::ORIGIN, o));
        }
        req.to_http_request()
    }

    #[test]
    fn own_origin_passes_only_where_dns_cannot_forge_it() {
        let none: &[Origin] = &[];
        let ok = |host, o| check(&handshake(host, Some(o)), none).is_ok();
        assert!(ok("127.0.0.1:8080", "http://127.0.0.1:8080"));
        assert!(ok("localhost:8080", "http://localhost:8080"));
        assert!(ok("[::1]:8080", "http://[::1]:8080"));
        assert!(!ok("127.0.0.1:8080", "http://127.0.0.1:9090"));
        assert!(!ok("127.0.0.1:8080", "https://evil.example"));
        assert!(!ok("127.0.0.1:8080", "null"));
        // DNS rebinding: the page's name now resolves here; Host and Origin agree.
        assert!(!ok("evil.example:8080", "http://evil.example:8080"));
        // No Origin: not a browser.
        assert!(check(&handshake("127.0.0.1:8080", None), none).is_ok());
        let allowed = [origin("https://ferry.example.org")];
        let req = handshake("127.0.0.1:8080", Some("https://ferry.example.org"));
        assert!(check(&req, &allowed).is_ok());
        let req = handshake("127.0.0.1:8080", Some("https://evil.example"));
        assert!(check(&req, &allowed).is_err());
    }

    #[test]
    fn over_the_servers_own_tls_any_name_is_its_own() {
        assert_eq!(
            own_origin(true, "ferry.test:8443"),
            Some(origin("https://ferry.test:8443"))
        );
        assert_eq!(own_origin(false, "ferry.test:8080"), None);
        assert_eq!(
            own_origin(false, "127.0.0.1"),
            Some(origin("http://127.0.0.1"))
        );
    }
}
