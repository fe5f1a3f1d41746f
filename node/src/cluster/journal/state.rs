//! The in-memory view of a journal's segments: what is pending, what is acknowledged, and the
//! bookkeeping that appends, acknowledgements and damage apply to it. No I/O here.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use super::Position;
use super::scan::SegmentFile;

/// One segment file and its pending range.
#[derive(Debug)]
pub(super) struct Seg {
    /// Segment id (from its name and header).
    pub(super) id: u64,
    /// Its path.
    pub(super) path: PathBuf,
    /// The open file; readers clone the `Arc` so a deleted segment stays readable to them.
    pub(super) file: Arc<File>,
    /// First pending byte: the header's end, or the acknowledged offset.
    pub(super) start: u64,
    /// End of the good records (durable ones only).
    pub(super) end: u64,
    /// Good records in `[start, end)`.
    pub(super) records: u64,
    /// No more appends go here (every segment found at open, and every one rolled away from).
    pub(super) sealed: bool,
}

/// A copy of one segment's readable range, read without holding the state lock.
#[derive(Debug, Clone)]
pub(super) struct SegView {
    pub(super) id: u64,
    pub(super) path: PathBuf,
    pub(super) file: Arc<File>,
    pub(super) start: u64,
    pub(super) end: u64,
}

impl SegView {
    /// The file to read.
    pub(super) fn file(&self) -> SegmentFile<'_> {
        SegmentFile {
            id: self.id,
            file: &self.file,
            path: &self.path,
        }
    }
}

/// The positions the last `peek` handed out, so that `ack` can count records without reading.
#[derive(Debug)]
pub(super) struct Memo {
    /// The acknowledged position the peek started from.
    pub(super) from: Position,
    /// End of each record returned, in order.
    pub(super) ends: Vec<Position>,
}

/// How an acknowledgement changes a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AckPlan {
    /// The position acknowledged.
    pub(super) upto: Position,
    /// Records of segment `upto.segment` acknowledged (earlier segments: all of theirs).
    pub(super) records_in_last: u64,
}

/// Why an acknowledgement cannot be planned from memory.
#[derive(Debug)]
pub(super) enum AckCheck {
    /// Nothing to do: `upto` is at or behind the acknowledged position.
    Stale,
    /// Refused, with a reason.
    Bad(&'static str),
    /// `upto` must be checked by reading `[view.start, upto.offset)`.
    Read(SegView),
}

/// Everything behind the state lock.
#[derive(Debug)]
pub(super) struct State {
    /// Segments, oldest first.
    pub(super) segments: VecDeque<Seg>,
    /// The persisted acknowledged position (`0:0` when nothing was ever acknowledged).
    pub(super) acked: Position,
    /// Framed bytes of pending records.
    pub(super) pending_bytes: u64,
    /// Pending records.
    pub(super) pending_records: u64,
    /// Framed bytes of appends admitted but not yet written (they count against the bound).
    pub(super) reserved: u64,
    /// The last peek's positions.
    pub(super) memo: Option<Memo>,
}

impl State {
    /// A state over recovered segments.
    pub(super) fn new(segments: VecDeque<Seg>, acked: Position) -> Self {
        let pending_bytes = segments.iter().map(|s| s.end - s.start).sum();
        let pending_records = segments.iter().map(|s| s.records).sum();
        State {
            segments,
            acked,
            pending_bytes,
            pending_records,
            reserved: 0,
            memo: None,
        }
    }

    /// The readable ranges of every segment with pending records.
    pub(super) fn views(&self) -> Vec<SegView> {
        let pending = self.segments.iter().filter(|s| s.start < s.end);
        pending.map(view).collect()
    }

    /// The readable range of segment `id`.
    pub(super) fn view(&self, id: u64) -> Option<SegView> {
        self.segments.iter().find(|s| s.id == id).map(view)
    }

    fn seg_mut(&mut self, id: u64) -> Option<&mut Seg> {
        self.segments.iter_mut().find(|s| s.id == id)
    }

    /// Records `bytes` of `records` written and fsynced at the end of segment `id`.
    pub(super) fn publish(&mut self, id: u64, new_end: u64, records: u64) {
        let Some(seg) = self.seg_mut(id) else {
            debug_assert!(false, "publish to unknown segment {id}");
            return;
        };
        let bytes = new_end - seg.end;
        seg.end = new_end;
        seg.records += records;
        self.reserved -= bytes;
        self.pending_bytes += bytes;
        self.pending_records += records;
    }

    /// Marks segment `id` read-only.
    pub(super) fn seal(&mut self, id: u64) {
        if let Some(seg) = self.seg_mut(id) {
            seg.sealed = true;
        }
    }

    /// Checks `upto` and counts what it acknowledges, from memory if the last peek allows.
    pub(super) fn plan_ack(&self, upto: Position) -> Result<AckPlan, AckCheck> {
        if upto <= self.acked {
            return Err(AckCheck::Stale);
        }
        let Some(seg) = self.segments.iter().find(|s| s.id == upto.segment) else {
            return Err(AckCheck::Bad("no such segment"));
        };
        if upto.offset > seg.end {
            return Err(AckCheck::Bad("beyond the last durable record"));
        }
        if upto.offset <= seg.start {
            // Behind the segment's pending range but after `acked`: inside a header.
            return Err(AckCheck::Bad("not the end of a pending record"));
        }
        match self.memo.as_ref().filter(|m| m.from == self.acked) {
            Some(memo) => match memo.ends.binary_search(&upto) {
                Ok(_) => Ok(AckPlan {
                    upto,
                    records_in_last: memo
                        .ends
                        .iter()
                        .filter(|p| p.segment == upto.segment && *p <= &upto)
                        .count() as u64,
                }),
                Err(_) => Err(AckCheck::Read(view(seg))),
            },
            None => Err(AckCheck::Read(view(seg))),
        }
    }

    /// Applies a persisted acknowledgement; returns the segments now fully behind it (removed
    /// from the state, to be deleted).
    pub(super) fn apply_ack(&mut self, plan: AckPlan) -> Vec<PathBuf> {
        let upto = plan.upto;
        let mut bytes = 0;
        let mut records = 0;
        for seg in self
            .segments
            .iter_mut()
            .take_while(|s| s.id <= upto.segment)
        {
            let (new_start, acked_records) = if seg.id < upto.segment {
                (seg.end, seg.records)
            } else {
                (upto.offset, plan.records_in_last)
            };
            bytes += new_start - seg.start;
            records += acked_records;
            seg.start = new_start;
            seg.records -= acked_records;
        }
        self.pending_bytes -= bytes;
        self.pending_records -= records;
        self.acked = upto;
        self.memo = None;
        self.take_drained()
    }

    /// Removes sealed segments with nothing pending; returns their paths.
    pub(super) fn take_drained(&mut self) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        self.segments.retain(|s| {
            let drained = s.sealed && s.start >= s.end;
            if drained {
                gone.push(s.path.clone());
            }
            !drained
        });
        gone
    }

    /// Records that segment `id` holds good records only up to `at` (`records` of them from
    /// its start); the rest is lost. Returns the records lost.
    pub(super) fn cut(&mut self, id: u64, at: u64, records: u64) -> u64 {
        let Some(seg) = self.seg_mut(id) else {
            return 0;
        };
        if at < seg.start || at >= seg.end || records > seg.records {
            return 0;
        }
        let lost_bytes = seg.end - at;
        let lost_records = seg.records - records;
        seg.end = at;
        seg.records = records;
        seg.sealed = true;
        self.memo = None;
        self.pending_bytes -= lost_bytes;
        self.pending_records -= lost_records;
        lost_records
    }
}

fn view(s: &Seg) -> SegView {
    SegView {
        id: s.id,
        path: s.path.clone(),
        file: Arc::clone(&s.file),
        start: s.start,
        end: s.end,
    }
}
