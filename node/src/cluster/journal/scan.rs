//! Reading records from a segment file, a window at a time, through the storage crate's WAL
//! [`SegmentReader`] (one implementation of record framing and its checks in all of Floe).
//!
//! A window is the bytes `[at, at + n)` of the segment with a WAL segment header put in front
//! of them. Journal and WAL headers are both 24 bytes, so the reader's offsets and ours differ
//! by a constant, and the reader sees a well-formed segment whose first record is at `at`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use floe_storage_format::wal::{RECORD_HEADER_LEN, SegmentHeader, SegmentReader, TailProblem};

use super::error::{JournalError, io_at};
use super::format::HEADER_LEN;

/// Window used when a scan only counts records (opening, checking an acknowledgement).
pub(super) const COUNT_WINDOW: usize = 4 << 20;

/// One segment file to read.
#[derive(Debug, Clone, Copy)]
pub(super) struct SegmentFile<'a> {
    /// The segment id (written into the synthetic WAL header).
    pub(super) id: u64,
    /// The open file.
    pub(super) file: &'a File,
    /// Its path, for errors.
    pub(super) path: &'a Path,
}

/// Why a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stop {
    /// Every byte up to the end of the range was a good record.
    End,
    /// The visitor asked to stop.
    Visitor,
    /// The last record is incomplete: what a crash in the middle of an append leaves.
    Torn {
        /// Bytes the record needs (frame included).
        needed: u64,
        /// Bytes present up to the end of the range.
        available: u64,
    },
    /// Only zero bytes follow (a file extended but never written, as a crash can leave).
    Zeros,
    /// A complete record is damaged (checksum mismatch, impossible length).
    Corrupt(String),
}

impl Stop {
    /// True when the scan stopped at damaged or incomplete bytes.
    pub(super) fn is_damage(&self) -> bool {
        !matches!(self, Stop::End | Stop::Visitor)
    }

    /// True for the damage a crash mid-append leaves at the end of the last segment.
    pub(super) fn is_torn(&self) -> bool {
        matches!(self, Stop::Torn { .. } | Stop::Zeros)
    }

    /// Describes the damage at `at`.
    pub(super) fn describe(&self, at: u64) -> String {
        match self {
            Stop::End | Stop::Visitor => format!("clean end at offset {at}"),
            Stop::Torn { needed, available } => {
                format!("torn record at offset {at}: needs {needed} bytes, {available} present")
            }
            Stop::Zeros => format!("zero-filled tail from offset {at}"),
            Stop::Corrupt(why) => format!("corrupt record at offset {at}: {why}"),
        }
    }
}

/// What a scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scan {
    /// Offset just after the last good record read (where damage starts, if any).
    pub(super) at: u64,
    /// Good records read (the one the visitor stopped at included).
    pub(super) records: u64,
    /// Why the scan ended.
    pub(super) stop: Stop,
}

/// What reading one window found.
enum Window {
    /// Every byte of the window was read as records.
    Consumed,
    /// The visitor asked to stop.
    Stopped,
    /// Zeros from the scan position to the end of the window.
    Zeros,
    /// The reader stopped at an incomplete record.
    Torn { needed: u64, available: u64 },
    /// The reader stopped at a damaged record.
    Corrupt(String),
}

/// Reads the records of `seg` in `[from, end)`, oldest first, calling `visit(end_of_record,
/// payload)` for each until it returns `false`. `from` must be a record boundary; reading
/// stops at the first damaged byte and reports where.
pub(super) fn scan(
    seg: SegmentFile<'_>,
    from: u64,
    end: u64,
    window: usize,
    visit: &mut dyn FnMut(u64, &[u8]) -> bool,
) -> Result<Scan, JournalError> {
    let window = window.max(RECORD_HEADER_LEN) as u64;
    let mut scan = Scan {
        at: from,
        records: 0,
        stop: Stop::End,
    };
    let mut want = window;
    while scan.at < end {
        let before = scan.at;
        let take = want.min(end - before);
        let buf = read_window(seg, before, take)?;
        want = window;
        match walk(seg.id, &buf, &mut scan, visit) {
            Window::Consumed => {}
            Window::Stopped => {
                scan.stop = Stop::Visitor;
                return Ok(scan);
            }
            Window::Torn { needed, .. } if before + take < end => {
                // The window cut a record, not the file: read on, with room for that record
                // if it is the first.
                if scan.at == before {
                    want = needed.max(window);
                }
            }
            Window::Torn { needed, available } => {
                scan.stop = Stop::Torn { needed, available };
                return Ok(scan);
            }
            Window::Corrupt(why) => {
                scan.stop = Stop::Corrupt(why);
                return Ok(scan);
            }
            Window::Zeros => {
                scan.stop = zeros_or_corrupt(seg, scan.at, end)?;
                return Ok(scan);
            }
        }
    }
    Ok(scan)
}

/// The bytes `[at, at + len)` of `seg` behind a WAL segment header.
fn read_window(seg: SegmentFile<'_>, at: u64, len: u64) -> Result<Vec<u8>, JournalError> {
    let hdr = HEADER_LEN as usize;
    // `len` is at most the window or one checked record (≤ 64 MiB and its frame).
    let mut buf = vec![0u8; hdr + len as usize];
    buf[..hdr].copy_from_slice(&SegmentHeader { segment_id: seg.id }.encode());
    seg.file
        .read_exact_at(&mut buf[hdr..], at)
        .map_err(io_at("read segment", seg.path, at))?;
    Ok(buf)
}

/// Reads the records of one window, advancing `scan`.
fn walk(id: u64, buf: &[u8], scan: &mut Scan, visit: &mut dyn FnMut(u64, &[u8]) -> bool) -> Window {
    let window_start = scan.at;
    let Ok((_, mut reader)) = SegmentReader::new(buf) else {
        // The header was encoded just above for this id; the reader refusing it is a bug.
        let why = format!("the WAL reader refused the header of segment {id}");
        return Window::Corrupt(why);
    };
    while let Some(payload) = reader.next_payload() {
        scan.at += (RECORD_HEADER_LEN + payload.len()) as u64;
        scan.records += 1;
        if !visit(scan.at, payload) {
            return Window::Stopped;
        }
    }
    match reader.problem() {
        Some(TailProblem::Torn {
            needed, available, ..
        }) => Window::Torn {
            needed: *needed,
            available: *available,
        },
        Some(TailProblem::Corrupt { error, .. }) => Window::Corrupt(error.to_string()),
        // The reader treats an all-zero rest as a clean end; we know where records stopped.
        None if scan.at - window_start == (buf.len() - HEADER_LEN as usize) as u64 => {
            Window::Consumed
        }
        None => Window::Zeros,
    }
}

/// Zeros at `at` end a scan cleanly only if every byte up to `end` is zero; a zero record
/// length followed by data is damage.
fn zeros_or_corrupt(seg: SegmentFile<'_>, at: u64, end: u64) -> Result<Stop, JournalError> {
    let mut pos = at;
    let mut buf = vec![0u8; 1 << 20];
    while pos < end {
        let n = (end - pos).min(buf.len() as u64) as usize;
        seg.file
            .read_exact_at(&mut buf[..n], pos)
            .map_err(io_at("read segment", seg.path, pos))?;
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            let first = pos + i as u64;
            return Ok(Stop::Corrupt(format!(
                "zero record length, then data at offset {first}"
            )));
        }
        pos += n as u64;
    }
    Ok(Stop::Zeros)
}
