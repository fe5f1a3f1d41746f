//! Fixed-size parts of a block file: header, index entries, footer.

use crate::codec::{Reader, check_crc, crc32};
use crate::error::{FormatError, Result};
use crate::series::SeriesId;
use crate::wal::SampleType;

/// Magic bytes that open every block file.
pub const BLOCK_MAGIC: &[u8; 8] = b"FLOEBLK\0";
/// Magic bytes that close every block file.
pub const FOOTER_MAGIC: &[u8; 8] = b"FLOEBEND";
/// The block format version this code writes and reads.
pub const BLOCK_VERSION: u16 = 1;
/// Size of the header.
pub const HEADER_LEN: usize = 32;
/// Size of one index entry.
pub const INDEX_ENTRY_LEN: usize = 48;
/// Size of the footer.
pub const FOOTER_LEN: usize = 76;
/// Header flag: the file carries the series keys section.
pub const FLAG_KEYS: u8 = 1;

/// The block header: what the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Type of every sample in the block.
    pub sample_type: SampleType,
    /// True when the file carries the series keys section.
    pub has_keys: bool,
    /// Inclusive start of the time partition (ms).
    pub partition_start: i64,
    /// Exclusive end of the time partition (ms).
    pub partition_end: i64,
}

impl BlockHeader {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(BLOCK_MAGIC);
        b[8..10].copy_from_slice(&BLOCK_VERSION.to_le_bytes());
        b[10] = self.sample_type as u8;
        b[11] = if self.has_keys { FLAG_KEYS } else { 0 };
        b[12..20].copy_from_slice(&self.partition_start.to_le_bytes());
        b[20..28].copy_from_slice(&self.partition_end.to_le_bytes());
        let crc = crc32(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("block header", bytes);
        let magic = r.bytes(8)?;
        if magic != BLOCK_MAGIC {
            return Err(FormatError::BadMagic {
                what: "block header",
                found: magic.to_vec(),
                expected: BLOCK_MAGIC,
            });
        }
        let version = r.u16()?;
        let sample_type = r.u8()?;
        let flags = r.u8()?;
        let partition_start = r.i64()?;
        let partition_end = r.i64()?;
        check_crc("block header", 0, &bytes[..28], r.u32()?)?;
        if version != BLOCK_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "block",
                version: version.into(),
                supported: "1",
            });
        }
        if flags & !FLAG_KEYS != 0 {
            return Err(FormatError::invalid(
                "block header",
                11,
                format!("unknown flags {flags:#x}"),
            ));
        }
        if partition_start >= partition_end {
            return Err(FormatError::invalid(
                "block header",
                12,
                format!("empty partition [{partition_start}, {partition_end})"),
            ));
        }
        Ok(BlockHeader {
            sample_type: SampleType::from_tag(sample_type)?,
            has_keys: flags & FLAG_KEYS != 0,
            partition_start,
            partition_end,
        })
    }
}

/// One series' entry in the block index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// The series.
    pub id: SeriesId,
    /// Offset of its chunk in the file.
    pub offset: u64,
    /// Length of its chunk, crc included.
    pub len: u32,
    /// Number of samples.
    pub count: u32,
    /// First timestamp.
    pub min_ts: i64,
    /// Last timestamp.
    pub max_ts: i64,
}

impl IndexEntry {
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.min_ts.to_le_bytes());
        out.extend_from_slice(&self.max_ts.to_le_bytes());
    }

    /// Decodes one 48-byte entry (bounds are checked by the caller's slice).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("block index entry", bytes);
        Ok(IndexEntry {
            id: SeriesId(r.u128()?),
            offset: r.u64()?,
            len: r.u32()?,
            count: r.u32()?,
            min_ts: r.i64()?,
            max_ts: r.i64()?,
        })
    }
}

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) index_offset: u64,
    pub(crate) series_count: u64,
    pub(crate) keys_offset: u64,
    pub(crate) keys_len: u64,
    pub(crate) sample_count: u64,
    pub(crate) index_crc: u32,
    pub(crate) keys_crc: u32,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut v = Vec::with_capacity(FOOTER_LEN);
        for x in [
            self.index_offset,
            self.series_count,
            self.keys_offset,
            self.keys_len,
            self.sample_count,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&self.index_crc.to_le_bytes());
        v.extend_from_slice(&self.keys_crc.to_le_bytes());
        v.extend_from_slice(&self.min_ts.to_le_bytes());
        v.extend_from_slice(&self.max_ts.to_le_bytes());
        let crc = crc32(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        v.extend_from_slice(FOOTER_MAGIC);
        let mut b = [0u8; FOOTER_LEN];
        b.copy_from_slice(&v);
        b
    }

    pub(crate) fn decode(bytes: &[u8], at: usize) -> Result<Self> {
        let mut r = Reader::new("block footer", bytes);
        let f = Footer {
            index_offset: r.u64()?,
            series_count: r.u64()?,
            keys_offset: r.u64()?,
            keys_len: r.u64()?,
            sample_count: r.u64()?,
            index_crc: r.u32()?,
            keys_crc: r.u32()?,
            min_ts: r.i64()?,
            max_ts: r.i64()?,
        };
        let stored = r.u32()?;
        let magic = r.bytes(8)?;
        if magic != FOOTER_MAGIC {
            return Err(FormatError::BadMagic {
                what: "block footer",
                found: magic.to_vec(),
                expected: FOOTER_MAGIC,
            });
        }
        check_crc("block footer", at, &bytes[..64], stored)?;
        Ok(f)
    }
}
