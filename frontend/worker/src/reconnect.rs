//! When a transfer replaces a broken connection: a pause that doubles, and a bounded number
//! of tries in a row without progress (the count starts over once the server stored more,
//! or more chunks arrived), so a flaky network slows a transfer down but a dead one ends it.
//! The pauses of [`MAX_TRIES`] tries add up to well under a download claim's default lease
//! (60 s), so a held claim is still there for the last try.

/// Tries in a row without progress before a transfer gives up.
pub const MAX_TRIES: u32 = 8;

/// The pause before the first try, in milliseconds; it doubles per try.
const FIRST_PAUSE_MS: u32 = 500;

/// The longest pause, in milliseconds.
const MAX_PAUSE_MS: u32 = 8_000;

/// Counts the tries of one transfer.
#[derive(Debug, Default)]
pub struct Retries {
    in_a_row: u32,
}

impl Retries {
    /// After a connection failed: `Some((attempt, pause in ms))` for the next try, or
    /// `None` once [`MAX_TRIES`] tries in a row made no progress. `progressed`: the
    /// transfer got further on the connection that just failed.
    pub fn next(&mut self, progressed: bool) -> Option<(u32, u32)> {
        self.in_a_row = if progressed { 1 } else { self.in_a_row + 1 };
        (self.in_a_row <= MAX_TRIES).then(|| (self.in_a_row, pause_ms(self.in_a_row)))
    }
}

/// The pauses before each try, in order: the whole schedule, for a retry loop that runs
/// elsewhere (the service worker's, `sw.js`).
pub fn pauses() -> impl Iterator<Item = u32> {
    (1..=MAX_TRIES).map(pause_ms)
}

/// The pause before try `attempt` (from 1): 0.5 s, 1 s, 2 s, 4 s, then 8 s.
fn pause_ms(attempt: u32) -> u32 {
    let doublings = attempt.saturating_sub(1).min(16);
    (FIRST_PAUSE_MS << doublings).min(MAX_PAUSE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_without_progress_are_bounded_and_progress_starts_over() {
        let mut retries = Retries::default();
        let pauses: Vec<u32> = (0..MAX_TRIES)
            .map(|_| retries.next(false).expect("within the bound").1)
            .collect();
        assert_eq!(
            pauses,
            [500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000]
        );
        assert!(pauses.iter().sum::<u32>() < 45_000, "under a claim's lease");
        assert_eq!(super::pauses().collect::<Vec<_>>(), pauses);
        assert_eq!(retries.next(false), None, "gives up");
        // Progress on the last connection starts the count over.
        assert_eq!(retries.next(true), Some((1, 500)));
        assert_eq!(retries.next(false), Some((2, 1_000)));
    }
}
