//! Bounds-checked little-endian reading and writing, LEB128 varints and the crc32 used by every
//! format. Every decoder reads through [`Reader`], so a short or hostile buffer becomes a
//! [`FormatError::Truncated`] instead of a panic.

use crate::error::{FormatError, Result};

/// The checksum of every Floe format: CRC-32 (ISO-HDLC polynomial 0x04C11DB7, reflected,
/// initial value and final xor 0xFFFFFFFF), as computed by `crc32fast` and zlib.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Checks `stored` against the crc32 of `bytes`.
pub(crate) fn check_crc(
    what: &'static str,
    offset: usize,
    bytes: &[u8],
    stored: u32,
) -> Result<()> {
    let computed = crc32(bytes);
    if computed == stored {
        Ok(())
    } else {
        Err(FormatError::ChecksumMismatch {
            what,
            offset: offset as u64,
            stored,
            computed,
        })
    }
}

/// A cursor over a byte slice whose every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, buf: &'a [u8]) -> Self {
        Self { buf, pos: 0, what }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(FormatError::Truncated {
                what: self.what,
                offset: self.pos as u64,
                needed: n as u64,
                available: self.remaining() as u64,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub(crate) fn u128(&mut self) -> Result<u128> {
        Ok(u128::from_le_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint of at most 10 bytes.
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(FormatError::invalid(
                    self.what,
                    start,
                    "varint overflows u64",
                ));
            }
            out |= part << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(FormatError::invalid(
            self.what,
            start,
            "varint longer than 10 bytes",
        ))
    }

    /// A varint that must not exceed `max` (a length or count about to size a read).
    pub(crate) fn varint_max(&mut self, what: &'static str, max: u64) -> Result<u64> {
        let v = self.varint()?;
        if v > max {
            return Err(FormatError::TooLarge { what, len: v, max });
        }
        Ok(v)
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(FormatError::invalid(
                self.what,
                self.pos,
                format!("{} unexpected trailing bytes", self.remaining()),
            ))
        }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_and_rejects_overflow() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut r = Reader::new("t", &buf);
            assert_eq!(r.varint().expect("valid varint"), v);
            assert!(r.is_empty());
        }
        let eleven = [0xffu8; 11];
        assert!(Reader::new("t", &eleven).varint().is_err());
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader::new("t", &overflow).varint().is_err());
        assert!(Reader::new("t", &[0x80]).varint().is_err());
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32/ISO-HDLC check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
