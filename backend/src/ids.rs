//! Share IDs: 16 bytes from the OS random generator, base64url without padding (22
//! characters). Only their first four characters ever reach the logs.
use anyhow::Context;

/// Length of an encoded share ID.
pub const SHARE_ID_LEN: usize = 22;

/// A fresh random ID (128 bits, URL-safe).
pub fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).context("OS random generator")?;
    Ok(ferry_common::b64::encode(&bytes))
}

/// Whether `text` has the shape of a share ID (so it is safe as a storage key).
pub fn is_share_id(text: &str) -> bool {
    text.len() == SHARE_ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The part of a share ID that may be logged.
pub fn short(id: &str) -> &str {
    id.get(..4).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_distinct() {
        let a = random_id().unwrap();
        let b = random_id().unwrap();
        assert!(is_share_id(&a) && is_share_id(&b));
        assert_ne!(a, b);
        assert!(!is_share_id("short"));
        assert!(!is_share_id("aaaaaaaaaaaaaaaaaaaa#1"));
        assert_eq!(short(&a).len(), 4);
    }
}
