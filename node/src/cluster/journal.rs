//! The durable per-peer journal of a coordinator (Snowth's journals, Dynamo's hinted handoff).
//!
//! When a coordinator cannot deliver a write to one of a series' owners, it appends the
//! already-encoded request (opaque bytes) to that peer's [`Journal`]; a replay task later
//! [`peek`](Journal::peek)s the oldest records, sends them and [`ack`](Journal::ack)s them, so
//! the journal drains. Writes are idempotent, so the journal is *at-least-once*: after a crash,
//! records after the last persisted acknowledgement are replayed again. A record whose
//! [`append`](Journal::append) returned `Ok` is fsynced and is never lost, short of damage to
//! the disk, which is detected by checksum, reported and never panics.
//!
//! One journal is one directory: segment files `<id as 16 hex digits>.jnl` (records framed by
//! `floe_storage_format::wal`, behind a journal header), a `cursor` file (the acknowledged
//! position, replaced atomically) and a `LOCK` file. `docs/journal.md` gives every byte and the
//! recovery rules.
//!
//! Concurrency: every method takes `&self`; appends from many threads are group-committed (one
//! write and one fsync per group of concurrent appends), peeks read files without holding a
//! lock while appends run, and acknowledgements are serialized. Lock order, never reversed:
//! `queue → state`, `writer → ack → state`.
//!
//! This module knows nothing of tokio or the network: callers run it on blocking threads.

#[cfg(test)]
mod crash_tests;
mod error;
mod format;
#[cfg(test)]
mod prop_tests;
mod recover;
mod scan;
mod state;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use floe_storage_format::wal::{MAX_RECORD_LEN, RECORD_HEADER_LEN, frame_record};

pub use self::error::JournalError;
use self::error::io_at;
use self::format::{HEADER_LEN, create_segment, sync_dir, write_cursor};
use self::scan::{COUNT_WINDOW, Stop, scan};
use self::state::{AckCheck, AckPlan, Memo, Seg, SegView, State};

/// Default size at which a journal starts a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Smallest and largest read window of a peek.
const PEEK_WINDOW: (usize, usize) = (64 << 10, 8 << 20);

/// A place in a journal: byte `offset` of segment `segment`. Positions order as records do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The segment id.
    pub segment: u64,
    /// Byte offset in the segment file.
    pub offset: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "segment {} offset {}", self.segment, self.offset)
    }
}

/// How a journal is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// Most framed bytes (payloads plus 8 bytes each) pending at once; appends beyond are
    /// refused with [`JournalError::Full`].
    pub max_bytes: u64,
    /// A new segment starts when a group would take the current one past this size.
    pub segment_bytes: u64,
}

impl JournalOptions {
    /// A bound of `max_bytes`, with segments of [`DEFAULT_SEGMENT_BYTES`].
    pub fn new(max_bytes: u64) -> Self {
        JournalOptions {
            max_bytes,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// What opening a journal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Records pending (to replay).
    pub records: u64,
    /// Framed bytes pending (payloads plus 8 bytes of frame each).
    pub bytes: u64,
    /// Segment files kept.
    pub segments: usize,
    /// Incomplete records at the end of a segment (what a crash mid-append leaves): where,
    /// and how many bytes were cut. Records before them are kept.
    pub torn_tail: Option<String>,
    /// Damaged bytes (checksum mismatch, bad header) and everything after them in their
    /// segment: lost. Each is also logged at ERROR level.
    pub lost: Vec<LostRegion>,
    /// The acknowledged position read from the cursor file (`None`: none, or damaged).
    pub cursor: Option<Position>,
    /// Set when the cursor file was damaged: it was moved to `cursor.corrupt` and replay
    /// starts from the oldest segment (records may be delivered again, none is lost).
    pub cursor_reset: Option<String>,
    /// Segments deleted because everything in them was acknowledged.
    pub removed_segments: usize,
}

/// A damaged stretch of a segment whose records are lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostRegion {
    /// The segment file.
    pub path: PathBuf,
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
    /// What was wrong.
    pub reason: String,
}

/// The durable journal of one peer: one directory. `Send + Sync`; share it in an `Arc`.
pub struct Journal {
    dir: PathBuf,
    options: JournalOptions,
    /// Appends waiting for a group commit.
    queue: Mutex<Queue>,
    /// Signalled when a group commit ends.
    committed: Condvar,
    /// The segment being appended to (held by the group's leader while it writes).
    writer: Mutex<Writer>,
    /// Serializes acknowledgements (and setting damaged records aside).
    ack_lock: Mutex<()>,
    state: Mutex<State>,
    /// Holds the directory's lock for the journal's lifetime.
    _lock: File,
}

/// The outcome of one group commit, shared by its appenders.
type Outcome = Arc<OnceLock<Result<(), String>>>;

#[derive(Debug, Default)]
struct Queue {
    /// The group the next leader writes.
    next: Option<Group>,
    /// A leader is writing a group.
    leader: bool,
}

#[derive(Debug, Default)]
struct Group {
    buf: Vec<u8>,
    records: u64,
    outcome: Outcome,
}

#[derive(Debug)]
struct Writer {
    active: Option<Active>,
    next_id: u64,
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: Arc<File>,
    path: PathBuf,
    len: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .field("pending_records", &self.pending_records())
            .field("pending_bytes", &self.pending_bytes())
            .finish()
    }
}

/// Locks `m`; a panic elsewhere never leaves these states half-updated (their critical
/// sections only do arithmetic), so a poisoned lock is taken as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Journal {
    /// Opens (creating it if needed) the journal in `dir`, bounded to `max_bytes` pending
    /// bytes, with segments of [`DEFAULT_SEGMENT_BYTES`].
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Journal, OpenReport), JournalError> {
        Self::open_with(dir, JournalOptions::new(max_bytes))
    }

    /// Opens the journal in `dir` with explicit sizes. Recovery cuts torn tails, sets damaged
    /// records aside and reports both; it fails only on I/O errors, an unknown format version,
    /// or a directory another journal holds.
    pub fn open_with(
        dir: &Path,
        options: JournalOptions,
    ) -> Result<(Journal, OpenReport), JournalError> {
        let found = recover::recover(dir)?;
        let journal = Journal {
            dir: dir.to_path_buf(),
            options,
            queue: Mutex::new(Queue::default()),
            committed: Condvar::new(),
            writer: Mutex::new(Writer {
                active: None,
                next_id: found.next_id,
            }),
            ack_lock: Mutex::new(()),
            state: Mutex::new(State::new(found.segments, found.acked)),
            _lock: found.lock,
        };
        Ok((journal, found.report))
    }

    /// Appends `payloads` as consecutive records and fsyncs them before returning.
    ///
    /// Refused with [`JournalError::Full`] when the pending bytes plus these would exceed the
    /// bound, and with [`JournalError::RecordSize`] for an empty or oversized payload; nothing
    /// is written then. Concurrent appends share one write and one fsync.
    pub fn append(&self, payloads: &[&[u8]]) -> Result<(), JournalError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let framed = frame_all(payloads)?;
        let outcome = self.enqueue(framed, payloads.len() as u64)?;
        self.wait_or_lead(&outcome)
    }

    /// Up to `max_records` records and about `max_bytes` payload bytes (at least one record if
    /// any is pending), oldest first, after the acknowledged position; each with the
    /// [`Position`] just after it, to pass to [`Journal::ack`]. Sees every append that has
    /// returned. Records damaged since the journal opened are reported and skipped.
    pub fn peek(
        &self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Position, Vec<u8>)>, JournalError> {
        if max_records == 0 {
            return Ok(Vec::new());
        }
        loop {
            let (from, views) = {
                let st = lock(&self.state);
                (st.acked, st.views())
            };
            let mut out = Vec::new();
            let damaged = read_into(&views, max_records, max_bytes, &mut out)?;
            if let Some(id) = damaged {
                self.set_aside(id)?;
                if out.is_empty() {
                    continue;
                }
            }
            let mut st = lock(&self.state);
            if st.acked == from {
                let ends = out.iter().map(|(p, _)| *p).collect();
                st.memo = Some(Memo { from, ends });
            }
            return Ok(out);
        }
    }

    /// Records that everything up to `upto` (a position returned by [`Journal::peek`]) is
    /// delivered: persists the cursor (temporary file, fsync, rename, directory fsync), then
    /// deletes the segments wholly behind it. A position at or behind the acknowledged one
    /// is a no-op; one that is not the end of a pending record is refused
    /// ([`JournalError::BadAck`]).
    pub fn ack(&self, upto: Position) -> Result<(), JournalError> {
        let _serial = lock(&self.ack_lock);
        let planned = lock(&self.state).plan_ack(upto);
        let plan = match planned {
            Ok(plan) => plan,
            Err(AckCheck::Stale) => return Ok(()),
            Err(AckCheck::Bad(reason)) => return Err(self.bad_ack(upto, reason)),
            Err(AckCheck::Read(view)) => self.count_to(&view, upto)?,
        };
        write_cursor(&self.dir, upto)?;
        let drained = lock(&self.state).apply_ack(plan);
        self.remove_files(&drained);
        Ok(())
    }

    /// Framed bytes pending (payloads plus 8 bytes each).
    pub fn pending_bytes(&self) -> u64 {
        lock(&self.state).pending_bytes
    }

    /// Records pending.
    pub fn pending_records(&self) -> u64 {
        lock(&self.state).pending_records
    }

    /// True when no record is pending.
    pub fn is_empty(&self) -> bool {
        self.pending_records() == 0
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sizes the journal was opened with.
    pub fn options(&self) -> JournalOptions {
        self.options
    }

    /// Admits an append against the bound and adds it to the next group.
    fn enqueue(&self, framed: Vec<u8>, records: u64) -> Result<Outcome, JournalError> {
        let adding = framed.len() as u64;
        let mut q = lock(&self.queue);
        {
            let mut st = lock(&self.state);
            let pending = st.pending_bytes + st.reserved;
            if pending.saturating_add(adding) > self.options.max_bytes {
                let max = self.options.max_bytes;
                return Err(JournalError::Full {
                    pending,
                    max,
                    adding,
                });
            }
            st.reserved += adding;
        }
        let group = match &mut q.next {
            Some(group) => {
                group.buf.extend_from_slice(&framed);
                group
            }
            slot @ None => slot.insert(Group {
                buf: framed,
                ..Group::default()
            }),
        };
        group.records += records;
        Ok(Arc::clone(&group.outcome))
    }

    /// Waits for the group holding this append, or writes it if no one is writing.
    fn wait_or_lead(&self, outcome: &Outcome) -> Result<(), JournalError> {
        let mut q = lock(&self.queue);
        while outcome.get().is_none() && q.leader {
            q = self
                .committed
                .wait(q)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if let Some(done) = outcome.get() {
            let dir = self.dir.clone();
            return done
                .clone()
                .map_err(|reason| JournalError::GroupFailed { dir, reason });
        }
        // A group leaves the queue only with a leader, who settles it before stepping down:
        // with no leader and no outcome, this append's group is still queued.
        let group = q.next.take().expect("an unsettled group is queued");
        q.leader = true;
        drop(q);
        let leading = Leading {
            journal: self,
            outcome: Arc::clone(&group.outcome),
        };
        let result = self.commit(&group.buf, group.records);
        let _ = group
            .outcome
            .set(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        drop(leading);
        result
    }

    /// Writes and fsyncs one group; on failure returns its reservation.
    fn commit(&self, buf: &[u8], records: u64) -> Result<(), JournalError> {
        let mut w = lock(&self.writer);
        let result = self.write_group(&mut w, buf, records);
        if result.is_err() {
            lock(&self.state).reserved -= buf.len() as u64;
        }
        result
    }

    fn write_group(&self, w: &mut Writer, buf: &[u8], records: u64) -> Result<(), JournalError> {
        let n = buf.len() as u64;
        let roll = w.active.as_ref().is_none_or(|a| {
            a.len > HEADER_LEN && a.len.saturating_add(n) > self.options.segment_bytes
        });
        if roll {
            self.roll(w)?;
        }
        let active = w.active.as_mut().expect("roll() installs a segment");
        let at = active.len;
        let written = active
            .file
            .write_all_at(buf, at)
            .and_then(|()| active.file.sync_data());
        if let Err(e) = written {
            // After a failed write or fsync the file's contents are unknown: write no more to
            // it. Its good records stay readable; junk past them is cut at the next open.
            let (id, path) = (active.id, active.path.clone());
            w.active = None;
            lock(&self.state).seal(id);
            tracing::error!(path = %path.display(), offset = at, error = %e, "journal append failed");
            return Err(io_at("append to segment", path, at)(e));
        }
        active.len += n;
        lock(&self.state).publish(active.id, active.len, records);
        Ok(())
    }

    /// Starts a new segment and makes it the one appended to.
    fn roll(&self, w: &mut Writer) -> Result<(), JournalError> {
        let id = w.next_id;
        w.next_id += 1;
        let (file, path) = create_segment(&self.dir, id)?;
        let file = Arc::new(file);
        let drained = {
            let mut st = lock(&self.state);
            if let Some(old) = &w.active {
                st.seal(old.id);
            }
            st.segments.push_back(Seg {
                id,
                path: path.clone(),
                file: Arc::clone(&file),
                start: HEADER_LEN,
                end: HEADER_LEN,
                records: 0,
                sealed: false,
            });
            st.take_drained()
        };
        w.active = Some(Active {
            id,
            file,
            path,
            len: HEADER_LEN,
        });
        self.remove_files(&drained);
        Ok(())
    }

    /// Checks that `upto` ends a record of `view` by reading up to it, and counts the records.
    fn count_to(&self, view: &SegView, upto: Position) -> Result<AckPlan, JournalError> {
        let found = scan(
            view.file(),
            view.start,
            upto.offset,
            COUNT_WINDOW,
            &mut |_, _| true,
        )?;
        if found.stop != Stop::End || found.at != upto.offset {
            return Err(self.bad_ack(upto, "not the end of a pending record"));
        }
        Ok(AckPlan {
            upto,
            records_in_last: found.records,
        })
    }

    fn bad_ack(&self, upto: Position, reason: &'static str) -> JournalError {
        JournalError::BadAck {
            dir: self.dir.clone(),
            upto,
            acked: lock(&self.state).acked,
            reason,
        }
    }

    /// Segment `id` failed a read after the journal opened: cut its good records short at the
    /// damage (which is logged), and append no more to it.
    fn set_aside(&self, id: u64) -> Result<(), JournalError> {
        let mut w = lock(&self.writer);
        let _serial = lock(&self.ack_lock);
        let Some(view) = lock(&self.state).view(id) else {
            return Ok(()); // acknowledged and deleted meanwhile
        };
        let found = scan(
            view.file(),
            view.start,
            view.end,
            COUNT_WINDOW,
            &mut |_, _| true,
        )?;
        if !found.stop.is_damage() {
            return Err(JournalError::Damaged {
                path: view.path,
                offset: view.start,
                reason: "a read found damage that a second read did not".into(),
            });
        }
        if w.active.as_ref().is_some_and(|a| a.id == id) {
            w.active = None;
        }
        let lost = lock(&self.state).cut(id, found.at, found.records);
        tracing::error!(path = %view.path.display(), offset = found.at, lost_records = lost,
            why = %found.stop.describe(found.at), "journal segment damaged after open: the rest of it is lost");
        Ok(())
    }

    /// Deletes drained segment files. A failure is logged, not returned: the acknowledgement
    /// is already durable, and the next open deletes what is left.
    fn remove_files(&self, paths: &[PathBuf]) {
        if paths.is_empty() {
            return;
        }
        for path in paths {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::error!(path = %path.display(), error = %e, "cannot delete a drained journal segment");
            }
        }
        if let Err(e) = sync_dir(&self.dir, "delete drained segments") {
            tracing::error!(error = %e, "cannot fsync the journal directory");
        }
    }
}

/// Settles a group and steps its leader down even if writing it panicked, so that the
/// other appenders are never left waiting.
struct Leading<'a> {
    journal: &'a Journal,
    outcome: Outcome,
}

impl std::fmt::Debug for Leading<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leading").finish_non_exhaustive()
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let _ = self.outcome.set(Err("the group's writer panicked".into()));
        lock(&self.journal.queue).leader = false;
        self.journal.committed.notify_all();
    }
}

/// Frames every payload, checking sizes first.
fn frame_all(payloads: &[&[u8]]) -> Result<Vec<u8>, JournalError> {
    let total = payloads.iter().map(|p| RECORD_HEADER_LEN + p.len()).sum();
    let mut buf = Vec::with_capacity(total);
    for (index, p) in payloads.iter().enumerate() {
        let size = || JournalError::RecordSize {
            index,
            len: p.len(),
            max: MAX_RECORD_LEN,
        };
        if p.is_empty() || p.len() > MAX_RECORD_LEN {
            return Err(size());
        }
        frame_record(p, &mut buf).map_err(|_| size())?;
    }
    Ok(buf)
}

/// Reads records of `views` in order into `out` within the limits; returns the id of a
/// segment where damage stopped the reading.
fn read_into(
    views: &[SegView],
    max_records: usize,
    max_bytes: usize,
    out: &mut Vec<(Position, Vec<u8>)>,
) -> Result<Option<u64>, JournalError> {
    let per_record = max_records.saturating_mul(RECORD_HEADER_LEN);
    let window = max_bytes
        .saturating_add(per_record)
        .clamp(PEEK_WINDOW.0, PEEK_WINDOW.1);
    let mut bytes = 0usize;
    let mut full = false;
    for v in views {
        let found = scan(v.file(), v.start, v.end, window, &mut |end, payload| {
            if !out.is_empty() && bytes.saturating_add(payload.len()) > max_bytes {
                full = true;
                return false;
            }
            bytes += payload.len();
            out.push((
                Position {
                    segment: v.id,
                    offset: end,
                },
                payload.to_vec(),
            ));
            full = out.len() >= max_records;
            !full
        })?;
        if found.stop.is_damage() {
            tracing::error!(path = %v.path.display(), why = %found.stop.describe(found.at),
                "journal record damaged after open");
            return Ok(Some(v.id));
        }
        if full {
            break;
        }
    }
    Ok(None)
}
