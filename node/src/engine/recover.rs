//! Opening an engine: directory lock, manifest, orphan cleanup, blocks, label index, WAL replay.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use floe_storage_format::manifest::Manifest;

use super::blocks::{LiveBlock, open_live_blocks};
use super::clock::Clock;
use super::config::EngineConfig;
use super::error::{EngineError, io_err};
use super::head::Head;
use super::metrics::EngineMetrics;
use super::wal::{self, Replayed, Wal};
use super::{Inner, Maintenance, ReadState};
use crate::index::LabelIndex;

/// What opening the engine found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Live blocks opened.
    pub blocks: usize,
    /// Blocks that failed their checks and were moved to `quarantine/`.
    pub quarantined: Vec<String>,
    /// Files removed because no manifest named them (leftovers of an interrupted flush or
    /// compaction).
    pub orphans_removed: Vec<String>,
    /// Series in the label index after replay.
    pub series: usize,
    /// WAL segments replayed.
    pub wal_segments: u64,
    /// Samples replayed from the WAL.
    pub wal_samples: u64,
    /// Segments whose replay stopped early, and why (a torn tail after a crash is normal).
    pub wal_problems: Vec<String>,
    /// Samples in the WAL of series it never defined (lost with a damaged record).
    pub orphan_samples: u64,
}

/// The file name of the label index checkpoint.
pub(crate) const INDEX_FILE: &str = "series.idx";

fn lock_dir(dir: &Path) -> Result<File, EngineError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_err("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Locked {
            path: dir.to_path_buf(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err("lock data directory", &path, e)),
    }
}

fn make_dirs(dir: &Path) -> Result<(), EngineError> {
    for sub in ["", "wal", "blocks", "quarantine"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| io_err("create directory", &d, e))?;
    }
    Ok(())
}

/// Removes block files the manifest does not name, temporary files, and WAL segments older
/// than the manifest's replay position.
fn remove_orphans(
    dir: &Path,
    manifest: &Manifest,
    report: &mut RecoveryReport,
) -> Result<(), EngineError> {
    let live: std::collections::HashSet<String> =
        manifest.blocks.iter().map(|b| b.file_name()).collect();
    let blocks = dir.join("blocks");
    for entry in std::fs::read_dir(&blocks).map_err(|e| io_err("list blocks", &blocks, e))? {
        let entry = entry.map_err(|e| io_err("list blocks", &blocks, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !live.contains(&name) {
            std::fs::remove_file(entry.path())
                .map_err(|e| io_err("remove orphan block", &entry.path(), e))?;
            report.orphans_removed.push(format!("blocks/{name}"));
        }
    }
    for (id, path) in wal::list_segments(&dir.join("wal"))? {
        if id < manifest.wal_replay_from {
            std::fs::remove_file(&path)
                .map_err(|e| io_err("remove flushed WAL segment", &path, e))?;
            report.orphans_removed.push(format!("wal/{id:016x}.wal"));
        }
    }
    let tmp = dir.join("MANIFEST.tmp");
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| io_err("remove temporary manifest", &tmp, e))?;
        report.orphans_removed.push("MANIFEST.tmp".into());
    }
    Ok(())
}

fn load_index(dir: &Path) -> Result<LabelIndex, EngineError> {
    let path = dir.join(INDEX_FILE);
    if path.exists() {
        Ok(LabelIndex::load(&path)?)
    } else {
        Ok(LabelIndex::new())
    }
}

/// Replays the WAL into a fresh head and the index; returns the head and the last segment id.
fn replay_wal(
    dir: &Path,
    from: u64,
    index: &mut LabelIndex,
    metrics: &EngineMetrics,
    report: &mut RecoveryReport,
) -> Result<(Head, Option<u64>), EngineError> {
    let head = Head::new();
    let mut items = Vec::new();
    let replay = wal::replay(&dir.join("wal"), from, metrics, |rec| {
        match rec {
            Replayed::Series(key) => {
                index.insert(&key);
            }
            Replayed::Samples(batch) => {
                items.clear();
                for (id, s) in batch.samples() {
                    match index.lookup(id) {
                        Some(r) => items.push((r, s)),
                        None => report.orphan_samples += 1,
                    }
                }
                head.append(items.drain(..));
            }
        }
        Ok(())
    })?;
    report.wal_segments = replay.segments;
    report.wal_samples = replay.samples;
    for (path, problem) in &replay.problems {
        tracing::warn!(segment = %path.display(), %problem, "WAL replay stopped early in a segment");
        report
            .wal_problems
            .push(format!("{}: {problem}", path.display()));
    }
    if report.orphan_samples > 0 {
        tracing::error!(
            samples = report.orphan_samples,
            "WAL samples of undefined series were dropped"
        );
    }
    Ok((head, replay.last_segment))
}

/// Builds the engine's state from the data directory.
pub(crate) fn open(
    config: EngineConfig,
    clock: Arc<dyn Clock>,
) -> Result<(Inner, RecoveryReport), EngineError> {
    config
        .validate()
        .map_err(|reason| EngineError::Config { reason })?;
    let dir = config.dir.clone();
    make_dirs(&dir)?;
    let lock = lock_dir(&dir)?;
    let metrics = Arc::new(EngineMetrics::default());
    let mut report = RecoveryReport::default();
    let mut manifest = Manifest::read(&dir)?.unwrap_or_default();
    remove_orphans(&dir, &manifest, &mut report)?;
    let blocks = open_live_blocks(&dir, &mut manifest, &metrics, &mut report)?;
    let mut index = load_index(&dir)?;
    let (head, last_segment) = replay_wal(
        &dir,
        manifest.wal_replay_from,
        &mut index,
        &metrics,
        &mut report,
    )?;
    let next_segment = last_segment
        .map_or(manifest.wal_replay_from, |s| s + 1)
        .max(manifest.wal_replay_from);
    let wal = Wal::create(
        &dir.join("wal"),
        next_segment,
        config.fsync,
        config.wal_segment_bytes,
        metrics.clone(),
    )?;
    report.blocks = blocks.len();
    report.series = index.len();
    EngineMetrics::set(&metrics.head_samples, head.samples() as u64);
    tracing::info!(
        dir = %dir.display(),
        blocks = report.blocks,
        series = report.series,
        wal_samples = report.wal_samples,
        quarantined = report.quarantined.len(),
        "storage engine opened"
    );
    let state = ReadState {
        active: Arc::new(head),
        frozen: None,
        blocks: Arc::new(
            blocks
                .into_iter()
                .map(Arc::new)
                .collect::<Vec<Arc<LiveBlock>>>(),
        ),
    };
    let now = clock.now_ms();
    let config_cache_bytes = config.chunk_cache_bytes;
    let digests = Box::new(super::digests::DigestCache::new(
        config.partition_ms,
        metrics.clone(),
    ));
    let metrics_for_cache = metrics.clone();
    let inner = Inner {
        config,
        clock,
        metrics,
        index: RwLock::new(index),
        wal,
        gate: RwLock::new(()),
        state: RwLock::new(state),
        maintenance: Mutex::new(Maintenance {
            manifest,
            last_flush_ms: now,
            frozen_segment: None,
        }),
        closed: AtomicBool::new(false),
        cache: super::cache::ChunkCache::new(config_cache_bytes, metrics_for_cache),
        digests,
        _lock: lock,
    };
    blocks_gauges(&inner);
    Ok((inner, report))
}

/// Refreshes the block gauges from the read state.
pub(crate) fn blocks_gauges(inner: &Inner) {
    let state = super::read_lock(&inner.state);
    EngineMetrics::set(&inner.metrics.blocks, state.blocks.len() as u64);
    EngineMetrics::set(
        &inner.metrics.block_bytes,
        state.blocks.iter().map(|b| b.entry.bytes).sum(),
    );
}
