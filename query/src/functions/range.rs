//! Range-vector function kernels: the rate family, regression, Holt-Winters, and the
//! `<aggregation>_over_time` functions, as Prometheus 2.42 computes them.

use super::{RangeWindow, kahan_inc, quantile};

/// `rate(v[d])`: per-second increase, counter resets corrected, extrapolated.
pub(super) fn rate(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    extrapolated_rate(w, true, true)
}

/// `increase(v[d])`: increase over the range, counter resets corrected, extrapolated.
pub(super) fn increase(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    extrapolated_rate(w, true, false)
}

/// `delta(v[d])`: difference over the range of a gauge, extrapolated.
pub(super) fn delta(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    extrapolated_rate(w, false, false)
}

/// `irate(v[d])`: per-second rate between the last two samples.
pub(super) fn irate(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    instant_value(w.samples, true)
}

/// `idelta(v[d])`: difference between the last two samples.
pub(super) fn idelta(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    instant_value(w.samples, false)
}

/// Length of the selector's range in seconds, computed as Go's `time.Duration.Seconds()`.
fn range_seconds(w: &RangeWindow<'_>) -> f64 {
    let ms = w.range_end - w.range_start;
    let whole = ms / 1000;
    let nanos = (ms % 1000) * 1_000_000;
    whole as f64 + nanos as f64 / 1e9
}

/// Prometheus's `extrapolatedRate`: the change over the window, corrected for counter resets
/// if `is_counter`, extrapolated towards the range boundaries, per second if `is_rate`.
fn extrapolated_rate(w: &RangeWindow<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let s = w.samples;
    if s.len() < 2 {
        return None;
    }
    let (first_t, first_v) = s[0];
    let (last_t, last_v) = s[s.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        for pair in s.windows(2) {
            if pair[1].1 < pair[0].1 {
                result += pair[0].1;
            }
        }
    }

    let mut duration_to_start = (first_t - w.range_start) as f64 / 1000.0;
    let duration_to_end = (w.range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between_samples = sampled_interval / (s.len() - 1) as f64;

    // A counter cannot go below zero: never extrapolate past the point where it would.
    // (2.42 applies this before the threshold test below; later versions swapped the order.)
    if is_counter && result > 0.0 && first_v >= 0.0 {
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_between_samples * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between_samples / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between_samples / 2.0
    };

    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= range_seconds(w);
    }
    Some(result * factor)
}

/// Prometheus's `instantValue`, behind `irate` and `idelta`.
fn instant_value(s: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (prev_t, prev_v) = s[s.len() - 2];
    let (last_t, last_v) = s[s.len() - 1];
    let mut result = if is_rate && last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// `deriv(v[d])`: slope of the least-squares line, per second.
pub(super) fn deriv(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    if w.samples.len() < 2 {
        return None;
    }
    // Regressing around the first sample's time keeps the sums small (Prometheus #2674).
    let (slope, _) = linear_regression(w.samples, w.samples[0].0);
    Some(slope)
}

/// `predict_linear(v[d], t)`: the least-squares line's value `t` seconds after the step.
pub(super) fn predict_linear(w: &RangeWindow<'_>, args: &[f64]) -> Option<f64> {
    let duration = *args.first()?;
    if w.samples.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(w.samples, w.eval_ts);
    Some(slope * duration + intercept)
}

/// Least-squares regression of value on time (seconds after `intercept_time`) with
/// compensated sums; returns the slope and the value at `intercept_time`. A constant series
/// has slope 0 (or NaN if the constant is infinite).
fn linear_regression(samples: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let init_y = samples[0].1;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, &(t, v)) in samples.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        // In i128: with `@`, the step (`intercept_time`) can be 2^63 ms from the samples.
        let x = (i128::from(t) - i128::from(intercept_time)) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `holt_winters(v[d], sf, tf)`: double exponential smoothing. Factors outside `(0, 1)` are
/// an error Prometheus raises ([`super::check_range_args`]); here they yield `None`.
pub(super) fn holt_winters(w: &RangeWindow<'_>, args: &[f64]) -> Option<f64> {
    let (sf, tf) = (*args.first()?, *args.get(1)?);
    if sf <= 0.0 || sf >= 1.0 || tf <= 0.0 || tf >= 1.0 {
        return None;
    }
    let s = w.samples;
    if s.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = s[0].1;
    let mut b = s[1].1 - s[0].1;
    for (i, &(_, v)) in s.iter().enumerate().skip(1) {
        let x = sf * v;
        b = trend_value(i - 1, tf, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

/// Prometheus's `calcTrendValue`: the smoothed trend after step `i`.
fn trend_value(i: usize, tf: f64, s0: f64, s1: f64, b: f64) -> f64 {
    if i == 0 {
        return b;
    }
    let x = tf * (s1 - s0);
    let y = (1.0 - tf) * b;
    x + y
}

/// `resets(v[d])`: how often the value decreased.
pub(super) fn resets(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    if w.samples.is_empty() {
        return None;
    }
    let n = w.samples.windows(2).filter(|p| p[1].1 < p[0].1).count();
    Some(n as f64)
}

/// `changes(v[d])`: how often the value changed (NaN to NaN is no change).
pub(super) fn changes(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    if w.samples.is_empty() {
        return None;
    }
    let n = w
        .samples
        .windows(2)
        .filter(|p| {
            let (prev, cur) = (p[0].1, p[1].1);
            cur != prev && !(cur.is_nan() && prev.is_nan())
        })
        .count();
    Some(n as f64)
}

/// The window's values, or `None` if it is empty (Prometheus never emits an element then).
fn values<'a>(w: &RangeWindow<'a>) -> Option<impl Iterator<Item = f64> + 'a> {
    if w.samples.is_empty() {
        None
    } else {
        Some(w.samples.iter().map(|&(_, v)| v))
    }
}

/// `avg_over_time(v[d])`. While the compensated sum of the window stays finite it is divided
/// once by the count (the same mean as Prometheus's incremental formula up to rounding, and
/// twice as fast: no division on the loop's critical path); otherwise Prometheus 2.42's
/// incremental mean, which keeps an infinite mean once reached rather than turning it into
/// NaN and survives sums beyond the largest double.
pub(super) fn avg_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    let (mut sum, mut c) = (0.0_f64, 0.0_f64);
    for v in values(w)? {
        (sum, c) = kahan_inc(v, sum, c);
    }
    let total = sum + c;
    if total.is_finite() {
        return Some(total / w.samples.len() as f64);
    }
    incremental_mean(w)
}

/// Prometheus 2.42's `avg_over_time`: incremental mean with compensated summation.
fn incremental_mean(w: &RangeWindow<'_>) -> Option<f64> {
    let (mut mean, mut count, mut c) = (0.0_f64, 0.0_f64, 0.0_f64);
    for v in values(w)? {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        return Some(mean);
    }
    Some(mean + c)
}

/// `sum_over_time(v[d])`: compensated sum.
pub(super) fn sum_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    let (mut sum, mut c) = (0.0_f64, 0.0_f64);
    for v in values(w)? {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() {
        return Some(sum);
    }
    Some(sum + c)
}

/// `min_over_time(v[d])`: smallest value; NaN only if every value is NaN.
pub(super) fn min_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    let mut it = values(w)?;
    let first = it.next()?;
    Some(it.fold(
        first,
        |min, v| if v < min || min.is_nan() { v } else { min },
    ))
}

/// `max_over_time(v[d])`: largest value; NaN only if every value is NaN.
pub(super) fn max_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    let mut it = values(w)?;
    let first = it.next()?;
    Some(it.fold(
        first,
        |max, v| if v > max || max.is_nan() { v } else { max },
    ))
}

/// `count_over_time(v[d])`: number of samples.
pub(super) fn count_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    values(w).map(|_| w.samples.len() as f64)
}

/// `last_over_time(v[d])`: the most recent value.
pub(super) fn last_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    w.samples.last().map(|&(_, v)| v)
}

/// `present_over_time(v[d])`: 1 for any non-empty window.
pub(super) fn present_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    values(w).map(|_| 1.0)
}

/// `quantile_over_time(φ, v[d])`.
pub(super) fn quantile_over_time(w: &RangeWindow<'_>, args: &[f64]) -> Option<f64> {
    let q = *args.first()?;
    let mut vals: Vec<f64> = values(w)?.collect();
    Some(quantile(q, &mut vals))
}

/// `stdvar_over_time(v[d])`: population variance (Welford's update, compensated sums).
pub(super) fn stdvar_over_time(w: &RangeWindow<'_>, _: &[f64]) -> Option<f64> {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for v in values(w)? {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    Some((aux + c_aux) / count)
}

/// `stddev_over_time(v[d])`: population standard deviation.
pub(super) fn stddev_over_time(w: &RangeWindow<'_>, args: &[f64]) -> Option<f64> {
    stdvar_over_time(w, args).map(f64::sqrt)
}
