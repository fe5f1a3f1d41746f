//! The decoded-chunk cache: recently read series chunks of blocks, decoded, so repeated
//! queries over the same data (dashboards refreshing, a range query's neighbours) do not
//! decode it again.
//!
//! Blocks never change once written and a block file id is never reused, so an entry never
//! goes stale: entries of deleted blocks are simply not asked for again and age out. The
//! cache holds at most its budget of bytes (16 shards, each a sixteenth); when a shard is
//! full it evicts the least recently used quarter of its entries.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use floe_storage_format::{Columns, SeriesId};

use super::metrics::EngineMetrics;

const SHARDS: usize = 16;

/// Bytes an entry costs beyond its columns (map slot, `Arc`, vectors' headers).
const ENTRY_OVERHEAD: usize = 160;

type Key = (u64, SeriesId);

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Key, (Arc<Columns>, u64)>,
    bytes: usize,
    tick: u64,
}

/// Decoded chunks by (block file id, series).
#[derive(Debug)]
pub(crate) struct ChunkCache {
    shards: Vec<Mutex<Shard>>,
    shard_budget: usize,
    metrics: Arc<EngineMetrics>,
}

fn cost(c: &Columns) -> usize {
    (c.ts.len() + c.values.len() + c.versions.len()) * 8 + ENTRY_OVERHEAD
}

impl ChunkCache {
    /// A cache of at most `budget` bytes (0 disables it).
    pub(crate) fn new(budget: usize, metrics: Arc<EngineMetrics>) -> Self {
        ChunkCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_budget: budget / SHARDS,
            metrics,
        }
    }

    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, Shard> {
        let i = (key.0 as usize ^ key.1.0 as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached chunk of series `id` in block `file_id`.
    pub(crate) fn get(&self, file_id: u64, id: SeriesId) -> Option<Arc<Columns>> {
        if self.shard_budget == 0 {
            return None;
        }
        let key = (file_id, id);
        let mut shard = self.shard(&key);
        shard.tick += 1;
        let tick = shard.tick;
        let hit = shard.map.get_mut(&key).map(|(c, used)| {
            *used = tick;
            c.clone()
        });
        let counter = if hit.is_some() {
            &self.metrics.chunk_cache_hits_total
        } else {
            &self.metrics.chunk_cache_misses_total
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Keeps `cols` as the chunk of series `id` in block `file_id`, unless it alone would
    /// take more than a quarter of a shard.
    pub(crate) fn insert(&self, file_id: u64, id: SeriesId, cols: Arc<Columns>) {
        let bytes = cost(&cols);
        if bytes > self.shard_budget / 4 {
            return;
        }
        let key = (file_id, id);
        let mut shard = self.shard(&key);
        shard.tick += 1;
        let tick = shard.tick;
        if let Some((old, _)) = shard.map.insert(key, (cols, tick)) {
            shard.bytes -= cost(&old);
        }
        shard.bytes += bytes;
        let mut delta = bytes as i64;
        if shard.bytes > self.shard_budget {
            delta -= evict(&mut shard) as i64;
        }
        let gauge = &self.metrics.chunk_cache_bytes;
        if delta >= 0 {
            gauge.fetch_add(delta as u64, Ordering::Relaxed);
        } else {
            gauge.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }
}

/// Drops the least recently used quarter of the shard's entries; returns the bytes freed.
fn evict(shard: &mut Shard) -> usize {
    let mut ticks: Vec<u64> = shard.map.values().map(|(_, t)| *t).collect();
    if ticks.is_empty() {
        return 0;
    }
    let nth = (ticks.len() / 4).min(ticks.len().saturating_sub(1));
    let (_, cutoff, _) = ticks.select_nth_unstable(nth);
    let cutoff = *cutoff;
    let mut freed = 0;
    shard.map.retain(|_, (c, t)| {
        let keep = *t > cutoff;
        if !keep {
            freed += cost(c);
        }
        keep
    });
    shard.bytes -= freed;
    freed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(n: usize, v: f64) -> Arc<Columns> {
        Arc::new(Columns {
            ts: (0..n as i64).collect(),
            values: vec![v; n],
            versions: Vec::new(),
        })
    }

    #[test]
    fn hits_after_insert_and_stays_within_budget() {
        let metrics = Arc::new(EngineMetrics::default());
        let budget = 16 * 64 * 1024;
        let cache = ChunkCache::new(budget, metrics.clone());
        assert!(cache.get(1, SeriesId(7)).is_none());
        cache.insert(1, SeriesId(7), cols(100, 1.5));
        assert_eq!(cache.get(1, SeriesId(7)).expect("hit").values[99], 1.5);
        assert!(
            cache.get(2, SeriesId(7)).is_none(),
            "another block is another entry"
        );
        for i in 0..10_000u64 {
            cache.insert(i, SeriesId(u128::from(i)), cols(100, i as f64));
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").bytes)
            .sum();
        assert!(held <= budget, "{held} > {budget}");
        assert_eq!(
            metrics.chunk_cache_bytes.load(Ordering::Relaxed) as usize,
            held,
            "the gauge follows the bytes held"
        );
        // The most recent entries survived.
        assert_eq!(
            cache.get(9_999, SeriesId(9_999)).expect("recent").values[0],
            9_999.0
        );
        assert!(metrics.chunk_cache_hits_total.load(Ordering::Relaxed) >= 2);
    }

    #[test]
    fn a_zero_budget_disables_it() {
        let cache = ChunkCache::new(0, Arc::new(EngineMetrics::default()));
        cache.insert(1, SeriesId(1), cols(10, 1.0));
        assert!(cache.get(1, SeriesId(1)).is_none());
    }
}
