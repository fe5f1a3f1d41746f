//! Flush: the head becomes blocks, one per time partition, and the WAL lets go of it.
//!
//! 1. Under the append gate: roll the WAL to a new segment S and swap in an empty head; the old
//!    head is *frozen* (readers still see it) and holds every record of the segments before S.
//! 2. Write one block per partition the frozen head touches (temporary name, fsync, rename,
//!    directory fsync), series in id order, with their keys.
//! 3. Checkpoint the label index (the series defined in the segments about to go).
//! 4. Commit: a new manifest naming the new blocks and `wal_replay_from = S` (atomic rename).
//! 5. Publish the blocks to readers and drop the frozen head, in one step.
//! 6. Delete the WAL segments before S.
//!
//! A crash before step 4 leaves the old manifest: the new block files are orphans removed at
//! the next start, and the WAL still holds everything. A crash after it leaves the new
//! manifest: old segments are removed at the next start. A failure in steps 2–4 keeps the
//! frozen head; the next flush retries it before freezing another.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use floe_storage_format::block::{BlockHeader, BlockReader, BlockWriter};
use floe_storage_format::manifest::{BlockEntry, BlockKind, Manifest};
use floe_storage_format::{Columns, Sample, SeriesId};

use super::blocks::{LiveBlock, RAW, block_path};
use super::error::{EngineError, io_err};
use super::head::Head;
use super::metrics::EngineMetrics;
use super::recover::INDEX_FILE;
use super::{Inner, Maintenance, lock, read_lock, write_lock};
use crate::index::SeriesRef;

/// What a flush wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// Blocks written (one per partition touched).
    pub blocks: usize,
    /// Series written (counted once per block).
    pub series: u64,
    /// Samples written, after merging duplicates.
    pub samples: u64,
    /// WAL segments deleted.
    pub wal_segments_removed: usize,
}

/// True when the head should be flushed: too many samples, or the last flush too long ago.
pub(crate) fn due(inner: &Inner) -> bool {
    let samples = read_lock(&inner.state).active.samples();
    if samples == 0 {
        return false;
    }
    let last = lock(&inner.maintenance).last_flush_ms;
    samples >= inner.config.flush_max_samples
        || inner.clock.now_ms().saturating_sub(last)
            >= inner.config.flush_interval.as_millis() as i64
}

/// Freezes the head (unless a failed flush left one frozen) and returns it with the first WAL
/// segment that it does not cover.
fn freeze(inner: &Inner, m: &mut Maintenance) -> Result<(Arc<Head>, u64), EngineError> {
    if let (Some(frozen), Some(segment)) =
        (read_lock(&inner.state).frozen.clone(), m.frozen_segment)
    {
        return Ok((frozen, segment));
    }
    let _gate = write_lock(&inner.gate);
    let segment = inner.wal.roll()?;
    let mut st = write_lock(&inner.state);
    let old = std::mem::replace(&mut st.active, Arc::new(Head::new()));
    st.frozen = Some(old.clone());
    m.frozen_segment = Some(segment);
    Ok((old, segment))
}

/// Flushes the head. Serialized with compaction by the maintenance lock.
pub(crate) fn flush(inner: &Inner) -> Result<FlushReport, EngineError> {
    let started = Instant::now();
    let mut m = lock(&inner.maintenance);
    let (frozen, segment) = freeze(inner, &mut m)?;
    let mut next = m.manifest.clone();
    let mut report = FlushReport::default();
    // The index is locked per series, not for the whole flush, so new series can be created
    // while blocks are written.
    let written = write_blocks(inner, &frozen, &mut next, &mut report)?;
    read_lock(&inner.index).checkpoint(&inner.config.dir.join(INDEX_FILE))?;
    next.wal_replay_from = segment;
    next.generation += 1;
    // Ids handed out stay used even if the write fails after its rename took effect.
    m.manifest.next_file_id = next.next_file_id;
    next.write_atomic(&inner.config.dir)?;
    m.manifest = next;
    m.last_flush_ms = inner.clock.now_ms();
    m.frozen_segment = None;
    {
        let mut st = write_lock(&inner.state);
        let mut blocks = st.blocks.as_ref().clone();
        blocks.extend(written.into_iter().map(Arc::new));
        st.blocks = Arc::new(blocks);
        st.frozen = None;
    }
    drop(m);
    report.wal_segments_removed = remove_segments_before(inner, segment)?;
    let metrics = &inner.metrics;
    EngineMetrics::add(&metrics.flushes_total, 1);
    EngineMetrics::add(
        &metrics.flush_ms_total,
        started.elapsed().as_millis() as u64,
    );
    EngineMetrics::set(
        &metrics.head_samples,
        read_lock(&inner.state).active.samples() as u64,
    );
    super::recover::blocks_gauges(inner);
    tracing::debug!(
        blocks = report.blocks,
        samples = report.samples,
        ms = started.elapsed().as_millis() as u64,
        "head flushed"
    );
    Ok(report)
}

/// Writes one block per partition of the frozen head; returns them opened.
fn write_blocks(
    inner: &Inner,
    head: &Head,
    manifest: &mut Manifest,
    report: &mut FlushReport,
) -> Result<Vec<LiveBlock>, EngineError> {
    // Partition → series (by id) with data in it.
    let mut partitions: BTreeMap<i64, Vec<(SeriesId, SeriesRef)>> = BTreeMap::new();
    let mut touched: Vec<(i64, SeriesRef)> = Vec::new();
    head.for_each_series(|r, cols| {
        let mut last = None;
        for &t in &cols.ts {
            let p = inner.config.partition_of(t);
            if last != Some(p) {
                touched.push((p, r));
                last = Some(p);
            }
        }
    });
    {
        let index = read_lock(&inner.index);
        for (p, r) in touched {
            partitions.entry(p).or_default().push((index.id(r), r));
        }
    }
    let mut out = Vec::with_capacity(partitions.len());
    for (start, mut series) in partitions {
        series.sort_unstable();
        let file_id = manifest.next_file_id;
        manifest.next_file_id += 1;
        let block = write_partition(inner, head, file_id, start, &series)?;
        report.blocks += 1;
        report.series += block.entry.series;
        report.samples += block.entry.samples;
        manifest.blocks.push(block.entry.clone());
        out.push(block);
    }
    Ok(out)
}

fn write_partition(
    inner: &Inner,
    head: &Head,
    file_id: u64,
    start: i64,
    series: &[(SeriesId, SeriesRef)],
) -> Result<LiveBlock, EngineError> {
    let end = start + inner.config.partition_ms;
    let mut entry = BlockEntry {
        file_id,
        kind: BlockKind::Raw,
        partition_start: start,
        partition_end: end,
        level: 0,
        series: 0,
        samples: 0,
        bytes: 0,
    };
    let path = block_path(&inner.config.dir, &entry);
    let header = BlockHeader {
        sample_type: RAW,
        has_keys: true,
        partition_start: start,
        partition_end: end,
    };
    let mut w = BlockWriter::create(&path, header)?;
    let mut samples: Vec<Sample> = Vec::new();
    for &(id, r) in series {
        samples.clear();
        head.read(r, start, end - 1, &mut samples);
        if samples.is_empty() {
            continue;
        }
        let cols = Columns::from_samples(&samples);
        w.add_series(
            id,
            Some(&read_lock(&inner.index).key(r)),
            &cols.ts,
            &cols.values,
            &cols.versions,
        )?;
        entry.series += 1;
        entry.samples += samples.len() as u64;
    }
    entry.bytes = w.finish()?.bytes;
    let reader = BlockReader::open(&path)?;
    Ok(LiveBlock { entry, reader })
}

fn remove_segments_before(inner: &Inner, segment: u64) -> Result<usize, EngineError> {
    let dir = inner.wal_dir();
    let mut n = 0;
    for (id, path) in super::wal::list_segments(&dir)? {
        if id < segment {
            std::fs::remove_file(&path)
                .map_err(|e| io_err("remove flushed WAL segment", &path, e))?;
            n += 1;
        }
    }
    Ok(n)
}
