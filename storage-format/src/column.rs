//! Column encodings for one series' timestamps, values and versions.
//!
//! Each column is `encoding u8 | varint(len) | len bytes`. The sample count is not repeated
//! here: the enclosing chunk carries it and every decoder checks that it got exactly that many.
//! Numeric payloads use pco (standalone format), whose decoders read every earlier pco version.
//! The byte layouts are specified in `docs/storage-format.md`.

use pco::standalone::{simple_compress, simple_decompress_into};
use pco::{ChunkConfig, DeltaSpec, ModeSpec};

mod bitpack;

use crate::codec::{Reader, put_varint};
use crate::error::{FormatError, Result};

/// Timestamps on the straight line from `first` to `first + span` (the common case: a steady
/// scrape or push interval), no payload.
pub const TS_REGULAR: u8 = 0;
/// Timestamps `base_i + residual[i]` on that line, residuals in pco (jittered intervals).
pub const TS_LINEAR: u8 = 1;
/// Timestamps in pco with pco's own delta choice (irregular series with gaps).
pub const TS_PCO: u8 = 2;
/// Timestamps `base_i + min + packed[i]` on the line, residuals bit-packed at a fixed width
/// (near-uniform jitter, where packing is as small as entropy coding and decodes faster).
pub const TS_PACKED: u8 = 3;

/// Every value has the same bit pattern.
pub const VAL_CONSTANT: u8 = 0;
/// Every value is `k / 10^e` for an integer `k`: the `k` in pco with first-order deltas.
pub const VAL_DECIMAL: u8 = 1;
/// Any other floats: pco on the f64 values.
pub const VAL_FLOAT: u8 = 2;

/// Versions as runs of `(version, length)`.
pub const VER_RUNS: u8 = 0;

/// Most decimal digits tried by [`VAL_DECIMAL`]; 10^15 is exact in f64.
pub const MAX_DECIMALS: u8 = 15;

/// Pco compression level used for every numeric column (pco's default is 8).
pub const PCO_LEVEL: usize = 8;

thread_local! {
    /// Reused buffer for the integers of decimal columns, so decoding does not allocate.
    static DECIMAL_SCRATCH: std::cell::RefCell<Vec<i64>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Reused buffer for packed timestamp residuals.
    static PACKED_SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Pco level for timestamp residuals: jitter is close to uniform, which few bins describe
/// as well as many, so a lower level costs almost nothing in size and halves encode time.
pub const PCO_RESIDUAL_LEVEL: usize = 4;

/// Largest integer magnitude kept exactly by an f64 (2^53).
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

fn codec_err(what: &'static str, e: impl std::fmt::Display) -> FormatError {
    FormatError::Codec {
        what,
        reason: e.to_string(),
    }
}

fn pco_compress<T: pco::data_types::Number>(
    what: &'static str,
    nums: &[T],
    config: &ChunkConfig,
) -> Result<Vec<u8>> {
    simple_compress(nums, config).map_err(|e| codec_err(what, e))
}

/// Decodes exactly `dst.len()` numbers of pco. Pco is guarded by `catch_unwind` as defence in
/// depth: it reports corruption as errors, and bytes only reach it after their crc32 matched,
/// but a hostile file can carry a valid crc.
fn pco_decompress<T: pco::data_types::Number>(
    what: &'static str,
    src: &[u8],
    dst: &mut [T],
) -> Result<()> {
    let n = dst.len();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        simple_decompress_into(src, dst)
    }));
    match res {
        Ok(Ok(p)) if p.n_processed == n && p.finished => Ok(()),
        Ok(Ok(p)) => Err(codec_err(
            what,
            format!(
                "decoded {} numbers (finished: {}), expected {n}",
                p.n_processed, p.finished
            ),
        )),
        Ok(Err(e)) => Err(codec_err(what, e)),
        Err(_) => Err(codec_err(what, "decoder panicked on malformed input")),
    }
}

fn put_column(out: &mut Vec<u8>, encoding: u8, payload: &[u8]) {
    out.push(encoding);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Reads one column header: its encoding and payload.
pub(crate) fn read_column<'a>(r: &mut Reader<'a>, max: u64) -> Result<(u8, &'a [u8])> {
    let enc = r.u8()?;
    let len = r.varint_max("column length", max)? as usize;
    Ok((enc, r.bytes(len)?))
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/// Calls `f(i, base_i)` for `i in 0..n`, where `base_i = first + ⌊i × span / (n − 1)⌋`: the
/// straight line from the first to the last timestamp, in exact integer arithmetic
/// (Bresenham's stepping, no division per sample). The one definition of [`TS_LINEAR`]'s grid.
#[inline]
fn for_each_linear_base(first: i64, span: u64, n: usize, mut f: impl FnMut(usize, i64)) {
    if n == 0 {
        return;
    }
    let den = (n as u64 - 1).max(1);
    let (q, r) = (span / den, span % den);
    let (mut base, mut acc) = (first, 0u64);
    for i in 0..n {
        f(i, base);
        base = base.wrapping_add(q as i64);
        acc += r;
        if acc >= den {
            acc -= den;
            base = base.wrapping_add(1);
        }
    }
}

/// Appends the timestamp column. `ts` must be strictly increasing and non-empty.
pub fn encode_timestamps(ts: &[i64], out: &mut Vec<u8>) -> Result<()> {
    let (first, last) = match (ts.first(), ts.last()) {
        (Some(&f), Some(&l)) => (f, l),
        _ => return Err(bad_input("timestamps", "empty column")),
    };
    if !crate::sample::is_strictly_increasing(ts) {
        return Err(bad_input("timestamps", "not strictly increasing"));
    }
    let auto = ChunkConfig::default().with_compression_level(PCO_LEVEL);
    // Strictly increasing, so `last - first` is non-negative; it may exceed i64::MAX only
    // for absurd spans, which go to pco as they are.
    let span = (i128::from(last) - i128::from(first)) as u128;
    let Ok(span) = u64::try_from(span) else {
        put_column(out, TS_PCO, &pco_compress("timestamps", ts, &auto)?);
        return Ok(());
    };
    let n = ts.len();
    let mut head = Vec::with_capacity(18);
    head.extend_from_slice(&first.to_le_bytes());
    put_varint(&mut head, span);
    let mut residuals = Vec::with_capacity(n);
    for_each_linear_base(first, span, n, |i, base| {
        residuals.push(ts[i].wrapping_sub(base))
    });
    if residuals.iter().all(|&r| r == 0) {
        put_column(out, TS_REGULAR, &head);
        return Ok(());
    }
    // The line through the end points tilts with the jitter of those two samples; a fitted
    // line does not, and its residuals span up to half the range.
    let (head, residuals, span) = flatter_line(ts, head, residuals, span);
    let (lo, hi) = residuals
        .iter()
        .fold((0i64, 0i64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let range = hi.wrapping_sub(lo) as u64;
    let offsets = || residuals.iter().map(|&r| r.wrapping_sub(lo) as u64);
    let mut packed = None;
    if bitpack::width_of(range) <= bitpack::MAX_WIDTH {
        let mut p = head.clone();
        put_varint(&mut p, zigzag(lo));
        bitpack::pack(offsets(), bitpack::width_of(range), &mut p);
        // Within 3 % of the residuals' order-0 entropy, no entropy coder can pay for its
        // slower decoding: keep the packed form without trying pco.
        if range < 1 << 16 {
            let bound = bitpack::entropy_bits(offsets(), range, n) / 8.0;
            if ((p.len() - head.len()) as f64) <= bound * 1.03 + 16.0 {
                put_column(out, TS_PACKED, &p);
                return Ok(());
            }
        }
        packed = Some(p);
    }
    let no_delta = ChunkConfig::default()
        .with_compression_level(PCO_RESIDUAL_LEVEL)
        .with_mode_spec(ModeSpec::Classic)
        .with_delta_spec(DeltaSpec::NoOp);
    let mut linear = head;
    linear.extend_from_slice(&pco_compress("timestamp residuals", &residuals, &no_delta)?);
    let mut best = (TS_LINEAR, linear);
    if let Some(p) = packed.filter(|p| p.len() <= best.1.len()) {
        best = (TS_PACKED, p);
    }
    // Jitter around a steady interval (residuals within one mean step) is what the linear
    // forms are for; only gappy or drifting series are worth trying pco's own deltas too.
    let mean_step = span / (n as u64 - 1).max(1);
    if range >= mean_step {
        let raw = pco_compress("timestamps", ts, &auto)?;
        if raw.len() < best.1.len() {
            best = (TS_PCO, raw);
        }
    }
    put_column(out, best.0, &best.1);
    Ok(())
}

/// Of the end-point line (given) and a line fitted through the means of the first and last
/// tenth of the samples, the one whose residuals span the smaller range:
/// `(column head, residuals, span)`. The fitted line averages the jitter out of its slope, so
/// its residuals span the jitter's range rather than up to twice it.
fn flatter_line(
    ts: &[i64],
    head: Vec<u8>,
    residuals: Vec<i64>,
    span: u64,
) -> (Vec<u8>, Vec<i64>, u64) {
    let range = |r: &[i64]| {
        let (lo, hi) = r
            .iter()
            .fold((0i64, 0i64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        hi.wrapping_sub(lo) as u64
    };
    let n = ts.len();
    let Some((first, fitted_span)) = fit_line(ts) else {
        return (head, residuals, span);
    };
    let mut alt = Vec::with_capacity(n);
    for_each_linear_base(first, fitted_span, n, |i, base| {
        alt.push(ts[i].wrapping_sub(base))
    });
    if range(&alt) >= range(&residuals) {
        return (head, residuals, span);
    }
    let mut alt_head = Vec::with_capacity(18);
    alt_head.extend_from_slice(&first.to_le_bytes());
    put_varint(&mut alt_head, fitted_span);
    (alt_head, alt, fitted_span)
}

/// `(first, span)` of the line through the mean points of the first and last tenth of `ts`,
/// when it is a valid timestamp line (non-negative span, no overflow). Only an estimate: the
/// residuals against it are computed exactly.
fn fit_line(ts: &[i64]) -> Option<(i64, u64)> {
    let n = ts.len();
    let k = (n / 10).max(1);
    let mean = |xs: &[i64]| xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64;
    let (a, b) = (mean(&ts[..k]), mean(&ts[n - k..]));
    let (ia, ib) = ((k - 1) as f64 / 2.0, (n - k) as f64 + (k - 1) as f64 / 2.0);
    if ib <= ia {
        return None;
    }
    let slope = (b - a) / (ib - ia);
    let span = (slope * (n - 1) as f64).round();
    let first = (a - slope * ia).round();
    let valid = span.is_finite()
        && first.is_finite()
        && (0.0..9.0e18).contains(&span)
        && first.abs() < 9.0e18;
    let (first, span) = (first as i64, span as u64);
    (valid && i128::from(first) + i128::from(span) <= i128::from(i64::MAX)).then_some((first, span))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Decodes a timestamp column of `n` values into `dst` (cleared first), checking that the
/// result is strictly increasing.
pub fn decode_timestamps(encoding: u8, payload: &[u8], n: usize, dst: &mut Vec<i64>) -> Result<()> {
    const WHAT: &str = "timestamp column";
    dst.clear();
    match encoding {
        TS_REGULAR | TS_LINEAR | TS_PACKED => {
            let mut r = Reader::new(WHAT, payload);
            let first = r.i64()?;
            let span = r.varint()?;
            if i128::from(first) + i128::from(span) > i128::from(i64::MAX) {
                return Err(FormatError::invalid(
                    WHAT,
                    8,
                    format!("span {span} overflows the timestamp range"),
                ));
            }
            if encoding == TS_REGULAR {
                r.finish()?;
                return regular_timestamps(first, span, n, dst);
            }
            if encoding == TS_PACKED {
                let lo = unzigzag(r.varint()?);
                PACKED_SCRATCH.with_borrow_mut(|offsets| {
                    bitpack::unpack(&payload[r.pos()..], n, offsets)?;
                    dst.reserve(n);
                    for_each_linear_base(first, span, n, |i, base| {
                        dst.push(base.wrapping_add(lo).wrapping_add(offsets[i] as i64));
                    });
                    Ok::<(), FormatError>(())
                })?;
            } else {
                dst.resize(n, 0);
                pco_decompress("timestamp residuals", &payload[r.pos()..], dst)?;
                for_each_linear_base(first, span, n, |i, base| dst[i] = dst[i].wrapping_add(base));
            }
        }
        TS_PCO => {
            dst.resize(n, 0);
            pco_decompress("timestamps", payload, dst)?;
        }
        other => return Err(unknown_encoding(WHAT, other)),
    }
    if !crate::sample::is_strictly_increasing(dst) {
        return Err(FormatError::invalid(
            WHAT,
            0,
            "decoded timestamps not strictly increasing",
        ));
    }
    Ok(())
}

/// The timestamps of a [`TS_REGULAR`] column: the linear grid itself. A whole number of ms per
/// step (the common case) is filled without the grid's per-sample carry, and is strictly
/// increasing by construction when the step is positive.
fn regular_timestamps(first: i64, span: u64, n: usize, dst: &mut Vec<i64>) -> Result<()> {
    let den = (n as u64).saturating_sub(1).max(1);
    if n > 1 && span < den {
        return Err(FormatError::invalid(
            "timestamp column",
            8,
            format!("span {span} cannot hold {n} distinct timestamps"),
        ));
    }
    if span.is_multiple_of(den) {
        let step = (span / den) as i64;
        dst.extend((0..n as i64).map(|i| first.wrapping_add(i.wrapping_mul(step))));
    } else {
        dst.reserve(n);
        for_each_linear_base(first, span, n, |_, base| dst.push(base));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Values

/// The smallest number of decimals `e ≤ MAX_DECIMALS` such that every value is exactly
/// `k / 10^e` for an integer `|k| < 2^53`, if any.
///
/// A value exact at `e` decimals need not be exact at `e + 1` (`417868 / 100.0` and
/// `4178680 / 1000.0` are different doubles), so whenever a value raises `e`, every value is
/// checked again at the new `e`.
fn decimal_exponent(values: &[f64]) -> Option<u8> {
    let mut e = 0u8;
    'check: loop {
        for &v in values {
            if is_decimal(v, e) {
                continue;
            }
            while !is_decimal(v, e) {
                e += 1;
                if e > MAX_DECIMALS {
                    return None;
                }
            }
            continue 'check;
        }
        return Some(e);
    }
}

#[inline]
fn is_decimal(v: f64, e: u8) -> bool {
    let k = (v * POW10[e as usize]).round();
    k.abs() < EXACT_INT && from_decimal(k as i64, e).to_bits() == v.to_bits()
}

/// The one decoding expression of [`VAL_DECIMAL`].
#[inline]
fn from_decimal(k: i64, e: u8) -> f64 {
    if e == 0 {
        k as f64
    } else {
        k as f64 / POW10[e as usize]
    }
}

/// Appends the value column.
pub fn encode_values(values: &[f64], out: &mut Vec<u8>) -> Result<()> {
    let Some(&first) = values.first() else {
        return Err(bad_input("values", "empty column"));
    };
    if values.iter().all(|v| v.to_bits() == first.to_bits()) {
        put_column(out, VAL_CONSTANT, &first.to_bits().to_le_bytes());
        return Ok(());
    }
    if let Some(e) = decimal_exponent(values) {
        let scale = POW10[e as usize];
        let ints: Vec<i64> = values.iter().map(|&v| (v * scale).round() as i64).collect();
        let config = ChunkConfig::default()
            .with_compression_level(PCO_LEVEL)
            .with_mode_spec(ModeSpec::Classic)
            .with_delta_spec(DeltaSpec::TryConsecutive(1));
        let mut payload = vec![e];
        payload.extend_from_slice(&pco_compress("decimal values", &ints, &config)?);
        put_column(out, VAL_DECIMAL, &payload);
        return Ok(());
    }
    let config = ChunkConfig::default().with_compression_level(PCO_LEVEL);
    put_column(
        out,
        VAL_FLOAT,
        &pco_compress("float values", values, &config)?,
    );
    Ok(())
}

/// Decodes a value column of `n` values into `dst` (cleared first).
pub fn decode_values(encoding: u8, payload: &[u8], n: usize, dst: &mut Vec<f64>) -> Result<()> {
    const WHAT: &str = "value column";
    dst.clear();
    match encoding {
        VAL_CONSTANT => {
            let mut r = Reader::new(WHAT, payload);
            let v = f64::from_bits(r.u64()?);
            r.finish()?;
            dst.resize(n, v);
        }
        VAL_DECIMAL => {
            let mut r = Reader::new(WHAT, payload);
            let e = r.u8()?;
            if e > MAX_DECIMALS {
                return Err(FormatError::invalid(
                    WHAT,
                    0,
                    format!("{e} decimals, at most {MAX_DECIMALS}"),
                ));
            }
            DECIMAL_SCRATCH.with_borrow_mut(|ints| {
                ints.clear();
                ints.resize(n, 0);
                pco_decompress("decimal values", &payload[1..], ints)?;
                dst.extend(ints.iter().map(|&k| from_decimal(k, e)));
                Ok::<(), FormatError>(())
            })?;
        }
        VAL_FLOAT => {
            dst.resize(n, 0.0);
            pco_decompress("float values", payload, dst)?;
        }
        other => return Err(unknown_encoding(WHAT, other)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Versions

/// Appends the version column (runs of equal versions; almost always one run of 0).
pub fn encode_versions(versions: &[u64], out: &mut Vec<u8>) {
    let mut runs: Vec<(u64, u64)> = Vec::with_capacity(1);
    for &v in versions {
        match runs.last_mut() {
            Some((rv, len)) if *rv == v => *len += 1,
            _ => runs.push((v, 1)),
        }
    }
    let mut payload = Vec::with_capacity(1 + runs.len() * 4);
    put_varint(&mut payload, runs.len() as u64);
    for (v, len) in runs {
        put_varint(&mut payload, v);
        put_varint(&mut payload, len);
    }
    put_column(out, VER_RUNS, &payload);
}

/// Decodes a version column of `n` values into `dst` (cleared first).
pub fn decode_versions(encoding: u8, payload: &[u8], n: usize, dst: &mut Vec<u64>) -> Result<()> {
    const WHAT: &str = "version column";
    if encoding != VER_RUNS {
        return Err(unknown_encoding(WHAT, encoding));
    }
    dst.clear();
    let mut r = Reader::new(WHAT, payload);
    let runs = r.varint_max("version runs", n as u64)?;
    for _ in 0..runs {
        let at = r.pos();
        let v = r.varint()?;
        let len = r.varint()?;
        if len == 0 || len > (n - dst.len()) as u64 {
            return Err(FormatError::invalid(
                WHAT,
                at,
                format!("run of {len} does not fit {n} samples"),
            ));
        }
        dst.resize(dst.len() + len as usize, v);
    }
    r.finish()?;
    if dst.len() != n {
        return Err(FormatError::invalid(
            WHAT,
            0,
            format!("runs cover {} of {n} samples", dst.len()),
        ));
    }
    Ok(())
}

fn bad_input(what: &'static str, reason: &str) -> FormatError {
    FormatError::BadInput {
        what,
        reason: reason.into(),
    }
}

fn unknown_encoding(what: &'static str, enc: u8) -> FormatError {
    FormatError::invalid(what, 0, format!("unknown encoding {enc}"))
}
