//! Reads a block file through a read-only memory map.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::layout::{BlockHeader, FOOTER_LEN, Footer, HEADER_LEN, INDEX_ENTRY_LEN, IndexEntry};
use super::writer::FIRST_CHUNK_OFFSET;
use crate::chunk::{Columns, MAX_CHUNK_SAMPLES, decode_chunk, verify_chunk};
use crate::codec::{Reader, check_crc};
use crate::digest::Digest;
use crate::error::{FormatError, Result};
use crate::rollup::{RollupColumns, decode_rollup_chunk, rollup_chunk_header, verify_rollup_chunk};
use crate::series::{MAX_KEY_LEN, SeriesId, SeriesKey};
use crate::wal::SampleType;

/// Largest decompressed series keys section accepted.
const MAX_KEYS_SECTION: u64 = 4 << 30;

/// An open, checked block file.
///
/// A block of [`SampleType::Float`] is read with [`BlockReader::read_entry`] and
/// [`BlockReader::read_series`], one of [`SampleType::Rollup`] with
/// [`BlockReader::read_rollup_entry`] and [`BlockReader::read_rollup_series`]; the other pair
/// refuses it. [`BlockReader::verify_all`] and [`BlockReader::digest`] take either.
#[derive(Debug)]
pub struct BlockReader {
    path: PathBuf,
    map: Mmap,
    header: BlockHeader,
    footer: Footer,
    /// The resolution of every rollup of a rollup block (read from its first chunk).
    resolution_ms: Option<i64>,
}

impl BlockReader {
    /// Maps and checks a block: header, footer, index crc, index order and bounds. Errors name
    /// the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| FormatError::Io {
            op: "open block",
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: block files are immutable once renamed into place: Floe never writes to,
        // truncates or extends a finished block, and quarantines (renames) rather than edits
        // a bad one. The map is read-only.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| FormatError::Io {
            op: "map block",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_map(path.to_path_buf(), map).map_err(|e| e.in_file(path))
    }

    fn from_map(path: PathBuf, map: Mmap) -> Result<Self> {
        let len = map.len();
        if len < HEADER_LEN + FOOTER_LEN {
            return Err(FormatError::Truncated {
                what: "block",
                offset: 0,
                needed: (HEADER_LEN + FOOTER_LEN) as u64,
                available: len as u64,
            });
        }
        let header = BlockHeader::decode(&map[..HEADER_LEN])?;
        let footer_at = len - FOOTER_LEN;
        let footer = Footer::decode(&map[footer_at..], footer_at)?;
        let mut reader = BlockReader {
            path,
            map,
            header,
            footer,
            resolution_ms: None,
        };
        reader.check_layout(footer_at as u64)?;
        reader.check_index()?;
        if header.sample_type == SampleType::Rollup && reader.series_count() > 0 {
            let (_, res) = rollup_chunk_header(reader.entry_bytes(0)?)?;
            reader.resolution_ms = Some(res);
        }
        Ok(reader)
    }

    fn check_layout(&self, footer_at: u64) -> Result<()> {
        let f = &self.footer;
        let index_len = f.series_count.checked_mul(INDEX_ENTRY_LEN as u64);
        let index_end = index_len.and_then(|l| l.checked_add(f.index_offset));
        let keys_end = f.keys_offset.checked_add(f.keys_len);
        let ok = f.index_offset >= FIRST_CHUNK_OFFSET
            && index_end == Some(f.keys_offset)
            && keys_end == Some(footer_at)
            && (self.header.has_keys || f.keys_len == 0);
        if !ok {
            return Err(FormatError::invalid(
                "block footer",
                footer_at as usize,
                format!(
                    "inconsistent layout: index at {} with {} series, keys at {} of {} bytes, footer at {footer_at}",
                    f.index_offset, f.series_count, f.keys_offset, f.keys_len
                ),
            ));
        }
        Ok(())
    }

    fn check_index(&self) -> Result<()> {
        let f = &self.footer;
        let index = &self.map[f.index_offset as usize..f.keys_offset as usize];
        check_crc("block index", f.index_offset as usize, index, f.index_crc)?;
        let mut prev: Option<SeriesId> = None;
        let mut samples = 0u64;
        for i in 0..self.series_count() {
            let e = self.entry(i)?;
            let at = f.index_offset as usize + i * INDEX_ENTRY_LEN;
            let end = e.offset.checked_add(u64::from(e.len));
            let sane = prev.is_none_or(|p| p < e.id)
                && e.offset >= FIRST_CHUNK_OFFSET
                && end.is_some_and(|end| end <= f.index_offset)
                && e.count > 0
                && e.count as usize <= MAX_CHUNK_SAMPLES
                && e.min_ts <= e.max_ts
                && e.min_ts >= self.header.partition_start
                && e.max_ts < self.header.partition_end;
            if !sane {
                return Err(FormatError::invalid(
                    "block index",
                    at,
                    format!("entry {i} is out of order or out of bounds: {e:?}"),
                ));
            }
            prev = Some(e.id);
            samples += u64::from(e.count);
        }
        if samples != f.sample_count {
            return Err(FormatError::invalid(
                "block footer",
                0,
                format!(
                    "index counts {samples} samples, footer says {}",
                    f.sample_count
                ),
            ));
        }
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The block header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.footer.series_count as usize
    }

    /// Number of samples (of rollup rows, in a rollup block).
    pub fn sample_count(&self) -> u64 {
        self.footer.sample_count
    }

    /// Smallest and largest timestamp in the block (`None` when empty).
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (self.series_count() > 0).then_some((self.footer.min_ts, self.footer.max_ts))
    }

    /// File size in bytes.
    pub fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Index entry `i` (0-based, in id order).
    pub fn entry(&self, i: usize) -> Result<IndexEntry> {
        if i >= self.series_count() {
            return Err(FormatError::invalid(
                "block index",
                0,
                format!("entry {i} of {}", self.series_count()),
            ));
        }
        let at = self.footer.index_offset as usize + i * INDEX_ENTRY_LEN;
        IndexEntry::decode(&self.map[at..at + INDEX_ENTRY_LEN])
    }

    fn id_at(&self, i: usize) -> u128 {
        let at = self.footer.index_offset as usize + i * INDEX_ENTRY_LEN;
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.map[at..at + 16]);
        u128::from_le_bytes(b)
    }

    /// The index position of series `id`, by binary search in the mapped index.
    pub fn find(&self, id: SeriesId) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.series_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.id_at(mid).cmp(&id.0) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The resolution (ms) of every rollup in a rollup block; `None` for a block of raw
    /// samples or an empty block.
    pub fn rollup_resolution(&self) -> Option<i64> {
        self.resolution_ms
    }

    /// The bytes of entry `i`'s chunk (bounds checked at open), unchecked.
    fn entry_bytes(&self, i: usize) -> Result<&[u8]> {
        let e = self.entry(i)?;
        Ok(&self.map[e.offset as usize..(e.offset + u64::from(e.len)) as usize])
    }

    /// The raw chunk of entry `i`, crc checked (for streaming to a replica unchanged).
    pub fn chunk_bytes(&self, i: usize) -> Result<&[u8]> {
        let bytes = self.entry_bytes(i)?;
        let res = match self.header.sample_type {
            SampleType::Float => verify_chunk(bytes),
            SampleType::Rollup => verify_rollup_chunk(bytes),
        };
        res.map_err(|err| self.chunk_error(i, err))?;
        Ok(bytes)
    }

    fn check_type(&self, wanted: SampleType, call: &str) -> Result<()> {
        if self.header.sample_type == wanted {
            return Ok(());
        }
        Err(FormatError::BadInput {
            what: "block read",
            reason: format!(
                "{call} reads blocks of sample type {wanted:?}, {} is {:?}",
                self.path.display(),
                self.header.sample_type
            ),
        })
    }

    fn chunk_error(&self, i: usize, err: FormatError) -> FormatError {
        FormatError::invalid("block chunk", i, format!("series entry {i}: {err}"))
            .in_file(&self.path)
    }

    /// Decodes entry `i` of a block of raw samples into `dst`.
    pub fn read_entry(&self, i: usize, dst: &mut Columns) -> Result<()> {
        self.check_type(SampleType::Float, "read_entry")?;
        let e = self.entry(i)?;
        let bytes = &self.map[e.offset as usize..(e.offset + u64::from(e.len)) as usize];
        let res = decode_chunk(bytes, dst).and_then(|()| {
            let ok = dst.len() == e.count as usize
                && dst.ts.first() == Some(&e.min_ts)
                && dst.ts.last() == Some(&e.max_ts);
            if ok {
                Ok(())
            } else {
                Err(FormatError::invalid(
                    "block chunk",
                    e.offset as usize,
                    "chunk disagrees with its index entry",
                ))
            }
        });
        res.map_err(|err| self.chunk_error(i, err))
    }

    /// Decodes series `id` of a block of raw samples into `dst`; `Ok(false)` when the block
    /// does not hold it.
    pub fn read_series(&self, id: SeriesId, dst: &mut Columns) -> Result<bool> {
        self.check_type(SampleType::Float, "read_series")?;
        match self.find(id) {
            Some(i) => self.read_entry(i, dst).map(|()| true),
            None => Ok(false),
        }
    }

    /// Decodes entry `i` of a rollup block into `dst`, checking it against its index entry
    /// (rows, first and last bucket), the block's resolution and partition.
    pub fn read_rollup_entry(&self, i: usize, dst: &mut RollupColumns) -> Result<()> {
        self.check_type(SampleType::Rollup, "read_rollup_entry")?;
        let e = self.entry(i)?;
        let res = decode_rollup_chunk(self.entry_bytes(i)?, dst).and_then(|()| {
            let end = i128::from(e.max_ts) + i128::from(dst.resolution_ms);
            let ok = dst.len() == e.count as usize
                && dst.ts.first() == Some(&e.min_ts)
                && dst.ts.last() == Some(&e.max_ts)
                && Some(dst.resolution_ms) == self.resolution_ms
                && end <= i128::from(self.header.partition_end);
            if ok {
                Ok(())
            } else {
                Err(FormatError::invalid(
                    "block rollup chunk",
                    e.offset as usize,
                    format!(
                        "chunk ({} rows at {} ms) disagrees with its index entry, the block's resolution or its partition",
                        dst.len(),
                        dst.resolution_ms
                    ),
                ))
            }
        });
        res.map_err(|err| {
            dst.clear();
            self.chunk_error(i, err)
        })
    }

    /// Decodes series `id` of a rollup block into `dst`; `Ok(false)` when the block does not
    /// hold it.
    pub fn read_rollup_series(&self, id: SeriesId, dst: &mut RollupColumns) -> Result<bool> {
        self.check_type(SampleType::Rollup, "read_rollup_series")?;
        match self.find(id) {
            Some(i) => self.read_rollup_entry(i, dst).map(|()| true),
            None => Ok(false),
        }
    }

    /// The series keys, in index order. Fails if the block carries none.
    pub fn series_keys(&self) -> Result<Vec<SeriesKey>> {
        self.read_keys().map_err(|e| e.in_file(&self.path))
    }

    fn read_keys(&self) -> Result<Vec<SeriesKey>> {
        let f = &self.footer;
        if !self.header.has_keys {
            return Err(FormatError::invalid(
                "block keys",
                0,
                "block carries no series keys",
            ));
        }
        let raw = &self.map[f.keys_offset as usize..(f.keys_offset + f.keys_len) as usize];
        check_crc("block keys", f.keys_offset as usize, raw, f.keys_crc)?;
        let limit = (f.series_count.saturating_mul(MAX_KEY_LEN as u64 + 3)).min(MAX_KEYS_SECTION);
        let bytes = decompress_bounded(raw, limit)?;
        let mut r = Reader::new("block keys", &bytes);
        let mut keys = Vec::with_capacity(self.series_count());
        for i in 0..self.series_count() {
            let len = r.varint_max("series key length", MAX_KEY_LEN as u64)? as usize;
            let key = SeriesKey::decode(r.bytes(len)?)?;
            if key.id() != SeriesId(self.id_at(i)) {
                return Err(FormatError::invalid(
                    "block keys",
                    r.pos(),
                    format!("key {key} does not match index entry {i}"),
                ));
            }
            keys.push(key);
        }
        r.finish()?;
        Ok(keys)
    }

    /// Checks every chunk's crc and decodes it (a full scrub), for either sample type.
    pub fn verify_all(&self) -> Result<()> {
        self.digest()?;
        if self.header.has_keys {
            self.series_keys()?;
        }
        Ok(())
    }

    /// The digest of the block: of every sample in a block of raw samples
    /// ([`Digest::of_columns`]), of every row in a rollup block ([`Digest::of_rollup`]).
    pub fn digest(&self) -> Result<Digest> {
        let mut d = Digest::EMPTY;
        match self.header.sample_type {
            SampleType::Float => {
                let mut cols = Columns::default();
                for i in 0..self.series_count() {
                    self.read_entry(i, &mut cols)?;
                    let id = SeriesId(self.id_at(i));
                    d.add(Digest::of_columns(
                        id,
                        &cols.ts,
                        &cols.values,
                        &cols.versions,
                    ));
                }
            }
            SampleType::Rollup => {
                let mut rollup = RollupColumns::default();
                for i in 0..self.series_count() {
                    self.read_rollup_entry(i, &mut rollup)?;
                    d.add(Digest::of_rollup(SeriesId(self.id_at(i)), &rollup));
                }
            }
        }
        Ok(d)
    }
}

/// zstd decompression that refuses to produce more than `limit` bytes.
fn decompress_bounded(raw: &[u8], limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let err = |e: std::io::Error| FormatError::Codec {
        what: "block keys",
        reason: e.to_string(),
    };
    let mut dec = zstd::stream::read::Decoder::with_buffer(raw).map_err(err)?;
    let mut out = Vec::new();
    (&mut dec)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(err)?;
    if out.len() as u64 > limit {
        return Err(FormatError::TooLarge {
            what: "decompressed block keys",
            len: out.len() as u64,
            max: limit,
        });
    }
    Ok(out)
}
