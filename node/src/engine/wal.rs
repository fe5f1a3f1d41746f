//! The write-ahead log of one node: segment files, group commit, fsync policy, replay.
//!
//! Records are framed by `floe_storage_format::wal` (this module only decides *when* bytes
//! reach the disk). Segments are `wal/<id as 16 hex digits>.wal`, each starting with the
//! segment header; the engine rolls to a new segment at every flush, and deletes segments once
//! the manifest says their data is in blocks.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use floe_storage_format::SeriesKey;
use floe_storage_format::wal::{SampleBatch, SegmentHeader, SegmentReader, decode_payload};

use super::config::FsyncPolicy;
use super::error::{EngineError, io_err};
use super::metrics::EngineMetrics;

/// The path of segment `id` in `dir`.
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.wal"))
}

/// The segments in `dir`, sorted by id. Files that are not segments are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, EngineError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err("list WAL directory", dir, e))? {
        let entry = entry.map_err(|e| io_err("list WAL directory", dir, e))?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let (16, Ok(id)) = (hex.len(), u64::from_str_radix(hex, 16)) {
            out.push((id, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

struct WalState {
    file: Arc<File>,
    segment_id: u64,
    segment_len: u64,
    /// Framed records waiting for the group commit (policy `Always`).
    pending: Vec<u8>,
    /// Sequence number of the last record appended.
    appended: u64,
    /// Every record up to this sequence number is fsynced.
    synced: u64,
    /// A group-commit leader is writing and fsyncing.
    syncing: bool,
    /// Written since the last fsync (policies `Interval` and `Never`).
    dirty: bool,
    /// A failed write or fsync: nothing can be acknowledged any more.
    failed: Option<String>,
}

/// The WAL writer. Appends are safe from many threads.
pub(crate) struct Wal {
    dir: PathBuf,
    policy: FsyncPolicy,
    segment_bytes: u64,
    state: Mutex<WalState>,
    synced: Condvar,
    metrics: Arc<EngineMetrics>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("policy", &self.policy)
            .finish()
    }
}

fn create_segment(dir: &Path, id: u64) -> Result<File, EngineError> {
    let path = segment_path(dir, id);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_err("create WAL segment", &path, e))?;
    let written = file
        .write_all(&SegmentHeader { segment_id: id }.encode())
        .and_then(|()| file.sync_data())
        .map_err(|e| io_err("write WAL segment header", &path, e))
        .and_then(|()| floe_storage_format::block::sync_dir(dir).map_err(EngineError::Format));
    if let Err(e) = written {
        // A half-made segment would make every later roll fail on "already exists".
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(file)
}

impl Wal {
    /// Starts a new segment `id` in `dir` and returns the writer.
    pub(crate) fn create(
        dir: &Path,
        id: u64,
        policy: FsyncPolicy,
        segment_bytes: u64,
        metrics: Arc<EngineMetrics>,
    ) -> Result<Self, EngineError> {
        let file = create_segment(dir, id)?;
        let state = WalState {
            file: Arc::new(file),
            segment_id: id,
            segment_len: floe_storage_format::wal::SEGMENT_HEADER_LEN as u64,
            pending: Vec::new(),
            appended: 0,
            synced: 0,
            syncing: false,
            dirty: false,
            failed: None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            policy,
            segment_bytes,
            state: Mutex::new(state),
            synced: Condvar::new(),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, WalState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends framed records. Returns when they are as durable as the policy promises.
    pub(crate) fn append(&self, frames: &[u8]) -> Result<(), EngineError> {
        let mut st = self.lock();
        if let Some(e) = &st.failed {
            return Err(EngineError::WalFailed { reason: e.clone() });
        }
        EngineMetrics::add(&self.metrics.wal_bytes_total, frames.len() as u64);
        if st.segment_len >= self.segment_bytes && !st.syncing && st.pending.is_empty() {
            st = self.roll_locked(st)?;
        }
        if self.policy != FsyncPolicy::Always {
            let file = st.file.clone();
            if let Err(e) = (&*file).write_all(frames) {
                return Err(self.fail(&mut st, "write WAL", e));
            }
            st.segment_len += frames.len() as u64;
            st.dirty = true;
            return Ok(());
        }
        st.appended += 1;
        let seq = st.appended;
        st.pending.extend_from_slice(frames);
        self.group_commit(st, seq)
    }

    /// Waits until record `seq` is fsynced, leading a group commit when none is running.
    fn group_commit<'a>(
        &'a self,
        mut st: MutexGuard<'a, WalState>,
        seq: u64,
    ) -> Result<(), EngineError> {
        loop {
            if st.synced >= seq {
                return Ok(());
            }
            if let Some(e) = &st.failed {
                return Err(EngineError::WalFailed { reason: e.clone() });
            }
            if st.syncing {
                st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            let buf = std::mem::take(&mut st.pending);
            let upto = st.appended;
            let file = st.file.clone();
            drop(st);
            let started = std::time::Instant::now();
            let res = (&*file).write_all(&buf).and_then(|()| file.sync_data());
            EngineMetrics::add(
                &self.metrics.wal_sync_us_total,
                started.elapsed().as_micros() as u64,
            );
            st = self.lock();
            st.syncing = false;
            match res {
                Ok(()) => {
                    st.synced = upto;
                    st.segment_len += buf.len() as u64;
                    EngineMetrics::add(&self.metrics.wal_fsyncs_total, 1);
                }
                Err(e) => {
                    let err = self.fail(&mut st, "write and fsync WAL", e);
                    self.synced.notify_all();
                    return Err(err);
                }
            }
            self.synced.notify_all();
        }
    }

    fn fail(&self, st: &mut WalState, op: &str, e: std::io::Error) -> EngineError {
        let reason = format!(
            "{op} segment {}: {e}",
            segment_path(&self.dir, st.segment_id).display()
        );
        tracing::error!(%reason, "WAL failed; the engine refuses writes until restarted");
        st.failed = Some(reason.clone());
        EngineError::WalFailed { reason }
    }

    /// Fsyncs what was written since the last fsync (policy `Interval`, and on close).
    pub(crate) fn sync(&self) -> Result<(), EngineError> {
        let mut st = self.lock();
        if !st.dirty {
            return Ok(());
        }
        st.dirty = false;
        let file = st.file.clone();
        drop(st);
        let started = std::time::Instant::now();
        let synced = file.sync_data();
        EngineMetrics::add(
            &self.metrics.wal_sync_us_total,
            started.elapsed().as_micros() as u64,
        );
        if let Err(e) = synced {
            let mut st = self.lock();
            return Err(self.fail(&mut st, "fsync WAL", e));
        }
        EngineMetrics::add(&self.metrics.wal_fsyncs_total, 1);
        Ok(())
    }

    /// Closes the current segment (fsynced) and starts the next; returns the new segment id.
    /// The caller guarantees no append is in flight (the engine's append gate).
    pub(crate) fn roll(&self) -> Result<u64, EngineError> {
        let st = self.roll_locked(self.lock())?;
        Ok(st.segment_id)
    }

    fn roll_locked<'a>(
        &'a self,
        mut st: MutexGuard<'a, WalState>,
    ) -> Result<MutexGuard<'a, WalState>, EngineError> {
        if let Err(e) = st.file.sync_data() {
            return Err(self.fail(&mut st, "fsync WAL before rolling", e));
        }
        let id = st.segment_id + 1;
        let file = create_segment(&self.dir, id)?;
        st.file = Arc::new(file);
        st.segment_id = id;
        st.segment_len = floe_storage_format::wal::SEGMENT_HEADER_LEN as u64;
        st.dirty = false;
        Ok(st)
    }

    /// The fsync policy.
    pub(crate) fn policy(&self) -> FsyncPolicy {
        self.policy
    }
}

/// One replayed record.
#[derive(Debug)]
pub(crate) enum Replayed<'a> {
    /// A series definition.
    Series(SeriesKey),
    /// A batch of samples.
    Samples(&'a SampleBatch),
}

/// What replay found.
#[derive(Debug, Default)]
pub(crate) struct ReplayReport {
    pub(crate) segments: u64,
    pub(crate) records: u64,
    pub(crate) samples: u64,
    pub(crate) last_segment: Option<u64>,
    /// `(segment path, what was wrong)` for each segment whose replay stopped early.
    pub(crate) problems: Vec<(PathBuf, String)>,
}

/// Replays every segment of `dir` with id ≥ `from`, in id order, calling `apply` per record.
/// A torn or corrupt record ends the replay of its segment (reported, never fatal): the merge
/// rule makes replay order irrelevant, so later segments are still replayed.
pub(crate) fn replay(
    dir: &Path,
    from: u64,
    metrics: &EngineMetrics,
    mut apply: impl FnMut(Replayed<'_>) -> Result<(), EngineError>,
) -> Result<ReplayReport, EngineError> {
    let mut report = ReplayReport::default();
    let mut batch = SampleBatch::new();
    for (id, path) in list_segments(dir)?
        .into_iter()
        .filter(|(id, _)| *id >= from)
    {
        report.segments += 1;
        report.last_segment = Some(id);
        let bytes = std::fs::read(&path).map_err(|e| io_err("read WAL segment", &path, e))?;
        let (header, mut reader) = match SegmentReader::new(&bytes) {
            Ok(r) => r,
            Err(e) => {
                // A crash between creating a segment and writing its header leaves it short.
                EngineMetrics::add(&metrics.wal_torn_tails_total, 1);
                report
                    .problems
                    .push((path.clone(), format!("unreadable header: {e}")));
                continue;
            }
        };
        if header.segment_id != id {
            report.problems.push((
                path.clone(),
                format!("header says segment {}", header.segment_id),
            ));
            EngineMetrics::add(&metrics.wal_corrupt_records_total, 1);
            continue;
        }
        while let Some(payload) = reader.next_payload() {
            report.records += 1;
            let key = match decode_payload(payload, &mut batch) {
                Ok(k) => k,
                Err(e) => {
                    report
                        .problems
                        .push((path.clone(), format!("record {}: {e}", report.records)));
                    EngineMetrics::add(&metrics.wal_corrupt_records_total, 1);
                    break;
                }
            };
            match key {
                Some(key) => apply(Replayed::Series(key))?,
                None => {
                    report.samples += batch.len() as u64;
                    apply(Replayed::Samples(&batch))?;
                }
            }
        }
        if let Some(problem) = reader.problem() {
            let counter = match problem {
                floe_storage_format::wal::TailProblem::Torn { .. } => &metrics.wal_torn_tails_total,
                floe_storage_format::wal::TailProblem::Corrupt { .. } => {
                    &metrics.wal_corrupt_records_total
                }
            };
            EngineMetrics::add(counter, 1);
            report.problems.push((path.clone(), problem.to_string()));
        }
    }
    EngineMetrics::add(&metrics.wal_replayed_samples_total, report.samples);
    Ok(report)
}
