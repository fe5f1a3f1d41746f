//! Flip every byte and truncate at every offset of a small block and a small WAL segment:
//! every decoder must answer with an error (never a panic, never different data).

mod common;

use common::{
    fixture_series, fixture_wal, read_wal, write_fixture_block, write_fixture_rollup_block,
};
use floe_storage_format::block::BlockReader;
use floe_storage_format::{Columns, FormatError, RollupColumns};

fn open_and_scrub(path: &std::path::Path) -> Result<Vec<Columns>, FormatError> {
    let r = BlockReader::open(path)?;
    r.verify_all()?;
    let mut all = Vec::new();
    for i in 0..r.series_count() {
        let mut c = Columns::default();
        r.read_entry(i, &mut c)?;
        all.push(c);
    }
    Ok(all)
}

#[test]
fn every_flipped_byte_of_a_block_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.blk");
    write_fixture_block(&good);
    let bytes = std::fs::read(&good).expect("read block");
    assert!(open_and_scrub(&good).is_ok());
    let bad = dir.path().join("bad.blk");
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            std::fs::write(&bad, &b).expect("write");
            let res = open_and_scrub(&bad);
            assert!(
                res.is_err(),
                "flip {mask:#x} at byte {i} of {} went undetected",
                bytes.len()
            );
            let err = res.expect_err("checked above");
            assert!(
                err.is_corruption() || matches!(err, FormatError::InFile { .. }),
                "byte {i}: {err}"
            );
        }
    }
}

#[test]
fn every_truncation_of_a_block_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.blk");
    write_fixture_block(&good);
    let bytes = std::fs::read(&good).expect("read block");
    let bad = dir.path().join("bad.blk");
    for cut in 0..bytes.len() {
        std::fs::write(&bad, &bytes[..cut]).expect("write");
        assert!(
            BlockReader::open(&bad).is_err(),
            "truncation at {cut} went undetected"
        );
    }
    // Appended garbage is detected too (the footer is no longer at the end).
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 7]);
    std::fs::write(&bad, &longer).expect("write");
    assert!(BlockReader::open(&bad).is_err());
}

fn open_and_scrub_rollups(path: &std::path::Path) -> Result<Vec<RollupColumns>, FormatError> {
    let r = BlockReader::open(path)?;
    r.verify_all()?;
    r.digest()?;
    let mut all = Vec::new();
    for i in 0..r.series_count() {
        let mut c = RollupColumns::default();
        r.read_rollup_entry(i, &mut c)?;
        all.push(c);
    }
    Ok(all)
}

#[test]
fn every_flipped_byte_of_a_rollup_block_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.blk");
    write_fixture_rollup_block(&good);
    let bytes = std::fs::read(&good).expect("read block");
    assert!(open_and_scrub_rollups(&good).is_ok());
    let bad = dir.path().join("bad.blk");
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            std::fs::write(&bad, &b).expect("write");
            let err = open_and_scrub_rollups(&bad).expect_err("flip went undetected");
            assert!(
                err.is_corruption(),
                "flip {mask:#x} at byte {i} of {}: {err}",
                bytes.len()
            );
        }
    }
}

#[test]
fn every_truncation_of_a_rollup_block_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.blk");
    write_fixture_rollup_block(&good);
    let bytes = std::fs::read(&good).expect("read block");
    let bad = dir.path().join("bad.blk");
    for cut in 0..bytes.len() {
        std::fs::write(&bad, &bytes[..cut]).expect("write");
        assert!(
            open_and_scrub_rollups(&bad).is_err(),
            "truncation at {cut} went undetected"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 7]);
    std::fs::write(&bad, &longer).expect("write");
    assert!(BlockReader::open(&bad).is_err());
}

#[test]
fn wal_samples_records_refuse_rollups() {
    use floe_storage_format::wal::{SampleBatch, decode_payload};
    // Kind 2 (samples), sample type 1 (rollup), no series.
    let err = decode_payload(&[2, 1, 0], &mut SampleBatch::new()).expect_err("rollup in WAL");
    assert!(err.to_string().contains("only float samples"), "{err}");
    assert!(decode_payload(&[2, 0, 0], &mut SampleBatch::new()).is_ok());
}

#[test]
fn error_messages_name_the_file_and_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("named.blk");
    write_fixture_block(&path);
    let mut b = std::fs::read(&path).expect("read");
    b[40] ^= 0x10; // inside the first chunk
    std::fs::write(&path, &b).expect("write");
    let err = open_and_scrub(&path).expect_err("corrupt chunk");
    let msg = err.to_string();
    assert!(
        msg.contains("named.blk") && msg.contains("checksum mismatch"),
        "{msg}"
    );
}

#[test]
fn every_flipped_byte_of_a_wal_segment_stops_replay_at_the_damage() {
    let seg = fixture_wal();
    let (keys, samples, clean) = read_wal(&seg).expect("good segment");
    assert!(clean);
    assert_eq!(keys.len(), fixture_series().len());
    for i in 0..seg.len() {
        let mut b = seg.clone();
        b[i] ^= 0x01;
        match read_wal(&b) {
            Err(_) => {}
            Ok((k, s, clean)) => {
                assert!(!clean, "flip at byte {i} went undetected");
                // Everything replayed is a prefix of the original: nothing altered.
                assert_eq!(k[..], keys[..k.len()], "flip at {i}");
                assert_eq!(s[..], samples[..s.len()], "flip at {i}");
            }
        }
    }
}

#[test]
fn every_truncation_of_a_wal_segment_replays_a_clean_prefix() {
    let seg = fixture_wal();
    let (keys, samples, _) = read_wal(&seg).expect("good segment");
    for cut in 0..seg.len() {
        match read_wal(&seg[..cut]) {
            Err(e) => assert!(cut < 24, "cut at {cut} after the header failed hard: {e}"),
            Ok((k, s, _)) => {
                assert_eq!(k[..], keys[..k.len()]);
                assert_eq!(s[..], samples[..s.len()]);
            }
        }
    }
}

#[test]
fn hostile_lengths_are_refused_without_allocating() {
    use floe_storage_format::chunk::decode_chunk;
    use floe_storage_format::wal::{SampleBatch, decode_payload};
    // A samples record claiming 2^60 series, and one series claiming 2^60 samples.
    let mut batch = SampleBatch::new();
    let huge_series = [2u8, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
    assert!(decode_payload(&huge_series, &mut batch).is_err());
    let mut one = vec![2u8, 0, 1];
    one.extend_from_slice(&[0u8; 16]);
    one.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    assert!(decode_payload(&one, &mut batch).is_err());
    // A chunk whose crc is right but whose count is absurd.
    let mut chunk = vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    let crc = floe_storage_format::crc32(&chunk);
    chunk.extend_from_slice(&crc.to_le_bytes());
    assert!(decode_chunk(&chunk, &mut Columns::default()).is_err());
}

mod arbitrary_input {
    use floe_storage_format::RollupColumns;
    use floe_storage_format::chunk::{decode_chunk, encode_chunk};
    use floe_storage_format::rollup::{decode_rollup_chunk, encode_rollup_chunk, rollup};
    use floe_storage_format::wal::{SampleBatch, SegmentReader, decode_payload};
    use floe_storage_format::{Columns, SeriesKey, crc32};
    use proptest::prelude::*;

    /// A valid chunk with some bytes overwritten and its crc recomputed, so the damage reaches
    /// the column decoders and pco rather than stopping at the checksum.
    fn mangled_chunk() -> impl Strategy<Value = Vec<u8>> {
        (
            1usize..300,
            any::<u64>(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        )
            .prop_map(|(n, seed, edits)| {
                let ts: Vec<i64> = (0..n as i64)
                    .map(|i| i * 1000 + (seed as i64 >> (i % 60)) % 7)
                    .collect();
                let values: Vec<f64> = (0..n)
                    .map(|i| ((seed >> (i % 50)) % 1000) as f64 / 100.0)
                    .collect();
                let mut chunk = Vec::new();
                encode_chunk(&ts, &values, &vec![0; n], &mut chunk).expect("encode");
                chunk.truncate(chunk.len() - 4);
                for (at, byte) in edits {
                    let i = at.index(chunk.len());
                    chunk[i] = byte;
                }
                let crc = crc32(&chunk);
                chunk.extend_from_slice(&crc.to_le_bytes());
                chunk
            })
    }

    /// A valid rollup chunk with some bytes overwritten and its crc recomputed.
    fn mangled_rollup_chunk() -> impl Strategy<Value = Vec<u8>> {
        (
            1usize..300,
            any::<u64>(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        )
            .prop_map(|(n, seed, edits)| {
                let ts: Vec<i64> = (0..n as i64)
                    .map(|i| i * 10_000 + (seed as i64 >> (i % 60)) % 7)
                    .collect();
                let values: Vec<f64> = (0..n)
                    .map(|i| ((seed >> (i % 50)) % 1000) as f64 / 100.0)
                    .collect();
                let mut r = RollupColumns::default();
                rollup(&ts, &values, 60_000, &mut r).expect("rollup");
                let mut chunk = Vec::new();
                encode_rollup_chunk(&r, &mut chunk).expect("encode");
                chunk.truncate(chunk.len() - 4);
                for (at, byte) in edits {
                    let i = at.index(chunk.len());
                    chunk[i] = byte;
                }
                let crc = crc32(&chunk);
                chunk.extend_from_slice(&crc.to_le_bytes());
                chunk
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn rollup_decoder_survives_mangled_chunks_with_valid_crc(chunk in mangled_rollup_chunk()) {
            let mut r = RollupColumns::default();
            match decode_rollup_chunk(&chunk, &mut r) {
                Ok(()) => r.validate().expect("whatever decodes is a valid rollup"),
                Err(e) => {
                    prop_assert!(e.is_corruption(), "{}", e);
                    prop_assert!(r.is_empty());
                }
            }
        }

        #[test]
        fn chunk_decoder_survives_mangled_chunks_with_valid_crc(chunk in mangled_chunk()) {
            let mut cols = Columns::default();
            if decode_chunk(&chunk, &mut cols).is_ok() {
                prop_assert!(floe_storage_format::is_strictly_increasing(&cols.ts));
                prop_assert_eq!(cols.ts.len(), cols.values.len());
                prop_assert_eq!(cols.ts.len(), cols.versions.len());
            }
        }

        #[test]
        fn decoders_survive_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut batch = SampleBatch::new();
            let _ = decode_payload(&data, &mut batch);
            let _ = SeriesKey::decode(&data);
            let mut with_crc = data.clone();
            with_crc.extend_from_slice(&crc32(&data).to_le_bytes());
            let _ = decode_chunk(&with_crc, &mut Columns::default());
            let _ = decode_rollup_chunk(&with_crc, &mut RollupColumns::default());
            let _ = floe_storage_format::Manifest::decode(&data);
            let mut seg = floe_storage_format::wal::SegmentHeader { segment_id: 1 }.encode().to_vec();
            seg.extend_from_slice(&data);
            if let Ok((_, mut r)) = SegmentReader::new(&seg) {
                while r.next_payload().is_some() {}
            }
        }
    }
}
