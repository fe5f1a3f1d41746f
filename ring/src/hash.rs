//! The two hash functions that fix placement: the token hash and the topology content hash.
//!
//! Both are XXH3 with seed 0 over a byte encoding specified in `docs/ring.md`. They are written
//! once, here, and everything else (ring construction, the canonical encoding, the tests' naive
//! reference) calls them. Changing either one moves data or splits a cluster, so the test
//! vectors in `tests/vectors.rs` pin their outputs.

use std::fmt;

use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

/// The XXH3 seed used by every hash in this crate.
pub const HASH_SEED: u64 = 0;

/// The token (ring position) of virtual node `index` of node `node_id`.
///
/// Input bytes: the byte length of `node_id` as a little-endian `u32`, the UTF-8 bytes of
/// `node_id`, then `index` as a little-endian `u32`; the token is `xxh3_64` of those bytes with
/// seed 0. A node of weight `w` owns the tokens of indexes `0 .. w × vnodes_per_weight`, so raising
/// a weight keeps the node's existing tokens.
///
/// # Panics
///
/// Never for a validated topology (ids are at most 255 bytes); panics if `node_id` is longer than
/// `u32::MAX` bytes.
pub fn token_hash(node_id: &str, index: u32) -> u64 {
    let mut buf = Vec::with_capacity(node_id.len() + 8);
    put_str(&mut buf, node_id);
    buf.extend_from_slice(&index.to_le_bytes());
    xxh3_64_with_seed(&buf, HASH_SEED)
}

/// The content hash of a topology: `xxh3_128` with seed 0 of its canonical encoding.
///
/// Shown as 32 lowercase hex digits (`{:032x}` of the `u128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub u128);

impl ContentHash {
    /// Hashes canonical topology bytes (see [`crate::Topology::canonical_bytes`]).
    pub fn of_canonical(bytes: &[u8]) -> Self {
        ContentHash(xxh3_128_with_seed(bytes, HASH_SEED))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Appends a length-prefixed string: byte length as little-endian `u32`, then the UTF-8 bytes.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).expect("strings hashed by the ring are at most 255 bytes");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_depends_on_id_and_index() {
        assert_ne!(token_hash("n1", 0), token_hash("n1", 1));
        assert_ne!(token_hash("n1", 0), token_hash("n2", 0));
        // The length prefix keeps ("a", index) and ("a" + index bytes) apart.
        assert_ne!(token_hash("a", 0), token_hash("a\0\0\0\0", 0));
    }

    #[test]
    fn token_hash_is_xxh3_of_the_documented_bytes() {
        let bytes = [2, 0, 0, 0, b'n', b'1', 7, 0, 0, 0];
        assert_eq!(token_hash("n1", 7), xxh3_64_with_seed(&bytes, 0));
    }

    #[test]
    fn content_hash_displays_32_hex_digits() {
        assert_eq!(ContentHash(0xab).to_string(), format!("{:0>32}", "ab"));
    }
}
