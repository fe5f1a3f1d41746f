//! The digest cache's cells and their locking; what they mean and the rules that keep them
//! right are in the parent module's documentation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use floe_storage_format::{Digest, Sample, SeriesId};

use super::DigestCell;
use crate::engine::{EngineMetrics, lock};
use crate::index::SeriesRef;

/// Shards of the digest cache: series `r` is in shard `r % SHARDS`, slot `r / SHARDS`.
const SHARDS: usize = 64;

/// Whole partitions `first ..= last` (their starts) of a request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Whole {
    pub(super) first: i64,
    pub(super) last: i64,
}

/// One (series, partition) cell of the cache.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cell {
    digest: Digest,
    /// The partition's start.
    pub(super) partition: i64,
    /// The greatest stored timestamp in the partition (while `valid`).
    max_ts: i64,
    /// Bumped by every change.
    generation: u64,
    /// Stored samples: at most one per millisecond of a partition, and a partition divides a
    /// day, so a `u32` holds any count.
    samples: u32,
    /// `digest`, `samples` and `max_ts` are those of the stored state.
    valid: bool,
}

impl Cell {
    /// The cell of an empty partition.
    fn empty(partition: i64) -> Self {
        Cell {
            digest: Digest::EMPTY,
            partition,
            max_ts: i64::MIN,
            generation: 0,
            samples: 0,
            valid: true,
        }
    }

    /// Applies one written sample: added if past everything stored, else the cell is invalid.
    #[inline]
    fn apply(&mut self, id: SeriesId, s: &Sample) {
        self.generation = self.generation.wrapping_add(1);
        if self.valid && s.ts > self.max_ts && self.samples < u32::MAX {
            self.digest.add_sample(id, s);
            self.samples += 1;
            self.max_ts = s.ts;
        } else {
            self.valid = false;
        }
    }

    pub(super) fn answer(&self, series: usize) -> DigestCell {
        DigestCell {
            series,
            bucket: self.partition,
            samples: u64::from(self.samples),
            digest: self.digest,
        }
    }
}

/// The cells of `id`'s sorted `samples`, one per non-empty partition of length `len`.
pub(super) fn partition_cells(id: SeriesId, samples: &[Sample], len: i64) -> Vec<Cell> {
    let mut out: Vec<Cell> = Vec::new();
    for s in samples {
        match out.last_mut() {
            // Sorted: a sample is in the last cell's partition when it is within `len` of it.
            Some(c) if s.ts < c.partition + len => {
                c.digest.add_sample(id, s);
                c.samples = c.samples.saturating_add(1);
                c.max_ts = s.ts;
            }
            _ => out.push(Cell {
                digest: Digest::of_sample(id, s),
                partition: s.ts.div_euclid(len) * len,
                max_ts: s.ts,
                generation: 0,
                samples: 1,
                valid: true,
            }),
        }
    }
    out
}

/// Partition starts `lo ..= hi`; empty when `lo > hi`.
type Range = (i64, i64);

const NOTHING: Range = (i64::MAX, i64::MIN);

fn contains((lo, hi): Range, p: i64) -> bool {
    lo <= p && p <= hi
}

/// The smallest range holding `r` and `[a, b]`.
fn hull(r: Option<Range>, a: i64, b: i64) -> Option<Range> {
    Some(r.map_or((a, b), |(lo, hi)| (lo.min(a), hi.max(b))))
}

/// `known` widened by `(a, b)` if they touch, else `(a, b)` (partitions of length `len`).
fn widen(known: Range, (a, b): Range, len: i64) -> Range {
    let (lo, hi) = known;
    if lo <= hi && a <= hi.saturating_add(len) && b >= lo.saturating_sub(len) {
        (lo.min(a), hi.max(b))
    } else {
        (a, b)
    }
}

/// One series' cells, sorted by partition: the newest inline, since nearly every write goes
/// there (no pointer to chase on the write path), the older ones in a vector.
#[derive(Debug, Default)]
struct Cells {
    older: Vec<Cell>,
    newest: Option<Cell>,
}

impl Cells {
    fn len(&self) -> usize {
        self.older.len() + usize::from(self.newest.is_some())
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Cell> {
        let n = self.older.len();
        if i < n {
            self.older.get_mut(i)
        } else if i == n {
            self.newest.as_mut()
        } else {
            None
        }
    }

    /// The index of partition `p`'s cell, or where it would go.
    fn search(&self, p: i64) -> Result<usize, usize> {
        match &self.newest {
            Some(n) if n.partition == p => Ok(self.older.len()),
            Some(n) if n.partition < p => Err(self.len()),
            _ => self.older.binary_search_by_key(&p, |c| c.partition),
        }
    }

    /// Inserts `cell` at `i` (as [`Cells::search`] said).
    fn insert(&mut self, i: usize, cell: Cell) {
        if i >= self.len() {
            self.older.extend(self.newest.replace(cell));
        } else {
            self.older.insert(i, cell);
        }
    }

    fn remove(&mut self, i: usize) {
        if i == self.older.len() && self.newest.is_some() {
            self.newest = self.older.pop();
        } else if i < self.older.len() {
            self.older.remove(i);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Cell> {
        self.older.iter().chain(&self.newest)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Cell> {
        self.older.iter_mut().chain(&mut self.newest)
    }
}

/// The cells of one series.
#[derive(Debug)]
struct SeriesCells {
    id: SeriesId,
    cells: Cells,
    /// Partitions where every partition with a stored sample has a cell.
    known: Range,
    /// Bumped by every write to a partition without a cell.
    misses: u64,
}

impl SeriesCells {
    /// Applies one written sample; returns whether it created a cell.
    #[inline]
    fn record(&mut self, s: &Sample, len: i64) -> bool {
        if let Some(n) = &mut self.cells.newest
            && n.partition <= s.ts
            && s.ts < n.partition + len
        {
            n.apply(self.id, s);
            return false;
        }
        let p = s.ts.div_euclid(len) * len;
        match self.cells.search(p) {
            Ok(i) => {
                if let Some(c) = self.cells.get_mut(i) {
                    c.apply(self.id, s);
                }
                false
            }
            Err(i) => {
                self.misses = self.misses.wrapping_add(1);
                if !contains(self.known, p) {
                    return false;
                }
                // Known and without a cell: the partition held nothing before this write.
                let mut cell = Cell::empty(p);
                cell.apply(self.id, s);
                self.cells.insert(i, cell);
                true
            }
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    /// Bumped by every invalidation: a fill noted under an older epoch stores nothing.
    epoch: u64,
    series: Vec<Option<SeriesCells>>,
}

impl Shard {
    /// Applies written samples of this shard's series, in order; returns the cells created.
    fn record<'a>(
        &mut self,
        items: impl Iterator<Item = &'a (SeriesRef, Sample)>,
        len: i64,
    ) -> u64 {
        let mut created = 0;
        for (r, s) in items {
            if let Some(Some(series)) = self.series.get_mut(r.0 as usize / SHARDS) {
                created += u64::from(series.record(s, len));
            }
        }
        created
    }
}

/// What the cache held for one series over a request's whole partitions, noted under one lock.
#[derive(Debug)]
pub(super) struct Noted {
    epoch: u64,
    misses: u64,
    known: Range,
    /// The partitions of valid cells outside the known range, ascending (usually none).
    answered: Vec<i64>,
    /// Invalid cells: `(partition, generation)`, by partition.
    invalid: Vec<(i64, u64)>,
    /// The partitions to read, if any.
    pub(super) read: Option<Range>,
}

impl Noted {
    /// Whether the read answers partition `p` (the cache does not).
    pub(super) fn wants(&self, p: i64) -> bool {
        if self.invalid.binary_search_by_key(&p, |&(q, _)| q).is_ok() {
            return true;
        }
        !contains(self.known, p) && self.answered.binary_search(&p).is_err()
    }
}

/// Digest cells per series and partition, kept by writes and reads (see the documentation
/// of the `digests` module).
#[derive(Debug)]
pub(in crate::engine) struct DigestCache {
    pub(super) partition_ms: i64,
    shards: Box<[Mutex<Shard>]>,
    /// Set by the first fill: until then no series has an entry and writes skip the cache.
    used: AtomicBool,
    metrics: Arc<EngineMetrics>,
}

/// What an invalidation hits.
#[derive(Debug, Clone, Copy)]
pub(in crate::engine) enum Stale<'a> {
    /// Every series' cells of the partitions starting in `from..to`.
    Partitions { from: i64, to: i64 },
    /// Every cell of these series (their entries are dropped).
    Series(&'a std::collections::BTreeSet<SeriesId>),
}

impl DigestCache {
    pub(in crate::engine) fn new(partition_ms: i64, metrics: Arc<EngineMetrics>) -> Self {
        Self {
            partition_ms,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            used: AtomicBool::new(false),
            metrics,
        }
    }

    fn shard(&self, r: SeriesRef) -> (MutexGuard<'_, Shard>, usize) {
        let i = r.0 as usize;
        (lock(&self.shards[i % SHARDS]), i / SHARDS)
    }

    /// Applies appended samples, once they are visible to reads. A small batch takes the shard
    /// lock once per run of one series; a large one once per shard, visiting each shard's
    /// series in order (each series' samples keep their order).
    pub(in crate::engine) fn record(&self, items: &[(SeriesRef, Sample)]) {
        // Unused, no series has an entry to update. A fill that sets `used` after this load
        // still reads these samples: it sets it before it reads, and reaches the head shard
        // these samples went to (or the blocks they were flushed into) only after them.
        if !self.used.load(Ordering::Acquire) {
            return;
        }
        let len = self.partition_ms;
        let mut created = 0;
        if items.len() <= SHARDS || u32::try_from(items.len()).is_err() {
            for run in items.chunk_by(|a, b| a.0 == b.0) {
                let mut shard = lock(&self.shards[run[0].0.0 as usize % SHARDS]);
                created += shard.record(run.iter(), len);
            }
        } else {
            // A stable counting sort of the items by shard.
            let mut starts = [0usize; SHARDS + 1];
            for (r, _) in items {
                starts[r.0 as usize % SHARDS + 1] += 1;
            }
            for s in 0..SHARDS {
                starts[s + 1] += starts[s];
            }
            let mut next = starts;
            let mut order = vec![0u32; items.len()];
            for (k, (r, _)) in items.iter().enumerate() {
                let s = r.0 as usize % SHARDS;
                order[next[s]] = k as u32;
                next[s] += 1;
            }
            for (s, shard) in self.shards.iter().enumerate() {
                let part = &order[starts[s]..starts[s + 1]];
                if !part.is_empty() {
                    let mut shard = lock(shard);
                    created += shard.record(part.iter().map(|&k| &items[k as usize]), len);
                }
            }
        }
        if created > 0 {
            EngineMetrics::add(&self.metrics.digest_cells, created);
        }
    }

    /// Notes what the cache holds for series `r` over `whole` and what must be read, and
    /// passes each valid cell to `answer`.
    pub(super) fn note(
        &self,
        (r, id): (SeriesRef, SeriesId),
        whole: Whole,
        mut answer: impl FnMut(&Cell),
    ) -> Noted {
        let len = self.partition_ms;
        let (mut shard, slot) = self.shard(r);
        self.used.store(true, Ordering::Release);
        let epoch = shard.epoch;
        if shard.series.len() <= slot {
            shard.series.resize_with(slot + 1, || None);
        }
        let series = shard.series[slot].get_or_insert_with(|| SeriesCells {
            id,
            cells: Cells::default(),
            known: NOTHING,
            misses: 0,
        });
        // Outside the known range a partition may hold samples without a cell: read it.
        let Whole { first, last } = whole;
        let (lo, hi) = series.known;
        let mut read = None;
        if lo > hi || last < lo || first > hi {
            read = hull(read, first, last);
        } else {
            if first < lo {
                read = hull(read, first, lo - len);
            }
            if last > hi {
                read = hull(read, hi + len, last);
            }
        }
        let (mut answered, mut invalid) = (Vec::new(), Vec::new());
        let in_window = |c: &&Cell| first <= c.partition && c.partition <= last;
        for c in series.cells.iter().filter(in_window) {
            if c.valid {
                answer(c);
                if !contains(series.known, c.partition) {
                    answered.push(c.partition);
                }
            } else {
                invalid.push((c.partition, c.generation));
                read = hull(read, c.partition, c.partition);
            }
        }
        Noted {
            epoch,
            misses: series.misses,
            known: series.known,
            answered,
            invalid,
            read,
        }
    }

    /// Stores what a fill computed from its read (`computed`: the non-empty partitions read,
    /// sorted) by the race rule.
    pub(super) fn store(&self, r: SeriesRef, whole: Whole, noted: &Noted, computed: &[Cell]) {
        let (mut shard, slot) = self.shard(r);
        if shard.epoch != noted.epoch {
            return;
        }
        let Some(Some(series)) = shard.series.get_mut(slot) else {
            return;
        };
        let (mut added, mut removed) = (0, 0);
        for &(p, generation) in &noted.invalid {
            let Ok(i) = series.cells.search(p) else {
                continue;
            };
            let Some(cell) = series.cells.get_mut(i) else {
                continue;
            };
            if cell.generation != generation {
                continue; // a write came in: its cell stands
            }
            match computed.binary_search_by_key(&p, |c| c.partition) {
                Ok(j) => {
                    *cell = Cell {
                        generation: generation.wrapping_add(1),
                        ..computed[j]
                    }
                }
                Err(_) => {
                    series.cells.remove(i);
                    removed += 1;
                }
            }
        }
        if series.misses == noted.misses {
            // No write reached a partition without a cell: what the read found outside the
            // known range is all there is, and the window becomes known.
            for c in computed
                .iter()
                .filter(|c| !contains(noted.known, c.partition))
            {
                if let Err(i) = series.cells.search(c.partition) {
                    series.cells.insert(i, *c);
                    added += 1;
                }
            }
            series.known = widen(series.known, (whole.first, whole.last), self.partition_ms);
        }
        drop(shard);
        EngineMetrics::add(&self.metrics.digest_cells, added);
        EngineMetrics::sub(&self.metrics.digest_cells, removed);
    }

    /// Forgets what a change of the stored state made stale, and makes the fills in flight
    /// store nothing. Called after the new state is published to readers. The cells of a
    /// partition range are marked invalid (the next fill reads them again, and drops those
    /// left empty); a series loses its whole entry (a purged series may never be asked again).
    pub(in crate::engine) fn invalidate(&self, stale: Stale<'_>) {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.epoch = shard.epoch.wrapping_add(1);
            for entry in shard.series.iter_mut() {
                match (stale, entry.as_mut()) {
                    (_, None) => {}
                    (Stale::Series(ids), Some(series)) => {
                        if ids.contains(&series.id) {
                            dropped += series.cells.len() as u64;
                            *entry = None;
                        }
                    }
                    (Stale::Partitions { from, to }, Some(series)) => {
                        let stale = |c: &&mut Cell| from <= c.partition && c.partition < to;
                        for c in series.cells.iter_mut().filter(stale) {
                            c.valid = false;
                            c.generation = c.generation.wrapping_add(1);
                        }
                    }
                }
            }
        }
        EngineMetrics::sub(&self.metrics.digest_cells, dropped);
    }
}
