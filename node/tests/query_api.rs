//! The Prometheus HTTP query API and remote read against a real `floed` process: exact
//! answers of the label, series and status endpoints, Prometheus's error messages, hostile
//! input, remote read round trips, and PromQL instant and range queries.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use floe_node::ingest::remote_write::{DecodedSeries, compress, encode_write_request, proto};
use prost::Message;
use support::floed::{Floed, Response, request};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// Percent-encodes every byte but the unreserved ones.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get(f: &Floed, path: &str) -> Response {
    request(f.http, "GET", path, &[], b"")
}

fn post_form(f: &Floed, path: &str, body: &[u8]) -> Response {
    request(f.http, "POST", path, &[FORM], body)
}

/// Asserts status and exact body.
fn exact(r: &Response, status: u16, body: &str) {
    assert_eq!((r.status, r.text().as_str()), (status, body));
}

/// Asserts a Prometheus error answer: status, `errorType`, and the exact message.
fn error(r: &Response, status: u16, error_type: &str, message: &str) {
    let body = format!(
        "{{\"status\":\"error\",\"errorType\":\"{error_type}\",\"error\":{}}}",
        serde_json::to_string(message).expect("json")
    );
    exact(r, status, &body);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// Asserts a 4xx `bad_data` answer whose message contains `part`.
fn bad_data_containing(r: &Response, part: &str) {
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", r.status, r.text()));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data", "{}", r.text());
    let msg = v["error"].as_str().expect("error message");
    assert!(msg.contains(part), "{part:?} not in {msg:?}");
}

/// A whole minute ten minutes ago, in ms, so timestamps print without fractions.
fn base_ms() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    (now / 60_000 - 10) * 60_000
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> DecodedSeries {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    labels.sort();
    DecodedSeries {
        labels,
        samples: samples.to_vec(),
    }
}

/// `up{job=api,instance=a}` 1,1,0 and `up{job=db,instance=b}` 1,1,1 at base, +15 s, +30 s;
/// `temp_celsius{room=x}` 21.5 at base.
fn start_with_data(dir: &std::path::Path, extra: &[&str]) -> (Floed, i64) {
    let floed = Floed::start(&dir.join("data"), extra);
    let b = base_ms();
    let body = encode_write_request(&[
        series(
            &[("__name__", "up"), ("job", "api"), ("instance", "a")],
            &[(b, 1.0), (b + 15_000, 1.0), (b + 30_000, 0.0)],
        ),
        series(
            &[("__name__", "up"), ("job", "db"), ("instance", "b")],
            &[(b, 1.0), (b + 15_000, 1.0), (b + 30_000, 1.0)],
        ),
        series(&[("__name__", "temp_celsius"), ("room", "x")], &[(b, 21.5)]),
    ]);
    let r = request(floed.http, "POST", "/api/v1/write", &[], &body);
    assert_eq!(r.status, 204, "{}", r.text());
    (floed, b)
}

#[test]
fn label_series_and_status_endpoints_answer_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (f, b) = start_with_data(dir.path(), &[]);
    let ok = |data: &str| format!("{{\"status\":\"success\",\"data\":{data}}}");
    let names = ok(r#"["__name__","instance","job","room"]"#);
    exact(&get(&f, "/api/v1/labels"), 200, &names);
    exact(&post_form(&f, "/api/v1/labels", b""), 200, &names);
    exact(
        &get(&f, "/api/v1/label/job/values"),
        200,
        &ok(r#"["api","db"]"#),
    );
    let metric_names = ok(r#"["temp_celsius","up"]"#);
    exact(
        &get(&f, "/api/v1/label/__name__/values"),
        200,
        &metric_names,
    );
    exact(&get(&f, "/api/v1/label/nope/values"), 200, &ok("[]"));
    let path = format!(
        "/api/v1/label/instance/values?match[]={}",
        enc("up{job=\"api\"}")
    );
    exact(&get(&f, &path), 200, &ok(r#"["a"]"#));
    let path = format!("/api/v1/labels?match[]={}", enc("temp_celsius"));
    exact(&get(&f, &path), 200, &ok(r#"["__name__","room"]"#));

    let ups = ok(concat!(
        r#"[{"__name__":"up","instance":"a","job":"api"},"#,
        r#"{"__name__":"up","instance":"b","job":"db"}]"#
    ));
    exact(&get(&f, "/api/v1/series?match[]=up"), 200, &ups);
    exact(
        &post_form(&f, "/api/v1/series", b"match%5B%5D=up"),
        200,
        &ups,
    );
    let two = format!(
        "/api/v1/series?match[]={}&match[]={}",
        enc("up{job=~\"d.*\"}"),
        enc("{room=\"x\"}")
    );
    let both = ok(concat!(
        r#"[{"__name__":"temp_celsius","room":"x"},"#,
        r#"{"__name__":"up","instance":"b","job":"db"}]"#
    ));
    exact(&get(&f, &two), 200, &both);
    let limited = format!("{}&limit=1", two);
    let first_only = r#"{"status":"success","data":[{"__name__":"temp_celsius","room":"x"}],"warnings":["results truncated due to limit"]}"#;
    exact(&get(&f, &limited), 200, first_only);

    // Time ranges: RFC 3339 and unix seconds; only series with samples in the range.
    let y2000 = "start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00.5%2B01:00";
    exact(
        &get(&f, &format!("/api/v1/series?match[]=up&{y2000}")),
        200,
        &ok("[]"),
    );
    exact(&get(&f, &format!("/api/v1/labels?{y2000}")), 200, &ok("[]"));
    let after_temp = format!("start={}.001&end={}", b / 1000, b / 1000 + 60);
    let path = format!("/api/v1/label/__name__/values?{after_temp}");
    exact(&get(&f, &path), 200, &ok(r#"["up"]"#));

    let version = env!("CARGO_PKG_VERSION");
    let build = format!(
        r#"{{"version":"{version}","revision":"unknown","branch":"unknown","buildUser":"floe","buildDate":"unknown","goVersion":"none (floe is written in Rust)"}}"#
    );
    exact(&get(&f, "/api/v1/status/buildinfo"), 200, &ok(&build));
    exact(&get(&f, "/api/v1/metadata"), 200, &ok("{}"));
    exact(&get(&f, "/api/v1/status/flags"), 200, &ok("{}"));
    exact(
        &get(&f, "/api/v1/status/config"),
        200,
        &ok(r#"{"yaml":""}"#),
    );
    let info = get(&f, "/api/v1/status/runtimeinfo");
    let v: serde_json::Value = serde_json::from_slice(&info.body).expect("json");
    assert_eq!(v["data"]["storageRetention"], "15d", "{}", info.text());
    assert!(
        v["data"]["startTime"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );

    let metrics = get(&f, "/metrics").text();
    for line in [
        "floe_queries_total{endpoint=\"series\",outcome=\"success\"} 5",
        "floe_queries_total{endpoint=\"labels\",outcome=\"success\"} 4",
        "floe_query_duration_seconds_count{endpoint=\"label_values\"} 5",
        "# TYPE floe_query_duration_seconds histogram",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    f.stop(&[]);
}

#[test]
fn bad_parameters_get_prometheus_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (f, _) = start_with_data(dir.path(), &[]);
    let q = "/api/v1/query";
    let qr = "/api/v1/query_range?query=up";
    bad_data_containing(&get(&f, q), "invalid parameter \"query\"");
    bad_data_containing(&post_form(&f, q, b"query="), "invalid parameter \"query\"");
    bad_data_containing(
        &get(&f, "/api/v1/query?query=up{"),
        "invalid parameter \"query\"",
    );
    let bad_time = "invalid parameter \"time\": invalid time value for 'time': cannot parse \"abc\" to a valid timestamp";
    error(
        &get(&f, "/api/v1/query?query=up&time=abc"),
        400,
        "bad_data",
        bad_time,
    );
    let bad_timeout = "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration";
    error(
        &get(&f, "/api/v1/query?query=up&timeout=soon"),
        400,
        "bad_data",
        bad_timeout,
    );
    let no_start = "invalid parameter \"start\": cannot parse \"\" to a valid timestamp";
    error(&get(&f, qr), 400, "bad_data", no_start);
    let no_end = "invalid parameter \"end\": cannot parse \"x\" to a valid timestamp";
    error(
        &get(&f, &format!("{qr}&start=1&end=x")),
        400,
        "bad_data",
        no_end,
    );
    let backwards = "end timestamp must not be before start time";
    error(
        &get(&f, &format!("{qr}&start=10&end=5&step=1")),
        400,
        "bad_data",
        backwards,
    );
    let no_step = "invalid parameter \"step\": cannot parse \"\" to a valid duration";
    error(
        &get(&f, &format!("{qr}&start=1&end=5")),
        400,
        "bad_data",
        no_step,
    );
    let bad_step = "invalid parameter \"step\": cannot parse \"1x\" to a valid duration";
    error(
        &get(&f, &format!("{qr}&start=1&end=5&step=1x")),
        400,
        "bad_data",
        bad_step,
    );
    let zero =
        "zero or negative query resolution step widths are not accepted. Try a positive integer";
    for step in ["0", "-15", "0s"] {
        let path = format!("{qr}&start=1&end=5&step={step}");
        error(&get(&f, &path), 400, "bad_data", zero);
    }
    let points = "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)";
    error(
        &get(&f, &format!("{qr}&start=0&end=11001&step=1")),
        400,
        "bad_data",
        points,
    );
    // Prometheus limits `(end - start) / step`: 11,001 points are 11,000 steps.
    let r = get(&f, &format!("{qr}&start=0&end=11000&step=1"));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = b"query=up&start=0&end=110010&step=10s";
    error(
        &post_form(&f, "/api/v1/query_range", body),
        400,
        "bad_data",
        points,
    );

    let no_match = "no match[] parameter provided";
    error(&get(&f, "/api/v1/series"), 400, "bad_data", no_match);
    for sel in [
        "{job=\"\"}",
        "{job=~\".*\"}",
        "{__name__=~\".*\",job!=\"x\"}",
    ] {
        let path = format!("/api/v1/series?match[]={}", enc(sel));
        bad_data_containing(&get(&f, &path), "non-empty matcher");
        let path = format!("/api/v1/labels?match[]={}", enc(sel));
        bad_data_containing(&get(&f, &path), "non-empty matcher");
    }
    let path = format!("/api/v1/series?match[]={}", enc("up{"));
    bad_data_containing(&get(&f, &path), "invalid parameter \"match[]\"");
    let path = format!("/api/v1/series?match[]={}", enc("rate(up[5m])"));
    bad_data_containing(&get(&f, &path), "not a series selector");
    let path = "/api/v1/series?match[]=up&start=yesterday";
    bad_data_containing(&get(&f, path), "invalid parameter \"start\"");
    bad_data_containing(
        &get(&f, "/api/v1/labels?limit=-1"),
        "invalid parameter \"limit\"",
    );

    let unknown = "unknown API endpoint GET /api/v1/nope";
    error(&get(&f, "/api/v1/nope"), 404, "not_found", unknown);
    assert_eq!(get(&f, "/nope").status, 404);
    assert_eq!(
        request(f.http, "DELETE", "/api/v1/query", &[], b"").status,
        405
    );

    let metrics = get(&f, "/metrics").text();
    let line = "floe_queries_total{endpoint=\"query_range\",outcome=\"bad_data\"} 10";
    assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    f.stop(&[]);
}

#[test]
fn hostile_input_is_refused_with_4xx_and_never_crashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (f, _) = start_with_data(dir.path(), &[]);
    // Bytes that are not UTF-8, raw and percent-encoded, and broken escapes.
    let r = post_form(&f, "/api/v1/query", b"query=up\xff\xfe");
    bad_data_containing(&r, "invalid parameter \"query\": not valid UTF-8");
    let r = post_form(&f, "/api/v1/query", b"query=%C3%28");
    bad_data_containing(&r, "invalid parameter \"query\": not valid UTF-8");
    let r = post_form(&f, "/api/v1/series", b"match%5B%5D=%ff");
    bad_data_containing(&r, "invalid parameter \"match[]\": not valid UTF-8");
    let r = post_form(&f, "/api/v1/query", b"query=%zzup");
    bad_data_containing(&r, "invalid URL escape \"%zz\"");
    bad_data_containing(
        &get(&f, "/api/v1/query?query=up%00"),
        "invalid parameter \"query\"",
    );

    // Huge query strings and selectors.
    let huge = format!("query={}", "a".repeat(200_000));
    bad_data_containing(
        &post_form(&f, "/api/v1/query", huge.as_bytes()),
        "more than the limit",
    );
    let huge = format!("match%5B%5D={}", "a".repeat(200_000));
    bad_data_containing(
        &post_form(&f, "/api/v1/series", huge.as_bytes()),
        "more than the limit",
    );
    let huge = format!("query={}&start=1&end=2&step=1", "a".repeat(200_000));
    let r = post_form(&f, "/api/v1/query_range", huge.as_bytes());
    bad_data_containing(&r, "more than the limit");

    // Deep nesting, within the length limit: answered (or refused) without a crash.
    for text in [
        format!("{}up{}", "(".repeat(20_000), ")".repeat(20_000)),
        format!("{}up", "-".repeat(60_000)),
        format!("{}up{}", "sum(".repeat(12_000), ")".repeat(12_000)),
        format!("up{}", "+up".repeat(20_000)),
    ] {
        let body = format!("query={}&time=1", enc(&text));
        let r = post_form(&f, "/api/v1/query", body.as_bytes());
        assert!(
            r.status == 200 || (400..500).contains(&r.status),
            "{} for {:.40}…: {:.300}",
            r.status,
            text,
            r.text()
        );
    }
    let deep = format!("{}up{}", "(".repeat(1_200), ")".repeat(1_200));
    let body = format!("query={}&time=1", enc(&deep));
    let r = post_form(&f, "/api/v1/query", body.as_bytes());
    bad_data_containing(&r, "expression nested more than 1000 levels deep");
    // Just within the limit: evaluated (the query thread's stack holds the recursion).
    let nested = format!("{}up{}", "-(".repeat(450), ")".repeat(450));
    let body = format!("query={}&time=1", enc(&nested));
    let r = post_form(&f, "/api/v1/query", body.as_bytes());
    exact(
        &r,
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
    );
    assert_eq!(get(&f, "/healthz").status, 200, "floed survived");

    // Remote read: garbage, an empty body, and a body that claims a huge size.
    for body in [
        &b"garbage"[..],
        b"",
        &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00][..],
    ] {
        let r = request(f.http, "POST", "/api/v1/read", &[], body);
        assert_eq!(r.status, 400, "{}", r.text());
    }
    f.stop(&[]);
}

fn read_request(queries: Vec<proto::Query>, accepted: &[proto::ResponseType]) -> Vec<u8> {
    let req = proto::ReadRequest {
        queries,
        accepted_response_types: accepted.iter().map(|&t| t as i32).collect(),
    };
    compress(&req.encode_to_vec())
}

fn query(start: i64, end: i64, matchers: &[(proto::MatchType, &str, &str)]) -> proto::Query {
    proto::Query {
        start_timestamp_ms: start,
        end_timestamp_ms: end,
        matchers: matchers
            .iter()
            .map(|&(t, name, value)| proto::LabelMatcher {
                r#type: t as i32,
                name: name.into(),
                value: value.into(),
            })
            .collect(),
        hints: None,
    }
}

fn decode_read_response(r: &Response) -> proto::ReadResponse {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-encoding"), Some("snappy"));
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&r.body)
        .expect("snappy");
    proto::ReadResponse::decode(&raw[..]).expect("protobuf")
}

/// `(labels, [(ts, value bits)])` of every series of every result.
type Flat = Vec<Vec<(Vec<(String, String)>, Vec<(i64, u64)>)>>;

fn flatten(resp: &proto::ReadResponse) -> Flat {
    resp.results
        .iter()
        .map(|res| {
            res.timeseries
                .iter()
                .map(|ts| {
                    let labels = ts
                        .labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect();
                    let samples = ts
                        .samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect();
                    (labels, samples)
                })
                .collect()
        })
        .collect()
}

#[test]
fn remote_read_returns_exactly_the_written_samples() {
    use proto::MatchType::{Eq, Re};
    use proto::ResponseType::{Samples, StreamedXorChunks};
    let dir = tempfile::tempdir().expect("tempdir");
    let (f, b) = start_with_data(dir.path(), &[]);
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let odd = [
        (b, -0.0),
        (b + 1, 1e-300),
        (b + 2, stale),
        (b + 3, f64::INFINITY),
    ];
    let body = encode_write_request(&[series(&[("__name__", "rr"), ("k", "v")], &odd)]);
    assert_eq!(
        request(f.http, "POST", "/api/v1/write", &[], &body).status,
        204
    );

    let req = read_request(
        vec![
            query(b, b + 3, &[(Eq, "__name__", "rr")]),
            query(
                b + 15_000,
                b + 30_000,
                &[(Eq, "__name__", "up"), (Re, "job", "a.*")],
            ),
            query(b, b + 60_000, &[(Eq, "__name__", "nothing")]),
        ],
        &[StreamedXorChunks, Samples],
    );
    let got = flatten(&decode_read_response(&request(
        f.http,
        "POST",
        "/api/v1/read",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
        ],
        &req,
    )));
    let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let bits = |s: &[(i64, f64)]| -> Vec<(i64, u64)> {
        s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    };
    let want: Flat = vec![
        vec![(l(&[("__name__", "rr"), ("k", "v")]), bits(&odd))],
        vec![(
            l(&[("__name__", "up"), ("instance", "a"), ("job", "api")]),
            bits(&[(b + 15_000, 1.0), (b + 30_000, 0.0)]),
        )],
        vec![],
    ];
    assert_eq!(got, want);

    // No accepted types means SAMPLES; only chunks is refused; so is a match-everything query.
    let req = read_request(vec![query(b, b + 3, &[(Eq, "__name__", "rr")])], &[]);
    let got = flatten(&decode_read_response(&request(
        f.http,
        "POST",
        "/api/v1/read",
        &[],
        &req,
    )));
    assert_eq!(got[0][0].1, bits(&odd));
    let req = read_request(
        vec![query(b, b + 3, &[(Eq, "__name__", "rr")])],
        &[StreamedXorChunks],
    );
    let r = request(f.http, "POST", "/api/v1/read", &[], &req);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("STREAMED_XOR_CHUNKS"), "{}", r.text());
    let req = read_request(vec![query(b, b + 3, &[(Re, "job", ".*")])], &[Samples]);
    let r = request(f.http, "POST", "/api/v1/read", &[], &req);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("every series"), "{}", r.text());
    let req = read_request(vec![query(b, b + 3, &[(Re, "job", "a(")])], &[Samples]);
    let r = request(f.http, "POST", "/api/v1/read", &[], &req);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("bad regex"), "{}", r.text());
    f.stop(&[]);
}

#[test]
fn limits_and_timeouts_are_refused_naming_them() {
    use proto::MatchType::Eq;
    let dir = tempfile::tempdir().expect("tempdir");
    let flags = ["--query-max-samples", "3", "--query-max-steps", "10"];
    let (f, b) = start_with_data(dir.path(), &flags);
    let req = read_request(vec![query(b, b + 60_000, &[(Eq, "__name__", "up")])], &[]);
    let r = request(f.http, "POST", "/api/v1/read", &[], &req);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("max_samples"), "{}", r.text());

    let (start, end) = (b / 1000, b / 1000 + 30);
    let range = format!("/api/v1/query_range?query=up&start={start}&end={end}&step=15");
    let r = get(&f, &range);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        (r.status, &v["errorType"]),
        (422, &"execution".into()),
        "{}",
        r.text()
    );
    assert!(r.text().contains("max_samples"), "{}", r.text());
    let points = "exceeded maximum resolution of 10 points per timeseries. Try decreasing the query resolution (?step=XX)";
    let path = format!(
        "/api/v1/query_range?query=up&start={start}&end={}&step=1",
        start + 11
    );
    error(&get(&f, &path), 400, "bad_data", points);

    let path = format!("/api/v1/query?query=up&time={end}&timeout=0.000001");
    let r = get(&f, &path);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        (r.status, &v["errorType"]),
        (503, &"timeout".into()),
        "{}",
        r.text()
    );
    let metrics = get(&f, "/metrics").text();
    for line in [
        "floe_queries_total{endpoint=\"read\",outcome=\"execution\"} 1",
        "floe_queries_total{endpoint=\"query_range\",outcome=\"execution\"} 1",
        "floe_queries_total{endpoint=\"query\",outcome=\"timeout\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    f.stop(&[]);
}

/// Prometheus's JSON of one series' points.
fn points(b: i64, pts: &[(i64, &str)]) -> String {
    let items: Vec<String> = pts
        .iter()
        .map(|&(dt, v)| format!("[{},\"{v}\"]", (b + dt) / 1000))
        .collect();
    items.join(",")
}

#[test]
fn instant_and_range_queries_evaluate_promql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (f, b) = start_with_data(dir.path(), &[]);
    let t = b + 30_000;
    let ok = |data: String| format!("{{\"status\":\"success\",\"data\":{data}}}");
    let sel = enc("up{job=\"api\"}");
    let vector = |at: i64, v: &str| {
        ok(format!(
            r#"{{"resultType":"vector","result":[{{"metric":{{"__name__":"up","instance":"a","job":"api"}},"value":[{},"{v}"]}}]}}"#,
            at / 1000
        ))
    };
    // GET with unix seconds, POST form-encoded with a fraction.
    let r = get(&f, &format!("/api/v1/query?query={sel}&time={}", t / 1000));
    exact(&r, 200, &vector(t, "0"));
    let body = format!("query={sel}&time={}.000", t / 1000);
    exact(
        &post_form(&f, "/api/v1/query", body.as_bytes()),
        200,
        &vector(t, "0"),
    );
    let earlier = t - 15_000;
    let r = get(
        &f,
        &format!("/api/v1/query?query={sel}&time={}", earlier / 1000),
    );
    exact(&r, 200, &vector(earlier, "1"));

    let sum = enc("sum by (job) (up)");
    let r = get(&f, &format!("/api/v1/query?query={sum}&time={}", t / 1000));
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let mut got: Vec<String> = v["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|x| format!("{} {}", x["metric"], x["value"]))
        .collect();
    got.sort();
    let ts = t / 1000;
    assert_eq!(
        got,
        [
            format!("{{\"job\":\"api\"}} [{ts},\"0\"]"),
            format!("{{\"job\":\"db\"}} [{ts},\"1\"]"),
        ]
    );
    assert_eq!(v["data"]["resultType"], "vector");

    let range = format!(
        "/api/v1/query_range?query={sel}&start={}&end={}&step=15s",
        b / 1000,
        t / 1000
    );
    let matrix = ok(format!(
        r#"{{"resultType":"matrix","result":[{{"metric":{{"__name__":"up","instance":"a","job":"api"}},"values":[{}]}}]}}"#,
        points(b, &[(0, "1"), (15_000, "1"), (30_000, "0")])
    ));
    exact(&get(&f, &range), 200, &matrix);
    let body = format!("query={sel}&start={}&end={}&step=15", b / 1000, t / 1000);
    exact(
        &post_form(&f, "/api/v1/query_range", body.as_bytes()),
        200,
        &matrix,
    );

    let r = get(
        &f,
        &format!(
            "/api/v1/query_range?query={sum}&start={}&end={}&step=15",
            b / 1000,
            t / 1000
        ),
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["data"]["resultType"], "matrix", "{}", r.text());
    let mut got: Vec<String> = v["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|x| format!("{} {}", x["metric"], x["values"]))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            format!(
                "{{\"job\":\"api\"}} [{}]",
                points(b, &[(0, "1"), (15_000, "1"), (30_000, "0")])
            ),
            format!(
                "{{\"job\":\"db\"}} [{}]",
                points(b, &[(0, "1"), (15_000, "1"), (30_000, "1")])
            ),
        ]
    );

    let r = get(
        &f,
        &format!("/api/v1/query?query={}&time={}.5", enc("1+1"), t / 1000),
    );
    exact(
        &r,
        200,
        &ok(format!(
            r#"{{"resultType":"scalar","result":[{}.500,"2"]}}"#,
            t / 1000
        )),
    );
    let r = get(
        &f,
        &format!("/api/v1/query?query={}&time=1", enc("temp_celsius")),
    );
    exact(
        &r,
        200,
        &ok(r#"{"resultType":"vector","result":[]}"#.to_string()),
    );
    let metrics = get(&f, "/metrics").text();
    assert!(
        metrics.contains("floe_query_samples_read_total{endpoint=\"query\"}"),
        "{metrics}"
    );
    f.stop(&[]);
}

/// TSBS's query shape (VictoriaMetrics generator): one query over two metrics grouped by
/// name. Prometheus 2.42 semantics refuse it (the names go before the grouping and the
/// series collide); with `--query-delayed-name-removal` each metric answers under its name.
#[test]
fn delayed_name_removal_answers_tsbs_multi_metric_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = Floed::start(&dir.path().join("data"), &["--query-delayed-name-removal"]);
    let b = base_ms();
    let cpu = |name: &str, host: &str, base: f64| {
        let pts: Vec<(i64, f64)> = (0..5).map(|i| (b + i * 15_000, base + i as f64)).collect();
        series(&[("__name__", name), ("hostname", host)], &pts)
    };
    let body = encode_write_request(&[
        cpu("cpu_usage_user", "host_3", 10.0),
        cpu("cpu_usage_system", "host_3", 20.0),
        cpu("cpu_usage_idle", "host_3", 30.0),
        cpu("cpu_usage_user", "host_4", 40.0),
    ]);
    let r = request(f.http, "POST", "/api/v1/write", &[], &body);
    assert_eq!(r.status, 204, "{}", r.text());
    let q = enc(
        "max(max_over_time({__name__=~'cpu_(usage_user|usage_system)', hostname='host_3'}[1m])) by (__name__)",
    );
    let t = (b + 60_000) / 1000;
    exact(
        &get(&f, &format!("/api/v1/query?query={q}&time={t}")),
        200,
        &format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"cpu_usage_system"}},"value":[{t},"24"]}},{{"metric":{{"__name__":"cpu_usage_user"}},"value":[{t},"14"]}}]}}}}"#
        ),
    );
    let range = format!(
        "/api/v1/query_range?query={q}&start={}&end={t}&step=30",
        (b + 30_000) / 1000
    );
    exact(
        &get(&f, &range),
        200,
        &format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"__name__":"cpu_usage_system"}},"values":[{}]}},{{"metric":{{"__name__":"cpu_usage_user"}},"values":[{}]}}]}}}}"#,
            points(b, &[(30_000, "22"), (60_000, "24")]),
            points(b, &[(30_000, "12"), (60_000, "14")]),
        ),
    );
    // Names that no aggregation kept still go at the end.
    let r = get(
        &f,
        &format!(
            "/api/v1/query?query={}&time={t}",
            enc("max_over_time(cpu_usage_system[1m])")
        ),
    );
    exact(
        &r,
        200,
        &format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"hostname":"host_3"}},"value":[{t},"24"]}}]}}}}"#
        ),
    );
    f.stop(&[]);
}
