//! Samples and the merge rule: the heart of Floe's idempotency.
//!
//! For one `(series, timestamp)` the stored sample is the maximum by
//! `(version, value.total_cmp)`. The rule is commutative, associative and idempotent, so the
//! stored state is a pure function of the *set* of samples ever written. Every path that
//! combines samples (WAL replay, head, flush, compaction, read merge, repair, handoff,
//! rebalance) calls [`merge`] or [`merge_sorted_columns`]; nothing else decides which of two
//! samples wins.

use std::cmp::Ordering;

/// Bits of the Prometheus stale marker: the NaN a scraper writes when a series disappears.
/// It is stored like any other value (the merge rule keeps it bit-exact), but it is not a
/// measurement: rollups skip it (see [`mod@crate::rollup`]).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True when `v` is the Prometheus stale marker (exactly [`STALE_NAN_BITS`]; other NaNs are
/// values).
#[inline]
pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One sample of one series.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    /// The value. Any bit pattern is kept, including NaNs (the Prometheus stale marker).
    pub value: f64,
    /// Correction version; 0 unless a client corrects earlier data.
    pub version: u64,
}

impl Sample {
    /// A sample at `ts` with `value` and `version`.
    pub const fn new(ts: i64, value: f64, version: u64) -> Self {
        Self { ts, value, version }
    }

    /// Bit-exact equality (`NaN == NaN` when the bits agree, `0.0 != -0.0`).
    pub fn bit_eq(&self, other: &Self) -> bool {
        self.ts == other.ts
            && self.version == other.version
            && self.value.to_bits() == other.value.to_bits()
    }
}

impl PartialEq for Sample {
    fn eq(&self, other: &Self) -> bool {
        self.bit_eq(other)
    }
}

impl Eq for Sample {}

/// The order of the merge rule between two samples of the same timestamp:
/// by `version`, then by `value.total_cmp`.
#[inline]
pub fn precedence(a_version: u64, a_value: f64, b_version: u64, b_value: f64) -> Ordering {
    a_version
        .cmp(&b_version)
        .then_with(|| a_value.total_cmp(&b_value))
}

/// The merge rule: of two samples for the same `(series, ts)`, the one that is stored.
///
/// `a.ts` and `b.ts` must be equal; the result keeps that timestamp.
#[inline]
pub fn merge(a: Sample, b: Sample) -> Sample {
    debug_assert_eq!(a.ts, b.ts, "merge of samples with different timestamps");
    if precedence(a.version, a.value, b.version, b.value) == Ordering::Less {
        b
    } else {
        a
    }
}

/// Sorts samples by timestamp and collapses equal timestamps with [`merge`], in place.
///
/// The result is the stored state of the given multiset of samples: strictly increasing
/// timestamps, one winner each.
pub fn normalize(samples: &mut Vec<Sample>) {
    samples.sort_unstable_by(|a, b| {
        a.ts.cmp(&b.ts)
            .then_with(|| precedence(a.version, a.value, b.version, b.value))
    });
    // After the sort the winner of each timestamp is the last of its run.
    let mut out = 0;
    for i in 0..samples.len() {
        let last_of_run = i + 1 == samples.len() || samples[i + 1].ts != samples[i].ts;
        if last_of_run {
            samples[out] = samples[i];
            out += 1;
        }
    }
    samples.truncate(out);
}

/// Merges two runs that are each already normalized (strictly increasing timestamps) into one
/// normalized run, applying [`merge`] where both hold a timestamp.
pub fn merge_sorted_columns(a: &[Sample], b: &[Sample], out: &mut Vec<Sample>) {
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].ts.cmp(&b[j].ts) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push(merge(a[i], b[j]));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// True when `samples` is normalized: strictly increasing timestamps.
pub fn is_normalized(samples: &[Sample]) -> bool {
    samples.windows(2).all(|w| w[0].ts < w[1].ts)
}

/// True when `ts` is strictly increasing.
pub fn is_strictly_increasing(ts: &[i64]) -> bool {
    ts.windows(2).all(|w| w[0] < w[1])
}
