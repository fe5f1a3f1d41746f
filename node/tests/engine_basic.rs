//! The storage engine end to end on one node: writes, reads across head and blocks, restart,
//! compaction, rollups, retention, digests, corruption.

use std::sync::Arc;
use std::time::Duration;

use floe_node::engine::{Engine, EngineConfig, FsyncPolicy, ManualClock};
use floe_node::index::{MatchOp, Matcher};
use floe_storage_format::{Digest, Sample, SeriesKey};

const H: i64 = 3_600_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a day boundary

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    c.fsync = FsyncPolicy::Never;
    c
}

fn key(host: usize, metric: &str) -> SeriesKey {
    SeriesKey::new(
        metric,
        [("host", format!("h{host}")), ("dc", "eu".to_string())],
    )
    .expect("valid key")
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Engine {
    Engine::open(config(dir), clock.clone())
        .expect("open engine")
        .0
}

/// Writes `hosts` × 2 metrics every 10 s over `[from, to)`.
fn load(engine: &Engine, hosts: usize, from: i64, to: i64) -> Vec<(SeriesKey, Sample)> {
    let mut all = Vec::new();
    let mut t = from;
    while t < to {
        let rows: Vec<(SeriesKey, Sample)> = (0..hosts)
            .flat_map(|h| {
                ["cpu", "mem"].map(|m| {
                    (
                        key(h, m),
                        Sample::new(t, ((t / 10_000) % 100 + h as i64) as f64 / 4.0, 0),
                    )
                })
            })
            .collect();
        engine.write(&rows).expect("write");
        all.extend(rows);
        t += 10_000;
    }
    all
}

fn digest_of(rows: &[(SeriesKey, Sample)]) -> Digest {
    let mut by_series: std::collections::HashMap<_, Vec<Sample>> = Default::default();
    for (k, s) in rows {
        by_series.entry(k.id()).or_default().push(*s);
    }
    by_series
        .into_iter()
        .map(|(id, mut v)| {
            floe_storage_format::normalize(&mut v);
            v.iter().map(|s| Digest::of_sample(id, s)).sum::<Digest>()
        })
        .sum()
}

#[test]
fn reads_merge_head_and_blocks_and_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    let rows = load(&engine, 5, T0, T0 + H);
    engine.flush().expect("flush");
    let more = load(&engine, 5, T0 + H, T0 + 3 * H); // crosses a partition boundary
    let all: Vec<_> = rows.iter().chain(&more).cloned().collect();
    let r = engine.resolve(&[key(3, "cpu")]).expect("resolve")[0];
    let samples = engine.read(r, T0, T0 + 3 * H).expect("read");
    assert_eq!(samples.len(), 3 * 360);
    assert_eq!(
        engine.digest(i64::MIN, i64::MAX).expect("digest"),
        digest_of(&all)
    );
    drop(engine);

    // Restart: blocks plus WAL replay give the same state.
    let engine = open(dir.path(), &clock);
    assert_eq!(
        engine.digest(i64::MIN, i64::MAX).expect("digest"),
        digest_of(&all)
    );
    let matchers = [Matcher::new(MatchOp::Equal, "__name__", "cpu").expect("matcher")];
    assert_eq!(engine.select(&matchers).len(), 5);
}

#[test]
fn duplicates_reorders_and_corrections_follow_the_merge_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    let k = key(1, "cpu");
    engine
        .write(&[(k.clone(), Sample::new(T0 + 20_000, 2.0, 0))])
        .expect("write");
    engine
        .write(&[(k.clone(), Sample::new(T0 + 10_000, 1.0, 0))])
        .expect("write");
    engine.flush().expect("flush");
    engine
        .write(&[(k.clone(), Sample::new(T0 + 10_000, 1.0, 0))])
        .expect("duplicate");
    engine
        .write(&[(k.clone(), Sample::new(T0 + 20_000, 0.5, 3))])
        .expect("correction");
    let r = engine.resolve(&[k]).expect("resolve")[0];
    let want = vec![
        Sample::new(T0 + 10_000, 1.0, 0),
        Sample::new(T0 + 20_000, 0.5, 3),
    ];
    assert_eq!(engine.read(r, T0, T0 + H).expect("read"), want);
    engine.flush().expect("flush");
    assert_eq!(engine.read(r, T0, T0 + H).expect("read"), want);
}

#[test]
fn replaying_shuffled_and_duplicated_input_gives_the_same_digest() {
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let clock = Arc::new(ManualClock::new(T0));
    let a = open(dirs[0].path(), &clock);
    let rows = load(&a, 4, T0, T0 + 2 * H);
    let b = open(dirs[1].path(), &clock);
    let mut noisy: Vec<_> = rows
        .iter()
        .cloned()
        .chain(rows.iter().step_by(3).cloned())
        .collect();
    let mut seed = 7u64;
    for i in (1..noisy.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        noisy.swap(i, (seed >> 33) as usize % (i + 1));
    }
    for (i, chunk) in noisy.chunks(97).enumerate() {
        b.write(chunk).expect("write");
        if i % 20 == 0 {
            b.flush().expect("flush");
        }
    }
    let da = a.digest(i64::MIN, i64::MAX).expect("digest");
    assert_eq!(da, b.digest(i64::MIN, i64::MAX).expect("digest"));
    assert_eq!(
        a.partition_digests(T0, T0 + 2 * H - 1).expect("d"),
        b.partition_digests(T0, T0 + 2 * H - 1).expect("d")
    );
    b.compact().expect("compact");
    assert_eq!(da, b.digest(i64::MIN, i64::MAX).expect("digest"));
}

#[test]
fn compaction_merges_partitions_then_days_and_builds_rollups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    let mut all = Vec::new();
    for hour in 0..24 {
        all.extend(load(&engine, 3, T0 + hour * H, T0 + (hour + 1) * H));
        engine.flush().expect("flush");
    }
    let before = engine.digest(i64::MIN, i64::MAX).expect("digest");
    assert_eq!(before, digest_of(&all));
    clock.set(T0 + 26 * H); // the day and its partitions are closed
    let report = engine.compact().expect("compact");
    assert!(report.spans_merged >= 1, "{report:?}");
    assert_eq!(engine.digest(i64::MIN, i64::MAX).expect("digest"), before);
    let r = engine.resolve(&[key(2, "mem")]).expect("resolve")[0];
    let raw = engine.read(r, T0, T0 + 24 * H).expect("read");
    let hourly = engine.read_rollup(r, H, T0, T0 + 24 * H).expect("rollup");
    assert_eq!(hourly.len(), 24);
    assert_eq!(hourly.count.iter().sum::<u64>(), raw.len() as u64);
    assert_eq!(hourly.first[0], raw[0].value);
    drop(engine);
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.digest(i64::MIN, i64::MAX).expect("digest"), before);
    let files = std::fs::read_dir(dir.path().join("blocks"))
        .expect("blocks")
        .count();
    // One raw day block and one rollup block per resolution.
    assert_eq!(
        files,
        1 + engine.config().rollups.len(),
        "blocks after day compaction"
    );
}

#[test]
fn retention_deletes_old_raw_blocks_and_keeps_rollups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mut c = config(dir.path());
    c.raw_retention = Duration::from_secs(86_400);
    let (engine, _) = Engine::open(c, clock.clone()).expect("open");
    load(&engine, 2, T0, T0 + 2 * H);
    engine.flush().expect("flush");
    clock.set(T0 + 4 * H);
    engine.compact().expect("compact builds rollups");
    let r = engine.resolve(&[key(0, "cpu")]).expect("resolve")[0];
    let before = engine
        .read_rollup(r, 60_000, T0, T0 + 2 * H)
        .expect("rollup");
    clock.set(T0 + 3 * 86_400_000);
    let report = engine.compact().expect("compact");
    assert!(report.expired >= 1);
    assert!(engine.read(r, T0, T0 + 2 * H).expect("read").is_empty());
    assert_eq!(
        engine
            .read_rollup(r, 60_000, T0, T0 + 2 * H)
            .expect("rollup"),
        before
    );
}

#[test]
fn a_corrupt_chunk_is_quarantined_and_other_series_stay_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    load(&engine, 20, T0, T0 + H);
    engine.flush().expect("flush");
    let keys: Vec<SeriesKey> = (0..20)
        .flat_map(|h| [key(h, "cpu"), key(h, "mem")])
        .collect();
    let refs = engine.resolve(&keys).expect("resolve");
    drop(engine);
    let block = std::fs::read_dir(dir.path().join("blocks"))
        .expect("ls")
        .next()
        .expect("a block")
        .expect("entry")
        .path();
    // Flip a byte in the middle of the chunk area.
    let mut bytes = std::fs::read(&block).expect("read block");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x40;
    std::fs::write(&block, &bytes).expect("write block");
    let engine = open(dir.path(), &clock);
    let mut corrupt = 0;
    let mut ok = 0;
    for r in &refs {
        match engine.read(*r, T0, T0 + H) {
            Ok(s) => {
                assert!(s.is_empty() || s.len() == 360);
                ok += 1;
            }
            Err(e) => {
                assert!(e.to_string().contains("corrupt"), "{e}");
                corrupt += 1;
            }
        }
    }
    assert_eq!(corrupt, 1, "exactly the damaged series fails");
    assert_eq!(ok, 39);
    assert_eq!(
        std::fs::read_dir(dir.path().join("quarantine"))
            .expect("ls")
            .count(),
        1
    );
    assert_eq!(
        engine
            .metrics()
            .blocks_quarantined_total
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The others still read after a restart.
    drop(engine);
    let engine = open(dir.path(), &clock);
    let readable = refs
        .iter()
        .filter(|r| engine.read(**r, T0, T0 + H).is_ok_and(|s| s.len() == 360))
        .count();
    assert_eq!(readable, 39);
}

#[test]
fn a_second_engine_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let _engine = open(dir.path(), &clock);
    let err = Engine::open(config(dir.path()), clock.clone()).expect_err("locked");
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn a_torn_wal_tail_is_reported_and_everything_before_it_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    let rows = load(&engine, 3, T0, T0 + 10 * 10_000);
    drop(engine); // no flush: everything is in the WAL only
    let (_, seg) = std::fs::read_dir(dir.path().join("wal"))
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .map(|p| (std::fs::metadata(&p).expect("stat").len(), p))
        .max()
        .expect("a segment");
    let len = std::fs::metadata(&seg).expect("stat").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open segment");
    file.set_len(len - 5).expect("truncate mid-record");
    drop(file);
    let (engine, report) = Engine::open(config(dir.path()), clock.clone()).expect("reopen");
    assert_eq!(report.wal_problems.len(), 1, "{report:?}");
    assert!(report.wal_problems[0].contains("torn"), "{report:?}");
    assert_eq!(
        engine
            .metrics()
            .wal_torn_tails_total
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The last batch (one record) is gone; every earlier one is intact.
    let kept: Vec<_> = rows[..rows.len() - 6].to_vec();
    assert_eq!(
        engine.digest(i64::MIN, i64::MAX).expect("digest"),
        digest_of(&kept)
    );
}

#[test]
fn concurrent_writers_with_fsync_always_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let mut c = config(dir.path());
    c.fsync = FsyncPolicy::Always;
    let (engine, _) = Engine::open(c.clone(), clock.clone()).expect("open");
    let engine = Arc::new(engine);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let mut rows = Vec::new();
                for i in 0..50 {
                    let row = (key(t, "cpu"), Sample::new(T0 + i * 1000, i as f64, 0));
                    engine.write(std::slice::from_ref(&row)).expect("write");
                    rows.push(row);
                }
                rows
            })
        })
        .collect();
    let rows: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("writer"))
        .collect();
    let fsyncs = engine
        .metrics()
        .wal_fsyncs_total
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=4 * 50 + 8).contains(&fsyncs), "{fsyncs} fsyncs");
    drop(engine);
    let (engine, _) = Engine::open(c, clock).expect("reopen");
    assert_eq!(
        engine.digest(i64::MIN, i64::MAX).expect("digest"),
        digest_of(&rows)
    );
}

#[test]
fn a_block_missing_after_an_interrupted_quarantine_does_not_stop_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    load(&engine, 2, T0, T0 + H);
    engine.flush().expect("flush");
    drop(engine);
    // As if a start had moved the block aside and died before rewriting the manifest.
    let block = std::fs::read_dir(dir.path().join("blocks"))
        .expect("ls")
        .next()
        .expect("a block")
        .expect("entry")
        .path();
    std::fs::rename(&block, dir.path().join("quarantine").join("moved.blk")).expect("move");
    let (engine, report) =
        Engine::open(config(dir.path()), clock.clone()).expect("recovery goes on");
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert_eq!(
        engine
            .metrics()
            .repair_marks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(engine);
    Engine::open(config(dir.path()), clock).expect("and again");
}

#[test]
fn timestamps_outside_the_storable_range_are_refused_and_wide_reads_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    let k = key(0, "cpu");
    let err = engine
        .write(&[(k.clone(), Sample::new(i64::MAX - 5, 1.0, 0))])
        .expect_err("too late");
    assert!(
        err.to_string().contains("out of the storable range"),
        "{err}"
    );
    engine
        .write(&[(k.clone(), Sample::new(T0, 1.0, 0))])
        .expect("write");
    let r = engine.resolve(&[k]).expect("resolve")[0];
    assert_eq!(engine.read(r, i64::MIN, i64::MAX).expect("read").len(), 1);
    assert_eq!(
        engine
            .read_rollup(r, 60_000, i64::MIN, i64::MAX)
            .expect("rollup")
            .len(),
        1
    );
    engine.flush().expect("flush");
    // A late sample older than every block is still rolled up from the head.
    engine
        .write(&[(key(0, "cpu"), Sample::new(T0 - 3 * H, 2.0, 0))])
        .expect("late write");
    assert_eq!(
        engine
            .read_rollup(r, H, T0 - 4 * H, T0 + H)
            .expect("rollup")
            .len(),
        2
    );
    assert!(
        engine
            .partition_digests(i64::MAX - H, i64::MAX)
            .expect("digests")
            .iter()
            .all(|(_, d)| *d == floe_storage_format::Digest::EMPTY)
    );
}
