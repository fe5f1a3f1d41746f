//! Delayed name removal (`QueryOptions::delayed_name_removal`, Prometheus 3's
//! `promql-delayed-name-removal`) against Prometheus 2.42's default, on the queries that tell
//! them apart: TSBS's multi-metric `by (__name__)` aggregations, functions and operators that
//! drop the name, label functions that read or set it, and the final same-labelset check.

use super::tests::{M, S, inst, inst_err, rng, secs};
use crate::testing::MemoryStorage;
use crate::{QueryError, QueryOptions, QueryValue, instant_query, range_query};

fn delayed() -> QueryOptions {
    QueryOptions {
        delayed_name_removal: true,
        ..QueryOptions::default()
    }
}

/// [`inst`] with delayed name removal.
fn inst_d(st: &MemoryStorage, q: &str, t: i64) -> Vec<String> {
    match instant_query(st, q, t, &delayed()) {
        Ok((QueryValue::Vector(v), _)) => v
            .iter()
            .map(|s| format!("{} => {}", s.labels, s.v))
            .collect(),
        Ok((other, _)) => panic!("{q}: unexpected {other:?}"),
        Err(e) => panic!("{q}: {e}"),
    }
}

/// The label sets of an instant query's vector, with delayed name removal.
fn labels_d(st: &MemoryStorage, q: &str, t: i64) -> Vec<String> {
    match instant_query(st, q, t, &delayed()) {
        Ok((QueryValue::Vector(v), _)) => v.iter().map(|s| s.labels.to_string()).collect(),
        Ok((other, _)) => panic!("{q}: unexpected {other:?}"),
        Err(e) => panic!("{q}: {e}"),
    }
}

fn inst_err_d(st: &MemoryStorage, q: &str, t: i64) -> QueryError {
    match instant_query(st, q, t, &delayed()) {
        Ok((v, _)) => panic!("{q}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// [`rng`] with delayed name removal.
fn rng_d(st: &MemoryStorage, q: &str, start: i64, end: i64, step: i64) -> Vec<String> {
    match range_query(st, q, start, end, step, &delayed()) {
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

const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// TSBS's cpu metrics for two hosts: a sample every 10 s from 0 to 120 s.
fn cpu() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    for (name, host, base) in [
        ("cpu_usage_user", "host_3", 10.0),
        ("cpu_usage_system", "host_3", 20.0),
        ("cpu_usage_idle", "host_3", 30.0),
        ("cpu_usage_user", "host_4", 40.0),
    ] {
        let pts: Vec<(i64, f64)> = (0..=12).map(|i| (i * 10, base + i as f64)).collect();
        st.add_series(&[("__name__", name), ("hostname", host)], secs(&pts));
    }
    st
}

/// Two counters with the same labels but their names: `a_total` and `b_total` `{job="j"}`,
/// rising by 1 and 2 every 10 s.
fn counters() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    for (name, slope) in [("a_total", 1.0), ("b_total", 2.0)] {
        let pts: Vec<(i64, f64)> = (0..=30).map(|i| (i * 10, slope * i as f64)).collect();
        st.add_series(&[("__name__", name), ("job", "j")], secs(&pts));
    }
    st
}

const TSBS: &str = "max(max_over_time({__name__=~'cpu_(usage_user|usage_system)', \
                    hostname='host_3'}[1m])) by (__name__)";

#[test]
fn tsbs_multi_metric_query_answers_per_metric_only_with_delayed_removal() {
    let st = cpu();
    let e = inst_err(&st, TSBS, 60 * S);
    assert_eq!(e.to_string(), SAME_LABELSET, "Prometheus 2.42 refuses it");
    assert_eq!(
        inst_d(&st, TSBS, 60 * S),
        vec![
            r#"{__name__="cpu_usage_system"} => 26"#,
            r#"{__name__="cpu_usage_user"} => 16"#,
        ]
    );
    assert_eq!(
        rng_d(&st, TSBS, 60 * S, 120 * S, 30 * S),
        vec![
            r#"{__name__="cpu_usage_system"} => 60:26 90:29 120:32"#,
            r#"{__name__="cpu_usage_user"} => 60:16 90:19 120:22"#,
        ]
    );
    // The name goes at the end where no aggregation kept it.
    assert_eq!(
        inst_d(
            &st,
            "max_over_time({__name__='cpu_usage_user'}[1m])",
            60 * S
        ),
        vec![
            r#"{hostname="host_3"} => 16"#,
            r#"{hostname="host_4"} => 46"#
        ]
    );
    assert_eq!(
        inst_d(&st, "max(max_over_time(cpu_usage_user[1m]))", 60 * S),
        vec!["{} => 46"]
    );
}

#[test]
fn names_go_at_the_end_and_label_functions_see_them() {
    let st = counters();
    let t = 5 * M;
    assert_eq!(labels_d(&st, "rate(a_total[5m])", t), vec![r#"{job="j"}"#]);
    assert_eq!(
        inst(&st, "rate(a_total[5m])", t),
        inst_d(&st, "rate(a_total[5m])", t)
    );
    assert_eq!(
        labels_d(
            &st,
            r#"label_replace(rate(a_total[5m]), "__name__", "rate_$1", "__name__", "(.+)")"#,
            t
        ),
        vec![r#"{__name__="rate_a_total", job="j"}"#],
        "setting __name__ keeps it"
    );
    assert_eq!(
        labels_d(
            &st,
            r#"label_replace(rate({job="j"}[5m]), "src", "$1", "__name__", "(.+)")"#,
            t
        ),
        vec![r#"{job="j", src="a_total"}"#, r#"{job="j", src="b_total"}"#],
        "the name is readable, then dropped"
    );
    // Two series that differ only by name collide once the names go, not before.
    let e = inst_err(&st, "rate({job='j'}[5m])", t);
    assert_eq!(e.to_string(), SAME_LABELSET);
    let e = inst_err_d(&st, "rate({job='j'}[5m])", t);
    assert_eq!(e.to_string(), SAME_LABELSET);
    assert_eq!(
        inst_d(&st, "count(count_over_time({job='j'}[1m]) > 0)", t),
        vec!["{} => 2"]
    );
    assert_eq!(
        inst_err(&st, "count(count_over_time({job='j'}[1m]) > 0)", t).to_string(),
        SAME_LABELSET
    );
    // Marks survive `topk`, subqueries and `last_over_time`.
    assert_eq!(
        labels_d(&st, "topk(1, rate(a_total[5m]))", t),
        vec![r#"{job="j"}"#]
    );
    assert_eq!(
        labels_d(&st, "last_over_time(rate(a_total[5m])[1m:10s])", t),
        vec![r#"{job="j"}"#]
    );
    assert_eq!(
        labels_d(&st, "last_over_time(a_total[1m])", t),
        vec![r#"{__name__="a_total", job="j"}"#]
    );
    // A subquery's range vector as the result of an instant query loses the names too.
    match instant_query(&st, "rate(a_total[5m])[1m:30s]", t, &delayed()) {
        Ok((QueryValue::Matrix(m), _)) => {
            let shown: Vec<String> = m
                .iter()
                .map(|s| format!("{} {}", s.labels, s.points.len()))
                .collect();
            assert_eq!(shown, vec![r#"{job="j"} 3"#]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sum_by_name_keeps_the_name_of_each_group() {
    let st = counters();
    let t = 5 * M;
    assert_eq!(
        labels_d(&st, "sum by (__name__) (rate({job='j'}[5m]))", t),
        vec![r#"{__name__="a_total"}"#, r#"{__name__="b_total"}"#]
    );
    assert_eq!(
        labels_d(&st, "sum by (__name__, job) (a_total)", t),
        vec![r#"{__name__="a_total", job="j"}"#]
    );
    assert_eq!(
        labels_d(&st, "sum by (job) (rate({job='j'}[5m]))", t),
        vec![r#"{job="j"}"#]
    );
    assert_eq!(
        labels_d(&st, "sum without () (rate({job='j'}[5m]))", t),
        vec![r#"{job="j"}"#],
        "without drops the name, as in 2.42"
    );
    // 2.42 has dropped the names before grouping: one group, no name.
    assert_eq!(
        inst(&st, "sum by (__name__) (rate(a_total[5m]))", t).len(),
        1
    );
    assert_eq!(
        labels_d(&st, "sum by (__name__) (rate(a_total[5m]))", t),
        vec![r#"{__name__="a_total"}"#]
    );
}

#[test]
fn binary_operators_with_marked_operands() {
    let st = counters();
    let t = 5 * M;
    for q in [
        "rate(b_total[5m]) / rate(a_total[5m])",
        "rate(b_total[5m]) / ignoring(__name__) rate(a_total[5m])",
        "rate(b_total[5m]) > rate(a_total[5m])",
        "rate(b_total[5m]) > bool rate(a_total[5m])",
        "rate(b_total[5m]) > 0",
        "rate(b_total[5m]) * 2",
        "-rate(b_total[5m])",
    ] {
        assert_eq!(inst_d(&st, q, t), inst(&st, q, t), "{q}");
    }
    assert_eq!(
        inst_d(&st, "rate(b_total[5m]) / rate(a_total[5m])", t),
        vec![r#"{job="j"} => 2"#]
    );
    // Arithmetic and `bool` drop or mark the name; filtering comparisons keep it.
    assert_eq!(
        labels_d(&st, "b_total > bool a_total", t),
        vec![r#"{job="j"}"#]
    );
    assert_eq!(
        labels_d(&st, "b_total > a_total", t),
        vec![r#"{__name__="b_total", job="j"}"#]
    );
    // `on(__name__)` matches by the names that are still there: nothing matches here.
    assert!(labels_d(&st, "rate(b_total[5m]) / on(__name__) rate(a_total[5m])", t).is_empty());
    assert_eq!(
        labels_d(&st, "rate(a_total[5m]) / on(__name__) a_total", t),
        vec!["{}"]
    );
}

#[test]
fn collisions_at_the_end_merge_across_steps() {
    // Prometheus 3's delayed_name_removal_collision.test.
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "metric_a")], vec![(0, 1.0)]);
    st.add_series(&[("__name__", "metric_b")], vec![(10 * M, 4.0)]);
    let q = "-metric_a or -metric_b";
    assert_eq!(rng_d(&st, q, 0, 20 * M, 10 * M), vec!["{} => 0:-1 600:-4"]);
    assert_eq!(rng(&st, q, 0, 20 * M, 10 * M), vec!["{} => 0:-1 600:-4"]);
    let mut st = MemoryStorage::new();
    st.add_series(&[("__name__", "metric_a")], vec![(0, 1.0)]);
    st.add_series(&[("__name__", "metric_b")], vec![(0, 4.0)]);
    let e = match range_query(&st, "-{__name__=~'metric_.'}", 0, 10 * M, M, &delayed()) {
        Ok((v, _)) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    };
    assert_eq!(e.to_string(), SAME_LABELSET);
}

#[test]
fn default_semantics_are_prometheus_2_42() {
    assert!(!QueryOptions::default().delayed_name_removal);
    let st = counters();
    let t = 5 * M;
    assert_eq!(
        inst(&st, "sum by (__name__) (rate(a_total[5m]))", t),
        inst(&st, "sum(rate(a_total[5m]))", t)
    );
    assert_eq!(
        inst(
            &st,
            r#"label_replace(rate(a_total[5m]), "src", "$1", "__name__", "(.+)")"#,
            t
        )
        .len(),
        1
    );
    let shown = inst(
        &st,
        r#"label_replace(rate(a_total[5m]), "src", "$1", "__name__", "(.+)")"#,
        t,
    );
    assert!(shown[0].starts_with(r#"{job="j"} => "#), "{shown:?}");
}
