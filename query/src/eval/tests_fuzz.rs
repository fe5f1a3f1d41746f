//! No input panics the evaluator: random expressions from a small grammar, and random
//! strings, evaluated as instant and range queries. Proptest prints the failing input and
//! its seed; set `PROPTEST_CASES` for longer runs.

use proptest::prelude::*;

use super::tests::{S, secs, stale};
use crate::testing::MemoryStorage;
use crate::{QueryOptions, instant_query, range_query};

fn storage() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    for (name, job, base) in [
        ("a", "x", 1.0),
        ("a", "y", -2.0),
        ("b", "x", 3.0),
        ("b", "z", f64::NAN),
    ] {
        let mut pts: Vec<(i64, f64)> = (0..30).map(|i| (i * 10, base * i as f64)).collect();
        pts.push((300, stale()));
        st.add_series(&[("__name__", name), ("job", job), ("le", "1")], secs(&pts));
    }
    st
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just(r#"{__name__=~"a|b"}"#.to_string()),
        Just(r#"a{job="x"}"#.to_string()),
        Just("a @ 100".to_string()),
        Just("b offset 1m".to_string()),
        Just("nope".to_string()),
        (-3i32..5).prop_map(|n| n.to_string()),
        Just("NaN".to_string()),
        Just("time()".to_string()),
    ]
}

fn range_arg(inner: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a[1m]".to_string()),
        Just("b[30s] offset 20s".to_string()),
        Just(format!("({inner})[1m:15s]")),
        Just(format!("({inner})[2m:] @ 200")),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 32, 3, |inner| {
        let binop = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("^"),
            Just("atan2"),
            Just("=="),
            Just("!= bool"),
            Just(">"),
            Just("<="),
            Just("and"),
            Just("or"),
            Just("unless"),
            Just("+ on(job)"),
            Just("* ignoring(le) group_left"),
            Just("- on(job) group_right(le)"),
            Just("> bool on()"),
        ];
        let agg = prop_oneof![
            Just("sum"),
            Just("avg"),
            Just("min"),
            Just("max"),
            Just("count"),
            Just("group"),
            Just("stddev"),
            Just("stdvar"),
            Just("sum by (job)"),
            Just("max without (job)"),
        ];
        let param_agg = prop_oneof![Just("topk"), Just("bottomk"), Just("quantile")];
        let func = prop_oneof![
            Just("abs"),
            Just("sort"),
            Just("sort_desc"),
            Just("absent"),
            Just("timestamp"),
            Just("ceil"),
            Just("hour"),
            Just("-"),
            Just("scalar"),
            Just("vector"),
        ];
        let rfunc = prop_oneof![
            Just("rate"),
            Just("increase"),
            Just("max_over_time"),
            Just("absent_over_time"),
            Just("deriv"),
            Just("last_over_time"),
            Just("changes"),
        ];
        prop_oneof![
            (inner.clone(), binop, inner.clone())
                .prop_map(|(l, op, r)| format!("({l}) {op} ({r})")),
            (agg, inner.clone()).prop_map(|(a, e)| format!("{a}({e})")),
            (param_agg, inner.clone(), inner.clone())
                .prop_map(|(a, p, e)| format!("{a}({p}, {e})")),
            (func, inner.clone()).prop_map(|(f, e)| format!("{f}({e})")),
            (rfunc, inner.clone())
                .prop_flat_map(|(f, e)| range_arg(e).prop_map(move |r| format!("{f}({r})"))),
            inner
                .clone()
                .prop_map(|e| format!("histogram_quantile(0.9, {e})")),
            inner
                .clone()
                .prop_map(|e| format!("count_values(\"v\", {e})")),
            inner.prop_map(|e| format!("label_replace({e}, \"d\", \"$1\", \"job\", \"(.)\")")),
        ]
    })
}

fn run(q: &str) {
    let st = storage();
    let opts = QueryOptions::default();
    let _ = instant_query(&st, q, 150 * S, &opts);
    let _ = range_query(&st, q, 0, 400 * S, 17 * S, &opts);
    let _ = range_query(&st, q, -100 * S, 100 * S, 100 * S, &opts);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_expressions_never_panic(q in expr()) {
        run(&q);
    }

    #[test]
    fn random_strings_never_panic(q in "[a-z(){}\\[\\]@:=~!,\"0-9 +*/^%<>.-]{0,40}") {
        run(&q);
    }
}

#[test]
fn extreme_inputs_do_not_panic() {
    for q in [
        "a offset 292y",
        "a offset -292y",
        "a @ 9223372036854775",
        "a @ -9223372036854775",
        "rate(a[292y])",
        "a[292y:1ms]",
        "max_over_time(a[1y:1ms] @ 0)",
        "topk(1e300, a)",
        "topk(-1e300, a)",
        "quantile(NaN, a)",
        "histogram_quantile(NaN, a)",
        "count_values(\"le\", a)",
        "holt_winters(a[1m], NaN, 0.5)",
        "predict_linear(a[1m] @ 100, 60)",
        "predict_linear(a[1m:10s] @ 100, 60)",
        "round(a, 0)",
        "1 % 0",
        "year(vector(1e300))",
        "day_of_week(vector(NaN))",
    ] {
        run(q);
    }
}
