//! Live blocks, and what happens to a block that fails its checks: quarantine and salvage.
//!
//! A block that cannot be opened (bad header, footer or index) is moved to `quarantine/` and
//! its whole partition is marked for repair. A block with a bad chunk is *salvaged*: every
//! readable series is copied into a new block that replaces it in the manifest, the original
//! is moved to `quarantine/`, and the unreadable series are marked for repair. Either way the
//! node never serves the damaged bytes and keeps serving everything else.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use floe_storage_format::block::{BlockHeader, BlockReader, BlockWriter};
use floe_storage_format::manifest::{BlockEntry, BlockKind, Manifest, RepairMark};
use floe_storage_format::rollup::RollupColumns;
use floe_storage_format::wal::SampleType;
use floe_storage_format::{Columns, SeriesId};

use super::digests::Stale;
use super::error::{EngineError, io_err};
use super::metrics::EngineMetrics;
use super::recover::RecoveryReport;
use super::{Inner, lock, write_lock};

/// A block the manifest names, open for reading.
#[derive(Debug)]
pub(crate) struct LiveBlock {
    pub(crate) entry: BlockEntry,
    pub(crate) reader: BlockReader,
}

impl LiveBlock {
    /// True when the block holds raw samples (not rollups).
    pub(crate) fn is_raw(&self) -> bool {
        matches!(self.entry.kind, BlockKind::Raw)
    }

    /// True when the block's partition overlaps `[start, end]`.
    pub(crate) fn overlaps(&self, start: i64, end: i64) -> bool {
        self.entry.partition_start <= end && start < self.entry.partition_end
    }
}

pub(crate) fn block_path(dir: &Path, entry: &BlockEntry) -> PathBuf {
    dir.join("blocks").join(entry.file_name())
}

/// Moves a block file into `quarantine/`, keeping its name (suffixed if taken).
fn quarantine_file(dir: &Path, entry: &BlockEntry) -> Result<PathBuf, EngineError> {
    let from = block_path(dir, entry);
    let mut to = dir.join("quarantine").join(entry.file_name());
    let mut n = 1;
    while to.exists() {
        to = dir
            .join("quarantine")
            .join(format!("{}.{n}", entry.file_name()));
        n += 1;
    }
    std::fs::rename(&from, &to).map_err(|e| io_err("move block to quarantine", &from, e))?;
    Ok(to)
}

fn mark(entry: &BlockEntry, series: Option<SeriesId>, reason: String) -> RepairMark {
    RepairMark {
        partition_start: entry.partition_start,
        partition_end: entry.partition_end,
        series,
        reason,
    }
}

/// Opens every block of the manifest. Those that fail are quarantined, their partitions
/// marked for repair, and the manifest rewritten without them.
pub(crate) fn open_live_blocks(
    dir: &Path,
    manifest: &mut Manifest,
    metrics: &EngineMetrics,
    report: &mut RecoveryReport,
) -> Result<Vec<LiveBlock>, EngineError> {
    let mut live = Vec::with_capacity(manifest.blocks.len());
    let mut kept = Vec::with_capacity(manifest.blocks.len());
    let mut changed = false;
    for entry in manifest.blocks.drain(..) {
        match BlockReader::open(block_path(dir, &entry)) {
            Ok(reader) => {
                kept.push(entry.clone());
                live.push(LiveBlock { entry, reader });
            }
            Err(e) if e.is_corruption() => {
                let to = quarantine_file(dir, &entry)?;
                tracing::error!(block = %to.display(), error = %e, "block failed its checks; quarantined, partition marked for repair");
                report.quarantined.push(entry.file_name());
                manifest.repairs.push(mark(&entry, None, e.to_string()));
                EngineMetrics::add(&metrics.blocks_quarantined_total, 1);
                changed = true;
            }
            Err(e) if !block_path(dir, &entry).exists() => {
                // Quarantined by an earlier start that died before rewriting the manifest.
                tracing::error!(block = %entry.file_name(), error = %e, "block named by the manifest is missing; partition marked for repair");
                report.quarantined.push(entry.file_name());
                manifest
                    .repairs
                    .push(mark(&entry, None, format!("block file missing: {e}")));
                changed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    manifest.blocks = kept;
    EngineMetrics::set(&metrics.repair_marks, manifest.repairs.len() as u64);
    if changed {
        manifest.generation += 1;
        manifest.write_atomic(dir)?;
    }
    Ok(live)
}

/// Salvages a block in which a read failed: copies every readable series into a new block,
/// swaps it in, quarantines the original and marks the unreadable series for repair. Does
/// nothing if the block is no longer live (another reader salvaged it first).
pub(crate) fn salvage(inner: &Inner, file_id: u64) -> Result<(), EngineError> {
    let mut m = lock(&inner.maintenance);
    let state = super::read_lock(&inner.state).clone();
    let Some(block) = state
        .blocks
        .iter()
        .find(|b| b.entry.file_id == file_id)
        .cloned()
    else {
        return Ok(());
    };
    let dir = &inner.config.dir;
    let mut next = m.manifest.clone();
    let new_id = next.next_file_id;
    next.next_file_id += 1;
    let (replacement, bad) = copy_readable(dir, &block, new_id)?;
    for (series, reason) in &bad {
        next.repairs
            .push(mark(&block.entry, Some(*series), reason.clone()));
    }
    next.blocks.retain(|b| b.file_id != file_id);
    if let Some(r) = &replacement {
        next.blocks.push(r.entry.clone());
    }
    next.generation += 1;
    m.manifest.next_file_id = next.next_file_id;
    next.write_atomic(dir)?;
    m.manifest = next;
    {
        let mut st = write_lock(&inner.state);
        let mut blocks: Vec<Arc<LiveBlock>> = st
            .blocks
            .iter()
            .filter(|b| b.entry.file_id != file_id)
            .cloned()
            .collect();
        blocks.extend(replacement.map(Arc::new));
        st.blocks = Arc::new(blocks);
    }
    if block.is_raw() {
        // The unreadable series lost their samples in this block's span.
        let (from, to) = (block.entry.partition_start, block.entry.partition_end);
        inner.digests.invalidate(Stale::Partitions { from, to });
    }
    let to = quarantine_file(dir, &block.entry)?;
    tracing::error!(block = %to.display(), unreadable_series = bad.len(), "block salvaged: readable series kept, original quarantined, unreadable series marked for repair");
    EngineMetrics::add(&inner.metrics.blocks_quarantined_total, 1);
    EngineMetrics::set(&inner.metrics.repair_marks, m.manifest.repairs.len() as u64);
    super::recover::blocks_gauges(inner);
    Ok(())
}

/// A salvaged block (if anything was readable) and the unreadable series with the reason.
type Salvaged = (Option<LiveBlock>, Vec<(SeriesId, String)>);

/// Writes the readable series of `block` into block `new_id`; returns it (None if nothing was
/// readable) and the unreadable series with the reason.
fn copy_readable(dir: &Path, block: &LiveBlock, new_id: u64) -> Result<Salvaged, EngineError> {
    let r = &block.reader;
    let keys = r.series_keys().ok();
    let mut entry = BlockEntry {
        file_id: new_id,
        series: 0,
        samples: 0,
        bytes: 0,
        ..block.entry.clone()
    };
    let header = BlockHeader {
        has_keys: keys.is_some(),
        ..*r.header()
    };
    let path = block_path(dir, &entry);
    let mut w = BlockWriter::create(&path, header)?;
    let mut bad = Vec::new();
    let mut cols = Columns::default();
    let mut rollup = RollupColumns::new(r.rollup_resolution().unwrap_or(1));
    for i in 0..r.series_count() {
        let id = r.entry(i)?.id;
        let key = keys.as_ref().map(|k| &k[i]);
        let copied = if block.is_raw() {
            r.read_entry(i, &mut cols).map(|()| cols.len())
        } else {
            r.read_rollup_entry(i, &mut rollup).map(|()| rollup.len())
        };
        match copied {
            Ok(n) => {
                if block.is_raw() {
                    w.add_series(id, key, &cols.ts, &cols.values, &cols.versions)?;
                } else {
                    w.add_rollup_series(id, key, &rollup)?;
                }
                entry.series += 1;
                entry.samples += n as u64;
            }
            Err(e) => bad.push((id, e.to_string())),
        }
    }
    if entry.series == 0 {
        drop(w);
        return Ok((None, bad));
    }
    entry.bytes = w.finish()?.bytes;
    let reader = BlockReader::open(&path)?;
    Ok((Some(LiveBlock { entry, reader }), bad))
}

/// The sample type of raw blocks.
pub(crate) const RAW: SampleType = SampleType::Float;

/// Flips a byte in the middle of series `id`'s chunk in the first block (tests of the paths
/// that meet a damaged block).
#[cfg(test)]
pub(crate) fn damage_chunk(engine: &super::Engine, id: floe_storage_format::SeriesId) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let block = super::read_lock(&engine.inner.state).blocks[0].clone();
    let i = block.reader.find(id).expect("series in block");
    let e = block.reader.entry(i).expect("index entry");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(block.reader.path())
        .expect("open block file");
    let at = e.offset + u64::from(e.len) / 2;
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.read_exact(&mut byte).expect("read");
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&[byte[0] ^ 0xff]).expect("write");
}
