//! Label index checkpoints: round trip, and every flipped byte or truncation is an error that
//! names the file (never a panic, never a silently smaller index).

use std::path::Path;

use floe_node::index::{IndexError, LabelIndex, MatchOp, Matcher, SeriesRef};
use floe_storage_format::SeriesKey;
use floe_storage_format::wal::{
    SampleBatch, SegmentHeader, frame_samples_record, frame_series_record,
};

fn keys(n: usize) -> Vec<SeriesKey> {
    (0..n)
        .map(|i| {
            let host = format!("host_{}", i / 3);
            let labels = [("host", host.as_str()), ("dc", ["x", "y"][i % 2])];
            let labels = labels.into_iter().filter(|_| i % 5 != 0);
            SeriesKey::new(format!("m{}", i % 3), labels).expect("valid key")
        })
        .collect()
}

fn index_of(keys: &[SeriesKey]) -> LabelIndex {
    let mut index = LabelIndex::new();
    for k in keys {
        index.insert(k);
    }
    index
}

fn assert_same(a: &LabelIndex, b: &LabelIndex) {
    assert_eq!(a.len(), b.len());
    for r in (0..a.len() as u32).map(SeriesRef) {
        assert_eq!(a.id(r), b.id(r));
        assert_eq!(a.key(r), b.key(r));
        assert_eq!(b.lookup(a.id(r)), Some(r));
        assert!(a.labels(r).eq(b.labels(r)));
    }
    let queries = [
        vec![],
        vec![Matcher::equal("__name__", "m1")],
        vec![Matcher::new(MatchOp::RegexMatch, "dc", "x|").expect("valid")],
        vec![Matcher::new(MatchOp::NotEqual, "host", "").expect("valid")],
    ];
    for q in &queries {
        assert_eq!(a.select(q), b.select(q), "{q:?}");
    }
    assert_eq!(a.label_names(None), b.label_names(None));
    assert_eq!(a.label_values("host", None), b.label_values("host", None));
}

#[test]
fn round_trip_keeps_refs_ids_keys_and_selections() {
    let dir = tempfile::tempdir().expect("temp dir");
    for n in [0, 1, 2, 500] {
        let index = index_of(&keys(n));
        let path = dir.path().join(format!("index-{n}.ckpt"));
        index.checkpoint(&path).expect("checkpoint");
        assert!(!dir.path().join(format!("index-{n}.ckpt.tmp")).exists());
        let loaded = LabelIndex::load(&path).expect("load");
        assert_same(&index, &loaded);
        // A second checkpoint replaces the first.
        let mut bigger = loaded;
        bigger.insert(&SeriesKey::new("late", [("a", "b")]).expect("valid key"));
        bigger.checkpoint(&path).expect("checkpoint again");
        assert_same(&bigger, &LabelIndex::load(&path).expect("load again"));
    }
}

fn expect_error(path: &Path, what: &str) -> IndexError {
    let err = match LabelIndex::load(path) {
        Ok(index) => panic!("{what}: loaded {} series instead of failing", index.len()),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{what}: {text}");
    err
}

#[test]
fn every_flipped_byte_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("index.ckpt");
    index_of(&keys(12)).checkpoint(&path).expect("checkpoint");
    let good = std::fs::read(&path).expect("read back");
    let bad = dir.path().join("bad.ckpt");
    for at in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bytes = good.clone();
            bytes[at] ^= flip;
            std::fs::write(&bad, &bytes).expect("write damaged copy");
            let err = expect_error(&bad, &format!("byte {at} ^ {flip:#x}"));
            assert!(err.is_corruption(), "byte {at}: {err}");
        }
    }
}

#[test]
fn every_truncation_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("index.ckpt");
    index_of(&keys(12)).checkpoint(&path).expect("checkpoint");
    let good = std::fs::read(&path).expect("read back");
    let bad = dir.path().join("cut.ckpt");
    for len in 0..good.len() {
        std::fs::write(&bad, &good[..len]).expect("write truncated copy");
        let err = expect_error(&bad, &format!("cut at {len}"));
        assert!(err.is_corruption(), "cut at {len}: {err}");
    }
    // Trailing bytes (zeros included) are damage too.
    for tail in [&[0u8; 5][..], &[0u8; 64][..], &[1, 2, 3][..]] {
        let mut bytes = good.clone();
        bytes.extend_from_slice(tail);
        std::fs::write(&bad, &bytes).expect("write extended copy");
        expect_error(&bad, &format!("{} bytes appended", tail.len()));
    }
}

/// Builds a segment by hand: header with `count`, then the given framed records.
fn segment(count: u64, records: &[u8]) -> Vec<u8> {
    let mut bytes = SegmentHeader { segment_id: count }.encode().to_vec();
    bytes.extend_from_slice(records);
    bytes
}

#[test]
fn well_framed_but_inconsistent_content_is_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("odd.ckpt");
    let k = SeriesKey::new("m", [("a", "1")]).expect("valid key");
    let mut one = Vec::new();
    frame_series_record(&k, &mut one).expect("frame");
    let mut samples = Vec::new();
    let mut batch = SampleBatch::new();
    batch.push(k.id(), floe_storage_format::Sample::new(1, 1.0, 0));
    frame_samples_record(&batch, &mut samples).expect("frame");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "duplicate",
            segment(2, &[one.clone(), one.clone()].concat()),
            "twice",
        ),
        ("too many", segment(0, &one), "more series records"),
        ("too few", segment(2, &one), "announces 2"),
        ("samples", segment(1, &samples), "samples record"),
    ];
    for (what, bytes, needle) in cases {
        std::fs::write(&path, bytes).expect("write");
        let err = expect_error(&path, what);
        assert!(err.to_string().contains(needle), "{what}: {err}");
        assert!(err.is_corruption());
    }
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.ckpt");
    let err = expect_error(&path, "missing");
    assert!(matches!(err, IndexError::Io { .. }), "{err}");
    let unwritable = dir.path().join("no-such-dir").join("x.ckpt");
    let err = LabelIndex::new()
        .checkpoint(&unwritable)
        .expect_err("no directory");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}
