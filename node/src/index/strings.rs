//! [`StrArena`]: many small strings in one buffer, addressed by dense `u32` numbers, and the
//! slow-growth push used by the index's long-lived vectors.

/// Strings stored back to back in one `String`; string `i` ends at `ends[i]`.
///
/// One allocation for all strings instead of one `Box<str>` each: a `Box<str>` costs 16 bytes
/// of pointer and length plus the allocator's per-block overhead; here a string costs its bytes
/// and one `usize`.
#[derive(Debug, Default)]
pub(crate) struct StrArena {
    bytes: String,
    ends: Vec<usize>,
}

impl StrArena {
    /// Appends `s`; returns its number.
    pub(crate) fn push(&mut self, s: &str) -> u32 {
        let i = u32::try_from(self.ends.len()).expect("fewer than 2^32 strings in one index");
        self.bytes.push_str(s);
        push_slow_growth(&mut self.ends, self.bytes.len());
        i
    }

    /// String `i`. Panics if `i` was not returned by [`StrArena::push`].
    #[inline]
    pub(crate) fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// Releases spare capacity.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * size_of::<usize>()
    }
}

/// Pushes onto a vector that grows by half its size instead of doubling: long-lived vectors
/// (postings, the series arrays) then waste about 17% on average instead of about 33%, for
/// about 1.5 times as much copying on growth. Returns the growth in capacity, in elements.
#[inline]
pub(crate) fn push_slow_growth<T>(v: &mut Vec<T>, x: T) -> usize {
    let before = v.capacity();
    if v.len() == before {
        v.reserve_exact((before / 2).max(4));
    }
    v.push(x);
    v.capacity() - before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        let mut a = StrArena::default();
        let words = ["", "a", "", "héllo", "x"];
        let ids: Vec<u32> = words.iter().map(|w| a.push(w)).collect();
        for (i, w) in ids.iter().zip(words) {
            assert_eq!(a.get(*i), w);
        }
    }

    #[test]
    fn slow_growth_grows_by_half() {
        let mut v = Vec::new();
        let mut grown = 0;
        for i in 0..1000 {
            grown += push_slow_growth(&mut v, i);
        }
        assert_eq!(grown, v.capacity());
        assert!(v.capacity() < 1000 * 3 / 2 + 4);
    }
}
