//! Compaction, rollups and retention.
//!
//! A *span* is a time range whose raw blocks are merged into one: a partition (level 1), once
//! it is closed (the clock is `late_grace` past its end) or has collected
//! `max_blocks_per_partition` flushed blocks; then a whole day (level 2) once the day is closed
//! and holds more than one raw block. Merging applies the merge rule per series
//! (`merge_sorted_columns`). When a span is closed, its rollup blocks (one per configured
//! resolution) are rebuilt from the merged samples in the same step.
//!
//! Each span is committed by one atomic manifest replacement that removes the inputs (and the
//! span's previous rollups) and adds the outputs; input files are deleted only after it. A
//! kill at any moment therefore leaves either the old blocks or the new ones live — never
//! both, never neither — and the next start removes the files the manifest does not name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use floe_storage_format::block::{BlockHeader, BlockReader, BlockWriter};
use floe_storage_format::manifest::{BlockEntry, BlockKind, Manifest};
use floe_storage_format::rollup::{RollupColumns, rollup};
use floe_storage_format::wal::SampleType;
use floe_storage_format::{Columns, Sample, SeriesId, merge_sorted_columns};

use super::blocks::{LiveBlock, RAW, block_path, salvage};
use super::digests::Stale;
use super::error::{EngineError, io_err};
use super::metrics::EngineMetrics;
use super::{Inner, Maintenance, lock, read_lock, write_lock};

const DAY_MS: i64 = 86_400_000;

/// What one round of compaction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// Spans merged (each into one raw block).
    pub spans_merged: usize,
    /// Raw blocks merged away.
    pub blocks_merged: usize,
    /// Rollup blocks written.
    pub rollup_blocks: usize,
    /// Blocks deleted by retention.
    pub expired: usize,
    /// Spans that could not be merged this round (logged; their blocks stay live).
    pub failed_spans: usize,
}

/// One unit of work: merge `inputs` into one raw block covering `[start, end)`.
#[derive(Debug)]
struct Span {
    start: i64,
    end: i64,
    level: u8,
    inputs: Vec<Arc<LiveBlock>>,
    /// Build rollups (the span is closed); replaces `old_rollups`.
    rollups: bool,
    old_rollups: Vec<Arc<LiveBlock>>,
}

/// Runs retention, then merges every span that is due.
pub(crate) fn compact(inner: &Inner) -> Result<CompactReport, EngineError> {
    let started = Instant::now();
    let mut m = lock(&inner.maintenance);
    let mut report = CompactReport {
        expired: expire(inner, &mut m)?,
        ..CompactReport::default()
    };
    let spans = plan(inner, &read_lock(&inner.state).blocks);
    for span in spans {
        match merge_span(inner, &mut m, &span) {
            Ok((rollups, merged)) => {
                report.spans_merged += 1;
                report.blocks_merged += merged;
                report.rollup_blocks += rollups;
            }
            Err(SpanError::Corrupt(file_id)) => {
                // The plan is stale once the lock is let go: salvage, and plan again next round.
                drop(m);
                salvage(inner, file_id)?;
                break;
            }
            Err(SpanError::Engine(e)) => {
                // One span that cannot be merged (e.g. a series too dense for one chunk) must
                // not hold up every other span: log it and go on.
                tracing::error!(start = span.start, end = span.end, error = %e, "span not compacted; its blocks stay live");
                report.failed_spans += 1;
            }
        }
    }
    if report.spans_merged > 0 {
        EngineMetrics::add(&inner.metrics.compactions_total, report.spans_merged as u64);
        EngineMetrics::add(
            &inner.metrics.compaction_ms_total,
            started.elapsed().as_millis() as u64,
        );
        tracing::debug!(
            ?report,
            ms = started.elapsed().as_millis() as u64,
            "compaction round"
        );
    }
    super::recover::blocks_gauges(inner);
    Ok(report)
}

/// The spans due for merging, given the live blocks.
fn plan(inner: &Inner, blocks: &[Arc<LiveBlock>]) -> Vec<Span> {
    let cfg = &inner.config;
    let now = inner.clock.now_ms();
    let grace = cfg.late_grace.as_millis() as i64;
    let closed = |end: i64| now >= end.saturating_add(grace);
    let with_rollups = !cfg.rollups.is_empty();
    let mut days: BTreeMap<i64, Vec<Arc<LiveBlock>>> = BTreeMap::new();
    for b in blocks.iter().filter(|b| b.is_raw()) {
        days.entry(b.entry.partition_start.div_euclid(DAY_MS) * DAY_MS)
            .or_default()
            .push(b.clone());
    }
    let rollups_in = |start: i64, end: i64| -> Vec<Arc<LiveBlock>> {
        blocks
            .iter()
            .filter(|b| {
                !b.is_raw() && b.entry.partition_start >= start && b.entry.partition_end <= end
            })
            .cloned()
            .collect()
    };
    let mut spans = Vec::new();
    for (day, raw) in days {
        let day_end = day + DAY_MS;
        if closed(day_end) && raw.len() > 1 {
            spans.push(Span {
                start: day,
                end: day_end,
                level: 2,
                inputs: raw,
                rollups: with_rollups,
                old_rollups: rollups_in(day, day_end),
            });
            continue;
        }
        let mut parts: BTreeMap<i64, Vec<Arc<LiveBlock>>> = BTreeMap::new();
        for b in raw
            .into_iter()
            .filter(|b| b.entry.partition_end - b.entry.partition_start == cfg.partition_ms)
        {
            parts.entry(b.entry.partition_start).or_default().push(b);
        }
        for (start, inputs) in parts {
            let end = start + cfg.partition_ms;
            let is_closed = closed(end);
            let old_rollups = rollups_in(start, end);
            let merge =
                inputs.len() >= 2 && (is_closed || inputs.len() >= cfg.max_blocks_per_partition);
            let rollups_missing = is_closed && with_rollups && old_rollups.is_empty();
            if merge || rollups_missing {
                let level = if inputs.len() >= 2 {
                    1
                } else {
                    inputs[0].entry.level
                };
                spans.push(Span {
                    start,
                    end,
                    level,
                    inputs,
                    rollups: is_closed && with_rollups,
                    old_rollups,
                });
            }
        }
    }
    spans
}

enum SpanError {
    /// An input block is damaged: salvage it, the span waits for the next round.
    Corrupt(u64),
    Engine(EngineError),
}

impl<E: Into<EngineError>> From<E> for SpanError {
    fn from(e: E) -> Self {
        SpanError::Engine(e.into())
    }
}

/// Writers for one span's outputs.
struct Outputs {
    raw: Option<(BlockEntry, BlockWriter)>,
    rollups: Vec<(BlockEntry, BlockWriter, i64)>,
}

fn new_entry(m: &mut Manifest, kind: BlockKind, span: &Span, level: u8) -> BlockEntry {
    let file_id = m.next_file_id;
    m.next_file_id += 1;
    BlockEntry {
        file_id,
        kind,
        partition_start: span.start,
        partition_end: span.end,
        level,
        series: 0,
        samples: 0,
        bytes: 0,
    }
}

fn open_outputs(inner: &Inner, next: &mut Manifest, span: &Span) -> Result<Outputs, EngineError> {
    let dir = &inner.config.dir;
    let header = |sample_type| BlockHeader {
        sample_type,
        has_keys: true,
        partition_start: span.start,
        partition_end: span.end,
    };
    // A single input that only needs rollups is kept as it is.
    let raw = if span.inputs.len() >= 2 {
        let entry = new_entry(next, BlockKind::Raw, span, span.level);
        let w = BlockWriter::create(block_path(dir, &entry), header(RAW))?;
        Some((entry, w))
    } else {
        None
    };
    let mut rollups = Vec::new();
    if span.rollups {
        for level in &inner.config.rollups {
            let kind = BlockKind::Rollup {
                resolution_ms: level.resolution_ms,
            };
            let entry = new_entry(next, kind, span, span.level);
            let w = BlockWriter::create(block_path(dir, &entry), header(SampleType::Rollup))?;
            rollups.push((entry, w, level.resolution_ms));
        }
    }
    Ok(Outputs { raw, rollups })
}

/// The ids of every series in the inputs, sorted.
fn series_ids(inputs: &[Arc<LiveBlock>]) -> Result<Vec<SeriesId>, EngineError> {
    let mut ids = BTreeSet::new();
    for b in inputs {
        for i in 0..b.reader.series_count() {
            ids.insert(b.reader.entry(i)?.id);
        }
    }
    Ok(ids.into_iter().collect())
}

/// Merges one series from every input with the merge rule.
fn merged_series(
    inputs: &[Arc<LiveBlock>],
    id: SeriesId,
    cols: &mut Columns,
) -> Result<Vec<Sample>, SpanError> {
    let mut acc: Vec<Sample> = Vec::new();
    let mut tmp = Vec::new();
    for b in inputs {
        match b.reader.read_series(id, cols) {
            Ok(false) => {}
            Ok(true) => {
                let run: Vec<Sample> = cols.samples().collect();
                tmp.clear();
                merge_sorted_columns(&acc, &run, &mut tmp);
                std::mem::swap(&mut acc, &mut tmp);
            }
            Err(e) if e.is_corruption() => {
                tracing::error!(block = %b.reader.path().display(), error = %e, "corrupt input to compaction");
                return Err(SpanError::Corrupt(b.entry.file_id));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(acc)
}

fn write_series(
    inner: &Inner,
    out: &mut Outputs,
    id: SeriesId,
    samples: &[Sample],
    roll: &mut RollupColumns,
) -> Result<(), EngineError> {
    let key = {
        // Locked per series, so new series can be created while compaction runs.
        let index = read_lock(&inner.index);
        index
            .lookup(id)
            .map(|r| index.key(r))
            .ok_or(EngineError::UnknownSeries(id))?
    };
    let cols = Columns::from_samples(samples);
    if let Some((entry, w)) = &mut out.raw {
        w.add_series(id, Some(&key), &cols.ts, &cols.values, &cols.versions)?;
        entry.series += 1;
        entry.samples += samples.len() as u64;
    }
    for (entry, w, res) in &mut out.rollups {
        rollup(&cols.ts, &cols.values, *res, roll)?;
        if roll.is_empty() {
            continue;
        }
        w.add_rollup_series(id, Some(&key), roll)?;
        entry.series += 1;
        entry.samples += roll.len() as u64;
    }
    Ok(())
}

/// Merges one span and commits it; returns `(rollup blocks written, raw blocks merged)`.
fn merge_span(
    inner: &Inner,
    m: &mut Maintenance,
    span: &Span,
) -> Result<(usize, usize), SpanError> {
    let mut next = m.manifest.clone();
    let mut out = open_outputs(inner, &mut next, span)?;
    let mut cols = Columns::default();
    let mut roll = RollupColumns::new(1);
    for id in series_ids(&span.inputs)? {
        let samples = merged_series(&span.inputs, id, &mut cols)?;
        if !samples.is_empty() {
            write_series(inner, &mut out, id, &samples, &mut roll)?;
        }
    }
    let (added, removed) = finish_outputs(inner, out, span)?;
    let removed_ids: BTreeSet<u64> = removed.iter().map(|b| b.entry.file_id).collect();
    next.blocks.retain(|b| !removed_ids.contains(&b.file_id));
    next.blocks.extend(added.iter().map(|b| b.entry.clone()));
    next.generation += 1;
    // Ids handed out stay used even if the write fails after its rename took effect.
    m.manifest.next_file_id = next.next_file_id;
    next.write_atomic(&inner.config.dir)?;
    m.manifest = next;
    publish(inner, &removed_ids, added);
    delete_files(inner, &removed)?;
    let rollups = span.rollups as usize * inner.config.rollups.len();
    Ok((
        rollups,
        if span.inputs.len() >= 2 {
            span.inputs.len()
        } else {
            0
        },
    ))
}

/// Finishes the writers; returns the new live blocks and the blocks they replace.
fn finish_outputs(
    inner: &Inner,
    out: Outputs,
    span: &Span,
) -> Result<(Vec<LiveBlock>, Vec<Arc<LiveBlock>>), EngineError> {
    let dir = &inner.config.dir;
    let mut added = Vec::new();
    let mut removed = span.old_rollups.clone();
    if let Some((mut entry, w)) = out.raw {
        entry.bytes = w.finish()?.bytes;
        added.push(LiveBlock {
            reader: BlockReader::open(block_path(dir, &entry))?,
            entry,
        });
        removed.extend(span.inputs.iter().cloned());
    }
    for (mut entry, w, _) in out.rollups {
        if entry.series == 0 {
            continue; // dropped writer removes its temporary file
        }
        entry.bytes = w.finish()?.bytes;
        added.push(LiveBlock {
            reader: BlockReader::open(block_path(dir, &entry))?,
            entry,
        });
    }
    Ok((added, removed))
}

pub(super) fn publish(inner: &Inner, removed: &BTreeSet<u64>, added: Vec<LiveBlock>) {
    let mut st = write_lock(&inner.state);
    let mut blocks: Vec<Arc<LiveBlock>> = st
        .blocks
        .iter()
        .filter(|b| !removed.contains(&b.entry.file_id))
        .cloned()
        .collect();
    blocks.extend(added.into_iter().map(Arc::new));
    st.blocks = Arc::new(blocks);
}

pub(super) fn delete_files(inner: &Inner, blocks: &[Arc<LiveBlock>]) -> Result<(), EngineError> {
    for b in blocks {
        let path = block_path(&inner.config.dir, &b.entry);
        std::fs::remove_file(&path).map_err(|e| io_err("remove compacted block", &path, e))?;
    }
    Ok(())
}

/// Deletes blocks past their retention; returns how many.
fn expire(inner: &Inner, m: &mut Maintenance) -> Result<usize, EngineError> {
    let cfg = &inner.config;
    let now = inner.clock.now_ms();
    let keep_until = |b: &BlockEntry| -> Option<i64> {
        let retention = match b.kind {
            BlockKind::Raw => cfg.raw_retention,
            BlockKind::Rollup { resolution_ms } => {
                cfg.rollups
                    .iter()
                    .find(|r| r.resolution_ms == resolution_ms)?
                    .retention
            }
        };
        Some(b.partition_end.saturating_add(retention.as_millis() as i64))
    };
    let state = read_lock(&inner.state).clone();
    let expired: Vec<Arc<LiveBlock>> = state
        .blocks
        .iter()
        .filter(|b| keep_until(&b.entry).is_some_and(|t| t < now))
        .cloned()
        .collect();
    if expired.is_empty() {
        return Ok(0);
    }
    let ids: BTreeSet<u64> = expired.iter().map(|b| b.entry.file_id).collect();
    let mut next = m.manifest.clone();
    next.blocks.retain(|b| !ids.contains(&b.file_id));
    next.generation += 1;
    next.write_atomic(&cfg.dir)?;
    m.manifest = next;
    publish(inner, &ids, Vec::new());
    // The expired raw samples are gone: the digest cells of their span are stale.
    let raw = || expired.iter().filter(|b| b.is_raw()).map(|b| &b.entry);
    let from = raw().map(|e| e.partition_start).min();
    if let (Some(from), Some(to)) = (from, raw().map(|e| e.partition_end).max()) {
        inner.digests.invalidate(Stale::Partitions { from, to });
    }
    delete_files(inner, &expired)?;
    EngineMetrics::add(&inner.metrics.blocks_expired_total, expired.len() as u64);
    tracing::info!(blocks = expired.len(), "blocks past retention deleted");
    Ok(expired.len())
}
