//! Fixed-width bit packing of small non-negative integers, LSB first, for timestamp residuals.
//!
//! Layout: `width u8 (0..=56) | ⌈n × width / 8⌉ bytes | 7 zero bytes of padding`. Value `i`
//! occupies bits `i × width ..` of the little-endian bit stream; the padding lets every value
//! be read with one 8-byte load.

use crate::error::{FormatError, Result};

/// Widest value packed (a value then spans at most 8 bytes from its first byte).
pub(crate) const MAX_WIDTH: u32 = 56;

/// Bits needed for `max`.
pub(crate) fn width_of(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Appends the packed form of `values` (each `< 2^width`, `width ≤ MAX_WIDTH`).
pub(crate) fn pack(values: impl ExactSizeIterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    debug_assert!(width <= MAX_WIDTH);
    out.push(width as u8);
    let bytes = (values.len() * width as usize).div_ceil(8);
    let start = out.len();
    out.resize(start + bytes + 7, 0);
    if width == 0 {
        return;
    }
    for (i, v) in values.enumerate() {
        let bit = i * width as usize;
        let at = start + bit / 8;
        let mut word = [0u8; 8];
        word.copy_from_slice(&out[at..at + 8]);
        let merged = u64::from_le_bytes(word) | (v << (bit % 8));
        out[at..at + 8].copy_from_slice(&merged.to_le_bytes());
    }
}

/// Unpacks exactly `n` values into `dst` (cleared first), checking the payload's size.
pub(crate) fn unpack(payload: &[u8], n: usize, dst: &mut Vec<u64>) -> Result<()> {
    const WHAT: &str = "packed residuals";
    let Some((&width, bits)) = payload.split_first() else {
        return Err(FormatError::Truncated {
            what: WHAT,
            offset: 0,
            needed: 1,
            available: 0,
        });
    };
    let width = u32::from(width);
    let expected = (n * width as usize).div_ceil(8) + 7;
    if width > MAX_WIDTH || bits.len() != expected {
        return Err(FormatError::invalid(
            WHAT,
            0,
            format!(
                "width {width} with {} bytes for {n} values (expected {expected})",
                bits.len()
            ),
        ));
    }
    dst.clear();
    if width == 0 {
        dst.resize(n, 0);
        return Ok(());
    }
    let mask = u64::MAX >> (64 - width);
    dst.extend((0..n).map(|i| {
        let bit = i * width as usize;
        let at = bit / 8;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bits[at..at + 8]);
        (u64::from_le_bytes(word) >> (bit % 8)) & mask
    }));
    Ok(())
}

/// Order-0 entropy, in bits, of values in `0..=max` (`max` small enough for a dense histogram).
pub(crate) fn entropy_bits(values: impl Iterator<Item = u64>, max: u64, n: usize) -> f64 {
    let mut hist = vec![0u32; max as usize + 1];
    for v in values {
        hist[v as usize] += 1;
    }
    let n = n as f64;
    hist.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let c = f64::from(c);
            -c * (c / n).log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_width() {
        for width in 0..=MAX_WIDTH {
            let max = if width == 0 {
                0
            } else {
                u64::MAX >> (64 - width)
            };
            let values: Vec<u64> = (0..77u64)
                .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & max)
                .collect();
            let mut buf = Vec::new();
            pack(values.iter().copied(), width, &mut buf);
            let mut back = Vec::new();
            unpack(&buf, values.len(), &mut back).expect("unpack");
            assert_eq!(back, values, "width {width}");
            assert!(unpack(&buf[..buf.len() - 1], values.len(), &mut back).is_err());
        }
    }
}
