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
use crate::series::{MAX_KEY_LEN, SeriesId, SeriesKey};

/// Largest decompressed series keys section accepted.
const MAX_KEYS_SECTION: u64 = 4 << 30;

/// An open, checked block file.
#[derive(Debug)]
pub struct BlockReader {
    path: PathBuf,
    map: Mmap,
    header: BlockHeader,
    footer: Footer,
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
        let reader = BlockReader {
            path,
            map,
            header,
            footer,
        };
        reader.check_layout(footer_at as u64)?;
        reader.check_index()?;
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

    /// Number of samples.
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

    /// The raw chunk of entry `i`, crc checked (for streaming to a replica unchanged).
    pub fn chunk_bytes(&self, i: usize) -> Result<&[u8]> {
        let e = self.entry(i)?;
        let bytes = &self.map[e.offset as usize..(e.offset + u64::from(e.len)) as usize];
        verify_chunk(bytes).map_err(|err| self.chunk_error(i, err))?;
        Ok(bytes)
    }

    fn chunk_error(&self, i: usize, err: FormatError) -> FormatError {
        FormatError::invalid("block chunk", i, format!("series entry {i}: {err}"))
            .in_file(&self.path)
    }

    /// Decodes entry `i` into `dst`.
    pub fn read_entry(&self, i: usize, dst: &mut Columns) -> Result<()> {
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

    /// Decodes series `id` into `dst`; `Ok(false)` when the block does not hold it.
    pub fn read_series(&self, id: SeriesId, dst: &mut Columns) -> Result<bool> {
        match self.find(id) {
            Some(i) => self.read_entry(i, dst).map(|()| true),
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

    /// Checks every chunk's crc and decodes it (a full scrub).
    pub fn verify_all(&self) -> Result<()> {
        let mut cols = Columns::default();
        for i in 0..self.series_count() {
            self.read_entry(i, &mut cols)?;
        }
        if self.header.has_keys {
            self.series_keys()?;
        }
        Ok(())
    }

    /// The digest of every sample in the block.
    pub fn digest(&self) -> Result<Digest> {
        let mut cols = Columns::default();
        let mut d = Digest::EMPTY;
        for i in 0..self.series_count() {
            self.read_entry(i, &mut cols)?;
            d.add(Digest::of_columns(
                SeriesId(self.id_at(i)),
                &cols.ts,
                &cols.values,
                &cols.versions,
            ));
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
