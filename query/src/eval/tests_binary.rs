//! Tests of binary operators and aggregations against hand-computed results.

use super::tests::{S, inst, inst_err, rng, secs};
use crate::testing::MemoryStorage;

/// `m{a, b}` and `n{a}` series at time 0.
fn matching() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    for (a, b, v) in [("1", "x", 1.0), ("1", "y", 2.0), ("2", "x", 3.0)] {
        st.add_series(&[("__name__", "m"), ("a", a), ("b", b)], secs(&[(0, v)]));
    }
    st.add_series(
        &[("__name__", "n"), ("a", "1"), ("c", "p")],
        secs(&[(0, 10.0)]),
    );
    st.add_series(
        &[("__name__", "n"), ("a", "2"), ("c", "q")],
        secs(&[(0, 20.0)]),
    );
    st
}

#[test]
fn scalar_and_vector_scalar_arithmetic() {
    let st = matching();
    assert_eq!(inst(&st, "1 + 2 * 3 ^ 2", 0), vec!["scalar 19"]);
    assert_eq!(inst(&st, "5 % 3 - 7 / 2", 0), vec!["scalar -1.5"]);
    assert_eq!(inst(&st, "2 > bool 1", 0), vec!["scalar 1"]);
    assert_eq!(
        inst(&st, "m{b=\"x\"} * 2", 0),
        vec![r#"{a="1", b="x"} => 2"#, r#"{a="2", b="x"} => 6"#]
    );
    // Comparisons filter and keep the vector's value and name, whichever side it is on.
    assert_eq!(
        inst(&st, "m > 1", 0),
        vec![
            r#"{__name__="m", a="1", b="y"} => 2"#,
            r#"{__name__="m", a="2", b="x"} => 3"#
        ]
    );
    assert_eq!(
        inst(&st, "2 < m", 0),
        vec![r#"{__name__="m", a="2", b="x"} => 3"#]
    );
    // With bool every element stays, as 0 or 1, without its name.
    assert_eq!(
        inst(&st, "m >= bool 2", 0),
        vec![
            r#"{a="1", b="x"} => 0"#,
            r#"{a="1", b="y"} => 1"#,
            r#"{a="2", b="x"} => 1"#
        ]
    );
    // atan2 keeps the metric name in Prometheus 2.42.
    assert_eq!(
        inst(&st, "m{b=\"y\"} atan2 0", 0),
        vec![format!(
            r#"{{__name__="m", a="1", b="y"}} => {}"#,
            2f64.atan2(0.0)
        )]
    );
    assert_eq!(inst(&st, "-m{b=\"y\"}", 0), vec![r#"{a="1", b="y"} => -2"#]);
}

#[test]
fn one_to_one_matching() {
    let st = matching();
    assert_eq!(
        inst(&st, "m{b=\"x\"} + on(a) n", 0),
        vec![r#"{a="1"} => 11"#, r#"{a="2"} => 23"#]
    );
    assert_eq!(
        inst(&st, "m{b=\"x\"} + ignoring(b, c) n", 0),
        vec![r#"{a="1"} => 11"#, r#"{a="2"} => 23"#]
    );
    // A one-to-one comparison keeps the left side's value; `on` reduces the labels.
    assert_eq!(
        inst(&st, "m{b=\"x\"} < on(a) n", 0),
        vec![r#"{a="1"} => 1"#, r#"{a="2"} => 3"#]
    );
    assert_eq!(
        inst(&st, "m{b=\"x\"} < ignoring(b, c) n", 0),
        vec![
            r#"{__name__="m", a="1"} => 1"#,
            r#"{__name__="m", a="2"} => 3"#
        ]
    );
    // No match without on/ignoring: labels differ.
    assert!(inst(&st, "m + n", 0).is_empty());
    let e = inst_err(&st, "m + on(a) n", 0);
    assert_eq!(
        e.to_string(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    let e = inst_err(&st, "n + on(a) m", 0);
    assert_eq!(
        e.to_string(),
        r#"found duplicate series for the match group {a="1"} on the right hand-side of the operation: [{__name__="m", a="1", b="y"}, {__name__="m", a="1", b="x"}];many-to-many matching not allowed: matching labels must be unique on one side"#
    );
}

#[test]
fn group_left_and_group_right() {
    let st = matching();
    assert_eq!(
        inst(&st, "m * on(a) group_left(c) n", 0),
        vec![
            r#"{a="1", b="x", c="p"} => 10"#,
            r#"{a="1", b="y", c="p"} => 20"#,
            r#"{a="2", b="x", c="q"} => 60"#
        ]
    );
    // group_right: the right side is the many side; the value is still lhs op rhs.
    assert_eq!(
        inst(&st, "n - on(a) group_right m", 0),
        vec![
            r#"{a="1", b="x"} => 9"#,
            r#"{a="1", b="y"} => 8"#,
            r#"{a="2", b="x"} => 17"#
        ]
    );
    // Comparisons with group_left keep the name of the many side.
    assert_eq!(
        inst(&st, "m > on(a) group_left n - 9", 0),
        vec![r#"{__name__="m", a="1", b="y"} => 2"#]
    );
    let e = inst_err(&st, "n * on(a) group_left m", 0);
    assert!(e.to_string().contains("on the right hand-side"), "{e}");
    let e = inst_err(&st, "m * on(a) group_right n", 0);
    assert!(e.to_string().contains("on the left hand-side"), "{e}");
}

#[test]
fn grouping_labels_must_make_results_unique() {
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "l1"), ("a", "1")], secs(&[(0, 1.0)]));
    st.add_series(&[("__name__", "l2"), ("a", "1")], secs(&[(0, 2.0)]));
    st.add_series(&[("__name__", "r"), ("a", "1")], secs(&[(0, 5.0)]));
    let e = inst_err(&st, r#"{__name__=~"l1|l2"} + on(a) group_left r"#, 0);
    assert_eq!(
        e.to_string(),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    // A comparison keeps the names, so the results stay distinct.
    assert_eq!(
        inst(&st, r#"{__name__=~"l1|l2"} < on(a) group_left r"#, 0).len(),
        2
    );
}

#[test]
fn set_operators() {
    let st = matching();
    assert_eq!(
        inst(&st, "m and on(a) n{a=\"2\"}", 0),
        vec![r#"{__name__="m", a="2", b="x"} => 3"#]
    );
    assert_eq!(
        inst(&st, "m unless on(a) n{a=\"2\"}", 0),
        vec![
            r#"{__name__="m", a="1", b="x"} => 1"#,
            r#"{__name__="m", a="1", b="y"} => 2"#
        ]
    );
    assert_eq!(
        inst(&st, "m{b=\"y\"} or on(a) n", 0),
        vec![
            r#"{__name__="m", a="1", b="y"} => 2"#,
            r#"{__name__="n", a="2", c="q"} => 20"#
        ]
    );
    assert_eq!(inst(&st, "m and n", 0), Vec::<String>::new());
    // In a range query `or` fills the steps where the left side is missing.
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "p")], secs(&[(0, 1.0)]));
    st.add_series(&[("__name__", "q")], secs(&[(0, 2.0)]));
    assert_eq!(
        rng(
            &st,
            "p @ 0 and on() (vector(time()) < 10) or q",
            0,
            20 * S,
            10 * S
        ),
        vec![r#"{__name__="p"} => 0:1"#, r#"{__name__="q"} => 10:2 20:2"#]
    );
}

/// `v{g, i}`: three series in group a, two in group b.
fn groups() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    for (g, i, v) in [
        ("a", "1", 1.0),
        ("a", "2", 2.0),
        ("a", "3", 6.0),
        ("b", "1", 10.0),
        ("b", "2", f64::NAN),
    ] {
        st.add_series(&[("__name__", "v"), ("g", g), ("i", i)], secs(&[(0, v)]));
    }
    st
}

#[test]
fn aggregations() {
    let st = groups();
    assert_eq!(
        inst(&st, "sum by (g) (v)", 0),
        vec![r#"{g="a"} => 9"#, r#"{g="b"} => NaN"#]
    );
    assert_eq!(
        inst(&st, "sum without (i) (v{g=\"a\"})", 0),
        vec![r#"{g="a"} => 9"#]
    );
    assert_eq!(inst(&st, "sum(v{g=\"a\"})", 0), vec!["{} => 9"]);
    assert_eq!(
        inst(&st, "avg by (g) (v{g=\"a\"})", 0),
        vec![r#"{g="a"} => 3"#]
    );
    // min and max prefer numbers to NaN.
    assert_eq!(
        inst(&st, "max by (g) (v)", 0),
        vec![r#"{g="a"} => 6"#, r#"{g="b"} => 10"#]
    );
    assert_eq!(
        inst(&st, "min by (g) (v)", 0),
        vec![r#"{g="a"} => 1"#, r#"{g="b"} => 10"#]
    );
    assert_eq!(
        inst(&st, "count by (g) (v)", 0),
        vec![r#"{g="a"} => 3"#, r#"{g="b"} => 2"#]
    );
    assert_eq!(
        inst(&st, "group by (g) (v)", 0),
        vec![r#"{g="a"} => 1"#, r#"{g="b"} => 1"#]
    );
    // Population variance of 1, 2, 6: mean 3, (4 + 1 + 9) / 3.
    assert_eq!(
        inst(&st, "stdvar(v{g=\"a\"})", 0),
        vec![format!("{{}} => {}", 14.0 / 3.0)]
    );
    assert_eq!(
        inst(&st, "stddev(v{g=\"a\"})", 0),
        vec![format!("{{}} => {}", (14.0f64 / 3.0).sqrt())]
    );
    assert_eq!(
        inst(&st, "sum by (__name__) (v{g=\"a\"})", 0),
        vec![r#"{__name__="v"} => 9"#]
    );
}

#[test]
fn avg_of_infinities() {
    let mut st = MemoryStorage::new();
    for (i, v) in [("1", f64::INFINITY), ("2", 5.0), ("3", f64::INFINITY)] {
        st.add_series(&[("__name__", "w"), ("i", i)], secs(&[(0, v)]));
    }
    assert_eq!(inst(&st, "avg(w)", 0), vec!["{} => inf"]);
}

#[test]
fn topk_bottomk_quantile_count_values() {
    let st = groups();
    assert_eq!(
        inst(&st, "topk(2, v{g=\"a\"})", 0),
        vec![
            r#"{__name__="v", g="a", i="3"} => 6"#,
            r#"{__name__="v", g="a", i="2"} => 2"#
        ]
    );
    assert_eq!(
        inst(&st, "bottomk(1, v{g=\"a\"})", 0),
        vec![r#"{__name__="v", g="a", i="1"} => 1"#]
    );
    // NaN is the least wanted element of both.
    assert_eq!(
        inst(&st, "topk by (g) (1, v{g=\"b\"})", 0),
        vec![r#"{__name__="v", g="b", i="1"} => 10"#]
    );
    assert_eq!(
        inst(&st, "bottomk by (g) (1, v{g=\"b\"})", 0),
        vec![r#"{__name__="v", g="b", i="1"} => 10"#]
    );
    assert!(inst(&st, "topk(0, v)", 0).is_empty());
    let e = inst_err(&st, "topk(scalar(v{i=\"2\",g=\"b\"}), v)", 0);
    assert_eq!(e.to_string(), "Scalar value NaN overflows int64");
    assert_eq!(inst(&st, "quantile(0.5, v{g=\"a\"})", 0), vec!["{} => 2"]);
    assert_eq!(inst(&st, "quantile(2, v{g=\"a\"})", 0), vec!["{} => inf"]);
    assert_eq!(inst(&st, "quantile(-1, v{g=\"a\"})", 0), vec!["{} => -inf"]);
    let mut st = MemoryStorage::new();
    for (i, v) in [("1", 1.5), ("2", 1.5), ("3", 2.0)] {
        st.add_series(&[("__name__", "c"), ("i", i)], secs(&[(0, v)]));
    }
    assert_eq!(
        inst(&st, "count_values(\"val\", c)", 0),
        vec![r#"{val="1.5"} => 2"#, r#"{val="2"} => 1"#]
    );
    assert_eq!(
        inst(&st, "count_values without (i) (\"val\", c)", 0),
        vec![r#"{val="1.5"} => 2"#, r#"{val="2"} => 1"#]
    );
    let e = inst_err(&st, "count_values(\"1bad\", c)", 0);
    assert_eq!(e.to_string(), r#"invalid label name "1bad""#);
}

#[test]
fn topk_in_a_range_query_selects_per_step() {
    let mut st = MemoryStorage::new();
    st.add_series(
        &[("__name__", "t"), ("i", "1")],
        secs(&[(0, 1.0), (10, 5.0)]),
    );
    st.add_series(
        &[("__name__", "t"), ("i", "2")],
        secs(&[(0, 2.0), (10, 3.0)]),
    );
    assert_eq!(
        rng(&st, "topk(1, t)", 0, 10 * S, 10 * S),
        vec![
            r#"{__name__="t", i="1"} => 10:5"#,
            r#"{__name__="t", i="2"} => 0:2"#
        ]
    );
}
