//! [`SampleBatch`]: samples of many series as flat columns, the body of a samples record.
//!
//! Body layout (after the record kind byte):
//!
//! ```text
//! sample type u8 | varint(series count) | per series:
//!   series id u128 LE | varint(n ≥ 1) | flags u8 (bit 0: versions present)
//!   | first ts i64 LE | (n−1) × zigzag varint ts delta | n × value f64 LE
//!   | if bit 0: n × varint version
//! ```
//!
//! Timestamps within a series need not be sorted: the head merges them with the merge rule.

use crate::codec::Reader;
use crate::error::{FormatError, Result};
use crate::sample::Sample;
use crate::series::SeriesId;

use super::put_len;

/// The kind of value a sample carries: the tag of WAL sample records and block headers.
/// Histograms and text come later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum SampleType {
    /// A 64-bit float (gauge or counter).
    #[default]
    Float = 0,
    /// A rollup row (count, sum, min, max, first, last of a time bucket; see
    /// [`mod@crate::rollup`]). Only in block files: rollups are built from stored samples by
    /// compaction and never logged, so a WAL samples record with this type is refused.
    Rollup = 1,
}

impl SampleType {
    /// Parses the stored tag.
    pub fn from_tag(tag: u8) -> Result<Self> {
        match tag {
            0 => Ok(SampleType::Float),
            1 => Ok(SampleType::Rollup),
            other => Err(FormatError::invalid(
                "sample type",
                0,
                format!("unknown sample type {other}"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: SeriesId,
    start: u32,
    len: u32,
}

/// Samples of many series, stored as flat columns with one entry per series run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleBatch {
    sample_type: SampleType,
    entries: Vec<Entry>,
    ts: Vec<i64>,
    values: Vec<f64>,
    versions: Vec<u64>,
}

impl SampleBatch {
    /// An empty batch of float samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every sample, keeping the allocations.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.ts.clear();
        self.values.clear();
        self.versions.clear();
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The type of every sample in the batch.
    pub fn sample_type(&self) -> SampleType {
        self.sample_type
    }

    /// Adds one sample; consecutive samples of the same series share one entry.
    pub fn push(&mut self, id: SeriesId, s: Sample) {
        let start = self.ts.len() as u32;
        match self.entries.last_mut() {
            Some(e) if e.id == id => e.len += 1,
            _ => self.entries.push(Entry { id, start, len: 1 }),
        }
        self.ts.push(s.ts);
        self.values.push(s.value);
        self.versions.push(s.version);
    }

    /// Each series run: its id and its columns `(ts, values, versions)`.
    pub fn series(&self) -> impl Iterator<Item = (SeriesId, &[i64], &[f64], &[u64])> + '_ {
        self.entries.iter().map(move |e| {
            let r = e.start as usize..(e.start + e.len) as usize;
            (
                e.id,
                &self.ts[r.clone()],
                &self.values[r.clone()],
                &self.versions[r],
            )
        })
    }

    /// Every sample with its series.
    pub fn samples(&self) -> impl Iterator<Item = (SeriesId, Sample)> + '_ {
        self.series().flat_map(|(id, ts, vs, vers)| {
            (0..ts.len()).map(move |i| (id, Sample::new(ts[i], vs[i], vers[i])))
        })
    }

    pub(crate) fn encoded_len_hint(&self) -> usize {
        16 + self.entries.len() * 28 + self.ts.len() * 11
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.sample_type as u8);
        put_len(out, self.entries.len());
        for (id, ts, values, versions) in self.series() {
            out.extend_from_slice(&id.to_le_bytes());
            put_len(out, ts.len());
            let has_versions = versions.iter().any(|&v| v != 0);
            out.push(u8::from(has_versions));
            out.extend_from_slice(&ts[0].to_le_bytes());
            for w in ts.windows(2) {
                let d = w[1].wrapping_sub(w[0]);
                crate::codec::put_varint(out, ((d << 1) ^ (d >> 63)) as u64);
            }
            for v in values {
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            if has_versions {
                for &v in versions {
                    crate::codec::put_varint(out, v);
                }
            }
        }
    }

    /// Replaces the contents with a decoded body. On error the batch is left empty.
    pub(crate) fn decode_from(&mut self, body: &[u8]) -> Result<()> {
        self.clear();
        let res = self.decode_inner(body);
        if res.is_err() {
            self.clear();
        }
        res
    }

    fn decode_inner(&mut self, body: &[u8]) -> Result<()> {
        const WHAT: &str = "WAL samples record";
        let mut r = Reader::new(WHAT, body);
        let sample_type = SampleType::from_tag(r.u8()?)?;
        if sample_type != SampleType::Float {
            return Err(FormatError::invalid(
                WHAT,
                0,
                format!("sample type {sample_type:?}: only float samples are logged"),
            ));
        }
        self.sample_type = sample_type;
        // Each series entry takes at least 16 + 1 + 1 + 8 + 8 bytes.
        let count = r.varint_max("series count", (r.remaining() / 34) as u64)?;
        for _ in 0..count {
            let id = SeriesId(r.u128()?);
            // Each sample takes at least a value (8 bytes) and a timestamp byte.
            let n = r.varint_max("samples in series", (r.remaining() / 9) as u64)? as usize;
            let at = r.pos();
            let flags = r.u8()?;
            if n == 0 || flags > 1 {
                return Err(FormatError::invalid(
                    WHAT,
                    at,
                    format!("series with {n} samples, flags {flags:#x}"),
                ));
            }
            let start = self.ts.len() as u32;
            self.read_series(&mut r, n, flags & 1 == 1)?;
            self.entries.push(Entry {
                id,
                start,
                len: n as u32,
            });
        }
        r.finish()
    }

    fn read_series(&mut self, r: &mut Reader<'_>, n: usize, has_versions: bool) -> Result<()> {
        let mut t = r.i64()?;
        self.ts.push(t);
        for _ in 1..n {
            let z = r.varint()?;
            let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
            t = t.wrapping_add(d);
            self.ts.push(t);
        }
        let raw = r.bytes(n * 8)?;
        self.values.extend(raw.chunks_exact(8).map(|c| {
            f64::from_bits(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]))
        }));
        if has_versions {
            for _ in 0..n {
                self.versions.push(r.varint()?);
            }
        } else {
            self.versions.resize(self.ts.len(), 0);
        }
        Ok(())
    }
}
