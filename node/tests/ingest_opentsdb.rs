//! OpenTSDB decoders: telnet `put` lines and stream, `/api/put` JSON bodies and the answers
//! to them, and arbitrary input.

use floe_node::ingest::opentsdb::{
    HELP_REPLY, MAX_TIMESTAMP_MS, OpenTsdbError, OpenTsdbPoint, PutBatch, PutLimits, TelnetCommand,
    TelnetDecoder, error_response, parse_put_json, parse_telnet_line, put_flags, to_series_key,
    version_reply,
};
use floe_storage_format::MAX_LABELS;
use proptest::prelude::*;
use serde_json::{Value, json};

fn put(line: &str) -> OpenTsdbPoint {
    match parse_telnet_line(line.as_bytes()) {
        Ok(TelnetCommand::Put(p)) => p,
        other => panic!("{line:?} should be a put, got {other:?}"),
    }
}

fn err(line: &str) -> OpenTsdbError {
    match parse_telnet_line(line.as_bytes()) {
        Ok(c) => panic!("{line:?} should fail, got {c:?}"),
        Err(e) => e,
    }
}

fn tags(p: &OpenTsdbPoint) -> Vec<(&str, &str)> {
    p.tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn telnet_put() {
    let p = put("put sys.cpu.user 1356998400 42.5 host=webserver01 cpu=0");
    assert_eq!(p.metric, "sys.cpu.user");
    assert_eq!(p.timestamp_ms, 1_356_998_400_000);
    assert_eq!(p.value, 42.5);
    assert_eq!(tags(&p), [("host", "webserver01"), ("cpu", "0")]);
    let key = to_series_key(&p).expect("valid");
    assert_eq!(
        key.to_string(),
        r#"sys.cpu.user{cpu="0",host="webserver01"}"#
    );
}

#[test]
fn telnet_tolerates_double_spaces_tabs_and_crlf() {
    let want = put("put m 1479496100 1 host=a dc=b");
    for line in [
        "put  m  1479496100  1  host=a  dc=b",
        "put\tm\t1479496100\t1\thost=a\tdc=b",
        "  put m 1479496100 1 host=a dc=b  ",
        "put m 1479496100 1 host=a dc=b\r",
        "put m 1479496100 1 host=a   dc=b \r",
    ] {
        assert_eq!(put(line), want, "{line:?}");
    }
}

#[test]
fn telnet_timestamps() {
    let ts = |t: &str| put(&format!("put m {t} 1 h=a")).timestamp_ms;
    assert_eq!(ts("1479496100"), 1_479_496_100_000, "10 digits: seconds");
    assert_eq!(
        ts("1479496100000"),
        1_479_496_100_000,
        "13 digits: milliseconds"
    );
    assert_eq!(ts("1479496100.250"), 1_479_496_100_250, "seconds.millis");
    assert_eq!(ts("1479496100.25"), 1_479_496_100_250);
    assert_eq!(ts("1479496100.2"), 1_479_496_100_200);
    assert_eq!(ts("1"), 1000);
    assert_eq!(
        ts("4294967295"),
        4_294_967_295_000,
        "largest seconds value (2^32-1)"
    );
    assert_eq!(
        ts("4294967296"),
        4_294_967_296,
        "from 2^32 on: milliseconds"
    );
    assert_eq!(ts("9999999999999"), MAX_TIMESTAMP_MS);
    for bad in [
        "0",
        "-1",
        "-1479496100",
        "10000000000000",
        "99999999999999999999",
    ] {
        let e = err(&format!("put m {bad} 1 h=a"));
        assert_eq!(e.reason(), "invalid_timestamp", "{bad:?}: {e}");
    }
    for bad in [
        "notatime", "1.2345", "1.", ".5", "1e9", "0x10", "1,5", "--1",
    ] {
        let e = err(&format!("put m {bad} 1 h=a"));
        assert_eq!(e.reason(), "bad_timestamp", "{bad:?}: {e}");
    }
}

#[test]
fn telnet_values() {
    let v = |s: &str| put(&format!("put m 1479496100 {s} h=a")).value;
    assert_eq!(v("42"), 42.0);
    assert_eq!(v("-42"), -42.0);
    assert_eq!(v("1.3E3"), 1300.0);
    assert_eq!(v("1.5e-3"), 0.0015);
    assert_eq!(v("9223372036854775807"), 9.223_372_036_854_776e18);
    for bad in ["NaN", "nan", "inf", "-Infinity", "1e400"] {
        let e = err(&format!("put m 1 {bad} h=a"));
        assert_eq!(e.reason(), "non_finite_value", "{bad:?}");
    }
    for bad in ["x", "1,5", "0x1p3", "12abc"] {
        let e = err(&format!("put m 1 {bad} h=a"));
        assert_eq!(e.reason(), "bad_value", "{bad:?}");
    }
}

#[test]
fn telnet_names_and_tags() {
    // OpenTSDB's characters: ASCII letters and digits, `-_./`, Unicode letters.
    let p = put("put a-b_c.d/e 1 1 hôst=wéb-01/x ключ=значение");
    assert_eq!(p.metric, "a-b_c.d/e");
    assert_eq!(tags(&p), [("hôst", "wéb-01/x"), ("ключ", "значение")]);
    // No tags at all is accepted (OpenTSDB requires one; Floe does not need any).
    assert!(put("put m 1 1").tags.is_empty());
    // The same tag twice with the same value counts once.
    assert_eq!(tags(&put("put m 1 1 a=1 a=1")), [("a", "1")]);
    for (line, want) in [
        ("put m:x 1 1 h=a", "illegal_character"),
        ("put m 1 1 h=a:b", "illegal_character"),
        ("put m 1 1 h*=a", "illegal_character"),
        ("put m 1 1 host", "bad_tag"),
        ("put m 1 1 =a", "empty_name"),
        ("put m 1 1 h=", "empty_name"),
        ("put m 1 1 h=a=b", "illegal_character"),
        ("put m 1 1 a=1 a=2", "duplicate_tag"),
        ("put m 1 1 __name__=x", "reserved_tag"),
    ] {
        assert_eq!(err(line).reason(), want, "{line:?}");
    }
    let many: String = (0..=MAX_LABELS).map(|i| format!(" t{i}=v")).collect();
    assert_eq!(err(&format!("put m 1 1{many}")).reason(), "too_many_tags");
    let enough: String = (0..MAX_LABELS).map(|i| format!(" t{i}=v")).collect();
    assert_eq!(put(&format!("put m 1 1{enough}")).tags.len(), MAX_LABELS);
}

#[test]
fn telnet_commands() {
    let cmd = |l: &str| parse_telnet_line(l.as_bytes());
    assert_eq!(cmd("version"), Ok(TelnetCommand::Version));
    assert_eq!(cmd("help"), Ok(TelnetCommand::Help));
    assert_eq!(cmd("stats"), Ok(TelnetCommand::Stats));
    assert_eq!(cmd("exit\r"), Ok(TelnetCommand::Exit));
    assert_eq!(cmd("  version extra words"), Ok(TelnetCommand::Version));
    assert_eq!(cmd(""), Err(OpenTsdbError::Empty));
    assert_eq!(
        cmd("put"),
        Err(OpenTsdbError::NotEnoughArguments { got: 0 })
    );
    assert_eq!(
        cmd("put m 1"),
        Err(OpenTsdbError::NotEnoughArguments { got: 2 })
    );
    for c in ["rollup", "histogram", "dropcaches", "diediedie"] {
        assert_eq!(cmd(c).map_err(|e| e.reason()), Err("unsupported_command"));
    }
    assert_eq!(
        cmd("PUT m 1 1 h=a"),
        Err(OpenTsdbError::UnknownCommand {
            command: "PUT".into()
        })
    );
    assert_eq!(
        parse_telnet_line(b"put m\xff 1 1"),
        Err(OpenTsdbError::NotUtf8 { at: 5 })
    );
    assert!(HELP_REPLY.ends_with('\n'));
    assert!(!version_reply("0.1.0").trim().is_empty());
}

#[test]
fn telnet_error_replies_follow_opentsdb() {
    assert_eq!(
        err("put").telnet_reply(),
        "put: illegal argument: not enough arguments (need at least 3: metric timestamp value, got 0)\n"
    );
    assert!(
        err("put m notatime 1 h=a")
            .telnet_reply()
            .starts_with("put: invalid value: ")
    );
    assert!(
        err("put m 1 x h=a")
            .telnet_reply()
            .starts_with("put: invalid value: ")
    );
    assert_eq!(
        err("foo").telnet_reply(),
        "unknown command: foo.  Try `help'.\n"
    );
}

type Event = (u64, Result<TelnetCommand, OpenTsdbError>);

fn decode(d: &mut TelnetDecoder, chunks: &[&[u8]]) -> Vec<Event> {
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c, |n, r| out.push((n, r)));
    }
    d.finish(|n, r| out.push((n, r)));
    out
}

const STREAM: &[u8] = b"put m 1479496100 1 h=a\r\n\
    \n\
    version\n\
    put  m  1479496101  2  h=a\n\
    put m notatime 3 h=a\n\
    bogus\n\
    put m 1479496102 4 h=a";

#[test]
fn telnet_stream_counts_bad_lines_and_goes_on() {
    let mut d = TelnetDecoder::new();
    let events = decode(&mut d, &[STREAM]);
    let numbers: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(numbers, [1, 3, 4, 5, 6, 7]);
    let values: Vec<f64> = events
        .iter()
        .filter_map(|(_, r)| match r {
            Ok(TelnetCommand::Put(p)) => Some(p.value),
            _ => None,
        })
        .collect();
    assert_eq!(values, [1.0, 2.0, 4.0]);
    assert_eq!(d.accepted(), 4);
    assert_eq!(d.malformed().get("bad_timestamp"), 1);
    assert_eq!(d.malformed().get("unknown_command"), 1);
    assert_eq!(d.malformed().total(), 2);
}

#[test]
fn telnet_split_at_every_offset_decodes_identically() {
    let whole = decode(&mut TelnetDecoder::new(), &[STREAM]);
    for cut in 0..=STREAM.len() {
        let (a, b) = STREAM.split_at(cut);
        assert_eq!(
            decode(&mut TelnetDecoder::new(), &[a, b]),
            whole,
            "cut at {cut}"
        );
    }
}

#[test]
fn telnet_overlong_line_is_skipped() {
    let mut d = TelnetDecoder::with_max_line_len(100);
    let mut events = Vec::new();
    d.feed(&[b'x'; 1000], |n, r| events.push((n, r)));
    d.feed(b"\nversion\n", |n, r| events.push((n, r)));
    assert_eq!(
        events,
        [
            (1, Err(OpenTsdbError::LineTooLong { max: 100 })),
            (2, Ok(TelnetCommand::Version))
        ]
    );
    assert!(d.buffered() == 0);
}

// ---- /api/put ----

fn parse(body: &str) -> PutBatch {
    match parse_put_json(body.as_bytes(), &PutLimits::default()) {
        Ok(b) => b,
        Err(e) => panic!("{body} should parse: {e}"),
    }
}

fn body_err(body: &[u8], limits: &PutLimits) -> OpenTsdbError {
    match parse_put_json(body, limits) {
        Ok(b) => panic!("should fail, got {b:?}"),
        Err(e) => e,
    }
}

fn json_of(s: Option<String>) -> Value {
    serde_json::from_str(&s.expect("a body")).expect("JSON answer")
}

const ONE: &str = r#"{"metric":"sys.cpu.nice","timestamp":1346846400,"value":18,"tags":{"host":"web01","dc":"lga"}}"#;

#[test]
fn single_object() {
    let b = parse(ONE);
    assert!(b.is_accepted());
    assert_eq!(b.points.len(), 1);
    let p = &b.points[0];
    assert_eq!(p.metric, "sys.cpu.nice");
    assert_eq!(p.timestamp_ms, 1_346_846_400_000);
    assert_eq!(p.value, 18.0);
    assert_eq!(tags(p), [("host", "web01"), ("dc", "lga")]);
}

#[test]
fn array_of_points() {
    let body = r#"[
        {"metric":"sys.cpu.nice","timestamp":1346846400,"value":18,"tags":{"host":"web01"}},
        {"metric":"sys.cpu.nice","timestamp":1346846400123,"value":"9.5","tags":{"host":"web02"}},
        {"metric":"m","timestamp":"1346846400.5","value":1e3,"tags":{},"tsuid":"ignored"},
        {"metric":"m","timestamp":1.3468464e9,"value":-1}
    ]"#;
    let b = parse(body);
    assert!(b.is_accepted(), "{:?}", b.rejected);
    let ts: Vec<i64> = b.points.iter().map(|p| p.timestamp_ms).collect();
    assert_eq!(
        ts,
        [
            1_346_846_400_000,
            1_346_846_400_123,
            1_346_846_400_500,
            1_346_846_400_000
        ]
    );
    let values: Vec<f64> = b.points.iter().map(|p| p.value).collect();
    assert_eq!(values, [18.0, 9.5, 1000.0, -1.0]);
}

#[test]
fn responses_when_everything_is_good() {
    let b = parse(ONE);
    assert_eq!(b.response(false, false), (204, None));
    let (status, body) = b.response(false, true);
    assert_eq!(
        (status, json_of(body)),
        (200, json!({"success": 1, "failed": 0}))
    );
    let (status, body) = b.response(true, false);
    assert_eq!(
        (status, json_of(body)),
        (200, json!({"success": 1, "failed": 0, "errors": []}))
    );
    // `details` wins over `summary`.
    let (_, body) = b.response(true, true);
    assert!(json_of(body).get("errors").is_some());
}

const MIXED: &str = r#"[
    {"metric":"good","timestamp":1346846400,"value":1,"tags":{"h":"a"}},
    {"metric":"sys.cpu.nice","timestamp":1365465600,"value":"NaN","tags":{"host":"web01"}},
    {"metric":"good","timestamp":1346846400,"value":2,"tags":{"h":"b"}},
    {"metric":"","timestamp":0,"value":1},
    7
]"#;

#[test]
fn bad_points_are_reported_with_their_error_and_nothing_is_stored() {
    let b = parse(MIXED);
    assert!(!b.is_accepted());
    assert_eq!(b.points.len(), 2);
    assert_eq!(b.total(), 5);
    let errors: Vec<(usize, &str)> = b
        .rejected
        .iter()
        .map(|r| (r.index, r.error.reason()))
        .collect();
    assert_eq!(
        errors,
        [
            (1, "non_finite_value"),
            (3, "empty_name"),
            (4, "not_an_object")
        ]
    );

    let (status, body) = b.response(true, false);
    assert_eq!(status, 400);
    let body = json_of(body);
    assert_eq!(
        body["success"], 0,
        "nothing from a rejected request is stored"
    );
    assert_eq!(body["failed"], 5);
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3);
    assert_eq!(
        errors[0],
        json!({
            "datapoint": {"metric":"sys.cpu.nice","timestamp":1365465600,"value":"NaN","tags":{"host":"web01"}},
            "error": "value \"NaN\" is NaN or infinite"
        })
    );
    assert_eq!(errors[2]["datapoint"], Value::Null);

    let (status, body) = b.response(false, true);
    assert_eq!(
        (status, json_of(body)),
        (400, json!({"success": 0, "failed": 5}))
    );

    let (status, body) = b.response(false, false);
    assert_eq!(status, 400);
    let body = json_of(body);
    assert_eq!(body["error"]["code"], 400);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("data point 1"), "{message}");
    assert!(message.contains("NaN"), "{message}");
}

#[test]
fn per_point_errors() {
    let reason = |point: &str| {
        let b = parse(point);
        assert_eq!(b.rejected.len(), 1, "{point}");
        b.rejected[0].error.reason()
    };
    for (point, want) in [
        (r#"{"timestamp":1,"value":1}"#, "missing_field"),
        (r#"{"metric":"m","value":1}"#, "missing_field"),
        (r#"{"metric":"m","timestamp":1}"#, "missing_field"),
        (
            r#"{"metric":"m","timestamp":1,"value":null}"#,
            "missing_field",
        ),
        (r#"{"metric":true,"timestamp":1,"value":1}"#, "wrong_type"),
        (r#"{"metric":"m","timestamp":[1],"value":1}"#, "wrong_type"),
        (
            r#"{"metric":"m","timestamp":1,"value":{"a":1}}"#,
            "wrong_type",
        ),
        (
            r#"{"metric":"m","timestamp":1,"value":1,"tags":[]}"#,
            "wrong_type",
        ),
        (
            r#"{"metric":"m","timestamp":1,"value":1,"tags":{"a":null}}"#,
            "missing_field",
        ),
        (
            r#"{"metric":"m","timestamp":1,"value":1,"tags":{"a":{}}}"#,
            "wrong_type",
        ),
        (
            r#"{"metric":"m m","timestamp":1,"value":1}"#,
            "illegal_character",
        ),
        (
            r#"{"metric":"m","timestamp":-5,"value":1}"#,
            "invalid_timestamp",
        ),
        (
            r#"{"metric":"m","timestamp":18446744073709551615,"value":1}"#,
            "invalid_timestamp",
        ),
        (
            r#"{"metric":"m","timestamp":1.5,"value":1}"#,
            "bad_timestamp",
        ),
        (
            r#"{"metric":"m","timestamp":"x","value":1}"#,
            "bad_timestamp",
        ),
        (r#"{"metric":"m","timestamp":1,"value":""}"#, "bad_value"),
        (r#"{"metric":"m","timestamp":1,"value":"abc"}"#, "bad_value"),
        (
            r#"{"metric":"m","metric":"n","timestamp":1,"value":1}"#,
            "duplicate_field",
        ),
        (
            r#"{"metric":"m","timestamp":1,"value":1,"tags":{"a":"1","a":"2"}}"#,
            "duplicate_tag",
        ),
        (
            r#"{"metric":"m","timestamp":1,"value":1,"tags":{"__name__":"x"}}"#,
            "reserved_tag",
        ),
    ] {
        assert_eq!(reason(point), want, "{point}");
    }
    let many: Vec<String> = (0..MAX_LABELS + 5)
        .map(|i| format!(r#""t{i}":"v""#))
        .collect();
    let point = format!(
        r#"{{"metric":"m","timestamp":1,"value":1,"tags":{{{}}}}}"#,
        many.join(",")
    );
    let b = parse(&point);
    assert_eq!(
        b.rejected[0].error,
        OpenTsdbError::TooManyTags {
            count: MAX_LABELS + 5,
            max: MAX_LABELS
        }
    );
    // Only MAX_LABELS + 1 tags are kept for the answer.
    assert_eq!(
        b.rejected[0].datapoint["tags"].as_object().map(|m| m.len()),
        Some(MAX_LABELS + 1)
    );
}

#[test]
fn whole_body_errors() {
    let limits = PutLimits::default();
    assert_eq!(body_err(b"", &limits), OpenTsdbError::EmptyBody);
    assert_eq!(body_err(b" \n ", &limits), OpenTsdbError::EmptyBody);
    assert_eq!(body_err(b"[]", &limits), OpenTsdbError::NoDatapoints);
    assert_eq!(
        body_err(b"42", &limits),
        OpenTsdbError::NotObjectOrArray { found: "a number" }
    );
    assert_eq!(
        body_err(b"\"x\"", &limits),
        OpenTsdbError::NotObjectOrArray { found: "a string" }
    );
    for bad in [
        &b"{"[..],
        b"[{]",
        b"{\"metric\":\"m\"",
        b"[1,]",
        b"{} {}",
        b"\xff",
        b"[1] x",
    ] {
        let e = body_err(bad, &limits);
        assert_eq!(
            e.reason(),
            "invalid_json",
            "{:?}: {e}",
            String::from_utf8_lossy(bad)
        );
    }
    // Deep nesting: serde_json skips ignored values without recursion, so a deep but valid
    // body is one rejected point (no stack overflow), and an unbalanced one is invalid JSON.
    let depth = 1_000_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let b = parse_put_json(deep.as_bytes(), &limits).expect("valid JSON");
    assert_eq!(
        b.rejected[0].error,
        OpenTsdbError::NotAnObject { found: "an array" }
    );
    let deep_field = format!(
        r#"{{"metric":{}{},"timestamp":1,"value":1}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let b = parse_put_json(deep_field.as_bytes(), &limits).expect("valid JSON");
    assert_eq!(b.rejected[0].error.reason(), "wrong_type");
    let unbalanced = "[".repeat(depth);
    assert_eq!(
        body_err(unbalanced.as_bytes(), &limits).reason(),
        "invalid_json"
    );
    let small = PutLimits {
        max_body_bytes: 10,
        max_points: 2,
    };
    assert_eq!(
        body_err(ONE.as_bytes(), &small),
        OpenTsdbError::BodyTooLarge {
            len: ONE.len(),
            max: 10
        }
    );
    let two = PutLimits {
        max_body_bytes: 1 << 20,
        max_points: 2,
    };
    assert!(parse_put_json(format!("[{ONE},{ONE}]").as_bytes(), &two).is_ok());
    assert_eq!(
        body_err(format!("[{ONE},{ONE},{ONE}]").as_bytes(), &two),
        OpenTsdbError::TooManyPoints { max: 2 }
    );
    let (status, body) = error_response(&OpenTsdbError::TooManyPoints { max: 2 });
    assert_eq!(status, 413);
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"]["code"], 413);
    let (status, body) = error_response(&body_err(b"{", &limits));
    assert_eq!(status, 400);
    assert!(body.contains("line 1"), "{body}");
}

#[test]
fn json_values_are_read_exactly() {
    // serde_json's default parser reads these one or two ULPs off.
    for v in [
        0.10200000000000001_f64,
        9.761089746056001e-91,
        -1.0571935938564555e-143,
    ] {
        let body = format!(r#"{{"metric":"m","timestamp":1,"value":{v:?}}}"#);
        assert_eq!(parse(&body).points[0].value.to_bits(), v.to_bits(), "{v}");
    }
}

#[test]
fn query_flags() {
    assert_eq!(put_flags("details"), (true, false));
    assert_eq!(put_flags("summary"), (false, true));
    assert_eq!(put_flags("sync&details=true&summary=false"), (true, true));
    assert_eq!(put_flags("detailed"), (false, false));
}

fn point_strategy() -> impl Strategy<Value = OpenTsdbPoint> {
    (
        "[a-zA-Z0-9._/-]{1,20}",
        proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", "[a-zA-Z0-9._/-]{1,10}", 0..6),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        1i64..=MAX_TIMESTAMP_MS,
    )
        .prop_map(|(metric, tags, value, ts)| OpenTsdbPoint {
            metric,
            tags: tags.into_iter().collect(),
            value,
            // Milliseconds below 2^32 would read as seconds: keep them unambiguous.
            timestamp_ms: ts.max(1 << 32),
        })
}

fn point_json(p: &OpenTsdbPoint) -> Value {
    let tags: serde_json::Map<String, Value> = p
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    json!({"metric": p.metric, "timestamp": p.timestamp_ms, "value": p.value, "tags": tags})
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_telnet_line(&bytes);
        let mut d = TelnetDecoder::with_max_line_len(64);
        d.feed(&bytes, |_, r| { if let Ok(TelnetCommand::Put(p)) = r { let _ = p.series_key(); } });
        prop_assert!(d.buffered() <= 64);
        d.finish(|_, r| { if let Err(e) = r { let _ = e.telnet_reply(); } });
        if let Ok(b) = parse_put_json(&bytes, &PutLimits::default()) {
            let _ = b.response(true, false);
        }
    }

    #[test]
    fn json_like_input_never_panics(body in r#"[\[\]{}":,0-9a-z .\-eE]{0,120}"#) {
        match parse_put_json(body.as_bytes(), &PutLimits { max_body_bytes: 1 << 20, max_points: 4 }) {
            Ok(b) => {
                let (status, _) = b.response(true, true);
                prop_assert!(status == 200 || status == 400);
                prop_assert_eq!(b.is_accepted(), status == 200);
            }
            Err(e) => { let _ = error_response(&e); }
        }
    }

    #[test]
    fn telnet_round_trip(p in point_strategy()) {
        let tags: String = p.tags.iter().map(|(k, v)| format!("  {k}={v}")).collect();
        let line = format!("put {}\t{} {:?}{tags}\r", p.metric, p.timestamp_ms, p.value);
        prop_assert_eq!(put(&line), p);
    }

    #[test]
    fn json_round_trip(points in proptest::collection::vec(point_strategy(), 1..10)) {
        let body = Value::Array(points.iter().map(point_json).collect()).to_string();
        let b = parse_put_json(body.as_bytes(), &PutLimits::default()).expect("valid body");
        prop_assert!(b.is_accepted());
        // Values are exact, bit for bit (not serde_json's best-effort float parsing).
        let bits = |ps: &[OpenTsdbPoint]| ps.iter().map(|p| p.value.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&b.points), bits(&points));
        prop_assert_eq!(b.points, points);
    }
}
