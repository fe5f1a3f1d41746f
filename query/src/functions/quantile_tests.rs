//! Quantile tests; expected values from Prometheus's `histograms.test` and `aggregators.test`
//! unless noted.

use super::{histogram_quantile, quantile};

const INF: f64 = f64::INFINITY;

fn hq(q: f64, buckets: &[(f64, f64)]) -> f64 {
    histogram_quantile(q, &mut buckets.to_vec())
}

fn assert_close(got: f64, want: f64) {
    assert!(
        got == want || (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

/// `testhistogram_bucket{start="positive"}` at 50m: 0.1 → 50, 0.2 → 70, 1 → 110, +Inf → 120.
fn positive() -> Vec<(f64, f64)> {
    // Deliberately out of order: the function sorts.
    vec![(INF, 120.0), (0.1, 50.0), (1.0, 110.0), (0.2, 70.0)]
}

/// `testhistogram_bucket{start="negative"}` at 50m.
fn negative() -> Vec<(f64, f64)> {
    vec![(-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 30.0)]
}

#[test]
fn histogram_quantile_matches_histograms_test() {
    let cases = [
        (0.0, 0.0, -0.2),
        (0.2, 0.048, -0.2),
        (0.5, 0.15, -0.15),
        (0.8, 0.72, 0.3),
        (1.0, 1.0, 0.3),
    ];
    for (q, pos, neg) in cases {
        assert_close(hq(q, &positive()), pos);
        assert_close(hq(q, &negative()), neg);
    }
    assert_eq!(hq(-0.1, &positive()), f64::NEG_INFINITY);
    assert_eq!(hq(1.01, &positive()), INF);
    assert!(hq(f64::NAN, &positive()).is_nan());
}

#[test]
fn histogram_quantile_fixes_nonmonotonic_buckets() {
    let b = [
        (0.1, 20.0),
        (1.0, 10.0),
        (10.0, 50.0),
        (100.0, 40.0),
        (1000.0, 90.0),
        (INF, 80.0),
    ];
    assert_close(hq(0.01, &b), 0.0045);
    assert_close(hq(0.5, &b), 8.5);
    assert_close(hq(0.99, &b), 979.75);
}

#[test]
fn histogram_quantile_special_cases() {
    // No +Inf bucket.
    assert!(hq(0.5, &[(1.0, 1.0), (2.0, 2.0)]).is_nan());
    // Only the +Inf bucket: fewer than two buckets.
    assert!(hq(0.5, &[(INF, 10.0)]).is_nan());
    // Two +Inf buckets coalesce into one.
    assert!(hq(0.5, &[(INF, 10.0), (INF, 5.0)]).is_nan());
    // No observations.
    assert!(hq(0.5, &[(1.0, 0.0), (INF, 0.0)]).is_nan());
    // Nothing at all.
    assert!(hq(0.5, &[]).is_nan());
    // The rank falls into the +Inf bucket: the highest finite bound.
    assert_close(hq(0.9, &[(1.0, 5.0), (2.0, 6.0), (INF, 10.0)]), 2.0);
    // Equal bounds are merged by adding their counts: 1 → 4, +Inf → 8.
    assert_close(hq(0.25, &[(1.0, 1.0), (1.0, 3.0), (INF, 8.0)]), 0.5);
    // Input order does not matter.
    assert_close(hq(0.5, &[(INF, 4.0), (2.0, 4.0), (1.0, 2.0)]), 1.0);
}

#[test]
fn histogram_quantile_with_nan_counts() {
    // NaN in the +Inf bucket: the rank is NaN, no bucket reaches it, so the highest finite
    // bound comes back (as in Prometheus).
    assert_close(hq(0.5, &[(1.0, 1.0), (2.0, 2.0), (INF, f64::NAN)]), 2.0);
    // NaN in the lowest bucket makes the running maximum NaN, so nothing is lifted; the
    // bisection then finds bucket 1 (count 4 ≥ rank 2).
    assert!(hq(0.5, &[(1.0, f64::NAN), (2.0, 4.0), (INF, 4.0)]).is_nan());
    // Must never panic, whatever the NaN placement.
    for i in 0..3 {
        let mut b = vec![(1.0, 1.0), (2.0, 2.0), (INF, 3.0)];
        b[i].1 = f64::NAN;
        let _ = histogram_quantile(0.5, &mut b);
    }
    // A NaN bound sorts after +Inf, so the histogram has no +Inf bucket last.
    assert!(hq(0.5, &[(1.0, 1.0), (f64::NAN, 2.0), (INF, 3.0)]).is_nan());
}

#[test]
fn histogram_quantile_interpolates_lowest_bucket_from_zero() {
    // Lowest bound > 0: interpolate in [0, 4].
    assert_close(hq(0.25, &[(4.0, 4.0), (INF, 4.0)]), 1.0);
    // Lowest bound ≤ 0: return the bound itself.
    assert_close(hq(0.25, &[(-4.0, 4.0), (INF, 4.0)]), -4.0);
    assert_close(hq(0.25, &[(0.0, 4.0), (INF, 4.0)]), 0.0);
}

#[test]
fn quantile_matches_aggregators_test() {
    // quantile(0.8, …) over 10..80 etc. is linear interpolation between ranks.
    let mut v = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0];
    assert_close(quantile(0.8, &mut v), 66.0);
    let mut v = [80.0, 10.0];
    assert_close(quantile(0.5, &mut v), 45.0);
    let mut v = [3.0];
    assert_close(quantile(0.3, &mut v), 3.0);
}

#[test]
fn quantile_special_cases() {
    assert!(quantile(0.5, &mut []).is_nan());
    assert!(quantile(f64::NAN, &mut [1.0]).is_nan());
    assert_eq!(quantile(-0.1, &mut [1.0]), f64::NEG_INFINITY);
    assert_eq!(quantile(1.1, &mut [1.0]), INF);
    // NaN sorts first.
    let mut v = [2.0, f64::NAN, 1.0];
    assert_close(quantile(0.5, &mut v), 1.0);
    assert!(v[0].is_nan());
    assert!(quantile(0.0, &mut [f64::NAN, 1.0]).is_nan());
    // Inf × weight 0 is NaN in Go too.
    assert!(quantile(0.0, &mut [1.0, INF]).is_nan());
    // … and so is the top rank, weighted by 0 as well: Inf + Inf × 0.
    assert!(quantile(1.0, &mut [1.0, INF]).is_nan());
    assert_eq!(quantile(0.25, &mut [INF, INF, INF]), INF);
}
