//! Hostile input for the frame decoder: truncation at every offset, oversized length
//! prefixes, other versions, garbage payloads and arbitrary bytes. Every case must return a
//! typed error (or a value), never panic.

use floe_wire::{
    HEADER_BYTES, MAX_FRAME_BYTES, PROTOCOL_VERSION, WireError, decode_frame, encode_frame,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Ping {
        nonce: u64,
    },
    Write {
        series: String,
        points: Vec<(i64, f64)>,
    },
}

fn sample() -> Msg {
    Msg::Write {
        series: "cpu{host=\"a\"}".into(),
        points: vec![(1, 0.5), (2, -1.0), (3, 1e9)],
    }
}

fn header(len: u32, version: u16) -> Vec<u8> {
    let mut h = len.to_le_bytes().to_vec();
    h.extend_from_slice(&version.to_le_bytes());
    h
}

#[test]
fn round_trip() {
    let frame = encode_frame(&sample()).expect("encode");
    let back: Msg = decode_frame(&frame, MAX_FRAME_BYTES).expect("decode");
    assert_eq!(back, sample());
}

#[test]
fn truncated_at_every_offset_is_a_typed_error() {
    let frame = encode_frame(&sample()).expect("encode");
    for cut in 0..frame.len() {
        let err = decode_frame::<Msg>(&frame[..cut], MAX_FRAME_BYTES).expect_err("truncated");
        match err {
            WireError::Truncated { need, have } => {
                assert_eq!(have, cut as u64);
                let want = if cut < HEADER_BYTES {
                    HEADER_BYTES
                } else {
                    frame.len()
                };
                assert_eq!(need, want as u64, "cut at {cut}");
            }
            other => panic!("cut at {cut}: expected Truncated, got {other}"),
        }
    }
}

#[test]
fn oversized_length_is_refused_from_the_header_alone() {
    // Only the 6-byte header is present: the limit is checked before any payload is needed.
    for (len, max) in [
        (u32::MAX, MAX_FRAME_BYTES),
        (MAX_FRAME_BYTES + 1, MAX_FRAME_BYTES),
        (65, 64),
    ] {
        let err = decode_frame::<Msg>(&header(len, PROTOCOL_VERSION), max).expect_err("too large");
        assert!(
            matches!(err, WireError::TooLarge { len: l, max: m } if l == u64::from(len) && m == max),
            "{err}"
        );
        assert_eq!(err.code(), "frame_too_large");
    }
}

#[test]
fn other_version_names_both() {
    let mut frame = encode_frame(&sample()).expect("encode");
    frame[4..6].copy_from_slice(&7u16.to_le_bytes());
    let err = decode_frame::<Msg>(&frame, MAX_FRAME_BYTES).expect_err("version");
    assert!(
        matches!(
            err,
            WireError::VersionMismatch {
                theirs: 7,
                ours: PROTOCOL_VERSION
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "protocol version mismatch: peer sent version 7, this build speaks {PROTOCOL_VERSION}"
        )
    );
    assert_eq!(err.code(), "version_mismatch");
}

#[test]
fn garbage_payload_is_a_decode_error() {
    let mut frame = header(4, PROTOCOL_VERSION);
    frame.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // enum tag far out of range
    let err = decode_frame::<Msg>(&frame, MAX_FRAME_BYTES).expect_err("garbage");
    assert_eq!(err.code(), "frame_decode", "{err}");
}

#[test]
fn trailing_bytes_are_refused() {
    // Inside the payload (the value is shorter than the length says) and after the frame.
    let ping = encode_frame(&Msg::Ping { nonce: 1 }).expect("encode");
    let mut inside = header((ping.len() - HEADER_BYTES + 1) as u32, PROTOCOL_VERSION);
    inside.extend_from_slice(&ping[HEADER_BYTES..]);
    inside.push(0);
    let mut after = ping.clone();
    after.push(0);
    for bytes in [inside, after] {
        let err = decode_frame::<Msg>(&bytes, MAX_FRAME_BYTES).expect_err("trailing");
        assert_eq!(err.code(), "frame_decode", "{err}");
    }
}

#[test]
fn huge_inner_length_does_not_allocate_unbounded() {
    // A vector length prefix of u32::MAX inside a small frame: postcard must fail on the
    // missing bytes, not reserve 4 G elements.
    let mut payload = vec![1u8, 0]; // Msg::Write, empty series
    payload.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // varint u32::MAX points
    let mut frame = header(payload.len() as u32, PROTOCOL_VERSION);
    frame.extend_from_slice(&payload);
    let err = decode_frame::<Msg>(&frame, MAX_FRAME_BYTES).expect_err("short");
    assert_eq!(err.code(), "frame_decode", "{err}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        // Any outcome is fine but a panic; an error is always one of the typed frame errors.
        if let Err(e) = decode_frame::<Msg>(&bytes, 1024) {
            prop_assert!(
                ["frame_truncated", "frame_too_large", "version_mismatch", "frame_decode"]
                    .contains(&e.code()),
                "{e}"
            );
        }
    }

    #[test]
    fn arbitrary_payload_behind_a_valid_header_never_panics(
        payload in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut frame = header(payload.len() as u32, PROTOCOL_VERSION);
        frame.extend_from_slice(&payload);
        if let Err(e) = decode_frame::<Msg>(&frame, MAX_FRAME_BYTES) {
            prop_assert_eq!(e.code(), "frame_decode", "{}", e);
        }
    }

    #[test]
    fn flipping_any_byte_never_panics(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut frame = encode_frame(&sample()).expect("encode");
        let i = pos.index(frame.len());
        frame[i] ^= 1 << bit;
        let _ = decode_frame::<Msg>(&frame, MAX_FRAME_BYTES);
    }

    #[test]
    fn round_trips(nonce in any::<u64>(), series in ".{0,40}",
                   points in proptest::collection::vec((any::<i64>(), any::<f64>()), 0..50)) {
        for msg in [Msg::Ping { nonce }, Msg::Write { series: series.clone(), points: points.clone() }] {
            let frame = encode_frame(&msg).expect("encode");
            let back: Msg = decode_frame(&frame, MAX_FRAME_BYTES).expect("decode");
            // f64 NaN != NaN: compare the encodings.
            prop_assert_eq!(encode_frame(&back).expect("re-encode"), frame);
        }
    }
}
