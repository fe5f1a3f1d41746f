//! [`PairArena`]: the pair numbers of every series, varint-coded back to back.
//!
//! Pair numbers are small (they are assigned in order of first sight, so the common pairs get
//! the small ones): a LEB128 varint stores most in one or two bytes instead of four. Each
//! series is read sequentially (labels, key, per-candidate checks), never by position, so the
//! variable width costs nothing but the decode.
//!
//! The end of each series' run is kept as a `u32`; the arena may still exceed 4 GiB: `epochs`
//! records the first series whose end passed each multiple of 2^32, and the full offset is
//! rebuilt from that (a binary search in a list that is almost always empty).

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct PairArena {
    bytes: Vec<u8>,
    /// Low `epoch_bits` bits of the end of each series' run.
    ends: Vec<u32>,
    /// `epochs[k]`: the first series whose end is at least `(k + 1) << epoch_bits`.
    epochs: Vec<u32>,
    /// 32 in use; smaller in tests, to exercise epochs without 4 GiB.
    epoch_bits: u32,
}

impl Default for PairArena {
    fn default() -> Self {
        Self::with_epoch_bits(32)
    }
}

impl PairArena {
    pub(crate) fn with_epoch_bits(epoch_bits: u32) -> Self {
        assert!((1..=32).contains(&epoch_bits), "epoch bits {epoch_bits}");
        PairArena {
            bytes: Vec::new(),
            ends: Vec::new(),
            epochs: Vec::new(),
            epoch_bits,
        }
    }

    /// Appends one pair number to the series being built.
    #[inline]
    pub(crate) fn push_pair(&mut self, mut p: u32) {
        while p >= 0x80 {
            super::strings::push_slow_growth(&mut self.bytes, p as u8 | 0x80);
            p >>= 7;
        }
        super::strings::push_slow_growth(&mut self.bytes, p as u8);
    }

    /// Closes the series being built; it becomes series number `self.len()` (before the call).
    pub(crate) fn finish_series(&mut self) {
        let end = self.bytes.len() as u64;
        let r = self.ends.len() as u32;
        while end >> self.epoch_bits > self.epochs.len() as u64 {
            self.epochs.push(r);
        }
        let mask = (1u64 << self.epoch_bits) - 1;
        super::strings::push_slow_growth(&mut self.ends, (end & mask) as u32);
    }

    /// The offset where series `r`'s run ends.
    #[inline]
    fn end(&self, r: usize) -> usize {
        let epoch = self.epochs.partition_point(|&e| e as usize <= r);
        (epoch << self.epoch_bits) | self.ends[r] as usize
    }

    /// The pair numbers of series `r`, in the order pushed.
    ///
    /// Panics if `r` is not a finished series.
    #[inline]
    pub(crate) fn get(&self, r: u32) -> Pairs<'_> {
        let r = r as usize;
        let start = if r == 0 { 0 } else { self.end(r - 1) };
        Pairs {
            bytes: &self.bytes[start..self.end(r)],
        }
    }

    /// Total bytes of all runs.
    #[cfg(test)]
    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Releases spare capacity.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// Heap bytes held, and the number of heap blocks.
    pub(crate) fn memory(&self) -> (usize, usize) {
        let bytes = self.bytes.capacity()
            + self.ends.capacity() * size_of::<u32>()
            + self.epochs.capacity() * size_of::<u32>();
        let blocks = [
            self.bytes.capacity(),
            self.ends.capacity(),
            self.epochs.capacity(),
        ]
        .into_iter()
        .filter(|&c| c > 0)
        .count();
        (bytes, blocks)
    }
}

/// Iterator over one series' pair numbers.
#[derive(Debug, Clone)]
pub(crate) struct Pairs<'a> {
    bytes: &'a [u8],
}

impl Iterator for Pairs<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        let mut value = 0u32;
        let mut shift = 0;
        loop {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(value);
            }
            shift += 7;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_across_epochs() {
        // 8-bit epochs: the arena crosses many of them.
        let mut arena = PairArena::with_epoch_bits(8);
        let series: Vec<Vec<u32>> = (0..300u32)
            .map(|i| {
                (0..i % 13)
                    .map(|j| i.wrapping_mul(2_654_435_761) >> j)
                    .collect()
            })
            .collect();
        for s in &series {
            s.iter().for_each(|&p| arena.push_pair(p));
            arena.finish_series();
        }
        assert!(
            arena.byte_len() > 20 << 8,
            "crossed {} epochs",
            arena.epochs.len()
        );
        for (r, s) in series.iter().enumerate() {
            assert_eq!(arena.get(r as u32).collect::<Vec<_>>(), *s, "series {r}");
        }
        let mut a = PairArena::default();
        for p in [0, 127, 128, 16_383, 16_384, u32::MAX] {
            a.push_pair(p);
        }
        a.finish_series();
        assert_eq!(
            a.get(0).collect::<Vec<_>>(),
            [0, 127, 128, 16_383, 16_384, u32::MAX]
        );
    }
}
