//! [`HandleTable`]: a compact open-addressing hash table of `u32` handles whose keys live in
//! the index's own arrays, and the hash functions that feed it.
//!
//! A slot is one `u64`: the high 32 bits are a fingerprint of the key's hash, the low 32 bits
//! the handle plus one (0 marks an empty slot). Storing the fingerprint lets a probe skip
//! non-matching slots without touching the key arrays; storing nothing else keeps a slot at 8
//! bytes where a `HashMap<SeriesId, u32>` entry takes 32 (a `u128` is 16-byte aligned).
//! Probing is linear; the table doubles when more than 7/8 full. Handles are never removed.

use std::hash::BuildHasher;

/// Smallest non-empty table, in slots.
const MIN_SLOTS: usize = 16;

/// Keys for the hash functions, drawn once per index from the process's random source, so that
/// a client who chooses series names cannot choose which of them collide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashKeys {
    k0: u64,
    k1: u64,
}

impl HashKeys {
    pub(crate) fn random() -> Self {
        let state = std::collections::hash_map::RandomState::new();
        HashKeys {
            k0: state.hash_one(0x243f_6a88_85a3_08d3_u64) | 1,
            k1: state.hash_one(0x1319_8a2e_0370_7344_u64) | 1,
        }
    }

    /// Hash of a series id. The id is already a uniform 128-bit hash, so one keyed
    /// 64×64→128-bit multiply folding its two halves is enough (no SipHash).
    #[inline]
    pub(crate) fn id(self, id: u128) -> u64 {
        folded_multiply(id as u64 ^ self.k0, (id >> 64) as u64 ^ self.k1)
    }

    /// Hash of a string.
    #[inline]
    pub(crate) fn str(self, s: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_seed(s.as_bytes(), self.k0)
    }

    /// Hash of a label pair: the value hashed with a seed derived from the name's hash, so
    /// `("ab", "c")` and `("a", "bc")` differ.
    #[inline]
    pub(crate) fn pair(self, name: &str, value: &str) -> u64 {
        let seed = self.str(name) ^ self.k1;
        xxhash_rust::xxh3::xxh3_64_with_seed(value.as_bytes(), seed)
    }
}

#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The table itself: see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct HandleTable {
    slots: Vec<u64>,
    len: usize,
}

impl HandleTable {
    /// The handle whose key `is_key` accepts, among those stored under `hash`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let fingerprint = hash >> 32;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == fingerprint {
                let handle = (slot as u32).wrapping_sub(1);
                if is_key(handle) {
                    return Some(handle);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `handle` under `hash`; the caller has checked that its key is absent. `rehash`
    /// gives the hash of any stored handle, for growing.
    pub(crate) fn insert(&mut self, hash: u64, handle: u32, rehash: impl Fn(u32) -> u64) {
        assert!(handle < u32::MAX, "handle {handle} out of range");
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow(rehash);
        }
        self.place(hash, handle);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, handle: u32) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = ((hash >> 32) << 32) | u64::from(handle + 1);
    }

    fn grow(&mut self, rehash: impl Fn(u32) -> u64) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        for slot in old.into_iter().filter(|&s| s != 0) {
            let handle = (slot as u32) - 1;
            self.place(rehash(handle), handle);
        }
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_through_growth_and_collisions() {
        let keys = HashKeys::random();
        let ids: Vec<u128> = (0..5000u128).map(|i| (i << 64) | (i * 7)).collect();
        let mut t = HandleTable::default();
        // A weak hash (many collisions) must still be correct, only slower.
        let weak = |h: u64| h % 97;
        for (handle, &id) in ids.iter().enumerate() {
            let h = weak(keys.id(id));
            assert_eq!(t.find(h, |x| ids[x as usize] == id), None);
            t.insert(h, handle as u32, |x| weak(keys.id(ids[x as usize])));
        }
        for (handle, &id) in ids.iter().enumerate() {
            let h = weak(keys.id(id));
            assert_eq!(t.find(h, |x| ids[x as usize] == id), Some(handle as u32));
        }
        assert_eq!(
            t.find(weak(keys.id(u128::MAX)), |x| ids[x as usize] == u128::MAX),
            None
        );
        assert!(t.memory_bytes() >= 5000 * 8);
    }
}
