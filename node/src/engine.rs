//! The storage engine of one node: WAL, head, blocks, compaction, rollups and the label index.
//!
//! Write path: [`Engine::resolve`] turns series keys into dense [`SeriesRef`]s (a new series is
//! logged to the WAL first), then [`Engine::append`] logs a samples record to the WAL (durable
//! as the [`FsyncPolicy`] says before it returns) and adds the samples to the in-memory head.
//! A flush (background, or [`Engine::flush`]) freezes the head, starts a new WAL segment,
//! writes one block per time partition, checkpoints the label index, commits the new blocks
//! and the WAL position in the manifest, and only then deletes the old WAL segments.
//! Compaction merges the blocks of a partition (and later of a whole day) with the merge rule
//! and builds rollups; retention deletes old blocks; [`Engine::purge`] rewrites blocks without the
//! series a node no longer owns (rebalance cleanup). Every change to the set of live blocks is
//! one atomic manifest replacement, so a crash leaves the old set or the new, never a mix.
//!
//! Read path: [`Engine::read`] takes a consistent snapshot (active head, frozen head, live
//! blocks) and merges what each holds for the series with the merge rule.
//!
//! The on-disk layout and the guarantees are described in `docs/engine.md`.

mod blocks;
mod cache;
mod clock;
mod compact;
mod config;
mod digests;
mod error;
mod flush;
mod head;
mod metrics;
mod purge;
mod read;
mod recover;
mod wal;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use floe_storage_format::manifest::Manifest;
use floe_storage_format::wal::{SampleBatch, frame_samples_record, frame_series_record};
use floe_storage_format::{Sample, SeriesId, SeriesKey};

use self::blocks::LiveBlock;
pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::compact::CompactReport;
pub use self::config::{EngineConfig, FsyncPolicy, RollupLevel};
pub use self::digests::DigestCell;
pub use self::error::EngineError;
pub use self::flush::FlushReport;
use self::head::Head;
pub use self::metrics::EngineMetrics;
pub use self::purge::PurgeReport;
pub use self::recover::RecoveryReport;
use self::wal::Wal;
use crate::index::{LabelIndex, Matcher, SeriesRef};

/// The earliest timestamp the engine stores (ms): far enough from `i64::MIN` that partition and
/// day arithmetic never overflows (about 146 million years before 1970).
pub const MIN_TIMESTAMP_MS: i64 = -(1 << 62);
/// The latest timestamp the engine stores (ms).
pub const MAX_TIMESTAMP_MS: i64 = 1 << 62;

/// What readers see: the head taking writes, a head being flushed, and the live blocks.
#[derive(Debug, Clone)]
struct ReadState {
    active: Arc<Head>,
    frozen: Option<Arc<Head>>,
    blocks: Arc<Vec<Arc<LiveBlock>>>,
}

/// State changed only by flush, compaction and quarantine, one at a time.
#[derive(Debug)]
struct Maintenance {
    manifest: Manifest,
    last_flush_ms: i64,
    /// The WAL segment a frozen head stops before, while a flush of it is unfinished.
    frozen_segment: Option<u64>,
}

struct Inner {
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    metrics: Arc<EngineMetrics>,
    index: RwLock<LabelIndex>,
    wal: Wal,
    /// Appends hold it shared; a flush holds it exclusively while it rolls the WAL and swaps
    /// the head, so every record of the old segments is in the frozen head.
    gate: RwLock<()>,
    state: RwLock<ReadState>,
    maintenance: Mutex<Maintenance>,
    closed: AtomicBool,
    /// Decoded block chunks of recent reads.
    cache: cache::ChunkCache,
    /// Digests per series and partition, kept by appends (see `digests.rs`). Boxed: held
    /// inline it shifted the fields every append touches, and the engine bench's ingest ran
    /// about 10% slower.
    digests: Box<digests::DigestCache>,
    _lock: File,
}

/// The background threads' stop flag and handles.
type Background = (Arc<AtomicBool>, Vec<JoinHandle<()>>);

/// The storage engine of one node. Cheap to share across threads (`&self` everywhere).
pub struct Engine {
    inner: Arc<Inner>,
    background: Mutex<Option<Background>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dir", &self.inner.config.dir)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("dir", &self.config.dir)
            .finish_non_exhaustive()
    }
}

fn read_lock<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write_lock<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn wal_dir(&self) -> PathBuf {
        self.config.dir.join("wal")
    }

    fn check_open(&self) -> Result<(), EngineError> {
        if self.closed.load(Ordering::Acquire) {
            Err(EngineError::Closed)
        } else {
            Ok(())
        }
    }
}

impl Engine {
    /// Opens (or creates) the engine in `config.dir`: takes the directory lock, reads the
    /// manifest, removes files no manifest names, opens the blocks (quarantining any that fail
    /// their checks), loads the label index and replays the WAL into the head.
    pub fn open(
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<(Engine, RecoveryReport), EngineError> {
        let background = config.background;
        let (inner, report) = recover::open(config, clock)?;
        let engine = Engine {
            inner: Arc::new(inner),
            background: Mutex::new(None),
        };
        if background {
            engine.start_background();
        }
        Ok((engine, report))
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The engine's counters and gauges.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.inner.metrics
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// The dense references of `keys`, creating the series that are new. New series are
    /// logged to the WAL (one record each, one append for all) before they are returned.
    pub fn resolve(&self, keys: &[SeriesKey]) -> Result<Vec<SeriesRef>, EngineError> {
        let inner = &self.inner;
        inner.check_open()?;
        {
            let index = read_lock(&inner.index);
            let known: Option<Vec<SeriesRef>> = keys.iter().map(|k| index.lookup(k.id())).collect();
            if let Some(refs) = known {
                return Ok(refs);
            }
        }
        let _gate = read_lock(&inner.gate);
        let mut index = write_lock(&inner.index);
        let mut frames = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for key in keys {
            if index.lookup(key.id()).is_none() && seen.insert(key.id()) {
                frame_series_record(key, &mut frames)?;
            }
        }
        if !frames.is_empty() {
            inner.wal.append(&frames)?;
            EngineMetrics::add(&inner.metrics.wal_records_total, seen.len() as u64);
            EngineMetrics::add(&inner.metrics.series_created_total, seen.len() as u64);
        }
        Ok(keys.iter().map(|k| index.insert(k).0).collect())
    }

    /// Appends samples of known series. When this returns `Ok`, the samples are in the WAL
    /// (as durable as the fsync policy promises) and visible to reads.
    pub fn append(&self, items: &[(SeriesRef, Sample)]) -> Result<(), EngineError> {
        let inner = &self.inner;
        inner.check_open()?;
        if items.is_empty() {
            return Ok(());
        }
        if let Some(&(_, s)) = items
            .iter()
            .find(|(_, s)| !(MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&s.ts))
        {
            return Err(EngineError::TimestampOutOfRange { ts: s.ts });
        }
        let _gate = read_lock(&inner.gate);
        let mut batch = SampleBatch::new();
        {
            let index = read_lock(&inner.index);
            for &(r, s) in items {
                let id = index
                    .try_id(r)
                    .ok_or_else(|| EngineError::UnknownSeries(SeriesId(u128::from(r.0))))?;
                batch.push(id, s);
            }
        }
        let mut frames = Vec::with_capacity(items.len() * 20 + 64);
        frame_samples_record(&batch, &mut frames)?;
        inner.wal.append(&frames)?;
        let state = read_lock(&inner.state).active.clone();
        state.append(items.iter().copied());
        // After the head: a digest fill that misses this update reads these samples.
        inner.digests.record(items);
        let m = &inner.metrics;
        EngineMetrics::add(&m.wal_records_total, 1);
        EngineMetrics::add(&m.samples_appended_total, items.len() as u64);
        EngineMetrics::set(&m.head_samples, state.samples() as u64);
        Ok(())
    }

    /// Resolves and appends in one call (a convenience for tests and tools).
    pub fn write(&self, rows: &[(SeriesKey, Sample)]) -> Result<(), EngineError> {
        let keys: Vec<SeriesKey> = rows.iter().map(|(k, _)| k.clone()).collect();
        let refs = self.resolve(&keys)?;
        let items: Vec<(SeriesRef, Sample)> =
            refs.into_iter().zip(rows.iter().map(|(_, s)| *s)).collect();
        self.append(&items)
    }

    /// The series matching every matcher, with their keys, in reference order.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<(SeriesRef, SeriesKey)> {
        let index = read_lock(&self.inner.index);
        index
            .select(matchers)
            .into_iter()
            .map(|r| (r, index.key(r)))
            .collect()
    }

    /// The reference of a series id, if the engine knows it.
    pub fn lookup(&self, id: SeriesId) -> Option<SeriesRef> {
        read_lock(&self.inner.index).lookup(id)
    }

    /// The key of series `r`, if the engine knows it.
    pub fn key(&self, r: SeriesRef) -> Option<SeriesKey> {
        let index = read_lock(&self.inner.index);
        index.try_id(r).map(|_| index.key(r))
    }

    /// Number of series known.
    pub fn series_count(&self) -> usize {
        read_lock(&self.inner.index).len()
    }

    /// Heap bytes of the label index and the head's sample buffers.
    pub fn memory_bytes(&self) -> usize {
        let state = read_lock(&self.inner.state).clone();
        read_lock(&self.inner.index).memory_bytes()
            + state.active.memory_bytes()
            + state.frozen.as_ref().map_or(0, |h| h.memory_bytes())
    }

    /// Flushes the head into blocks now.
    pub fn flush(&self) -> Result<FlushReport, EngineError> {
        self.inner.check_open()?;
        flush::flush(&self.inner)
    }

    /// Runs one round of compaction and retention now.
    pub fn compact(&self) -> Result<CompactReport, EngineError> {
        self.inner.check_open()?;
        compact::compact(&self.inner)
    }

    /// Flushes the head and stops background work; every sample appended before is then in
    /// blocks and the WAL holds nothing but an empty segment.
    pub fn close(&self) -> Result<(), EngineError> {
        self.stop_background();
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let res = self
            .flush()
            .map(|_| ())
            .and_then(|()| self.inner.wal.sync());
        self.inner.closed.store(true, Ordering::Release);
        res
    }

    fn start_background(&self) {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        let (inner, flag) = (self.inner.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("floe-engine".into())
            .spawn(move || background_loop(&inner, &flag));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => tracing::error!(error = %e, "cannot start the engine's background thread"),
        }
        // The interval fsync has its own thread, so a long flush or compaction cannot delay it
        // past the interval the policy promises.
        if let FsyncPolicy::Interval(every) = self.inner.wal.policy() {
            let (inner, flag) = (self.inner.clone(), stop.clone());
            let spawned = std::thread::Builder::new()
                .name("floe-wal-sync".into())
                .spawn(move || {
                    while !flag.load(Ordering::Acquire) {
                        std::thread::park_timeout(every);
                        if let Err(e) = inner.wal.sync() {
                            tracing::error!(error = %e, "WAL fsync failed");
                        }
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => tracing::error!(error = %e, "cannot start the WAL fsync thread"),
            }
        }
        *lock(&self.background) = Some((stop, handles));
    }

    fn stop_background(&self) {
        if let Some((stop, handles)) = lock(&self.background).take() {
            stop.store(true, Ordering::Release);
            for h in &handles {
                h.thread().unpark();
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_background();
        let _ = self.inner.wal.sync();
    }
}

/// Background work: flush when due, compaction (the interval fsync has its own thread).
fn background_loop(inner: &Inner, stop: &AtomicBool) {
    let tick = std::time::Duration::from_millis(200);
    let mut last_maintenance = std::time::Instant::now();
    while !stop.load(Ordering::Acquire) {
        std::thread::park_timeout(tick);
        if last_maintenance.elapsed() < std::time::Duration::from_secs(1) {
            continue;
        }
        last_maintenance = std::time::Instant::now();
        if flush::due(inner)
            && let Err(e) = flush::flush(inner)
        {
            tracing::error!(error = %e, "flush failed; the head stays in memory and the WAL keeps its segments");
        }
        if let Err(e) = compact::compact(inner) {
            tracing::error!(error = %e, "compaction failed; the previous blocks stay live");
        }
    }
}
