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

/// `text` with every share-ID-shaped word cut to its first four characters, for logging
/// error messages that may name a blob path.
pub fn redact(text: &str) -> String {
    let is_id_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() >= SHARE_ID_LEN {
            out.push_str(short(word));
            out.push('…');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_id_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
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
        assert_eq!(
            redact(&format!("Unable to open file /data/blobs/{a}#1: gone")),
            format!("Unable to open file /data/blobs/{}…#1: gone", &a[..4])
        );
        assert_eq!(redact("no ids here"), "no ids here");
    }
}
