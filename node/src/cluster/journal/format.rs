//! The journal's own bytes: file names, the segment header and the cursor file. Records
//! themselves are framed by `floe_storage_format::wal` (see [`mod@super::scan`]).
//!
//! ```text
//! segment header (24): magic "FLOEJNL\0" | version u16 LE (1) | reserved u16 (0)
//!                      | segment id u64 LE | crc32 LE of the 20 bytes before
//! cursor file (32):    magic "FLOEJCUR" | version u16 LE (1) | reserved u16 (0)
//!                      | segment u64 LE | offset u64 LE | crc32 LE of the 28 bytes before
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use floe_storage_format::crc32;
use floe_storage_format::wal::SEGMENT_HEADER_LEN;

use super::Position;
use super::error::{JournalError, io_err};

/// Magic bytes that open every journal segment.
pub(super) const SEGMENT_MAGIC: &[u8; 8] = b"FLOEJNL\0";
/// The segment version this build writes and reads.
pub(super) const SEGMENT_VERSION: u16 = 1;
/// Bytes of the segment header: the offset of the first record.
pub(super) const HEADER_LEN: u64 = 24;
/// Magic bytes of the cursor file.
pub(super) const CURSOR_MAGIC: &[u8; 8] = b"FLOEJCUR";
/// The cursor version this build writes and reads.
pub(super) const CURSOR_VERSION: u16 = 1;
/// Bytes of the cursor file.
pub(super) const CURSOR_LEN: usize = 32;
/// Name of the cursor file.
pub(super) const CURSOR_FILE: &str = "cursor";
/// Name a damaged cursor file is moved to.
pub(super) const CURSOR_CORRUPT: &str = "cursor.corrupt";
/// Name of the lock file.
pub(super) const LOCK_FILE: &str = "LOCK";
/// Suffix of temporary files (removed when a journal opens).
pub(super) const TMP_SUFFIX: &str = ".tmp";
/// Suffix of segment files.
pub(super) const SEGMENT_SUFFIX: &str = ".jnl";
/// Suffix added to a quarantined segment's name.
pub(super) const CORRUPT_SUFFIX: &str = ".corrupt";

// The scanner reads journal records through the WAL's segment reader by putting a WAL header
// in front of them, at the same offset: both headers must be the same size.
const _: () = assert!(SEGMENT_HEADER_LEN as u64 == HEADER_LEN);

/// Why a header or cursor could not be decoded.
#[derive(Debug)]
pub(super) enum Undecodable {
    /// Damaged bytes (short, bad magic, checksum mismatch, inconsistent).
    Corrupt(String),
    /// Intact bytes of a version this build does not read.
    Version(u16),
}

/// The path of segment `id` in `dir`.
pub(super) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}{SEGMENT_SUFFIX}"))
}

/// The segment id in a file name, if it is a segment's name.
pub(super) fn segment_id(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(SEGMENT_SUFFIX)?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok())?
}

/// The header of segment `id`.
pub(super) fn encode_header(id: u64) -> [u8; HEADER_LEN as usize] {
    let mut b = [0u8; HEADER_LEN as usize];
    b[..8].copy_from_slice(SEGMENT_MAGIC);
    b[8..10].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    b[12..20].copy_from_slice(&id.to_le_bytes());
    let crc = crc32(&b[..20]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Checks a segment header (magic, checksum, then version) and returns its segment id.
pub(super) fn decode_header(b: &[u8]) -> Result<u64, Undecodable> {
    let body = check_frame(b, HEADER_LEN as usize, SEGMENT_MAGIC, "segment header")?;
    let version = u16::from_le_bytes([body[8], body[9]]);
    if version != SEGMENT_VERSION {
        return Err(Undecodable::Version(version));
    }
    Ok(le_u64(&body[12..20]))
}

/// The cursor file's bytes for `pos`.
pub(super) fn encode_cursor(pos: Position) -> [u8; CURSOR_LEN] {
    let mut b = [0u8; CURSOR_LEN];
    b[..8].copy_from_slice(CURSOR_MAGIC);
    b[8..10].copy_from_slice(&CURSOR_VERSION.to_le_bytes());
    b[12..20].copy_from_slice(&pos.segment.to_le_bytes());
    b[20..28].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32(&b[..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Checks a cursor file's bytes (length, magic, checksum, then version).
pub(super) fn decode_cursor(b: &[u8]) -> Result<Position, Undecodable> {
    if b.len() != CURSOR_LEN {
        return Err(Undecodable::Corrupt(format!(
            "cursor file has {} bytes, expected {CURSOR_LEN}",
            b.len()
        )));
    }
    let body = check_frame(b, CURSOR_LEN, CURSOR_MAGIC, "cursor")?;
    let version = u16::from_le_bytes([body[8], body[9]]);
    if version != CURSOR_VERSION {
        return Err(Undecodable::Version(version));
    }
    Ok(Position {
        segment: le_u64(&body[12..20]),
        offset: le_u64(&body[20..28]),
    })
}

/// Checks the length, magic and trailing crc32 of a fixed-size structure; returns its bytes.
fn check_frame<'a>(
    b: &'a [u8],
    len: usize,
    magic: &[u8; 8],
    what: &str,
) -> Result<&'a [u8], Undecodable> {
    let Some(b) = b.get(..len) else {
        return Err(Undecodable::Corrupt(format!(
            "{what} truncated: {} of {len} bytes",
            b.len()
        )));
    };
    if &b[..8] != magic {
        return Err(Undecodable::Corrupt(format!(
            "{what}: bad magic {:02x?}",
            &b[..8]
        )));
    }
    let stored = le_u32(&b[len - 4..]);
    let computed = crc32(&b[..len - 4]);
    if stored != computed {
        return Err(Undecodable::Corrupt(format!(
            "{what}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )));
    }
    Ok(b)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

/// Fsyncs `dir` (the storage crate's one directory fsync).
pub(super) fn sync_dir(dir: &Path, op: &'static str) -> Result<(), JournalError> {
    floe_storage_format::block::sync_dir(dir).map_err(|source| JournalError::SyncDir { op, source })
}

/// Writes `bytes` to `dir/name` atomically: a temporary file, fsync, rename, directory fsync.
/// Returns the file (still open, read-write) under its final name.
fn publish(dir: &Path, name: &str, bytes: &[u8], what: &'static str) -> Result<File, JournalError> {
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let path = dir.join(name);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err("create temporary file", &tmp))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err("write temporary file", &tmp))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(io_err("rename into place", &path)));
    if let Err(e) = written {
        // A leftover temporary file is harmless (removed at the next open) but untidy.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir, what)?;
    Ok(file)
}

/// Creates segment `id` (header only) in `dir`, durably, and returns it open for writing.
pub(super) fn create_segment(dir: &Path, id: u64) -> Result<(File, PathBuf), JournalError> {
    let path = segment_path(dir, id);
    let name = format!("{id:016x}{SEGMENT_SUFFIX}");
    let file = publish(dir, &name, &encode_header(id), "create segment")?;
    Ok((file, path))
}

/// Persists the cursor atomically (temporary file, fsync, rename, directory fsync).
pub(super) fn write_cursor(dir: &Path, pos: Position) -> Result<(), JournalError> {
    let bytes = encode_cursor(pos);
    debug_assert!(matches!(decode_cursor(&bytes), Ok(p) if p == pos));
    publish(dir, CURSOR_FILE, &bytes, "persist cursor").map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_cursor_round_trip_and_refuse_damage() {
        let h = encode_header(7);
        assert_eq!(decode_header(&h).ok(), Some(7));
        for i in 0..h.len() {
            let mut bad = h;
            bad[i] ^= 0x40;
            assert!(
                matches!(decode_header(&bad), Err(Undecodable::Corrupt(_))),
                "byte {i}"
            );
        }
        assert!(matches!(
            decode_header(&h[..23]),
            Err(Undecodable::Corrupt(_))
        ));
        let pos = Position {
            segment: 3,
            offset: 1 << 40,
        };
        let c = encode_cursor(pos);
        assert_eq!(decode_cursor(&c).ok(), Some(pos));
        for i in 0..c.len() {
            let mut bad = c;
            bad[i] ^= 1;
            assert!(
                matches!(decode_cursor(&bad), Err(Undecodable::Corrupt(_))),
                "byte {i}"
            );
        }
        assert!(matches!(
            decode_cursor(&c[..31]),
            Err(Undecodable::Corrupt(_))
        ));
    }

    #[test]
    fn an_unknown_version_is_told_apart_from_damage() {
        let mut h = encode_header(1);
        h[8] = 2;
        let crc = crc32(&h[..20]);
        h[20..24].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode_header(&h), Err(Undecodable::Version(2))));
    }

    #[test]
    fn segment_names_parse_back() {
        let p = segment_path(Path::new("/j"), 0xabc);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert_eq!(name, "0000000000000abc.jnl");
        assert_eq!(segment_id(name), Some(0xabc));
        assert_eq!(segment_id("abc.jnl"), None);
        assert_eq!(segment_id("0000000000000abc.jnl.corrupt"), None);
        assert_eq!(segment_id("000000000000zabc.jnl"), None);
    }
}
