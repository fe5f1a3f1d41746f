//! Per-series, per-time-bucket digests: the leaves of the anti-entropy tree.
//!
//! [`Engine::series_digests`] answers, for a list of series, the digest (the one digest
//! function of `floe-storage-format`) and sample count of each series' stored samples in each
//! time bucket of `[start, end]`.
//!
//! # The digest cache
//!
//! Anti-entropy asks every few seconds for the cells of every series over all time, bucketed
//! by the engine's time partition; reading every series each time would be a full scan. So
//! the engine keeps a [`DigestCache`]: per series (a vector indexed by the dense
//! [`SeriesRef`], sharded like the head), per partition, a cell `{samples, digest, max_ts,
//! valid, generation}`, and the range of partitions the series is *known* over: inside it, a
//! partition without a cell holds no sample; outside it, a missing cell proves nothing.
//!
//! - **Filled by reads.** A request with `bucket_ms == partition_ms` answers each whole
//!   partition inside `[start, end]` from its valid cell. What the cache cannot answer —
//!   invalid cells, and the part of the window outside the known range — is computed by one
//!   read of the series covering it, and stored; the window then becomes known. Partial
//!   buckets at the window's edges, and other bucket widths, are computed from reads and not
//!   cached.
//! - **Updated by writes.** [`Engine::append`], once its samples are in the head (visible to
//!   reads), hands them to `DigestCache::record`, which takes each shard lock once per run of
//!   one series (small batches) or once per shard (large ones). A sample whose timestamp is
//!   past the cell's `max_ts` cannot replace a stored sample under the merge rule, so its hash
//!   is added, the count bumped and `max_ts` moved; any other sample (out of order, duplicate,
//!   new version) makes the cell invalid until a read recomputes it. A write to a partition
//!   without a cell starts one from empty if the partition is known (it held nothing), and is
//!   otherwise left to the next read. Every write bumps the cell's `generation` (without a
//!   cell, the series' `misses`). Until the first request nothing is cached, and writes skip
//!   the cache after one atomic load.
//! - **Kept by flush and compaction.** A flush moves samples from a head into blocks
//!   (published in the same step that drops the frozen head), and compaction merges blocks
//!   with the merge rule that reads apply anyway: neither changes the stored state a read
//!   returns, so the cells stay right.
//! - **Invalidated by every other change of the stored state**: retention deleting raw blocks
//!   and the salvage of a damaged block (its unreadable series are gone until repaired) mark
//!   the cells of the partitions concerned invalid; [`Engine::purge`] drops the entries of the
//!   series it removed. These changes only remove samples, so the known ranges stay true.
//!   Each runs after the new state is published to readers. Opening an engine starts with an
//!   empty cache.
//!
//! **The race rule.** A fill notes, under the shard lock, the `generation` of each invalid
//! cell, the series' `misses` and the shard's `epoch` (bumped by every invalidation); only then
//! does it take the read snapshot and read. Under the lock again, it stores a recomputed cell
//! only if its `generation` is unchanged, inserts new cells and widens the known range only if
//! `misses` is unchanged, and stores nothing if the `epoch` moved. So a write whose cache
//! update lands while the fill reads wins (its incremental or invalid cell stands), and a
//! write whose cache update comes after the fill stored was either seen by the read — its
//! timestamps are then at most `max_ts`, so the cell turns invalid — or not, and is added
//! like any later write.

mod cache;

use floe_storage_format::{Digest, Sample, SeriesId};

pub(super) use self::cache::{DigestCache, Stale};
use self::cache::{Whole, partition_cells};
use super::error::EngineError;
use super::metrics::EngineMetrics;
use super::read::read_series;
use super::{Engine, Inner, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, read_lock};
use crate::index::SeriesRef;

/// The digest and sample count of one series in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestCell {
    /// Index of the series in the list asked for.
    pub series: usize,
    /// The bucket's start: `ts.div_euclid(bucket_ms) * bucket_ms`.
    pub bucket: i64,
    /// Stored samples in it.
    pub samples: u64,
    /// Their digest.
    pub digest: Digest,
}

impl Engine {
    /// The non-empty `(series, bucket)` cells of `refs` over `start ≤ ts ≤ end`, bucketed by
    /// `bucket_ms` (positive), in the order of `refs` then buckets. Unknown refs have no cells.
    ///
    /// With `bucket_ms` equal to the partition length, whole partitions are answered from the
    /// digest cache where it can (see the module documentation).
    pub fn series_digests(
        &self,
        refs: &[SeriesRef],
        start: i64,
        end: i64,
        bucket_ms: i64,
    ) -> Result<Vec<DigestCell>, EngineError> {
        if bucket_ms <= 0 {
            return Err(EngineError::Config {
                reason: format!("digest bucket width {bucket_ms} ms must be positive"),
            });
        }
        let inner = &self.inner;
        let (start, end) = (start.max(MIN_TIMESTAMP_MS), end.min(MAX_TIMESTAMP_MS));
        let mut out = Vec::new();
        if start > end {
            return Ok(out);
        }
        let ids: Vec<Option<SeriesId>> = {
            let index = read_lock(&inner.index);
            refs.iter().map(|&r| index.try_id(r)).collect()
        };
        let window = Window::new(start, end, bucket_ms, inner.config.partition_ms);
        let mut counts = Counts::default();
        let res = refs
            .iter()
            .zip(ids)
            .enumerate()
            .try_for_each(|(i, (&r, id))| {
                let Some(id) = id else { return Ok(()) };
                let from = out.len();
                for &(a, b) in &window.direct {
                    let state = read_lock(&inner.state).clone();
                    let samples = read_series(inner, &state, r, id, a, b)?;
                    counts.computed += bucketize(i, id, &samples, bucket_ms, &mut out);
                }
                if let Some(whole) = window.whole {
                    whole_partitions(inner, (i, r, id), whole, &mut out, &mut counts)?;
                }
                out[from..].sort_unstable_by_key(|c| c.bucket);
                Ok(())
            });
        let m = &inner.metrics;
        EngineMetrics::add(&m.digest_cells_cached_total, counts.cached);
        EngineMetrics::add(&m.digest_cells_computed_total, counts.computed);
        res.map(|()| out)
    }
}

/// Cells answered from the cache and computed by reads, for the metrics.
#[derive(Debug, Default)]
struct Counts {
    cached: u64,
    computed: u64,
}

/// How a request's (clamped) window is answered.
#[derive(Debug)]
struct Window {
    /// The whole partitions, answered through the cache, when bucketed by partition.
    whole: Option<Whole>,
    /// Ranges read and bucketed directly: the partial buckets at the edges, or the whole
    /// window for other bucket widths.
    direct: Vec<(i64, i64)>,
}

impl Window {
    /// `start ≤ end`, both within the storable range.
    fn new(start: i64, end: i64, bucket_ms: i64, len: i64) -> Self {
        let direct = |direct| Window {
            whole: None,
            direct,
        };
        if bucket_ms != len {
            return direct(vec![(start, end)]);
        }
        // A partition is whole when it stores nothing outside [start, end]; nothing is stored
        // outside MIN..=MAX, so the partitions at those ends count as whole when clamped.
        let p0 = start.div_euclid(len) * len;
        let first = if p0.max(MIN_TIMESTAMP_MS) == start {
            p0
        } else {
            p0 + len
        };
        let p1 = end.div_euclid(len) * len;
        let last = if (p1 + len - 1).min(MAX_TIMESTAMP_MS) == end {
            p1
        } else {
            p1 - len
        };
        if first > last {
            return direct(vec![(start, end)]);
        }
        let mut edges = Vec::new();
        if start < first {
            edges.push((start, first - 1));
        }
        if end > last + len - 1 {
            edges.push((last + len, end));
        }
        Window {
            whole: Some(Whole { first, last }),
            direct: edges,
        }
    }
}

/// Appends the non-empty buckets of series `i`'s sorted `samples`; returns how many.
fn bucketize(
    i: usize,
    id: SeriesId,
    samples: &[Sample],
    bucket_ms: i64,
    out: &mut Vec<DigestCell>,
) -> u64 {
    let from = out.len();
    let mut cur: Option<DigestCell> = None;
    for s in samples {
        let bucket = s.ts.div_euclid(bucket_ms) * bucket_ms;
        match &mut cur {
            Some(c) if c.bucket == bucket => {
                c.samples += 1;
                c.digest.add_sample(id, s);
            }
            _ => {
                out.extend(cur.take());
                cur = Some(DigestCell {
                    series: i,
                    bucket,
                    samples: 1,
                    digest: Digest::of_sample(id, s),
                });
            }
        }
    }
    out.extend(cur);
    (out.len() - from) as u64
}

/// The whole partitions of series `(i, r, id)`: valid cells from the cache, the rest from one
/// read, stored back by the race rule.
fn whole_partitions(
    inner: &Inner,
    (i, r, id): (usize, SeriesRef, SeriesId),
    whole: Whole,
    out: &mut Vec<DigestCell>,
    counts: &mut Counts,
) -> Result<(), EngineError> {
    let cache = &inner.digests;
    let noted = cache.note((r, id), whole, |c| {
        out.push(c.answer(i));
        counts.cached += 1;
    });
    let Some((a, b)) = noted.read else {
        return Ok(());
    };
    // The read snapshot is taken after the note (the race rule): a write whose cache update
    // the note missed is in the head this snapshot reads.
    let state = read_lock(&inner.state).clone();
    let len = cache.partition_ms;
    let samples = read_series(inner, &state, r, id, a, b + len - 1)?;
    let computed = partition_cells(id, &samples, len);
    for c in computed.iter().filter(|c| noted.wants(c.partition)) {
        out.push(c.answer(i));
        counts.computed += 1;
    }
    cache.store(r, whole, &noted, &computed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use floe_storage_format::{Digest, Sample, SeriesKey};
    use proptest::prelude::*;

    use super::DigestCell;
    use crate::engine::{
        Clock, Engine, EngineConfig, EngineError, FsyncPolicy, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS,
        ManualClock,
    };
    use crate::index::SeriesRef;

    const MIN: i64 = 60_000;
    const H: i64 = 3_600_000;
    /// The default partition.
    const P: i64 = 2 * H;
    const T0: i64 = 1_767_225_600_000; // a day boundary
    const ALL: (i64, i64) = (MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);

    /// An engine driven step by step; raw blocks are kept 12 h past their partition.
    fn open(dir: &Path, clock: &Arc<ManualClock>) -> Engine {
        open_with(dir, clock, |_| {})
    }

    fn open_with(
        dir: &Path,
        clock: &Arc<ManualClock>,
        f: impl FnOnce(&mut EngineConfig),
    ) -> Engine {
        let mut c = EngineConfig::new(dir);
        c.background = false;
        c.fsync = FsyncPolicy::Never;
        c.raw_retention = Duration::from_secs(12 * 3600);
        f(&mut c);
        Engine::open(c, clock.clone()).expect("open engine").0
    }

    fn key(i: usize) -> SeriesKey {
        SeriesKey::new("cpu", [("host", format!("h{i}"))]).expect("valid key")
    }

    fn resolve(engine: &Engine, n: usize) -> Vec<SeriesRef> {
        let keys: Vec<SeriesKey> = (0..n).map(key).collect();
        engine.resolve(&keys).expect("resolve")
    }

    /// The cells by definition: a full read of each series, bucketed.
    fn reference(
        engine: &Engine,
        refs: &[SeriesRef],
        (start, end): (i64, i64),
        bucket_ms: i64,
    ) -> Vec<DigestCell> {
        let mut out: Vec<DigestCell> = Vec::new();
        for (i, &r) in refs.iter().enumerate() {
            let Some(id) = engine.key(r).map(|k| k.id()) else {
                continue;
            };
            let from = out.len();
            for s in engine.read(r, start, end).expect("read") {
                let bucket = s.ts.div_euclid(bucket_ms) * bucket_ms;
                match out[from..].last_mut() {
                    Some(c) if c.bucket == bucket => {
                        c.samples += 1;
                        c.digest.add_sample(id, &s);
                    }
                    _ => out.push(DigestCell {
                        series: i,
                        bucket,
                        samples: 1,
                        digest: Digest::of_sample(id, &s),
                    }),
                }
            }
        }
        out
    }

    fn digests(engine: &Engine, refs: &[SeriesRef], w: (i64, i64), width: i64) -> Vec<DigestCell> {
        engine
            .series_digests(refs, w.0, w.1, width)
            .expect("series digests")
    }

    fn check(engine: &Engine, refs: &[SeriesRef], w: (i64, i64), width: i64) {
        let want = reference(engine, refs, w, width);
        assert_eq!(
            digests(engine, refs, w, width),
            want,
            "window {w:?}, width {width}"
        );
    }

    /// `(cached, computed)` cell counters.
    fn counters(engine: &Engine) -> (u64, u64) {
        let m = engine.metrics();
        (
            m.digest_cells_cached_total.load(Ordering::Relaxed),
            m.digest_cells_computed_total.load(Ordering::Relaxed),
        )
    }

    /// `(cached, computed)` cells of one all-time, per-partition call, checked against the
    /// reference.
    fn call(engine: &Engine, refs: &[SeriesRef]) -> (u64, u64) {
        let (c0, r0) = counters(engine);
        check(engine, refs, ALL, P);
        let (c1, r1) = counters(engine);
        (c1 - c0, r1 - r0)
    }

    fn append(engine: &Engine, items: &[(SeriesRef, Sample)]) {
        engine.append(items).expect("append");
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Samples `(series, partition, minute, value, version)`, in any order.
        Append(Vec<(usize, i64, i64, u8, u64)>),
        /// `n` in-order samples per series at the cursor, which moves a minute per sample.
        InOrder(u8),
        Flush,
        Compact,
        /// Moves the clock this many hours on, then compacts (closing and expiring partitions).
        Advance(u8),
        /// Digests over minutes `a..=b` from `T0` (all time if `None`), `bucket_ms` wide.
        Digests(Option<(i64, i64)>, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let sample = (0..4usize, 0..6i64, 0..120i64, 0..4u8, 0..3u64);
        let window = prop_oneof![
            Just(None),
            (0..720i64, 0..720i64).prop_map(Some),
            (0..6i64, 1..7i64).prop_map(|(a, b)| Some((a * 120, b * 120 - 1))),
        ];
        let width = prop::sample::select(vec![P, P, P, H, 3 * P, 7 * MIN, 1]);
        prop_oneof![
            4 => prop::collection::vec(sample, 1..12).prop_map(Op::Append),
            3 => (1..20u8).prop_map(Op::InOrder),
            1 => Just(Op::Flush),
            1 => Just(Op::Compact),
            1 => (0..8u8).prop_map(Op::Advance),
            4 => (window, width).prop_map(|(w, b)| Op::Digests(w, b)),
        ]
    }

    /// Runs `ops`, comparing every digest call with the reference; ends with cached calls.
    fn run(ops: &[Op]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        // Series 0..4 and one ref the engine does not know.
        let mut refs = resolve(&engine, 4);
        refs.extend([SeriesRef(1_000), refs[2]]);
        let mut cursor = T0 + 2 * P - 30 * MIN;
        for op in ops {
            match op {
                Op::Append(samples) => {
                    let items: Vec<(SeriesRef, Sample)> = samples
                        .iter()
                        .map(|&(s, p, m, v, ver)| {
                            (
                                refs[s],
                                Sample::new(T0 + p * P + m * MIN, f64::from(v), ver),
                            )
                        })
                        .collect();
                    append(&engine, &items);
                }
                Op::InOrder(n) => {
                    let mut items = Vec::new();
                    for r in &refs[..4] {
                        items.extend(
                            (0..i64::from(*n))
                                .map(|k| (*r, Sample::new(cursor + k * MIN, (k % 5) as f64, 0))),
                        );
                    }
                    cursor += i64::from(*n) * MIN;
                    append(&engine, &items);
                }
                Op::Flush => drop(engine.flush().expect("flush")),
                Op::Compact => drop(engine.compact().expect("compact")),
                Op::Advance(h) => {
                    clock.set(clock.now_ms() + i64::from(*h) * H);
                    engine.compact().expect("compact");
                }
                Op::Digests(w, width) => {
                    let w = w.map_or(ALL, |(a, b)| (T0 + a * MIN, T0 + b * MIN));
                    check(&engine, &refs, w, *width);
                }
            }
        }
        call(&engine, &refs);
        let (_, computed) = call(&engine, &refs);
        assert_eq!(computed, 0, "a repeated call reads nothing");
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 48,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn digests_equal_a_full_read_through_writes_flushes_and_compactions(
            ops in prop::collection::vec(op(), 1..40)
        ) {
            run(&ops);
        }
    }

    #[test]
    fn a_warm_cache_answers_without_reading_and_survives_flush_and_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        let refs = resolve(&engine, 3);
        let at = |p: i64, m: i64| T0 + p * P + m * MIN;
        for p in 0..3 {
            let items: Vec<_> = (0..10)
                .flat_map(|m| {
                    refs.iter()
                        .map(move |&r| (r, Sample::new(at(p, m), 1.0, 0)))
                })
                .collect();
            append(&engine, &items);
        }
        engine.flush().expect("flush");
        assert_eq!(call(&engine, &refs), (0, 9), "a cold cache reads");
        assert_eq!(call(&engine, &refs), (9, 0), "a warm cache does not");
        // In-order samples, in an existing partition and in a new one, are added.
        append(&engine, &[(refs[0], Sample::new(at(2, 50), 2.0, 0))]);
        append(&engine, &[(refs[1], Sample::new(at(3, 1), 2.0, 0))]);
        assert_eq!(call(&engine, &refs), (10, 0));
        // Out of order, duplicate with a new version: only those cells are read again.
        append(&engine, &[(refs[0], Sample::new(at(0, 5), 3.0, 0))]);
        append(&engine, &[(refs[2], Sample::new(at(1, 9), 3.0, 1))]);
        assert_eq!(call(&engine, &refs), (8, 2));
        // Flush and compaction keep the stored state, and so the cache.
        engine.flush().expect("flush");
        assert_eq!(call(&engine, &refs), (10, 0));
        clock.set(T0 + 6 * P);
        let report = engine.compact().expect("compact");
        assert!(report.spans_merged > 0, "{report:?}");
        assert_eq!(call(&engine, &refs), (10, 0));
        // Partial windows and other widths are read, and agree.
        check(&engine, &refs, (at(0, 5), at(2, 7)), P);
        check(&engine, &refs, (at(0, 0), at(3, 0) - 1), H);
        let gauge = engine.metrics().digest_cells.load(Ordering::Relaxed);
        assert_eq!(gauge, 10);
    }

    #[test]
    fn purge_and_retention_invalidate_what_they_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        let refs = resolve(&engine, 3);
        for p in 0..4 {
            let items: Vec<_> = refs
                .iter()
                .map(|&r| (r, Sample::new(T0 + p * P, 1.0, 0)))
                .collect();
            append(&engine, &items);
        }
        engine.flush().expect("flush");
        assert_eq!(call(&engine, &refs), (0, 12));
        let dropped = key(1).id();
        let report = engine.purge(&|id| id != dropped).expect("purge");
        assert_eq!(report.series_dropped, 1);
        // The purged series' cells are recomputed (and found empty); the others stay cached.
        assert_eq!(call(&engine, &refs), (8, 0));
        assert_eq!(call(&engine, &refs), (8, 0));
        // Retention: the first two partitions end more than 12 h before the clock.
        clock.set(T0 + 2 * P + 12 * H + 1);
        assert!(engine.compact().expect("compact").expired > 0);
        assert_eq!(call(&engine, &refs), (4, 0));
        let gauge = engine.metrics().digest_cells.load(Ordering::Relaxed);
        assert_eq!(gauge, 4);
    }

    #[test]
    fn a_salvaged_block_invalidates_its_partitions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        // No decoded-chunk cache, so the read after the damage meets it.
        let engine = open_with(dir.path(), &clock, |c| c.chunk_cache_bytes = 0);
        let refs = resolve(&engine, 2);
        let items: Vec<_> = (0..60)
            .flat_map(|m| {
                refs.iter()
                    .map(move |&r| (r, Sample::new(T0 + m * MIN, 1.0, 0)))
            })
            .collect();
        append(&engine, &items);
        engine.flush().expect("flush");
        assert_eq!(call(&engine, &refs), (0, 2));
        // Damage series 0's chunk; the read that meets it salvages the block.
        crate::engine::blocks::damage_chunk(&engine, key(0).id());
        let read = engine.read(refs[0], ALL.0, ALL.1);
        assert!(matches!(read, Err(EngineError::Corrupt { .. })), "{read:?}");
        let (cached, _) = call(&engine, &refs);
        assert_eq!(cached, 0, "the salvaged partition is read again");
        assert!(engine.read(refs[0], ALL.0, ALL.1).expect("read").is_empty());
    }

    #[test]
    fn extreme_timestamps_and_bucket_widths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        let refs = resolve(&engine, 3);
        append(
            &engine,
            &[
                (refs[0], Sample::new(MIN_TIMESTAMP_MS, 1.0, 0)),
                (refs[0], Sample::new(MAX_TIMESTAMP_MS, 2.0, 0)),
                (refs[1], Sample::new(0, 3.0, 0)),
                (refs[2], Sample::new(MIN_TIMESTAMP_MS, 6.0, 0)),
            ],
        );
        let windows = [
            ALL,
            (i64::MIN, i64::MAX),
            (MIN_TIMESTAMP_MS + 1, MAX_TIMESTAMP_MS - 1),
            (-P, P),
            (i64::MAX, i64::MIN),
        ];
        let check_all = || {
            for w in windows {
                for width in [P, 1, H, i64::MAX] {
                    check(&engine, &refs, w, width);
                }
            }
        };
        check_all();
        assert_eq!(call(&engine, &refs), (4, 0));
        // Samples at both ends of known series' ranges: new partitions, cached without a read.
        append(&engine, &[(refs[1], Sample::new(MAX_TIMESTAMP_MS, 4.0, 0))]);
        append(&engine, &[(refs[1], Sample::new(MIN_TIMESTAMP_MS, 5.0, 0))]);
        append(&engine, &[(refs[2], Sample::new(MAX_TIMESTAMP_MS, 7.0, 0))]);
        assert_eq!(call(&engine, &refs), (7, 0));
        engine.flush().expect("flush");
        check_all();
        for width in [0, -1, i64::MIN] {
            let res = engine.series_digests(&refs, 0, 1, width);
            assert!(matches!(res, Err(EngineError::Config { .. })), "{res:?}");
        }
    }

    #[test]
    fn concurrent_writes_and_digest_calls_converge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        let refs = resolve(&engine, 8);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut x = 0x9e37_79b9_7f4a_7c15_u64; // xorshift, fixed seed
                let mut next = || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let mut cursor = T0;
                for round in 0..3_000 {
                    let mut items = Vec::new();
                    for &r in &refs {
                        // In order at the cursor, and one anywhere in the first partitions.
                        items.push((r, Sample::new(cursor, round as f64, 0)));
                        let late = T0 + (next() % (3 * P as u64)) as i64;
                        items.push((r, Sample::new(late, (next() % 4) as f64, next() % 2)));
                    }
                    cursor += 10_000;
                    append(&engine, &items);
                    if round % 500 == 499 {
                        engine.flush().expect("flush");
                    }
                }
                done.store(true, Ordering::Release);
            });
            s.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    digests(&engine, &refs, ALL, P);
                    digests(&engine, &refs[2..5], (T0 + P, T0 + 3 * P - 1), P);
                }
            });
        });
        check(&engine, &refs, ALL, P);
        assert_eq!(
            call(&engine, &refs).1,
            0,
            "all cells are cached once writes stop"
        );
    }
}
