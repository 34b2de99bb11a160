//! Server addresses and share links: `{server}/s/{share_id}#{link secret}`.
//!
//! The server part may carry a path prefix (`https://host/ferry`); API and WebSocket
//! paths are appended to it. The fragment never goes to the server: only [`ShareLink`]
//! reads it, and the URLs built here never include it.
use ferry_common::{LinkSecret, client::share_id::is_id_char};
use reqwest::Url;

use crate::error::{Error, Result};

/// A Ferry server's base URL (`http` or `https`), without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    base: Url,
}

impl Server {
    /// Parses `http(s)://host[:port][/prefix]`.
    pub fn parse(text: &str) -> Result<Server> {
        let mut url = Url::parse(text.trim())
            .map_err(|e| Error::Usage(format!("invalid server URL {text:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Usage(format!(
                "invalid server URL {text:?}: it must start with http:// or https://"
            )));
        }
        if url.host_str().is_none() {
            return Err(Error::Usage(format!(
                "invalid server URL {text:?}: no host"
            )));
        }
        url.set_query(None);
        url.set_fragment(None);
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Server { base: url })
    }

    /// The base URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// An HTTP(S) URL for an API path such as `/api/limits`.
    pub fn http(&self, path: &str) -> String {
        format!("{}{path}", self.as_str())
    }

    /// The WebSocket (`ws`/`wss`) URL for a socket path such as `/api/ws/upload`.
    pub fn ws(&self, path: &str) -> String {
        let mut url = self.base.clone();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // unwrap: http→ws and https→wss are allowed scheme changes in `url`.
        url.set_scheme(scheme).expect("special scheme change");
        format!("{}{path}", url.as_str().trim_end_matches('/'))
    }

    /// The share link the web app makes for `share_id`.
    pub fn share_link(&self, share_id: &str, secret: Option<&LinkSecret>) -> String {
        match secret {
            Some(s) => format!("{}/s/{share_id}#{}", self.as_str(), s.to_fragment()),
            None => format!("{}/s/{share_id}", self.as_str()),
        }
    }
}

/// A parsed share link.
pub struct ShareLink {
    /// The server the link points at.
    pub server: Server,
    /// The share's ID.
    pub share_id: String,
    /// The link secret from the fragment (absent for passphrase-only shares).
    pub secret: Option<LinkSecret>,
}

impl ShareLink {
    /// Parses `http(s)://host[/prefix]/s/{id}#{secret}`.
    pub fn parse(text: &str) -> Result<ShareLink> {
        let bad = |why: &str| Error::Usage(format!("this is not a Ferry link ({why}): {text}"));
        let url = Url::parse(text.trim()).map_err(|_| bad("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("it must start with http:// or https://"));
        }
        let path = url.path().trim_end_matches('/');
        let (prefix, share_id) = path
            .rsplit_once("/s/")
            .ok_or_else(|| bad("no /s/ in its path"))?;
        // Only the alphabet is checked here: an ID of another length gets the server's
        // answer ("does not exist"), as it always has; `ShareId::parse` checks the full
        // shape once the server knows the share.
        if share_id.is_empty() || share_id.len() > 128 || !share_id.bytes().all(is_id_char) {
            return Err(bad("the share ID is malformed"));
        }
        let secret = match url.fragment() {
            None | Some("") => None,
            Some(f) => Some(LinkSecret::from_fragment(f).map_err(|_| {
                Error::Usage(
                    "the link is damaged: the part after '#' is not a valid link secret; copy the whole link again".into(),
                )
            })?),
        };
        let mut base = url.clone();
        base.set_fragment(None);
        base.set_query(None);
        base.set_path(prefix);
        Ok(ShareLink {
            server: Server::parse(base.as_str())?,
            share_id: share_id.to_owned(),
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let s = Server::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(s.as_str(), "http://127.0.0.1:8080");
        assert_eq!(s.http("/api/limits"), "http://127.0.0.1:8080/api/limits");
        assert_eq!(s.ws("/api/ws/upload"), "ws://127.0.0.1:8080/api/ws/upload");
        let s = Server::parse("https://example.org/ferry/").unwrap();
        assert_eq!(
            s.ws("/api/ws/download"),
            "wss://example.org/ferry/api/ws/download"
        );
        assert_eq!(s.share_link("abc", None), "https://example.org/ferry/s/abc");
        assert!(Server::parse("ftp://x").is_err());
        assert!(Server::parse("localhost:8080").is_err());
    }

    #[test]
    fn link_round_trip() {
        let secret = LinkSecret::generate().unwrap();
        let server = Server::parse("https://example.org/sub").unwrap();
        let text = server.share_link("Ab_9-z", Some(&secret));
        let link = ShareLink::parse(&text).unwrap();
        assert_eq!(link.server, server);
        assert_eq!(link.share_id, "Ab_9-z");
        assert_eq!(link.secret.unwrap().to_fragment(), secret.to_fragment());
        let plain = ShareLink::parse("http://127.0.0.1:1/s/xyz").unwrap();
        assert!(plain.secret.is_none());
        assert_eq!(plain.server.as_str(), "http://127.0.0.1:1");
    }

    #[test]
    fn bad_links_are_usage_errors() {
        for bad in [
            "nonsense",
            "http://h/x/abc#AAAAAAAAAAAAAAAAAAAAAA",
            "http://h/s/#AAAAAAAAAAAAAAAAAAAAAA",
            "http://h/s/a%2Fb",
            "http://h/s/abc#tooshort",
            "mailto:a@b",
        ] {
            let e = ShareLink::parse(bad).err().unwrap();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }
}
