//! Opening a journal: lock the directory, remove temporary files, load the cursor, check every
//! segment, cut torn tails, set damaged records aside, and report what was found.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{JournalError, io_err};
use super::format::{
    CORRUPT_SUFFIX, CURSOR_CORRUPT, CURSOR_FILE, CURSOR_LEN, CURSOR_VERSION, HEADER_LEN, LOCK_FILE,
    SEGMENT_VERSION, TMP_SUFFIX, Undecodable, decode_cursor, decode_header, segment_id, sync_dir,
};
use super::scan::{COUNT_WINDOW, SegmentFile, Stop, scan};
use super::state::Seg;
use super::{LostRegion, OpenReport, Position};

/// Tries at taking the directory lock, and the pause between them.
const LOCK_ATTEMPTS: u32 = 50;
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// A journal directory as found on disk, checked and cleaned.
#[derive(Debug)]
pub(super) struct Recovered {
    /// Segments with pending records, oldest first, all sealed.
    pub(super) segments: VecDeque<Seg>,
    /// The persisted acknowledged position (`0:0` if none).
    pub(super) acked: Position,
    /// The id the next new segment takes: above every id seen and the cursor's.
    pub(super) next_id: u64,
    /// What was found.
    pub(super) report: OpenReport,
    /// The locked lock file (the lock lasts as long as this handle).
    pub(super) lock: File,
}

/// What became of one segment file.
enum Found {
    Kept(Seg),
    Gone,
}

/// Opens (creating it if needed) and checks the journal directory `dir`.
pub(super) fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let lock = lock_dir(dir)?;
    let mut changed = remove_temporaries(dir)?;
    let mut report = OpenReport::default();
    let cursor = load_cursor(dir, &mut report)?;
    report.cursor = cursor;
    let mut next_id = cursor.map_or(1, |c| c.segment.saturating_add(1));
    let mut segments = VecDeque::new();
    for (id, path) in list_segments(dir)? {
        next_id = next_id.max(id.saturating_add(1));
        match check_segment(id, path, cursor, &mut report)? {
            Found::Kept(seg) => segments.push_back(seg),
            Found::Gone => changed = true,
        }
    }
    if changed {
        sync_dir(dir, "record removed journal files")?;
    }
    report.segments = segments.len();
    report.records = segments.iter().map(|s| s.records).sum();
    report.bytes = segments.iter().map(|s| s.end - s.start).sum();
    let acked = cursor.unwrap_or(Position {
        segment: 0,
        offset: 0,
    });
    Ok(Recovered {
        segments,
        acked,
        next_id,
        report,
        lock,
    })
}

fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open lock file", &path))?;
    // A process forking (to spawn a child) shares our descriptors until the child execs, so a
    // lock just released can look held for a moment: retry briefly before refusing.
    for _ in 0..LOCK_ATTEMPTS {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(LOCK_RETRY),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err("lock journal directory", &path)(e));
            }
        }
    }
    Err(JournalError::Locked {
        dir: dir.to_path_buf(),
        lock: path,
    })
}

/// The names in `dir`, as strings (names that are not UTF-8 are none of ours).
fn names(dir: &Path) -> Result<Vec<String>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list directory", dir))? {
        let entry = entry.map_err(io_err("list directory", dir))?;
        if let Ok(name) = entry.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// Removes the temporary files a crash may leave (never yet renamed into place).
fn remove_temporaries(dir: &Path) -> Result<bool, JournalError> {
    let mut removed = false;
    for name in names(dir)?.iter().filter(|n| n.ends_with(TMP_SUFFIX)) {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(io_err("remove temporary file", &path))?;
        removed = true;
    }
    Ok(removed)
}

/// The segment files in `dir`, sorted by id.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out: Vec<(u64, PathBuf)> = names(dir)?
        .iter()
        .filter_map(|n| segment_id(n).map(|id| (id, dir.join(n))))
        .collect();
    out.sort();
    Ok(out)
}

/// Reads the cursor. A damaged cursor is moved aside and replay starts from the oldest
/// segment (at-least-once); an unknown version is refused.
fn load_cursor(dir: &Path, report: &mut OpenReport) -> Result<Option<Position>, JournalError> {
    let path = dir.join(CURSOR_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open cursor", &path)(e)),
    };
    let mut bytes = Vec::with_capacity(CURSOR_LEN + 1);
    // One byte more than a cursor holds tells a too-long file without reading all of it.
    file.take(CURSOR_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("read cursor", &path))?;
    match decode_cursor(&bytes) {
        Ok(pos) => Ok(Some(pos)),
        Err(Undecodable::Version(version)) => Err(JournalError::UnsupportedVersion {
            path,
            what: "cursor",
            version,
            supported: CURSOR_VERSION,
        }),
        Err(Undecodable::Corrupt(why)) => {
            tracing::error!(path = %path.display(), %why, "journal cursor is damaged; replaying from the oldest segment");
            let aside = dir.join(CURSOR_CORRUPT);
            std::fs::rename(&path, &aside).map_err(io_err("move damaged cursor aside", &aside))?;
            sync_dir(dir, "move damaged cursor aside")?;
            report.cursor_reset = Some(format!(
                "{}: {why}; moved to {CURSOR_CORRUPT}, replaying from the oldest segment",
                path.display()
            ));
            Ok(None)
        }
    }
}

/// Checks segment `id`: header, then every record after the cursor.
fn check_segment(
    id: u64,
    path: PathBuf,
    cursor: Option<Position>,
    report: &mut OpenReport,
) -> Result<Found, JournalError> {
    if cursor.is_some_and(|c| id < c.segment) {
        // Fully acknowledged; a crash came between the cursor and the deletion.
        std::fs::remove_file(&path).map_err(io_err("remove acknowledged segment", &path))?;
        report.removed_segments += 1;
        return Ok(Found::Gone);
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err("open segment", &path))?;
    let len = file
        .metadata()
        .map_err(io_err("stat segment", &path))?
        .len();
    if let Err(why) = check_header(&file, &path, id, len)? {
        quarantine(&path, 0, len, why, report)?;
        return Ok(Found::Gone);
    }
    let start = match cursor {
        Some(c) if c.segment == id => c.offset.clamp(HEADER_LEN, len),
        _ => HEADER_LEN,
    };
    let seg = SegmentFile {
        id,
        file: &file,
        path: &path,
    };
    let found = scan(seg, start, len, COUNT_WINDOW, &mut |_, _| true)?;
    let end = settle_tail(&file, &path, len, &found, report)?;
    if found.records == 0 {
        return drop_empty(path, &found.stop, report);
    }
    Ok(Found::Kept(Seg {
        id,
        path,
        file: Arc::new(file),
        start,
        end,
        records: found.records,
        sealed: true,
    }))
}

/// `Ok(Err(why))` when the header is damaged; an error when its version is unknown.
fn check_header(
    file: &File,
    path: &Path,
    id: u64,
    len: u64,
) -> Result<Result<(), String>, JournalError> {
    let mut hdr = [0u8; HEADER_LEN as usize];
    let n = len.min(HEADER_LEN) as usize;
    file.read_exact_at(&mut hdr[..n], 0)
        .map_err(io_err("read segment header", path))?;
    match decode_header(&hdr[..n]) {
        Ok(found) if found == id => Ok(Ok(())),
        Ok(found) => Ok(Err(format!("header names segment {found}, file name {id}"))),
        Err(Undecodable::Corrupt(why)) => Ok(Err(why)),
        Err(Undecodable::Version(version)) => Err(JournalError::UnsupportedVersion {
            path: path.to_path_buf(),
            what: "segment",
            version,
            supported: SEGMENT_VERSION,
        }),
    }
}

/// Acts on how the scan ended: a torn tail is cut (durably), damage is reported and left in
/// place past the segment's end. Returns the end of the good records.
fn settle_tail(
    file: &File,
    path: &Path,
    len: u64,
    found: &super::scan::Scan,
    report: &mut OpenReport,
) -> Result<u64, JournalError> {
    let at = found.at;
    if found.stop.is_torn() {
        let what = format!(
            "{}: {}; cut {} bytes",
            path.display(),
            found.stop.describe(at),
            len - at
        );
        tracing::warn!(torn = %what, "journal segment has a torn tail (a crash mid-append); cutting it");
        file.set_len(at)
            .and_then(|()| file.sync_all())
            .map_err(io_err("cut torn tail", path))?;
        report.torn_tail = Some(match report.torn_tail.take() {
            Some(before) => format!("{before}; {what}"),
            None => what,
        });
    } else if let Stop::Corrupt(_) = found.stop {
        let why = found.stop.describe(at);
        tracing::error!(path = %path.display(), offset = at, lost_bytes = len - at, %why,
            "journal segment is damaged: the rest of it is lost");
        report.lost.push(LostRegion {
            path: path.to_path_buf(),
            offset: at,
            bytes: len - at,
            reason: why,
        });
    }
    Ok(at)
}

/// A segment with nothing pending is deleted, or quarantined if it holds damage.
fn drop_empty(path: PathBuf, stop: &Stop, report: &mut OpenReport) -> Result<Found, JournalError> {
    if matches!(stop, Stop::Corrupt(_)) {
        // Already reported by `settle_tail`; keep the bytes for inspection.
        let aside = quarantine_path(&path);
        std::fs::rename(&path, &aside).map_err(io_err("quarantine segment", &aside))?;
    } else {
        std::fs::remove_file(&path).map_err(io_err("remove drained segment", &path))?;
        report.removed_segments += 1;
    }
    Ok(Found::Gone)
}

fn quarantine_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(CORRUPT_SUFFIX);
    PathBuf::from(name)
}

/// Moves a segment whose header is unreadable aside, and reports everything in it as lost.
fn quarantine(
    path: &Path,
    offset: u64,
    len: u64,
    why: String,
    report: &mut OpenReport,
) -> Result<(), JournalError> {
    let aside = quarantine_path(path);
    tracing::error!(path = %path.display(), quarantined = %aside.display(), %why,
        "journal segment header is damaged: the segment is lost");
    std::fs::rename(path, &aside).map_err(io_err("quarantine segment", &aside))?;
    report.lost.push(LostRegion {
        path: path.to_path_buf(),
        offset,
        bytes: len - offset,
        reason: why,
    });
    Ok(())
}
