//! Writes a block file: temporary name, fsync, rename, fsync of the directory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::layout::{BlockHeader, Footer, HEADER_LEN, INDEX_ENTRY_LEN, IndexEntry};
use crate::chunk::{Columns, decode_chunk, encode_chunk};
use crate::codec::{crc32, put_varint};
use crate::error::{FormatError, Result};
use crate::rollup::{RollupColumns, decode_rollup_chunk, encode_rollup_chunk};
use crate::series::{SeriesId, SeriesKey};
use crate::wal::SampleType;

/// zstd level of the series keys section.
const KEYS_ZSTD_LEVEL: i32 = 3;

/// What a finished block holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// The final path.
    pub path: PathBuf,
    /// File size in bytes.
    pub bytes: u64,
    /// Number of series.
    pub series: u64,
    /// Number of samples (of rollup rows, in a rollup block).
    pub samples: u64,
}

/// Builds one block file. Series must be added in strictly increasing [`SeriesId`] order:
/// raw samples with [`BlockWriter::add_series`] in a block of [`SampleType::Float`], rollups
/// with [`BlockWriter::add_rollup_series`] in a block of [`SampleType::Rollup`].
///
/// Nothing is visible under the final name until [`BlockWriter::finish`] has written,
/// fsynced and renamed the file; a writer dropped before that removes its temporary file.
#[derive(Debug)]
pub struct BlockWriter {
    header: BlockHeader,
    tmp_path: PathBuf,
    final_path: PathBuf,
    out: Option<BufWriter<File>>,
    offset: u64,
    entries: Vec<IndexEntry>,
    keys: Vec<u8>,
    chunk: Vec<u8>,
    check: Columns,
    rollup_check: RollupColumns,
    /// The resolution of every rollup in the block, fixed by the first one.
    resolution_ms: Option<i64>,
    verify: bool,
    samples: u64,
}

impl BlockWriter {
    /// Starts a block that will be named `path` once finished. With `header.has_keys`, every
    /// series must be added with its key.
    pub fn create(path: impl Into<PathBuf>, header: BlockHeader) -> Result<Self> {
        let final_path = path.into();
        if header.partition_start >= header.partition_end {
            return Err(FormatError::BadInput {
                what: "block header",
                reason: format!(
                    "empty partition [{}, {})",
                    header.partition_start, header.partition_end
                ),
            });
        }
        let mut tmp = final_path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp_path = PathBuf::from(tmp);
        let file = File::create(&tmp_path).map_err(|source| FormatError::Io {
            op: "create block",
            path: tmp_path.clone(),
            source,
        })?;
        let mut w = BlockWriter {
            header,
            tmp_path,
            final_path,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            offset: 0,
            entries: Vec::new(),
            keys: Vec::new(),
            chunk: Vec::new(),
            check: Columns::default(),
            rollup_check: RollupColumns::default(),
            resolution_ms: None,
            verify: true,
            samples: 0,
        };
        w.write(&header.encode())?;
        Ok(w)
    }

    /// Turns off the read-back check of every chunk (on by default: each encoded chunk is
    /// decoded again and compared bit for bit before it is written).
    pub fn without_verification(mut self) -> Self {
        self.verify = false;
        self
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Err(FormatError::BadInput {
                what: "block",
                reason: "writer already finished".into(),
            });
        };
        out.write_all(bytes).map_err(|source| FormatError::Io {
            op: "write block",
            path: self.tmp_path.clone(),
            source,
        })?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Adds one series' normalized columns (strictly increasing timestamps inside the
    /// partition). `key` is required when the block carries keys and must match `id`.
    /// Only in a block of [`SampleType::Float`].
    pub fn add_series(
        &mut self,
        id: SeriesId,
        key: Option<&SeriesKey>,
        ts: &[i64],
        values: &[f64],
        versions: &[u64],
    ) -> Result<()> {
        self.check_type(SampleType::Float, "add_series")?;
        self.check_order(id, key, ts)?;
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        encode_chunk(ts, values, versions, &mut chunk)?;
        if self.verify {
            self.verify_chunk(&chunk, ts, values, versions)?;
        }
        self.append(id, key, &chunk, ts)?;
        self.chunk = chunk;
        Ok(())
    }

    /// Adds one series' rollup ([`RollupColumns::validate`] must pass). Only in a block of
    /// [`SampleType::Rollup`]; every rollup of a block has the same resolution, and every
    /// bucket `[ts, ts + resolution)` lies whole inside the partition. `key` as for
    /// [`BlockWriter::add_series`].
    pub fn add_rollup_series(
        &mut self,
        id: SeriesId,
        key: Option<&SeriesKey>,
        rollup: &RollupColumns,
    ) -> Result<()> {
        self.check_type(SampleType::Rollup, "add_rollup_series")?;
        self.check_order(id, key, &rollup.ts)?;
        self.check_rollup_fits(id, rollup)?;
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        encode_rollup_chunk(rollup, &mut chunk)?;
        if self.verify {
            decode_rollup_chunk(&chunk, &mut self.rollup_check)?;
            if !self.rollup_check.bit_eq(rollup) {
                return Err(FormatError::invalid(
                    "block rollup chunk",
                    self.offset as usize,
                    "encoded rollup chunk does not decode to its input",
                ));
            }
        }
        self.append(id, key, &chunk, &rollup.ts)?;
        self.chunk = chunk;
        self.resolution_ms = Some(rollup.resolution_ms);
        Ok(())
    }

    fn check_type(&self, wanted: SampleType, call: &str) -> Result<()> {
        if self.header.sample_type == wanted {
            return Ok(());
        }
        Err(FormatError::BadInput {
            what: "block series",
            reason: format!(
                "{call} needs a block of sample type {wanted:?}, this one is {:?}",
                self.header.sample_type
            ),
        })
    }

    /// Same resolution as the block's other rollups, whole buckets inside the partition.
    fn check_rollup_fits(&self, id: SeriesId, rollup: &RollupColumns) -> Result<()> {
        let res = rollup.resolution_ms;
        let bad = |reason: String| {
            Err(FormatError::BadInput {
                what: "block rollup",
                reason: format!("series {id}: {reason}"),
            })
        };
        if let Some(block_res) = self.resolution_ms.filter(|&r| r != res) {
            return bad(format!(
                "resolution {res} ms in a block of {block_res} ms rollups"
            ));
        }
        let end = self.header.partition_end;
        if let Some(&last) = rollup.ts.last()
            && i128::from(last) + i128::from(res) > i128::from(end)
        {
            return bad(format!(
                "bucket [{last}, {last} + {res}) ends after the partition end {end}"
            ));
        }
        Ok(())
    }

    /// Writes an encoded chunk and records its key and index entry.
    fn append(
        &mut self,
        id: SeriesId,
        key: Option<&SeriesKey>,
        chunk: &[u8],
        ts: &[i64],
    ) -> Result<()> {
        if let Some(key) = key.filter(|_| self.header.has_keys) {
            let mut bytes = Vec::new();
            key.encode_into(&mut bytes);
            put_varint(&mut self.keys, bytes.len() as u64);
            self.keys.extend_from_slice(&bytes);
        }
        let entry = IndexEntry {
            id,
            offset: self.offset,
            len: chunk.len() as u32,
            count: ts.len() as u32,
            min_ts: ts[0],
            max_ts: ts[ts.len() - 1],
        };
        self.write(chunk)?;
        self.entries.push(entry);
        self.samples += ts.len() as u64;
        Ok(())
    }

    fn check_order(&self, id: SeriesId, key: Option<&SeriesKey>, ts: &[i64]) -> Result<()> {
        let bad = |reason: String| {
            Err(FormatError::BadInput {
                what: "block series",
                reason,
            })
        };
        if ts.is_empty() {
            return bad(format!("series {id} has no samples"));
        }
        if self.entries.last().is_some_and(|e| e.id >= id) {
            return bad(format!("series {id} added out of id order"));
        }
        match key {
            None if self.header.has_keys => return bad(format!("series {id} has no key")),
            Some(k) if k.id() != id => return bad(format!("key {k} does not hash to {id}")),
            _ => {}
        }
        let (start, end) = (self.header.partition_start, self.header.partition_end);
        if ts.first().is_some_and(|&t| t < start) || ts.last().is_some_and(|&t| t >= end) {
            return bad(format!(
                "series {id}: samples outside the partition [{start}, {end})"
            ));
        }
        Ok(())
    }

    /// The paired check: what is about to be written decodes to exactly what was given.
    fn verify_chunk(
        &mut self,
        chunk: &[u8],
        ts: &[i64],
        values: &[f64],
        versions: &[u64],
    ) -> Result<()> {
        decode_chunk(chunk, &mut self.check)?;
        let same_values = self.check.values.len() == values.len()
            && self
                .check
                .values
                .iter()
                .zip(values)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if self.check.ts != ts || !same_values || self.check.versions != versions {
            return Err(FormatError::invalid(
                "block chunk",
                self.offset as usize,
                "encoded chunk does not decode to its input",
            ));
        }
        Ok(())
    }

    /// Writes index, keys and footer, fsyncs, renames to the final name and fsyncs the
    /// directory. The block is durable and visible when this returns.
    pub fn finish(mut self) -> Result<BlockSummary> {
        let index_offset = self.offset;
        let mut index = Vec::with_capacity(self.entries.len() * INDEX_ENTRY_LEN);
        for e in &self.entries {
            e.encode_into(&mut index);
        }
        self.write(&index)?;
        let keys_offset = self.offset;
        let keys = if self.header.has_keys {
            zstd::bulk::compress(&self.keys, KEYS_ZSTD_LEVEL).map_err(|e| FormatError::Codec {
                what: "block keys",
                reason: e.to_string(),
            })?
        } else {
            Vec::new()
        };
        self.write(&keys)?;
        let footer = Footer {
            index_offset,
            series_count: self.entries.len() as u64,
            keys_offset,
            keys_len: keys.len() as u64,
            sample_count: self.samples,
            index_crc: crc32(&index),
            keys_crc: crc32(&keys),
            min_ts: self.entries.iter().map(|e| e.min_ts).min().unwrap_or(0),
            max_ts: self.entries.iter().map(|e| e.max_ts).max().unwrap_or(0),
        };
        self.write(&footer.encode())?;
        self.persist()
    }

    fn persist(&mut self) -> Result<BlockSummary> {
        let out = self.out.take().ok_or_else(|| FormatError::BadInput {
            what: "block",
            reason: "writer already finished".into(),
        })?;
        let tmp = self.tmp_path.clone();
        let file = out
            .into_inner()
            .map_err(|e| io_err("flush block", &tmp, e.into_error()))?;
        file.sync_all()
            .map_err(|e| io_err("fsync block", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &self.final_path)
            .map_err(|e| io_err("rename block", &self.final_path, e))?;
        sync_parent_dir(&self.final_path)?;
        Ok(BlockSummary {
            path: self.final_path.clone(),
            bytes: self.offset,
            series: self.entries.len() as u64,
            samples: self.samples,
        })
    }
}

fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> FormatError {
    FormatError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            // Unfinished: the temporary file must not outlive the writer.
            self.out = None;
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// Fsyncs the directory holding `path`, so a rename into it is durable.
pub(crate) fn sync_parent_dir(path: &Path) -> Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

/// Fsyncs directory `dir`, so that files created in it, renamed into it or removed from it
/// stay so after a crash. The one directory-fsync of Floe's formats: the block writer, the
/// manifest and the engine's WAL segments all call it.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|source| FormatError::Io {
        op: "open directory",
        path: dir.to_path_buf(),
        source,
    })?;
    d.sync_all().map_err(|source| FormatError::Io {
        op: "fsync directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Header bytes before the first chunk.
pub(crate) const FIRST_CHUNK_OFFSET: u64 = HEADER_LEN as u64;
