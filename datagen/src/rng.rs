//! The pseudo-random number generator, specified here once and never changed silently.
//!
//! * [`mix64`] is the SplitMix64 output function (Steele, Lea and Flood, 2014, constants of
//!   Stafford's "Mix13"). It is a bijection on `u64`; it derives stream keys from
//!   `(seed, host, stream)`.
//! * [`Xoshiro256`] is xoshiro256** 1.0 (Blackman and Vigna, 2018), seeded from a stream key by
//!   four outputs of SplitMix64, as its authors recommend.
//! * [`Xoshiro256::below`] draws a uniform integer in `[0, n)` without bias by Lemire's
//!   multiply-and-reject method (2019).
//!
//! All three use only wrapping integer arithmetic, so a seed gives the same numbers on every
//! platform.

/// The SplitMix64 increment (the golden ratio in 64-bit fixed point).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Stream number of a host's timestamp jitter (fields use streams `0..10`).
pub(crate) const STREAM_JITTER: u32 = 10;
/// Stream number of a host's tag choices.
pub(crate) const STREAM_TAGS: u32 = 11;

/// The SplitMix64 output function: a bijective 64-bit mixer.
#[inline]
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key of one random stream: `mix64(mix64(mix64(seed) ^ host) ^ stream)`.
///
/// For a fixed seed and host, distinct streams get distinct keys, and for a fixed seed distinct
/// hosts get distinct inner keys, because `mix64` is a bijection. A host's streams therefore do
/// not depend on which other hosts exist or were generated before.
pub(crate) const fn stream_key(seed: u64, host: u32, stream: u32) -> u64 {
    mix64(mix64(mix64(seed) ^ host as u64) ^ stream as u64)
}

/// xoshiro256**: 256 bits of state, period 2^256 − 1, all 64 output bits of good quality.
#[derive(Debug, Clone)]
pub(crate) struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// Seeds the state with the next four outputs of SplitMix64 started at `key`.
    ///
    /// The four words are distinct (SplitMix64 is a bijection of a counter), so the state is
    /// never all zero.
    pub(crate) fn from_key(key: u64) -> Self {
        let mut x = key;
        let mut next = || {
            x = x.wrapping_add(GOLDEN_GAMMA);
            mix64(x)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The generator of stream `stream` of host `host` under `seed`.
    pub(crate) fn for_stream(seed: u64, host: u32, stream: u32) -> Self {
        Self::from_key(stream_key(seed, host, stream))
    }

    /// The next 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `[0, n)`, exactly unbiased (Lemire's method). `n` must be > 0.
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0) has no value to return");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference outputs of splitmix64.c (Vigna) for seed 1477776061723855037.
    #[test]
    fn splitmix64_matches_reference() {
        let mut x: u64 = 1_477_776_061_723_855_037;
        let expected = [
            1_985_237_415_132_408_290_u64,
            2_979_275_885_539_914_483,
            13_511_426_838_097_143_398,
            8_488_337_342_461_049_707,
        ];
        for e in expected {
            x = x.wrapping_add(GOLDEN_GAMMA);
            assert_eq!(mix64(x), e);
        }
    }

    /// Reference outputs of xoshiro256starstar.c for the state [1, 2, 3, 4].
    #[test]
    fn xoshiro256starstar_matches_reference() {
        let mut rng = Xoshiro256 { s: [1, 2, 3, 4] };
        let expected = [
            11_520_u64,
            0,
            1_509_978_240,
            1_215_971_899_390_074_240,
            1_216_172_134_540_287_360,
            607_988_272_756_665_600,
            16_172_922_978_634_559_625,
            8_476_171_486_693_032_832,
            10_595_114_339_597_558_777,
            2_904_607_092_377_533_576,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Xoshiro256::from_key(7);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = rng.below(7);
            assert!(v < 7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(rng.below(1), 0);
    }

    #[test]
    fn stream_keys_differ() {
        assert_ne!(stream_key(1, 0, 0), stream_key(1, 0, 1));
        assert_ne!(stream_key(1, 0, 0), stream_key(1, 1, 0));
        assert_ne!(stream_key(1, 0, 0), stream_key(2, 0, 0));
    }
}
