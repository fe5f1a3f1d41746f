//! The digest: one order-independent number for any set of stored samples.
//!
//! `digest(S) = Σ h(s) mod 2^128` over the stored samples `s` of `S`, where
//! `h(s) = XXH3-128(series_id LE16 ‖ ts LE8 ‖ value_bits LE8 ‖ version LE8)` (40 bytes,
//! seed 0). Addition is commutative and associative, so two replicas, two clusters, or one
//! cluster before and after a replay can be compared by one number per token range and time
//! partition; digests of disjoint sets add, and a sample replaced by the merge rule is
//! subtracted and its winner added, so a digest can be maintained incrementally.
//!
//! The digest is of the *stored* state, i.e. after the merge rule: a set with one winner per
//! `(series, ts)`. Feeding raw duplicates gives a different number by design.
//!
//! Rollup rows are digested the same way, one hash per row:
//! `h(row) = XXH3-128(series_id LE16 ‖ resolution_ms LE8 ‖ ts ‖ count ‖ sum bits ‖ min bits
//! ‖ max bits ‖ first_ts ‖ first bits ‖ last_ts ‖ last bits)`, every field 8 bytes LE (96
//! bytes, seed 0). The input lengths differ (40 and 96 bytes), so a sample and a rollup row
//! never share a hash input; the resolution is hashed, so the 1 m and 5 m rollups of one
//! series digest differently.

use std::fmt;

use xxhash_rust::xxh3::xxh3_128;

use crate::rollup::{RollupColumns, RollupRow};
use crate::sample::Sample;
use crate::series::SeriesId;

/// An order-independent digest of a set of stored samples.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest(pub u128);

impl Digest {
    /// The digest of the empty set.
    pub const EMPTY: Digest = Digest(0);

    /// The hash of one stored sample: the unit every digest is a sum of.
    #[inline]
    pub fn of_sample(series: SeriesId, s: &Sample) -> Digest {
        let mut buf = [0u8; 40];
        buf[..16].copy_from_slice(&series.to_le_bytes());
        buf[16..24].copy_from_slice(&s.ts.to_le_bytes());
        buf[24..32].copy_from_slice(&s.value.to_bits().to_le_bytes());
        buf[32..40].copy_from_slice(&s.version.to_le_bytes());
        Digest(xxh3_128(&buf))
    }

    /// Adds one stored sample.
    #[inline]
    pub fn add_sample(&mut self, series: SeriesId, s: &Sample) {
        self.add(Digest::of_sample(series, s));
    }

    /// Removes one stored sample (when the merge rule replaces it).
    #[inline]
    pub fn remove_sample(&mut self, series: SeriesId, s: &Sample) {
        self.0 = self.0.wrapping_sub(Digest::of_sample(series, s).0);
    }

    /// Adds the digest of a disjoint set.
    #[inline]
    pub fn add(&mut self, other: Digest) {
        self.0 = self.0.wrapping_add(other.0);
    }

    /// The digest of one series' stored samples, given as columns.
    pub fn of_columns(series: SeriesId, ts: &[i64], values: &[f64], versions: &[u64]) -> Digest {
        let mut d = Digest::EMPTY;
        for ((&ts, &value), &version) in ts.iter().zip(values).zip(versions) {
            d.add_sample(series, &Sample { ts, value, version });
        }
        d
    }

    /// The hash of one rollup row of `series` at `resolution_ms`.
    pub fn of_rollup_row(series: SeriesId, resolution_ms: i64, row: &RollupRow) -> Digest {
        let mut buf = [0u8; 96];
        buf[..16].copy_from_slice(&series.to_le_bytes());
        let fields = [
            resolution_ms as u64,
            row.ts as u64,
            row.count,
            row.sum.to_bits(),
            row.min.to_bits(),
            row.max.to_bits(),
            row.first_ts as u64,
            row.first.to_bits(),
            row.last_ts as u64,
            row.last.to_bits(),
        ];
        for (i, f) in fields.iter().enumerate() {
            buf[16 + 8 * i..24 + 8 * i].copy_from_slice(&f.to_le_bytes());
        }
        Digest(xxh3_128(&buf))
    }

    /// The digest of one series' rollup: the sum of its rows' hashes.
    pub fn of_rollup(series: SeriesId, rollup: &RollupColumns) -> Digest {
        rollup
            .rows()
            .map(|row| Digest::of_rollup_row(series, rollup.resolution_ms, &row))
            .sum()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({:032x})", self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl std::iter::Sum for Digest {
    fn sum<I: Iterator<Item = Digest>>(iter: I) -> Digest {
        let mut d = Digest::EMPTY;
        for x in iter {
            d.add(x);
        }
        d
    }
}
