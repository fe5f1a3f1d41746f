//! Prometheus remote write 1.0 decoder: round trips, pinned bytes, zero values, stale
//! markers, metadata, every limit and every validation rule.

use floe_node::ingest::remote_write::{
    DecodedSeries, Limits, RemoteWriteError, WriteStats, compress, decode_write_protobuf,
    decode_write_request, encode_write_request, proto,
};
use floe_storage_format::{STALE_NAN_BITS, SeriesKey, is_stale_marker};
use proptest::prelude::*;
use prost::Message;

fn label(name: &str, value: &str) -> proto::Label {
    proto::Label {
        name: name.into(),
        value: value.into(),
    }
}

fn ts(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| proto::Sample { value, timestamp })
            .collect(),
        exemplars: Vec::new(),
        histograms: Vec::new(),
    }
}

fn body(timeseries: Vec<proto::TimeSeries>) -> Vec<u8> {
    compress(
        &proto::WriteRequest {
            timeseries,
            metadata: Vec::new(),
        }
        .encode_to_vec(),
    )
}

fn decode(
    timeseries: Vec<proto::TimeSeries>,
) -> Result<(Vec<DecodedSeries>, WriteStats), RemoteWriteError> {
    decode_write_request(&body(timeseries), &Limits::default())
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Round trips

fn arb_series() -> impl Strategy<Value = DecodedSeries> {
    let name = "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}";
    let labels = prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,12}", "\\PC{1,16}", 0..12);
    let value = prop_oneof![
        any::<f64>(),
        Just(f64::from_bits(STALE_NAN_BITS)),
        Just(0.0),
        Just(-0.0),
        any::<u64>().prop_map(f64::from_bits),
    ];
    let samples = prop::collection::vec((any::<i64>(), value), 1..8);
    (name, labels, samples).prop_map(|(name, labels, samples)| {
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .filter(|(n, _)| n != "__name__")
            .collect();
        labels.push(("__name__".into(), name));
        labels.sort();
        DecodedSeries { labels, samples }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// encode → decode is the identity, bit for bit, on valid series.
    #[test]
    fn encode_then_decode_is_identity(series in prop::collection::vec(arb_series(), 0..20)) {
        let (got, stats) = decode_write_request(&encode_write_request(&series), &Limits::default())
            .expect("valid series decode");
        prop_assert_eq!(got.len(), series.len());
        for (g, s) in got.iter().zip(&series) {
            prop_assert!(g.bit_eq(s), "{:?} != {:?}", g, s);
        }
        prop_assert_eq!(stats.series, series.len());
        prop_assert_eq!(stats.samples, series.iter().map(|s| s.samples.len()).sum::<usize>());
        prop_assert_eq!(stats.resorted_series, 0);
    }

    /// Whatever order the sender puts labels in, the decoded series is the same.
    #[test]
    fn label_order_does_not_matter(s in arb_series(), seed in any::<u64>()) {
        let mut shuffled = s.clone();
        let n = shuffled.labels.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(i as u64 + 0x9e37_79b9) % (i as u64 + 1)) as usize;
            shuffled.labels.swap(i, j);
        }
        let (got, _) = decode_write_request(&encode_write_request(&[shuffled]), &Limits::default())
            .expect("valid");
        prop_assert!(got[0].bit_eq(&s));
    }

    /// Decoding what decodes, re-encoded, gives the same series (the decoder's output is a
    /// fixed point).
    #[test]
    fn decoded_output_is_a_fixed_point(series in prop::collection::vec(arb_series(), 1..5)) {
        let (once, _) = decode_write_request(&encode_write_request(&series), &Limits::default())
            .expect("valid");
        let (twice, _) = decode_write_request(&encode_write_request(&once), &Limits::default())
            .expect("valid");
        for (a, b) in once.iter().zip(&twice) {
            prop_assert!(a.bit_eq(b));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pinned bytes

/// A WriteRequest encoded by hand from the field numbers of prompb/remote.proto and
/// prompb/types.proto, so that the prost attributes are checked against the schema.
#[test]
fn pinned_hand_encoded_request() {
    #[rustfmt::skip]
    let bytes: &[u8] = &[
        0x0a, 0x1e,                     // WriteRequest.timeseries (field 1, LEN), 30 bytes
          0x0a, 0x0e,                   //   TimeSeries.labels (field 1, LEN), 14 bytes
            0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', // Label.name (1)
            0x12, 0x02, b'u', b'p',     //     Label.value (field 2, LEN)
          0x12, 0x0c,                   //   TimeSeries.samples (field 2, LEN), 12 bytes
            0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // Sample.value (field 1, I64): 1.0
            0x10, 0xe8, 0x07,           //     Sample.timestamp (field 2, VARINT): 1000
    ];
    let series = DecodedSeries {
        labels: owned(&[("__name__", "up")]),
        samples: vec![(1000, 1.0)],
    };
    let encoded = snap::raw::Decoder::new()
        .decompress_vec(&encode_write_request(std::slice::from_ref(&series)))
        .expect("snappy");
    assert_eq!(encoded, bytes);
    let (got, stats) = decode_write_protobuf(bytes, &Limits::default()).expect("valid");
    assert_eq!(got, vec![series]);
    assert_eq!(
        stats,
        WriteStats {
            series: 1,
            samples: 1,
            ..WriteStats::default()
        }
    );
}

/// Proto3 omits zero values: a sample with value 0.0 and timestamp 0 is an empty message
/// (`12 00`), and decodes as (0, 0.0). `-0.0` is not zero bits: it is written and kept.
#[test]
fn omitted_zero_values_decode_as_zero() {
    #[rustfmt::skip]
    let bytes: &[u8] = &[
        0x0a, 0x14,
          0x0a, 0x0e, 0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 0x02, b'u', b'p',
          0x12, 0x00,                   // Sample {}: value 0.0, timestamp 0
          0x12, 0x00,
    ];
    let (got, _) = decode_write_protobuf(bytes, &Limits::default()).expect("valid");
    assert_eq!(got[0].samples.len(), 2);
    for &(t, v) in &got[0].samples {
        assert_eq!((t, v.to_bits()), (0, 0));
    }
    let zero = proto::Sample {
        value: 0.0,
        timestamp: 0,
    };
    assert!(zero.encode_to_vec().is_empty());
    let neg = proto::Sample {
        value: -0.0,
        timestamp: 0,
    };
    assert_eq!(neg.encode_to_vec(), [0x09, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    let back = proto::Sample::decode(&neg.encode_to_vec()[..]).expect("decodes");
    assert_eq!(back.value.to_bits(), (-0.0f64).to_bits());
}

#[test]
fn stale_marker_and_other_nans_are_kept_bit_exact() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let other_nan = f64::from_bits(0x7ff8_0000_0000_0001);
    let series = DecodedSeries {
        labels: owned(&[("__name__", "up"), ("job", "a")]),
        samples: vec![(1, 1.0), (2, stale), (3, other_nan), (4, f64::NAN)],
    };
    let (got, _) = decode_write_request(
        &encode_write_request(std::slice::from_ref(&series)),
        &Limits::default(),
    )
    .expect("valid");
    assert!(got[0].bit_eq(&series));
    assert!(is_stale_marker(got[0].samples[1].1));
    assert!(!is_stale_marker(got[0].samples[2].1));
    assert_eq!(got[0].samples[1].1.to_bits(), 0x7ff0_0000_0000_0002);
}

// ---------------------------------------------------------------------------------------
// Metadata, exemplars, histograms, empty series

#[test]
fn metadata_only_request_is_accepted() {
    let req = proto::WriteRequest {
        timeseries: Vec::new(),
        metadata: vec![
            proto::MetricMetadata {
                r#type: proto::MetricType::Counter as i32,
                metric_family_name: "http_requests_total".into(),
                help: "Requests.".into(),
                unit: String::new(),
            };
            3
        ],
    };
    let (got, stats) = decode_write_request(&compress(&req.encode_to_vec()), &Limits::default())
        .expect("metadata-only is valid");
    assert!(got.is_empty());
    assert_eq!(
        stats,
        WriteStats {
            metadata: 3,
            ..WriteStats::default()
        }
    );
}

#[test]
fn empty_request_is_accepted() {
    let (got, stats) = decode_write_request(&compress(&[]), &Limits::default()).expect("valid");
    assert!(got.is_empty());
    assert_eq!(stats, WriteStats::default());
}

#[test]
fn histograms_exemplars_and_empty_series_are_counted_and_skipped() {
    let mut with_extras = ts(&[("__name__", "latency")], &[(5, 0.5)]);
    with_extras.exemplars = vec![
        proto::Exemplar {
            labels: vec![label("trace_id", "abc")],
            value: 0.4,
            timestamp: 5,
        };
        2
    ];
    with_extras.histograms = vec![proto::Histogram {
        count: Some(proto::HistogramCount::CountInt(3)),
        sum: 1.5,
        timestamp: 5,
        ..proto::Histogram::default()
    }];
    let mut histogram_only = ts(&[("__name__", "latency_native")], &[]);
    histogram_only.histograms = vec![proto::Histogram::default(); 4];
    let empty = ts(&[("__name__", "nothing")], &[]);
    let (got, stats) = decode(vec![with_extras, histogram_only, empty]).expect("valid");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, vec![(5, 0.5)]);
    assert_eq!(
        stats,
        WriteStats {
            series: 1,
            samples: 1,
            metadata: 0,
            skipped_histograms: 5,
            skipped_exemplars: 2,
            skipped_empty_series: 2,
            resorted_series: 0,
        }
    );
}

#[test]
fn a_series_without_samples_is_still_validated() {
    let err = decode(vec![ts(&[("job", "a")], &[])]).expect_err("no metric name");
    assert!(
        matches!(err, RemoteWriteError::MissingMetricName { series: 0, .. }),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Labels: order, empties, names

#[test]
fn unsorted_labels_are_sorted_and_counted() {
    let (got, stats) = decode(vec![
        ts(
            &[("job", "a"), ("__name__", "up"), ("instance", "h:1")],
            &[(1, 1.0)],
        ),
        ts(
            &[("__name__", "up"), ("instance", "h:1"), ("job", "a")],
            &[(1, 1.0)],
        ),
    ])
    .expect("unsorted is accepted");
    assert_eq!(got[0], got[1]);
    assert_eq!(
        got[0].labels,
        owned(&[("__name__", "up"), ("instance", "h:1"), ("job", "a")])
    );
    assert_eq!(stats.resorted_series, 1);
}

#[test]
fn empty_label_values_are_dropped() {
    let (got, _) = decode(vec![ts(
        &[("__name__", "up"), ("empty", ""), ("job", "a")],
        &[(1, 1.0)],
    )])
    .expect("valid");
    assert_eq!(got[0].labels, owned(&[("__name__", "up"), ("job", "a")]));
}

#[test]
fn reserved_double_underscore_names_are_accepted() {
    let (got, _) = decode(vec![ts(
        &[("__name__", "up"), ("__meta_x", "1")],
        &[(1, 1.0)],
    )])
    .expect("the spec discourages __ names but does not forbid them");
    assert_eq!(got[0].label("__meta_x"), Some("1"));
}

#[test]
fn missing_or_empty_metric_name_is_rejected() {
    for labels in [
        &[("job", "a")][..],
        &[("__name__", ""), ("job", "a")][..],
        &[][..],
    ] {
        let err = decode(vec![
            ts(&[("__name__", "ok")], &[(1, 1.0)]),
            ts(labels, &[(1, 1.0)]),
        ])
        .expect_err("no metric name");
        assert!(
            matches!(err, RemoteWriteError::MissingMetricName { series: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("series 1 {"), "{err}");
    }
}

#[test]
fn invalid_metric_names_are_rejected() {
    for name in ["1abc", "a-b", "http.requests", "a b", "é"] {
        let err = decode(vec![ts(&[("__name__", name)], &[(1, 1.0)])]).expect_err(name);
        assert!(
            matches!(err, RemoteWriteError::InvalidMetricName { series: 0, .. }),
            "{err}"
        );
        assert_eq!(err.code(), "remote_write.invalid_metric_name");
    }
    for name in ["a", ":", "job:rate5m:sum", "_x"] {
        decode(vec![ts(&[("__name__", name)], &[(1, 1.0)])]).expect(name);
    }
}

#[test]
fn invalid_label_names_are_rejected() {
    for name in ["", "1a", "a.b", "a-b", "a:b", "ü"] {
        let err =
            decode(vec![ts(&[("__name__", "up"), (name, "x")], &[(1, 1.0)])]).expect_err(name);
        assert!(
            matches!(err, RemoteWriteError::InvalidLabelName { series: 0, .. }),
            "{name:?}: {err}"
        );
        assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
    }
    // An empty name is rejected even when its value is empty too.
    let err = decode(vec![ts(&[("__name__", "up"), ("", "")], &[(1, 1.0)])]).expect_err("empty");
    assert!(
        matches!(err, RemoteWriteError::InvalidLabelName { .. }),
        "{err}"
    );
}

#[test]
fn utf8_names_are_accepted_when_allowed() {
    let limits = Limits {
        allow_utf8_names: true,
        ..Limits::default()
    };
    let body = body(vec![ts(
        &[("__name__", "http.server.duration"), ("service.name", "ü")],
        &[(1, 1.0)],
    )]);
    let (got, _) = decode_write_request(&body, &limits).expect("UTF-8 names allowed");
    let key = got[0].to_series_key().expect("a valid Floe key");
    assert_eq!(key.name(), "http.server.duration");
    assert!(decode_write_request(&body, &Limits::default()).is_err());
    // Empty names stay invalid.
    let empty = decode_write_request(
        &self::body(vec![ts(&[("__name__", "m"), ("", "x")], &[(1, 1.0)])]),
        &limits,
    );
    assert!(matches!(
        empty,
        Err(RemoteWriteError::InvalidLabelName { .. })
    ));
}

#[test]
fn duplicate_label_names_are_rejected() {
    let cases: [&[(&str, &str)]; 3] = [
        &[("__name__", "up"), ("job", "a"), ("job", "b")],
        &[("job", "a"), ("__name__", "up"), ("job", "a")],
        &[("__name__", "up"), ("job", ""), ("job", "b")],
    ];
    for labels in cases {
        let err = decode(vec![ts(labels, &[(1, 1.0)])]).expect_err("duplicate");
        assert!(
            matches!(&err, RemoteWriteError::DuplicateLabel { series: 0, label, .. } if label == "\"job\""),
            "{err}"
        );
    }
    let err = decode(vec![ts(
        &[("__name__", "a"), ("__name__", "b")],
        &[(1, 1.0)],
    )])
    .expect_err("two names");
    assert!(
        matches!(err, RemoteWriteError::DuplicateLabel { .. }),
        "{err}"
    );
}

#[test]
fn label_values_may_be_any_utf8() {
    let v = "a\"b\\c\n😀,}={";
    let (got, _) = decode(vec![ts(&[("__name__", "up"), ("x", v)], &[(1, 1.0)])]).expect("valid");
    assert_eq!(got[0].label("x"), Some(v));
}

#[test]
fn non_utf8_strings_are_malformed_series() {
    let mut raw = proto::WriteRequest {
        timeseries: vec![ts(&[("__name__", "up"), ("x", "\u{1}")], &[(1, 1.0)])],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let at = raw.iter().position(|&b| b == 1).expect("the value byte");
    raw[at] = 0xff;
    let err = decode_write_protobuf(&raw, &Limits::default()).expect_err("not UTF-8");
    assert!(
        matches!(err, RemoteWriteError::MalformedSeries { series: 0, .. }),
        "{err}"
    );
}

#[test]
fn malformed_metadata_is_rejected() {
    // metadata (field 3) holding a field 2 string that is not UTF-8.
    let raw = [0x1a, 0x03, 0x12, 0x01, 0xff];
    let err = decode_write_protobuf(&raw, &Limits::default()).expect_err("not UTF-8");
    assert!(
        matches!(err, RemoteWriteError::MalformedMetadata { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn timestamps_and_samples_are_kept_as_sent() {
    let samples = [
        (i64::MIN, 1.0),
        (-1, 2.0),
        (5, 3.0),
        (5, 4.0),
        (3, 5.0),
        (i64::MAX, 6.0),
    ];
    let (got, _) = decode(vec![ts(&[("__name__", "up")], &samples)]).expect("valid");
    assert_eq!(got[0].samples, samples);
}

// ---------------------------------------------------------------------------------------
// Mapping onto Floe series

#[test]
fn series_key_takes_the_name_from_the_name_label() {
    let (got, _) = decode(vec![ts(
        &[
            ("job", "api"),
            ("__name__", "http_requests_total"),
            ("code", "200"),
            ("e", ""),
        ],
        &[(1, 1.0)],
    )])
    .expect("valid");
    let key = got[0].to_series_key().expect("valid key");
    assert_eq!(
        key,
        SeriesKey::new("http_requests_total", [("code", "200"), ("job", "api")]).expect("valid")
    );
    assert_eq!(
        key.to_string(),
        r#"http_requests_total{code="200",job="api"}"#
    );
}

#[test]
fn series_key_rejects_what_the_storage_format_rejects() {
    let s = DecodedSeries {
        labels: owned(&[("job", "a")]),
        samples: vec![(1, 1.0)],
    };
    let err = s.to_series_key().expect_err("no name");
    assert!(matches!(err, RemoteWriteError::SeriesKey { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------
// Limits: each at its bound passes, one past it fails and names the limit.

fn check_limit(
    limits: Limits,
    at_limit: Vec<u8>,
    over_limit: Vec<u8>,
    name: &str,
    matches: impl Fn(&RemoteWriteError) -> bool,
) {
    decode_write_request(&at_limit, &limits)
        .unwrap_or_else(|e| panic!("{name}: at the limit: {e}"));
    let err = decode_write_request(&over_limit, &limits).expect_err(name);
    assert!(matches(&err), "{name}: {err}");
    assert!(err.to_string().contains(name), "{name} not named in: {err}");
    assert!(err.is_client_error());
}

fn up(n: usize) -> Vec<proto::TimeSeries> {
    (0..n)
        .map(|i| ts(&[("__name__", "up")], &[(i as i64, 1.0)]))
        .collect()
}

#[test]
fn limit_max_compressed_bytes() {
    let b = body(up(3));
    let limits = Limits {
        max_compressed_bytes: b.len(),
        ..Limits::default()
    };
    let over = body(up(4));
    assert!(over.len() > b.len());
    check_limit(limits, b, over, "max_compressed_bytes", |e| {
        matches!(e, RemoteWriteError::BodyTooLarge { .. })
    });
}

#[test]
fn limit_max_decompressed_bytes() {
    let raw = proto::WriteRequest {
        timeseries: up(3),
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let limits = Limits {
        max_decompressed_bytes: raw.len(),
        ..Limits::default()
    };
    let mut longer = raw.clone();
    longer.extend_from_slice(&[0x10, 0x01]); // an unknown varint field: one more byte pair
    check_limit(
        limits.clone(),
        compress(&raw),
        compress(&longer),
        "max_decompressed_bytes",
        |e| matches!(e, RemoteWriteError::DecompressedTooLarge { .. }),
    );
    assert!(decode_write_protobuf(&raw, &limits).is_ok());
    assert!(matches!(
        decode_write_protobuf(&longer, &limits),
        Err(RemoteWriteError::DecompressedTooLarge { .. })
    ));
}

#[test]
fn limit_max_series_per_request() {
    let limits = Limits {
        max_series_per_request: 5,
        ..Limits::default()
    };
    check_limit(
        limits.clone(),
        body(up(5)),
        body(up(6)),
        "max_series_per_request",
        |e| matches!(e, RemoteWriteError::TooManySeries { max: 5 }),
    );
    // Series without samples count too.
    let mut empties = up(5);
    empties.push(ts(&[("__name__", "up")], &[]));
    assert!(matches!(
        decode_write_request(&body(empties), &limits),
        Err(RemoteWriteError::TooManySeries { .. })
    ));
}

#[test]
fn limit_max_samples_per_request() {
    let limits = Limits {
        max_samples_per_request: 10,
        ..Limits::default()
    };
    let many = |n: usize| {
        let samples: Vec<(i64, f64)> = (0..n as i64).map(|t| (t, 1.0)).collect();
        body(vec![
            ts(&[("__name__", "a")], &samples[..4]),
            ts(&[("__name__", "b")], &samples[4..]),
        ])
    };
    check_limit(limits, many(10), many(11), "max_samples_per_request", |e| {
        matches!(e, RemoteWriteError::TooManySamples { series: 1, max: 10 })
    });
}

#[test]
fn limit_max_labels_per_series() {
    let limits = Limits {
        max_labels_per_series: 4,
        ..Limits::default()
    };
    let with = |n: usize| {
        let names: Vec<String> = (1..n).map(|i| format!("l{i}")).collect();
        let mut labels = vec![("__name__", "up")];
        labels.extend(names.iter().map(|n| (n.as_str(), "v")));
        body(vec![ts(&labels, &[(1, 1.0)])])
    };
    check_limit(limits, with(4), with(5), "max_labels_per_series", |e| {
        matches!(
            e,
            RemoteWriteError::TooManyLabels {
                series: 0,
                count: 5,
                max: 4,
                ..
            }
        )
    });
}

#[test]
fn limit_max_label_name_len() {
    let limits = Limits {
        max_label_name_len: 8,
        ..Limits::default()
    };
    let with = |n: usize| {
        body(vec![ts(
            &[("__name__", "up"), (&"a".repeat(n), "v")],
            &[(1, 1.0)],
        )])
    };
    check_limit(limits, with(8), with(9), "max_label_name_len", |e| {
        matches!(e, RemoteWriteError::LabelNameTooLong { len: 9, max: 8, .. })
    });
}

#[test]
fn limit_max_label_value_len() {
    let limits = Limits {
        max_label_value_len: 10,
        ..Limits::default()
    };
    let with = |n: usize| {
        body(vec![ts(
            &[("__name__", "up"), ("a", &"v".repeat(n))],
            &[(1, 1.0)],
        )])
    };
    check_limit(
        limits.clone(),
        with(10),
        with(11),
        "max_label_value_len",
        |e| {
            matches!(
                e,
                RemoteWriteError::LabelValueTooLong {
                    len: 11,
                    max: 10,
                    ..
                }
            )
        },
    );
    // The metric name is a label value.
    let long_name = body(vec![ts(&[("__name__", &"m".repeat(11))], &[(1, 1.0)])]);
    assert!(matches!(
        decode_write_request(&long_name, &limits),
        Err(RemoteWriteError::LabelValueTooLong { .. })
    ));
}

#[test]
fn limit_max_series_key_bytes() {
    // Key length estimate: (name + 3) + Σ (label + 3 + value + 3): "up" and a="vvv…" is
    // 5 + 4 + (n + 3).
    let limits = Limits {
        max_series_key_bytes: 20,
        ..Limits::default()
    };
    let with = |n: usize| {
        body(vec![ts(
            &[("__name__", "up"), ("a", &"v".repeat(n))],
            &[(1, 1.0)],
        )])
    };
    check_limit(limits, with(8), with(9), "max_series_key_bytes", |e| {
        matches!(
            e,
            RemoteWriteError::SeriesKeyTooLong {
                len: 21,
                max: 20,
                ..
            }
        )
    });
}

#[test]
fn default_limits_admit_only_valid_floe_keys() {
    // The largest series the defaults admit still maps onto a SeriesKey.
    let l = Limits::default();
    let names: Vec<String> = (0..l.max_labels_per_series - 1)
        .map(|i| format!("{i:a>width$}", width = 12))
        .map(|s| format!("l{s}"))
        .collect();
    let value = "v".repeat(400);
    let mut labels = vec![("__name__", "m")];
    labels.extend(names.iter().map(|n| (n.as_str(), value.as_str())));
    let (got, _) = decode(vec![ts(&labels, &[(1, 1.0)])]).expect("within limits");
    got[0].to_series_key().expect("a valid key");
    // Too long a key is caught by the decoder, not later by the storage format.
    let value = "v".repeat(600);
    let mut labels = vec![("__name__", "m")];
    labels.extend(names.iter().map(|n| (n.as_str(), value.as_str())));
    let err = decode(vec![ts(&labels, &[(1, 1.0)])]).expect_err("key too long");
    assert!(
        matches!(err, RemoteWriteError::SeriesKeyTooLong { .. }),
        "{err}"
    );
}

#[test]
fn limits_parse_from_config_with_defaults() {
    let l: Limits = serde_json::from_str(r#"{"max_series_per_request": 7}"#).expect("parses");
    assert_eq!(
        l,
        Limits {
            max_series_per_request: 7,
            ..Limits::default()
        }
    );
}

// ---------------------------------------------------------------------------------------
// Error messages

#[test]
fn errors_name_the_series_and_stay_short() {
    let long = "x".repeat(4000);
    let err = decode(vec![
        ts(&[("__name__", "ok")], &[(1, 1.0)]),
        ts(
            &[("__name__", "up"), ("job", &long), ("1bad", "v")],
            &[(1, 1.0)],
        ),
    ])
    .expect_err("bad label name");
    let msg = err.to_string();
    assert!(msg.starts_with("series 1 {"), "{msg}");
    assert!(msg.contains("__name__=\"up\""), "{msg}");
    assert!(msg.contains("\"1bad\""), "{msg}");
    assert!(msg.contains("xxx\"…"), "{msg}");
    assert!(msg.len() < 1000, "{} bytes", msg.len());
    assert_eq!(err.code(), "remote_write.invalid_label_name");
}

#[test]
fn too_many_labels_is_refused_before_decoding_and_shows_the_first() {
    let names: Vec<String> = (0..300).map(|i| format!("l{i:03}")).collect();
    let mut labels = vec![("__name__", "m")];
    labels.extend(names.iter().map(|n| (n.as_str(), "v")));
    let err = decode(vec![ts(&labels, &[(1, 1.0)])]).expect_err("too many labels");
    assert!(
        matches!(
            err,
            RemoteWriteError::TooManyLabels {
                series: 0,
                count: 301,
                max: 128,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("series 0 {__name__=\"m\", l000=\"v\","),
        "{msg}"
    );
    assert!(
        msg.contains("l014=\"v\", …}: 301 labels exceed max_labels_per_series (128)"),
        "{msg}"
    );
    assert!(!msg.contains("l015"), "{msg}");
}

#[test]
fn snappy_errors() {
    // Not snappy; a framed-format stream (the stream identifier chunk); an empty body.
    let framed = {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut w, &proto::WriteRequest::default().encode_to_vec())
            .expect("write");
        w.into_inner().expect("flush")
    };
    for b in [&b"not snappy at all"[..], &[][..], &[0x80][..]] {
        let err = decode_write_request(b, &Limits::default()).expect_err("not a snappy block");
        assert!(matches!(err, RemoteWriteError::Snappy { .. }), "{err}");
        assert_eq!(err.code(), "remote_write.bad_snappy");
        assert!(err.is_client_error());
    }
    let err = decode_write_request(&framed, &Limits::default()).expect_err("framed format");
    assert!(err.is_client_error(), "{err}");
}
