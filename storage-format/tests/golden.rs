//! Golden files of format version 1, under `tests/data/storage-format/v1/` at the workspace
//! root. They are written once (by the ignored test `write_golden_files`, when a new format
//! version is introduced, into a new folder) and never regenerated: every later version of the code must
//! still read them and find exactly what they were written with.

mod common;

use std::path::PathBuf;

use common::{
    FIXTURE_RESOLUTION, fixture_manifest, fixture_rollups, fixture_series, fixture_wal, read_wal,
    write_fixture_block, write_fixture_rollup_block,
};
use floe_storage_format::block::BlockReader;
use floe_storage_format::chunk::chunk_encodings;
use floe_storage_format::column;
use floe_storage_format::manifest::Manifest;
use floe_storage_format::wal::SampleType;
use floe_storage_format::{Columns, Digest, RollupColumns};

/// The digest of the fixture block's samples, pinned when the golden files were written.
const V1_BLOCK_DIGEST: &str = "7362bde60bd99452fd752b9a81cdbdbb";

/// The digest of the fixture rollup block's rows, pinned when its golden file was written.
const V1_ROLLUP_DIGEST: &str = "07124ee53f8e31d834dc2e3eaf7538e8";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/storage-format/v1")
}

/// Not a check: the tool that wrote the golden files. Run it only for a new format version,
/// after pointing `dir()` at a new version folder.
#[test]
#[ignore = "writes golden files; run once per new format version"]
fn write_golden_files() {
    let d = dir();
    std::fs::create_dir_all(&d).expect("create golden dir");
    let block = d.join("fixture.blk");
    let wal = d.join("fixture.wal");
    assert!(
        !block.exists() && !wal.exists(),
        "golden files are never regenerated; bump the version folder"
    );
    write_fixture_block(&block);
    std::fs::write(&wal, fixture_wal()).expect("write golden WAL");
}

/// Not a check: the tool that wrote the golden files of what version 1 gained before its
/// release (rollup blocks, the manifest). Never run it again; a new format version gets a new
/// folder.
#[test]
#[ignore = "writes golden files; run once per new format version"]
fn write_golden_rollup_and_manifest_files() {
    let d = dir();
    let rollup = d.join("rollup.blk");
    let manifest = d.join("fixture.manifest");
    assert!(
        !rollup.exists() && !manifest.exists(),
        "golden files are never regenerated; bump the version folder"
    );
    write_fixture_rollup_block(&rollup);
    std::fs::write(&manifest, fixture_manifest().encode()).expect("write golden manifest");
}

#[test]
fn v1_rollup_block_still_reads() {
    let r = BlockReader::open(dir().join("rollup.blk")).expect("open golden rollup block");
    r.verify_all().expect("golden rollup block scrubs clean");
    assert_eq!(r.header().sample_type, SampleType::Rollup);
    assert_eq!(r.rollup_resolution(), Some(FIXTURE_RESOLUTION));
    // The rollups computed today equal those written then: the semantics did not drift.
    let expected = fixture_rollups();
    assert_eq!(r.series_count(), expected.len());
    let keys = r.series_keys().expect("keys");
    let mut back = RollupColumns::default();
    let mut digest = Digest::EMPTY;
    for (i, (key, roll)) in expected.iter().enumerate() {
        assert_eq!(&keys[i], key);
        assert!(r.read_rollup_series(key.id(), &mut back).expect("read"));
        assert_eq!(&back, roll, "series {key}");
        digest.add(Digest::of_rollup(key.id(), roll));
    }
    assert_eq!(r.digest().expect("digest"), digest);
    assert_eq!(digest.to_string(), V1_ROLLUP_DIGEST);
    // The edge cases, spelled out: no row for the stale-only bucket, a NaN-only bucket,
    // signed zeros with both infinities, one value, two values.
    let edge = floe_storage_format::SeriesKey::new("edge", [("host", "z")]).expect("key");
    assert!(r.read_rollup_series(edge.id(), &mut back).expect("edge"));
    assert_eq!(back.ts, vec![60_000, 120_000, 180_000, 240_000]);
    assert_eq!(back.count, vec![2, 4, 1, 2]);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let nan = 0x7ff8_0000_0000_0000u64;
    assert_eq!(
        bits(&back.sum),
        vec![nan, nan, 1.5f64.to_bits(), (-4.875f64).to_bits()]
    );
    assert_eq!(
        bits(&back.min),
        vec![
            nan,
            f64::NEG_INFINITY.to_bits(),
            1.5f64.to_bits(),
            (-7.125f64).to_bits()
        ]
    );
    assert_eq!(
        bits(&back.max),
        vec![
            nan,
            f64::INFINITY.to_bits(),
            1.5f64.to_bits(),
            2.25f64.to_bits()
        ]
    );
    assert_eq!(back.first_ts, vec![60_000, 120_000, 180_000, 240_000]);
    assert_eq!(
        bits(&back.first),
        vec![
            0xfff8_0000_0000_1234,
            (-0.0f64).to_bits(),
            1.5f64.to_bits(),
            2.25f64.to_bits()
        ]
    );
    assert_eq!(back.last_ts, vec![60_001, 126_000, 180_000, 299_999]);
}

#[test]
fn v1_manifest_still_reads() {
    let bytes = std::fs::read(dir().join("fixture.manifest")).expect("read golden manifest");
    assert_eq!(
        bytes,
        fixture_manifest().encode(),
        "the v1 manifest encoding changed"
    );
    assert_eq!(
        Manifest::decode(&bytes).expect("golden manifest"),
        fixture_manifest()
    );
}

#[test]
fn v1_block_still_reads() {
    let r = BlockReader::open(dir().join("fixture.blk")).expect("open golden block");
    r.verify_all().expect("golden block scrubs clean");
    let expected = fixture_series();
    assert_eq!(r.series_count(), expected.len());
    let keys = r.series_keys().expect("keys");
    let mut cols = Columns::default();
    let mut digest = Digest::EMPTY;
    for (i, (key, c)) in expected.iter().enumerate() {
        assert_eq!(&keys[i], key);
        assert!(r.read_series(key.id(), &mut cols).expect("read"));
        assert_eq!(
            cols.samples().collect::<Vec<_>>(),
            c.samples().collect::<Vec<_>>()
        );
        digest.add(Digest::of_columns(key.id(), &c.ts, &c.values, &c.versions));
    }
    assert_eq!(r.digest().expect("digest"), digest);
    // The golden block holds every timestamp and value encoding of version 1.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..r.series_count() {
        let [ts, val, _] = chunk_encodings(r.chunk_bytes(i).expect("chunk")).expect("encodings");
        seen.insert(("ts", ts));
        seen.insert(("value", val));
    }
    let all: std::collections::BTreeSet<_> = [
        ("ts", column::TS_REGULAR),
        ("ts", column::TS_LINEAR),
        ("ts", column::TS_PCO),
        ("ts", column::TS_PACKED),
        ("value", column::VAL_CONSTANT),
        ("value", column::VAL_DECIMAL),
        ("value", column::VAL_FLOAT),
    ]
    .into();
    assert_eq!(seen, all);
    assert_eq!(digest.to_string(), V1_BLOCK_DIGEST);
}

#[test]
fn v1_wal_still_reads() {
    let bytes = std::fs::read(dir().join("fixture.wal")).expect("read golden WAL");
    assert_eq!(bytes, fixture_wal(), "the v1 WAL encoding changed");
    let (keys, samples, clean) = read_wal(&bytes).expect("golden WAL");
    assert!(clean);
    assert_eq!(keys.len(), 5);
    assert_eq!(
        samples.len(),
        (0..5)
            .map(|i| (40 - i as usize).div_ceil(3) + 1)
            .sum::<usize>()
    );
}
