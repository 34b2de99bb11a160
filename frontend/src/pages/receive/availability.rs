//! What the receive page knows before any passphrase is typed: whether a file is
//! waiting at the link, asked with `GET /api/shares/{id}` (which uses nothing up).
use ferry_common::{Header, b64, protocol::ErrorCode};

use crate::{api, tr};

/// Whether a file is waiting.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Availability {
    Waiting(Waiting),
    /// Why there is nothing to download.
    Unavailable(Unavailable),
}

/// A file waiting at the link.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Waiting {
    /// The share's public header (base64url), for the worker.
    pub(super) header: String,
    /// The file's plaintext size.
    pub(super) size: u64,
    pub(super) downloads_left: u32,
    pub(super) expires_at: i64,
}

/// Why a link offers nothing to download.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Unavailable {
    /// Its header asks for less key-derivation work than Ferry's floor (FORMAT.md §2).
    NotFerry,
    /// Its header does not parse.
    Damaged,
    /// Deleted, downloaded or never there.
    NotFound,
    /// Expired.
    Expired,
    /// Downloaded to its limit.
    UsedUp,
    /// The server did not say; its words.
    Unknown(String),
}

impl Unavailable {
    /// What an unavailable link says to a person.
    pub(super) fn text(&self) -> String {
        match self {
            Unavailable::NotFerry => tr!("unavailable-not-ferry"),
            Unavailable::Damaged => tr!("unavailable-damaged"),
            Unavailable::NotFound => tr!("unavailable-not-found"),
            Unavailable::Expired => tr!("unavailable-expired"),
            Unavailable::UsedUp => tr!("unavailable-used-up"),
            Unavailable::Unknown(message) => tr!("unavailable-unknown", why = message.clone()),
        }
    }
}

/// Whether a file is waiting at share `id`.
pub(super) async fn check(id: String) -> Availability {
    let info = match api::share_info(&id).await {
        Ok(info) => info,
        Err(e) => {
            return Availability::Unavailable(match e.code() {
                Some(ErrorCode::NotFound) => Unavailable::NotFound,
                Some(ErrorCode::Expired) => Unavailable::Expired,
                Some(ErrorCode::UsedUp) => Unavailable::UsedUp,
                _ => Unavailable::Unknown(e.message()),
            });
        }
    };
    let header = Header::parse(&info.header.0);
    match header
        .as_ref()
        .ok()
        .and_then(|h| h.plaintext_len(info.ciphertext_size))
    {
        Some(size) => Availability::Waiting(Waiting {
            header: b64::encode(&info.header.0),
            size,
            downloads_left: info.downloads_left,
            expires_at: info.expires_at,
        }),
        // Below the KDF floor: no Ferry sender made it (FORMAT.md §2).
        None if matches!(header, Err(ferry_common::Error::WeakKdf(_))) => {
            Availability::Unavailable(Unavailable::NotFerry)
        }
        None => Availability::Unavailable(Unavailable::Damaged),
    }
}
