//! The manifest: round trips, validation, atomic replacement, and damage detection.

mod common;

use common::fixture_manifest;
use floe_storage_format::manifest::{
    BlockEntry, BlockKind, MANIFEST_FILE, MANIFEST_TMP_FILE, MAX_REASON_LEN, Manifest, RepairMark,
};
use floe_storage_format::{FormatError, SeriesId};
use proptest::prelude::*;

fn block_entry(file_id: u64) -> impl Strategy<Value = BlockEntry> {
    (
        prop_oneof![
            Just(BlockKind::Raw),
            (1i64..=i64::MAX).prop_map(|resolution_ms| BlockKind::Rollup { resolution_ms })
        ],
        any::<i64>(),
        1u64..=u64::MAX,
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        108u64..=u64::MAX,
    )
        .prop_map(move |(kind, start, len, level, series, extra, bytes)| {
            let end = start
                .saturating_add_unsigned(len)
                .max(start.saturating_add(1));
            let start = if end == start { start - 1 } else { start };
            BlockEntry {
                file_id,
                kind,
                partition_start: start,
                partition_end: end,
                level,
                series,
                samples: series.saturating_add(extra),
                bytes,
            }
        })
}

fn repair_mark() -> impl Strategy<Value = RepairMark> {
    (
        -1_000_000i64..1_000_000,
        1i64..1_000_000,
        prop::option::of(any::<u128>().prop_map(SeriesId)),
        ".{0,40}",
    )
        .prop_map(|(start, len, series, reason)| RepairMark {
            partition_start: start,
            partition_end: start + len,
            series,
            reason,
        })
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::collection::btree_set(0u64..1_000_000, 0..30),
        prop::collection::vec(repair_mark(), 0..10),
    )
        .prop_flat_map(|(generation, wal_replay_from, ids, repairs)| {
            let next = ids.iter().next_back().map_or(0, |m| m + 1);
            let entries: Vec<_> = ids.into_iter().map(block_entry).collect();
            (
                Just(generation),
                next..next + 10,
                Just(wal_replay_from),
                entries,
                Just(repairs),
            )
        })
        .prop_map(
            |(generation, next_file_id, wal_replay_from, mut blocks, repairs)| {
                // Any order: the manifest keeps the engine's.
                blocks.reverse();
                Manifest {
                    generation,
                    next_file_id,
                    wal_replay_from,
                    blocks,
                    repairs,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn manifests_round_trip(m in manifest()) {
        m.validate().expect("generated manifests are valid");
        let bytes = m.encode();
        prop_assert_eq!(Manifest::decode(&bytes).expect("decode"), m);
    }

    #[test]
    fn manifest_decoder_survives_arbitrary_bodies(body in prop::collection::vec(any::<u8>(), 0..300)) {
        // A well-formed header around arbitrary bytes: the body decoder itself must not panic.
        let mut bytes = b"FLOEMAN\0\x01\0\0\0".to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&floe_storage_format::crc32(&body).to_le_bytes());
        let crc = floe_storage_format::crc32(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&body);
        if let Ok(m) = Manifest::decode(&bytes) {
            m.validate().expect("a decoded manifest is valid");
        }
    }
}

#[test]
fn file_names_are_sixteen_hex_digits() {
    let mut e = fixture_manifest().blocks[1].clone();
    assert_eq!(e.file_name(), "000000000000002a.blk");
    e.file_id = u64::MAX;
    assert_eq!(e.file_name(), "ffffffffffffffff.blk");
}

#[test]
fn invalid_manifests_are_refused_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = fixture_manifest();
    good.validate().expect("fixture is valid");
    type Spoil = Box<dyn Fn(&mut Manifest)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("duplicate id", Box::new(|m| m.blocks[1].file_id = 3)),
        ("id not below next", Box::new(|m| m.next_file_id = 42)),
        (
            "empty partition",
            Box::new(|m| m.blocks[0].partition_end = 0),
        ),
        (
            "zero resolution",
            Box::new(|m| m.blocks[1].kind = BlockKind::Rollup { resolution_ms: 0 }),
        ),
        ("samples < series", Box::new(|m| m.blocks[0].samples = 4)),
        ("too small a file", Box::new(|m| m.blocks[0].bytes = 107)),
        (
            "empty repair partition",
            Box::new(|m| m.repairs[0].partition_end = m.repairs[0].partition_start),
        ),
        (
            "long reason",
            Box::new(|m| m.repairs[1].reason = "x".repeat(MAX_REASON_LEN + 1)),
        ),
    ];
    for (what, spoil) in cases {
        let mut m = good.clone();
        spoil(&mut m);
        let err = m.write_atomic(dir.path()).expect_err(what);
        assert!(matches!(err, FormatError::BadInput { .. }), "{what}: {err}");
        // The encoder writes what it is given; the decoder refuses it.
        assert!(Manifest::decode(&m.encode()).is_err(), "{what}");
    }
    assert!(
        std::fs::read_dir(dir.path())
            .expect("list")
            .next()
            .is_none(),
        "nothing written"
    );
}

#[test]
fn write_atomic_replaces_and_read_finds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(Manifest::read(dir.path()).expect("no manifest yet"), None);
    let mut m = fixture_manifest();
    m.write_atomic(dir.path()).expect("write");
    assert_eq!(Manifest::read(dir.path()).expect("read"), Some(m.clone()));
    // A leftover temporary file (an interrupted write) is ignored, then replaced.
    std::fs::write(dir.path().join(MANIFEST_TMP_FILE), b"half a manif").expect("write");
    assert_eq!(Manifest::read(dir.path()).expect("read"), Some(m.clone()));
    m.generation += 1;
    m.blocks.pop();
    m.write_atomic(dir.path()).expect("replace");
    assert_eq!(Manifest::read(dir.path()).expect("read"), Some(m));
    assert!(!dir.path().join(MANIFEST_TMP_FILE).exists());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![MANIFEST_FILE]);
}

#[test]
fn read_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = fixture_manifest().encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(dir.path().join(MANIFEST_FILE), &bytes).expect("write");
    let err = Manifest::read(dir.path()).expect_err("damaged");
    assert!(err.is_corruption());
    let msg = err.to_string();
    assert!(
        msg.contains("MANIFEST") && msg.contains("checksum mismatch"),
        "{msg}"
    );
}

#[test]
fn every_flipped_byte_of_a_manifest_is_detected() {
    let bytes = fixture_manifest().encode();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            let err = Manifest::decode(&b).expect_err("flip went undetected");
            assert!(err.is_corruption(), "flip {mask:#x} at {i}: {err}");
        }
    }
}

#[test]
fn every_truncation_of_a_manifest_is_detected() {
    let bytes = fixture_manifest().encode();
    for cut in 0..bytes.len() {
        assert!(Manifest::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Manifest::decode(&longer).is_err(), "trailing byte");
}

#[test]
fn an_unknown_version_is_not_guessed() {
    let mut bytes = fixture_manifest().encode();
    bytes[8] = 2;
    let crc = floe_storage_format::crc32(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    let err = Manifest::decode(&bytes).expect_err("version 2");
    assert!(
        matches!(err, FormatError::UnsupportedVersion { version: 2, .. }),
        "{err}"
    );
}

#[test]
fn hostile_counts_are_refused_without_allocating() {
    // A body claiming 2^60 blocks in a few bytes.
    let body = [
        0u8, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10,
    ];
    let mut bytes = b"FLOEMAN\0\x01\0\0\0".to_vec();
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&floe_storage_format::crc32(&body).to_le_bytes());
    let crc = floe_storage_format::crc32(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(&body);
    let err = Manifest::decode(&bytes).expect_err("hostile count");
    assert!(matches!(err, FormatError::TooLarge { .. }), "{err}");
}
