//! Range function tests. Expected values come from Prometheus's `promql/testdata/*.test`
//! (windows rebuilt by hand with 2.42's inclusive range start), from the Flux port of the
//! rate and Holt-Winters kernels, or from hand computation as noted.

use super::{RangeWindow, check_range_args, range_function};

const MIN: i64 = 60_000;

/// Calls range function `name` on `samples` for a range `(end - range, end]` evaluated at `end`.
fn call(name: &str, samples: &[(i64, f64)], end: i64, range: i64, args: &[f64]) -> Option<f64> {
    let f = range_function(name).expect("a range function");
    let w = RangeWindow {
        samples,
        range_start: end - range,
        range_end: end,
        eval_ts: end,
    };
    f(&w, args)
}

/// Samples every `step_ms` from 0 with the given values.
fn series(step_ms: i64, values: &[f64]) -> Vec<(i64, f64)> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * step_ms, v))
        .collect()
}

/// Prometheus's `a+bxN` load notation: N+1 samples a, a+b, … every `step_ms`.
fn ramp(step_ms: i64, start: f64, inc: f64, n: usize) -> Vec<(i64, f64)> {
    let vals: Vec<f64> = (0..=n).map(|i| start + inc * i as f64).collect();
    series(step_ms, &vals)
}

/// The samples of `s` with `start <= t <= end` (Prometheus 2.42 range selection).
fn select(s: &[(i64, f64)], start: i64, end: i64) -> Vec<(i64, f64)> {
    s.iter()
        .copied()
        .filter(|&(t, _)| t >= start && t <= end)
        .collect()
}

fn assert_close(got: Option<f64>, want: f64) {
    let got = got.expect("a value");
    if want.is_nan() {
        assert!(got.is_nan(), "got {got}, want NaN");
        return;
    }
    let tol = 1e-9 * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol || got == want,
        "got {got}, want {want}"
    );
}

fn resets_data() -> [Vec<(i64, f64)>; 3] {
    [
        series(5 * MIN, &[1., 2., 3., 0., 1., 0., 0., 1., 2., 0.]),
        series(5 * MIN, &[1., 2., 3., 4., 5., 1., 2., 3., 4., 5.]),
        series(5 * MIN, &[0., 0., 0., 0., 0., 1., 1., 1., 1., 1.]),
    ]
}

#[test]
fn resets_and_changes_match_functions_test() {
    let data = resets_data();
    let at = 50 * MIN;
    let cases = [
        (5, [0., 0., 0.], [0., 0., 0.]),
        (20, [1., 0., 0.], [3., 3., 0.]),
        (30, [2., 1., 0.], [4., 5., 1.]),
        (50, [3., 1., 0.], [8., 9., 1.]),
    ];
    for (range_min, want_resets, want_changes) in cases {
        for (i, s) in data.iter().enumerate() {
            let w = select(s, at - range_min * MIN, at);
            let r = call("resets", &w, at, range_min * MIN, &[]);
            let c = call("changes", &w, at, range_min * MIN, &[]);
            assert_eq!(r, Some(want_resets[i]), "resets [{range_min}m] series {i}");
            assert_eq!(
                c,
                Some(want_changes[i]),
                "changes [{range_min}m] series {i}"
            );
        }
    }
}

#[test]
fn resets_and_changes_with_nan() {
    let s = series(1000, &[1., f64::NAN, f64::NAN, 2., 1.]);
    // NaN compares false: only 2 → 1 is a reset; NaN → NaN is no change.
    assert_eq!(call("resets", &s, 5000, 10_000, &[]), Some(1.0));
    assert_eq!(call("changes", &s, 5000, 10_000, &[]), Some(3.0));
    let one = [(0, 5.0)];
    assert_eq!(call("resets", &one, 0, 1000, &[]), Some(0.0));
    assert_eq!(call("changes", &one, 0, 1000, &[]), Some(0.0));
}

#[test]
fn increase_matches_functions_test() {
    let foo = ramp(5 * MIN, 0., 10., 10);
    let mut bar = ramp(5 * MIN, 0., 10., 5);
    bar.extend(
        ramp(5 * MIN, 0., 10., 5)
            .iter()
            .map(|&(t, v)| (t + 30 * MIN, v)),
    );
    let at = 50 * MIN;
    let w = |s: &[(i64, f64)]| select(s, 0, at);
    assert_close(call("increase", &w(&foo), at, 50 * MIN, &[]), 100.0);
    assert_close(call("increase", &w(&bar), at, 50 * MIN, &[]), 90.0);
}

#[test]
fn irate_matches_functions_test() {
    let foo = ramp(5 * MIN, 0., 10., 10);
    let mut bar = ramp(5 * MIN, 0., 10., 5);
    bar.extend(
        ramp(5 * MIN, 0., 10., 5)
            .iter()
            .map(|&(t, v)| (t + 30 * MIN, v)),
    );
    let at = 50 * MIN;
    let third = 0.033_333_333_333_333_33;
    assert_close(call("irate", &select(&foo, 0, at), at, at, &[]), third);
    assert_close(call("irate", &select(&bar, 0, at), at, at, &[]), third);
    // At 30m bar has just been reset (50 → 0): irate takes the post-reset value, 0.
    let at = 30 * MIN;
    assert_close(
        call("irate", &select(&foo, 0, at), at, 50 * MIN, &[]),
        third,
    );
    assert_close(call("irate", &select(&bar, 0, at), at, 50 * MIN, &[]), 0.0);
}

#[test]
fn deriv_and_predict_linear_match_functions_test() {
    let canary = ramp(5 * MIN, 0., 80., 10);
    let at = 50 * MIN;
    let w = select(&canary, 0, at);
    assert_close(
        call("rate", &w, at, 50 * MIN, &[]),
        0.266_666_666_666_666_66,
    );
    assert_close(
        call("deriv", &w, at, 50 * MIN, &[]),
        0.266_666_666_666_666_66,
    );

    let mut reset_middle = ramp(5 * MIN, 0., 10., 4);
    reset_middle.extend(
        ramp(5 * MIN, 0., 10., 5)
            .iter()
            .map(|&(t, v)| (t + 25 * MIN, v)),
    );
    let w = select(&reset_middle, -50 * MIN, at);
    assert_close(
        call("deriv", &w, at, 100 * MIN, &[]),
        0.010_606_060_606_060_607,
    );
    // The regression line's value 3600 s after the step (Prometheus's later functions.test
    // spells out the sums: intercept at t=3000+3600 is 76.81818181818181). Very old
    // Prometheus added the slope to the current value instead and got 88.18.
    assert_close(
        call("predict_linear", &w, at, 100 * MIN, &[3600.0]),
        76.818_181_818_181_81,
    );
}

#[test]
fn extrapolation_matches_flux_port() {
    // Flux's promql.extrapolatedRate test: range 20:50:00–20:55:00, samples 20:52:33 to
    // 20:53:23 every 10 s; increase() of each series.
    let start = 0;
    let end = 300_000;
    let at = |vals: &[f64]| -> Vec<(i64, f64)> {
        vals.iter()
            .enumerate()
            .map(|(i, &v)| (153_000 + i as i64 * 10_000, v))
            .collect()
    };
    let f = |vals: &[f64]| {
        let s = at(vals);
        let w = RangeWindow {
            samples: &s,
            range_start: start,
            range_end: end,
            eval_ts: end,
        };
        range_function("increase").expect("increase")(&w, &[])
    };
    assert_close(f(&[1., 1., 1., 1., 1., 1.]), 0.0);
    assert_close(f(&[1., 1., 1., 100., 100., 100.]), 109.899_999_999_999_99);
    assert_close(f(&[100., 200., 300., 200., 300., 400.]), 760.0);
}

#[test]
fn counter_zero_point_is_applied_before_the_threshold() {
    // Hand-computed. Samples at 30/40/50 s of a 0–60 s range: 8, 18, 28. The zero point is
    // 8 s before the first sample; 2.42 extrapolates all 8 s because 8 < 1.1 × 10 s (later
    // Prometheus versions cut it to 5 s first and give 35).
    let s = [(30_000, 8.0), (40_000, 18.0), (50_000, 28.0)];
    assert_close(call("increase", &s, 60_000, 60_000, &[]), 38.0);
    assert_close(call("rate", &s, 60_000, 60_000, &[]), 38.0 / 60.0);
    // delta() is no counter: no zero clamp, 30 s to the start is beyond the threshold.
    assert_close(call("delta", &s, 60_000, 60_000, &[]), 20.0 * 35.0 / 20.0);
}

#[test]
fn rate_corrects_counter_resets() {
    // 0 10 20 | 5 15: increase = 15 - 0 + 20 = 35 over the sampled 40 s, window exact.
    let s = series(10_000, &[0., 10., 20., 5., 15.]);
    assert_close(call("increase", &s, 40_000, 40_000, &[]), 35.0);
    assert_close(call("rate", &s, 40_000, 40_000, &[]), 35.0 / 40.0);
    // delta() does not correct resets.
    assert_close(call("delta", &s, 40_000, 40_000, &[]), 15.0);
}

#[test]
fn rate_family_needs_two_samples() {
    for name in ["rate", "increase", "delta", "irate", "idelta", "deriv"] {
        assert_eq!(call(name, &[], 0, 1000, &[]), None, "{name} empty");
        assert_eq!(call(name, &[(0, 1.0)], 0, 1000, &[]), None, "{name} one");
    }
    assert_eq!(call("predict_linear", &[(0, 1.0)], 0, 1000, &[60.0]), None);
}

#[test]
fn idelta_and_irate() {
    let s = [(0, 10.0), (2000, 4.0)];
    assert_close(call("idelta", &s, 2000, 5000, &[]), -6.0);
    // A decrease is a counter reset for irate: the last value over the interval.
    assert_close(call("irate", &s, 2000, 5000, &[]), 2.0);
}

#[test]
fn deriv_of_constant_series_is_zero_or_nan_if_infinite() {
    let s = series(1000, &[3.0, 3.0, 3.0]);
    assert_close(call("deriv", &s, 2000, 5000, &[]), 0.0);
    assert_close(call("predict_linear", &s, 2000, 5000, &[100.0]), 3.0);
    let inf = series(1000, &[f64::INFINITY; 3]);
    assert_close(call("deriv", &inf, 2000, 5000, &[]), f64::NAN);
}

#[test]
fn holt_winters_matches_flux_port() {
    let f = |vals: &[f64]| {
        call(
            "holt_winters",
            &series(10_000, vals),
            60_000,
            60_000,
            &[0.1, 0.2],
        )
    };
    assert_close(f(&[1., 1., 1., 1., 1., 1.]), 1.0);
    assert_close(f(&[1., 1., 1., 100., 100., 100.]), 32.782_96);
    assert_close(
        f(&[100., 200., 300., 200., 300., 400.]),
        535.792_000_000_000_1,
    );
    assert_eq!(f(&[100.]), None);
}

#[test]
fn holt_winters_argument_errors() {
    assert!(check_range_args("holt_winters", &[0.5, 0.5]).is_ok());
    let err = check_range_args("holt_winters", &[1.0, 0.5]).expect_err("sf = 1");
    assert_eq!(
        err.to_string(),
        "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
    );
    let err = check_range_args("holt_winters", &[0.5, 0.0]).expect_err("tf = 0");
    assert_eq!(
        err.to_string(),
        "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"
    );
    assert_eq!(err.error_type(), "execution");
    // Prometheus's comparisons let NaN through.
    assert!(check_range_args("holt_winters", &[f64::NAN, f64::NAN]).is_ok());
    assert!(check_range_args("rate", &[]).is_ok());
    let s = series(1000, &[1., 2., 3.]);
    assert_eq!(call("holt_winters", &s, 2000, 5000, &[1.5, 0.5]), None);
}

#[test]
fn stddev_and_stdvar_match_functions_test() {
    let s = series(10_000, &[0., 8., 8., 2., 3.]);
    assert_close(call("stdvar_over_time", &s, MIN, MIN, &[]), 10.56);
    let sd = call("stddev_over_time", &s, MIN, MIN, &[]).expect("a value");
    assert!((sd - 3.249_615).abs() < 1e-6, "{sd}");
    // Compensated summation makes a constant series exactly 0.
    let c = series(10_000, &[1.599_050_563_727_786_8; 3]);
    assert_eq!(call("stdvar_over_time", &c, MIN, MIN, &[]), Some(0.0));
    assert_eq!(call("stddev_over_time", &c, MIN, MIN, &[]), Some(0.0));
    assert_eq!(
        call("stddev_over_time", &[(0, 7.0)], 0, MIN, &[]),
        Some(0.0)
    );
}

#[test]
fn quantile_over_time_matches_functions_test() {
    let two = series(10_000, &[0., 1.]);
    let three = series(10_000, &[0., 1., 2.]);
    let uneven = series(10_000, &[0., 1., 4.]);
    let cases: [(f64, [f64; 3]); 7] = [
        (0.0, [0., 0., 0.]),
        (0.5, [0.5, 1., 1.]),
        (0.75, [0.75, 1.5, 2.5]),
        (0.8, [0.8, 1.6, 2.8]),
        (1.0, [1., 2., 4.]),
        (-1.0, [f64::NEG_INFINITY; 3]),
        (2.0, [f64::INFINITY; 3]),
    ];
    for (q, want) in cases {
        for (s, w) in [&two, &three, &uneven].into_iter().zip(want) {
            let got = call("quantile_over_time", s, MIN, MIN, &[q]).expect("a value");
            assert!(
                got == w || (got - w).abs() < 1e-12,
                "q={q}: got {got}, want {w}"
            );
        }
    }
    assert_close(
        call("quantile_over_time", &two, MIN, MIN, &[f64::NAN]),
        f64::NAN,
    );
    assert_eq!(call("quantile_over_time", &two, MIN, MIN, &[]), None);
}

#[test]
fn min_max_last_with_nan_match_functions_test() {
    let nan = f64::NAN;
    let data: [([f64; 3], f64, f64, f64); 5] = [
        ([2., 0., 3.], 0., 3., 3.),
        ([2., 0., nan], 0., 2., nan),
        ([2., nan, 1.], 1., 2., 1.),
        ([nan, 0., 1.], 0., 1., 1.),
        ([nan, nan, nan], nan, nan, nan),
    ];
    for (vals, min, max, last) in data {
        let s = series(10_000, &vals);
        assert_close(call("min_over_time", &s, MIN, MIN, &[]), min);
        assert_close(call("max_over_time", &s, MIN, MIN, &[]), max);
        assert_close(call("last_over_time", &s, MIN, MIN, &[]), last);
    }
}

#[test]
fn avg_sum_count_present() {
    let s = series(1000, &[1., 2., 3., 4.]);
    assert_close(call("avg_over_time", &s, 4000, 5000, &[]), 2.5);
    assert_close(call("sum_over_time", &s, 4000, 5000, &[]), 10.0);
    assert_close(call("count_over_time", &s, 4000, 5000, &[]), 4.0);
    assert_close(call("present_over_time", &s, 4000, 5000, &[]), 1.0);
    for name in [
        "avg_over_time",
        "sum_over_time",
        "count_over_time",
        "present_over_time",
        "min_over_time",
        "max_over_time",
        "last_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "resets",
        "changes",
    ] {
        assert_eq!(
            call(name, &[], 0, 1000, &[]),
            None,
            "{name} of an empty window"
        );
    }
}

#[test]
fn avg_over_time_keeps_infinities() {
    let inf = f64::INFINITY;
    let s = series(1000, &[1., inf, 2., inf]);
    assert_close(call("avg_over_time", &s, 4000, 5000, &[]), inf);
    let s = series(1000, &[inf, -inf]);
    assert_close(call("avg_over_time", &s, 4000, 5000, &[]), f64::NAN);
    let s = series(1000, &[inf, f64::NAN]);
    assert_close(call("avg_over_time", &s, 4000, 5000, &[]), f64::NAN);
    // Large values whose plain sum overflows still average correctly.
    let s = series(1000, &[f64::MAX, f64::MAX]);
    assert_close(call("avg_over_time", &s, 4000, 5000, &[]), f64::MAX);
}

#[test]
fn sum_over_time_is_compensated() {
    // Plain left-to-right summation gives 0 here; Kahan–Neumaier recovers the 2.
    let s = series(1000, &[1.0, 1e100, 1.0, -1e100]);
    assert_close(call("sum_over_time", &s, 4000, 5000, &[]), 2.0);
}
