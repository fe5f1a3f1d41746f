//! Stream mirroring: every write this node coordinates and acknowledges is teed to other Floe
//! clusters ("develop in production, push to dev"), at least once, through one durable
//! journal per target (`<data_dir>/mirror/<name>/`, the journal of `journal.rs`).
//!
//! The tee never slows or fails a production write: [`Mirrors::tee`] only queues the
//! acknowledged batch in memory (no I/O, no lock held for long); an appender task per target
//! writes what is queued to the journal as one group commit, and a sender task
//! (`mirror/sender.rs`) delivers the journal in order with `floe-client`, acknowledging each
//! record once the target stored it. A full journal drops that target's copy (counted, WARN
//! at most every 10 s). Only coordinated client writes are teed: replica forwards, journal
//! replays, read repair, rebalance streams and anti-entropy never pass through
//! `Cluster::coordinate`. See `docs/mirroring.md`.

mod config;
mod record;
mod sender;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use floe_wire::proto::SeriesSamples;
use tokio::sync::{Notify, watch};

pub(crate) use self::config::mirror_settings;
pub use self::config::{MirrorConfig, MirrorSettings, SeriesFilter};
use super::journal::{Journal, JournalError};
use super::write::SeriesBatch;
use crate::server::metrics::escape;

/// Most encoded series bytes in one journal record (a coordinated write larger than this is
/// cut into several records), well under the 16 MiB frame limit.
const RECORD_BYTES: usize = 8 << 20;
/// Bytes a record costs beyond its series: journal frame, wire frame, record header.
const RECORD_OVERHEAD: u64 = 32;
/// Bytes a series costs in a record beyond its key and chunk.
const SERIES_OVERHEAD: u64 = 8;
/// Most bytes queued in memory for one target, waiting for the journal (only reached when
/// appends stall, e.g. on a failing disk: the queue is emptied at every group commit).
const QUEUE_BYTES: u64 = 64 << 20;
/// Least time between two WARN lines about dropped copies, per target.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Every mirror target of this node.
#[derive(Debug, Default)]
pub(crate) struct Mirrors {
    targets: Vec<Arc<Target>>,
}

/// Why the journal of a mirror target could not be opened.
#[derive(Debug)]
pub(crate) struct OpenError {
    /// The target's name.
    pub(crate) name: String,
    /// What failed.
    pub(crate) reason: String,
}

/// One target: its journal, the copies queued for it, and its counters.
#[derive(Debug)]
pub(crate) struct Target {
    settings: MirrorSettings,
    journal: Arc<Journal>,
    queue: Mutex<Queue>,
    /// Wakes the appender.
    appended: Notify,
    /// Wakes the sender (a group reached the journal).
    journaled: Notify,
    /// Held while the queue is taken and appended, so groups reach the journal in tee order.
    writer: Mutex<()>,
    stats: Stats,
}

/// Copies teed and not yet in the journal.
#[derive(Debug, Default)]
struct Queue {
    items: Vec<Teed>,
    bytes: u64,
}

/// One acknowledged write's series for one target.
#[derive(Debug)]
struct Teed {
    teed_ms: i64,
    batch: Arc<Vec<SeriesBatch>>,
    /// The series of `batch` that pass the target's filter.
    idx: Vec<usize>,
}

/// A target's counters and state, read by `/metrics` and the status endpoint.
#[derive(Debug, Default)]
struct Stats {
    sent_samples: AtomicU64,
    sent_records: AtomicU64,
    send_errors: AtomicU64,
    /// Dropped samples by reason: full journal, full queue, refused by the target, journal
    /// failure.
    dropped: [AtomicU64; 4],
    connected: AtomicBool,
    /// Tee time of the oldest record the sender holds undelivered; 0 when none.
    head_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    /// Drops since the last WARN line, and when it was written.
    warn: Mutex<(u64, Option<Instant>)>,
}

/// Why copies were dropped (the `reason` label of `floe_mirror_dropped_samples_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The journal was at its bound.
    Full,
    /// Appends to the journal could not keep up: [`QUEUE_BYTES`] waited in memory.
    Queue,
    /// The target refused the record as invalid (`bad_request`, `limit`).
    Refused,
    /// The journal append failed (I/O) or the record could not be encoded.
    Journal,
}

impl DropReason {
    const ALL: [DropReason; 4] = [
        DropReason::Full,
        DropReason::Queue,
        DropReason::Refused,
        DropReason::Journal,
    ];

    fn as_str(self) -> &'static str {
        match self {
            DropReason::Full => "full",
            DropReason::Queue => "queue",
            DropReason::Refused => "refused",
            DropReason::Journal => "journal",
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn series_bytes(s: &SeriesBatch) -> u64 {
    (s.wire.key.len() + s.wire.chunk.len()) as u64 + SERIES_OVERHEAD
}

impl Mirrors {
    /// Opens the journal of every target under `<data_dir>/mirror/`, and warns about journal
    /// directories of targets no longer configured.
    pub(crate) fn open(settings: &[MirrorSettings], data_dir: &Path) -> Result<Mirrors, OpenError> {
        let root = data_dir.join("mirror");
        let mut targets = Vec::with_capacity(settings.len());
        for s in settings {
            floe_wire::tls::check_files(&s.tls, None).map_err(|e| OpenError {
                name: s.name.clone(),
                reason: format!("certificates for the target: {e}"),
            })?;
            targets.push(Arc::new(Target::open(s.clone(), &root.join(&s.name))?));
        }
        if let Ok(rd) = std::fs::read_dir(&root) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !settings.iter().any(|s| s.name == name) {
                    tracing::warn!(
                        dir = %e.path().display(),
                        "a mirror journal of a target no longer configured is left on disk; \
                         configure the target again to deliver it, or delete the directory \
                         while floed is stopped to discard it"
                    );
                }
            }
        }
        Ok(Mirrors { targets })
    }

    /// Queues the series of an acknowledged write that pass each target's filter. Never
    /// blocks on I/O and never fails: a copy that would take a target past its journal bound
    /// is dropped (counted, logged).
    pub(crate) fn tee(&self, batch: &Arc<Vec<SeriesBatch>>) {
        if self.targets.is_empty() {
            return;
        }
        let teed_ms = now_ms();
        for t in &self.targets {
            t.tee(teed_ms, batch);
        }
    }

    /// Starts each target's appender and sender; they stop when `stop` turns true.
    pub(crate) fn start(&self, stop: &watch::Receiver<bool>) {
        for t in &self.targets {
            let (appender, mut until) = (t.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = appender.appended.notified() => {}
                        _ = until.wait_for(|s| *s) => return,
                    }
                    let a = appender.clone();
                    let _ = tokio::task::spawn_blocking(move || a.flush()).await;
                }
            });
            let sender = t.clone();
            let stop = stop.clone();
            tokio::spawn(async move { sender.run(stop).await });
        }
    }

    /// Appends what is still queued to the journals (at shutdown, once no request is being
    /// served any more). Blocks for one group commit per target at most.
    pub(crate) fn close(&self) {
        for t in &self.targets {
            t.flush();
        }
    }

    /// Renders the `floe_mirror_*` families.
    pub(crate) fn render(&self, out: &mut String) {
        if self.targets.is_empty() {
            return;
        }
        let now = now_ms();
        type Get = fn(&Target, i64) -> String;
        let families: [(&str, &str, &str, Get); 7] = [
            (
                "floe_mirror_pending_records",
                "gauge",
                "Records waiting to be sent to a mirror target, by target.",
                |t, _| t.pending().0.to_string(),
            ),
            (
                "floe_mirror_pending_bytes",
                "gauge",
                "Bytes waiting to be sent to a mirror target, by target.",
                |t, _| t.pending().1.to_string(),
            ),
            (
                "floe_mirror_lag_seconds",
                "gauge",
                "Age of the oldest write not yet sent to a mirror target, by target.",
                |t, now| t.lag_seconds(now).to_string(),
            ),
            (
                "floe_mirror_connected",
                "gauge",
                "1 while the last attempt to reach a mirror target succeeded, by target.",
                |t, _| u8::from(t.stats.connected.load(Ordering::Relaxed)).to_string(),
            ),
            (
                "floe_mirror_sent_samples_total",
                "counter",
                "Samples a mirror target acknowledged, by target.",
                |t, _| t.stats.sent_samples.load(Ordering::Relaxed).to_string(),
            ),
            (
                "floe_mirror_sent_records_total",
                "counter",
                "Journal records a mirror target acknowledged, by target.",
                |t, _| t.stats.sent_records.load(Ordering::Relaxed).to_string(),
            ),
            (
                "floe_mirror_send_errors_total",
                "counter",
                "Failed attempts to send to a mirror target (each retried), by target.",
                |t, _| t.stats.send_errors.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, kind, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for t in &self.targets {
                let target = escape(&t.settings.name);
                let _ = writeln!(out, "{name}{{target=\"{target}\"}} {}", get(t, now));
            }
        }
        let name = "floe_mirror_dropped_samples_total";
        let _ = writeln!(
            out,
            "# HELP {name} Samples never sent to a mirror target, by target and reason \
             (full, queue, refused, journal).\n# TYPE {name} counter"
        );
        for t in &self.targets {
            let target = escape(&t.settings.name);
            for reason in DropReason::ALL {
                let (r, v) = (reason.as_str(), t.dropped(reason));
                let _ = writeln!(out, "{name}{{target=\"{target}\",reason=\"{r}\"}} {v}");
            }
        }
    }

    /// Every target's state, as `GET /api/v1/admin/mirror/status` answers it.
    pub(crate) fn status(&self) -> Vec<serde_json::Value> {
        let now = now_ms();
        self.targets.iter().map(|t| t.status(now)).collect()
    }
}

impl Target {
    /// Opens the target's journal in `dir` (the certificates are not checked here).
    pub(crate) fn open(settings: MirrorSettings, dir: &Path) -> Result<Target, OpenError> {
        let (journal, report) =
            Journal::open(dir, settings.journal_max_bytes).map_err(|e| OpenError {
                name: settings.name.clone(),
                reason: format!("journal {}: {e}", dir.display()),
            })?;
        let target = settings.name.as_str();
        if !report.lost.is_empty() || report.cursor_reset.is_some() {
            tracing::error!(
                mirror = target,
                ?report,
                "mirror journal recovered with damage: some records were lost or will be sent again"
            );
        } else if report.torn_tail.is_some() {
            tracing::warn!(
                mirror = target,
                ?report,
                "mirror journal recovered with a torn tail"
            );
        } else if report.records > 0 {
            tracing::info!(
                mirror = target,
                records = report.records,
                bytes = report.bytes,
                "mirror journal has records to send"
            );
        }
        Ok(Target {
            settings,
            journal: Arc::new(journal),
            queue: Mutex::new(Queue::default()),
            appended: Notify::new(),
            journaled: Notify::new(),
            writer: Mutex::new(()),
            stats: Stats::default(),
        })
    }

    /// Records and bytes pending: in the journal and still queued for it.
    pub(crate) fn pending(&self) -> (u64, u64) {
        let q = lock(&self.queue);
        let (records, bytes) = (q.items.len() as u64, q.bytes);
        drop(q);
        (
            self.journal.pending_records() + records,
            self.journal.pending_bytes() + bytes,
        )
    }

    /// Age of the oldest write not yet delivered, in seconds (0 when none is pending).
    pub(crate) fn lag_seconds(&self, now: i64) -> f64 {
        let head = self.stats.head_ms.load(Ordering::Relaxed);
        if head == 0 || self.pending().0 == 0 {
            return 0.0;
        }
        (now - head).max(0) as f64 / 1000.0
    }

    /// Samples dropped for `reason` so far.
    pub(crate) fn dropped(&self, reason: DropReason) -> u64 {
        let i = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.stats.dropped[i].load(Ordering::Relaxed)
    }

    /// Counts `samples` dropped for `reason`.
    fn drop_samples(&self, reason: DropReason, samples: u64) {
        let i = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.stats.dropped[i].fetch_add(samples, Ordering::Relaxed);
    }

    fn tee(&self, teed_ms: i64, batch: &Arc<Vec<SeriesBatch>>) {
        let pass = |s: &SeriesBatch| {
            self.settings
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&s.key))
        };
        let idx: Vec<usize> = (0..batch.len()).filter(|&i| pass(&batch[i])).collect();
        if idx.is_empty() {
            return;
        }
        let bytes: u64 =
            idx.iter().map(|&i| series_bytes(&batch[i])).sum::<u64>() + RECORD_OVERHEAD;
        let samples: u64 = idx.iter().map(|&i| batch[i].samples.len() as u64).sum();
        let journaled = self.journal.pending_bytes();
        let mut q = lock(&self.queue);
        if journaled + q.bytes + bytes > self.settings.journal_max_bytes {
            drop(q);
            self.drop_samples(DropReason::Full, samples);
            self.warn_dropped(samples, "the mirror journal is full");
            return;
        }
        if !q.items.is_empty() && q.bytes + bytes > QUEUE_BYTES {
            drop(q);
            self.drop_samples(DropReason::Queue, samples);
            self.warn_dropped(
                samples,
                "appends to the mirror journal cannot keep up (is its disk failing?)",
            );
            return;
        }
        q.bytes += bytes;
        q.items.push(Teed {
            teed_ms,
            batch: batch.clone(),
            idx,
        });
        drop(q);
        self.appended.notify_one();
    }

    /// Logs dropped copies at WARN, at most once per [`WARN_EVERY`] (with the count since).
    fn warn_dropped(&self, samples: u64, why: &str) {
        let mut w = lock(&self.stats.warn);
        w.0 += samples;
        if w.1.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        let dropped = std::mem::take(&mut w.0);
        w.1 = Some(Instant::now());
        drop(w);
        let (records, bytes) = self.pending();
        tracing::warn!(
            mirror = self.settings.name,
            dropped_samples = dropped,
            pending_records = records,
            pending_bytes = bytes,
            journal_max_bytes = self.settings.journal_max_bytes,
            "MIRROR COPIES DROPPED: {why}; these writes will be missing on the mirror target \
             (production writes are not affected)"
        );
    }

    /// Appends everything queued to the journal, in tee order (blocking; the appender task
    /// runs it on a blocking thread, `close` directly).
    pub(crate) fn flush(&self) {
        let _writer = lock(&self.writer);
        let items = {
            let mut q = lock(&self.queue);
            q.bytes = 0;
            std::mem::take(&mut q.items)
        };
        if items.is_empty() {
            return;
        }
        let mut records: Vec<(Vec<u8>, u64)> = Vec::new();
        for item in &items {
            for (series, samples) in cut(item) {
                match record::encode(item.teed_ms, series) {
                    Ok(bytes) => records.push((bytes, samples)),
                    Err(e) => {
                        tracing::warn!(mirror = self.settings.name, error = %e, "cannot encode a mirror record; its samples are not mirrored");
                        self.drop_samples(DropReason::Journal, samples);
                    }
                }
            }
        }
        self.append(&records);
        self.journaled.notify_one();
    }

    /// Appends `records` as one group; if the journal refuses the group as too large for its
    /// bound, one by one, dropping those that do not fit.
    fn append(&self, records: &[(Vec<u8>, u64)]) {
        let all: Vec<&[u8]> = records.iter().map(|(r, _)| r.as_slice()).collect();
        let err = match self.journal.append(&all) {
            Ok(()) => return,
            Err(e) => e,
        };
        if !matches!(err, JournalError::Full { .. }) {
            let samples = records.iter().map(|(_, s)| s).sum();
            self.drop_samples(DropReason::Journal, samples);
            self.warn_dropped(samples, &format!("the mirror journal append failed: {err}"));
            return;
        }
        for (bytes, samples) in records {
            if let Err(e) = self.journal.append(&[bytes]) {
                let reason = if matches!(e, JournalError::Full { .. }) {
                    DropReason::Full
                } else {
                    DropReason::Journal
                };
                self.drop_samples(reason, *samples);
                self.warn_dropped(
                    *samples,
                    &format!("the mirror journal refused a record: {e}"),
                );
            }
        }
    }

    fn status(&self, now: i64) -> serde_json::Value {
        let s = &self.settings;
        let (records, bytes) = self.pending();
        let dropped: u64 = DropReason::ALL.iter().map(|&r| self.dropped(r)).sum();
        let by_reason: serde_json::Map<String, serde_json::Value> = DropReason::ALL
            .iter()
            .map(|&r| (r.as_str().to_string(), self.dropped(r).into()))
            .collect();
        serde_json::json!({
            "name": s.name,
            "seeds": s.seeds.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "match": s.filter.as_ref().map(SeriesFilter::text),
            "consistency": s.consistency.as_str(),
            "pending_records": records,
            "pending_bytes": bytes,
            "journal_max_bytes": s.journal_max_bytes,
            "lag_seconds": self.lag_seconds(now),
            "sent_samples": self.stats.sent_samples.load(Ordering::Relaxed),
            "sent_records": self.stats.sent_records.load(Ordering::Relaxed),
            "errors": self.stats.send_errors.load(Ordering::Relaxed),
            "dropped_samples": dropped,
            "dropped_by_reason": by_reason,
            "connected": self.stats.connected.load(Ordering::Relaxed),
            "last_error": lock(&self.stats.last_error).clone(),
        })
    }
}

/// The filtered series of `item` cut into runs of at most [`RECORD_BYTES`] (a larger single
/// series gets a run of its own), each with its sample count.
fn cut(item: &Teed) -> Vec<(Vec<SeriesSamples>, u64)> {
    let mut out = Vec::new();
    let (mut run, mut size, mut samples) = (Vec::new(), 0u64, 0u64);
    for &i in &item.idx {
        let s = &item.batch[i];
        let len = series_bytes(s);
        if !run.is_empty() && size + len > RECORD_BYTES as u64 {
            out.push((std::mem::take(&mut run), samples));
            (size, samples) = (0, 0);
        }
        run.push(s.wire.clone());
        size += len;
        samples += s.samples.len() as u64;
    }
    if !run.is_empty() {
        out.push((run, samples));
    }
    out
}

impl super::Cluster {
    /// `GET /api/v1/admin/mirror/status`: this node's id and its mirror targets.
    pub(crate) fn mirror_status(&self) -> serde_json::Value {
        serde_json::json!({
            "node": self.node_id(),
            "mirrors": self.mirrors.status(),
        })
    }
}
