//! Durable snapshots of the index: a WAL segment of series records.
//!
//! The file is a WAL segment exactly as `docs/storage-format.md` specifies it: the segment
//! header, then one series record (`kind 1 | id | canonical key`) per series in ref order.
//! In a checkpoint the header's segment-id field holds the number of series records that
//! follow, so that a file cut at a record boundary is detected too. The file is written to
//! `<path>.tmp`, fsynced, renamed to `<path>` and the directory fsynced: a checkpoint is
//! complete or absent, so [`LabelIndex::load`] treats any damage as corruption.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use floe_storage_format::wal::{
    SampleBatch, SegmentHeader, SegmentReader, TailProblem, decode_payload, frame_series_record,
};

use super::{IndexError, LabelIndex, SeriesRef};

/// Write buffer size.
const BUFFER: usize = 1 << 20;

impl LabelIndex {
    /// Writes a durable snapshot of the index to `path` (see the module documentation),
    /// replacing any file there only once the new one is complete and synced.
    pub fn checkpoint(&self, path: &Path) -> Result<(), IndexError> {
        let tmp = tmp_path(path);
        let written = self.write_segment(&tmp).and_then(|()| {
            fs::rename(&tmp, path).map_err(io_error("rename checkpoint into place", path))
        });
        if let Err(e) = written {
            // Best effort: the temporary file is garbage either way.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        sync_parent(path)
    }

    fn write_segment(&self, tmp: &Path) -> Result<(), IndexError> {
        let file = File::create(tmp).map_err(io_error("create checkpoint", tmp))?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        let write = io_error("write checkpoint", tmp);
        let header = SegmentHeader {
            segment_id: self.len() as u64,
        };
        out.write_all(&header.encode()).map_err(&write)?;
        let mut record = Vec::with_capacity(256);
        for r in 0..self.len() as u32 {
            record.clear();
            let key = self.key(SeriesRef(r));
            // Check before writing: the interned strings still spell the registered series.
            assert_eq!(
                key.id(),
                self.ids[r as usize],
                "index entry {r} lost its key"
            );
            frame_series_record(&key, &mut record).map_err(|source| IndexError::Format {
                path: tmp.to_owned(),
                offset: 0,
                source,
            })?;
            out.write_all(&record).map_err(&write)?;
        }
        let file = out.into_inner().map_err(|e| write(e.into_error()))?;
        file.sync_all().map_err(io_error("fsync checkpoint", tmp))
    }

    /// Reads a checkpoint written by [`LabelIndex::checkpoint`]. Refs are assigned in file
    /// order, so each series gets back the ref it had when the checkpoint was written.
    ///
    /// Any damage (bad header, torn or corrupt record, a record that is not a series, a
    /// duplicated series, a record count that differs from the header's, bytes after the last
    /// record) is an error naming the file and the offset; nothing is silently dropped.
    pub fn load(path: &Path) -> Result<LabelIndex, IndexError> {
        let bytes = fs::read(path).map_err(io_error("read checkpoint", path))?;
        let corrupt = |offset: u64, reason: String| IndexError::Corrupt {
            path: path.to_owned(),
            offset,
            reason,
        };
        let (header, mut reader) =
            SegmentReader::new(&bytes).map_err(|source| IndexError::Format {
                path: path.to_owned(),
                offset: 0,
                source,
            })?;
        let expected = header.segment_id;
        let mut index = LabelIndex::new();
        let mut batch = SampleBatch::new();
        let mut end = reader.valid_len();
        while let Some(payload) = reader.next_payload() {
            let key = match decode_payload(payload, &mut batch) {
                Ok(Some(key)) => key,
                Ok(None) => return Err(corrupt(end, "a samples record in a checkpoint".into())),
                Err(source) => {
                    let path = path.to_owned();
                    return Err(IndexError::Format {
                        path,
                        offset: end,
                        source,
                    });
                }
            };
            if index.len() as u64 >= expected {
                let reason = format!("more series records than the {expected} announced");
                return Err(corrupt(end, reason));
            }
            if !index.insert(&key).1 {
                return Err(corrupt(end, format!("series {key} recorded twice")));
            }
            end = reader.valid_len();
        }
        if let Some(problem) = reader.problem() {
            return Err(corrupt(problem_offset(problem), problem.to_string()));
        }
        if end != bytes.len() as u64 {
            let reason = format!("{} bytes after the last record", bytes.len() as u64 - end);
            return Err(corrupt(end, reason));
        }
        if index.len() as u64 != expected {
            let reason = format!(
                "{} series records, the header announces {expected}",
                index.len()
            );
            return Err(corrupt(end, reason));
        }
        index.shrink_to_fit();
        Ok(index)
    }
}

fn problem_offset(problem: &TailProblem) -> u64 {
    match problem {
        TailProblem::Torn { offset, .. } | TailProblem::Corrupt { offset, .. } => *offset,
    }
}

/// `<path>.tmp`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

/// Fsyncs the directory holding `path`, so that the rename is durable.
fn sync_parent(path: &Path) -> Result<(), IndexError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync checkpoint directory", dir))
}

fn io_error(op: &'static str, path: &Path) -> impl Fn(std::io::Error) -> IndexError {
    let path = path.to_owned();
    move |source| IndexError::Io {
        op,
        path: path.clone(),
        source,
    }
}
