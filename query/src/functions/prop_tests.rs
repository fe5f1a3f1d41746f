//! Property tests: no kernel panics on any input, and a few invariants that hold for all
//! inputs. proptest prints the failing case and persists its seed for replay.

use proptest::prelude::*;

use super::{
    RangeWindow, check_range_args, histogram_quantile, instant_function, label_join, label_replace,
    quantile, range_function,
};
use crate::value::Labels;

const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "resets",
    "changes",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "quantile_over_time",
    "holt_winters",
];

const INSTANT_FUNCTIONS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "sgn",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cos",
    "cosh",
    "sin",
    "sinh",
    "tan",
    "tanh",
    "deg",
    "rad",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

/// Any float, with the special values well represented.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6..1e6_f64,
        1 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
        1 => Just(-0.0),
    ]
}

/// A sorted window of unique timestamps, possibly empty, with arbitrary values.
fn window() -> impl Strategy<Value = Vec<(i64, f64)>> {
    prop::collection::vec((0..600_000_i64, any_f64()), 0..40).prop_map(|mut s| {
        s.sort_by_key(|&(t, _)| t);
        s.dedup_by_key(|&mut (t, _)| t);
        s
    })
}

proptest! {
    #[test]
    fn range_functions_never_panic(
        samples in window(),
        start_back in 0..1_000_000_i64,
        end_fwd in 0..1_000_000_i64,
        args in prop::collection::vec(any_f64(), 0..3),
    ) {
        let last = samples.last().map_or(0, |&(t, _)| t);
        let w = RangeWindow {
            samples: &samples,
            range_start: -start_back,
            range_end: last + end_fwd,
            eval_ts: last + end_fwd,
        };
        for name in RANGE_FUNCTIONS {
            let f = range_function(name).expect("listed");
            let out = f(&w, &args);
            if samples.is_empty() {
                prop_assert_eq!(out, None, "{} of an empty window", name);
            }
            let _ = check_range_args(name, &args);
        }
        if !samples.is_empty() {
            let count = range_function("count_over_time").expect("listed")(&w, &[]);
            prop_assert_eq!(count, Some(samples.len() as f64));
        }
    }

    #[test]
    fn instant_functions_never_panic(
        v in any_f64(),
        args in prop::collection::vec(any_f64(), 0..3),
    ) {
        for name in INSTANT_FUNCTIONS {
            let f = instant_function(name).expect("listed");
            let _ = f(v, &args);
        }
    }

    #[test]
    fn quantile_stays_within_finite_inputs(
        mut values in prop::collection::vec(-1e9..1e9_f64, 1..30),
        q in 0.0..=1.0_f64,
    ) {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let got = quantile(q, &mut values);
        let slack = 1e-9 * lo.abs().max(hi.abs()).max(1.0);
        prop_assert!(got >= lo - slack && got <= hi + slack, "{} outside [{}, {}]", got, lo, hi);
    }

    #[test]
    fn quantiles_never_panic(
        mut values in prop::collection::vec(any_f64(), 0..30),
        buckets in prop::collection::vec((any_f64(), any_f64()), 0..12),
        q in any_f64(),
    ) {
        let _ = quantile(q, &mut values);
        let mut b = buckets.clone();
        let _ = histogram_quantile(q, &mut b);
        let mut with_inf = buckets;
        with_inf.push((f64::INFINITY, 1.0));
        let _ = histogram_quantile(q, &mut with_inf);
    }

    #[test]
    fn histogram_quantile_is_monotonic_in_q(
        counts in prop::collection::vec(0.0..1000.0_f64, 1..8),
        q1 in 0.0..=1.0_f64,
        q2 in 0.0..=1.0_f64,
    ) {
        let mut buckets: Vec<(f64, f64)> = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (i as f64 + 1.0, c))
            .collect();
        buckets.push((f64::INFINITY, counts.iter().copied().fold(0.0, f64::max)));
        let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
        let a = histogram_quantile(lo, &mut buckets.clone());
        let b = histogram_quantile(hi, &mut buckets);
        if !a.is_nan() && !b.is_nan() {
            prop_assert!(a <= b + 1e-9, "q {} → {}, q {} → {}", lo, a, hi, b);
        }
    }

    #[test]
    fn label_functions_never_panic(
        value in ".{0,12}",
        dst in "[a-z_-]{0,4}",
        template in "[a-z$0-9{}_]{0,10}",
        regex in "[a-z()|.*+?$^\\[\\]{}0-9]{0,10}",
    ) {
        let l = Labels::new(vec![("src".into(), value)]);
        let _ = label_replace(&l, &dst, &template, "src", &regex);
        let _ = label_join(&l, &dst, &template, &["src".into(), dst.clone()]);
    }
}
