//! Label index: registry behaviour (lookup, insert, keys, labels) and the `labels` /
//! `label values` queries.

use floe_node::index::{LabelIndex, MatchOp, Matcher, SeriesRef};
use floe_storage_format::{SeriesId, SeriesKey};

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(name, labels.iter().copied()).expect("valid key")
}

fn sample_index() -> (LabelIndex, Vec<SeriesKey>) {
    let keys = vec![
        key("cpu", &[("host", "a"), ("dc", "x")]),
        key("cpu", &[("host", "b"), ("dc", "y")]),
        key("mem", &[("host", "a")]),
        key("up", &[]),
        key("cpu", &[("host", "c"), ("dc", "x"), ("A", "first")]),
    ];
    let mut index = LabelIndex::new();
    for k in &keys {
        index.insert(k);
    }
    (index, keys)
}

#[test]
fn insert_is_idempotent_and_refs_are_dense() {
    let (mut index, keys) = sample_index();
    assert_eq!(index.len(), keys.len());
    for (i, k) in keys.iter().enumerate() {
        let r = SeriesRef(i as u32);
        assert_eq!(index.insert(k), (r, false), "{k}");
        assert_eq!(index.lookup(k.id()), Some(r));
        assert_eq!(index.id(r), k.id());
        assert_eq!(&index.key(r), k);
    }
    assert_eq!(index.len(), keys.len());
    assert_eq!(index.lookup(SeriesId(42)), None);
    let (r, new) = index.insert_with_id(&key("new", &[]), key("new", &[]).id());
    assert_eq!((r, new), (SeriesRef(keys.len() as u32), true));
    assert!(!index.is_empty());
    assert!(LabelIndex::new().is_empty());
}

#[test]
fn many_series_survive_table_growth() {
    let mut index = LabelIndex::new();
    let keys: Vec<SeriesKey> = (0..20_000)
        .map(|i| {
            let host = format!("h{}", i / 10);
            let rack = format!("{}", i % 7);
            key(&format!("m{}", i % 10), &[("host", &host), ("rack", &rack)])
        })
        .collect();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(index.insert(k), (SeriesRef(i as u32), true));
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(index.lookup(k.id()), Some(SeriesRef(i as u32)));
        assert!(!index.insert(k).1);
    }
    assert_eq!(index.key(SeriesRef(12_345)), keys[12_345]);
    let sel = index.select(&[
        Matcher::equal("host", "h7"),
        Matcher::equal("__name__", "m3"),
    ]);
    assert_eq!(sel, vec![SeriesRef(73)]);
}

#[test]
fn labels_put_the_metric_name_first_then_sorted_labels() {
    let (index, _) = sample_index();
    let labels: Vec<(&str, &str)> = index.labels(SeriesRef(4)).collect();
    assert_eq!(
        labels,
        [
            ("__name__", "cpu"),
            ("A", "first"),
            ("dc", "x"),
            ("host", "c")
        ]
    );
    assert_eq!(
        index.labels(SeriesRef(3)).collect::<Vec<_>>(),
        [("__name__", "up")]
    );
}

#[test]
fn label_names_with_and_without_within() {
    let (index, _) = sample_index();
    assert_eq!(index.label_names(None), ["A", "__name__", "dc", "host"]);
    let within = [SeriesRef(2), SeriesRef(3)];
    assert_eq!(index.label_names(Some(&within)), ["__name__", "host"]);
    assert_eq!(index.label_names(Some(&[])), Vec::<String>::new());
    assert_eq!(LabelIndex::new().label_names(None), Vec::<String>::new());
}

#[test]
fn label_values_with_and_without_within() {
    let (index, _) = sample_index();
    assert_eq!(index.label_values("host", None), ["a", "b", "c"]);
    assert_eq!(index.label_values("__name__", None), ["cpu", "mem", "up"]);
    assert_eq!(index.label_values("nope", None), Vec::<String>::new());
    let within = [SeriesRef(0), SeriesRef(2), SeriesRef(3)];
    assert_eq!(index.label_values("host", Some(&within)), ["a"]);
    assert_eq!(
        index.label_values("__name__", Some(&within)),
        ["cpu", "mem", "up"]
    );
    let cpu = index.select(&[Matcher::equal("__name__", "cpu")]);
    assert_eq!(index.label_values("dc", Some(&cpu)), ["x", "y"]);
}

#[test]
fn metric_name_label_duplicated_in_labels_round_trips() {
    // SeriesKey accepts a label literally named `__name__`; the index must not corrupt itself.
    let mut index = LabelIndex::new();
    let same = key("cpu", &[("__name__", "cpu")]);
    let other = key("cpu", &[("__name__", "mem")]);
    let (a, _) = index.insert(&same);
    let (b, _) = index.insert(&other);
    assert_eq!(index.key(a), same);
    assert_eq!(index.key(b), other);
    assert_eq!(index.select(&[Matcher::equal("__name__", "cpu")]), [a, b]);
    assert_eq!(index.select(&[Matcher::equal("__name__", "mem")]), [b]);
    let not_mem = Matcher::new(MatchOp::NotEqual, "__name__", "mem").expect("valid");
    assert_eq!(index.select(&[not_mem]), [a]);
}

#[test]
fn memory_grows_with_series() {
    let (index, _) = sample_index();
    let small = index.memory_bytes();
    assert!(small > 0);
    let (mut bigger, _) = sample_index();
    for i in 0..1000 {
        bigger.insert(&key("cpu", &[("host", &format!("h{i}"))]));
    }
    assert!(bigger.memory_bytes() > small + 1000 * 20);
}

#[test]
fn index_and_matchers_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<LabelIndex>();
    send_sync::<Matcher>();
}
