//! The parse limits, and evaluation of the deepest expressions they admit on a thread with
//! [`EVAL_STACK_BYTES`] of stack (what floed gives each query), in a debug build.

use super::*;
use crate::testing::MemoryStorage;
use crate::{QueryOptions, QueryValue, instant_query, range_query};

/// `open` `n` times, then `inner`, then `close` `n` times.
fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn deep_or_long_expressions_are_refused_without_recursion() {
    parse(&nest("(", "up", ")", 999)).expect("999 parentheses and a selector are 1,000 levels");
    let e = parse(&nest("(", "up", ")", 1_000)).expect_err("too deep");
    assert!(
        e.to_string().contains("nested more than 1000 levels deep"),
        "{e}"
    );
    assert_eq!(e.error_type(), "bad_data");
    // Just under the operator limit, the parser builds a tree 4,999 deep on this test
    // thread's small stack; it is refused and taken apart without recursion.
    let e = parse(&nest("(", "up", ")", 4_999)).expect_err("too deep");
    assert!(e.to_string().contains("levels deep"), "{e}");
    let e = parse(&format!("{}up", "-".repeat(4_999))).expect_err("too deep");
    assert!(e.to_string().contains("levels deep"), "{e}");
    for long in [
        nest("(", "up", ")", 20_000),
        format!("{}up", "-".repeat(60_000)),
        format!("up{}", " and up".repeat(5_001)),
    ] {
        let e = parse(&long).expect_err("too many operators");
        assert!(e.to_string().contains("more than 5000 operators"), "{e}");
    }
    let e = parse(&"x".repeat(MAX_QUERY_BYTES + 1)).expect_err("too long");
    assert!(e.to_string().contains("bytes, more than the limit"), "{e}");
    assert_eq!(
        operator_count("sum by (a) (rate(x{a=~\"(+-)\"}[5m])) # (((\n or 1"),
        6
    );
    let e = parse("up{").expect_err("parse error");
    assert!(
        e.to_string().starts_with("invalid parameter \"query\""),
        "{e}"
    );
}

/// Expressions exactly [`MAX_QUERY_DEPTH`] levels deep, one per kind of node the evaluator
/// recurses through.
fn deepest() -> Vec<(&'static str, String)> {
    let n = MAX_QUERY_DEPTH - 1;
    vec![
        ("parentheses", nest("(", "x", ")", n)),
        ("unary minus", format!("{}x", "-".repeat(n))),
        ("functions", nest("abs(", "x", ")", n)),
        (
            "label_replace",
            nest("label_replace(", "x", ", \"a\", \"b\", \"c\", \"\")", n),
        ),
        ("aggregations", nest("sum(", "x", ")", n)),
        ("topk", nest("topk(1, ", "x", ")", n)),
        ("left-deep arithmetic", format!("{}x", "x + ".repeat(n))),
        (
            "right-nested arithmetic",
            format!("({})", nest("x / (", "x", ")", n / 2)),
        ),
        ("comparisons", format!("{}x", "x >= ".repeat(n))),
        ("set operators", format!("{}x", "x or ".repeat(n))),
        ("scalar arithmetic", format!("{}1", "1 + ".repeat(n))),
        (
            "subqueries",
            format!("({})", nest("max_over_time(", "x", "[20s:10s])", n / 2)),
        ),
    ]
}

#[test]
fn the_deepest_admitted_expressions_evaluate_on_floeds_query_stack() {
    let run = || {
        let mut st = MemoryStorage::new();
        let pts = (0..=12).map(|i| (i * 10_000, 1.0)).collect();
        st.add_series(&[("__name__", "x")], pts);
        let opts = QueryOptions::default();
        let delayed = QueryOptions {
            delayed_name_removal: true,
            ..QueryOptions::default()
        };
        for (kind, q) in deepest() {
            let expr = parse(&q).expect(kind);
            assert!(!depth_exceeds(&expr, MAX_QUERY_DEPTH), "{kind}");
            assert!(depth_exceeds(&expr, MAX_QUERY_DEPTH - 1), "{kind}");
            for o in [&opts, &delayed] {
                match instant_query(&st, &q, 120_000, o) {
                    Ok((QueryValue::Vector(v), _)) => assert_eq!(v.len(), 1, "{kind}"),
                    Ok((QueryValue::Scalar { .. }, _)) => {}
                    other => panic!("{kind}: {other:?}"),
                }
                let (v, _) = range_query(&st, &q, 60_000, 120_000, 30_000, o).expect(kind);
                assert!(matches!(v, QueryValue::Matrix(m) if m.len() == 1), "{kind}");
            }
            let too_deep = format!("({q})");
            let e = instant_query(&st, &too_deep, 120_000, &opts).expect_err(kind);
            assert!(e.to_string().contains("levels deep"), "{kind}: {e}");
        }
    };
    std::thread::Builder::new()
        .name("deep-eval".into())
        .stack_size(EVAL_STACK_BYTES)
        .spawn(run)
        .expect("spawn a thread")
        .join()
        .expect("the deepest expressions evaluate");
}
