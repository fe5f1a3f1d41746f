//! Quantiles over plain values and over classic (`le`-bucketed) histograms, as Prometheus
//! 2.42's `promql/quantile.go`.

use std::cmp::Ordering;

/// The φ-quantile of `values`, interpolating linearly between the two nearest ranks.
///
/// `values` is sorted in place (NaN first, as Prometheus sorts them). No values or a NaN `q`
/// give NaN; `q < 0` gives −Inf and `q > 1` gives +Inf.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first);

    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    // `lower` and `upper` are whole numbers in [0, n - 1], so the casts are exact.
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus's sample order for quantiles: NaN before everything, then ascending.
fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// The φ-quantile of a classic histogram given as `(upper bound, cumulative count)` buckets
/// in any order, interpolating linearly inside the bucket the rank falls into.
///
/// Special cases, all as in Prometheus: NaN `q` → NaN, `q < 0` → −Inf, `q > 1` → +Inf; no
/// `+Inf` bucket, fewer than two buckets (after merging equal bounds), or zero observations →
/// NaN; a rank in the `+Inf` bucket → the second-highest bound; a rank in the lowest bucket
/// with a bound ≤ 0 → that bound; otherwise the lowest bucket is interpolated from 0.
/// Decreasing counts are lifted to the running maximum first. `buckets` is sorted and merged
/// in place.
pub(crate) fn histogram_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    match buckets.last() {
        Some(&(le, _)) if le == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce_buckets(buckets);
    ensure_monotonic(buckets);

    let len = buckets.len();
    if len < 2 {
        return f64::NAN;
    }
    let observations = buckets[len - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = go_search(len - 1, |i| buckets[i].1 >= rank);
    if b == len - 1 {
        return buckets[len - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let bucket_end = buckets[b].0;
    let mut count = buckets[b].1;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Merges adjacent buckets with equal upper bounds by adding their counts (input sorted).
fn coalesce_buckets(buckets: &mut Vec<(f64, f64)>) {
    let Some(&first) = buckets.first() else {
        return;
    };
    let mut last = first;
    let mut out = 0;
    for i in 1..buckets.len() {
        let b = buckets[i];
        if b.0 == last.0 {
            last.1 += b.1;
        } else {
            buckets[out] = last;
            last = b;
            out += 1;
        }
    }
    buckets[out] = last;
    buckets.truncate(out + 1);
}

/// Lifts every count that is below an earlier count to the running maximum, so the
/// cumulative counts never decrease (they can after `rate()` over non-atomic scrapes).
fn ensure_monotonic(buckets: &mut [(f64, f64)]) {
    let Some(&(_, first)) = buckets.first() else {
        return;
    };
    let mut max = first;
    for b in buckets.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
}

/// Go's `sort.Search`: the smallest `i` in `[0, n)` with `f(i)` true, by the same bisection
/// (so the answer for a non-monotonic `f`, e.g. with NaN counts, matches Go's too).
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = i + (j - i) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}
