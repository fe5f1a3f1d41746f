//! The read path: one series' samples merged from the heads and the blocks, and digests.

use std::sync::Arc;

use floe_storage_format::manifest::BlockKind;
use floe_storage_format::rollup::{RollupColumns, merge_rollups, rollup};
use floe_storage_format::{Columns, Digest, Sample, SeriesId, SeriesKey, normalize};

use super::blocks::{LiveBlock, salvage};
use super::error::EngineError;
use super::{Engine, Inner, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, ReadState, read_lock};
use crate::index::{Matcher, SeriesRef};

impl Engine {
    /// The stored samples of series `r` with `start ≤ ts ≤ end`: the merge of what the
    /// heads and every overlapping block hold, by the merge rule.
    ///
    /// If a block's copy of the series fails its checksum, the block is salvaged (its other
    /// series stay readable, the original is quarantined, this series is marked for repair)
    /// and the read returns [`EngineError::Corrupt`] rather than incomplete data.
    pub fn read(&self, r: SeriesRef, start: i64, end: i64) -> Result<Vec<Sample>, EngineError> {
        let inner = &self.inner;
        let id = read_lock(&inner.index)
            .try_id(r)
            .ok_or_else(|| EngineError::UnknownSeries(SeriesId(u128::from(r.0))))?;
        let state = read_lock(&inner.state).clone();
        read_series(inner, &state, r, id, start, end)
    }

    /// The `(ts, value)` pairs of series `r` with `start ≤ ts ≤ end`, appended to `out`: what
    /// [`Engine::read`] returns without the versions, which a query does not need. It copies
    /// the decoded columns straight into `out` unless two sources hold the same timestamp.
    pub fn read_points(
        &self,
        r: SeriesRef,
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), EngineError> {
        let inner = &self.inner;
        let id = read_lock(&inner.index)
            .try_id(r)
            .ok_or_else(|| EngineError::UnknownSeries(SeriesId(u128::from(r.0))))?;
        let state = read_lock(&inner.state).clone();
        read_series_points(inner, &state, (r, id), start, end, out)
    }

    /// Where rollups at `resolution_ms` hold data that raw blocks no longer do: the start of
    /// the oldest raw block's partition (or `i64::MAX` without raw blocks), if some rollup
    /// block of that resolution starts before it; `None` otherwise. Below it a query can only
    /// be answered from rollups.
    pub fn rollup_floor(&self, resolution_ms: i64) -> Option<i64> {
        let state = read_lock(&self.inner.state).clone();
        let raw_floor = state
            .blocks
            .iter()
            .filter(|b| b.is_raw())
            .map(|b| b.entry.partition_start)
            .min()
            .unwrap_or(i64::MAX);
        let wanted = BlockKind::Rollup { resolution_ms };
        state
            .blocks
            .iter()
            .any(|b| b.entry.kind == wanted && b.entry.partition_start < raw_floor)
            .then_some(raw_floor)
    }

    /// The series matching every matcher that hold a sample in `[start, end]`, with their
    /// keys, in reference order. Blocks are asked for their per-series time bounds only, so a
    /// series whose block bounds straddle the range without a sample inside is included too.
    /// For the whole storable range (`MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS` or wider) this is
    /// [`Engine::select`]: every indexed series, whether or not retention left it samples.
    pub fn select_in_range(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Vec<(SeriesRef, SeriesKey)> {
        let refs = self.refs_in_range(&[matchers.to_vec()], start, end);
        let index = read_lock(&self.inner.index);
        refs.into_iter().map(|r| (r, index.key(r))).collect()
    }

    /// The label names (`__name__` included) of the series selected by any of `selectors`
    /// (every series when there is none) that hold a sample in `[start, end]`, sorted; the
    /// time test is that of [`Engine::select_in_range`].
    pub fn label_names(&self, selectors: &[Vec<Matcher>], start: i64, end: i64) -> Vec<String> {
        if selectors.is_empty() && unbounded(start, end) {
            return read_lock(&self.inner.index).label_names(None);
        }
        let refs = self.refs_in_range(selectors, start, end);
        read_lock(&self.inner.index).label_names(Some(&refs))
    }

    /// The distinct values of label `name` (`__name__` for metric names), sorted, over the
    /// series that [`Engine::label_names`] would consider.
    pub fn label_values(
        &self,
        name: &str,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<String> {
        if selectors.is_empty() && unbounded(start, end) {
            return read_lock(&self.inner.index).label_values(name, None);
        }
        let refs = self.refs_in_range(selectors, start, end);
        read_lock(&self.inner.index).label_values(name, Some(&refs))
    }

    /// The refs selected by any selector (all refs for none) with a sample in `[start, end]`,
    /// ascending. The index lock is not held while heads and blocks are asked.
    fn refs_in_range(&self, selectors: &[Vec<Matcher>], start: i64, end: i64) -> Vec<SeriesRef> {
        let inner = &self.inner;
        let candidates: Vec<(SeriesRef, SeriesId)> = {
            let index = read_lock(&inner.index);
            let mut refs: Vec<SeriesRef> = if selectors.is_empty() {
                index.select(&[])
            } else {
                selectors.iter().flat_map(|m| index.select(m)).collect()
            };
            refs.sort_unstable();
            refs.dedup();
            refs.into_iter().map(|r| (r, index.id(r))).collect()
        };
        if unbounded(start, end) {
            return candidates.into_iter().map(|(r, _)| r).collect();
        }
        let state = read_lock(&inner.state).clone();
        candidates
            .into_iter()
            .filter(|&(r, id)| has_samples(&state, r, id, start, end))
            .map(|(r, _)| r)
            .collect()
    }

    /// The digest of everything stored with `start ≤ ts ≤ end` (the one digest function of
    /// `floe-storage-format`, over the merged state).
    pub fn digest(&self, start: i64, end: i64) -> Result<Digest, EngineError> {
        let inner = &self.inner;
        let state = read_lock(&inner.state).clone();
        let refs: Vec<(SeriesRef, SeriesId)> = {
            let index = read_lock(&inner.index);
            (0..index.len() as u32)
                .map(SeriesRef)
                .filter_map(|r| index.try_id(r).map(|id| (r, id)))
                .collect()
        };
        let mut digest = Digest::EMPTY;
        for (r, id) in refs {
            for s in read_series(inner, &state, r, id, start, end)? {
                digest.add_sample(id, &s);
            }
        }
        Ok(digest)
    }

    /// Per-bucket aggregates of series `r` at `resolution_ms` for the buckets starting in
    /// `[start, end]`: computed from the raw samples wherever raw blocks are still retained
    /// (exact, including the head and late data), and read from the rollup blocks of that
    /// resolution for the time before the oldest raw block.
    pub fn read_rollup(
        &self,
        r: SeriesRef,
        resolution_ms: i64,
        start: i64,
        end: i64,
    ) -> Result<RollupColumns, EngineError> {
        let inner = &self.inner;
        if resolution_ms <= 0 {
            return Err(EngineError::Config {
                reason: format!("rollup resolution {resolution_ms} ms must be positive"),
            });
        }
        let id = read_lock(&inner.index)
            .try_id(r)
            .ok_or_else(|| EngineError::UnknownSeries(SeriesId(u128::from(r.0))))?;
        let state = read_lock(&inner.state).clone();
        // Nothing is stored outside this range; clamping keeps the bucket arithmetic in range.
        let (start, end) = (start.max(MIN_TIMESTAMP_MS), end.min(MAX_TIMESTAMP_MS));
        let start = start.div_euclid(resolution_ms) * resolution_ms;
        let raw_floor = state
            .blocks
            .iter()
            .filter(|b| b.is_raw())
            .map(|b| b.entry.partition_start)
            .min()
            .unwrap_or(i64::MAX);
        let mut out = RollupColumns::new(resolution_ms);
        if start < raw_floor {
            let stored_end = end.min(raw_floor.saturating_sub(1));
            read_rollup_blocks(
                inner,
                &state,
                id,
                resolution_ms,
                start,
                stored_end,
                &mut out,
            )?;
        }
        // Raw samples over the whole range: below the oldest raw block only the heads can still
        // hold any (late data), and they are exact, so their buckets replace the stored rows.
        let bucket_end = end
            .div_euclid(resolution_ms)
            .saturating_mul(resolution_ms)
            .saturating_add(resolution_ms - 1);
        let samples = read_series(inner, &state, r, id, start, bucket_end)?;
        let ts: Vec<i64> = samples.iter().map(|s| s.ts).collect();
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let mut from_raw = RollupColumns::new(resolution_ms);
        rollup(&ts, &values, resolution_ms, &mut from_raw)?;
        let raw_buckets: std::collections::HashSet<i64> = from_raw.ts.iter().copied().collect();
        let mut stored = RollupColumns::new(resolution_ms);
        for row in out.rows().filter(|row| !raw_buckets.contains(&row.ts)) {
            stored.push(row);
        }
        let mut merged = RollupColumns::new(resolution_ms);
        merge_rollups(&stored, &from_raw, &mut merged)?;
        Ok(merged)
    }

    /// One digest per time partition overlapping `[start, end]`: `(partition start, digest)`.
    pub fn partition_digests(
        &self,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Digest)>, EngineError> {
        let len = self.inner.config.partition_ms;
        let (start, end) = (start.max(MIN_TIMESTAMP_MS), end.min(MAX_TIMESTAMP_MS));
        let mut out = Vec::new();
        let mut p = self.inner.config.partition_of(start);
        while p <= end {
            out.push((p, self.digest(p.max(start), (p + len - 1).min(end))?));
            p += len;
        }
        Ok(out)
    }
}

/// Whether `[start, end]` covers every storable timestamp.
fn unbounded(start: i64, end: i64) -> bool {
    start <= MIN_TIMESTAMP_MS && end >= MAX_TIMESTAMP_MS
}

/// Whether series `r` may hold a sample in `[start, end]`: exact for the heads, by the
/// per-series time bounds for raw blocks (an unreadable index entry counts as a yes, so the
/// read that follows reports it).
fn has_samples(state: &ReadState, r: SeriesRef, id: SeriesId, start: i64, end: i64) -> bool {
    if state.active.has_samples(r, start, end)
        || state
            .frozen
            .as_ref()
            .is_some_and(|h| h.has_samples(r, start, end))
    {
        return true;
    }
    state
        .blocks
        .iter()
        .filter(|b| b.is_raw() && b.overlaps(start, end))
        .any(|b| {
            b.reader.find(id).is_some_and(|i| {
                b.reader
                    .entry(i)
                    .map_or(true, |e| e.min_ts <= end && e.max_ts >= start)
            })
        })
}

pub(super) fn read_series(
    inner: &Inner,
    state: &ReadState,
    r: SeriesRef,
    id: SeriesId,
    start: i64,
    end: i64,
) -> Result<Vec<Sample>, EngineError> {
    // Blocks in time order, then the frozen and the active head (usually the newest data):
    // each source is sorted and they rarely overlap, so the concatenation is usually sorted
    // already and the merge below is a linear check rather than a sort.
    let mut out = Vec::new();
    for block in raw_blocks_in_time_order(state, start, end) {
        if let Some((cols, range)) = read_block(inner, block, id, start, end)? {
            out.extend(range.map(|i| cols.sample(i)));
        }
    }
    if let Some(frozen) = &state.frozen {
        frozen.read(r, start, end, &mut out);
    }
    state.active.read(r, start, end, &mut out);
    if !out.windows(2).all(|w| w[0].ts < w[1].ts) {
        normalize(&mut out);
    }
    Ok(out)
}

/// [`Engine::read_points`]: the blocks' and heads' `(ts, value)` pairs straight into `out`
/// when no two sources share a timestamp (the usual case); otherwise the merged samples of
/// [`read_series`].
fn read_series_points(
    inner: &Inner,
    state: &ReadState,
    (r, id): (SeriesRef, SeriesId),
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), EngineError> {
    let base = out.len();
    let mut chunks = Vec::new();
    for block in raw_blocks_in_time_order(state, start, end) {
        if let Some(chunk) = read_block(inner, block, id, start, end)? {
            chunks.push(chunk);
        }
    }
    out.reserve(chunks.iter().map(|(_, r)| r.len()).sum());
    // Every source is strictly increasing in itself (blocks and heads hold normalized
    // series), so the whole is when each source starts after the previous one ended.
    let mut sorted = true;
    let mut joined = |out: &mut Vec<(i64, f64)>, from: usize| {
        if from > base && from < out.len() && out[from - 1].0 >= out[from].0 {
            sorted = false;
        }
    };
    for (cols, range) in chunks {
        let from = out.len();
        out.extend(
            cols.ts[range.clone()]
                .iter()
                .copied()
                .zip(cols.values[range].iter().copied()),
        );
        joined(out, from);
    }
    for head in state.frozen.iter().chain([&state.active]) {
        let from = out.len();
        head.read_points(r, start, end, out);
        joined(out, from);
    }
    if !sorted {
        // Sources overlap: the merge rule needs the versions.
        out.truncate(base);
        let merged = read_series(inner, state, r, id, start, end)?;
        out.extend(merged.iter().map(|s| (s.ts, s.value)));
    }
    Ok(())
}

/// The raw blocks overlapping `[start, end]`, oldest partition first.
fn raw_blocks_in_time_order(state: &ReadState, start: i64, end: i64) -> Vec<&Arc<LiveBlock>> {
    let mut blocks: Vec<&Arc<LiveBlock>> = state
        .blocks
        .iter()
        .filter(|b| b.is_raw() && b.overlaps(start, end))
        .collect();
    blocks.sort_by_key(|b| b.entry.partition_start);
    blocks
}

/// A decoded chunk and the index range of the samples a read wants from it.
type ChunkRange = (Arc<Columns>, std::ops::Range<usize>);

/// `id`'s chunk of `block`, decoded (or from the chunk cache), and the index range of its
/// samples in `[start, end]`; `None` if the block does not hold the series.
fn read_block(
    inner: &Inner,
    block: &Arc<LiveBlock>,
    id: SeriesId,
    start: i64,
    end: i64,
) -> Result<Option<ChunkRange>, EngineError> {
    let within = |cols: Arc<Columns>| {
        let lo = cols.ts.partition_point(|&t| t < start);
        let hi = cols.ts.partition_point(|&t| t <= end);
        Some((cols, lo..hi.max(lo)))
    };
    let file_id = block.entry.file_id;
    if let Some(cols) = inner.cache.get(file_id, id) {
        return Ok(within(cols));
    }
    let mut cols = Columns::default();
    match block.reader.read_series(id, &mut cols) {
        Ok(false) => Ok(None),
        Ok(true) => {
            let cols = Arc::new(cols);
            inner.cache.insert(file_id, id, cols.clone());
            Ok(within(cols))
        }
        Err(e) if e.is_corruption() => {
            let reason = e.to_string();
            let path = block.reader.path().to_path_buf();
            tracing::error!(series = %id, block = %path.display(), error = %reason, "corrupt series data");
            salvage(inner, block.entry.file_id)?;
            Err(EngineError::Corrupt {
                series: id,
                block: path,
                reason,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Rows of the rollup blocks of `resolution_ms` for buckets starting in `[start, end]`.
fn read_rollup_blocks(
    inner: &Inner,
    state: &ReadState,
    id: SeriesId,
    resolution_ms: i64,
    start: i64,
    end: i64,
    out: &mut RollupColumns,
) -> Result<(), EngineError> {
    let mut part = RollupColumns::new(resolution_ms);
    let mut acc = RollupColumns::new(resolution_ms);
    let wanted = BlockKind::Rollup { resolution_ms };
    for block in state
        .blocks
        .iter()
        .filter(|b| b.entry.kind == wanted && b.overlaps(start, end))
    {
        match block.reader.read_rollup_series(id, &mut part) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) if e.is_corruption() => {
                let (reason, path) = (e.to_string(), block.reader.path().to_path_buf());
                salvage(inner, block.entry.file_id)?;
                return Err(EngineError::Corrupt {
                    series: id,
                    block: path,
                    reason,
                });
            }
            Err(e) => return Err(e.into()),
        }
        let mut inside = RollupColumns::new(resolution_ms);
        for row in part.rows().filter(|row| row.ts >= start && row.ts <= end) {
            inside.push(row);
        }
        let mut merged = RollupColumns::new(resolution_ms);
        merge_rollups(&acc, &inside, &mut merged)?;
        acc = merged;
    }
    *out = acc;
    Ok(())
}
