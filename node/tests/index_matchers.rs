//! Label index selection: Prometheus matcher semantics, case by case, and a property test
//! against a naive reference that filters every series with the matcher definitions.

use floe_node::index::{LabelIndex, MatchOp, Matcher, SeriesRef};
use floe_storage_format::SeriesKey;
use proptest::prelude::*;

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("valid matcher")
}

/// The definition: a series passes when every matcher accepts its value of the matcher's
/// label, `""` standing for an absent label and `__name__` for the metric name.
fn naive(keys: &[SeriesKey], matchers: &[Matcher]) -> Vec<SeriesRef> {
    let value = |k: &SeriesKey, l: &str| -> String {
        if l == "__name__" {
            k.name().to_owned()
        } else {
            k.label(l).unwrap_or("").to_owned()
        }
    };
    (0..keys.len())
        .filter(|&i| {
            matchers
                .iter()
                .all(|m| m.matches(&value(&keys[i], m.name())))
        })
        .map(|i| SeriesRef(i as u32))
        .collect()
}

/// Series `{__name__, job?, env?}` used by the case-by-case tests:
/// 0 `up{job="api",env="prod"}`, 1 `up{job="api"}`, 2 `up{env="dev"}`, 3 `up`,
/// 4 `cpu{job="db",env="prod"}`.
fn fixture() -> (LabelIndex, Vec<SeriesKey>) {
    let specs: [(&str, &[(&str, &str)]); 5] = [
        ("up", &[("job", "api"), ("env", "prod")]),
        ("up", &[("job", "api")]),
        ("up", &[("env", "dev")]),
        ("up", &[]),
        ("cpu", &[("job", "db"), ("env", "prod")]),
    ];
    let keys: Vec<SeriesKey> = specs
        .iter()
        .map(|(n, l)| SeriesKey::new(*n, l.iter().copied()).expect("valid key"))
        .collect();
    let mut index = LabelIndex::new();
    for k in &keys {
        index.insert(k);
    }
    (index, keys)
}

fn refs(v: &[u32]) -> Vec<SeriesRef> {
    v.iter().copied().map(SeriesRef).collect()
}

#[track_caller]
fn check(matchers: &[Matcher], expect: &[u32]) {
    let (index, keys) = fixture();
    assert_eq!(
        naive(&keys, matchers),
        refs(expect),
        "reference for {matchers:?}"
    );
    assert_eq!(
        index.select(matchers),
        refs(expect),
        "index for {matchers:?}"
    );
}

#[test]
fn equal() {
    check(&[m("job", MatchOp::Equal, "api")], &[0, 1]);
    check(&[m("__name__", MatchOp::Equal, "cpu")], &[4]);
    check(&[m("job", MatchOp::Equal, "nope")], &[]);
    check(&[m("nolabel", MatchOp::Equal, "x")], &[]);
}

#[test]
fn equal_empty_selects_series_without_the_label() {
    check(&[m("job", MatchOp::Equal, "")], &[2, 3]);
    check(&[m("nolabel", MatchOp::Equal, "")], &[0, 1, 2, 3, 4]);
}

#[test]
fn not_equal_keeps_series_without_the_label() {
    check(&[m("job", MatchOp::NotEqual, "api")], &[2, 3, 4]);
    check(&[m("job", MatchOp::NotEqual, "nope")], &[0, 1, 2, 3, 4]);
    check(&[m("nolabel", MatchOp::NotEqual, "x")], &[0, 1, 2, 3, 4]);
}

#[test]
fn not_equal_empty_selects_series_with_the_label() {
    check(&[m("env", MatchOp::NotEqual, "")], &[0, 2, 4]);
    check(&[m("nolabel", MatchOp::NotEqual, "")], &[]);
}

#[test]
fn regex_match() {
    check(&[m("job", MatchOp::RegexMatch, "a.*")], &[0, 1]);
    check(&[m("job", MatchOp::RegexMatch, "ap")], &[]); // anchored
    check(&[m("job", MatchOp::RegexMatch, "api|db")], &[0, 1, 4]);
    check(&[m("job", MatchOp::RegexMatch, ".+")], &[0, 1, 4]);
    check(&[m("nolabel", MatchOp::RegexMatch, ".+")], &[]);
}

#[test]
fn regex_matching_empty_includes_series_without_the_label() {
    check(&[m("job", MatchOp::RegexMatch, "")], &[2, 3]);
    check(&[m("job", MatchOp::RegexMatch, "db|")], &[2, 3, 4]);
    check(&[m("job", MatchOp::RegexMatch, "d.*|")], &[2, 3, 4]);
    check(&[m("job", MatchOp::RegexMatch, ".*")], &[0, 1, 2, 3, 4]);
    check(&[m("nolabel", MatchOp::RegexMatch, "x?")], &[0, 1, 2, 3, 4]);
}

#[test]
fn regex_no_match_is_the_complement() {
    check(&[m("job", MatchOp::RegexNoMatch, "api")], &[2, 3, 4]);
    check(&[m("job", MatchOp::RegexNoMatch, "db|")], &[0, 1]);
    check(&[m("job", MatchOp::RegexNoMatch, ".*")], &[]);
    check(&[m("job", MatchOp::RegexNoMatch, ".+")], &[2, 3]);
    check(&[m("job", MatchOp::RegexNoMatch, "")], &[0, 1, 4]);
    check(
        &[m("nolabel", MatchOp::RegexNoMatch, "x")],
        &[0, 1, 2, 3, 4],
    );
}

#[test]
fn matchers_intersect() {
    let up = m("__name__", MatchOp::Equal, "up");
    check(&[up.clone(), m("env", MatchOp::Equal, "")], &[1, 3]);
    check(&[up.clone(), m("job", MatchOp::NotEqual, "api")], &[2, 3]);
    check(
        &[
            m("env", MatchOp::NotEqual, ""),
            m("job", MatchOp::Equal, ""),
        ],
        &[2],
    );
    check(&[up, m("env", MatchOp::RegexNoMatch, "prod|")], &[2]);
    check(&[], &[0, 1, 2, 3, 4]);
}

#[test]
fn empty_index_selects_nothing() {
    let index = LabelIndex::new();
    assert!(index.select(&[]).is_empty());
    assert!(index.select(&[m("a", MatchOp::Equal, "")]).is_empty());
}

const NAMES: [&str; 3] = ["a", "b", "c"];
const LABELS: [&str; 3] = ["x", "y", "z"];
const VALUES: [&str; 4] = ["1", "2", "3", "10"];
/// Values of the high-cardinality label `h` are `0`, `1`, …, `H_VALUES − 1`.
const H_VALUES: usize = 60;
const MATCHER_LABELS: [&str; 6] = ["__name__", "x", "y", "z", "w", "h"];
const LITERALS: [&str; 6] = ["", "1", "2", "10", "a", "b"];
const REGEXES: [&str; 15] = [
    "", ".*", ".+", "1|2", "1|", "1.*", "[12]", "1|2|", "(1|)0?", "a|b", "b.*", ".*0", "a", "x?",
    "3[0-9]|",
];

/// A series of a small universe: a metric name, three low-cardinality labels and one
/// high-cardinality label `h`, each label possibly absent.
fn series() -> impl Strategy<Value = SeriesKey> {
    let label = proptest::option::of(0..VALUES.len());
    let h = proptest::option::weighted(0.9, 0..H_VALUES);
    (0..NAMES.len(), [label.clone(), label.clone(), label], h).prop_map(|(n, vals, h)| {
        let labels = LABELS
            .iter()
            .zip(vals)
            .filter_map(|(l, v)| v.map(|v| (l.to_string(), VALUES[v].to_string())));
        let h = h.map(|h| ("h".to_string(), h.to_string()));
        SeriesKey::new(NAMES[n], labels.chain(h)).expect("valid key")
    })
}

fn matcher() -> impl Strategy<Value = Matcher> {
    let op = prop_oneof![
        Just(MatchOp::Equal),
        Just(MatchOp::NotEqual),
        Just(MatchOp::RegexMatch),
        Just(MatchOp::RegexNoMatch),
    ];
    (op, 0..MATCHER_LABELS.len(), 0..REGEXES.len()).prop_map(|(op, l, v)| {
        let value = match op {
            MatchOp::Equal | MatchOp::NotEqual => LITERALS[v % LITERALS.len()],
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => REGEXES[v],
        };
        m(MATCHER_LABELS[l], op, value)
    })
}

/// Inserts `keys` (duplicates allowed) and returns the distinct keys in ref order.
fn build(keys: Vec<SeriesKey>) -> (LabelIndex, Vec<SeriesKey>) {
    let mut index = LabelIndex::new();
    let mut distinct = Vec::new();
    for k in keys {
        if index.insert(&k).1 {
            distinct.push(k);
        }
    }
    (index, distinct)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn select_agrees_with_naive_reference(
        keys in proptest::collection::vec(series(), 0..60),
        matchers in proptest::collection::vec(matcher(), 0..4),
    ) {
        let (index, distinct) = build(keys);
        prop_assert_eq!(index.select(&matchers), naive(&distinct, &matchers));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Larger universes, so that selection takes both its postings and its per-candidate
    /// paths.
    #[test]
    fn select_agrees_with_naive_reference_on_larger_indexes(
        keys in proptest::collection::vec(series(), 100..800),
        matchers in proptest::collection::vec(matcher(), 1..5),
    ) {
        let (index, distinct) = build(keys);
        prop_assert_eq!(index.select(&matchers), naive(&distinct, &matchers));
    }
}
