//! Rollups: per series and per time bucket, the aggregates `count, sum, min, max, first, last`
//! of the raw samples, for queries over long ranges at a coarser resolution (1 m, 5 m, 1 h).
//!
//! # Buckets
//!
//! A rollup at resolution `res` ms has one row per bucket `[k·res, (k+1)·res)` that holds at
//! least one value; the row's timestamp is the bucket start `ts.div_euclid(res) * res`
//! (buckets are aligned to the Unix epoch, also for negative timestamps).
//!
//! # What a row holds
//!
//! Over the values `v₁ … vₙ` of the bucket in timestamp order, **excluding the Prometheus
//! stale marker** (bits [`STALE_NAN_BITS`]: it marks a series' disappearance, not a
//! measurement; a bucket holding only stale markers has no row):
//!
//! | field | definition |
//! |---|---|
//! | `count` | `n` (every value, NaNs included), `1 ≤ n ≤ res` |
//! | `sum` | `((v₁ + v₂) + v₃) + … + vₙ` in IEEE 754 double arithmetic, in timestamp order (`v₁` alone when `n = 1`, so `-0.0` survives); any NaN makes it NaN, as do `+∞` and `−∞` together |
//! | `min`, `max` | the least and greatest **non-NaN** value by `f64::total_cmp` (so `-0.0 < +0.0`); NaN only when every value is NaN |
//! | `first_ts`, `first` | timestamp and exact bits of `v₁` (may be a NaN other than the stale marker) |
//! | `last_ts`, `last` | timestamp and exact bits of `vₙ` |
//!
//! A NaN in `sum`, `min` or `max` is always stored as the canonical quiet NaN
//! [`CANONICAL_NAN_BITS`], so a rollup is a pure function of the stored samples, bit for bit,
//! on every platform (IEEE 754 does not fix which NaN an addition returns). `first` and `last`
//! keep the bits of the sample.
//!
//! # Merging
//!
//! [`merge_rollups`] combines the rollups of two **disjoint** sample sets of one series (no
//! timestamp in both) into the rollup of their union: counts and sums add, min and max take
//! the extreme, `first` is the one with the smaller `first_ts` and `last` the one with the
//! larger `last_ts` — which is why the rollup stores `first_ts` and `last_ts`: with them the
//! merge is exact for any two disjoint sets, interleaved in time or not, and commutative.
//! Every field except `sum` is then exactly what [`rollup`] computes over the union. `sum` is
//! `sum(a) + sum(b)`: floating-point addition is not associative, so it equals the sequential
//! sum only up to rounding — exactly when the partial sums are exact (integer-valued data
//! below 2⁵³, as counters and counts are). Replicas that must agree bit for bit (digests)
//! compute rollups from the stored raw samples with [`rollup`], which is deterministic.

mod chunk;

pub use chunk::{
    MAX_ROLLUP_CHUNK_BYTES, MAX_ROLLUP_ROWS, decode_rollup_chunk, encode_rollup_chunk,
    rollup_chunk_header, verify_rollup_chunk,
};

use std::cmp::Ordering;

use crate::error::{FormatError, Result};
use crate::sample::{STALE_NAN_BITS, is_stale_marker, is_strictly_increasing};

/// The NaN stored for a NaN `sum`, `min` or `max`: the canonical quiet NaN.
pub const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

/// Largest count a row may hold: counts travel as exact integers in an f64 column.
pub const MAX_ROLLUP_COUNT: u64 = 1 << 53;

/// One row of a rollup: the aggregates of one bucket.
#[derive(Debug, Clone, Copy)]
pub struct RollupRow {
    /// Bucket start (ms), a multiple of the resolution.
    pub ts: i64,
    /// Number of values (stale markers excluded), at least 1.
    pub count: u64,
    /// Sum in timestamp order (canonical NaN when NaN).
    pub sum: f64,
    /// Least non-NaN value by `total_cmp` (canonical NaN when every value is NaN).
    pub min: f64,
    /// Greatest non-NaN value by `total_cmp` (canonical NaN when every value is NaN).
    pub max: f64,
    /// Timestamp of the first value.
    pub first_ts: i64,
    /// The first value, bit-exact.
    pub first: f64,
    /// Timestamp of the last value.
    pub last_ts: i64,
    /// The last value, bit-exact.
    pub last: f64,
}

impl RollupRow {
    /// The row of a bucket whose first value is `v` at `t`.
    fn start(bucket: i64, t: i64, v: f64) -> Self {
        RollupRow {
            ts: bucket,
            count: 1,
            sum: v,
            min: v,
            max: v,
            first_ts: t,
            first: v,
            last_ts: t,
            last: v,
        }
    }

    /// Adds the next value (`t` after every value already added).
    #[inline]
    fn add(&mut self, t: i64, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = nan_min(self.min, v);
        self.max = nan_max(self.max, v);
        self.last_ts = t;
        self.last = v;
    }

    /// Stores NaN results canonically.
    fn finish(mut self) -> Self {
        self.sum = canonical(self.sum);
        self.min = canonical(self.min);
        self.max = canonical(self.max);
        self
    }

    /// Bit-exact equality (`NaN == NaN` when the bits agree, `0.0 != -0.0`).
    pub fn bit_eq(&self, other: &Self) -> bool {
        let f = |a: f64, b: f64| a.to_bits() == b.to_bits();
        self.ts == other.ts
            && self.count == other.count
            && f(self.sum, other.sum)
            && f(self.min, other.min)
            && f(self.max, other.max)
            && self.first_ts == other.first_ts
            && f(self.first, other.first)
            && self.last_ts == other.last_ts
            && f(self.last, other.last)
    }
}

impl PartialEq for RollupRow {
    fn eq(&self, other: &Self) -> bool {
        self.bit_eq(other)
    }
}

impl Eq for RollupRow {}

#[inline]
fn canonical(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(CANONICAL_NAN_BITS)
    } else {
        v
    }
}

/// The smaller by `total_cmp`, ignoring a NaN side (NaN only when both are).
#[inline]
fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || (!b.is_nan() && b.total_cmp(&a) == Ordering::Less) {
        b
    } else {
        a
    }
}

/// The greater by `total_cmp`, ignoring a NaN side (NaN only when both are).
#[inline]
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || (!b.is_nan() && b.total_cmp(&a) == Ordering::Greater) {
        b
    } else {
        a
    }
}

/// The rollup of one series at one resolution, as columns (one entry per row).
///
/// `PartialEq` is bit-exact, like [`crate::Sample`]'s.
#[derive(Debug, Clone, Default)]
pub struct RollupColumns {
    /// Bucket width in ms (> 0).
    pub resolution_ms: i64,
    /// Bucket starts, multiples of `resolution_ms`, strictly increasing.
    pub ts: Vec<i64>,
    /// Values per bucket (stale markers excluded), each `1 ≤ count ≤ resolution_ms`.
    pub count: Vec<u64>,
    /// Sums in timestamp order.
    pub sum: Vec<f64>,
    /// Least non-NaN values.
    pub min: Vec<f64>,
    /// Greatest non-NaN values.
    pub max: Vec<f64>,
    /// Timestamps of the first values.
    pub first_ts: Vec<i64>,
    /// First values.
    pub first: Vec<f64>,
    /// Timestamps of the last values.
    pub last_ts: Vec<i64>,
    /// Last values.
    pub last: Vec<f64>,
}

impl RollupColumns {
    /// An empty rollup at `resolution_ms`.
    pub fn new(resolution_ms: i64) -> Self {
        RollupColumns {
            resolution_ms,
            ..Self::default()
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Removes every row, keeping the resolution and the allocations.
    pub fn clear(&mut self) {
        self.ts.clear();
        self.count.clear();
        self.sum.clear();
        self.min.clear();
        self.max.clear();
        self.first_ts.clear();
        self.first.clear();
        self.last_ts.clear();
        self.last.clear();
    }

    /// Appends a row (not checked: see [`RollupColumns::validate`]).
    pub fn push(&mut self, row: RollupRow) {
        self.ts.push(row.ts);
        self.count.push(row.count);
        self.sum.push(row.sum);
        self.min.push(row.min);
        self.max.push(row.max);
        self.first_ts.push(row.first_ts);
        self.first.push(row.first);
        self.last_ts.push(row.last_ts);
        self.last.push(row.last);
    }

    /// Row `i`. Panics if `i >= len()` or the columns have unequal lengths.
    pub fn row(&self, i: usize) -> RollupRow {
        RollupRow {
            ts: self.ts[i],
            count: self.count[i],
            sum: self.sum[i],
            min: self.min[i],
            max: self.max[i],
            first_ts: self.first_ts[i],
            first: self.first[i],
            last_ts: self.last_ts[i],
            last: self.last[i],
        }
    }

    /// The rows as structs. Panics if the columns have unequal lengths.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = RollupRow> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    /// Bit-exact equality of resolution and every row.
    pub fn bit_eq(&self, other: &Self) -> bool {
        self.resolution_ms == other.resolution_ms
            && self.lengths_agree()
            && other.lengths_agree()
            && self.len() == other.len()
            && self.rows().zip(other.rows()).all(|(a, b)| a.bit_eq(&b))
    }

    fn lengths_agree(&self) -> bool {
        let n = self.ts.len();
        [
            self.count.len(),
            self.sum.len(),
            self.min.len(),
            self.max.len(),
            self.first_ts.len(),
            self.first.len(),
            self.last_ts.len(),
            self.last.len(),
        ]
        .iter()
        .all(|&l| l == n)
    }

    /// Checks every invariant a rollup built by [`rollup`] or [`merge_rollups`] satisfies
    /// (the list is in `docs/storage-format.md`); encoders and decoders call it.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|(row, reason)| FormatError::BadInput {
            what: "rollup",
            reason: format!("row {row}: {reason}"),
        })
    }

    /// The invariants, as `(row, reason)` of the first violation.
    pub(crate) fn check(&self) -> std::result::Result<(), (usize, String)> {
        let res = self.resolution_ms;
        if res <= 0 {
            return Err((0, format!("resolution {res} ms is not positive")));
        }
        if !self.lengths_agree() {
            return Err((0, "columns of unequal length".into()));
        }
        for i in 0..self.len() {
            let row = self.row(i);
            if i > 0 && self.ts[i - 1] >= row.ts {
                return Err((i, "bucket starts not strictly increasing".into()));
            }
            check_row(&row, res).map_err(|reason| (i, reason))?;
        }
        Ok(())
    }
}

impl PartialEq for RollupColumns {
    fn eq(&self, other: &Self) -> bool {
        self.bit_eq(other)
    }
}

/// The invariants of one row at resolution `res` (> 0).
fn check_row(r: &RollupRow, res: i64) -> std::result::Result<(), String> {
    if r.ts.rem_euclid(res) != 0 {
        return Err(format!("bucket start {} is not a multiple of {res}", r.ts));
    }
    let end = i128::from(r.ts) + i128::from(res);
    let (first_ts, last_ts) = (i128::from(r.first_ts), i128::from(r.last_ts));
    if !(i128::from(r.ts) <= first_ts && first_ts <= last_ts && last_ts < end) {
        return Err(format!(
            "first/last timestamps {}/{} outside bucket [{}, {end}) or reversed",
            r.first_ts, r.last_ts, r.ts
        ));
    }
    let distinct = (last_ts - first_ts + 1) as u128;
    if r.count == 0 || r.count > MAX_ROLLUP_COUNT || u128::from(r.count) > distinct {
        return Err(format!(
            "count {} does not fit {distinct} distinct timestamps",
            r.count
        ));
    }
    if (r.count == 1) != (r.first_ts == r.last_ts) {
        return Err(format!("count {} with first_ts == last_ts", r.count));
    }
    check_values(r)
}

fn check_values(r: &RollupRow) -> std::result::Result<(), String> {
    let bits = |v: f64| v.to_bits();
    if bits(r.first) == STALE_NAN_BITS || bits(r.last) == STALE_NAN_BITS {
        return Err("first or last is the stale marker".into());
    }
    for (name, v) in [("sum", r.sum), ("min", r.min), ("max", r.max)] {
        if v.is_nan() && bits(v) != CANONICAL_NAN_BITS {
            return Err(format!("{name} is a non-canonical NaN {:#x}", bits(v)));
        }
    }
    if r.min.is_nan() != r.max.is_nan() {
        return Err("exactly one of min and max is NaN".into());
    }
    let any_nan = r.min.is_nan() || r.first.is_nan() || r.last.is_nan();
    if any_nan && !r.sum.is_nan() {
        return Err("a NaN value but a non-NaN sum".into());
    }
    if r.min.is_nan() {
        if !(r.first.is_nan() && r.last.is_nan()) {
            return Err("min is NaN (no number) but first or last is a number".into());
        }
    } else {
        let within =
            |v: f64| v.is_nan() || (r.min.total_cmp(&v).is_le() && v.total_cmp(&r.max).is_le());
        if !(within(r.first) && within(r.last) && r.min.total_cmp(&r.max).is_le()) {
            return Err(format!(
                "min {} / max {} do not bound first {} / last {}",
                r.min, r.max, r.first, r.last
            ));
        }
    }
    if r.count == 1 {
        let one = RollupRow::start(r.ts, r.first_ts, r.first).finish();
        if !r.bit_eq(&one) {
            return Err("a one-value row whose aggregates are not that value".into());
        }
    }
    Ok(())
}

/// The bucket start of `t`: `t.div_euclid(res) * res`, if it is a representable timestamp.
fn bucket_start(t: i64, res: i64) -> Result<i64> {
    t.div_euclid(res)
        .checked_mul(res)
        .ok_or_else(|| FormatError::BadInput {
            what: "rollup",
            reason: format!("the bucket of timestamp {t} at {res} ms starts before i64::MIN"),
        })
}

/// Replaces `out` with the rollup of one series' normalized samples (strictly increasing
/// `ts`, one value each) at `resolution_ms`, with the semantics of the [module](self) docs.
pub fn rollup(
    ts: &[i64],
    values: &[f64],
    resolution_ms: i64,
    out: &mut RollupColumns,
) -> Result<()> {
    out.clear();
    out.resolution_ms = resolution_ms;
    let bad = |reason: String| FormatError::BadInput {
        what: "rollup",
        reason,
    };
    if resolution_ms <= 0 {
        return Err(bad(format!(
            "resolution {resolution_ms} ms is not positive"
        )));
    }
    if ts.len() != values.len() {
        return Err(bad(format!(
            "{} timestamps but {} values",
            ts.len(),
            values.len()
        )));
    }
    if !is_strictly_increasing(ts) {
        return Err(bad("timestamps not strictly increasing".into()));
    }
    // The open row and the end of its bucket (i128: the last bucket may end past i64::MAX).
    let mut open: Option<(RollupRow, i128)> = None;
    for (&t, &v) in ts.iter().zip(values) {
        if is_stale_marker(v) {
            continue;
        }
        match &mut open {
            Some((row, end)) if i128::from(t) < *end => row.add(t, v),
            _ => {
                if let Some((row, _)) = open.take() {
                    out.push(row.finish());
                }
                let start = bucket_start(t, resolution_ms)?;
                let end = i128::from(start) + i128::from(resolution_ms);
                open = Some((RollupRow::start(start, t, v), end));
            }
        }
    }
    if let Some((row, _)) = open {
        out.push(row.finish());
    }
    Ok(())
}

/// Replaces `out` with the rollup of the union of two **disjoint** sample sets (no timestamp
/// in both) of one series, given their rollups at the same resolution (an empty rollup
/// merges with any). Exact for every field but `sum`, which is `a.sum + b.sum` (see the
/// [module](self) docs); commutative.
///
/// Fails, leaving `out` empty, if either input breaks a rollup invariant, the resolutions
/// differ, or the inputs visibly overlap (a shared first or last timestamp, or more values
/// than the bucket has milliseconds).
pub fn merge_rollups(a: &RollupColumns, b: &RollupColumns, out: &mut RollupColumns) -> Result<()> {
    let res = merge_into(a, b, out);
    if res.is_err() {
        out.clear();
    }
    res
}

fn merge_into(a: &RollupColumns, b: &RollupColumns, out: &mut RollupColumns) -> Result<()> {
    out.clear();
    out.resolution_ms = if a.is_empty() {
        b.resolution_ms
    } else {
        a.resolution_ms
    };
    for (name, r) in [("a", a), ("b", b)] {
        if !r.is_empty() || !r.lengths_agree() {
            r.check().map_err(|(row, reason)| FormatError::BadInput {
                what: "rollup merge",
                reason: format!("input {name}, row {row}: {reason}"),
            })?;
        }
    }
    if !a.is_empty() && !b.is_empty() && a.resolution_ms != b.resolution_ms {
        return Err(FormatError::BadInput {
            what: "rollup merge",
            reason: format!(
                "resolutions differ: {} ms and {} ms",
                a.resolution_ms, b.resolution_ms
            ),
        });
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a.ts[i].cmp(&b.ts[j]) {
            Ordering::Less => {
                out.push(a.row(i));
                i += 1;
            }
            Ordering::Greater => {
                out.push(b.row(j));
                j += 1;
            }
            Ordering::Equal => {
                out.push(merge_rows(&a.row(i), &b.row(j), out.resolution_ms)?);
                i += 1;
                j += 1;
            }
        }
    }
    (i..a.len()).for_each(|i| out.push(a.row(i)));
    (j..b.len()).for_each(|j| out.push(b.row(j)));
    Ok(())
}

/// The row of the union of two disjoint sets of one bucket.
fn merge_rows(a: &RollupRow, b: &RollupRow, res: i64) -> Result<RollupRow> {
    let overlap = |what: &str| FormatError::BadInput {
        what: "rollup merge",
        reason: format!("bucket {}: {what}: the inputs are not disjoint", a.ts),
    };
    if a.first_ts == b.first_ts || a.last_ts == b.last_ts {
        return Err(overlap("a shared first or last timestamp"));
    }
    let count = a.count + b.count; // each ≤ 2^53: no overflow
    let (first_ts, first) = if a.first_ts < b.first_ts {
        (a.first_ts, a.first)
    } else {
        (b.first_ts, b.first)
    };
    let (last_ts, last) = if a.last_ts > b.last_ts {
        (a.last_ts, a.last)
    } else {
        (b.last_ts, b.last)
    };
    let row = RollupRow {
        ts: a.ts,
        count,
        sum: a.sum + b.sum,
        min: nan_min(a.min, b.min),
        max: nan_max(a.max, b.max),
        first_ts,
        first,
        last_ts,
        last,
    }
    .finish();
    check_row(&row, res).map_err(|reason| overlap(&reason))?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: f64 = f64::from_bits(STALE_NAN_BITS);

    fn roll(ts: &[i64], v: &[f64], res: i64) -> RollupColumns {
        let mut out = RollupColumns::default();
        rollup(ts, v, res, &mut out).expect("rollup");
        out.validate().expect("valid rollup");
        out
    }

    #[test]
    fn buckets_are_epoch_aligned_also_before_the_epoch() {
        let r = roll(
            &[-61_000, -60_000, -1, 0, 59_999, 60_000],
            &[1.0; 6],
            60_000,
        );
        assert_eq!(r.ts, vec![-120_000, -60_000, 0, 60_000]);
        assert_eq!(r.count, vec![1, 2, 2, 1]);
    }

    #[test]
    fn stale_markers_are_not_values() {
        let r = roll(
            &[0, 10, 20, 60_000, 60_010],
            &[STALE, 3.0, STALE, STALE, STALE],
            60_000,
        );
        assert_eq!(r.len(), 1, "a bucket of stale markers has no row");
        assert_eq!(r.row(0), RollupRow::start(0, 10, 3.0));
    }

    #[test]
    fn nan_propagates_to_sum_only_and_is_canonical() {
        let odd_nan = f64::from_bits(0xfff8_0000_0000_1234);
        let r = roll(&[1, 2, 3], &[odd_nan, 2.0, -1.0], 1000);
        let row = r.row(0);
        assert_eq!(row.sum.to_bits(), CANONICAL_NAN_BITS);
        assert_eq!((row.min, row.max), (-1.0, 2.0));
        assert_eq!(
            row.first.to_bits(),
            odd_nan.to_bits(),
            "first keeps its bits"
        );
        let all_nan = roll(&[1, 2], &[odd_nan, f64::NAN], 1000).row(0);
        assert_eq!(all_nan.min.to_bits(), CANONICAL_NAN_BITS);
        assert_eq!(all_nan.max.to_bits(), CANONICAL_NAN_BITS);
        assert_eq!(all_nan.count, 2);
        let infs = roll(&[1, 2], &[f64::INFINITY, f64::NEG_INFINITY], 1000).row(0);
        assert_eq!(infs.sum.to_bits(), CANONICAL_NAN_BITS);
        assert_eq!((infs.min, infs.max), (f64::NEG_INFINITY, f64::INFINITY));
    }

    #[test]
    fn signed_zeros_follow_total_order() {
        let r = roll(&[1, 2], &[0.0, -0.0], 1000).row(0);
        assert_eq!(r.min.to_bits(), (-0.0f64).to_bits());
        assert_eq!(r.max.to_bits(), 0.0f64.to_bits());
        assert_eq!(r.sum.to_bits(), 0.0f64.to_bits());
        let neg = roll(&[1], &[-0.0], 1000).row(0);
        assert_eq!(neg.sum.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn bad_input_is_refused() {
        let mut out = RollupColumns::default();
        assert!(rollup(&[2, 1], &[1.0, 1.0], 10, &mut out).is_err());
        assert!(rollup(&[1], &[1.0, 1.0], 10, &mut out).is_err());
        assert!(rollup(&[1], &[1.0], 0, &mut out).is_err());
        assert!(rollup(&[i64::MIN], &[1.0], 7, &mut out).is_err());
        let end = roll(&[i64::MAX], &[1.0], 7);
        assert_eq!(end.ts, vec![i64::MAX - i64::MAX.rem_euclid(7)]);
    }

    #[test]
    fn merge_detects_overlap_and_mismatched_resolution() {
        let a = roll(&[1, 5], &[1.0, 2.0], 10);
        let mut out = RollupColumns::default();
        assert!(merge_rollups(&a, &a, &mut out).is_err());
        assert!(merge_rollups(&a, &roll(&[3], &[1.0], 20), &mut out).is_err());
        merge_rollups(&a, &RollupColumns::default(), &mut out).expect("empty merges");
        assert_eq!(out, a);
        merge_rollups(&a, &roll(&[3], &[7.0], 10), &mut out).expect("disjoint");
        assert_eq!(out, roll(&[1, 3, 5], &[1.0, 7.0, 2.0], 10));
    }
}
