//! Round-trip property tests of columns, chunks, WAL records and block files.

use floe_storage_format::block::{BlockHeader, BlockReader, BlockWriter};
use floe_storage_format::chunk::{decode_chunk, encode_chunk};
use floe_storage_format::wal::{self, SampleBatch, SampleType, SegmentHeader, SegmentReader};
use floe_storage_format::{Columns, Digest, Sample, SeriesId, SeriesKey, normalize};
use proptest::prelude::*;

/// Timestamps of many shapes: regular, jittered, gappy, extreme.
fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    let regular = (any::<i32>(), 1i64..100_000, 1usize..500)
        .prop_map(|(start, step, n)| (0..n as i64).map(|i| i64::from(start) + i * step).collect());
    let jittered = (1usize..500, any::<u64>()).prop_map(|(n, seed)| {
        let mut s = seed;
        (0..n as i64)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                i * 10_000 + (s >> 54) as i64
            })
            .collect()
    });
    let arbitrary =
        prop::collection::btree_set(any::<i64>(), 1..200).prop_map(|s| s.into_iter().collect());
    prop_oneof![regular, jittered, arbitrary]
}

fn values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        prop::collection::vec(any::<u64>().prop_map(f64::from_bits), n),
        prop::collection::vec((-100_000i64..100_000).prop_map(|k| k as f64 / 100.0), n),
        prop::collection::vec((0i64..100).prop_map(|k| k as f64), n),
        any::<u64>().prop_map(move |b| vec![f64::from_bits(b); n]),
        prop::collection::vec(
            prop_oneof![
                Just(-0.0),
                Just(0.0),
                Just(f64::NAN),
                Just(f64::from_bits(0x7ff0_0000_0000_0002)),
                Just(f64::INFINITY),
                Just(1e300)
            ],
            n
        ),
    ]
}

fn columns() -> impl Strategy<Value = Columns> {
    timestamps().prop_flat_map(|ts| {
        let n = ts.len();
        (
            Just(ts),
            values(n),
            prop::collection::vec(prop_oneof![Just(0u64), 0u64..3, any::<u64>()], n),
        )
            .prop_map(|(ts, values, versions)| Columns {
                ts,
                values,
                versions,
            })
    })
}

fn bits_eq(a: &Columns, b: &Columns) -> bool {
    a.ts == b.ts
        && a.versions == b.versions
        && a.values.len() == b.values.len()
        && a.values
            .iter()
            .zip(&b.values)
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn chunks_round_trip_bit_exactly(cols in columns()) {
        let mut buf = Vec::new();
        encode_chunk(&cols.ts, &cols.values, &cols.versions, &mut buf).expect("encode");
        let mut out = Columns::default();
        decode_chunk(&buf, &mut out).expect("decode");
        prop_assert!(bits_eq(&cols, &out));
    }

    #[test]
    fn wal_batches_round_trip(series in prop::collection::vec((any::<u128>(), prop::collection::vec((any::<i64>(), any::<u64>(), prop_oneof![Just(0u64), any::<u64>()]), 1..20)), 1..20)) {
        let mut batch = SampleBatch::new();
        for (id, samples) in &series {
            for &(ts, bits, ver) in samples {
                batch.push(SeriesId(*id), Sample::new(ts, f64::from_bits(bits), ver));
            }
        }
        let mut seg = SegmentHeader { segment_id: 9 }.encode().to_vec();
        wal::frame_samples_record(&batch, &mut seg).expect("frame");
        let (header, mut r) = SegmentReader::new(&seg).expect("header");
        prop_assert_eq!(header.segment_id, 9);
        let payload = r.next_payload().expect("one record");
        let mut back = SampleBatch::new();
        prop_assert!(wal::decode_payload(payload, &mut back).expect("decode").is_none());
        prop_assert_eq!(back.sample_type(), SampleType::Float);
        let a: Vec<_> = batch.samples().collect();
        let b: Vec<_> = back.samples().collect();
        prop_assert_eq!(a, b);
        prop_assert!(r.next_payload().is_none());
        prop_assert!(r.problem().is_none());
    }
}

#[test]
fn blocks_round_trip_with_random_access_and_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("b.blk");
    let mut series: Vec<(SeriesKey, Vec<Sample>)> = (0..300)
        .map(|i| {
            let key = SeriesKey::new("m", [("i", i.to_string())]).expect("key");
            let mut s: Vec<Sample> = (0..(i % 50 + 1))
                .map(|j| Sample::new(j * 10_000 + i, (i * j) as f64 / 10.0, 0))
                .collect();
            normalize(&mut s);
            (key, s)
        })
        .collect();
    series.sort_by_key(|(k, _)| k.id());
    let header = BlockHeader {
        sample_type: SampleType::Float,
        has_keys: true,
        partition_start: 0,
        partition_end: 7_200_000,
    };
    let mut w = BlockWriter::create(&path, header).expect("create");
    let mut expected = Digest::EMPTY;
    for (key, s) in &series {
        let c = Columns::from_samples(s);
        w.add_series(key.id(), Some(key), &c.ts, &c.values, &c.versions)
            .expect("add");
        expected.add(Digest::of_columns(key.id(), &c.ts, &c.values, &c.versions));
    }
    let summary = w.finish().expect("finish");
    assert!(!dir.path().join("b.blk.tmp").exists());
    let r = BlockReader::open(&path).expect("open");
    assert_eq!(summary.bytes, r.file_len());
    assert_eq!(r.series_count(), 300);
    assert_eq!(r.digest().expect("digest"), expected);
    let keys = r.series_keys().expect("keys");
    assert_eq!(
        keys,
        series.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
    );
    let mut cols = Columns::default();
    for (key, s) in series.iter().rev() {
        assert!(r.read_series(key.id(), &mut cols).expect("read"));
        assert_eq!(cols.samples().collect::<Vec<_>>(), *s);
    }
    assert!(
        !r.read_series(SeriesId(12345), &mut cols)
            .expect("absent series")
    );
}

#[test]
fn block_writer_refuses_bad_input_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("b.blk");
    let header = BlockHeader {
        sample_type: SampleType::Float,
        has_keys: false,
        partition_start: 0,
        partition_end: 1000,
    };
    let mut w = BlockWriter::create(&path, header).expect("create");
    w.add_series(SeriesId(5), None, &[1, 2], &[1.0, 2.0], &[0, 0])
        .expect("add");
    assert!(
        w.add_series(SeriesId(5), None, &[1], &[1.0], &[0]).is_err(),
        "duplicate id"
    );
    assert!(
        w.add_series(SeriesId(4), None, &[1], &[1.0], &[0]).is_err(),
        "out of order"
    );
    assert!(
        w.add_series(SeriesId(6), None, &[2, 1], &[1.0, 2.0], &[0, 0])
            .is_err(),
        "unsorted"
    );
    assert!(
        w.add_series(SeriesId(7), None, &[1000], &[1.0], &[0])
            .is_err(),
        "outside partition"
    );
    assert!(
        w.add_series(SeriesId(8), None, &[], &[], &[]).is_err(),
        "empty"
    );
    drop(w);
    assert!(
        std::fs::read_dir(dir.path())
            .expect("list")
            .next()
            .is_none(),
        "temporary file removed"
    );
}

/// A value exact at 2 decimals need not be exact at 12 (`4178.68 × 10¹²` rounds to
/// `4178680000000001`): a later value that needs 12 decimals must send the encoder back over
/// the earlier ones. Found by compacting rollup sums of 2-decimal data (these two are one
/// series' hourly sums), where the block writer's read-back check refused the chunk.
#[test]
fn decimal_columns_recheck_earlier_values_when_a_later_one_needs_more_decimals() {
    let a = 4178.68_f64;
    let b = f64::from_bits(0x40bc_f566_6666_666e); // 7413.400000000007
    for values in [vec![a, b], vec![0.5, a, 2.25, b, a]] {
        let ts: Vec<i64> = (0..values.len() as i64).map(|i| i * 1000).collect();
        let versions = vec![0; values.len()];
        let mut buf = Vec::new();
        encode_chunk(&ts, &values, &versions, &mut buf).expect("encode");
        let mut back = Columns::default();
        decode_chunk(&buf, &mut back).expect("decode");
        let got: Vec<u64> = back.values.iter().map(|v| v.to_bits()).collect();
        let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            got, want,
            "values {values:?} came back as {:?}",
            back.values
        );
    }
}
