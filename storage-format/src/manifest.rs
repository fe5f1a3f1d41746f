//! The manifest: the list of live block files of one node's data directory, replaced
//! atomically so that a flush, a compaction or a quarantine is visible all at once or not at
//! all.
//!
//! ```text
//! header (24 bytes)  magic "FLOEMAN\0" | version u16 | reserved u16 (0) | body length u32
//!                    | crc32 of the body | crc32 of the 20 bytes before
//! body               varint(generation) | varint(next file id) | varint(WAL replay from)
//!                    | varint(block count) | block entries | varint(repair count) | repair marks
//! ```
//!
//! All integers little-endian; `docs/storage-format.md` specifies every field. The reader
//! checks magic, header crc, version, the body length against the bytes present and the body
//! crc before it decodes anything, and the decoded manifest against every invariant of
//! [`Manifest::validate`].
//!
//! [`Manifest::write_atomic`] writes `MANIFEST.tmp`, fsyncs it, renames it over `MANIFEST` and
//! fsyncs the directory: after a crash the directory holds either the old manifest or the new
//! one, whole. A leftover `MANIFEST.tmp` is the remains of an interrupted write; readers
//! ignore it and the next write replaces it.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::block::{FOOTER_LEN, HEADER_LEN, sync_dir};
use crate::codec::{Reader, check_crc, crc32, put_varint};
use crate::error::{FormatError, Result};
use crate::series::SeriesId;

/// Magic bytes that open a manifest.
pub const MANIFEST_MAGIC: &[u8; 8] = b"FLOEMAN\0";
/// The manifest format version this code writes and reads.
pub const MANIFEST_VERSION: u16 = 1;
/// Size of the manifest header.
pub const MANIFEST_HEADER_LEN: usize = 24;
/// Largest manifest body (about four million block entries).
pub const MAX_MANIFEST_BODY: usize = 256 << 20;
/// Longest repair reason, in bytes of UTF-8.
pub const MAX_REASON_LEN: usize = 16 * 1024;
/// The manifest's file name in its directory.
pub const MANIFEST_FILE: &str = "MANIFEST";
/// The temporary name a new manifest is written under before the rename.
pub const MANIFEST_TMP_FILE: &str = "MANIFEST.tmp";

/// Fewest bytes a block entry takes: 1-byte varints, kind, partition, level.
const MIN_BLOCK_ENTRY: usize = 1 + 1 + 16 + 1 + 3;
/// Fewest bytes a repair mark takes: partition, flag, empty reason.
const MIN_REPAIR_MARK: usize = 16 + 1 + 1;

const KIND_RAW: u8 = 0;
const KIND_ROLLUP: u8 = 1;

/// What a block file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// Raw samples (a block of sample type `Float`).
    Raw,
    /// Rollups at one resolution (a block of sample type `Rollup`).
    Rollup {
        /// Bucket width in ms (> 0).
        resolution_ms: i64,
    },
}

/// One live block file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockEntry {
    /// The file's number, unique in the manifest and below [`Manifest::next_file_id`].
    pub file_id: u64,
    /// What the file holds.
    pub kind: BlockKind,
    /// Inclusive start of the partition (ms), as in the block header.
    pub partition_start: i64,
    /// Exclusive end of the partition (ms), `> partition_start`.
    pub partition_end: i64,
    /// Compaction level (0 = flushed from the head); the engine's to define.
    pub level: u8,
    /// Series in the block.
    pub series: u64,
    /// Samples in the block (rows, for a rollup block), at least `series`.
    pub samples: u64,
    /// File size in bytes, at least an empty block's 108.
    pub bytes: u64,
}

impl BlockEntry {
    /// The block's file name: the file id as 16 lower-case hex digits and `.blk`
    /// (`000000000000002a.blk` for id 42), so names sort like ids.
    pub fn file_name(&self) -> String {
        format!("{:016x}.blk", self.file_id)
    }
}

/// A range of data known to be lost locally (a quarantined block, an unreadable series),
/// waiting to be repaired from replicas.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepairMark {
    /// Inclusive start of the partition (ms).
    pub partition_start: i64,
    /// Exclusive end of the partition (ms), `> partition_start`.
    pub partition_end: i64,
    /// The series, or `None` for the whole partition.
    pub series: Option<SeriesId>,
    /// Why (at most [`MAX_REASON_LEN`] bytes).
    pub reason: String,
}

/// The set of live blocks and the engine's durable counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Increases by one with every manifest written.
    pub generation: u64,
    /// The next block file id to allocate; above every id in `blocks`.
    pub next_file_id: u64,
    /// The first WAL segment id still needed: replay starts there.
    pub wal_replay_from: u64,
    /// The live blocks, in the engine's order (kept as written).
    pub blocks: Vec<BlockEntry>,
    /// Ranges waiting for repair, in the engine's order.
    pub repairs: Vec<RepairMark>,
}

impl Manifest {
    /// The manifest's bytes: header and body. Does not check the invariants
    /// ([`Manifest::write_atomic`] does).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(32 + self.blocks.len() * 40);
        put_varint(&mut body, self.generation);
        put_varint(&mut body, self.next_file_id);
        put_varint(&mut body, self.wal_replay_from);
        put_varint(&mut body, self.blocks.len() as u64);
        for b in &self.blocks {
            encode_block(b, &mut body);
        }
        put_varint(&mut body, self.repairs.len() as u64);
        for m in &self.repairs {
            encode_repair(m, &mut body);
        }
        let mut out = Vec::with_capacity(MANIFEST_HEADER_LEN + body.len());
        out.extend_from_slice(MANIFEST_MAGIC);
        out.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32(&body).to_le_bytes());
        let header_crc = crc32(&out);
        out.extend_from_slice(&header_crc.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes and checks a whole manifest file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Manifest> {
        let body = decode_header(bytes)?;
        let mut r = Reader::new("manifest body", body);
        let generation = r.varint()?;
        let next_file_id = r.varint()?;
        let wal_replay_from = r.varint()?;
        let n = r.varint_max("manifest blocks", (r.remaining() / MIN_BLOCK_ENTRY) as u64)?;
        let mut blocks = Vec::with_capacity((n as usize).min(4096));
        for _ in 0..n {
            blocks.push(decode_block(&mut r)?);
        }
        let n = r.varint_max("manifest repairs", (r.remaining() / MIN_REPAIR_MARK) as u64)?;
        let mut repairs = Vec::with_capacity((n as usize).min(4096));
        for _ in 0..n {
            repairs.push(decode_repair(&mut r)?);
        }
        r.finish()?;
        let m = Manifest {
            generation,
            next_file_id,
            wal_replay_from,
            blocks,
            repairs,
        };
        m.check()
            .map_err(|reason| FormatError::invalid("manifest", MANIFEST_HEADER_LEN, reason))?;
        Ok(m)
    }

    /// Checks the invariants: block file ids unique and below `next_file_id`; partitions
    /// non-empty; rollup resolutions positive; `samples ≥ series` and `bytes ≥ 108` per block;
    /// repair reasons at most [`MAX_REASON_LEN`] bytes; the body within
    /// [`MAX_MANIFEST_BODY`].
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|reason| FormatError::BadInput {
            what: "manifest",
            reason,
        })
    }

    fn check(&self) -> std::result::Result<(), String> {
        let mut ids = HashSet::with_capacity(self.blocks.len());
        for (i, b) in self.blocks.iter().enumerate() {
            check_block(b).map_err(|r| format!("block {i} (file {}): {r}", b.file_id))?;
            if b.file_id >= self.next_file_id {
                return Err(format!(
                    "block {i}: file id {} not below the next file id {}",
                    b.file_id, self.next_file_id
                ));
            }
            if !ids.insert(b.file_id) {
                return Err(format!("block {i}: file id {} listed twice", b.file_id));
            }
        }
        for (i, m) in self.repairs.iter().enumerate() {
            if m.partition_start >= m.partition_end {
                return Err(format!(
                    "repair {i}: empty partition [{}, {})",
                    m.partition_start, m.partition_end
                ));
            }
            if m.reason.len() > MAX_REASON_LEN {
                return Err(format!(
                    "repair {i}: reason of {} bytes, at most {MAX_REASON_LEN}",
                    m.reason.len()
                ));
            }
        }
        Ok(())
    }

    /// Replaces `dir/MANIFEST` atomically and durably: checks the invariants, encodes, decodes
    /// the bytes again and compares (the paired check), writes `dir/MANIFEST.tmp`, fsyncs
    /// it, renames it to `dir/MANIFEST` and fsyncs `dir`.
    pub fn write_atomic(&self, dir: &Path) -> Result<()> {
        self.validate()?;
        let bytes = self.encode();
        if bytes.len() - MANIFEST_HEADER_LEN > MAX_MANIFEST_BODY {
            return Err(FormatError::TooLarge {
                what: "manifest body",
                len: (bytes.len() - MANIFEST_HEADER_LEN) as u64,
                max: MAX_MANIFEST_BODY as u64,
            });
        }
        if Manifest::decode(&bytes).ok().as_ref() != Some(self) {
            return Err(FormatError::invalid(
                "manifest",
                0,
                "encoded manifest does not decode to its input",
            ));
        }
        let tmp = dir.join(MANIFEST_TMP_FILE);
        let path = dir.join(MANIFEST_FILE);
        if let Err(e) = write_synced(&tmp, &bytes) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &path).map_err(|source| FormatError::Io {
            op: "rename manifest",
            path: path.clone(),
            source,
        })?;
        sync_dir(dir)
    }

    /// Reads and checks `dir/MANIFEST`; `Ok(None)` when it does not exist. Errors name the
    /// file.
    pub fn read(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        let io = |op: &'static str, path: &PathBuf| {
            let path = path.clone();
            move |source| FormatError::Io { op, path, source }
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open manifest", &path)(e)),
        };
        let limit = (MANIFEST_HEADER_LEN + MAX_MANIFEST_BODY) as u64;
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(io("read manifest", &path))?;
        if bytes.len() as u64 > limit {
            let err = FormatError::TooLarge {
                what: "manifest file",
                len: bytes.len() as u64,
                max: limit,
            };
            return Err(err.in_file(&path));
        }
        Manifest::decode(&bytes)
            .map(Some)
            .map_err(|e| e.in_file(&path))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |op: &'static str| {
        move |source| FormatError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut f = File::create(path).map_err(io("create manifest"))?;
    f.write_all(bytes).map_err(io("write manifest"))?;
    f.sync_all().map_err(io("fsync manifest"))
}

/// Checks magic, header crc, version, reserved bytes, body length and body crc; returns the
/// body.
fn decode_header(bytes: &[u8]) -> Result<&[u8]> {
    const WHAT: &str = "manifest header";
    let mut r = Reader::new(WHAT, bytes);
    let magic = r.bytes(8)?;
    if magic != MANIFEST_MAGIC {
        return Err(FormatError::BadMagic {
            what: WHAT,
            found: magic.to_vec(),
            expected: MANIFEST_MAGIC,
        });
    }
    let version = r.u16()?;
    let reserved = r.u16()?;
    let body_len = r.u32()? as usize;
    let body_crc = r.u32()?;
    check_crc(WHAT, 0, &bytes[..20], r.u32()?)?;
    if version != MANIFEST_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what: "manifest",
            version: version.into(),
            supported: "1",
        });
    }
    if reserved != 0 {
        return Err(FormatError::invalid(
            WHAT,
            10,
            format!("reserved bytes {reserved:#x}"),
        ));
    }
    if body_len > MAX_MANIFEST_BODY {
        return Err(FormatError::TooLarge {
            what: "manifest body",
            len: body_len as u64,
            max: MAX_MANIFEST_BODY as u64,
        });
    }
    let body = Reader::new("manifest", &bytes[MANIFEST_HEADER_LEN..]).bytes(body_len)?;
    if bytes.len() > MANIFEST_HEADER_LEN + body_len {
        return Err(FormatError::invalid(
            "manifest",
            MANIFEST_HEADER_LEN + body_len,
            format!(
                "{} bytes after the body",
                bytes.len() - MANIFEST_HEADER_LEN - body_len
            ),
        ));
    }
    check_crc("manifest body", MANIFEST_HEADER_LEN, body, body_crc)?;
    Ok(body)
}

fn encode_block(b: &BlockEntry, out: &mut Vec<u8>) {
    put_varint(out, b.file_id);
    match b.kind {
        BlockKind::Raw => out.push(KIND_RAW),
        BlockKind::Rollup { resolution_ms } => {
            out.push(KIND_ROLLUP);
            put_varint(out, resolution_ms as u64);
        }
    }
    out.extend_from_slice(&b.partition_start.to_le_bytes());
    out.extend_from_slice(&b.partition_end.to_le_bytes());
    out.push(b.level);
    put_varint(out, b.series);
    put_varint(out, b.samples);
    put_varint(out, b.bytes);
}

fn decode_block(r: &mut Reader<'_>) -> Result<BlockEntry> {
    let file_id = r.varint()?;
    let at = r.pos();
    let kind = match r.u8()? {
        KIND_RAW => BlockKind::Raw,
        KIND_ROLLUP => BlockKind::Rollup {
            resolution_ms: r.varint_max("rollup resolution", i64::MAX as u64)? as i64,
        },
        other => {
            return Err(FormatError::invalid(
                "manifest body",
                at,
                format!("unknown block kind {other}"),
            ));
        }
    };
    Ok(BlockEntry {
        file_id,
        kind,
        partition_start: r.i64()?,
        partition_end: r.i64()?,
        level: r.u8()?,
        series: r.varint()?,
        samples: r.varint()?,
        bytes: r.varint()?,
    })
}

fn check_block(b: &BlockEntry) -> std::result::Result<(), String> {
    if b.partition_start >= b.partition_end {
        return Err(format!(
            "empty partition [{}, {})",
            b.partition_start, b.partition_end
        ));
    }
    if let BlockKind::Rollup { resolution_ms } = b.kind
        && resolution_ms <= 0
    {
        return Err(format!("rollup resolution {resolution_ms} ms"));
    }
    if b.samples < b.series {
        return Err(format!("{} samples in {} series", b.samples, b.series));
    }
    if b.bytes < (HEADER_LEN + FOOTER_LEN) as u64 {
        return Err(format!("{} bytes, less than an empty block", b.bytes));
    }
    Ok(())
}

fn encode_repair(m: &RepairMark, out: &mut Vec<u8>) {
    out.extend_from_slice(&m.partition_start.to_le_bytes());
    out.extend_from_slice(&m.partition_end.to_le_bytes());
    match m.series {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    put_varint(out, m.reason.len() as u64);
    out.extend_from_slice(m.reason.as_bytes());
}

fn decode_repair(r: &mut Reader<'_>) -> Result<RepairMark> {
    let partition_start = r.i64()?;
    let partition_end = r.i64()?;
    let at = r.pos();
    let series = match r.u8()? {
        0 => None,
        1 => Some(SeriesId(r.u128()?)),
        other => {
            return Err(FormatError::invalid(
                "manifest body",
                at,
                format!("series flag {other}"),
            ));
        }
    };
    let at = r.pos();
    let len = r.varint_max("repair reason length", MAX_REASON_LEN as u64)? as usize;
    let reason = std::str::from_utf8(r.bytes(len)?)
        .map_err(|_| FormatError::invalid("manifest body", at, "repair reason not UTF-8"))?;
    Ok(RepairMark {
        partition_start,
        partition_end,
        series,
        reason: reason.to_owned(),
    })
}
