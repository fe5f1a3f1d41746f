//! The crate's error type.

/// Everything that can go wrong when configuring the generator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagenError {
    /// `hosts` was 0.
    #[error("config: hosts must be at least 1")]
    NoHosts,
    /// `points` was 0.
    #[error("config: points must be at least 1")]
    NoPoints,
    /// `interval_ms` was 0 or negative.
    #[error("config: interval_ms must be positive, got {interval_ms}")]
    NonPositiveInterval {
        /// The rejected interval.
        interval_ms: i64,
    },
    /// Some timestamp `start_ms + i × interval_ms ± jitter` does not fit in an `i64`.
    #[error(
        "config: timestamps overflow i64 (start_ms {start_ms}, interval_ms {interval_ms}, \
         points {points}, jitter up to ±{jitter_ms} ms)"
    )]
    TimestampOverflow {
        /// Configured start.
        start_ms: i64,
        /// Configured interval.
        interval_ms: i64,
        /// Configured number of points per series.
        points: u32,
        /// Largest jitter the mode can add or subtract.
        jitter_ms: i64,
    },
    /// `hosts × 10 × points` does not fit in a `u64`.
    #[error("config: {hosts} hosts x 10 fields x {points} points overflows the u64 sample count")]
    TooManySamples {
        /// Configured hosts.
        hosts: u32,
        /// Configured points.
        points: u32,
    },
    /// A value mode name that is not one of `int`, `float`, `counter`, `jitter`.
    #[error("unknown value mode {input:?} (expected one of: int, float, counter, jitter)")]
    UnknownMode {
        /// The text that was parsed.
        input: String,
    },
}
