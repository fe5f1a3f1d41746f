//! The PromQL function library: the numeric kernels of Prometheus 2.42's `promql/functions.go`
//! and `promql/quantile.go`, reproduced operation for operation so that results agree with a
//! real Prometheus to the last bit wherever the platform's math library allows.
//!
//! # Contract with the evaluator
//!
//! * **Range functions** ([`range_function`]) take one series' window as a [`RangeWindow`]
//!   and the function's scalar arguments in source order: `quantile_over_time(φ, …)` → `[φ]`,
//!   `predict_linear(…, t)` → `[t]`, `holt_winters(…, sf, tf)` → `[sf, tf]`, everything else
//!   `[]`. They return `None` when Prometheus emits no element for the series at that step
//!   (for example `rate` over fewer than two samples, or an empty window).
//! * **Instant functions** ([`instant_function`]) map one sample value and the scalar
//!   arguments (`round` → `[to_nearest]` or `[]`, `clamp` → `[min, max]`, `clamp_min` /
//!   `clamp_max` → `[bound]`) to a value. They return `Option<f64>`: `None` means **drop the
//!   element**; today only `clamp` with `max < min` does that (Prometheus returns an empty
//!   vector then). Date functions take unix seconds; `year()` with no argument is
//!   `year(vector(time()))`, which the evaluator supplies.
//! * Arguments Prometheus rejects with an error (`holt_winters` factors outside `(0, 1)`) are
//!   checked by [`check_range_args`]; Prometheus raises that error only when it actually calls
//!   the function, i.e. for the first series whose window at some step is not empty.
//! * [`quantile`] serves both the `quantile` aggregation and `quantile_over_time`;
//!   [`histogram_quantile`] takes one histogram's `(le, cumulative count)` buckets; the
//!   evaluator groups buckets by label set and drops `__name__` and `le`.
//! * [`label_replace`] and [`label_join`] validate their arguments the way Prometheus does
//!   and return [`QueryError::Execution`] with Prometheus's message.
//! * [`is_supported`] names every function Floe evaluates, including those the evaluator
//!   implements itself (`absent`, `scalar`, `sort`, `timestamp`, …).

mod date;
mod instant;
mod labels;
mod quantile;
mod range;

#[cfg(test)]
mod instant_tests;
#[cfg(test)]
mod labels_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod quantile_tests;
#[cfg(test)]
mod range_tests;

pub(crate) use labels::{label_join, label_replace};
pub(crate) use quantile::{histogram_quantile, quantile};

use crate::error::QueryError;

/// One series' samples under a range selector at one evaluation step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeWindow<'a> {
    /// The samples in the window, sorted by time, staleness markers removed; times in ms.
    pub(crate) samples: &'a [(i64, f64)],
    /// Start of the selected range: step time − range − offset (after `@`), ms.
    pub(crate) range_start: i64,
    /// End of the selected range: step time − offset (after `@`), ms.
    pub(crate) range_end: i64,
    /// The step's timestamp (Prometheus's `enh.Ts`), ms; `predict_linear` regresses around it.
    pub(crate) eval_ts: i64,
}

/// A function over a range vector, applied to one series' window.
pub(crate) type RangeFn = fn(&RangeWindow<'_>, &[f64]) -> Option<f64>;

/// A function over an instant vector, applied to one sample's value; `None` drops the element.
pub(crate) type InstantFn = fn(f64, &[f64]) -> Option<f64>;

/// The kernel of the range-vector function `name`, if it is one.
pub(crate) fn range_function(name: &str) -> Option<RangeFn> {
    use range::*;
    let f: RangeFn = match name {
        "rate" => rate,
        "increase" => increase,
        "delta" => delta,
        "irate" => irate,
        "idelta" => idelta,
        "deriv" => deriv,
        "predict_linear" => predict_linear,
        "resets" => resets,
        "changes" => changes,
        "avg_over_time" => avg_over_time,
        "min_over_time" => min_over_time,
        "max_over_time" => max_over_time,
        "sum_over_time" => sum_over_time,
        "count_over_time" => count_over_time,
        "stddev_over_time" => stddev_over_time,
        "stdvar_over_time" => stdvar_over_time,
        "last_over_time" => last_over_time,
        "present_over_time" => present_over_time,
        "quantile_over_time" => quantile_over_time,
        "holt_winters" => holt_winters,
        _ => return None,
    };
    Some(f)
}

/// The kernel of the instant-vector function `name`, if it is one.
pub(crate) fn instant_function(name: &str) -> Option<InstantFn> {
    instant::lookup(name).or_else(|| date::lookup(name))
}

/// Checks the scalar arguments of range function `name` as Prometheus does when it first
/// calls the function (see the module documentation for when that is).
pub(crate) fn check_range_args(name: &str, args: &[f64]) -> Result<(), QueryError> {
    if name != "holt_winters" {
        return Ok(());
    }
    let sf = args.first().copied().unwrap_or(f64::NAN);
    let tf = args.get(1).copied().unwrap_or(f64::NAN);
    // Written as Prometheus writes it: a NaN factor passes both comparisons.
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_fmt_f(sf)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_fmt_f(tf)
        )));
    }
    Ok(())
}

/// Functions the evaluator implements itself rather than through a kernel here.
const EVALUATOR_FUNCTIONS: &[&str] = &[
    "absent",
    "absent_over_time",
    "scalar",
    "vector",
    "time",
    "timestamp",
    "sort",
    "sort_desc",
    "label_replace",
    "label_join",
    "histogram_quantile",
    "pi",
];

/// Whether Floe evaluates the PromQL function `name`.
pub(crate) fn is_supported(name: &str) -> bool {
    range_function(name).is_some()
        || instant_function(name).is_some()
        || EVALUATOR_FUNCTIONS.contains(&name)
}

/// Formats `v` as Go's `%f` verb does (six decimals, `NaN`, `+Inf`, `-Inf`).
fn go_fmt_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v:.6}")
    }
}

/// One step of Kahan–Neumaier compensated summation, as Prometheus's `kahanSumInc`: returns
/// the new running sum and compensation.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}
