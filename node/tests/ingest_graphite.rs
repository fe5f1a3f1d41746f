//! Graphite plaintext decoder: every format rule, stream framing (chunks, CRLF, overlong
//! lines, malformed lines), arbitrary input, and a speed figure (`--ignored`).

use floe_node::ingest::graphite::{
    GraphiteDecoder, GraphiteError, GraphiteLine, MAX_TIMESTAMP_SECS, parse_graphite_line,
    to_series_key,
};
use floe_storage_format::{MAX_LABELS, MAX_NAME_LEN};
use proptest::prelude::*;

fn ok(line: &str) -> GraphiteLine<'_> {
    match parse_graphite_line(line.as_bytes()) {
        Ok(l) => l,
        Err(e) => panic!("{line:?} should parse: {e}"),
    }
}

fn err(line: &str) -> GraphiteError {
    match parse_graphite_line(line.as_bytes()) {
        Ok(l) => panic!("{line:?} should fail, parsed as {l:?}"),
        Err(e) => e,
    }
}

fn reason(line: &str) -> &'static str {
    err(line).reason()
}

#[test]
fn plain_line() {
    let l = ok("local.random.diceroll 4 1700000000");
    assert_eq!(l.name, "local.random.diceroll");
    assert!(l.tags.is_empty());
    assert_eq!(l.value, 4.0);
    assert_eq!(l.timestamp_ms, Some(1_700_000_000_000));
}

#[test]
fn repeated_whitespace_tabs_and_crlf() {
    let want = ok("a.b 1.5 1700000000");
    for line in [
        "a.b  1.5   1700000000",
        "a.b\t1.5\t1700000000",
        " \t a.b \t 1.5 \t 1700000000 \t ",
        "a.b 1.5 1700000000\r",
        "a.b\t \t1.5 1700000000  \r",
    ] {
        assert_eq!(ok(line), want, "{line:?}");
    }
}

#[test]
fn missing_minus_one_and_zero_timestamps_mean_now() {
    for line in ["m 1", "m 1 -1", "m 1 0", "m 1 -1.0", "m 1 -1.9", "m 1 0.4"] {
        assert_eq!(ok(line).timestamp_ms, None, "{line:?}");
    }
}

#[test]
fn timestamp_forms() {
    let ts = |s: &str| ok(&format!("m 1 {s}")).timestamp_ms;
    assert_eq!(ts("1700000000"), Some(1_700_000_000_000));
    assert_eq!(ts("+1700000000"), Some(1_700_000_000_000));
    assert_eq!(ts("1700000000.5"), Some(1_700_000_000_500));
    assert_eq!(ts("1700000000.25"), Some(1_700_000_000_250));
    assert_eq!(
        ts("1700000000.123999"),
        Some(1_700_000_000_123),
        "below ms truncated"
    );
    assert_eq!(ts("1700000000."), Some(1_700_000_000_000));
    assert_eq!(ts("1.7e9"), Some(1_700_000_000_000));
    assert_eq!(ts("1"), Some(1000));
    let max = MAX_TIMESTAMP_SECS.to_string();
    assert_eq!(ts(&max), Some(MAX_TIMESTAMP_SECS * 1000));
}

#[test]
fn bad_timestamps() {
    for t in [
        "abc",
        "1700000000x",
        "1e400",
        "inf",
        "nan",
        "--1",
        "1.2.3",
        "0x10",
    ] {
        assert_eq!(reason(&format!("m 1 {t}")), "bad_timestamp", "{t:?}");
    }
    let after_max = (MAX_TIMESTAMP_SECS + 1).to_string();
    for t in [
        "-2",
        "-1700000000",
        "1700000000000",
        after_max.as_str(),
        "1e300",
    ] {
        assert_eq!(
            reason(&format!("m 1 {t}")),
            "timestamp_out_of_range",
            "{t:?}"
        );
    }
    let e = err("m 1 1700000000000").to_string();
    assert!(e.contains("milliseconds sent as seconds?"), "{e}");
}

#[test]
fn values() {
    let v = |s: &str| ok(&format!("m {s} 1700000000")).value;
    assert_eq!(v("42"), 42.0);
    assert_eq!(v("-3.25"), -3.25);
    assert_eq!(v("+7"), 7.0);
    assert_eq!(v("1e3"), 1000.0);
    assert_eq!(v("1.5E-3"), 0.0015);
    assert_eq!(v(".5"), 0.5);
    assert_eq!(v("5."), 5.0);
    assert_eq!(v("inf"), f64::INFINITY);
    assert_eq!(v("-Infinity"), f64::NEG_INFINITY);
    assert_eq!(v("1e400"), f64::INFINITY);
    for nan in ["nan", "NaN", "-nan"] {
        assert_eq!(err(&format!("m {nan} 1")), GraphiteError::NanValue, "{nan}");
    }
    for bad in ["x", "1,5", "0x10", "1_000", "--1", "1e"] {
        assert_eq!(reason(&format!("m {bad} 1")), "bad_value", "{bad:?}");
    }
}

#[test]
fn field_counts() {
    assert_eq!(err("m"), GraphiteError::FieldCount { found: 1 });
    assert_eq!(err("m 1 2 3"), GraphiteError::FieldCount { found: 4 });
    assert_eq!(err("m 1 2 3 4 5"), GraphiteError::FieldCount { found: 6 });
    assert_eq!(err(""), GraphiteError::Empty);
    assert_eq!(err(" \t \r"), GraphiteError::Empty);
}

#[test]
fn path_rules() {
    assert_eq!(ok("a 1").name, "a");
    // Any character but whitespace, `;` and control characters stays in the name as is.
    let odd = "a-b_c:d/e{f}*[g]=h@ü.😀";
    assert_eq!(ok(&format!("{odd} 1")).name, odd);
    for path in ["a..b", ".a", "a.", ".", "a...b"] {
        assert_eq!(reason(&format!("{path} 1")), "empty_segment", "{path:?}");
    }
    assert_eq!(
        err("a..b 1"),
        GraphiteError::EmptySegment {
            path: "a..b".into(),
            at: 2
        }
    );
    assert_eq!(reason(";t=v 1"), "empty_name");
    assert_eq!(reason("a\u{1}b 1"), "control_char");
    assert_eq!(reason("a\u{7f}b 1"), "control_char");
    assert_eq!(
        parse_graphite_line(b"a\xffb 1 2"),
        Err(GraphiteError::NotUtf8 { at: 1 })
    );
    let long = "a".repeat(MAX_NAME_LEN);
    assert_eq!(ok(&format!("{long} 1")).name.len(), MAX_NAME_LEN);
    assert_eq!(reason(&format!("{long}b 1")), "too_long");
}

#[test]
fn tagged_paths() {
    let l = ok("disk.used;rack=a1;datacenter=dc1;server=web01 9 1700000000");
    assert_eq!(l.name, "disk.used");
    let tags: Vec<(&str, &str)> = l.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(
        tags,
        [("rack", "a1"), ("datacenter", "dc1"), ("server", "web01")]
    );
    // `=` may appear in a value; only the first one splits.
    let l = ok("m;expr=a=b 1");
    assert_eq!(l.tags[0].1, "a=b");
    // Carbon's rules.
    for (line, want) in [
        ("m;t 1", "bad_tag"),
        ("m;=v 1", "bad_tag"),
        ("m;t= 1", "bad_tag"),
        ("m; 1", "bad_tag"),
        ("m; 1 1", "bad_tag"),
        ("m;a=1; 1", "bad_tag"),
        ("m;a!b=1 1", "bad_tag"),
        ("m;a^b=1 1", "bad_tag"),
        ("m;a=~1 1", "bad_tag"),
        ("m;name=x 1", "reserved_tag"),
        ("m;__name__=x 1", "reserved_tag"),
        ("m;a=1;a=2 1", "duplicate_tag"),
        ("m;a=1;a=1 1", "duplicate_tag"),
        ("m;a=\u{2}1 1", "control_char"),
    ] {
        assert_eq!(reason(line), want, "{line:?}");
    }
    assert_eq!(ok("m;a=1~ 1").tags[0].1, "1~");
}

#[test]
fn tag_count_limit() {
    let tags = |n: usize| (0..n).map(|i| format!(";t{i}=v")).collect::<String>();
    assert_eq!(
        ok(&format!("m{} 1", tags(MAX_LABELS))).tags.len(),
        MAX_LABELS
    );
    assert_eq!(
        err(&format!("m{} 1", tags(MAX_LABELS + 2))),
        GraphiteError::TooManyTags {
            count: MAX_LABELS + 2,
            max: MAX_LABELS
        }
    );
}

#[test]
fn series_mapping_keeps_the_path_and_sorts_labels() {
    let l = ok("servers.web01.cpu;zone=b;app=api 1 1700000000");
    let key = to_series_key(&l).expect("valid key");
    assert_eq!(key.name(), "servers.web01.cpu");
    assert_eq!(key.to_string(), r#"servers.web01.cpu{app="api",zone="b"}"#);
    // Tag order does not change the series.
    let other = ok("servers.web01.cpu;app=api;zone=b 2")
        .series_key()
        .expect("valid");
    assert_eq!(key.id(), other.id());
    // An untagged path is a series without labels.
    assert!(ok("a.b 1").series_key().expect("valid").labels().is_empty());
}

#[test]
fn errors_name_what_was_wrong() {
    assert_eq!(err("m abc 1").to_string(), r#"value "abc" is not a number"#);
    assert_eq!(
        err("m;t 1").to_string(),
        r#"tag "t": no `=` between tag name and value"#
    );
    let long_value = "x".repeat(1000);
    let msg = err(&format!("m {long_value} 1")).to_string();
    assert!(msg.len() < 120, "quoted input is cut: {msg}");
}

/// The decoder's output, owned, to compare runs.
type Event = (
    u64,
    Result<(String, Vec<(String, String)>, u64, Option<i64>), GraphiteError>,
);

fn decode(decoder: &mut GraphiteDecoder, chunks: &[&[u8]]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut push = |n: u64, r: Result<GraphiteLine<'_>, GraphiteError>| {
        let r = r.map(|l| {
            let tags = l.tags.iter().map(|(k, v)| (k.to_string(), v.to_string()));
            (
                l.name.into_owned(),
                tags.collect(),
                l.value.to_bits(),
                l.timestamp_ms,
            )
        });
        out.push((n, r));
    };
    for chunk in chunks {
        decoder.feed(chunk, &mut push);
    }
    decoder.finish(&mut push);
    out
}

const STREAM: &[u8] = b"a.b 1 1700000000\r\n\
    garbage\n\
    \n\
    c.d;t=v  2.5\t1700000001\n\
    e..f 3 1700000002\n\
    \xff\xfe 1 1\n\
    g 4 nan\n\
    h 5 1700000003";

#[test]
fn malformed_lines_are_counted_and_skipped_without_ending_the_stream() {
    let mut d = GraphiteDecoder::new();
    let events = decode(&mut d, &[STREAM]);
    let numbers: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        numbers,
        [1, 2, 4, 5, 6, 7, 8],
        "blank line 3 is skipped silently"
    );
    let good: Vec<&str> = events
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|l| l.0.as_str()))
        .collect();
    assert_eq!(good, ["a.b", "c.d", "h"]);
    assert_eq!(d.accepted(), 3);
    let m = d.malformed();
    assert_eq!(m.total(), 4);
    assert_eq!(m.get("field_count"), 1);
    assert_eq!(m.get("empty_segment"), 1);
    assert_eq!(m.get("not_utf8"), 1);
    assert_eq!(m.get("bad_timestamp"), 1);
    assert_eq!(m.get("empty"), 0);
}

#[test]
fn a_line_split_at_every_offset_parses_identically() {
    let whole = decode(&mut GraphiteDecoder::new(), &[STREAM]);
    for cut in 0..=STREAM.len() {
        let (a, b) = STREAM.split_at(cut);
        assert_eq!(
            decode(&mut GraphiteDecoder::new(), &[a, b]),
            whole,
            "cut at {cut}"
        );
    }
    for cut1 in 0..=STREAM.len() {
        for cut2 in cut1..=STREAM.len() {
            let chunks = [&STREAM[..cut1], &STREAM[cut1..cut2], &STREAM[cut2..]];
            assert_eq!(decode(&mut GraphiteDecoder::new(), &chunks), whole);
        }
    }
    let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
    assert_eq!(
        decode(&mut GraphiteDecoder::new(), &bytes),
        whole,
        "byte by byte"
    );
}

#[test]
fn overlong_lines_are_skipped_and_counted_with_bounded_memory() {
    let max = 1024;
    let mut d = GraphiteDecoder::with_max_line_len(max);
    let mut events = Vec::new();
    d.feed(b"ok.before 1 1700000000\nhuge ", |n, r| {
        events.push((n, r.map(|l| l.name.into_owned())))
    });
    // 10 MB with no newline: held bytes never exceed the maximum.
    let junk = vec![b'x'; 64 * 1024];
    for _ in 0..160 {
        d.feed(&junk, |n, r| {
            events.push((n, r.map(|l| l.name.into_owned())))
        });
        assert!(d.buffered() <= max, "buffered {}", d.buffered());
    }
    d.feed(b" 1 1\nok.after 2 1700000000\n", |n, r| {
        events.push((n, r.map(|l| l.name.into_owned())))
    });
    assert_eq!(
        events,
        [
            (1, Ok("ok.before".to_owned())),
            (2, Err(GraphiteError::LineTooLong { max })),
            (3, Ok("ok.after".to_owned())),
        ]
    );
    assert_eq!(d.malformed().get("line_too_long"), 1);
    // A line of exactly the maximum is accepted.
    let name = "n".repeat(max - 4);
    let mut d = GraphiteDecoder::with_max_line_len(max);
    let mut names = Vec::new();
    d.feed(format!("{name} 1 1\n").as_bytes(), |_, r| {
        names.push(r.map(|l| l.name.len()))
    });
    assert_eq!(names, [Ok(max - 4)]);
}

#[test]
fn last_line_without_newline_is_decoded_at_finish() {
    let mut d = GraphiteDecoder::new();
    let mut n = 0;
    d.feed(b"a 1 1700000000", |_, _| n += 1);
    assert_eq!(n, 0);
    d.finish(|_, r| {
        assert!(r.is_ok());
        n += 1
    });
    assert_eq!(n, 1);
}

fn name_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9_:-]{1,8}", 1..5).prop_map(|parts| parts.join("."))
}

fn tags_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", "[a-zA-Z0-9._-]{1,8}", 0..5)
        .prop_map(|m| m.into_iter().filter(|(k, _)| k != "name").collect())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_graphite_line(&bytes);
        let mut d = GraphiteDecoder::with_max_line_len(64);
        d.feed(&bytes, |_, r| { if let Ok(l) = r { let _ = l.series_key(); } });
        prop_assert!(d.buffered() <= 64);
        d.finish(|_, _| {});
    }

    #[test]
    fn text_like_input_never_panics(line in "[ -~\t;=.]{0,80}") {
        if let Ok(l) = parse_graphite_line(line.as_bytes()) {
            prop_assert!(!l.value.is_nan());
            let _ = to_series_key(&l);
        }
    }

    #[test]
    fn valid_lines_round_trip(
        name in name_strategy(),
        tags in tags_strategy(),
        value in any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
        secs in 1i64..=MAX_TIMESTAMP_SECS,
        millis in 0i64..1000,
    ) {
        let tag_text: String = tags.iter().map(|(k, v)| format!(";{k}={v}")).collect();
        let line = format!("{name}{tag_text}  {value:?}\t{secs}.{millis:03}\r");
        let l = parse_graphite_line(line.as_bytes()).expect("valid line");
        prop_assert_eq!(&*l.name, name.as_str());
        let got: Vec<(String, String)> =
            l.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        prop_assert_eq!(got, tags);
        prop_assert_eq!(l.value.to_bits(), value.to_bits());
        prop_assert_eq!(l.timestamp_ms, Some(secs * 1000 + millis));
        prop_assert!(l.series_key().is_ok());
    }

    #[test]
    fn any_chunking_decodes_identically(
        lines in proptest::collection::vec("[ -~\t]{0,40}", 0..20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        crlf in any::<bool>(),
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let stream = lines.join(sep).into_bytes();
        let whole = decode(&mut GraphiteDecoder::with_max_line_len(32), &[&stream]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for p in points {
            chunks.push(&stream[at..p]);
            at = p;
        }
        chunks.push(&stream[at..]);
        let split = decode(&mut GraphiteDecoder::with_max_line_len(32), &chunks);
        prop_assert_eq!(split, whole);
    }
}

/// Speed figure: `cargo test --release -p floe-node --test ingest_graphite -- --ignored
/// --nocapture`. Prints lines/s; asserts nothing about time.
#[test]
#[ignore]
fn speed_lines_per_second() {
    let n = 2_000_000;
    let mut plain = Vec::new();
    let mut tagged = Vec::new();
    for i in 0..n {
        let host = i % 1000;
        let line = format!(
            "servers.host{host}.cpu.user {}.{} {}\n",
            i % 97,
            i % 10,
            1_700_000_000 + i
        );
        plain.extend_from_slice(line.as_bytes());
        let line = format!(
            "cpu.user;host=host{host};dc=eu-{};role=web {}.5 {}\n",
            i % 3,
            i % 97,
            1_700_000_000 + i
        );
        tagged.extend_from_slice(line.as_bytes());
    }
    for (what, bytes) in [("plain", &plain), ("tagged", &tagged)] {
        for with_key in [false, true] {
            let mut d = GraphiteDecoder::new();
            let mut sum = 0.0;
            let start = std::time::Instant::now();
            for chunk in bytes.chunks(64 * 1024) {
                d.feed(chunk, |_, r| {
                    if let Ok(l) = r {
                        sum += l.value;
                        if with_key {
                            let key = l.series_key().expect("valid");
                            sum += key.labels().len() as f64;
                        }
                    }
                });
            }
            d.finish(|_, _| {});
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(d.accepted(), n as u64);
            println!(
                "graphite {what:6} {}: {:.2} M lines/s, {:.0} MB/s (checksum {sum})",
                if with_key {
                    "decode + series key"
                } else {
                    "decode             "
                },
                n as f64 / secs / 1e6,
                bytes.len() as f64 / secs / 1e6,
            );
        }
    }
}
