//! Hostile remote write bodies: arbitrary bytes (raw and snappy-wrapped), truncations and
//! bit flips of valid requests, lying snappy headers. The decoder returns `Ok` or a typed
//! error and never panics.

use floe_node::ingest::remote_write::{
    DecodedSeries, Limits, RemoteWriteError, compress, decode_write_protobuf, decode_write_request,
    encode_write_request,
};
use floe_storage_format::STALE_NAN_BITS;
use proptest::prelude::*;

fn sample_request() -> Vec<DecodedSeries> {
    (0..4)
        .map(|i| DecodedSeries {
            labels: vec![
                ("__name__".into(), format!("metric_{i}")),
                ("instance".into(), format!("host-{i}:9100")),
                ("job".into(), "node".into()),
            ],
            samples: vec![
                (1_700_000_000_000 + i, i as f64),
                (1_700_000_015_000 + i, f64::from_bits(STALE_NAN_BITS)),
            ],
        })
        .collect()
}

/// Decodes and, on success, checks the output obeys the decoder's promises.
fn decode_checked(body: &[u8], snappy: bool) {
    let limits = Limits::default();
    let result = if snappy {
        decode_write_request(body, &limits)
    } else {
        decode_write_protobuf(body, &limits)
    };
    match result {
        Ok((series, stats)) => {
            assert_eq!(series.len(), stats.series);
            assert_eq!(
                series.iter().map(|s| s.samples.len()).sum::<usize>(),
                stats.samples
            );
            for s in &series {
                assert!(!s.samples.is_empty());
                assert!(
                    s.labels.windows(2).all(|w| w[0].0 < w[1].0),
                    "sorted and unique"
                );
                assert!(s.labels.iter().all(|(_, v)| !v.is_empty()));
                s.to_series_key()
                    .expect("every decoded series is a valid Floe key");
            }
            // What decodes re-encodes and decodes to the same series, bit for bit.
            let (again, _) = decode_write_request(&encode_write_request(&series), &limits)
                .expect("re-encoded output decodes");
            assert_eq!(again.len(), series.len());
            assert!(again.iter().zip(&series).all(|(a, b)| a.bit_eq(b)));
        }
        Err(e) => {
            assert!(e.is_client_error());
            assert!(!e.to_string().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_as_protobuf(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_checked(&bytes, false);
    }

    #[test]
    fn arbitrary_bytes_snappy_wrapped(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_checked(&compress(&bytes), true);
    }

    #[test]
    fn arbitrary_bytes_as_snappy(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_checked(&bytes, true);
    }

    #[test]
    fn bit_flips_of_a_valid_request(flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&encode_write_request(&sample_request()))
            .expect("snappy");
        let mut bytes = raw.clone();
        for (at, bit) in &flips {
            bytes[at.index(raw.len())] ^= 1 << bit;
        }
        decode_checked(&bytes, false);
        decode_checked(&compress(&bytes), true);
        let mut body = encode_write_request(&sample_request());
        for (at, bit) in &flips {
            let i = at.index(body.len());
            body[i] ^= 1 << bit;
        }
        decode_checked(&body, true);
    }

    /// Protobuf spliced from pieces of valid messages and random bytes.
    #[test]
    fn splices_of_valid_requests(cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..6), noise in prop::collection::vec(any::<u8>(), 0..16)) {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&encode_write_request(&sample_request()))
            .expect("snappy");
        let mut bytes = Vec::new();
        for (a, b) in &cuts {
            let (a, b) = (a.index(raw.len()), b.index(raw.len()));
            bytes.extend_from_slice(&raw[a.min(b)..a.max(b)]);
            bytes.extend_from_slice(&noise);
        }
        decode_checked(&bytes, false);
    }
}

#[test]
fn every_truncation_of_the_snappy_body_is_an_error() {
    let body = encode_write_request(&sample_request());
    for cut in 0..body.len() {
        let err = decode_write_request(&body[..cut], &Limits::default()).expect_err("truncated");
        assert!(
            matches!(err, RemoteWriteError::Snappy { .. }),
            "cut {cut}: {err}"
        );
    }
}

#[test]
fn every_truncation_of_the_protobuf_never_panics_nor_invents() {
    let series = sample_request();
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&encode_write_request(&series))
        .expect("snappy");
    let mut ok = 0;
    for cut in 0..raw.len() {
        // A cut between two series is a valid shorter request; anything else is an error.
        if let Ok((got, _)) = decode_write_protobuf(&raw[..cut], &Limits::default()) {
            ok += 1;
            assert!(got.len() < series.len());
            for (g, s) in got.iter().zip(&series) {
                assert!(g.bit_eq(s), "cut {cut}");
            }
        }
    }
    assert_eq!(
        ok,
        series.len(),
        "one valid cut per series boundary (including the empty one)"
    );
}

/// A 5-byte body whose snappy header declares ~4 GiB: rejected from the header alone.
#[test]
fn lying_snappy_header_is_rejected_before_allocation() {
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    let err = decode_write_request(&body, &Limits::default()).expect_err("too large");
    assert!(
        matches!(
            err,
            RemoteWriteError::DecompressedTooLarge {
                len: 0xffff_ffff,
                ..
            }
        ),
        "{err}"
    );
    // Just over the limit is rejected too; a header within it but with short content fails
    // in snappy, not by reading past the end.
    let limits = Limits {
        max_decompressed_bytes: 1000,
        ..Limits::default()
    };
    let over = [0xe9, 0x07, 0x00]; // declares 1001
    assert!(matches!(
        decode_write_request(&over, &limits),
        Err(RemoteWriteError::DecompressedTooLarge {
            len: 1001,
            max: 1000
        })
    ));
    let short = [0xe8, 0x07, 0x00]; // declares 1000, holds nothing
    assert!(matches!(
        decode_write_request(&short, &limits),
        Err(RemoteWriteError::Snappy { .. })
    ));
}

/// Deeply nested unknown groups and messages hit prost's recursion limit or our group
/// rejection, not the stack.
#[test]
fn deep_nesting_is_an_error() {
    // Inside a TimeSeries: an unknown field 9 of nested start groups.
    let depth = 100_000;
    let mut inner = vec![0x4b; depth]; // field 9, wire type 3 (start group), repeated
    inner.extend(std::iter::repeat_n(0x4c, depth)); // matching end groups
    let mut raw = vec![0x0a];
    let mut len = Vec::new();
    let mut n = inner.len();
    while n >= 0x80 {
        len.push((n as u8) | 0x80);
        n >>= 7;
    }
    len.push(n as u8);
    raw.extend(len);
    raw.extend(inner);
    let err = decode_write_protobuf(&raw, &Limits::default()).expect_err("too deep");
    assert!(
        matches!(err, RemoteWriteError::MalformedSeries { series: 0, .. }),
        "{err}"
    );
}
