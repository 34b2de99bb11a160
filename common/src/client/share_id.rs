//! Share IDs: the one definition of their shape, used by the server (is this path
//! segment a share it could have made?), the CLI (links) and the client core.
use std::fmt;

/// Length of an encoded share ID: 16 random bytes in unpadded base64url.
pub const SHARE_ID_LEN: usize = 22;

/// A share ID of the right shape: [`SHARE_ID_LEN`] base64url characters
/// (`[A-Za-z0-9_-]`), so it is safe as a storage key and in a URL path without escaping.
///
/// Parsed once where it enters (a link, a server message, a request path) and passed on
/// typed, so no later code needs to check it again. `Debug` and `Display` print only its
/// first four characters: the full ID is half of a link and never goes into a log.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShareId(String);

/// Why a text is not a share ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareIdError {
    /// It is not [`SHARE_ID_LEN`] characters long.
    #[error("a share ID is {SHARE_ID_LEN} characters long, not {0}")]
    Length(usize),
    /// It holds a character outside `[A-Za-z0-9_-]`.
    #[error("a share ID holds only letters, digits, '-' and '_'")]
    Character,
}

/// Whether `b` may appear in a share ID (the base64url alphabet).
pub fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl ShareId {
    /// Checks the shape of `text` (not whether such a share exists).
    pub fn parse(text: &str) -> Result<ShareId, ShareIdError> {
        if text.len() != SHARE_ID_LEN {
            return Err(ShareIdError::Length(text.len()));
        }
        if !text.bytes().all(is_id_char) {
            return Err(ShareIdError::Character);
        }
        Ok(ShareId(text.to_owned()))
    }

    /// The full ID, for a link, a request path or a protocol message; never for a log.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first four characters: the only part of an ID that may be logged.
    pub fn short(&self) -> &str {
        &self.0[..4]
    }
}

impl fmt::Debug for ShareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShareId({}…)", self.short())
    }
}

impl fmt::Display for ShareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.short())
    }
}

impl std::str::FromStr for ShareId {
    type Err = ShareIdError;

    fn from_str(s: &str) -> Result<ShareId, ShareIdError> {
        ShareId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn parse_accepts_only_the_shape() {
        let id = ShareId::parse("q3Xv0m4yLrZ4cF2kHk8V-_").unwrap();
        assert_eq!(id.as_str(), "q3Xv0m4yLrZ4cF2kHk8V-_");
        assert_eq!(id.short(), "q3Xv");
        assert_eq!(ShareId::parse("short"), Err(ShareIdError::Length(5)));
        assert_eq!(ShareId::parse(""), Err(ShareIdError::Length(0)));
        assert_eq!(
            ShareId::parse("aaaaaaaaaaaaaaaaaaaa#1"),
            Err(ShareIdError::Character)
        );
        assert_eq!(
            ShareId::parse("aaaaaaaaaaaaaaaaaaaa/1"),
            Err(ShareIdError::Character)
        );
        // 22 bytes but not 22 ASCII characters.
        assert_eq!(
            ShareId::parse("aaaaaaaaaaaaaaaaaaaaé"),
            Err(ShareIdError::Character)
        );
    }

    #[test]
    fn debug_and_display_hide_all_but_four_characters() {
        let id = ShareId::parse("LAAABBBBCCCCDDDDEEEEFF").unwrap();
        assert_eq!(format!("{id}"), "LAAA…");
        assert_eq!(format!("{id:?}"), "ShareId(LAAA…)");
    }
}
