//! The head: recent samples of every series, in memory, until a flush writes them to blocks.
//!
//! Samples are appended in arrival order; a series whose samples arrive out of order (or
//! duplicated) is marked unsorted and normalized with the merge rule
//! (`floe_storage_format::normalize`) the next time it is read or flushed. The head is sharded
//! by series number so concurrent writers rarely meet on a lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use floe_storage_format::{Sample, normalize};

use crate::index::SeriesRef;

const SHARDS: usize = 64;

/// One series' samples in the head.
#[derive(Debug, Default)]
struct SeriesBuf {
    ts: Vec<i64>,
    values: Vec<f64>,
    /// `None` while every version is 0 (almost always).
    versions: Option<Vec<u64>>,
    /// Set when a sample arrived at or before the last timestamp.
    unsorted: bool,
}

impl SeriesBuf {
    fn push(&mut self, s: Sample) {
        if self.ts.last().is_some_and(|&last| s.ts <= last) {
            self.unsorted = true;
        }
        if s.version != 0 && self.versions.is_none() {
            self.versions = Some(vec![0; self.ts.len()]);
        }
        self.ts.push(s.ts);
        self.values.push(s.value);
        if let Some(v) = &mut self.versions {
            v.push(s.version);
        }
    }

    fn version(&self, i: usize) -> u64 {
        self.versions.as_ref().map_or(0, |v| v[i])
    }

    /// Sorts and merges duplicates in place (the merge rule); returns the change in length.
    fn normalize(&mut self) -> usize {
        if !self.unsorted {
            return 0;
        }
        let mut samples: Vec<Sample> = (0..self.ts.len())
            .map(|i| Sample::new(self.ts[i], self.values[i], self.version(i)))
            .collect();
        let before = samples.len();
        normalize(&mut samples);
        self.ts = samples.iter().map(|s| s.ts).collect();
        self.values = samples.iter().map(|s| s.value).collect();
        if self.versions.is_some() {
            self.versions = Some(samples.iter().map(|s| s.version).collect());
        }
        self.unsorted = false;
        before - samples.len()
    }

    fn range(&self, start: i64, end: i64) -> std::ops::Range<usize> {
        let lo = self.ts.partition_point(|&t| t < start);
        let hi = self.ts.partition_point(|&t| t <= end);
        lo..hi.max(lo)
    }

    fn heap_bytes(&self) -> usize {
        self.ts.capacity() * 8
            + self.values.capacity() * 8
            + self.versions.as_ref().map_or(0, |v| v.capacity() * 8)
    }
}

#[derive(Debug, Default)]
struct Shard {
    series: Vec<SeriesBuf>,
}

/// The in-memory samples of every series since the last flush.
#[derive(Debug)]
pub(crate) struct Head {
    shards: Vec<Mutex<Shard>>,
    samples: AtomicUsize,
}

/// A normalized view of one series' head samples, as columns.
#[derive(Debug, Default)]
pub(crate) struct HeadColumns {
    pub(crate) ts: Vec<i64>,
    pub(crate) values: Vec<f64>,
    pub(crate) versions: Vec<u64>,
}

impl Head {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            samples: AtomicUsize::new(0),
        }
    }

    fn shard(&self, r: SeriesRef) -> (MutexGuard<'_, Shard>, usize) {
        let i = r.0 as usize;
        (
            self.shards[i % SHARDS]
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            i / SHARDS,
        )
    }

    /// Appends samples, in any order.
    pub(crate) fn append(&self, items: impl IntoIterator<Item = (SeriesRef, Sample)>) {
        let mut n = 0;
        for (r, s) in items {
            let (mut shard, slot) = self.shard(r);
            if shard.series.len() <= slot {
                shard.series.resize_with(slot + 1, SeriesBuf::default);
            }
            shard.series[slot].push(s);
            n += 1;
        }
        self.samples.fetch_add(n, Ordering::Relaxed);
    }

    /// Samples held (before merging duplicates).
    pub(crate) fn samples(&self) -> usize {
        self.samples.load(Ordering::Relaxed)
    }

    /// Appends the normalized samples of `r` with `start ≤ ts ≤ end` to `out`.
    pub(crate) fn read(&self, r: SeriesRef, start: i64, end: i64, out: &mut Vec<Sample>) {
        let (mut shard, slot) = self.shard(r);
        let Some(buf) = shard.series.get_mut(slot) else {
            return;
        };
        let merged = buf.normalize();
        self.samples.fetch_sub(merged, Ordering::Relaxed);
        for i in buf.range(start, end) {
            out.push(Sample::new(buf.ts[i], buf.values[i], buf.version(i)));
        }
    }

    /// Appends `r`'s `(ts, value)` pairs with `start ≤ ts ≤ end` (normalizing its buffer
    /// first, as [`Head::read`] does).
    pub(crate) fn read_points(
        &self,
        r: SeriesRef,
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) {
        let (mut shard, slot) = self.shard(r);
        let Some(buf) = shard.series.get_mut(slot) else {
            return;
        };
        let merged = buf.normalize();
        self.samples.fetch_sub(merged, Ordering::Relaxed);
        let range = buf.range(start, end);
        out.extend(
            buf.ts[range.clone()]
                .iter()
                .copied()
                .zip(buf.values[range].iter().copied()),
        );
    }

    /// Whether `r` holds a sample with `start ≤ ts ≤ end` (without normalizing it).
    pub(crate) fn has_samples(&self, r: SeriesRef, start: i64, end: i64) -> bool {
        let (shard, slot) = self.shard(r);
        shard.series.get(slot).is_some_and(|buf| {
            if buf.unsorted {
                buf.ts.iter().any(|&t| start <= t && t <= end)
            } else {
                !buf.range(start, end).is_empty()
            }
        })
    }

    /// Calls `f(series, columns)` for every series with samples, normalized, in series order
    /// within each shard. For flushing a frozen head (no concurrent writers).
    pub(crate) fn for_each_series(&self, mut f: impl FnMut(SeriesRef, &HeadColumns)) {
        let mut cols = HeadColumns::default();
        for (s, shard) in self.shards.iter().enumerate() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (slot, buf) in shard.series.iter_mut().enumerate() {
                if buf.ts.is_empty() {
                    continue;
                }
                buf.normalize();
                cols.ts.clone_from(&buf.ts);
                cols.values.clone_from(&buf.values);
                cols.versions.clear();
                cols.versions
                    .extend((0..buf.ts.len()).map(|i| buf.version(i)));
                f(SeriesRef((slot * SHARDS + s) as u32), &cols);
            }
        }
    }

    /// Heap bytes held by sample buffers (capacity-based).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.series.capacity() * std::mem::size_of::<SeriesBuf>()
                    + s.series.iter().map(SeriesBuf::heap_bytes).sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_and_duplicates_merge_by_the_rule() {
        let head = Head::new();
        let r = SeriesRef(70);
        head.append([
            (r, Sample::new(30, 3.0, 0)),
            (r, Sample::new(10, 1.0, 0)),
            (r, Sample::new(10, 0.5, 1)),
            (r, Sample::new(20, 2.0, 0)),
            (r, Sample::new(20, 2.0, 0)),
        ]);
        let mut out = Vec::new();
        head.read(r, i64::MIN, i64::MAX, &mut out);
        assert_eq!(
            out,
            vec![
                Sample::new(10, 0.5, 1),
                Sample::new(20, 2.0, 0),
                Sample::new(30, 3.0, 0)
            ]
        );
        out.clear();
        head.read(r, 15, 25, &mut out);
        assert_eq!(out, vec![Sample::new(20, 2.0, 0)]);
        out.clear();
        head.read(SeriesRef(5), i64::MIN, i64::MAX, &mut out);
        assert!(out.is_empty());
        let mut seen = Vec::new();
        head.for_each_series(|r, c| seen.push((r, c.ts.clone(), c.versions.clone())));
        assert_eq!(seen, vec![(r, vec![10, 20, 30], vec![1, 0, 0])]);
    }
}
