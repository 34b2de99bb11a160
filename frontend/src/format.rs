//! Plain-language formatting: sizes, durations, speeds, passphrase strength, in the
//! current language (`crate::i18n`).
use crate::tr;

/// `1.5 MiB`-style sizes (binary units, one decimal above bytes).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return tr!("size-bytes", n = n);
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{} {}", localized(text), UNITS[unit])
}

/// A number written with `.` for decimals and `,` for thousands, in the current language's
/// way (German swaps them).
fn localized(number: &str) -> String {
    match crate::i18n::lang() {
        crate::i18n::Lang::En => number.to_owned(),
        crate::i18n::Lang::De => number
            .chars()
            .map(|c| match c {
                '.' => ',',
                ',' => '.',
                c => c,
            })
            .collect(),
    }
}

/// `10,000`-style counts (`10.000` in German).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    localized(&out)
}

/// `5 minutes`, `1 hour`, `7 days`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 && s > 0 => tr!("duration-days", n = s / 86_400),
        s if s % 3_600 == 0 && s > 0 => tr!("duration-hours", n = s / 3_600),
        s if s % 60 == 0 && s > 0 => tr!("duration-minutes", n = s / 60),
        s => tr!("duration-seconds", n = s),
    }
}

/// A rough remaining time: `12 s`, `3 min`, `1 h 5 min`.
pub fn eta(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => tr!("eta-seconds", s = s),
        60..3600 => tr!("eta-minutes", m = s / 60, s = s % 60),
        _ => tr!("eta-hours", h = s / 3600, m = (s % 3600) / 60),
    }
}

/// A local date and time for an epoch-milliseconds instant.
pub fn when(epoch_ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(epoch_ms as f64));
    let tag = crate::i18n::lang().tag();
    String::from(date.to_locale_string(tag, &wasm_bindgen::JsValue::UNDEFINED))
}

/// A rough strength estimate in bits (character-pool model, generous to long phrases)
/// and a hint ("" for nothing typed). Weak passphrases are allowed; the hint says what they
/// risk.
pub fn strength(passphrase: &str) -> (u32, String) {
    let len = passphrase.chars().count() as f64;
    if len == 0.0 {
        return (0, String::new());
    }
    let mut pool = 0.0;
    if passphrase.chars().any(|c| c.is_ascii_lowercase()) {
        pool += 26.0;
    }
    if passphrase.chars().any(|c| c.is_ascii_uppercase()) {
        pool += 26.0;
    }
    if passphrase.chars().any(|c| c.is_ascii_digit()) {
        pool += 10.0;
    }
    if passphrase
        .chars()
        .any(|c| c.is_ascii_punctuation() || c == ' ')
    {
        pool += 33.0;
    }
    if !passphrase.is_ascii() {
        pool += 100.0;
    }
    let distinct = {
        let mut chars: Vec<char> = passphrase.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        chars.len() as f64
    };
    // Repeated characters add little: count each distinct one fully, repeats at a quarter.
    let effective = distinct + (len - distinct) / 4.0;
    let bits = (effective * f64::log2(pool)).round() as u32;
    let hint = match bits {
        0..28 => tr!("strength-weak"),
        28..45 => tr!("strength-fair"),
        45..70 => tr!("strength-good"),
        _ => tr!("strength-strong"),
    };
    (bits, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count(7), "7");
        assert_eq!(count(1024), "1,024");
        assert_eq!(count(10_000), "10,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(duration(300), "5 minutes");
        assert_eq!(duration(3600), "1 hour");
        assert_eq!(duration(7 * 86_400), "7 days");
        assert_eq!(eta(75.0), "1 min 15 s");
    }

    #[test]
    fn strength_grows_with_variety_and_length() {
        assert_eq!(strength("").0, 0);
        assert!(strength("aaaaaaaa").0 < strength("correct horse battery staple").0);
        assert!(strength("abc").1.starts_with("Weak"));
        assert_eq!(strength("correct horse battery staple").1, "Strong.");
    }
}
