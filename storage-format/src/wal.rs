//! Write-ahead log segments and records.
//!
//! A segment file is a 24-byte header followed by records:
//!
//! ```text
//! header:  magic "FLOEWAL\0" (8) | version u16 LE | reserved u16 (0) | segment id u64 LE | crc32 LE of the 20 bytes before
//! record:  payload length u32 LE | crc32 LE of payload | payload
//! payload: kind u8 | body
//! ```
//!
//! Replay reads records until the end of the segment or the first record that is torn
//! (shorter than its length says), fails its checksum or is otherwise malformed; the reader
//! then reports where the good prefix ends so the engine can truncate there. It never
//! panics and never allocates from a length it has not checked against what is present.

use crate::codec::{Reader, check_crc, crc32, put_varint};
use crate::error::{FormatError, Result};
use crate::series::{SeriesId, SeriesKey};

mod batch;

pub use batch::{SampleBatch, SampleType};

/// Magic bytes that open every WAL segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"FLOEWAL\0";
/// The segment format version this code writes (and the only one it reads).
pub const SEGMENT_VERSION: u16 = 1;
/// Size of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 24;
/// Size of a record's frame (length and crc).
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest record payload.
pub const MAX_RECORD_LEN: usize = 64 << 20;

/// Record kind: a series definition (`series id u128 LE | canonical key`).
pub const KIND_SERIES: u8 = 1;
/// Record kind: a batch of samples (see [`SampleBatch`]).
pub const KIND_SAMPLES: u8 = 2;

/// The decoded header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's sequence number, increasing by one per new segment.
    pub segment_id: u64,
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[..8].copy_from_slice(SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        b[12..20].copy_from_slice(&self.segment_id.to_le_bytes());
        let crc = crc32(&b[..20]);
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("WAL segment header", bytes);
        let magic = r.bytes(8)?;
        if magic != SEGMENT_MAGIC {
            return Err(FormatError::BadMagic {
                what: "WAL segment header",
                found: magic.to_vec(),
                expected: SEGMENT_MAGIC,
            });
        }
        let version = r.u16()?;
        let _reserved = r.u16()?;
        let segment_id = r.u64()?;
        let stored = r.u32()?;
        check_crc("WAL segment header", 0, &bytes[..20], stored)?;
        if version != SEGMENT_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "WAL segment",
                version: version.into(),
                supported: "1",
            });
        }
        Ok(SegmentHeader { segment_id })
    }
}

/// Appends one framed record (`length | crc32 | payload`) to `out`.
pub fn frame_record(payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if payload.is_empty() || payload.len() > MAX_RECORD_LEN {
        return Err(FormatError::BadInput {
            what: "WAL record",
            reason: format!(
                "payload of {} bytes (allowed 1..={MAX_RECORD_LEN})",
                payload.len()
            ),
        });
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends a framed series-definition record.
pub fn frame_series_record(key: &SeriesKey, out: &mut Vec<u8>) -> Result<()> {
    let mut payload = Vec::with_capacity(64);
    payload.push(KIND_SERIES);
    payload.extend_from_slice(&key.id().to_le_bytes());
    key.encode_into(&mut payload);
    frame_record(&payload, out)
}

/// Appends a framed samples record.
pub fn frame_samples_record(batch: &SampleBatch, out: &mut Vec<u8>) -> Result<()> {
    let mut payload = Vec::with_capacity(batch.encoded_len_hint());
    payload.push(KIND_SAMPLES);
    batch.encode_into(&mut payload);
    frame_record(&payload, out)
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum WalRecord {
    /// A series definition; its id was checked against the key.
    Series(SeriesKey),
    /// A batch of samples.
    Samples(SampleBatch),
}

/// Decodes a record payload. Samples are decoded into `batch` (reused across calls to
/// avoid allocation); the return value says which kind was read.
pub fn decode_payload(payload: &[u8], batch: &mut SampleBatch) -> Result<Option<SeriesKey>> {
    let mut r = Reader::new("WAL record", payload);
    match r.u8()? {
        KIND_SERIES => {
            let id = SeriesId(r.u128()?);
            let key = SeriesKey::decode(&payload[r.pos()..])?;
            if key.id() != id {
                return Err(FormatError::invalid(
                    "WAL series record",
                    1,
                    format!("id {id} does not match its key {key} ({})", key.id()),
                ));
            }
            Ok(Some(key))
        }
        KIND_SAMPLES => {
            batch.decode_from(&payload[1..])?;
            Ok(None)
        }
        other => Err(FormatError::invalid(
            "WAL record",
            0,
            format!("unknown record kind {other}"),
        )),
    }
}

/// Why replay of a segment stopped before its end.
#[derive(Debug)]
pub enum TailProblem {
    /// The last record is incomplete: the expected result of a crash mid-write.
    Torn {
        /// Offset of the incomplete record.
        offset: u64,
        /// Bytes its header announced (header included).
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// A complete record failed its checksum or was malformed.
    Corrupt {
        /// Offset of the bad record.
        offset: u64,
        /// What was wrong.
        error: FormatError,
    },
}

impl std::fmt::Display for TailProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TailProblem::Torn {
                offset,
                needed,
                available,
            } => write!(
                f,
                "torn record at offset {offset}: needs {needed} bytes, {available} present"
            ),
            TailProblem::Corrupt { offset, error } => {
                write!(f, "corrupt record at offset {offset}: {error}")
            }
        }
    }
}

/// Reads the records of one segment held in memory.
#[derive(Debug)]
pub struct SegmentReader<'a> {
    buf: &'a [u8],
    pos: usize,
    problem: Option<TailProblem>,
}

impl<'a> SegmentReader<'a> {
    /// Checks the segment header and positions the reader at the first record.
    pub fn new(buf: &'a [u8]) -> Result<(SegmentHeader, Self)> {
        let header = SegmentHeader::decode(buf)?;
        let reader = SegmentReader {
            buf,
            pos: SEGMENT_HEADER_LEN,
            problem: None,
        };
        Ok((header, reader))
    }

    /// The next record's payload (its crc already checked), or `None` at the end of the good
    /// prefix; [`SegmentReader::problem`] then tells whether the end was clean.
    pub fn next_payload(&mut self) -> Option<&'a [u8]> {
        if self.problem.is_some() || self.pos == self.buf.len() {
            return None;
        }
        match self.read_at(self.pos) {
            Ok(payload) => {
                self.pos += RECORD_HEADER_LEN + payload.len();
                Some(payload)
            }
            Err(None) => {
                // Only zeros follow: a preallocated or zero-filled tail, a clean end.
                self.pos = self.buf.len();
                None
            }
            Err(Some(problem)) => {
                self.problem = Some(problem);
                None
            }
        }
    }

    fn read_at(&self, at: usize) -> std::result::Result<&'a [u8], Option<TailProblem>> {
        let rest = &self.buf[at..];
        if rest.iter().all(|&b| b == 0) {
            return Err(None);
        }
        let torn = |needed: usize| TailProblem::Torn {
            offset: at as u64,
            needed: needed as u64,
            available: rest.len() as u64,
        };
        if rest.len() < RECORD_HEADER_LEN {
            return Err(Some(torn(RECORD_HEADER_LEN)));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let stored = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let corrupt = |error| {
            Some(TailProblem::Corrupt {
                offset: at as u64,
                error,
            })
        };
        if len == 0 || len > MAX_RECORD_LEN {
            let error = FormatError::TooLarge {
                what: "WAL record length",
                len: len as u64,
                max: MAX_RECORD_LEN as u64,
            };
            return Err(corrupt(error));
        }
        if rest.len() < RECORD_HEADER_LEN + len {
            return Err(Some(torn(RECORD_HEADER_LEN + len)));
        }
        let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
        check_crc("WAL record", at, payload, stored).map_err(corrupt)?;
        Ok(payload)
    }

    /// Byte length of the good prefix read so far (header included): where to truncate.
    pub fn valid_len(&self) -> u64 {
        self.pos as u64
    }

    /// Why reading stopped early, if it did.
    pub fn problem(&self) -> Option<&TailProblem> {
        self.problem.as_ref()
    }
}

/// Appends a varint to `out` (re-exported for record builders in other modules).
pub(crate) fn put_len(out: &mut Vec<u8>, v: usize) {
    put_varint(out, v as u64);
}
