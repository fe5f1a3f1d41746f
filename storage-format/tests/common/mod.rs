//! Small deterministic fixtures that exercise every encoding: shared by the corruption tests
//! and the golden files.

#![allow(dead_code)]

use std::path::Path;

use floe_storage_format::block::{BlockHeader, BlockWriter};
use floe_storage_format::manifest::{BlockEntry, BlockKind, Manifest, RepairMark};
use floe_storage_format::wal::{self, SampleBatch, SampleType, SegmentHeader};
use floe_storage_format::{Columns, RollupColumns, Sample, SeriesKey, rollup};

pub(crate) const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Series covering every column encoding: regular, linear and irregular timestamps; constant,
/// decimal and float values (with NaN, -0.0, infinities); zero and non-zero versions.
pub(crate) fn fixture_series() -> Vec<(SeriesKey, Columns)> {
    let key = |name: &str, host: &str| {
        SeriesKey::new(name, [("host", host), ("dc", "eu-1")]).expect("valid key")
    };
    let regular: Vec<i64> = (0..40).map(|i| 1_000_000 + i * 10_000).collect();
    let jittered: Vec<i64> = (0..40)
        .map(|i| 1_000_000 + i * 10_000 + (i * 37 % 11) - 5)
        .collect();
    let gappy: Vec<i64> = (0..40).map(|i| 1_000_000 + i * i * 997).collect();
    // Mostly on time with a few long delays: residuals an entropy coder beats packing on.
    let spiky: Vec<i64> = (0..40)
        .map(|i| 1_000_000 + i * 10_000 + if i % 13 == 5 { 4_000 } else { i % 2 })
        .collect();
    let mut out = vec![
        (
            key("cpu_usage_user", "a"),
            Columns {
                values: (0..40)
                    .map(|i| f64::from((i * 7) % 100) / 100.0 + 10.0)
                    .collect(),
                versions: vec![0; 40],
                ts: regular.clone(),
            },
        ),
        (
            key("cpu_usage_idle", "a"),
            Columns {
                values: (0..40).map(|i| i as f64).collect(),
                versions: vec![0; 40],
                ts: jittered,
            },
        ),
        (
            key("up", "a"),
            Columns {
                values: vec![1.0; 40],
                versions: vec![0; 40],
                ts: regular.clone(),
            },
        ),
        (
            key("late", "c"),
            Columns {
                values: (0..40).map(|i| f64::from(i) * 0.5).collect(),
                versions: vec![0; 40],
                ts: spiky,
            },
        ),
        (
            key("weird", "b"),
            Columns {
                values: (0..40)
                    .map(|i| match i % 6 {
                        0 => f64::from_bits(STALE_NAN),
                        1 => -0.0,
                        2 => f64::INFINITY,
                        3 => std::f64::consts::PI * i as f64,
                        4 => f64::MIN_POSITIVE,
                        _ => -1e300,
                    })
                    .collect(),
                versions: (0..40).map(|i| if i < 20 { 0 } else { 3 }).collect(),
                ts: gappy,
            },
        ),
    ];
    out.sort_by_key(|(k, _)| k.id());
    out
}

/// Writes the fixture block to `path`.
pub(crate) fn write_fixture_block(path: &Path) {
    let header = BlockHeader {
        sample_type: SampleType::Float,
        has_keys: true,
        partition_start: 0,
        partition_end: 7_200_000,
    };
    let mut w = BlockWriter::create(path, header).expect("create block");
    for (key, c) in fixture_series() {
        w.add_series(key.id(), Some(&key), &c.ts, &c.values, &c.versions)
            .expect("add series");
    }
    w.finish().expect("finish block");
}

/// A WAL segment with series records and sample records (versions and NaNs included).
pub(crate) fn fixture_wal() -> Vec<u8> {
    let mut seg = SegmentHeader { segment_id: 3 }.encode().to_vec();
    for (i, (key, c)) in fixture_series().into_iter().enumerate() {
        wal::frame_series_record(&key, &mut seg).expect("series record");
        let mut batch = SampleBatch::new();
        for s in c.samples().skip(i).step_by(3) {
            batch.push(key.id(), s);
        }
        batch.push(key.id(), Sample::new(5, 0.5, 0));
        wal::frame_samples_record(&batch, &mut seg).expect("samples record");
    }
    seg
}

/// Every record of a segment, decoded: `Ok(keys, samples)` up to where reading stopped.
/// What a replay produced: series keys, samples, and whether it ended cleanly.
pub(crate) type Replayed = (
    Vec<SeriesKey>,
    Vec<(floe_storage_format::SeriesId, Sample)>,
    bool,
);

pub(crate) fn read_wal(seg: &[u8]) -> Result<Replayed, String> {
    let (_, mut r) = wal::SegmentReader::new(seg).map_err(|e| e.to_string())?;
    let (mut keys, mut samples) = (Vec::new(), Vec::new());
    let mut batch = SampleBatch::new();
    while let Some(p) = r.next_payload() {
        match wal::decode_payload(p, &mut batch).map_err(|e| e.to_string())? {
            Some(k) => keys.push(k),
            None => samples.extend(batch.samples()),
        }
    }
    Ok((keys, samples, r.problem().is_none()))
}

/// Resolution of the fixture rollup block.
pub(crate) const FIXTURE_RESOLUTION: i64 = 60_000;

/// The 1-minute rollups of the fixture series, plus a series of edge cases: a bucket of only
/// stale markers (no row), a bucket of only NaNs, one with signed zeros and both infinities,
/// a single value, and values at both ends of a bucket.
pub(crate) fn fixture_rollups() -> Vec<(SeriesKey, RollupColumns)> {
    let mut series = fixture_series();
    let stale = f64::from_bits(STALE_NAN);
    let edge_ts = vec![
        0, 30_000, 60_000, 60_001, 120_000, 120_500, 121_000, 125_000, 126_000, 180_000, 240_000,
        299_999,
    ];
    let edge_values = vec![
        stale,
        stale,
        f64::from_bits(0xfff8_0000_0000_1234),
        f64::NAN,
        -0.0,
        stale,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.5,
        2.25,
        -7.125,
    ];
    let n = edge_ts.len();
    series.push((
        SeriesKey::new("edge", [("host", "z")]).expect("valid key"),
        Columns {
            ts: edge_ts,
            values: edge_values,
            versions: vec![0; n],
        },
    ));
    series.sort_by_key(|(k, _)| k.id());
    series
        .into_iter()
        .map(|(key, c)| {
            let mut r = RollupColumns::default();
            rollup(&c.ts, &c.values, FIXTURE_RESOLUTION, &mut r).expect("rollup");
            (key, r)
        })
        .collect()
}

/// Writes the fixture rollup block to `path`.
pub(crate) fn write_fixture_rollup_block(path: &Path) {
    let header = BlockHeader {
        sample_type: SampleType::Rollup,
        has_keys: true,
        partition_start: 0,
        partition_end: 7_200_000,
    };
    let mut w = BlockWriter::create(path, header).expect("create rollup block");
    for (key, r) in fixture_rollups() {
        w.add_rollup_series(key.id(), Some(&key), &r)
            .expect("add rollup series");
    }
    w.finish().expect("finish rollup block");
}

/// A manifest with raw and rollup blocks, and repair marks with and without a series.
pub(crate) fn fixture_manifest() -> Manifest {
    let block =
        |file_id, kind, partition_start, partition_end, level, series, samples, bytes| BlockEntry {
            file_id,
            kind,
            partition_start,
            partition_end,
            level,
            series,
            samples,
            bytes,
        };
    Manifest {
        generation: 7,
        next_file_id: 43,
        wal_replay_from: 12,
        blocks: vec![
            block(3, BlockKind::Raw, 0, 7_200_000, 0, 5, 200, 931),
            block(
                42,
                BlockKind::Rollup {
                    resolution_ms: 60_000,
                },
                0,
                7_200_000,
                1,
                6,
                30,
                1500,
            ),
            block(
                17,
                BlockKind::Rollup {
                    resolution_ms: 3_600_000,
                },
                -86_400_000,
                0,
                2,
                1,
                1,
                200,
            ),
        ],
        repairs: vec![
            RepairMark {
                partition_start: 0,
                partition_end: 7_200_000,
                series: None,
                reason: "block 0000000000000002.blk quarantined: checksum mismatch".into(),
            },
            RepairMark {
                partition_start: 7_200_000,
                partition_end: 14_400_000,
                series: Some(floe_storage_format::SeriesId(
                    0x98ae_018b_703e_465d_d41b_85cb_6d09_7a4f,
                )),
                reason: "série illisible — ✓".into(),
            },
        ],
    }
}
