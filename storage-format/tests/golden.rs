//! Golden files of format version 1, under `tests/data/storage-format/v1/` at the workspace
//! root. They are written once (by the ignored test `write_golden_files`, when a new format
//! version is introduced, into a new folder) and never regenerated: every later version of the code must
//! still read them and find exactly what they were written with.

mod common;

use std::path::PathBuf;

use common::{fixture_series, fixture_wal, read_wal, write_fixture_block};
use floe_storage_format::block::BlockReader;
use floe_storage_format::chunk::chunk_encodings;
use floe_storage_format::column;
use floe_storage_format::{Columns, Digest};

/// The digest of the fixture block's samples, pinned when the golden files were written.
const V1_BLOCK_DIGEST: &str = "7362bde60bd99452fd752b9a81cdbdbb";

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
