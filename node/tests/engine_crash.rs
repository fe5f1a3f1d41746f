//! Crash test of the storage engine: this test binary re-runs itself as a child process that
//! writes with `fsync = always` and is killed with SIGKILL at seeded random moments — while it
//! appends, flushes, compacts or recovers — and then restarted on the same directory. Every
//! restart first checks the recovered state: every acknowledged sample is present, the one
//! batch that may have been in flight is there entirely or not at all, and nothing else
//! changed. A last run flushes, compacts, reopens and checks the rollups as well.
//!
//! The seed is printed; replay a run with
//! `FLOE_CRASH_SEED=<seed> cargo test -p floe-node --test engine_crash -- --nocapture`
//! (the data and the kill schedule are the seed's; where a kill lands also depends on timing).
//! `FLOE_CRASH_CYCLES=<n>` runs more kills.

#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_node::engine::{Engine, EngineConfig, FsyncPolicy, ManualClock, RollupLevel};
use floe_node::index::SeriesRef;
use floe_storage_format::rollup::{RollupColumns, rollup};
use floe_storage_format::{Digest, STALE_NAN_BITS, Sample, SeriesKey, normalize};

const SEED_ENV: &str = "FLOE_CRASH_SEED";
const CYCLES_ENV: &str = "FLOE_CRASH_CYCLES";
const CHILD_DIR_ENV: &str = "FLOE_CRASH_CHILD_DIR";
const CHILD_SEED_ENV: &str = "FLOE_CRASH_CHILD_SEED";
const CHILD_ACKED_ENV: &str = "FLOE_CRASH_CHILD_ACKED";
const CHILD_MODE_ENV: &str = "FLOE_CRASH_CHILD_MODE";
const CHILD_LIMIT_ENV: &str = "FLOE_CRASH_CHILD_LIMIT";

/// Prefix of every line the child reports on (libtest may print on the same line).
const MARK: &str = "floe-crash: ";
const DEFAULT_CYCLES: usize = 80;
/// Batches a child writes at most (a guard should the parent never kill it).
const CHILD_MAX_BATCHES: u64 = 400;

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// Data starts 30 minutes before a day boundary (2026-01-01T00:00:00Z), so the run crosses it
/// and the first day gets closed and merged.
const T0: i64 = 1_767_225_600_000 - 30 * MIN;
/// Time between the in-order samples of consecutive batches.
const STEP: i64 = 10_000;

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/// SplitMix64: small, seeded, reproducible.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next_u64() as usize % items.len()]
    }
}

// ---------------------------------------------------------------------------------------------
// The workload: parameters from the seed, batches from (batch number, parameters)

/// What the seed decides about the workload and the engine's configuration.
#[derive(Debug, Clone)]
struct Params {
    series: usize,
    partition_ms: i64,
    late_grace_ms: i64,
    /// How far the clock runs ahead of the newest data.
    lead_ms: i64,
    flush_every: u64,
    compact_every: u64,
    max_blocks: usize,
    wal_segment_bytes: u64,
}

impl Params {
    fn from_seed(seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0x5eed_5eed_5eed_5eed);
        Params {
            series: rng.range(24, 40) as usize,
            partition_ms: rng.pick(&[5 * MIN, 10 * MIN]),
            late_grace_ms: rng.pick(&[MIN, 2 * MIN]),
            lead_ms: rng.range(1, 8) as i64 * MIN,
            flush_every: rng.range(8, 20),
            compact_every: rng.range(12, 30),
            max_blocks: rng.range(2, 6) as usize,
            wal_segment_bytes: rng.pick(&[1 << 16, 1 << 20]),
        }
    }

    fn config(&self, dir: &std::path::Path) -> EngineConfig {
        let mut c = EngineConfig::new(dir);
        c.fsync = FsyncPolicy::Always;
        c.background = false;
        c.partition_ms = self.partition_ms;
        c.late_grace = Duration::from_millis(self.late_grace_ms as u64);
        c.max_blocks_per_partition = self.max_blocks;
        c.wal_segment_bytes = self.wal_segment_bytes;
        c.rollups = vec![
            RollupLevel {
                resolution_ms: MIN,
                retention: Duration::from_secs(90 * 86_400),
            },
            RollupLevel {
                resolution_ms: 5 * MIN,
                retention: Duration::from_secs(365 * 86_400),
            },
        ];
        c
    }

    /// Series written by batch `b`: a quarter at first, one more every third batch, so new
    /// series keep being created while kills happen.
    fn active(&self, b: u64) -> usize {
        (self.series / 4 + (b / 3) as usize).min(self.series)
    }
}

fn key(s: usize) -> SeriesKey {
    SeriesKey::new(
        "crash_metric",
        [("host", format!("h{}", s % 8)), ("core", format!("c{s}"))],
    )
    .expect("valid key")
}

/// Timestamp of batch `b`'s in-order samples.
fn ts_of(b: u64) -> i64 {
    T0 + b as i64 * STEP
}

fn clock_at(b: u64, p: &Params) -> i64 {
    ts_of(b) + p.lead_ms
}

fn value(b: u64, s: usize) -> f64 {
    (b.wrapping_mul(7_919).wrapping_add(s as u64 * 104_729) % 100_003) as f64 / 8.0
}

fn in_order(b: u64, s: usize) -> Sample {
    Sample::new(ts_of(b) + (s % 4) as i64, value(b, s), 0)
}

/// The samples of batch `b` as `(series index, sample)`: one in-order sample per active
/// series, plus, depending on `b`, late samples two or three partitions back, exact
/// duplicates of an earlier batch, corrections (higher versions, and a same-version higher
/// value) of an earlier batch, a stale marker, and a burst of samples that makes the WAL
/// record many pages long.
fn batch(b: u64, p: &Params) -> Vec<(usize, Sample)> {
    let n = p.active(b);
    let t = ts_of(b);
    let mut out: Vec<(usize, Sample)> = (0..n).map(|s| (s, in_order(b, s))).collect();
    if b % 7 == 3 {
        let back = (2 + (b / 7) % 2) as i64 * p.partition_ms;
        for s in ((b % 3) as usize..n).step_by(3) {
            let ts = t - back + 5_000 + (s % 4) as i64;
            out.push((s, Sample::new(ts, value(b, s) + 0.5, 0)));
        }
    }
    if b % 5 == 2 && b >= 8 {
        let e = b - 1 - (b / 5) % 7;
        for s in (0..p.active(e)).step_by(2) {
            out.push((s, in_order(e, s)));
        }
    }
    if b % 11 == 6 && b >= 20 {
        let e = b - 2 - (b / 11) % 17;
        for s in ((b % 4) as usize..p.active(e)).step_by(4) {
            let old = in_order(e, s);
            let version = 1 + (b / 11) % 3;
            out.push((s, Sample::new(old.ts, -old.value, version)));
            // Same version as the original, higher value: wins over it, loses to the above.
            let s2 = (s + 1) % p.active(e);
            let old2 = in_order(e, s2);
            out.push((s2, Sample::new(old2.ts, old2.value + 1_000.0, 0)));
        }
    }
    if b % 13 == 9 {
        out.push((
            n - 1,
            Sample::new(t + 7_000, f64::from_bits(STALE_NAN_BITS), 0),
        ));
    }
    if let Some((s, _)) = big_copies(b, p) {
        for i in 0..BIG_SAMPLES {
            let x = Sample::new(t + 10 + 3 * i as i64, value(b, s) + i as f64 / 4.0, 0);
            out.push((s, x));
        }
    }
    if b % 2 == 1 {
        out.reverse();
    }
    out
}

/// Every `BIG_EVERY`-th batch is big: `BIG_SAMPLES` more samples of one series, and
/// `BIG_COPIES` copies of one sample the batch already holds, which make its WAL record about
/// 400 KB: a kill can tear a write that long (the kernel stops a write between pages).
const BIG_EVERY: u64 = 16;
const BIG_SAMPLES: usize = 500;
const BIG_COPIES: usize = 40_000;

fn is_big(b: u64) -> bool {
    b % BIG_EVERY == 11
}

/// The series and the sample that batch `b` repeats `BIG_COPIES` times, if it is big. The
/// child appends the copies with the batch; the expected state leaves them out: exact
/// duplicates of a sample in the same batch cannot change it (the merge rule is idempotent),
/// and leaving them out keeps the expected state cheap to compute.
fn big_copies(b: u64, p: &Params) -> Option<(usize, Sample)> {
    if !is_big(b) {
        return None;
    }
    let s = (b / BIG_EVERY) as usize % p.active(b);
    Some((s, in_order(b, s)))
}

/// The state after batches `0..next`, and after batches `0..=next` (the one that may have been
/// in flight), per series, by the merge rule.
struct Expected {
    without: Vec<Vec<Sample>>,
    with: Vec<Vec<Sample>>,
}

fn expected(p: &Params, next: u64) -> Expected {
    let mut without: Vec<Vec<Sample>> = vec![Vec::new(); p.series];
    for b in 0..next {
        for (s, x) in batch(b, p) {
            without[s].push(x);
        }
    }
    let mut with = without.clone();
    for (s, x) in batch(next, p) {
        with[s].push(x);
    }
    for v in without.iter_mut().chain(with.iter_mut()) {
        normalize(v);
    }
    Expected { without, with }
}

fn digest_of(state: &[Vec<Sample>]) -> Digest {
    state
        .iter()
        .enumerate()
        .flat_map(|(s, v)| {
            let id = key(s).id();
            v.iter().map(move |x| Digest::of_sample(id, x))
        })
        .sum()
}

/// The batch a timestamp was written by (for messages).
fn batch_of(ts: i64) -> i64 {
    (ts - T0).div_euclid(STEP)
}

/// What differs between a series' stored and expected samples, briefly.
fn diff(actual: &[Sample], want: &[Sample]) -> String {
    let a: BTreeMap<i64, Sample> = actual.iter().map(|s| (s.ts, *s)).collect();
    let w: BTreeMap<i64, Sample> = want.iter().map(|s| (s.ts, *s)).collect();
    let show = |v: Vec<String>| -> String {
        let n = v.len();
        let mut s = v.into_iter().take(3).collect::<Vec<_>>().join(", ");
        if n > 3 {
            s.push_str(&format!(", … ({n} in all)"));
        }
        s
    };
    let missing: Vec<String> = w
        .values()
        .filter(|s| !a.contains_key(&s.ts))
        .map(|s| format!("{s:?} (batch ~{})", batch_of(s.ts)))
        .collect();
    let extra: Vec<String> = a
        .values()
        .filter(|s| !w.contains_key(&s.ts))
        .map(|s| format!("{s:?} (batch ~{})", batch_of(s.ts)))
        .collect();
    let changed: Vec<String> = a
        .values()
        .filter_map(|s| {
            let x = w.get(&s.ts)?;
            (x != s).then(|| format!("stored {s:?} expected {x:?} (batch ~{})", batch_of(s.ts)))
        })
        .collect();
    format!(
        "{} stored, {} expected; missing [{}]; extra [{}]; changed [{}]",
        actual.len(),
        want.len(),
        show(missing),
        show(extra),
        show(changed)
    )
}

// ---------------------------------------------------------------------------------------------
// The child

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{MARK}{line}");
    let _ = out.flush();
}

fn env_u64(name: &str) -> u64 {
    let v = std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    v.parse()
        .unwrap_or_else(|e| panic!("{name}={v} is not a number: {e}"))
}

/// Whether the in-flight batch is in the recovered state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inflight {
    Present,
    Absent,
}

/// Compares the engine's whole state with the expected one; returns which of the two allowed
/// states it is, or what is wrong.
fn verify(engine: &Engine, p: &Params, exp: &Expected) -> Result<Inflight, String> {
    let mut actual = Vec::with_capacity(p.series);
    for s in 0..p.series {
        let stored = match engine.lookup(key(s).id()) {
            Some(r) => engine
                .read(r, i64::MIN, i64::MAX)
                .map_err(|e| format!("read of series {s} failed: {e}"))?,
            None => Vec::new(),
        };
        actual.push(stored);
    }
    let matches = |want: &[Vec<Sample>]| actual.iter().zip(want).all(|(a, w)| a == w);
    let (which, want) = if matches(&exp.without) {
        (Inflight::Absent, &exp.without)
    } else if matches(&exp.with) {
        (Inflight::Present, &exp.with)
    } else {
        let mut msg = String::from(
            "the recovered state is neither 'acknowledged batches' nor 'acknowledged batches \
             plus the whole in-flight batch':",
        );
        let mut shown = 0;
        for (s, ((a, wo), wi)) in actual.iter().zip(&exp.without).zip(&exp.with).enumerate() {
            if a != wo || a != wi {
                if a == wo || a == wi {
                    let which = if a == wo { "without" } else { "with" };
                    msg.push_str(&format!(
                        " | series {s}: matches only the state {which} the in-flight batch"
                    ));
                } else {
                    msg.push_str(&format!(
                        " | series {s}: vs without in-flight: {}; vs with: {}",
                        diff(a, wo),
                        diff(a, wi)
                    ));
                }
                shown += 1;
                if shown == 6 {
                    msg.push_str(" | …");
                    break;
                }
            }
        }
        return Err(msg);
    };
    // Nothing else: no unknown series, and the digest over everything agrees.
    let known: BTreeSet<String> = (0..p.series).map(|s| key(s).to_string()).collect();
    for (r, k) in engine.select(&[]) {
        if !known.contains(&k.to_string()) {
            return Err(format!("unexpected series {k} (ref {})", r.0));
        }
    }
    for (s, v) in want.iter().enumerate() {
        if !v.is_empty() && engine.lookup(key(s).id()).is_none() {
            return Err(format!("series {s} has samples but is not in the index"));
        }
    }
    let stored = engine
        .digest(i64::MIN, i64::MAX)
        .map_err(|e| format!("digest failed: {e}"))?;
    let digest = digest_of(want);
    if stored != digest {
        return Err(format!(
            "digest {stored} differs from the expected {digest}"
        ));
    }
    Ok(which)
}

/// Bucket range covering every sample of the run with room to spare.
fn rollup_range(next: u64) -> (i64, i64) {
    (T0 - DAY, ts_of(next) + DAY)
}

/// The rollups read from the engine equal the rollups of the expected samples.
fn check_rollups(engine: &Engine, state: &[Vec<Sample>], next: u64) -> Result<(), String> {
    let (lo, hi) = rollup_range(next);
    let mut want = RollupColumns::new(MIN);
    for (s, samples) in state.iter().enumerate() {
        let Some(r) = engine.lookup(key(s).id()) else {
            continue;
        };
        let ts: Vec<i64> = samples.iter().map(|x| x.ts).collect();
        let values: Vec<f64> = samples.iter().map(|x| x.value).collect();
        for res in [MIN, 5 * MIN] {
            rollup(&ts, &values, res, &mut want).map_err(|e| format!("rollup: {e}"))?;
            let got = engine
                .read_rollup(r, res, lo, hi)
                .map_err(|e| format!("read_rollup of series {s} at {res} ms: {e}"))?;
            if got != want {
                return Err(format!(
                    "series {s}: rollup at {res} ms has {} rows, expected {} (first stored {:?}, \
                     first expected {:?})",
                    got.len(),
                    want.len(),
                    got.ts.first(),
                    want.ts.first()
                ));
            }
        }
    }
    Ok(())
}

fn open_and_report(p: &Params, dir: &std::path::Path, clock: &Arc<ManualClock>) -> Engine {
    say("open start");
    let t = Instant::now();
    let (engine, report) = Engine::open(p.config(dir), clock.clone()).expect("open engine");
    say(&format!("opened us={}", t.elapsed().as_micros()));
    for problem in &report.wal_problems {
        say(&format!("wal_problem {problem}"));
    }
    for orphan in &report.orphans_removed {
        say(&format!("orphan {orphan}"));
    }
    if !report.quarantined.is_empty() || report.orphan_samples != 0 {
        fail(&format!(
            "recovery after a kill quarantined blocks {:?} / dropped {} WAL samples of undefined \
             series: {report:?}",
            report.quarantined, report.orphan_samples
        ));
    }
    engine
}

fn fail(msg: &str) -> ! {
    say(&format!("MISMATCH {msg}"));
    std::process::exit(3)
}

/// Verifies the recovered state and reports it; returns the expected state narrowed to the one
/// found (with or without the in-flight batch).
fn child_verify(engine: &Engine, p: &Params, next: u64, acked: &str) -> Expected {
    let t = Instant::now();
    let exp = expected(p, next);
    let expected_us = t.elapsed().as_micros();
    match verify(engine, p, &exp) {
        Ok(which) => {
            let inflight = match which {
                Inflight::Present => "present",
                Inflight::Absent => "absent",
            };
            say(&format!(
                "verified acked={acked} inflight={inflight} series={} expected_us={expected_us} \
                 verify_us={}",
                engine.series_count(),
                t.elapsed().as_micros() - expected_us
            ));
            let state = match which {
                Inflight::Present => exp.with.clone(),
                Inflight::Absent => exp.without.clone(),
            };
            Expected {
                without: state.clone(),
                with: state,
            }
        }
        Err(msg) => fail(&format!("acked={acked}: {msg}")),
    }
}

/// The last run: everything flushed, every partition and day closed and compacted, reopened,
/// then the raw data expired so the rollups are read from rollup blocks.
fn child_final(
    engine: Engine,
    p: &Params,
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    next: u64,
    exp: &Expected,
) {
    let state = &exp.with;
    let check = |engine: &Engine, what: &str| match verify(engine, p, exp) {
        Ok(_) => {}
        Err(msg) => fail(&format!("final, {what}: {msg}")),
    };
    engine.flush().expect("flush");
    check(&engine, "after flush");
    // Every partition and day closed (raw retention is still 15 days).
    clock.set(ts_of(next) + 2 * DAY);
    let report = engine.compact().expect("compact");
    check(&engine, "after closing compaction");
    if let Err(msg) = check_rollups(&engine, state, next) {
        fail(&format!("final, rollups from raw data: {msg}"));
    }
    engine.close().expect("close");
    drop(engine);
    let engine = open_and_report(p, dir, clock);
    check(&engine, "after reopening");
    drop(engine);
    // Reopen with a short raw retention: the raw blocks go, the rollup blocks answer.
    clock.set(ts_of(next) + 4 * DAY);
    let mut config = p.config(dir);
    config.raw_retention = Duration::from_secs(3_600);
    let (engine, _) = Engine::open(config, clock.clone()).expect("reopen");
    let expired = engine.compact().expect("compact").expired;
    for s in 0..p.series {
        if let Some(r) = engine.lookup(key(s).id()) {
            let left = engine.read(r, i64::MIN, i64::MAX).expect("read");
            if !left.is_empty() {
                fail(&format!(
                    "series {s}: {} raw samples left after retention",
                    left.len()
                ));
            }
        }
    }
    if let Err(msg) = check_rollups(&engine, state, next) {
        fail(&format!("final, rollups from rollup blocks: {msg}"));
    }
    say(&format!(
        "final ok spans_merged={} rollup_blocks={} raw_blocks_expired={expired}",
        report.spans_merged, report.rollup_blocks
    ));
}

/// Runs only as the child of `a_killed_writer_recovers_every_acknowledged_sample`.
#[test]
#[ignore = "child process of the crash test"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        panic!(
            "crash_child is the child process of the crash test and needs {CHILD_DIR_ENV}; run \
             `cargo test -p floe-node --test engine_crash` instead"
        );
    };
    let dir = std::path::PathBuf::from(dir);
    let seed = env_u64(CHILD_SEED_ENV);
    let acked = std::env::var(CHILD_ACKED_ENV).expect(CHILD_ACKED_ENV);
    let next = if acked == "-" {
        0
    } else {
        acked.parse::<u64>().expect("acked batch") + 1
    };
    let final_run = std::env::var(CHILD_MODE_ENV).is_ok_and(|m| m == "final");
    let limit = env_u64(CHILD_LIMIT_ENV);
    let p = Params::from_seed(seed);
    let clock = Arc::new(ManualClock::new(clock_at(next, &p)));
    let engine = open_and_report(&p, &dir, &clock);
    let exp = child_verify(&engine, &p, next, &acked);
    if final_run {
        child_final(engine, &p, &dir, &clock, next, &exp);
        return;
    }
    let keys: Vec<SeriesKey> = (0..p.series).map(key).collect();
    for b in next..limit {
        clock.set(clock_at(b, &p));
        let rows = batch(b, &p);
        let refs: Vec<SeriesRef> = engine.resolve(&keys[..p.active(b)]).expect("resolve");
        let mut items: Vec<(SeriesRef, Sample)> = rows.iter().map(|&(s, x)| (refs[s], x)).collect();
        if let Some((s, x)) = big_copies(b, &p) {
            items.extend(std::iter::repeat_n((refs[s], x), BIG_COPIES));
        }
        if is_big(b) {
            say(&format!("big {b}"));
        }
        engine.append(&items).expect("append");
        say(&format!("ack {b}"));
        if (b + 1) % p.flush_every == 0 {
            say("flush start");
            let t = Instant::now();
            let r = engine.flush().expect("flush");
            say(&format!(
                "flush end blocks={} us={}",
                r.blocks,
                t.elapsed().as_micros()
            ));
        }
        if (b + 1) % p.compact_every == 0 {
            say("compact start");
            let t = Instant::now();
            let r = engine.compact().expect("compact");
            say(&format!(
                "compact end spans={} merged={} rollups={} us={}",
                r.spans_merged,
                r.blocks_merged,
                r.rollup_blocks,
                t.elapsed().as_micros()
            ));
        }
    }
    say("limit reached");
}

// ---------------------------------------------------------------------------------------------
// The parent

/// When to kill the child.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// This long after the spawn (process start, recovery, verification).
    Startup(Duration),
    /// After the n-th acknowledgement (1-based; 0 = right after verification), then a delay.
    Ack(u64, Duration),
    /// After the n-th `flush start`, then a delay.
    Flush(u64, Duration),
    /// After the n-th `compact start`, then a delay.
    Compact(u64, Duration),
    /// After the n-th `big` (a many-page WAL record is about to be written), then a delay.
    Big(u64, Duration),
}

impl Trigger {
    /// Kills meant to land in a startup, flush or compaction are spread over how long one
    /// takes (`t`); `t.big` is the window in which the write of a big record is believed to
    /// happen (after its `big` line).
    fn pick(rng: &mut Rng, t: &Timings) -> Trigger {
        let within = |rng: &mut Rng, d: Duration| d.mul_f64(rng.range(0, 1_200) as f64 / 1_000.0);
        let delay = match rng.range(0, 3) {
            0 => 0,
            1 => rng.range(0, 200),
            2 => rng.range(0, 2_000),
            _ => rng.range(0, 20_000),
        };
        let delay = Duration::from_micros(delay);
        // Early in the operation (short delays) or anywhere in it.
        let during = |rng: &mut Rng, d: Duration| {
            if rng.range(0, 3) == 0 {
                delay
            } else {
                within(rng, d)
            }
        };
        match rng.range(0, 19) {
            0 | 1 => match t.startup {
                Some(d) => Trigger::Startup(within(rng, d)),
                None => Trigger::Ack(0, delay),
            },
            2..=5 => Trigger::Ack(rng.range(0, 30), delay),
            6..=10 => Trigger::Flush(rng.range(1, 2), during(rng, t.flush)),
            11..=16 => Trigger::Compact(1, during(rng, t.compaction)),
            _ => {
                // ± 200 µs around the window: the child's timing varies by about that much.
                let lo = (t.big.0.as_micros() as u64).saturating_sub(200);
                let hi = t.big.1.as_micros() as u64 + 200;
                Trigger::Big(1, Duration::from_micros(rng.range(lo, hi)))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Trigger::Startup(d) => format!("{}us after spawn", d.as_micros()),
            Trigger::Ack(n, d) => format!("ack #{n} +{}us", d.as_micros()),
            Trigger::Flush(n, d) => format!("flush start #{n} +{}us", d.as_micros()),
            Trigger::Compact(n, d) => format!("compact start #{n} +{}us", d.as_micros()),
            Trigger::Big(n, d) => format!("big append #{n} +{}us", d.as_micros()),
        }
    }
}

/// How long things take in the child; where kills are aimed.
#[derive(Debug)]
struct Timings {
    /// From the spawn to `opened`, last seen.
    startup: Option<Duration>,
    /// The longest flush and compaction round seen.
    flush: Duration,
    compaction: Duration,
    /// Where the write of a big record happens after its `big` line, narrowed by what kills
    /// found (in-flight batch present: the kill came after the write; absent: before it, or
    /// the write was torn).
    big: (Duration, Duration),
    big_measured: bool,
}

impl Timings {
    fn learn(&mut self, run: &Run) {
        if let Some(t) = run.opened_after {
            self.startup = Some(t);
        }
        if let Some(t) = run.big_append
            && !self.big_measured
        {
            self.big = (Duration::ZERO, t);
            self.big_measured = true;
        }
        for r in run.reports() {
            let us = || Duration::from_micros(num(Run::field(r, "us")));
            // The longest seen: a round interrupted by a kill does its work again next time.
            if r.starts_with("flush end") {
                self.flush = self.flush.max(us());
            } else if r.starts_with("compact end") {
                self.compaction = self.compaction.max(us());
            }
        }
    }

    /// What the kill of a big append found out about where its write happens.
    fn big_outcome(&mut self, delay: Duration, after_write: bool) {
        if after_write {
            self.big.1 = self.big.1.min(delay);
        } else {
            self.big.0 = self.big.0.max(delay);
        }
        if self.big.0 >= self.big.1 {
            // Timing jitter: widen again around the meeting point.
            self.big = (self.big.1.mul_f64(0.7), self.big.0.mul_f64(1.3));
        }
    }
}

/// Waits `d`: spins up to 30 ms (a sleep overshoots by tens of microseconds), sleeps above.
/// This is the fault injection's timing, not synchronization.
fn pause(d: Duration) {
    if d >= Duration::from_millis(30) {
        std::thread::sleep(d);
    } else {
        let start = Instant::now();
        while start.elapsed() < d {
            std::hint::spin_loop();
        }
    }
}

/// Kills the child if the parent unwinds.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the child was when it died, from its last reported line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Startup,
    Recovery,
    Verification,
    Append,
    BigAppend,
    Flush,
    Compaction,
}

/// What one child run reported.
#[derive(Debug, Default)]
struct Run {
    lines: Vec<String>,
    stderr: String,
    opened_after: Option<Duration>,
    /// From a `big` line to its `ack`, as the parent saw them.
    big_append: Option<Duration>,
}

impl Run {
    fn reports(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter_map(|l| l.find(MARK).map(|i| &l[i + MARK.len()..]))
    }

    fn phase_at_end(&self) -> Phase {
        let mut phase = Phase::Startup;
        for r in self.reports() {
            phase = match r {
                "open start" => Phase::Recovery,
                _ if r.starts_with("opened") => Phase::Verification,
                "flush start" => Phase::Flush,
                "compact start" => Phase::Compaction,
                _ if r.starts_with("big ") => Phase::BigAppend,
                _ if r.starts_with("verified")
                    || r.starts_with("ack ")
                    || r.starts_with("flush end")
                    || r.starts_with("compact end") =>
                {
                    Phase::Append
                }
                _ => phase,
            };
        }
        phase
    }

    fn acks(&self) -> Vec<u64> {
        self.reports()
            .filter_map(|r| r.strip_prefix("ack "))
            .map(|n| n.parse().expect("ack number"))
            .collect()
    }

    /// The child's panic message (from its stderr), if it panicked.
    fn panic_message(&self) -> String {
        let mut lines = self
            .stderr
            .lines()
            .skip_while(|l| !l.contains("panicked at"));
        match (lines.next(), lines.next()) {
            (Some(at), Some(msg)) => format!("{msg} ({at})"),
            _ => "no panic message".to_string(),
        }
    }

    fn verified(&self) -> Option<&str> {
        self.reports().find(|r| r.starts_with("verified "))
    }

    fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        line.split(' ')
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    }
}

fn spawn(dir: &std::path::Path, seed: u64, acked: Option<u64>, mode: &str) -> ChildGuard {
    let exe = std::env::current_exe().expect("current test binary");
    let next = acked.map_or(0, |a| a + 1);
    let child = Command::new(exe)
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_SEED_ENV, seed.to_string())
        .env(
            CHILD_ACKED_ENV,
            acked.map_or_else(|| "-".to_string(), |a| a.to_string()),
        )
        .env(CHILD_MODE_ENV, mode)
        .env(CHILD_LIMIT_ENV, (next + CHILD_MAX_BATCHES).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the crash child");
    ChildGuard(child)
}

/// Runs one child until `trigger`, kills it (or, with no trigger, lets it finish).
fn run_child(mut guard: ChildGuard, trigger: Option<Trigger>) -> (Run, ExitStatus) {
    let started = Instant::now();
    let stdout = guard.0.stdout.take().expect("child stdout");
    let mut stderr = guard.0.stderr.take().expect("child stderr");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut run = Run::default();
    let mut lines = BufReader::new(stdout).lines();
    let mut counts = (0u64, 0u64, 0u64, 0u64); // acks, flush starts, compact starts, bigs
    let mut fire: Option<Duration> = None;
    let mut big_seen: Option<Instant> = None;
    match trigger {
        Some(Trigger::Startup(d)) => fire = Some(d),
        Some(t) => {
            for line in lines.by_ref() {
                let line = line.expect("read child stdout");
                let report = line.find(MARK).map(|i| line[i + MARK.len()..].to_string());
                run.lines.push(line);
                let Some(r) = report else { continue };
                if r.starts_with("opened") {
                    run.opened_after = Some(started.elapsed());
                }
                if r.starts_with("big ") {
                    big_seen = Some(Instant::now());
                } else if let Some(at) = big_seen.take() {
                    run.big_append = Some(at.elapsed());
                }
                if r.starts_with("MISMATCH") || r == "limit reached" {
                    break;
                }
                if r.starts_with("ack ") {
                    counts.0 += 1;
                } else if r == "flush start" {
                    counts.1 += 1;
                } else if r == "compact start" {
                    counts.2 += 1;
                } else if r.starts_with("big ") {
                    counts.3 += 1;
                }
                let due = match t {
                    Trigger::Ack(n, d) => ((r.starts_with("ack ") || r.starts_with("verified"))
                        && counts.0 == n)
                        .then_some(d),
                    Trigger::Flush(n, d) => (r == "flush start" && counts.1 == n).then_some(d),
                    Trigger::Compact(n, d) => (r == "compact start" && counts.2 == n).then_some(d),
                    Trigger::Big(n, d) => (r.starts_with("big ") && counts.3 == n).then_some(d),
                    Trigger::Startup(_) => None,
                };
                if due.is_some() {
                    fire = due;
                    break;
                }
            }
        }
        None => {}
    }
    if let Some(d) = fire {
        pause(d);
        let _ = guard.0.kill();
    }
    for line in lines {
        run.lines.push(line.expect("read child stdout"));
    }
    let status = guard.0.wait().expect("wait for the child");
    run.stderr = err_thread.join().expect("stderr reader");
    (run, status)
}

fn num(field: Option<&str>) -> u64 {
    field.and_then(|f| f.parse().ok()).unwrap_or(0)
}

#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    by_phase: BTreeMap<Phase, usize>,
    verified: usize,
    inflight_present: usize,
    torn_tails: BTreeSet<String>,
    short_headers: BTreeSet<String>,
    recoveries_with_wal_problems: usize,
    orphans_removed: usize,
    orphan_blocks_removed: usize,
    /// Completed flushes and compaction rounds: (count, total µs); spans merged.
    flushes: (u64, u64),
    compactions: (u64, u64),
    spans_merged: u64,
}

#[test]
fn a_killed_writer_recovers_every_acknowledged_sample() {
    let seed = match std::env::var(SEED_ENV) {
        Ok(s) => s.parse().expect("FLOE_CRASH_SEED must be a u64"),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970");
            t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
        }
    };
    let cycles: usize = std::env::var(CYCLES_ENV)
        .map(|c| c.parse().expect("FLOE_CRASH_CYCLES must be a number"))
        .unwrap_or(DEFAULT_CYCLES);
    println!("crash test seed = {seed} (replay with {SEED_ENV}={seed})");
    let p = Params::from_seed(seed);
    println!("crash test parameters: {p:?}");
    let started = Instant::now();
    // Kept when the test fails, for inspection; removed at the end otherwise.
    let dir = tempfile::Builder::new()
        .prefix("floe-crash-")
        .tempdir()
        .expect("tempdir")
        .keep();
    let mut rng = Rng(seed);
    let mut acked: Option<u64> = None;
    // A batch found present by a recovery although never acknowledged: later recoveries must
    // keep finding it.
    let mut recovered_unacked: Option<u64> = None;
    let mut timings = Timings {
        startup: None,
        flush: Duration::from_millis(50),
        compaction: Duration::from_millis(100),
        big: (Duration::ZERO, Duration::from_millis(5)),
        big_measured: false,
    };
    // A big-append kill whose outcome the next verification tells: (batch, delay).
    let mut big_pending: Option<(u64, Duration)> = None;
    let mut tally = Tally::default();
    // The kill before this cycle's recovery, for messages.
    let mut last_kill = String::from("none (fresh directory)");
    let context = |cycle: usize, what: &str, run: &Run, last_kill: &str| -> String {
        format!(
            "seed {seed} (replay with {SEED_ENV}={seed}), cycle {cycle}: {what}\nprevious kill: \
             {last_kill}\ndata directory (kept): {}\n--- child stdout ---\n{}\n--- child stderr \
             ---\n{}",
            dir.display(),
            run.lines.join("\n"),
            run.stderr
        )
    };
    for cycle in 0..cycles {
        let trigger = Trigger::pick(&mut rng, &timings);
        let next = acked.map_or(0, |a| a + 1);
        let (run, status) = run_child(spawn(&dir, seed, acked, "write"), Some(trigger));
        timings.learn(&run);
        if let Some(r) = run.reports().find(|r| r.starts_with("MISMATCH")) {
            panic!("{}", context(cycle, r, &run, &last_kill));
        }
        if status.signal() != Some(9) {
            panic!(
                "{}",
                context(
                    cycle,
                    &format!(
                        "the child ended by itself ({status}): {}",
                        run.panic_message()
                    ),
                    &run,
                    &last_kill
                )
            );
        }
        tally.kills += 1;
        let phase = run.phase_at_end();
        *tally.by_phase.entry(phase).or_default() += 1;
        let mut recovered = false;
        let torn_before = tally.torn_tails.len() + tally.short_headers.len();
        for r in run.reports() {
            if r.starts_with("opened") {
                recovered = true;
            } else if let Some(p) = r.strip_prefix("wal_problem ") {
                if p.contains("torn record") {
                    tally.torn_tails.insert(p.to_string());
                } else if p.contains("unreadable header") {
                    tally.short_headers.insert(p.to_string());
                } else {
                    panic!(
                        "{}",
                        context(
                            cycle,
                            &format!("a kill left a WAL problem other than a torn tail: {p}"),
                            &run,
                            &last_kill
                        )
                    );
                }
            } else if r.starts_with("flush end") {
                tally.flushes.0 += 1;
                tally.flushes.1 += num(Run::field(r, "us"));
            } else if r.starts_with("compact end") {
                tally.compactions.0 += 1;
                tally.compactions.1 += num(Run::field(r, "us"));
                tally.spans_merged += num(Run::field(r, "spans"));
            } else if let Some(o) = r.strip_prefix("orphan ") {
                tally.orphans_removed += 1;
                if o.starts_with("blocks/") {
                    tally.orphan_blocks_removed += 1;
                }
            }
        }
        if recovered && run.reports().any(|r| r.starts_with("wal_problem ")) {
            tally.recoveries_with_wal_problems += 1;
        }
        match run.verified() {
            Some(v) => {
                tally.verified += 1;
                let inflight = Run::field(v, "inflight");
                if let Some((_, d)) = big_pending.take_if(|(b, _)| *b == next) {
                    timings.big_outcome(d, inflight == Some("present"));
                }
                if inflight == Some("present") {
                    tally.inflight_present += 1;
                    recovered_unacked = Some(next);
                } else if recovered_unacked == Some(next) {
                    panic!(
                        "{}",
                        context(
                            cycle,
                            &format!(
                                "batch {next} was recovered by an earlier restart but is gone now"
                            ),
                            &run,
                            &last_kill
                        )
                    );
                }
            }
            None => assert!(
                matches!(trigger, Trigger::Startup(_)),
                "{}",
                context(cycle, "the child did not verify", &run, &last_kill)
            ),
        }
        let acks = run.acks();
        if let Trigger::Big(_, d) = trigger {
            let big = run
                .reports()
                .filter_map(|r| r.strip_prefix("big "))
                .map(|b| b.parse::<u64>().expect("big batch number"))
                .last();
            match big {
                // Acknowledged: the kill came after the write.
                Some(b) if acks.contains(&b) => timings.big_outcome(d, true),
                Some(b) => big_pending = Some((b, d)),
                None => {}
            }
        }
        let want: Vec<u64> = (next..next + acks.len() as u64).collect();
        assert_eq!(
            acks,
            want,
            "{}",
            context(cycle, "acknowledgements out of sequence", &run, &last_kill)
        );
        if let Some(&last) = acks.last() {
            acked = Some(last);
            if recovered_unacked.is_some_and(|b| b <= last) {
                recovered_unacked = None;
            }
        }
        println!(
            "cycle {cycle:2}: kill at {:<26} died in {:<12} acked {} -> {} ({} acks){}{}",
            trigger.describe(),
            format!("{phase:?}"),
            next as i64 - 1,
            acked.map_or(-1, |a| a as i64),
            acks.len(),
            run.verified().map_or(String::new(), |v| format!(
                ", in-flight batch {}; open {} us, expected {} us, verify {} us",
                Run::field(v, "inflight").unwrap_or("?"),
                run.reports()
                    .find_map(|r| Run::field(r, "us").filter(|_| r.starts_with("opened")))
                    .unwrap_or("?"),
                Run::field(v, "expected_us").unwrap_or("?"),
                Run::field(v, "verify_us").unwrap_or("?"),
            )),
            if tally.torn_tails.len() + tally.short_headers.len() > torn_before {
                "; a new torn WAL tail"
            } else {
                ""
            },
        );
        last_kill = format!(
            "cycle {cycle}, at {}, in {phase:?}, after ack {}",
            trigger.describe(),
            acked.map_or(-1, |a| a as i64)
        );
    }
    // A last run that is not killed: verify, then flush, compact, reopen, expire, check rollups.
    let (run, status) = run_child(spawn(&dir, seed, acked, "final"), None);
    let last = context(cycles, "final run", &run, &last_kill);
    assert!(status.success(), "final child failed ({status}): {last}");
    assert!(
        run.verified().is_some(),
        "final child did not verify: {last}"
    );
    let fin = run
        .reports()
        .find(|r| r.starts_with("final ok"))
        .unwrap_or_else(|| panic!("final child did not finish its checks: {last}"))
        .to_string();
    tally.verified += 1;
    let phases: Vec<String> = tally
        .by_phase
        .iter()
        .map(|(p, n)| format!("{p:?} {n}"))
        .collect();
    println!(
        "crash test seed {seed}: {} kills ({}); {} recoveries verified; in-flight batch \
         recovered {} times; torn WAL tails {} distinct + {} short segment headers ({} \
         recoveries reported one); orphan files removed {} ({} blocks); {} batches acknowledged; \
         {} flushes completed (mean {} us), {} compaction rounds (mean {} us, {} spans merged); \
         big-record write believed at {}..{} us after its line; {fin}; {:.1} s",
        tally.kills,
        phases.join(", "),
        tally.verified,
        tally.inflight_present,
        tally.torn_tails.len(),
        tally.short_headers.len(),
        tally.recoveries_with_wal_problems,
        tally.orphans_removed,
        tally.orphan_blocks_removed,
        acked.map_or(0, |a| a + 1),
        tally.flushes.0,
        tally.flushes.1 / tally.flushes.0.max(1),
        tally.compactions.0,
        tally.compactions.1 / tally.compactions.0.max(1),
        tally.spans_merged,
        timings.big.0.as_micros(),
        timings.big.1.as_micros(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        tally.kills, cycles,
        "seed {seed}: every cycle ends in a kill"
    );
    std::fs::remove_dir_all(&dir).expect("remove the data directory");
}
