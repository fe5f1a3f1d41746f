//! Rollups: property tests against a naive reference, merge laws, chunk round trips, and
//! rollup blocks (round trip, random access, digest, sample-type enforcement).

use std::collections::BTreeMap;

use floe_storage_format::block::{BlockHeader, BlockReader, BlockWriter};
use floe_storage_format::rollup::{
    CANONICAL_NAN_BITS, decode_rollup_chunk, encode_rollup_chunk, merge_rollups, rollup,
};
use floe_storage_format::wal::SampleType;
use floe_storage_format::{
    Columns, Digest, RollupColumns, RollupRow, STALE_NAN_BITS, SeriesId, SeriesKey, is_stale_marker,
};
use proptest::prelude::*;

const STALE: f64 = f64::from_bits(STALE_NAN_BITS);

/// Strictly increasing timestamps: steps from 1 ms to a few minutes, anywhere in time.
fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    (
        -10_000_000_000i64..10_000_000_000,
        prop::collection::vec(prop_oneof![1i64..20, 1i64..20_000, 1i64..400_000], 0..300),
    )
        .prop_map(|(start, steps)| {
            steps
                .iter()
                .scan(start, |t, s| {
                    *t += s;
                    Some(*t)
                })
                .collect()
        })
}

fn special() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(STALE),
        Just(f64::NAN),
        Just(f64::from_bits(0xfff8_0000_0000_0077)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
    ]
}

/// Integer values (whose sums are exact) with the odd special value.
fn integer_value() -> BoxedStrategy<f64> {
    prop_oneof![
        8 => (-1_000_000i64..1_000_000).prop_map(|k| k as f64),
        1 => special(),
    ]
    .boxed()
}

/// Decimal values of bounded magnitude (no overflow) with the odd special value.
fn decimal_value() -> BoxedStrategy<f64> {
    prop_oneof![
        8 => (-100_000_000i64..100_000_000).prop_map(|k| k as f64 / 100.0),
        1 => special(),
    ]
    .boxed()
}

/// Any bits at all.
fn any_value() -> BoxedStrategy<f64> {
    prop_oneof![any::<u64>().prop_map(f64::from_bits), special()].boxed()
}

fn resolution() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(1i64),
        Just(7),
        1i64..5_000,
        Just(60_000),
        Just(3_600_000)
    ]
}

fn series(value: BoxedStrategy<f64>) -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
    timestamps().prop_flat_map(move |ts| {
        let n = ts.len();
        (Just(ts), prop::collection::vec(value.clone(), n))
    })
}

fn roll(ts: &[i64], values: &[f64], res: i64) -> RollupColumns {
    let mut out = RollupColumns::default();
    rollup(ts, values, res, &mut out).expect("rollup");
    out.validate().expect("rollup output is valid");
    out
}

fn merged(a: &RollupColumns, b: &RollupColumns) -> RollupColumns {
    let mut out = RollupColumns::default();
    merge_rollups(a, b, &mut out).expect("merge of disjoint sets");
    out.validate().expect("merge output is valid");
    out
}

/// The naive reference: group by bucket with a map, then apply each definition literally.
fn naive(ts: &[i64], values: &[f64], res: i64) -> RollupColumns {
    let mut buckets: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for (&t, &v) in ts.iter().zip(values) {
        if !is_stale_marker(v) {
            buckets
                .entry(t.div_euclid(res) * res)
                .or_default()
                .push((t, v));
        }
    }
    let canon = |v: f64| {
        if v.is_nan() {
            f64::from_bits(CANONICAL_NAN_BITS)
        } else {
            v
        }
    };
    let mut out = RollupColumns::new(res);
    for (bucket, vs) in buckets {
        let numbers: Vec<f64> = vs.iter().map(|x| x.1).filter(|v| !v.is_nan()).collect();
        let min = numbers
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .unwrap_or(f64::NAN);
        let max = numbers
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .unwrap_or(f64::NAN);
        let sum = vs[1..].iter().fold(vs[0].1, |s, x| s + x.1);
        out.push(RollupRow {
            ts: bucket,
            count: vs.len() as u64,
            sum: canon(sum),
            min: canon(min),
            max: canon(max),
            first_ts: vs[0].0,
            first: vs[0].1,
            last_ts: vs[vs.len() - 1].0,
            last: vs[vs.len() - 1].1,
        });
    }
    out
}

/// Splits a series into two disjoint parts by a bit mask.
fn split(ts: &[i64], values: &[f64], mask: &[bool]) -> [(Vec<i64>, Vec<f64>); 2] {
    let mut parts: [(Vec<i64>, Vec<f64>); 2] = Default::default();
    for (i, (&t, &v)) in ts.iter().zip(values).enumerate() {
        let p = &mut parts[usize::from(mask[i % mask.len()])];
        p.0.push(t);
        p.1.push(v);
    }
    parts
}

/// Equal in every field but the sum; sums equal up to rounding (same NaN-ness and infinities).
fn equal_but_rounding(a: &RollupColumns, b: &RollupColumns, abs_sum: &[f64]) -> bool {
    a.len() == b.len()
        && a.rows().zip(b.rows()).zip(abs_sum).all(|((x, y), &mag)| {
            let sums_close = if x.sum.is_nan() || x.sum.is_infinite() {
                x.sum.to_bits() == y.sum.to_bits()
            } else {
                (x.sum - y.sum).abs() <= mag * 1e-12
            };
            RollupRow { sum: y.sum, ..x } == y && sums_close
        })
}

/// Per row of the rollup of `(ts, values)`: the sum of the magnitudes of its values.
fn magnitudes(ts: &[i64], values: &[f64], res: i64) -> Vec<f64> {
    let abs: Vec<f64> = values
        .iter()
        .map(|&v| if is_stale_marker(v) { v } else { v.abs() })
        .collect();
    roll(ts, &abs, res).sum
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rollup_equals_the_naive_reference((ts, values) in series(any_value()), res in resolution()) {
        let fast = roll(&ts, &values, res);
        let slow = naive(&ts, &values, res);
        prop_assert_eq!(fast, slow);
    }

    #[test]
    fn counts_and_bounds_hold((ts, values) in series(any_value()), res in resolution()) {
        let r = roll(&ts, &values, res);
        let live = values.iter().filter(|v| !is_stale_marker(**v)).count() as u64;
        prop_assert_eq!(r.count.iter().sum::<u64>(), live);
        for row in r.rows() {
            prop_assert!(row.count >= 1 && row.count <= res as u64);
            if !(row.first.is_nan() || row.last.is_nan() || row.min.is_nan()) {
                prop_assert!(row.min.total_cmp(&row.first).is_le() && row.first.total_cmp(&row.max).is_le());
                prop_assert!(row.min.total_cmp(&row.last).is_le() && row.last.total_cmp(&row.max).is_le());
            }
            for v in [row.sum, row.min, row.max] {
                prop_assert!(!v.is_nan() || v.to_bits() == CANONICAL_NAN_BITS);
            }
        }
    }

    #[test]
    fn merge_of_parts_split_at_a_bucket_boundary_is_exact(
        (ts, values) in series(any_value()), res in resolution(), at in any::<prop::sample::Index>(),
    ) {
        let whole = roll(&ts, &values, res);
        // Cut before the first sample of some bucket.
        let cut = if ts.is_empty() { 0 } else {
            let b = ts[at.index(ts.len())].div_euclid(res);
            ts.iter().position(|t| t.div_euclid(res) == b).expect("present")
        };
        let a = roll(&ts[..cut], &values[..cut], res);
        let b = roll(&ts[cut..], &values[cut..], res);
        prop_assert_eq!(&merged(&a, &b), &whole);
        prop_assert_eq!(&merged(&b, &a), &whole);
    }

    #[test]
    fn merge_of_integer_parts_split_anywhere_is_exact(
        (ts, values) in series(integer_value()), res in resolution(),
        mask in prop::collection::vec(any::<bool>(), 1..40),
    ) {
        let whole = roll(&ts, &values, res);
        let [(ta, va), (tb, vb)] = split(&ts, &values, &mask);
        let (a, b) = (roll(&ta, &va, res), roll(&tb, &vb, res));
        prop_assert_eq!(&merged(&a, &b), &whole);
        prop_assert_eq!(&merged(&b, &a), &whole);
    }

    #[test]
    fn merge_of_decimal_parts_split_anywhere_is_exact_but_for_sum_rounding(
        (ts, values) in series(decimal_value()), res in resolution(),
        mask in prop::collection::vec(any::<bool>(), 1..40),
    ) {
        let whole = roll(&ts, &values, res);
        let [(ta, va), (tb, vb)] = split(&ts, &values, &mask);
        let (a, b) = (roll(&ta, &va, res), roll(&tb, &vb, res));
        let ab = merged(&a, &b);
        prop_assert!(ab == merged(&b, &a), "merge is commutative, sum included");
        prop_assert!(equal_but_rounding(&ab, &whole, &magnitudes(&ts, &values, res)));
    }

    #[test]
    fn merge_is_associative_for_three_integer_parts(
        (ts, values) in series(integer_value()), res in resolution(),
        mask in prop::collection::vec(0usize..3, 1..40),
    ) {
        let mut parts: [(Vec<i64>, Vec<f64>); 3] = Default::default();
        for (i, (&t, &v)) in ts.iter().zip(&values).enumerate() {
            parts[mask[i % mask.len()]].0.push(t);
            parts[mask[i % mask.len()]].1.push(v);
        }
        let [a, b, c] = parts.map(|(t, v)| roll(&t, &v, res));
        let left = merged(&merged(&a, &b), &c);
        let right = merged(&a, &merged(&b, &c));
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(&left, &roll(&ts, &values, res));
    }

    #[test]
    fn rollup_chunks_round_trip_bit_exactly((ts, values) in series(any_value()), res in resolution()) {
        let r = roll(&ts, &values, res);
        prop_assume!(!r.is_empty());
        let mut buf = Vec::new();
        encode_rollup_chunk(&r, &mut buf).expect("encode");
        let mut back = RollupColumns::default();
        decode_rollup_chunk(&buf, &mut back).expect("decode");
        prop_assert_eq!(back, r);
    }
}

#[test]
fn merge_refuses_overlapping_inputs() {
    let a = roll(&[1_000, 2_000, 65_000], &[1.0, 2.0, 3.0], 60_000);
    let b = roll(&[2_000, 70_000], &[5.0, 6.0], 60_000);
    let mut out = RollupColumns::default();
    assert!(
        merge_rollups(&a, &b, &mut out).is_err(),
        "shared last timestamp"
    );
    // More values than the bucket has milliseconds.
    let c = roll(&[0, 1, 2], &[1.0; 3], 3);
    let d = roll(&[0, 2], &[1.0; 2], 3);
    let err = merge_rollups(&c, &d, &mut out).expect_err("overlap");
    assert!(err.to_string().contains("not disjoint"), "{err}");
    assert!(out.is_empty(), "a failed merge leaves nothing behind");
}

#[test]
fn a_bucket_of_stale_markers_has_no_row_and_nan_only_buckets_do() {
    let r = roll(
        &[0, 10, 60_000, 60_005, 120_000],
        &[STALE, STALE, f64::NAN, STALE, 4.0],
        60_000,
    );
    assert_eq!(r.ts, vec![60_000, 120_000]);
    assert_eq!(r.count, vec![1, 1]);
    assert_eq!(r.min[0].to_bits(), CANONICAL_NAN_BITS);
    assert_eq!(r.sum[1], 4.0);
}

#[test]
fn encoder_refuses_invalid_rollups() {
    let good = roll(&[0, 10, 60_000], &[1.0, 2.0, 3.0], 60_000);
    let mut buf = Vec::new();
    let mut bad = good.clone();
    bad.count[0] = 12;
    assert!(
        encode_rollup_chunk(&bad, &mut buf).is_err(),
        "12 values in 11 ms"
    );
    let mut bad = good.clone();
    bad.ts[1] = 60_001;
    assert!(
        encode_rollup_chunk(&bad, &mut buf).is_err(),
        "unaligned bucket"
    );
    let mut bad = good.clone();
    bad.min[0] = 1.5;
    assert!(
        encode_rollup_chunk(&bad, &mut buf).is_err(),
        "min above first"
    );
    let mut bad = good.clone();
    bad.sum.pop();
    assert!(
        encode_rollup_chunk(&bad, &mut buf).is_err(),
        "ragged columns"
    );
    let mut bad = good.clone();
    bad.first[1] = STALE;
    bad.last[1] = STALE;
    assert!(encode_rollup_chunk(&bad, &mut buf).is_err(), "stale marker");
    assert!(encode_rollup_chunk(&RollupColumns::new(60_000), &mut buf).is_err());
    assert!(buf.is_empty());
    encode_rollup_chunk(&good, &mut buf).expect("valid");
}

fn rollup_header(start: i64, end: i64) -> BlockHeader {
    BlockHeader {
        sample_type: SampleType::Rollup,
        has_keys: true,
        partition_start: start,
        partition_end: end,
    }
}

#[test]
fn rollup_blocks_round_trip_with_random_access_and_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.blk");
    let mut series: Vec<(SeriesKey, RollupColumns)> = (0..200)
        .map(|i| {
            let key = SeriesKey::new("m", [("i", i.to_string())]).expect("key");
            let ts: Vec<i64> = (0..(i * 7 % 300 + 1)).map(|j| j * 10_000 + i).collect();
            let values: Vec<f64> = ts
                .iter()
                .map(|&t| ((t * 31) % 1000) as f64 / 10.0)
                .collect();
            (key, roll(&ts, &values, 60_000))
        })
        .collect();
    series.sort_by_key(|(k, _)| k.id());
    let mut w = BlockWriter::create(&path, rollup_header(0, 7_200_000)).expect("create");
    let mut expected = Digest::EMPTY;
    let mut rows = 0;
    for (key, r) in &series {
        w.add_rollup_series(key.id(), Some(key), r).expect("add");
        expected.add(Digest::of_rollup(key.id(), r));
        rows += r.len() as u64;
    }
    let summary = w.finish().expect("finish");
    assert_eq!(summary.samples, rows);
    let r = BlockReader::open(&path).expect("open");
    assert_eq!(r.rollup_resolution(), Some(60_000));
    assert_eq!(r.sample_count(), rows);
    r.verify_all().expect("scrub");
    assert_eq!(r.digest().expect("digest"), expected);
    let mut back = RollupColumns::default();
    for (key, roll) in series.iter().rev() {
        assert!(r.read_rollup_series(key.id(), &mut back).expect("read"));
        assert_eq!(&back, roll);
    }
    assert!(
        !r.read_rollup_series(SeriesId(1), &mut back)
            .expect("absent")
    );
    // A rollup block is not read as raw samples, nor a raw block as rollups.
    let err = r.read_series(series[0].0.id(), &mut Columns::default());
    assert!(err.is_err_and(|e| !e.is_corruption()));
}

#[test]
fn sample_types_are_enforced_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = roll(&[0, 10], &[1.0, 2.0], 60_000);
    let mut raw = BlockWriter::create(
        dir.path().join("raw.blk"),
        BlockHeader {
            sample_type: SampleType::Float,
            ..rollup_header(0, 3_600_000)
        },
    )
    .expect("create")
    .without_verification();
    assert!(raw.add_rollup_series(SeriesId(1), None, &r).is_err());
    let key = SeriesKey::new("m", [("a", "b")]).expect("key");
    raw.add_series(key.id(), Some(&key), &[0], &[1.0], &[0])
        .expect("raw series");
    raw.finish().expect("finish");
    let reader = BlockReader::open(dir.path().join("raw.blk")).expect("open");
    assert_eq!(reader.rollup_resolution(), None);
    let err = reader.read_rollup_entry(0, &mut RollupColumns::default());
    assert!(err.is_err_and(|e| !e.is_corruption()));

    let header = BlockHeader {
        has_keys: false,
        ..rollup_header(0, 3_600_000)
    };
    let mut w = BlockWriter::create(dir.path().join("r.blk"), header).expect("create");
    assert!(w.add_series(SeriesId(1), None, &[0], &[1.0], &[0]).is_err());
    w.add_rollup_series(SeriesId(2), None, &r).expect("rollup");
    let five = roll(&[0], &[1.0], 300_000);
    assert!(
        w.add_rollup_series(SeriesId(3), None, &five).is_err(),
        "one resolution per block"
    );
    w.add_rollup_series(SeriesId(4), None, &r)
        .expect("same resolution");
}

#[test]
fn rollup_buckets_must_lie_whole_inside_the_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header = BlockHeader {
        has_keys: false,
        ..rollup_header(0, 90_000)
    };
    let mut w = BlockWriter::create(dir.path().join("r.blk"), header)
        .expect("create")
        .without_verification();
    let ends_late = roll(&[60_000], &[1.0], 60_000);
    assert!(
        w.add_rollup_series(SeriesId(1), None, &ends_late).is_err(),
        "bucket [60000, 120000) crosses the end 90000"
    );
    let starts_early = roll(&[-1], &[1.0], 60_000);
    assert!(
        w.add_rollup_series(SeriesId(2), None, &starts_early)
            .is_err()
    );
    assert!(
        w.add_rollup_series(SeriesId(3), None, &RollupColumns::new(60_000))
            .is_err(),
        "empty"
    );
    w.add_rollup_series(SeriesId(4), None, &roll(&[0, 59_999], &[1.0, 2.0], 60_000))
        .expect("fits");
}

#[test]
fn rollup_digest_vector_is_pinned() {
    // Changing this changes every rollup digest ever compared: never update it.
    let r = roll(&[1_000, 2_000], &[1.5, -0.5], 60_000);
    assert_eq!(Digest::of_rollup(SeriesId(1), &r).to_string(), PINNED);
    // The resolution is part of the hash.
    let r5 = roll(&[1_000, 2_000], &[1.5, -0.5], 300_000);
    assert_ne!(Digest::of_rollup(SeriesId(1), &r5).to_string(), PINNED);
}
const PINNED: &str = "8a5057eeffcf9d36e5c78947f6aca248";
