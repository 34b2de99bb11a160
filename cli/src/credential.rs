//! Upload credentials for `ferry send` and `ferry invite`: an upload token from
//! `FERRY_TOKEN` or `--token-file` (never a flag value: it would end up in shell history
//! and process lists, like a passphrase), or an invitation link someone sent
//! (`https://host/#invite=fi1.…`).
use std::path::Path;

use crate::error::{Error, Result};

/// What an upload presents to the server.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<secret>)")
    }
}

impl Credential {
    /// The text the server expects in `start`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The upload token from `token_file` (its first line) or else `FERRY_TOKEN`, if any.
pub fn token(token_file: Option<&Path>) -> Result<Option<Credential>> {
    let text = match token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(Error::io(format!("cannot read {}", path.display())))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => match std::env::var("FERRY_TOKEN") {
            Ok(text) => text,
            Err(_) => return Ok(None),
        },
    };
    let text = text.trim();
    if !text.starts_with("ft1.") {
        return Err(Error::Usage(
            "the upload token should start with ft1. (from `ferry-server admin token create`)"
                .into(),
        ));
    }
    Ok(Some(Credential(text.to_owned())))
}

/// An invitation link, `https://host[/prefix]/#invite=fi1.…`: the server it is for and
/// the invitation.
pub fn invitation(link: &str) -> Result<(String, Credential)> {
    let bad = || {
        Error::Usage(format!(
            "not an invitation link (expected https://host/#invite=fi1.…): {}",
            link.split('#').next().unwrap_or_default()
        ))
    };
    let (server, fragment) = link.trim().split_once('#').ok_or_else(bad)?;
    let invitation = fragment.strip_prefix("invite=").ok_or_else(bad)?;
    if !invitation.starts_with("fi1.") {
        return Err(bad());
    }
    Ok((
        server.trim_end_matches('/').to_owned(),
        Credential(invitation.to_owned()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_links_name_their_server() {
        let (server, inv) = invitation("https://ferry.example.org/#invite=fi1.abc.def").unwrap();
        assert_eq!(server, "https://ferry.example.org");
        assert_eq!(inv.as_str(), "fi1.abc.def");
        assert!(!format!("{inv:?}").contains("fi1"));
        for bad in [
            "https://ferry.example.org/",
            "https://ferry.example.org/#fi1.abc.def",
            "https://ferry.example.org/#invite=ft1.abc.def",
        ] {
            assert!(invitation(bad).is_err(), "{bad}");
        }
    }
}
