//! The engine's reads for the query API: series selected by matchers and time range, label
//! names and values, from the head and from blocks, and the PromQL storage adapter.

use std::sync::Arc;

use floe_node::engine::{
    Engine, EngineConfig, FsyncPolicy, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, ManualClock,
};
use floe_node::index::{MatchOp, Matcher};
use floe_node::query::EngineStorage;
use floe_query::{LabelMatcher, MatchOp as QOp, QueryError, QueryOptions, Storage};
use floe_storage_format::{Sample, SeriesKey};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn open(dir: &std::path::Path) -> Engine {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    c.fsync = FsyncPolicy::Never;
    Engine::open(c, Arc::new(ManualClock::new(T0)))
        .expect("open engine")
        .0
}

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(name, labels.iter().copied()).expect("valid key")
}

/// `up{job=api}` at T0 (then flushed to a block), `up{job=db,zone=a}` at T0+1h (head),
/// `temp{room=x}` at T0+2h (head).
fn engine_with_data(dir: &std::path::Path) -> Engine {
    let e = open(dir);
    e.write(&[(key("up", &[("job", "api")]), Sample::new(T0, 1.0, 0))])
        .expect("write");
    e.flush().expect("flush");
    e.write(&[
        (
            key("up", &[("job", "db"), ("zone", "a")]),
            Sample::new(T0 + 3_600_000, 0.0, 0),
        ),
        (
            key("temp", &[("room", "x")]),
            Sample::new(T0 + 7_200_000, 21.5, 0),
        ),
    ])
    .expect("write");
    e
}

fn names(e: &Engine, m: &[Matcher], start: i64, end: i64) -> Vec<String> {
    e.select_in_range(m, start, end)
        .into_iter()
        .map(|(_, k)| k.to_string())
        .collect()
}

#[test]
fn selection_by_time_range_covers_head_and_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = engine_with_data(dir.path());
    let up = [Matcher::equal("__name__", "up")];
    assert_eq!(names(&e, &up, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS).len(), 2);
    assert_eq!(names(&e, &up, T0, T0).len(), 1, "the block's series only");
    assert_eq!(
        names(&e, &up, T0 + 1, T0 + 3_600_000).len(),
        1,
        "the head's"
    );
    assert!(names(&e, &up, T0 + 3_600_001, T0 + 7_200_000).is_empty());
    let all = e.label_names(&[], MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
    assert_eq!(all, ["__name__", "job", "room", "zone"]);
    assert_eq!(
        e.label_names(&[], T0 + 7_200_000, T0 + 7_200_000),
        ["__name__", "room"]
    );
    let up_sets = [up.to_vec()];
    assert_eq!(e.label_names(&up_sets, T0, T0), ["__name__", "job"]);
    assert_eq!(
        e.label_values("job", &up_sets, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS),
        ["api", "db"]
    );
    assert_eq!(
        e.label_values("__name__", &[], T0, T0 + 7_200_000),
        ["temp", "up"]
    );
    let re = Matcher::new(MatchOp::RegexMatch, "job", "d.*").expect("regex");
    let two = [vec![re], vec![Matcher::equal("room", "x")]];
    assert_eq!(
        e.label_values("__name__", &two, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS),
        ["temp", "up"]
    );
    assert!(
        e.label_values("nope", &[], MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS)
            .is_empty()
    );
}

fn lm(name: &str, op: QOp, value: &str) -> LabelMatcher {
    LabelMatcher {
        name: name.into(),
        op,
        value: value.into(),
    }
}

#[test]
fn the_storage_adapter_reads_labels_and_samples_and_enforces_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Arc::new(engine_with_data(dir.path()));
    let opts = QueryOptions::default();
    let s = EngineStorage::new(e.clone(), &opts);
    let got = s
        .select(&[lm("__name__", QOp::Equal, "up")], T0, T0 + 3_600_000)
        .expect("select");
    let shown: Vec<(String, Vec<(i64, f64)>)> = got
        .iter()
        .map(|x| (x.labels.to_string(), x.samples.clone()))
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                "{__name__=\"up\", job=\"api\"}".to_string(),
                vec![(T0, 1.0)]
            ),
            (
                "{__name__=\"up\", job=\"db\", zone=\"a\"}".to_string(),
                vec![(T0 + 3_600_000, 0.0)]
            ),
        ]
    );
    assert_eq!(s.touched(), (2, 2));
    assert!(s.finish(Ok(())).is_ok());

    let small = QueryOptions {
        max_series: 1,
        ..QueryOptions::default()
    };
    let s = EngineStorage::new(e.clone(), &small);
    assert!(
        s.select(&[lm("__name__", QOp::Equal, "up")], T0, T0 + 3_600_000)
            .is_err()
    );
    let err = s.finish(Ok(())).expect_err("limit");
    assert!(
        matches!(
            err,
            QueryError::Limit {
                limit: "max_series",
                ..
            }
        ),
        "{err}"
    );

    let s = EngineStorage::new(e, &opts);
    assert!(s.select(&[lm("job", QOp::Re, "a(")], T0, T0).is_err());
    let err = s.finish(Ok(())).expect_err("bad regex");
    assert_eq!(err.error_type(), "bad_data", "{err}");
}
