//! Evaluator tests: selectors (lookback, staleness, offset, `@`), range vectors, subquery
//! alignment, result shaping and limits, with hand-computed expectations.

use std::time::Duration;

use crate::testing::MemoryStorage;
use crate::{QueryError, QueryOptions, QueryValue, instant_query, range_query};
use floe_storage_format::STALE_NAN_BITS;

pub(super) const S: i64 = 1000;
pub(super) const M: i64 = 60 * S;

pub(super) fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Samples `(t seconds, v)`.
pub(super) fn secs(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    points.iter().map(|&(t, v)| (t * S, v)).collect()
}

/// Evaluates an instant query and renders its vector as `labels => value` lines, in result
/// order.
pub(super) fn inst(st: &MemoryStorage, q: &str, t: i64) -> Vec<String> {
    match instant_query(st, q, t, &QueryOptions::default()) {
        Ok((QueryValue::Vector(v), _)) => v
            .iter()
            .map(|s| format!("{} => {}", s.labels, s.v))
            .collect(),
        Ok((QueryValue::Scalar { v, .. }, _)) => vec![format!("scalar {v}")],
        Ok((other, _)) => panic!("{q}: unexpected {other:?}"),
        Err(e) => panic!("{q}: {e}"),
    }
}

/// Evaluates an instant query expected to fail; returns the error.
pub(super) fn inst_err(st: &MemoryStorage, q: &str, t: i64) -> QueryError {
    match instant_query(st, q, t, &QueryOptions::default()) {
        Ok((v, _)) => panic!("{q}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Evaluates a range query and renders each series as `labels => [(t s, v), ...]`.
pub(super) fn rng(st: &MemoryStorage, q: &str, start: i64, end: i64, step: i64) -> Vec<String> {
    match range_query(st, q, start, end, step, &QueryOptions::default()) {
        Ok((QueryValue::Matrix(m), _)) => m
            .iter()
            .map(|s| {
                let pts: Vec<String> = s
                    .points
                    .iter()
                    .map(|(t, v)| format!("{}:{v}", t / S))
                    .collect();
                format!("{} => {}", s.labels, pts.join(" "))
            })
            .collect(),
        Ok((other, _)) => panic!("{q}: unexpected {other:?}"),
        Err(e) => panic!("{q}: {e}"),
    }
}

/// One counter-like metric `x{job="a"}`: a sample every 10 s from 0 to 100 s, value = t/10.
fn steady() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    let pts: Vec<(i64, f64)> = (0..=10).map(|i| (i * 10, i as f64)).collect();
    st.add_series(&[("__name__", "x"), ("job", "a")], secs(&pts));
    st
}

#[test]
fn lookback_window_is_closed_at_both_ends() {
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "x")], secs(&[(0, 1.0)]));
    assert_eq!(inst(&st, "x", 0), vec![r#"{__name__="x"} => 1"#]);
    assert_eq!(inst(&st, "x", 5 * M), vec![r#"{__name__="x"} => 1"#]);
    assert!(inst(&st, "x", 5 * M + 1).is_empty());
    assert!(inst(&st, "x", -1).is_empty());
}

#[test]
fn staleness_marker_ends_the_series() {
    let mut st = MemoryStorage::new();
    st.add_series(
        &[("__name__", "x")],
        secs(&[(0, 1.0), (10, stale()), (30, 3.0)]),
    );
    assert_eq!(inst(&st, "x", 5 * S), vec![r#"{__name__="x"} => 1"#]);
    assert!(inst(&st, "x", 10 * S).is_empty());
    assert!(inst(&st, "x", 29 * S).is_empty());
    assert_eq!(inst(&st, "x", 30 * S), vec![r#"{__name__="x"} => 3"#]);
    // Range vectors drop the marker.
    assert_eq!(inst(&st, "count_over_time(x[1m])", 30 * S), vec!["{} => 2"]);
}

#[test]
fn offset_and_at_move_the_evaluation_time() {
    let st = steady();
    assert_eq!(
        inst(&st, "x offset 30s", 100 * S),
        vec![r#"{__name__="x", job="a"} => 7"#]
    );
    assert_eq!(
        inst(&st, "x offset -30s", 50 * S),
        vec![r#"{__name__="x", job="a"} => 8"#]
    );
    assert_eq!(
        inst(&st, "x @ 45", 100 * S),
        vec![r#"{__name__="x", job="a"} => 4"#]
    );
    assert_eq!(
        inst(&st, "x @ 45 offset 20s", 100 * S),
        vec![r#"{__name__="x", job="a"} => 2"#]
    );
    // Every step of a range query sees the pinned time.
    assert_eq!(
        rng(&st, "x @ 25", 0, 20 * S, 10 * S),
        vec![r#"{__name__="x", job="a"} => 0:2 10:2 20:2"#]
    );
    assert_eq!(
        rng(&st, "x @ start()", 30 * S, 50 * S, 10 * S),
        vec![r#"{__name__="x", job="a"} => 30:3 40:3 50:3"#]
    );
    assert_eq!(
        rng(&st, "x @ end()", 30 * S, 50 * S, 10 * S),
        vec![r#"{__name__="x", job="a"} => 30:5 40:5 50:5"#]
    );
}

#[test]
fn range_selector_at_top_level_returns_the_closed_window() {
    let st = steady();
    let (v, stats) = instant_query(&st, "x[30s]", 50 * S, &QueryOptions::default()).unwrap();
    let QueryValue::Matrix(m) = v else {
        panic!("{v:?}")
    };
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].points,
        secs(&[(20, 2.0), (30, 3.0), (40, 4.0), (50, 5.0)])
    );
    assert_eq!(stats.series, 1);
    assert_eq!(stats.samples, 4);
    let (v, _) = instant_query(&st, "x[30s] offset 10s", 50 * S, &QueryOptions::default()).unwrap();
    let QueryValue::Matrix(m) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        m[0].points,
        secs(&[(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)])
    );
}

#[test]
fn subquery_steps_are_aligned_to_absolute_multiples() {
    let st = steady();
    // Window [10 s, 70 s]; multiples of 20 s inside: 20, 40, 60.
    let (v, _) = instant_query(&st, "x[1m:20s]", 70 * S, &QueryOptions::default()).unwrap();
    let QueryValue::Matrix(m) = v else {
        panic!("{v:?}")
    };
    assert_eq!(m[0].points, secs(&[(20, 2.0), (40, 4.0), (60, 6.0)]));
    assert_eq!(
        inst(&st, "count_over_time(x[1m:20s])", 70 * S),
        vec![r#"{job="a"} => 3"#]
    );
    // Both ends are included when aligned: [20 s, 80 s] → 20, 40, 60, 80.
    assert_eq!(
        inst(&st, "count_over_time(x[1m:20s])", 80 * S),
        vec![r#"{job="a"} => 4"#]
    );
    // Offset moves the window: [0 s, 60 s] at 70 s with offset 10 s → 0, 20, 40, 60.
    assert_eq!(
        inst(&st, "sum_over_time(x[1m:20s] offset 10s)", 70 * S),
        vec![r#"{job="a"} => 12"#]
    );
    // `@` pins it: [0 s, 30 s] → 0, 20 (values 0, 2).
    assert_eq!(
        rng(&st, "sum_over_time(x[30s:20s] @ 30)", 0, 20 * S, 10 * S),
        vec!["{job=\"a\"} => 0:2 10:2 20:2"]
    );
    // No step: the 1 minute default. [0, 100 s] → 0 and 60 s.
    assert_eq!(
        inst(&st, "count_over_time(x[100s:])", 100 * S),
        vec![r#"{job="a"} => 2"#]
    );
    // In a range query each step's window takes its points from one inner grid.
    assert_eq!(
        rng(&st, "max_over_time(x[20s:10s])", 30 * S, 50 * S, 10 * S),
        vec![r#"{job="a"} => 30:3 40:4 50:5"#]
    );
}

#[test]
fn nested_subquery() {
    let st = steady();
    // Inner: max over [t-20 s, t] at 10 s steps = x(t). Outer window [40 s, 100 s] at 30 s
    // steps: 60 and 90.
    assert_eq!(
        inst(
            &st,
            "sum_over_time(max_over_time(x[20s:10s])[60s:30s])",
            100 * S
        ),
        vec![r#"{job="a"} => 15"#]
    );
}

#[test]
fn range_query_shapes_and_sorts() {
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "y"), ("i", "2")], secs(&[(0, 2.0)]));
    st.add_series(&[("__name__", "y"), ("i", "1")], secs(&[(0, 1.0)]));
    assert_eq!(
        rng(&st, "y", 0, 10 * S, 10 * S),
        vec![
            r#"{__name__="y", i="1"} => 0:1 10:1"#,
            r#"{__name__="y", i="2"} => 0:2 10:2"#
        ]
    );
    assert_eq!(rng(&st, "1 + 2", 0, 10 * S, 10 * S), vec!["{} => 0:3 10:3"]);
    let e = range_query(&st, "\"s\"", 0, 10, 1, &QueryOptions::default()).unwrap_err();
    assert!(matches!(e, QueryError::BadData(_)), "{e}");
    let e = range_query(&st, "y[1m]", 0, 10, 1, &QueryOptions::default()).unwrap_err();
    assert!(e.to_string().contains("range vector"), "{e}");
    let (v, _) = instant_query(&st, "\"hello\"", 5, &QueryOptions::default()).unwrap();
    assert_eq!(
        v,
        QueryValue::String {
            t: 5,
            v: "hello".into()
        }
    );
    let (v, _) = instant_query(&st, "2 ^ 3", 5, &QueryOptions::default()).unwrap();
    assert_eq!(v, QueryValue::Scalar { t: 5, v: 8.0 });
}

#[test]
fn limits() {
    let st = steady();
    let opts = QueryOptions {
        max_steps: 10,
        ..QueryOptions::default()
    };
    // Prometheus counts `(end - start) / step`: 11 points are 10 steps.
    assert!(range_query(&st, "x", 0, 10 * S, S, &opts).is_ok());
    let e = range_query(&st, "x", 0, 11 * S, S, &opts).unwrap_err();
    assert!(
        e.to_string()
            .contains("exceeded maximum resolution of 10 points"),
        "{e}"
    );
    assert!(range_query(&st, "x", 0, 11_000 * S, S, &QueryOptions::default()).is_ok());
    let e = range_query(&st, "x", 0, 11_001 * S, S, &QueryOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    let opts = QueryOptions {
        max_series: 0,
        ..QueryOptions::default()
    };
    let e = instant_query(&st, "x", 0, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            QueryError::Limit {
                limit: "max_series",
                ..
            }
        ),
        "{e}"
    );
    let opts = QueryOptions {
        max_samples: 3,
        ..QueryOptions::default()
    };
    let e = instant_query(&st, "x[1m]", 100 * S, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            QueryError::Limit {
                limit: "max_samples",
                ..
            }
        ),
        "{e}"
    );
    let opts = QueryOptions {
        max_points: 5,
        ..QueryOptions::default()
    };
    let e = range_query(&st, "x", 0, 10 * S, S, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            QueryError::Limit {
                limit: "max_points",
                ..
            }
        ),
        "{e}"
    );
    let e = instant_query(&st, "count_over_time(x[1000d:1ms])", 0, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            QueryError::Limit {
                limit: "max_points",
                ..
            }
        ),
        "{e}"
    );
    let opts = QueryOptions {
        timeout: Duration::ZERO,
        ..QueryOptions::default()
    };
    std::thread::sleep(Duration::from_millis(1));
    let e = instant_query(&st, "x", 0, &opts).unwrap_err();
    assert!(matches!(e, QueryError::Timeout { .. }), "{e}");
    let e = range_query(&st, "x", 10, 0, 1, &QueryOptions::default()).unwrap_err();
    assert!(matches!(e, QueryError::BadData(_)), "{e}");
}

#[test]
fn duplicate_labelsets_after_dropping_the_name() {
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "a"), ("x", "1")], secs(&[(0, 1.0)]));
    st.add_series(&[("__name__", "b"), ("x", "1")], secs(&[(0, 2.0)]));
    st.add_series(&[("__name__", "c"), ("x", "1")], secs(&[(1000, 3.0)]));
    let e = inst_err(&st, r#"{__name__=~"a|b"} * 1"#, 10 * S);
    assert_eq!(
        e.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
    // At different steps the two series merge into one.
    assert_eq!(
        rng(&st, r#"{__name__=~"a|c"} * 1"#, 0, 1000 * S, 1000 * S),
        vec![r#"{x="1"} => 0:1 1000:3"#]
    );
    // Range functions and unary minus check the whole series set.
    let e = inst_err(&st, r#"count_over_time({__name__=~"a|b"}[5m])"#, 10 * S);
    assert!(e.to_string().contains("same labelset"), "{e}");
    let e = inst_err(&st, r#"-{__name__=~"a|b"}"#, 10 * S);
    assert!(e.to_string().contains("same labelset"), "{e}");
    // Keeping the name avoids the clash.
    assert_eq!(
        inst(&st, r#"last_over_time({__name__=~"a|b"}[5m])"#, 10 * S).len(),
        2
    );
}

#[test]
fn unsupported_things_are_reported() {
    let st = steady();
    let e = inst_err(&st, "mad_over_time(x[5m])", 0);
    assert!(
        matches!(e, QueryError::UnsupportedFunction { ref name } if name == "mad_over_time"),
        "{e}"
    );
    assert_eq!(e.error_type(), "bad_data");
    let e = inst_err(&st, r#"{job="a" or job="b"}"#, 0);
    assert!(matches!(e, QueryError::Unsupported { .. }), "{e}");
    let e = inst_err(&st, "limitk(1, x)", 0);
    assert!(matches!(e, QueryError::Unsupported { .. }), "{e}");
    let e = inst_err(&st, "x +", 0);
    assert!(matches!(e, QueryError::BadData(_)), "{e}");
}

#[test]
fn extreme_times_do_not_overflow() {
    let st = steady();
    // Prometheus's earliest time (`-292273086-05-16T16:47:06Z`, i64::MIN ms): the regression
    // of `predict_linear` runs around the step, 9.2e18 ms from the `@` window's samples.
    let (v, _) = instant_query(
        &st,
        "predict_linear(x[5m] @ 100, 0)",
        i64::MIN,
        &QueryOptions::default(),
    )
    .expect("evaluates");
    assert!(matches!(&v, QueryValue::Vector(v) if v.len() == 1), "{v:?}");
    let (v, _) = range_query(
        &st,
        "predict_linear(x[5m] @ 100, 0)",
        i64::MAX - 10 * S,
        i64::MAX,
        5 * S,
        &QueryOptions::default(),
    )
    .expect("evaluates");
    assert!(matches!(&v, QueryValue::Matrix(m) if m.len() == 1), "{v:?}");
}

#[test]
fn subquery_points_count_every_node_of_the_inner_expression() {
    let st = steady();
    let opts = QueryOptions {
        max_points: 2_000,
        ..QueryOptions::default()
    };
    // 601 steps of `vector(1)` (2 nodes): 1,202 points at most.
    let q = "count_over_time(vector(1)[10m:1s])";
    let (v, _) = instant_query(&st, q, 10 * M, &opts).expect("within the limit");
    assert!(
        matches!(&v, QueryValue::Vector(v) if v.len() == 1 && v[0].v == 601.0),
        "{v:?}"
    );
    // Each nested `1` holds 601 points while the rest is evaluated: 8 nodes, 4,808 points.
    let q = "count_over_time((1 + (1 + vector(1)))[10m:1s])";
    let e = instant_query(&st, q, 10 * M, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            QueryError::Limit {
                limit: "max_points",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("601 steps over an expression of 8 nodes"),
        "{e}"
    );
}
