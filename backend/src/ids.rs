//! Share IDs: 16 bytes from the OS random generator, base64url without padding (22
//! characters). Only their first four characters ever reach the logs. Their shape is
//! defined once, by [`ShareId`] in `ferry_common::client`, which clients use too.
use anyhow::Context;
pub use ferry_common::client::share_id::SHARE_ID_LEN;
use ferry_common::client::{ShareId, share_id::is_id_char};

/// A fresh random ID (128 bits, URL-safe).
pub fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).context("OS random generator")?;
    Ok(ferry_common::b64::encode(&bytes))
}

/// Whether `text` has the shape of a share ID (so it is safe as a storage key).
pub fn is_share_id(text: &str) -> bool {
    ShareId::parse(text).is_ok()
}

/// The part of a share ID that may be logged.
pub fn short(id: &str) -> &str {
    id.get(..4).unwrap_or("?")
}

/// Most rounds of percent-decoding before redacting: `%254C` is `%4C` is `L`.
const DECODE_ROUNDS: usize = 3;

/// `text` with `%XX` escapes decoded (bytes that are not UTF-8 become U+FFFD), repeated
/// until nothing changes or [`DECODE_ROUNDS`] rounds have run. Redaction looks at what the
/// router (and anyone reading the log) would read, not at the escaped form, which would let
/// `/api/shares/%4C…` through with 21 of its 22 characters.
pub fn percent_decode(text: &str) -> String {
    let mut current = text.to_owned();
    for _ in 0..DECODE_ROUNDS {
        let next = decode_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn decode_once(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every share-ID-shaped word cut to its first four characters, for logging
/// error messages that may name a blob path. Percent-escapes are decoded first.
pub fn redact(text: &str) -> String {
    let text = percent_decode(text);
    let is_id_char = |c: char| c.is_ascii() && is_id_char(c as u8);
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

    /// Issue 12: `%4C` for the first character hid the ID from redaction (21 of its 22
    /// characters were logged); so did an escape in the middle or a doubled escape.
    #[test]
    fn escaped_ids_are_redacted_after_decoding() {
        let id = "LAAABBBBCCCCDDDDEEEEFF";
        for escaped in [
            "%4CAAABBBBCCCCDDDDEEEEFF",
            "LAAABBBB%43CCCDDDDEEEEFF",
            "%254CAAABBBBCCCCDDDDEEEEFF",
        ] {
            let out = redact(&format!("GET /api/shares/{escaped}: gone"));
            assert_eq!(out, "GET /api/shares/LAAA…: gone", "{escaped}");
            assert!(!out.contains(&id[4..]));
        }
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%FF"), "\u{fffd}");
    }
}
