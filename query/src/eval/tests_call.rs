//! Tests of function calls: the special functions, metric-name dropping, default arguments.

use super::tests::{M, S, inst, inst_err, rng, secs};
use crate::testing::MemoryStorage;

fn counters() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    let pts: Vec<(i64, f64)> = (0..=10).map(|i| (i * 10, (i * 10) as f64)).collect();
    st.add_series(&[("__name__", "req"), ("job", "a")], secs(&pts));
    st
}

#[test]
fn range_functions_drop_the_name_except_last_over_time() {
    let st = counters();
    // 1 per second, samples cover the whole [40 s, 100 s] window.
    assert_eq!(
        inst(&st, "rate(req[1m])", 100 * S),
        vec![r#"{job="a"} => 1"#]
    );
    assert_eq!(
        inst(&st, "last_over_time(req[1m])", 100 * S),
        vec![r#"{__name__="req", job="a"} => 100"#]
    );
    assert_eq!(
        inst(&st, "count_over_time(req[1m])", 100 * S),
        vec![r#"{job="a"} => 7"#]
    );
    assert_eq!(
        inst(&st, "quantile_over_time(0.5, req[1m])", 100 * S),
        vec![r#"{job="a"} => 70"#]
    );
    assert_eq!(
        rng(&st, "count_over_time(req[10s])", 0, 20 * S, 10 * S),
        vec![r#"{job="a"} => 0:1 10:2 20:2"#]
    );
    // An empty window gives no element.
    assert!(inst(&st, "rate(req[1m])", 1000 * S).is_empty());
    let e = inst_err(&st, "holt_winters(req[1m], 2, 0.5)", 100 * S);
    assert!(e.to_string().contains("invalid smoothing factor"), "{e}");
    assert_eq!(
        inst(&st, "holt_winters(req[1m], 0.5, 0.5)", 100 * S).len(),
        1
    );
}

#[test]
fn instant_functions_and_default_arguments() {
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "g"), ("i", "1")], secs(&[(0, -2.5)]));
    assert_eq!(inst(&st, "abs(g)", 0), vec![r#"{i="1"} => 2.5"#]);
    assert_eq!(inst(&st, "round(g)", 0), vec![r#"{i="1"} => -2"#]);
    assert_eq!(inst(&st, "round(g, 2)", 0), vec![r#"{i="1"} => -2"#]);
    assert_eq!(inst(&st, "clamp(g, -1, 1)", 0), vec![r#"{i="1"} => -1"#]);
    assert!(inst(&st, "clamp(g, 1, -1)", 0).is_empty());
    assert_eq!(inst(&st, "clamp_min(g, 0)", 0), vec![r#"{i="1"} => 0"#]);
    // Date functions default to the evaluation time: 1970-01-02 01:00 is a Friday.
    let t = 25 * 60 * M;
    assert_eq!(inst(&st, "hour()", t), vec!["{} => 1"]);
    assert_eq!(inst(&st, "day_of_month()", t), vec!["{} => 2"]);
    assert_eq!(inst(&st, "day_of_week()", t), vec!["{} => 5"]);
    assert_eq!(inst(&st, "year(vector(0))", t), vec!["{} => 1970"]);
}

#[test]
fn scalar_vector_time_pi() {
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "s"), ("i", "1")], secs(&[(0, 4.0)]));
    st.add_series(&[("__name__", "s"), ("i", "2")], secs(&[(0, 5.0)]));
    assert_eq!(inst(&st, "scalar(s{i=\"1\"})", 0), vec!["scalar 4"]);
    assert_eq!(inst(&st, "scalar(s)", 0), vec!["scalar NaN"]);
    assert_eq!(inst(&st, "vector(1.5)", 0), vec!["{} => 1.5"]);
    assert_eq!(inst(&st, "time()", 12_345), vec!["scalar 12.345"]);
    assert_eq!(
        inst(&st, "pi()", 0),
        vec![format!("scalar {}", std::f64::consts::PI)]
    );
    assert_eq!(
        rng(&st, "vector(time())", 0, 20 * S, 10 * S),
        vec!["{} => 0:0 10:10 20:20"]
    );
    assert_eq!(
        rng(&st, "time() + s{i=\"1\"}", 0, 10 * S, 10 * S),
        vec![r#"{i="1"} => 0:4 10:14"#]
    );
}

#[test]
fn absent_and_absent_over_time() {
    let st = counters();
    assert!(inst(&st, "absent(req)", 100 * S).is_empty());
    assert_eq!(
        inst(
            &st,
            r#"absent(nope{job="x", env=~"p.*", a="1", a="2"})"#,
            100 * S
        ),
        vec![r#"{job="x"} => 1"#]
    );
    assert_eq!(inst(&st, "absent(sum(nope))", 0), vec!["{} => 1"]);
    assert_eq!(
        rng(&st, r#"absent(req{job="a"})"#, 90 * S, 1000 * S, 300 * S),
        vec![r#"{job="a"} => 690:1 990:1"#]
    );
    assert_eq!(
        rng(
            &st,
            r#"absent_over_time(req{job="a"}[1m])"#,
            100 * S,
            220 * S,
            60 * S
        ),
        vec![r#"{job="a"} => 220:1"#]
    );
    assert_eq!(inst(&st, "absent_over_time(nope[1m:])", 0), vec!["{} => 1"]);
}

#[test]
fn timestamp_reports_the_sample_time() {
    let st = counters();
    assert_eq!(
        inst(&st, "timestamp(req)", 105 * S),
        vec![r#"{job="a"} => 100"#]
    );
    assert_eq!(
        inst(&st, "timestamp(req offset 20s)", 105 * S),
        vec![r#"{job="a"} => 80"#]
    );
    assert_eq!(
        inst(&st, "timestamp(req @ 55)", 1000 * S),
        vec![r#"{job="a"} => 50"#]
    );
    // Prometheus 2.42 ignores the offset of an `@` selector inside timestamp().
    assert_eq!(
        inst(&st, "timestamp(req @ 55 offset 20s)", 1000 * S),
        vec![r#"{job="a"} => 50"#]
    );
    // Of anything but a selector, the evaluation time.
    assert_eq!(
        inst(&st, "timestamp(req + 1)", 105 * S),
        vec![r#"{job="a"} => 105"#]
    );
}

#[test]
fn sort_orders_instant_results() {
    let mut st = MemoryStorage::new();
    for (i, v) in [("1", 3.0), ("2", f64::NAN), ("3", 1.0), ("4", 2.0)] {
        st.add_series(&[("__name__", "o"), ("i", i)], secs(&[(0, v)]));
    }
    let order = |q: &str| -> Vec<String> {
        inst(&st, q, 0)
            .into_iter()
            .map(|l| l[l.find("i=").unwrap_or(0)..].to_string())
            .collect()
    };
    assert_eq!(
        order("sort(o)"),
        vec![
            r#"i="3"} => 1"#,
            r#"i="4"} => 2"#,
            r#"i="1"} => 3"#,
            r#"i="2"} => NaN"#
        ]
    );
    assert_eq!(
        order("sort_desc(o)"),
        vec![
            r#"i="1"} => 3"#,
            r#"i="4"} => 2"#,
            r#"i="3"} => 1"#,
            r#"i="2"} => NaN"#
        ]
    );
    // sort keeps the name.
    assert!(inst(&st, "sort(o)", 0)[0].contains("__name__"));
}

#[test]
fn label_replace_and_join() {
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "l"), ("src", "ab-12")], secs(&[(0, 1.0)]));
    st.add_series(&[("__name__", "l"), ("src", "cd-34")], secs(&[(0, 2.0)]));
    assert_eq!(
        inst(
            &st,
            r#"label_replace(l, "dst", "$2", "src", "(.*)-(.*)")"#,
            0
        ),
        vec![
            r#"{__name__="l", dst="12", src="ab-12"} => 1"#,
            r#"{__name__="l", dst="34", src="cd-34"} => 2"#
        ]
    );
    assert_eq!(
        inst(
            &st,
            r#"label_join(l{src="ab-12"}, "j", "/", "src", "__name__")"#,
            0
        ),
        vec![r#"{__name__="l", j="ab-12/l", src="ab-12"} => 1"#]
    );
    let e = inst_err(&st, r#"label_replace(l, "src", "x", "src", ".*")"#, 0);
    assert_eq!(
        e.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
    let e = inst_err(&st, r#"label_replace(nope, "dst", "x", "src", "(")"#, 0);
    assert!(e.to_string().contains("invalid regular expression"), "{e}");
}

#[test]
fn histogram_quantile_groups_by_labels_without_le() {
    let mut st = MemoryStorage::new();
    for (le, c) in [("0.1", 10.0), ("1", 20.0), ("+Inf", 20.0)] {
        st.add_series(
            &[("__name__", "h_bucket"), ("job", "a"), ("le", le)],
            secs(&[(0, c)]),
        );
    }
    st.add_series(
        &[("__name__", "h_bucket"), ("job", "a"), ("le", "junk")],
        secs(&[(0, 99.0)]),
    );
    st.add_series(&[("__name__", "h_bucket"), ("job", "b")], secs(&[(0, 1.0)]));
    // Rank 10 of 20 ends the first bucket exactly.
    assert_eq!(
        inst(&st, "histogram_quantile(0.5, h_bucket)", 0),
        vec![r#"{job="a"} => 0.1"#]
    );
    // Half-way through the second bucket: 0.1 + 0.9 × 0.5.
    assert_eq!(
        inst(&st, "histogram_quantile(0.75, h_bucket)", 0),
        vec![r#"{job="a"} => 0.55"#]
    );
    assert_eq!(
        inst(&st, "histogram_quantile(0.75, sum by (le) (h_bucket))", 0),
        vec!["{} => 0.55"]
    );
    assert!(inst(&st, "histogram_count(h_bucket)", 0).is_empty());
}
