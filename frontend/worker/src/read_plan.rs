//! Which part of the file an upload reads next: whole blocks of chunks (each
//! `File.slice().arrayBuffer()` is a round trip to the browser process, so few large reads
//! beat one per chunk), and never a byte past the flow-control window, so what is held
//! stays bounded by the window whatever the file size.

/// The file read in aligned blocks of `per_block` chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPlan {
    /// Chunks per block: at most `read_bytes` and half the window (so one block can be
    /// read while the previous one is sealed and sent), at least one.
    pub per_block: u64,
    /// Chunks in the file.
    pub total: u64,
}

impl ReadPlan {
    /// A plan for `total` chunks of `chunk_size` bytes, reads of about `read_bytes`, under
    /// a window of `window` chunks.
    pub fn new(read_bytes: u64, chunk_size: u64, total: u64, window: u64) -> Self {
        ReadPlan {
            per_block: (read_bytes / chunk_size.max(1)).min(window / 2).max(1),
            total,
        }
    }

    /// The chunks `first..end` of the block that starts at `first`, if it lies wholly below
    /// `limit` (the last acknowledged chunk plus the window); `None` past the file's end or
    /// until enough acks arrive. Once every sent chunk is acknowledged, the next block
    /// always fits (`per_block <= window`), so an upload never waits forever.
    pub fn block(&self, first: u64, limit: u64) -> Option<(u64, u64)> {
        let end = (first + self.per_block).min(self.total);
        (first < self.total && end <= limit).then_some((first, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_whole_and_half_the_window_at_most() {
        let plan = ReadPlan::new(16 << 20, 256 << 10, 1000, 63);
        assert_eq!(plan.per_block, 31);
        assert_eq!(plan.block(0, 63), Some((0, 31)));
        assert_eq!(plan.block(31, 63), Some((31, 62)));
        assert_eq!(plan.block(62, 63), None, "would read past the window");
        assert_eq!(plan.block(62, 93), Some((62, 93)));
        assert_eq!(
            plan.block(992, 2000),
            Some((992, 1000)),
            "the last block is short"
        );
        assert_eq!(plan.block(1000, 2000), None);
        // Tiny windows and huge chunks still read one chunk at a time.
        assert_eq!(ReadPlan::new(16 << 20, 16 << 20, 5, 2).per_block, 1);
        assert_eq!(ReadPlan::new(16 << 20, 256 << 10, 5, 1).per_block, 1);
    }

    /// An upload driven by the plan with acks arriving at awkward moments: every chunk
    /// is read exactly once, in order, never past `acked + window`, and it always finishes.
    #[test]
    fn simulated_uploads_never_read_past_the_window() {
        for (total, window) in [(1, 2), (7, 2), (100, 63), (1000, 63), (333, 15), (64, 64)] {
            for seed in 0..20u64 {
                let plan = ReadPlan::new(16 << 20, 256 << 10, total, window);
                let (mut next_read, mut sent, mut acked) = (0u64, 0u64, 0u64);
                let mut readable = 0u64; // chunks read but not yet sent
                let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                let mut steps = 0;
                while acked < total {
                    steps += 1;
                    assert!(steps < 100_000, "stuck: total {total} window {window}");
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    match rng >> 62 {
                        // Read the next block if it fits.
                        0 | 1 => {
                            if let Some((first, end)) = plan.block(next_read, acked + window) {
                                assert_eq!(first, next_read);
                                assert!(end <= acked + window, "read past the window");
                                assert!(end - first == plan.per_block || end == total);
                                readable += end - first;
                                next_read = end;
                            }
                        }
                        // Send what was read, within the window.
                        2 => {
                            while readable > 0 && sent < acked + window {
                                sent += 1;
                                readable -= 1;
                            }
                        }
                        // The server acknowledges some of what was sent.
                        _ => acked += (sent - acked).min(1 + (rng >> 40) % 8),
                    }
                }
                assert_eq!((next_read, sent), (total, total));
            }
        }
    }
}
