//! `label_replace` / `label_join` tests; the first of each come from Prometheus's
//! `functions.test`, the template cases from Go's `regexp.Expand` rules.

use super::{label_join, label_replace};
use crate::value::Labels;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    )
}

fn testmetric(src: &str) -> Labels {
    labels(&[
        ("__name__", "testmetric"),
        ("src", src),
        ("dst", "original-destination-value"),
    ])
}

fn replace(l: &Labels, dst: &str, repl: &str, src: &str, re: &str) -> Labels {
    label_replace(l, dst, repl, src, re).expect("valid arguments")
}

#[test]
fn label_replace_matches_functions_test() {
    let m = testmetric("source-value-10");
    let with_dst = |v: &str| {
        let mut l = m.clone();
        l.set("dst", v);
        l
    };
    // Full-string match and replace.
    let got = replace(
        &m,
        "dst",
        "destination-value-$1",
        "src",
        "source-value-(.*)",
    );
    assert_eq!(got, with_dst("destination-value-10"));
    // No substring match.
    let got = replace(&m, "dst", "destination-value-$1", "src", "value-(.*)");
    assert_eq!(got, m);
    // Several capture groups.
    let got = replace(&m, "dst", "$1-value-$2", "src", "(.*)-value-(.*)");
    assert_eq!(got, with_dst("source-value-10"));
    // A missing source label is "" and does not match this regex.
    let got = replace(
        &m,
        "dst",
        "value-$1",
        "nonexistent-src",
        "source-value-(.*)",
    );
    assert_eq!(got, m);
    // … but does match (.*), overwriting dst.
    let got = replace(&m, "dst", "value-$1", "nonexistent-src", "(.*)");
    assert_eq!(got, with_dst("value-"));
    // No match, no change.
    let got = replace(&m, "dst", "value-$1", "src", "non-matching-regex");
    assert_eq!(got, m);
    // An empty result removes the label.
    let got = replace(&m, "dst", "", "dst", ".*");
    assert_eq!(
        got,
        labels(&[("__name__", "testmetric"), ("src", "source-value-10")])
    );
    // The metric name can be the source and the destination.
    let got = replace(&m, "__name__", "renamed_$1", "__name__", "test(.*)");
    assert_eq!(got.get("__name__"), Some("renamed_metric"));
}

#[test]
fn label_replace_errors_match_prometheus() {
    let m = testmetric("x");
    let err = label_replace(&m, "dst", "value-$1", "src", "(.*").expect_err("bad regex");
    assert_eq!(
        err.to_string(),
        "invalid regular expression in label_replace(): (.*"
    );
    assert_eq!(err.error_type(), "execution");
    let err = label_replace(&m, "invalid-label-name", "", "src", "(.*)").expect_err("bad dst name");
    assert_eq!(
        err.to_string(),
        "invalid destination label name in label_replace(): invalid-label-name"
    );
    // The regex is checked first.
    let err = label_replace(&m, "1bad", "", "src", "(").expect_err("both bad");
    assert!(err.to_string().starts_with("invalid regular expression"));
    assert!(label_replace(&m, "", "", "src", ".*").is_err());
}

/// Expands `template` against `value` matched by `re` through `label_replace`.
fn expand(re: &str, value: &str, template: &str) -> Option<String> {
    let l = labels(&[("src", value)]);
    let out = replace(&l, "dst", template, "src", re);
    out.get("dst").map(str::to_string)
}

#[test]
fn replacement_templates_follow_go_expand() {
    let re = "(?P<first>[a-z]+)-(?P<second>[0-9]+)";
    let e = |t: &str| expand(re, "abc-42", t);
    assert_eq!(e("$1/$2").as_deref(), Some("abc/42"));
    assert_eq!(e("${1}x").as_deref(), Some("abcx"));
    // `$1x` names the group "1x", which does not exist; the empty result removes `dst`.
    assert_eq!(e("$1x").as_deref(), None);
    assert_eq!(e("$1x-$2").as_deref(), Some("-42"));
    assert_eq!(e("$first:$second").as_deref(), Some("abc:42"));
    assert_eq!(e("${second}s").as_deref(), Some("42s"));
    assert_eq!(e("$0").as_deref(), Some("abc-42"));
    // `$$` is a dollar; a `$` not followed by a name stays literal.
    assert_eq!(e("$$1").as_deref(), Some("$1"));
    assert_eq!(e("cost: $").as_deref(), Some("cost: $"));
    assert_eq!(e("$-$2").as_deref(), Some("$-42"));
    // An unclosed brace is not a reference.
    assert_eq!(e("${1").as_deref(), Some("${1"));
    assert_eq!(e("${}").as_deref(), Some("${}"));
    // Leading zeros make a name, not a number; out-of-range numbers expand to nothing.
    assert_eq!(e("[$01]").as_deref(), Some("[]"));
    assert_eq!(e("[$9]").as_deref(), Some("[]"));
    assert_eq!(e("[$999999999999]").as_deref(), Some("[]"));
    // Groups that did not take part expand to nothing.
    assert_eq!(expand("(a)|(b)", "b", "<$1|$2>").as_deref(), Some("<|b>"));
}

#[test]
fn label_join_matches_functions_test() {
    let m = labels(&[
        ("__name__", "testmetric"),
        ("src", "a"),
        ("src1", "b"),
        ("src2", "c"),
        ("dst", "original-destination-value"),
    ]);
    let s = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let got = label_join(&m, "dst", "-", &s(&["src", "src1", "src2"])).expect("valid");
    assert_eq!(got.get("dst"), Some("a-b-c"));
    let got = label_join(&m, "dst", "-", &s(&["src", "src3", "src1"])).expect("valid");
    assert_eq!(got.get("dst"), Some("a--b"));
    let got = label_join(&m, "dst", "", &s(&["emptysrc", "emptysrc1"])).expect("valid");
    assert_eq!(got.get("dst"), None);
    assert_eq!(got.len(), 4);
    let got = label_join(&m, "dst", ", ", &[]).expect("valid");
    assert_eq!(got.get("dst"), None);
    let got = label_join(&m, "new", ", ", &s(&["src", "src1", "src2"])).expect("valid");
    assert_eq!(got.get("new"), Some("a, b, c"));
    assert_eq!(got.get("__name__"), Some("testmetric"));
}

#[test]
fn label_join_errors_match_prometheus() {
    let m = labels(&[("a", "1")]);
    let err = label_join(&m, "dst", "-", &["a".into(), "b-c".into()]).expect_err("bad src");
    assert_eq!(
        err.to_string(),
        "invalid source label name in label_join(): b-c"
    );
    let err = label_join(&m, "0dst", "-", &["a".into()]).expect_err("bad dst");
    assert_eq!(
        err.to_string(),
        "invalid destination label name in label_join(): 0dst"
    );
    // Sources are checked before the destination.
    let err = label_join(&m, "0dst", "-", &["".into()]).expect_err("both bad");
    assert!(err.to_string().starts_with("invalid source label name"));
}

#[test]
fn results_with_huge_labels_are_refused() {
    use super::labels::MAX_LABELS_BYTES;
    let m = labels(&[("a", &"x".repeat(1000))]);
    // 100 copies of a 1,000-byte value: 100 kB from a short query.
    let srcs: Vec<String> = (0..100).map(|_| "a".to_string()).collect();
    let err = label_join(&m, "dst", "", &srcs).expect_err("too large");
    assert_eq!(
        err.to_string(),
        format!("label_join(): the labels of a result would be more than {MAX_LABELS_BYTES} bytes")
    );
    let err = label_replace(&m, "dst", &"$1".repeat(100), "a", "(.*)").expect_err("too large");
    assert_eq!(
        err.to_string(),
        format!(
            "label_replace(): the labels of a result would be more than {MAX_LABELS_BYTES} bytes"
        )
    );
    // Just under the limit is fine; the old value of `dst` does not count.
    let m = labels(&[("a", "x"), ("dst", &"y".repeat(MAX_LABELS_BYTES))]);
    let fill = MAX_LABELS_BYTES - "a".len() - "x".len() - "dst".len();
    let got = replace(&m, "dst", &"z".repeat(fill), "a", "x");
    assert_eq!(got.get("dst").map(str::len), Some(fill));
    let got =
        label_join(&m, "dst", &"-".repeat(fill - 2), &["a".into(), "a".into()]).expect("fits");
    assert_eq!(got.get("dst").map(str::len), Some(fill));
    assert!(label_replace(&m, "dst", &"z".repeat(fill + 1), "a", "x").is_err());
}
