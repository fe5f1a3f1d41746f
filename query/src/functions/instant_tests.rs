//! Instant function tests; expected values from Prometheus's `functions.test` unless noted.

use super::{instant_function, is_supported};

fn call(name: &str, v: f64, args: &[f64]) -> Option<f64> {
    instant_function(name).expect("an instant function")(v, args)
}

fn value(name: &str, v: f64) -> f64 {
    call(name, v, &[]).expect("a value")
}

/// `name` applied to `test_clamp`'s three values -50, 0 and 100.
fn on_test_clamp(name: &str, args: &[f64]) -> Vec<Option<f64>> {
    [-50.0, 0.0, 100.0]
        .iter()
        .map(|&v| call(name, v, args))
        .collect()
}

#[test]
fn clamp_family_matches_functions_test() {
    let got = on_test_clamp("clamp_max", &[75.0]);
    assert_eq!(got, [Some(-50.0), Some(0.0), Some(75.0)]);
    let got = on_test_clamp("clamp_min", &[-25.0]);
    assert_eq!(got, [Some(-25.0), Some(0.0), Some(100.0)]);
    let got = on_test_clamp("clamp", &[-25.0, 75.0]);
    assert_eq!(got, [Some(-25.0), Some(0.0), Some(75.0)]);
    // min > max: Prometheus returns an empty vector.
    assert_eq!(on_test_clamp("clamp", &[5.0, -5.0]), [None, None, None]);
    let got = on_test_clamp("clamp", &[5.0, 5.0]);
    assert_eq!(got, [Some(5.0), Some(5.0), Some(5.0)]);
}

#[test]
fn clamp_propagates_nan_like_go() {
    assert!(value_nan(call("clamp_min", f64::NAN, &[0.0])));
    assert!(value_nan(call("clamp_max", 1.0, &[f64::NAN])));
    // A NaN bound passes the `max < min` test and then poisons the value.
    assert!(value_nan(call("clamp", 1.0, &[f64::NAN, 2.0])));
    // Go's math.Max lets +Inf win over NaN.
    assert_eq!(
        call("clamp_min", f64::NAN, &[f64::INFINITY]),
        Some(f64::INFINITY)
    );
    assert_eq!(
        call("clamp_max", f64::NAN, &[f64::NEG_INFINITY]),
        Some(f64::NEG_INFINITY)
    );
    let z = call("clamp_min", -0.0, &[0.0]).expect("a value");
    assert!(z == 0.0 && z.is_sign_positive());
}

fn value_nan(v: Option<f64>) -> bool {
    v.is_some_and(f64::is_nan)
}

#[test]
fn round_ties_up_and_to_nearest() {
    assert_eq!(value("round", 2.5), 3.0);
    assert_eq!(value("round", -2.5), -2.0);
    assert_eq!(value("round", 0.4), 0.0);
    assert_eq!(call("round", 12.3, &[5.0]), Some(10.0));
    assert_eq!(call("round", 12.5, &[5.0]), Some(15.0));
    assert_eq!(call("round", 1.26, &[0.1]), Some(1.3));
    assert!(value_nan(call("round", 0.0, &[0.0])));
    assert!(value("round", f64::NAN).is_nan());
}

#[test]
fn sgn_and_abs() {
    assert_eq!(value("sgn", -3.0), -1.0);
    assert_eq!(value("sgn", 3.0), 1.0);
    assert_eq!(value("sgn", 0.0), 0.0);
    assert!(value("sgn", -0.0).is_sign_negative());
    assert!(value("sgn", f64::NAN).is_nan());
    assert_eq!(value("abs", -2.5), 2.5);
    assert_eq!(value("ceil", 1.1), 2.0);
    assert_eq!(value("floor", -1.1), -2.0);
}

#[test]
fn logarithms_follow_go() {
    // Go's Log10 multiplies by a once-rounded 1/ln 10: exact for 10^n with n ≥ 0 here, not
    // for negative powers.
    assert_eq!(value("log10", 1000.0), 3.0);
    assert_eq!(value("log10", 100.0), 2.0);
    assert_eq!(value("log10", 0.1), -0.999_999_999_999_999_9);
    assert_eq!(value("log2", 8.0), 3.0);
    assert_eq!(value("log2", 0.25), -2.0);
    assert!((value("log2", 10.0) - std::f64::consts::LOG2_10).abs() < 1e-15);
    assert_eq!(value("log2", 0.0), f64::NEG_INFINITY);
    assert!(value("log2", -1.0).is_nan());
    assert_eq!(value("log2", f64::INFINITY), f64::INFINITY);
    assert_eq!(value("log2", 5e-324), -1074.0);
    assert_eq!(value("ln", 1.0), 0.0);
    assert_eq!(value("exp", 0.0), 1.0);
    assert_eq!(value("sqrt", 16.0), 4.0);
    assert!(value("sqrt", -1.0).is_nan());
}

#[test]
fn trigonometry_and_angles() {
    let pi = std::f64::consts::PI;
    assert_eq!(value("deg", pi), 180.0);
    assert_eq!(value("rad", 180.0), pi);
    assert_eq!(value("cos", 0.0), 1.0);
    assert!((value("sin", pi / 2.0) - 1.0).abs() < 1e-15);
    assert!((value("tan", pi / 4.0) - 1.0).abs() < 1e-15);
    assert!((value("asin", 1.0) - pi / 2.0).abs() < 1e-15);
    assert!((value("acos", -1.0) - pi).abs() < 1e-15);
    assert!((value("atan", 1.0) - pi / 4.0).abs() < 1e-15);
    assert_eq!(value("sinh", 0.0), 0.0);
    assert_eq!(value("cosh", 0.0), 1.0);
    assert_eq!(value("tanh", f64::INFINITY), 1.0);
    assert_eq!(value("asinh", 0.0), 0.0);
    assert_eq!(value("acosh", 1.0), 0.0);
    assert_eq!(value("atanh", 1.0), f64::INFINITY);
    assert!(value("acosh", 0.5).is_nan());
    assert!(value("asin", 2.0).is_nan());
}

#[test]
fn dates_match_functions_test() {
    // 2006-01-02 22:04:05 UTC, a Monday.
    let t = 1_136_239_445.0;
    assert_eq!(value("year", t), 2006.0);
    assert_eq!(value("month", t), 1.0);
    assert_eq!(value("day_of_month", t), 2.0);
    assert_eq!(value("day_of_year", t), 2.0);
    assert_eq!(value("day_of_week", t), 1.0);
    assert_eq!(value("hour", t), 22.0);
    assert_eq!(value("minute", t), 4.0);
    // The epoch was a Thursday.
    assert_eq!(value("day_of_week", 0.0), 4.0);
    assert_eq!(value("year", 0.0), 1970.0);
    // Either side of the 2008 leap second.
    assert_eq!(value("year", 1_230_767_999.0), 2008.0);
    assert_eq!(value("year", 1_230_768_000.0), 2009.0);
    // 2016-02-29 23:59:59 and 2016-03-01 00:00:00.
    assert_eq!(value("month", 1_456_790_399.0), 2.0);
    assert_eq!(value("day_of_month", 1_456_790_399.0), 29.0);
    assert_eq!(value("month", 1_456_790_400.0), 3.0);
    assert_eq!(value("day_of_month", 1_456_790_400.0), 1.0);
    // February 2016 (leap) and 2017.
    assert_eq!(value("days_in_month", 1_454_284_800.0), 29.0);
    assert_eq!(value("days_in_month", 1_485_907_200.0), 28.0);
}

#[test]
fn dates_hand_checked() {
    // 2016-12-31 00:00:00: day 366 of a leap year.
    assert_eq!(value("day_of_year", 1_483_142_400.0), 366.0);
    // 1969-12-31 23:59:59; int64(-0.5) truncates to 0, i.e. 1970.
    assert_eq!(value("year", -1.0), 1969.0);
    assert_eq!(value("hour", -1.0), 23.0);
    assert_eq!(value("minute", -1.0), 59.0);
    assert_eq!(value("day_of_week", -1.0), 3.0);
    assert_eq!(value("year", -0.5), 1970.0);
    // 2000-02-15 (divisible by 400: leap) and 1900-02-15 (not).
    assert_eq!(value("days_in_month", 950_572_800.0), 29.0);
    assert_eq!(value("days_in_month", -2_205_100_800.0), 28.0);
    assert_eq!(value("days_in_month", 1_700_000_000.0), 30.0);
}

#[test]
fn dates_of_non_times_follow_go_on_amd64() {
    // int64(NaN) is i64::MIN on amd64 and Go's time arithmetic wraps; every such input
    // therefore gives the same, finite date.
    let nan_year = value("year", f64::NAN);
    assert!(nan_year.is_finite());
    assert_eq!(value("year", f64::INFINITY), nan_year);
    assert_eq!(value("year", -1e300), nan_year);
    for name in [
        "month",
        "day_of_month",
        "day_of_week",
        "hour",
        "minute",
        "days_in_month",
    ] {
        assert!(value(name, f64::NAN).is_finite(), "{name}");
    }
}

#[test]
fn supported_names() {
    for name in [
        "rate",
        "holt_winters",
        "abs",
        "year",
        "days_in_month",
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
    ] {
        assert!(is_supported(name), "{name}");
    }
    for name in ["histogram_count", "xrate", "nope", ""] {
        assert!(!is_supported(name), "{name}");
    }
    assert!(instant_function("rate").is_none());
}
