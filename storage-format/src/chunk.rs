//! A chunk: the columns of one series in one block, with its crc32.
//!
//! Layout: `varint(count) | timestamp column | value column | version column | crc32 LE`, the
//! crc covering every byte before it. The reader checks the crc before decoding anything.

use crate::codec::{Reader, check_crc, put_varint};
use crate::column;
use crate::error::{FormatError, Result};
use crate::sample::Sample;

/// Most samples in one chunk (a day at one sample per 10 ms).
pub const MAX_CHUNK_SAMPLES: usize = 1 << 23;

/// Longest encoded chunk, in bytes: 24 bytes per sample is the uncompressed worst case, plus
/// the codecs' own headers.
pub const MAX_CHUNK_BYTES: usize = MAX_CHUNK_SAMPLES * 26 + 4096;

/// The decoded columns of one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    /// Strictly increasing timestamps (ms).
    pub ts: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Vec<f64>,
    /// Versions, one per timestamp.
    pub versions: Vec<u64>,
}

impl Columns {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Sample `i`.
    pub fn sample(&self, i: usize) -> Sample {
        Sample::new(self.ts[i], self.values[i], self.versions[i])
    }

    /// The samples as structs.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = Sample> + '_ {
        (0..self.len()).map(|i| self.sample(i))
    }

    /// Columns of normalized samples.
    pub fn from_samples(samples: &[Sample]) -> Self {
        Columns {
            ts: samples.iter().map(|s| s.ts).collect(),
            values: samples.iter().map(|s| s.value).collect(),
            versions: samples.iter().map(|s| s.version).collect(),
        }
    }
}

/// Appends the chunk of one series to `out`. The columns must have equal, non-zero length of
/// at most [`MAX_CHUNK_SAMPLES`], and strictly increasing timestamps.
pub fn encode_chunk(ts: &[i64], values: &[f64], versions: &[u64], out: &mut Vec<u8>) -> Result<()> {
    let n = ts.len();
    if n == 0 || values.len() != n || versions.len() != n {
        return Err(FormatError::BadInput {
            what: "chunk",
            reason: format!(
                "column lengths {} / {} / {} must be equal and non-zero",
                n,
                values.len(),
                versions.len()
            ),
        });
    }
    if n > MAX_CHUNK_SAMPLES {
        return Err(FormatError::TooLarge {
            what: "chunk sample count",
            len: n as u64,
            max: MAX_CHUNK_SAMPLES as u64,
        });
    }
    let start = out.len();
    put_varint(out, n as u64);
    column::encode_timestamps(ts, out)?;
    column::encode_values(values, out)?;
    column::encode_versions(versions, out);
    let crc = crate::codec::crc32(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Checks the crc of a whole chunk and returns its body (without the crc).
pub fn verify_chunk(bytes: &[u8]) -> Result<&[u8]> {
    if bytes.len() < 5 {
        return Err(FormatError::Truncated {
            what: "chunk",
            offset: 0,
            needed: 5,
            available: bytes.len() as u64,
        });
    }
    if bytes.len() > MAX_CHUNK_BYTES {
        return Err(FormatError::TooLarge {
            what: "chunk length",
            len: bytes.len() as u64,
            max: MAX_CHUNK_BYTES as u64,
        });
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    check_crc("chunk", 0, body, stored)?;
    Ok(body)
}

/// Decodes a whole chunk (crc included) into `dst`, replacing its contents.
pub fn decode_chunk(bytes: &[u8], dst: &mut Columns) -> Result<()> {
    let body = verify_chunk(bytes)?;
    let mut r = Reader::new("chunk", body);
    let n = r.varint_max("chunk sample count", MAX_CHUNK_SAMPLES as u64)? as usize;
    if n == 0 {
        return Err(FormatError::invalid("chunk", 0, "zero samples"));
    }
    let max = body.len() as u64;
    let (enc, payload) = column::read_column(&mut r, max)?;
    column::decode_timestamps(enc, payload, n, &mut dst.ts)?;
    let (enc, payload) = column::read_column(&mut r, max)?;
    column::decode_values(enc, payload, n, &mut dst.values)?;
    let (enc, payload) = column::read_column(&mut r, max)?;
    column::decode_versions(enc, payload, n, &mut dst.versions)?;
    r.finish()
}

/// The sample count a chunk declares, read without decoding or checking anything else.
pub fn chunk_count(bytes: &[u8]) -> Result<usize> {
    let mut r = Reader::new("chunk", bytes);
    Ok(r.varint_max("chunk sample count", MAX_CHUNK_SAMPLES as u64)? as usize)
}

/// The encodings of a chunk's three columns `[timestamps, values, versions]`, read without
/// decoding them (crc checked): for inspection tools and format tests.
pub fn chunk_encodings(bytes: &[u8]) -> Result<[u8; 3]> {
    let body = verify_chunk(bytes)?;
    let mut r = Reader::new("chunk", body);
    r.varint_max("chunk sample count", MAX_CHUNK_SAMPLES as u64)?;
    let max = body.len() as u64;
    let mut out = [0u8; 3];
    for e in &mut out {
        *e = column::read_column(&mut r, max)?.0;
    }
    r.finish()?;
    Ok(out)
}
