//! Instants as people read them in listings (the CLI, `ferry-server admin`), without a
//! time-zone database: always UTC.

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn format_utc(epoch_ms: i64) -> String {
    let (year, month, day, hour, minute, _) = civil(epoch_ms);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// Milliseconds since the Unix epoch as (year, month, day, hour, minute, second), UTC.
pub(crate) fn civil(epoch_ms: i64) -> (i64, i64, i64, i64, i64, i64) {
    let secs = epoch_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_798_761_599_000), "2026-12-31 23:59 UTC");
    }
}
