//! Property tests of the merge rule and the digest.

use floe_storage_format::{Digest, Sample, SeriesId, merge, merge_sorted_columns, normalize};
use proptest::prelude::*;

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)), // Prometheus stale marker
        Just(0.0),
        Just(-0.0),
        (-1000i64..1000).prop_map(|k| k as f64 / 100.0),
    ]
}

fn sample_at(ts: i64) -> impl Strategy<Value = Sample> {
    (any_value(), prop_oneof![Just(0u64), 0u64..4, any::<u64>()])
        .prop_map(move |(v, ver)| Sample::new(ts, v, ver))
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec((0i64..50).prop_flat_map(sample_at), 0..200)
}

proptest! {
    #[test]
    fn merge_is_commutative_associative_idempotent(
        ts in any::<i64>(),
        (a, b, c) in (any_value(), any_value(), any_value()),
        (va, vb, vc) in (0u64..3, 0u64..3, 0u64..3),
    ) {
        let (a, b, c) = (Sample::new(ts, a, va), Sample::new(ts, b, vb), Sample::new(ts, c, vc));
        prop_assert_eq!(merge(a, b), merge(b, a));
        prop_assert_eq!(merge(merge(a, b), c), merge(a, merge(b, c)));
        prop_assert_eq!(merge(a, a), a);
        // The winner is one of the inputs and is the maximum by (version, total_cmp).
        let w = merge(a, b);
        prop_assert!(w == a || w == b);
        prop_assert!(w.version >= a.version && w.version >= b.version);
    }

    #[test]
    fn stored_state_depends_only_on_the_set(
        input in samples(),
        shuffle_seed in any::<u64>(),
        dup_every in 1usize..5,
    ) {
        let mut expected = input.clone();
        normalize(&mut expected);

        // Shuffle, duplicate some, and normalize again: same state, same digest.
        let mut noisy: Vec<Sample> = input.iter().copied()
            .chain(input.iter().copied().step_by(dup_every))
            .collect();
        shuffle(&mut noisy, shuffle_seed);
        normalize(&mut noisy);
        prop_assert_eq!(&noisy, &expected);

        let id = SeriesId(7);
        let digest = |s: &[Sample]| s.iter().map(|x| Digest::of_sample(id, x)).sum::<Digest>();
        prop_assert_eq!(digest(&noisy), digest(&expected));

        let mut rev = expected.clone();
        rev.reverse();
        prop_assert_eq!(digest(&rev), digest(&expected));
    }

    #[test]
    fn merging_sorted_runs_equals_normalizing_their_union(a in samples(), b in samples()) {
        let (mut na, mut nb) = (a.clone(), b.clone());
        normalize(&mut na);
        normalize(&mut nb);
        let mut merged = Vec::new();
        merge_sorted_columns(&na, &nb, &mut merged);
        let mut all: Vec<Sample> = a.into_iter().chain(b).collect();
        normalize(&mut all);
        prop_assert_eq!(merged, all);
    }

    #[test]
    fn digest_is_incremental(input in samples(), replacement in any_value()) {
        let mut s = input;
        normalize(&mut s);
        prop_assume!(!s.is_empty());
        let id = SeriesId(42);
        let mut d: Digest = s.iter().map(|x| Digest::of_sample(id, x)).sum();
        // Replace the first sample by a winner as the merge rule would, incrementally.
        let old = s[0];
        let new = merge(old, Sample::new(old.ts, replacement, old.version + 1));
        d.remove_sample(id, &old);
        d.add_sample(id, &new);
        s[0] = new;
        let full: Digest = s.iter().map(|x| Digest::of_sample(id, x)).sum();
        prop_assert_eq!(d, full);
    }
}

#[test]
fn version_beats_value_and_total_cmp_orders_values() {
    let a = Sample::new(1, 100.0, 0);
    let b = Sample::new(1, 1.0, 1);
    assert_eq!(merge(a, b), b);
    // Same version: total_cmp decides, so -0.0 < 0.0 and NaN (positive) is the largest.
    assert_eq!(
        merge(Sample::new(1, -0.0, 0), Sample::new(1, 0.0, 0))
            .value
            .to_bits(),
        0.0f64.to_bits()
    );
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    assert_eq!(
        merge(Sample::new(1, 5.0, 0), Sample::new(1, stale, 0))
            .value
            .to_bits(),
        stale.to_bits()
    );
}

#[test]
fn digest_vector_is_pinned() {
    // Changing this changes every digest ever compared: never update it.
    let d = Digest::of_sample(SeriesId(1), &Sample::new(1_000, 1.5, 0));
    assert_eq!(d.to_string(), PINNED);
}
const PINNED: &str = "ef536023544fb68f4e26495780078f8e";

fn shuffle(v: &mut [Sample], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}
