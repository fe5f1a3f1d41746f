//! Unit tests of the journal: round trips, recovery from torn and damaged files, bounds,
//! acknowledgement checks, rolling, and concurrent appends with replay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::format::{CURSOR_FILE, encode_cursor, encode_header};
use super::*;

fn opts(max_bytes: u64, segment_bytes: u64) -> JournalOptions {
    JournalOptions {
        max_bytes,
        segment_bytes,
    }
}

fn open(dir: &Path, o: JournalOptions) -> (Journal, OpenReport) {
    Journal::open_with(dir, o).expect("open journal")
}

/// A payload of `len` bytes that names record `i`.
fn payload(i: u32, len: usize) -> Vec<u8> {
    let mut p = i.to_le_bytes().to_vec();
    p.extend((0..len.saturating_sub(4)).map(|k| (k as u32 ^ i) as u8 | 1));
    p.truncate(len.max(1));
    p
}

fn append_each(j: &Journal, from: u32, n: u32, len: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in from..from + n {
        let p = payload(i, len);
        j.append(&[&p]).expect("append");
        out.push(p);
    }
    out
}

fn peek_all(j: &Journal) -> Vec<(Position, Vec<u8>)> {
    j.peek(usize::MAX, usize::MAX).expect("peek")
}

fn payloads(recs: &[(Position, Vec<u8>)]) -> Vec<Vec<u8>> {
    recs.iter().map(|(_, p)| p.clone()).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at as usize] ^= 0x10;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn append_peek_ack_round_trip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (j, report) = open(tmp.path(), opts(1 << 20, DEFAULT_SEGMENT_BYTES));
    assert_eq!(report, OpenReport::default());
    assert!(j.is_empty());
    let (a, b, c) = (payload(1, 10), payload(2, 300), payload(3, 5));
    j.append(&[&a, &b]).expect("append");
    j.append(&[&c]).expect("append");
    assert_eq!(j.pending_records(), 3);
    assert_eq!(j.pending_bytes(), (10 + 300 + 5 + 3 * 8) as u64);
    let first = j.peek(2, usize::MAX).expect("peek");
    assert_eq!(payloads(&first), vec![a.clone(), b.clone()]);
    assert!(first[0].0 < first[1].0);
    // Peeking again without an acknowledgement returns the same records.
    assert_eq!(j.peek(2, usize::MAX).expect("peek"), first);
    j.ack(first[1].0).expect("ack");
    assert_eq!(j.pending_records(), 1);
    assert_eq!(j.pending_bytes(), 5 + 8);
    let rest = peek_all(&j);
    assert_eq!(payloads(&rest), vec![c]);
    j.ack(rest[0].0).expect("ack");
    assert!(j.is_empty());
    assert_eq!(j.pending_bytes(), 0);
    assert!(peek_all(&j).is_empty());
    assert_eq!(j.dir(), tmp.path());
}

#[test]
fn peek_limits_records_and_bytes_but_returns_at_least_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(32 << 20, DEFAULT_SEGMENT_BYTES);
    let (mut j, _) = open(tmp.path(), o);
    append_each(&j, 0, 5, 100);
    assert_eq!(j.peek(3, usize::MAX).expect("peek").len(), 3);
    assert_eq!(j.peek(10, 0).expect("peek").len(), 1);
    assert_eq!(j.peek(10, 150).expect("peek").len(), 1);
    assert_eq!(j.peek(10, 250).expect("peek").len(), 2);
    assert_eq!(j.peek(0, usize::MAX).expect("peek").len(), 0);
    // A record larger than any read window is still returned whole, before and after a
    // reopen (which reads in smaller windows).
    let big = payload(9, 9 << 20);
    j.append(&[&big]).expect("append big");
    j.append(&[b"last"]).expect("append");
    for _ in 0..2 {
        assert_eq!(j.peek(10, 1000).expect("peek").len(), 5);
        let all = peek_all(&j);
        assert_eq!(all.len(), 7);
        assert_eq!(all[5].1, big);
        assert_eq!(j.peek(1, 0).expect("peek").len(), 1);
        drop(j);
        let (again, report) = open(tmp.path(), o);
        assert_eq!((report.records, report.torn_tail), (7, None));
        j = again;
    }
}

#[test]
fn peek_sees_records_appended_after_the_previous_peek() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(tmp.path(), opts(1 << 20, 300));
    let mut want = append_each(&j, 0, 2, 100);
    let seen = peek_all(&j);
    assert_eq!(payloads(&seen), want);
    want.extend(append_each(&j, 2, 3, 100));
    assert_eq!(payloads(&peek_all(&j)), want);
    j.ack(seen[1].0).expect("ack");
    assert_eq!(payloads(&peek_all(&j)), want[2..].to_vec());
}

#[test]
fn reopen_keeps_unacked_records_and_drops_acked_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(1 << 20, 300);
    let want = {
        let (j, _) = open(tmp.path(), o);
        let want = append_each(&j, 0, 10, 100);
        let recs = peek_all(&j);
        j.ack(recs[3].0).expect("ack");
        (want, recs[3].0)
    };
    let (j, report) = open(tmp.path(), o);
    assert_eq!(report.records, 6);
    assert_eq!(report.bytes, 6 * 108);
    assert_eq!(report.cursor, Some(want.1));
    assert_eq!(report.torn_tail, None);
    assert!(report.lost.is_empty());
    assert_eq!(payloads(&peek_all(&j)), want.0[4..].to_vec());
    // New appends go after the recovered records, in a new segment.
    let more = append_each(&j, 10, 1, 50);
    let all = peek_all(&j);
    assert_eq!(all.last().map(|r| r.1.clone()), more.first().cloned());
    assert!(all.last().map(|r| r.0.segment) > all.first().map(|r| r.0.segment));
}

#[test]
fn full_is_a_typed_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(3 * 108, DEFAULT_SEGMENT_BYTES);
    let (j, _) = open(tmp.path(), o);
    let (a, b) = (payload(1, 100), payload(2, 100));
    j.append(&[&a, &b]).expect("two fit");
    let sizes = |dir: &Path| -> Vec<u64> {
        let files = segment_files(dir);
        files
            .iter()
            .map(|p| std::fs::metadata(p).expect("stat").len())
            .collect()
    };
    let before = sizes(tmp.path());
    let err = j.append(&[&a, &b]).expect_err("over the bound");
    assert!(
        matches!(
            err,
            JournalError::Full {
                pending: 216,
                max: 324,
                adding: 216
            }
        ),
        "{err}"
    );
    assert_eq!(sizes(tmp.path()), before);
    assert_eq!(j.pending_records(), 2);
    j.append(&[&a]).expect("one more fits exactly");
    drop(j);
    let (j, report) = open(tmp.path(), o);
    assert_eq!(report.records, 3);
    let recs = peek_all(&j);
    j.ack(recs[2].0).expect("ack");
    j.append(&[&a, &b]).expect("room again");
}

#[test]
fn empty_and_oversized_payloads_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(tmp.path(), opts(u64::MAX, DEFAULT_SEGMENT_BYTES));
    let a = payload(1, 10);
    let err = j.append(&[&a, &[]]).expect_err("empty payload");
    assert!(
        matches!(
            err,
            JournalError::RecordSize {
                index: 1,
                len: 0,
                ..
            }
        ),
        "{err}"
    );
    let huge = vec![1u8; MAX_RECORD_LEN + 1];
    let err = j.append(&[&huge]).expect_err("oversized payload");
    assert!(
        matches!(err, JournalError::RecordSize { index: 0, .. }),
        "{err}"
    );
    assert!(j.is_empty());
    j.append(&[]).expect("an empty group is a no-op");
    assert!(segment_files(tmp.path()).is_empty());
}

/// Writes records of assorted sizes in one segment; returns its bytes and record ends.
fn one_segment() -> (Vec<u8>, Vec<u64>, Vec<Vec<u8>>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(tmp.path(), opts(1 << 20, DEFAULT_SEGMENT_BYTES));
    let want: Vec<Vec<u8>> = [1usize, 9, 30, 2, 17]
        .iter()
        .enumerate()
        .map(|(i, &n)| payload(i as u32, n))
        .collect();
    for p in &want {
        j.append(&[p]).expect("append");
    }
    let ends = peek_all(&j).iter().map(|(p, _)| p.offset).collect();
    let files = segment_files(tmp.path());
    let bytes = std::fs::read(&files[0]).expect("read");
    (bytes, ends, want)
}

#[test]
fn a_torn_tail_anywhere_is_cut_and_complete_records_kept() {
    let (bytes, ends, want) = one_segment();
    for cut in 0..bytes.len() as u64 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = format::segment_path(tmp.path(), 1);
        std::fs::write(&path, &bytes[..cut as usize]).expect("write");
        let o = opts(1 << 20, DEFAULT_SEGMENT_BYTES);
        let (j, report) = open(tmp.path(), o);
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(report.records, complete as u64, "cut at {cut}");
        assert_eq!(
            payloads(&peek_all(&j)),
            want[..complete].to_vec(),
            "cut at {cut}"
        );
        let at_boundary = cut == HEADER_LEN || ends.contains(&cut);
        if cut < HEADER_LEN {
            assert_eq!(report.lost.len(), 1, "cut at {cut}: {report:?}");
        } else {
            assert_eq!(
                report.torn_tail.is_some(),
                !at_boundary,
                "cut at {cut}: {report:?}"
            );
        }
        // The cut is durable: a second open finds nothing wrong, and appends go on.
        j.append(&[b"after"]).expect("append after recovery");
        drop(j);
        let (j, again) = open(tmp.path(), o);
        assert_eq!(
            (again.torn_tail, again.lost),
            (None, vec![]),
            "cut at {cut}"
        );
        let got = payloads(&peek_all(&j));
        assert_eq!(got.len(), complete + 1, "cut at {cut}");
        assert_eq!(got.last().map(Vec::as_slice), Some(&b"after"[..]));
    }
}

#[test]
fn a_zero_filled_tail_is_cut_like_a_torn_one() {
    let (mut bytes, ends, want) = one_segment();
    bytes.extend_from_slice(&[0u8; 100]);
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(format::segment_path(tmp.path(), 1), &bytes).expect("write");
    let (j, report) = open(tmp.path(), opts(1 << 20, DEFAULT_SEGMENT_BYTES));
    assert!(
        report
            .torn_tail
            .as_deref()
            .is_some_and(|t| t.contains("zero")),
        "{report:?}"
    );
    assert_eq!(payloads(&peek_all(&j)), want);
    let len = std::fs::metadata(format::segment_path(tmp.path(), 1))
        .expect("stat")
        .len();
    assert_eq!(Some(&len), ends.last());
}

/// Three segments of three 100-byte records each; returns the records.
fn three_segments(dir: &Path) -> Vec<Vec<u8>> {
    let (j, _) = open(dir, opts(1 << 20, 24 + 3 * 108));
    let want = append_each(&j, 0, 9, 100);
    assert_eq!(segment_files(dir).len(), 3);
    want
}

#[test]
fn a_flipped_byte_loses_the_rest_of_its_segment_only() {
    for (seg, record) in [(0usize, 1u64), (1, 0), (1, 2), (2, 1)] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let want = three_segments(tmp.path());
        let files = segment_files(tmp.path());
        let bad_record = HEADER_LEN + record * 108;
        flip(&files[seg], bad_record + 8 + 50);
        let (j, report) = open(tmp.path(), opts(1 << 20, 24 + 3 * 108));
        assert_eq!(report.lost.len(), 1, "{report:?}");
        assert_eq!(report.lost[0].path, files[seg]);
        assert_eq!(report.lost[0].offset, bad_record);
        assert_eq!(report.lost[0].bytes, (3 - record) * 108);
        let first_lost = seg * 3 + record as usize;
        let mut kept = want[..first_lost].to_vec();
        kept.extend_from_slice(&want[(seg + 1) * 3..]);
        assert_eq!(
            payloads(&peek_all(&j)),
            kept,
            "segment {seg} record {record}"
        );
        assert_eq!(report.records, kept.len() as u64);
        // Acknowledging everything deletes the damaged segment too.
        if let Some((last, _)) = peek_all(&j).last() {
            j.ack(*last).expect("ack");
        }
        assert!(j.is_empty());
    }
}

#[test]
fn a_damaged_segment_header_is_quarantined_and_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let want = three_segments(tmp.path());
    let files = segment_files(tmp.path());
    flip(&files[1], 3);
    let (j, report) = open(tmp.path(), opts(1 << 20, 24 + 3 * 108));
    assert_eq!(report.lost.len(), 1, "{report:?}");
    assert_eq!(report.lost[0].offset, 0);
    let mut kept = want[..3].to_vec();
    kept.extend_from_slice(&want[6..]);
    assert_eq!(payloads(&peek_all(&j)), kept);
    let mut aside = files[1].clone().into_os_string();
    aside.push(".corrupt");
    assert!(Path::new(&aside).exists());
}

#[test]
fn damage_found_after_open_is_skipped_and_appends_go_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(1 << 20, 24 + 3 * 108);
    let (j, _) = open(tmp.path(), o);
    let want = append_each(&j, 0, 5, 100);
    let files = segment_files(tmp.path());
    // The second record of the (sealed) first segment, and the active one's first record.
    flip(&files[0], HEADER_LEN + 108 + 20);
    flip(&files[1], HEADER_LEN + 20);
    let got = peek_all(&j);
    assert_eq!(payloads(&got), vec![want[0].clone()]);
    assert_eq!(j.pending_records(), 1 + 2);
    j.ack(got[0].0).expect("ack");
    assert!(peek_all(&j).is_empty());
    assert!(j.is_empty());
    let more = append_each(&j, 5, 2, 100);
    assert_eq!(payloads(&peek_all(&j)), more);
}

#[test]
fn a_damaged_cursor_falls_back_to_replaying_everything_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(1 << 20, 24 + 3 * 108);
    let want = three_segments(tmp.path());
    {
        let (j, _) = open(tmp.path(), o);
        let recs = peek_all(&j);
        j.ack(recs[4].0).expect("ack");
    }
    flip(&tmp.path().join(CURSOR_FILE), 14);
    let (j, report) = open(tmp.path(), o);
    assert!(report.cursor_reset.is_some(), "{report:?}");
    assert_eq!(report.cursor, None);
    // Segment 1 was deleted by the acknowledgement; segment 2 is replayed from its start.
    assert_eq!(payloads(&peek_all(&j)), want[3..].to_vec());
    assert!(tmp.path().join("cursor.corrupt").exists());
    let recs = peek_all(&j);
    j.ack(recs[0].0).expect("ack after reset");
    drop(j);
    let (_, report) = open(tmp.path(), o);
    assert_eq!((report.cursor_reset, report.records), (None, 5));
}

#[test]
fn unknown_versions_are_refused_with_a_typed_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(1 << 20, DEFAULT_SEGMENT_BYTES);
    let rewrite_version = |bytes: &mut [u8], crc_at: usize| {
        bytes[8] = 9;
        let crc = floe_storage_format::crc32(&bytes[..crc_at]);
        bytes[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    };
    let mut cursor = encode_cursor(Position {
        segment: 1,
        offset: 24,
    });
    rewrite_version(&mut cursor, 28);
    std::fs::write(tmp.path().join(CURSOR_FILE), cursor).expect("write");
    let err = Journal::open_with(tmp.path(), o).expect_err("cursor version 9");
    assert!(
        matches!(
            err,
            JournalError::UnsupportedVersion {
                what: "cursor",
                version: 9,
                ..
            }
        ),
        "{err}"
    );
    std::fs::remove_file(tmp.path().join(CURSOR_FILE)).expect("remove");
    let mut header = encode_header(1);
    rewrite_version(&mut header, 20);
    std::fs::write(format::segment_path(tmp.path(), 1), header).expect("write");
    let err = Journal::open_with(tmp.path(), o).expect_err("segment version 9");
    assert!(
        matches!(
            err,
            JournalError::UnsupportedVersion {
                what: "segment",
                version: 9,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn segments_roll_and_drained_ones_are_deleted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(1 << 20, 24 + 2 * 108);
    let (j, _) = open(tmp.path(), o);
    append_each(&j, 0, 10, 100);
    assert_eq!(segment_files(tmp.path()).len(), 5);
    let recs = peek_all(&j);
    assert_eq!(recs[2].0.segment, recs[0].0.segment + 1);
    j.ack(recs[2].0).expect("ack into the second segment");
    assert_eq!(segment_files(tmp.path()).len(), 4);
    j.ack(recs[9].0).expect("ack everything");
    // The active segment stays (appends continue there); the sealed ones are gone.
    assert_eq!(segment_files(tmp.path()).len(), 1);
    drop(j);
    let (j, report) = open(tmp.path(), o);
    assert_eq!(
        (report.records, report.segments, report.removed_segments),
        (0, 0, 1)
    );
    assert!(segment_files(tmp.path()).is_empty());
    append_each(&j, 10, 1, 100);
    let recs = peek_all(&j);
    assert!(recs[0].0.segment > 5, "{:?}", recs[0].0);
}

#[test]
fn ack_refuses_positions_that_do_not_end_a_pending_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(tmp.path(), opts(1 << 20, 24 + 3 * 108));
    append_each(&j, 0, 5, 100);
    let recs = peek_all(&j);
    let p = recs[1].0;
    let bad = [
        Position {
            offset: p.offset + 1,
            ..p
        },
        Position {
            offset: p.offset - 1,
            ..p
        },
        Position {
            segment: p.segment + 7,
            ..p
        },
        Position {
            segment: p.segment,
            offset: 10,
        },
        Position {
            segment: recs[4].0.segment,
            offset: recs[4].0.offset + 108,
        },
    ];
    for b in bad {
        let err = j.ack(b).expect_err("bad position");
        assert!(matches!(err, JournalError::BadAck { .. }), "{b}: {err}");
    }
    assert_eq!(j.pending_records(), 5);
    // A later, smaller peek replaces the memo: an older position is checked by reading.
    let _ = j.peek(1, usize::MAX).expect("peek");
    j.ack(recs[3].0).expect("ack from the older peek");
    assert_eq!(j.pending_records(), 1);
    j.ack(recs[2].0)
        .expect("a stale acknowledgement is a no-op");
    assert_eq!(j.pending_records(), 1);
    assert_eq!(payloads(&peek_all(&j)), vec![recs[4].1.clone()]);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(1 << 20, DEFAULT_SEGMENT_BYTES);
    let (j, _) = open(tmp.path(), o);
    let err = Journal::open_with(tmp.path(), o).expect_err("locked");
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    drop(j);
    open(tmp.path(), o);
}

#[test]
fn golden_bytes_of_format_version_1() {
    // Written out by hand from docs/journal.md, not by the encoder.
    let header: [u8; 24] = [
        b'F', b'L', b'O', b'E', b'J', b'N', b'L', 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, //
        0x82, 0x02, 0xd3, 0x37,
    ];
    let crc = floe_storage_format::crc32(&header[..20]).to_le_bytes();
    assert_eq!(header[20..], crc, "fix the crc literal: {crc:02x?}");
    assert_eq!(encode_header(1), header);
    let cursor_body: [u8; 28] = [
        b'F', b'L', b'O', b'E', b'J', b'C', b'U', b'R', 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, //
        34, 0, 0, 0, 0, 0, 0, 0,
    ];
    let pos = Position {
        segment: 1,
        offset: 34,
    };
    assert_eq!(encode_cursor(pos)[..28], cursor_body);
    // One record "hi": length 2, crc32("hi") = 0xd8932aac.
    let mut segment = header.to_vec();
    segment.extend_from_slice(&[2, 0, 0, 0, 0xac, 0x2a, 0x93, 0xd8, b'h', b'i']);
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(format::segment_path(tmp.path(), 1), &segment).expect("write");
    let (j, report) = open(tmp.path(), opts(1 << 20, DEFAULT_SEGMENT_BYTES));
    assert_eq!((report.records, report.bytes), (1, 10));
    let recs = peek_all(&j);
    assert_eq!(recs, vec![(pos, b"hi".to_vec())]);
}

#[test]
fn concurrent_appends_and_replay_lose_and_duplicate_nothing() {
    const WRITERS: u32 = 4;
    const EACH: u32 = 300;
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(1 << 20, 4096);
    let j = Arc::new(open(tmp.path(), o).0);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let j = Arc::clone(&j);
            std::thread::spawn(move || {
                for seq in 0..EACH {
                    let mut p = payload(w << 24 | seq, 20 + (seq as usize * 7) % 90);
                    p[..4].copy_from_slice(&(w << 24 | seq).to_le_bytes());
                    while let Err(JournalError::Full { .. }) = j.append(&[&p]) {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let mut next: HashMap<u32, u32> = HashMap::new();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < WRITERS * EACH {
        assert!(
            Instant::now() < deadline,
            "replay stalled after {seen} records"
        );
        let recs = j.peek(7, 2000).expect("peek");
        for (_, p) in &recs {
            let id = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
            let expected = next.entry(id >> 24).or_default();
            assert_eq!(
                id & 0xff_ffff,
                *expected,
                "writer {} out of order or duplicated",
                id >> 24
            );
            *expected += 1;
            seen += 1;
        }
        match recs.last() {
            Some((pos, _)) => j.ack(*pos).expect("ack"),
            None => std::thread::yield_now(),
        }
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert!(j.is_empty() && j.pending_bytes() == 0);
    assert!(peek_all(&j).is_empty());
    drop(j);
    let (_, report) = open(tmp.path(), o);
    assert_eq!(report.records, 0);
}

#[test]
fn a_journal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Journal>();
    check::<JournalError>();
}
