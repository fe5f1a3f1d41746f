//! Golden protobuf messages written by Google's reference protobuf runtime (Python, from the
//! schema in `tests/data/remote_write/make_golden.py`, built field by field after
//! prompb/types.proto and prompb/remote.proto). They pin the field numbers, wire types and
//! proto3 zero omission of the hand-written `prost` structs. Never regenerate them.

use floe_node::ingest::remote_write::{
    DecodedSeries, Limits, WriteStats, compress, decode_write_request, encode_write_request, proto,
};
use floe_storage_format::STALE_NAN_BITS;
use prost::Message;

fn golden(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/remote_write/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Every field of every write-side message: prost decodes the reference bytes and encodes
/// them back identically.
#[test]
fn full_write_request_round_trips_byte_for_byte() {
    let bytes = golden("write_request_full.pb");
    let req = proto::WriteRequest::decode(&bytes[..]).expect("reference bytes decode");
    assert_eq!(req.encode_to_vec(), bytes);

    let first = &req.timeseries[0];
    assert_eq!(
        first.labels[1],
        proto::Label {
            name: "code".into(),
            value: "200".into()
        }
    );
    let bits: Vec<(i64, u64)> = first
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value.to_bits()))
        .collect();
    assert_eq!(
        bits,
        [
            (1_700_000_000_000, 1.5f64.to_bits()),
            (0, 0),
            (-1, (-0.0f64).to_bits()),
            (1_700_000_015_000, STALE_NAN_BITS),
        ]
    );
    let ex = &first.exemplars[0];
    assert_eq!((ex.value, ex.timestamp), (2.0, 1_700_000_000_001));
    assert_eq!(ex.labels[0].name, "trace_id");

    let h = &req.timeseries[2].histograms[0];
    assert_eq!(h.count, Some(proto::HistogramCount::CountInt(3)));
    assert_eq!((h.sum, h.schema, h.zero_threshold), (0.75, -1, 0.001));
    assert_eq!(
        h.zero_count,
        Some(proto::HistogramZeroCount::ZeroCountInt(1))
    );
    assert_eq!(
        h.positive_spans,
        [proto::BucketSpan {
            offset: -2,
            length: 2
        }]
    );
    assert_eq!(h.positive_deltas, [1, -1]);
    assert_eq!(h.reset_hint, proto::ResetHint::No as i32);
    assert_eq!(h.timestamp, 1_700_000_000_000);

    let md = &req.metadata[0];
    assert_eq!(md.r#type, proto::MetricType::Counter as i32);
    assert_eq!(
        (
            md.metric_family_name.as_str(),
            md.help.as_str(),
            md.unit.as_str()
        ),
        ("http_requests_total", "Requests.", "")
    );
}

#[test]
fn full_write_request_decodes() {
    let body = compress(&golden("write_request_full.pb"));
    let (series, stats) = decode_write_request(&body, &Limits::default()).expect("valid");
    assert_eq!(
        stats,
        WriteStats {
            series: 2,
            samples: 5,
            metadata: 1,
            skipped_histograms: 1,
            skipped_exemplars: 1,
            skipped_empty_series: 1,
            resorted_series: 0,
        }
    );
    let expected = [
        DecodedSeries {
            labels: owned(&[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("job", "api"),
            ]),
            samples: vec![
                (1_700_000_000_000, 1.5),
                (0, 0.0),
                (-1, -0.0),
                (1_700_000_015_000, f64::from_bits(STALE_NAN_BITS)),
            ],
        },
        DecodedSeries {
            labels: owned(&[("__name__", "up")]),
            samples: vec![(0, 0.0)],
        },
    ];
    for (got, want) in series.iter().zip(&expected) {
        assert!(got.bit_eq(want), "{got:?} != {want:?}");
    }
}

/// The encoder writes exactly what the reference runtime writes.
#[test]
fn encoder_matches_the_reference_runtime() {
    let series = [
        DecodedSeries {
            labels: owned(&[("__name__", "cpu"), ("host", "a")]),
            samples: vec![(1000, 0.5), (2000, 0.0)],
        },
        DecodedSeries {
            labels: owned(&[("__name__", "mem")]),
            samples: vec![(0, -2.0)],
        },
    ];
    let encoded = snap::raw::Decoder::new()
        .decompress_vec(&encode_write_request(&series))
        .expect("snappy block");
    assert_eq!(encoded, golden("write_request_floats.pb"));
}

/// Remote read request and response: every field of ReadRequest, Query, LabelMatcher,
/// ReadHints, ReadResponse and QueryResult.
#[test]
fn remote_read_messages_round_trip_byte_for_byte() {
    let bytes = golden("read_request.pb");
    let req = proto::ReadRequest::decode(&bytes[..]).expect("decodes");
    assert_eq!(req.encode_to_vec(), bytes);
    let expected = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: 1000,
            end_timestamp_ms: 2000,
            matchers: vec![
                proto::LabelMatcher {
                    r#type: proto::MatchType::Eq as i32,
                    name: "__name__".into(),
                    value: "up".into(),
                },
                proto::LabelMatcher {
                    r#type: proto::MatchType::Nre as i32,
                    name: "job".into(),
                    value: "a.*".into(),
                },
            ],
            hints: Some(proto::ReadHints {
                step_ms: 15_000,
                func: "rate".into(),
                start_ms: 1000,
                end_ms: 2000,
                grouping: vec!["job".into(), "instance".into()],
                by: true,
                range_ms: 300_000,
            }),
        }],
        accepted_response_types: vec![
            proto::ResponseType::StreamedXorChunks as i32,
            proto::ResponseType::Samples as i32,
        ],
    };
    assert_eq!(req, expected);

    let bytes = golden("read_response.pb");
    let resp = proto::ReadResponse::decode(&bytes[..]).expect("decodes");
    assert_eq!(resp.encode_to_vec(), bytes);
    let series = &resp.results[0].timeseries[0];
    assert_eq!(series.labels[0].value, "up");
    assert_eq!(
        (series.samples[0].timestamp, series.samples[0].value),
        (1500, 1.0)
    );
}
