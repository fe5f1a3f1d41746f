//! `Engine::read_points` (what queries read) agrees with `Engine::read` and the merge rule
//! whatever the sources: head only, blocks only, blocks and head, overlapping rewrites with
//! higher versions, late samples older than the blocks.

use std::sync::Arc;

use floe_node::engine::{Engine, EngineConfig, FsyncPolicy, ManualClock};
use floe_storage_format::{Sample, SeriesKey};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn open(dir: &std::path::Path) -> Engine {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    c.fsync = FsyncPolicy::Never;
    Engine::open(c, Arc::new(ManualClock::new(T0 + 86_400_000)))
        .expect("open engine")
        .0
}

fn key() -> SeriesKey {
    SeriesKey::new("load", [("host", "a".to_string())]).expect("key")
}

/// Both reads over several ranges must give the same `(ts, value)` pairs.
fn check(engine: &Engine, what: &str) {
    let r = engine.resolve(&[key()]).expect("resolve")[0];
    for (start, end) in [
        (T0 - 1, T0 + 86_400_000),
        (T0 + 3_600_000, T0 + 7_200_000),
        (T0 + 7_199_999, T0 + 7_200_001),
        (T0 + 50_000_000, T0 + 40_000_000),
    ] {
        let want: Vec<(i64, f64)> = engine
            .read(r, start, end)
            .expect("read")
            .iter()
            .map(|s| (s.ts, s.value))
            .collect();
        let mut got = vec![(0, 0.0)]; // read_points appends
        engine
            .read_points(r, start, end, &mut got)
            .expect("read_points");
        assert_eq!(&got[1..], &want[..], "{what}: [{start}, {end}]");
    }
}

fn write(engine: &Engine, from: i64, to: i64, step: i64, value: f64, version: u64) {
    let rows: Vec<(SeriesKey, Sample)> = (from..to)
        .step_by(step as usize)
        .map(|t| {
            (
                key(),
                Sample::new(t, value + (t - T0) as f64 / 1e4, version),
            )
        })
        .collect();
    engine.write(&rows).expect("write");
}

#[test]
fn read_points_agrees_with_read_over_every_mix_of_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path());
    write(&engine, T0, T0 + 4 * 3_600_000, 10_000, 1.0, 0);
    check(&engine, "head only");
    engine.flush().expect("flush");
    check(&engine, "blocks only");
    write(
        &engine,
        T0 + 4 * 3_600_000,
        T0 + 6 * 3_600_000,
        10_000,
        1.0,
        0,
    );
    check(&engine, "blocks then head");
    // Rewrites of flushed timestamps with a higher version win by the merge rule.
    write(
        &engine,
        T0 + 3_600_000,
        T0 + 2 * 3_600_000,
        30_000,
        100.0,
        7,
    );
    check(&engine, "head rewriting blocks");
    // Late samples between the flushed ones, older than everything in the head.
    write(&engine, T0 + 5_000, T0 + 3_600_000, 20_000, -3.0, 0);
    check(&engine, "late samples");
    engine.flush().expect("flush");
    check(&engine, "overlapping blocks");
    engine.compact().expect("compact");
    check(&engine, "compacted");
}
