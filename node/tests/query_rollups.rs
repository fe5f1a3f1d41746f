//! PromQL over data whose raw samples have expired: `max_over_time`, `min_over_time` and
//! `count_over_time` with windows on bucket boundaries answer from the rollups exactly what
//! they answered from the raw samples; what rollups cannot answer exactly stays unanswered.

use std::sync::Arc;
use std::time::Duration;

use floe_node::engine::{Engine, EngineConfig, FsyncPolicy, ManualClock};
use floe_node::query::EngineStorage;
use floe_query::{QueryOptions, QueryValue, range_query};
use floe_storage_format::{Sample, SeriesKey};

const H: i64 = 3_600_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn query(
    engine: &Arc<Engine>,
    q: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let opts = QueryOptions::default();
    let storage = EngineStorage::new(engine.clone(), &opts);
    match range_query(&storage, q, start, end, step, &opts) {
        Ok((QueryValue::Matrix(m), _)) => m
            .into_iter()
            .map(|s| (s.labels.to_string(), s.points))
            .collect(),
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn aligned_max_min_count_survive_raw_retention_through_rollups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mut c = EngineConfig::new(dir.path());
    c.background = false;
    c.fsync = FsyncPolicy::Never;
    c.raw_retention = Duration::from_secs(86_400);
    let engine = Arc::new(Engine::open(c, clock.clone()).expect("open").0);
    let rows: Vec<(SeriesKey, Sample)> = (0..720)
        .flat_map(|i| {
            let t = T0 + i * 10_000;
            ["a", "b"].map(|host| {
                let key = SeriesKey::new("load", [("host", host.to_string())]).expect("key");
                let v = ((i * 31) % 97) as f64 / 4.0 + if host == "a" { 0.0 } else { 100.0 };
                (key, Sample::new(t, v, 0))
            })
        })
        .collect();
    engine.write(&rows).expect("write");
    engine.flush().expect("flush");
    clock.set(T0 + 4 * H);
    engine.compact().expect("compact builds rollups");

    let asked = [
        ("max_over_time(load[1h])", H),
        ("min_over_time(load[5m])", 5 * 60_000),
        ("count_over_time(load[10m])", 60_000),
        ("max_over_time(load[30m] offset 1h)", 60_000 * 15),
    ];
    let from_raw: Vec<_> = asked
        .iter()
        .map(|(q, step)| query(&engine, q, T0 + H, T0 + 2 * H, *step))
        .collect();
    let sums_from_raw = query(&engine, "sum_over_time(load[1h])", T0 + H, T0 + 2 * H, H);
    assert!(!sums_from_raw.is_empty());

    clock.set(T0 + 3 * 86_400_000);
    let report = engine.compact().expect("compact");
    assert!(report.expired >= 1, "{report:?}");
    assert!(
        query(&engine, "load", T0 + H, T0 + 2 * H, H).is_empty(),
        "the raw samples are gone"
    );
    for ((q, step), want) in asked.iter().zip(&from_raw) {
        assert!(!want.is_empty(), "{q}: nothing to compare");
        assert_eq!(&query(&engine, q, T0 + H, T0 + 2 * H, *step), want, "{q}");
    }
    // Sums of bucket sums are not bit for bit the sums of the samples: not answered.
    assert!(query(&engine, "sum_over_time(load[1h])", T0 + H, T0 + 2 * H, H).is_empty());
}
