//! The rollup chunk: one series' rollup in one rollup block, with its crc32.
//!
//! ```text
//! varint(rows) | varint(resolution_ms) | ts | count | sum | min | max
//!   | first_ts | first | last_ts | last | crc32 LE
//! ```
//!
//! Each column is a column of `crate::column` (`encoding u8 | varint(len) | payload`):
//! timestamp encodings for `ts`, `first_ts` and `last_ts` (all strictly increasing), value
//! encodings for the others; `count` travels as exact integer-valued f64s, which the decimal
//! encoding turns into small integers (or one constant). The crc covers every byte before it
//! and is checked before anything is decoded; the decoded rollup must satisfy every invariant
//! of [`RollupColumns::validate`].

use super::{MAX_ROLLUP_COUNT, RollupColumns};
use crate::codec::{Reader, check_crc, crc32, put_varint};
use crate::column;
use crate::error::{FormatError, Result};

/// Most rows in one rollup chunk (as many as samples in a raw chunk).
pub const MAX_ROLLUP_ROWS: usize = crate::chunk::MAX_CHUNK_SAMPLES;

/// Longest encoded rollup chunk, in bytes: 72 bytes per row uncompressed (nine 8-byte
/// columns), plus the codecs' own headers.
pub const MAX_ROLLUP_CHUNK_BYTES: usize = MAX_ROLLUP_ROWS * 80 + 16 * 1024;

const WHAT: &str = "rollup chunk";

/// Appends the chunk of one series' rollup to `out`. The rollup must be valid
/// ([`RollupColumns::validate`]) and hold `1..=MAX_ROLLUP_ROWS` rows.
pub fn encode_rollup_chunk(r: &RollupColumns, out: &mut Vec<u8>) -> Result<()> {
    r.validate()?;
    let n = r.len();
    if n == 0 {
        return Err(FormatError::BadInput {
            what: WHAT,
            reason: "no rows".into(),
        });
    }
    if n > MAX_ROLLUP_ROWS {
        return Err(FormatError::TooLarge {
            what: "rollup chunk rows",
            len: n as u64,
            max: MAX_ROLLUP_ROWS as u64,
        });
    }
    let start = out.len();
    put_varint(out, n as u64);
    put_varint(out, r.resolution_ms as u64);
    column::encode_timestamps(&r.ts, out)?;
    // Counts are at most 2^53 (checked by validate), so exact as f64.
    let counts: Vec<f64> = r.count.iter().map(|&c| c as f64).collect();
    column::encode_values(&counts, out)?;
    column::encode_values(&r.sum, out)?;
    column::encode_values(&r.min, out)?;
    column::encode_values(&r.max, out)?;
    column::encode_timestamps(&r.first_ts, out)?;
    column::encode_values(&r.first, out)?;
    column::encode_timestamps(&r.last_ts, out)?;
    column::encode_values(&r.last, out)?;
    if out.len() - start + 4 > MAX_ROLLUP_CHUNK_BYTES {
        return Err(FormatError::TooLarge {
            what: "rollup chunk length",
            len: (out.len() - start + 4) as u64,
            max: MAX_ROLLUP_CHUNK_BYTES as u64,
        });
    }
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Checks the crc of a whole rollup chunk and returns its body (without the crc).
pub fn verify_rollup_chunk(bytes: &[u8]) -> Result<&[u8]> {
    if bytes.len() < 6 {
        return Err(FormatError::Truncated {
            what: WHAT,
            offset: 0,
            needed: 6,
            available: bytes.len() as u64,
        });
    }
    if bytes.len() > MAX_ROLLUP_CHUNK_BYTES {
        return Err(FormatError::TooLarge {
            what: "rollup chunk length",
            len: bytes.len() as u64,
            max: MAX_ROLLUP_CHUNK_BYTES as u64,
        });
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    check_crc(WHAT, 0, body, stored)?;
    Ok(body)
}

/// Reads `(rows, resolution_ms)` from the start of a chunk body and checks their ranges.
fn read_head(r: &mut Reader<'_>) -> Result<(usize, i64)> {
    let n = r.varint_max("rollup chunk rows", MAX_ROLLUP_ROWS as u64)? as usize;
    if n == 0 {
        return Err(FormatError::invalid(WHAT, 0, "zero rows"));
    }
    let at = r.pos();
    let res = r.varint_max("rollup resolution", i64::MAX as u64)? as i64;
    if res == 0 {
        return Err(FormatError::invalid(WHAT, at, "zero resolution"));
    }
    Ok((n, res))
}

/// `(rows, resolution_ms)` of a whole rollup chunk, crc checked, without decoding columns.
pub fn rollup_chunk_header(bytes: &[u8]) -> Result<(usize, i64)> {
    let body = verify_rollup_chunk(bytes)?;
    read_head(&mut Reader::new(WHAT, body))
}

/// Decodes a whole rollup chunk (crc included) into `dst`, replacing its contents. On error
/// `dst` is left empty.
pub fn decode_rollup_chunk(bytes: &[u8], dst: &mut RollupColumns) -> Result<()> {
    let res = decode_inner(bytes, dst);
    if res.is_err() {
        dst.clear();
    }
    res
}

fn decode_inner(bytes: &[u8], dst: &mut RollupColumns) -> Result<()> {
    let body = verify_rollup_chunk(bytes)?;
    let mut r = Reader::new(WHAT, body);
    let (n, res) = read_head(&mut r)?;
    dst.clear();
    dst.resolution_ms = res;
    let max = body.len() as u64;
    let ts = |r: &mut Reader<'_>, dst: &mut Vec<i64>| {
        let (enc, payload) = column::read_column(r, max)?;
        column::decode_timestamps(enc, payload, n, dst)
    };
    let values = |r: &mut Reader<'_>, dst: &mut Vec<f64>| {
        let (enc, payload) = column::read_column(r, max)?;
        column::decode_values(enc, payload, n, dst)
    };
    ts(&mut r, &mut dst.ts)?;
    // The counts pass through `dst.sum` as f64s before the sums replace them.
    let at = r.pos();
    values(&mut r, &mut dst.sum)?;
    decode_counts(&dst.sum, &mut dst.count, at)?;
    values(&mut r, &mut dst.sum)?;
    values(&mut r, &mut dst.min)?;
    values(&mut r, &mut dst.max)?;
    ts(&mut r, &mut dst.first_ts)?;
    values(&mut r, &mut dst.first)?;
    ts(&mut r, &mut dst.last_ts)?;
    values(&mut r, &mut dst.last)?;
    r.finish()?;
    dst.check()
        .map_err(|(row, reason)| FormatError::invalid(WHAT, 0, format!("row {row}: {reason}")))
}

/// Counts from their f64 column: each an integer in `1..=2^53`.
fn decode_counts(raw: &[f64], dst: &mut Vec<u64>, at: usize) -> Result<()> {
    dst.clear();
    dst.reserve(raw.len());
    for (i, &c) in raw.iter().enumerate() {
        if !(c >= 1.0 && c <= MAX_ROLLUP_COUNT as f64 && c.fract() == 0.0) {
            return Err(FormatError::invalid(
                WHAT,
                at,
                format!("row {i}: count {c} is not an integer in 1..=2^53"),
            ));
        }
        dst.push(c as u64);
    }
    Ok(())
}
