//! VictoriaMetrics' own ingest test cases (Debian package
//! `golang-github-victoriametrics-victoriametrics-dev`, `app/victoria-metrics/testdata/`) as a
//! corpus of real protocol inputs and expected series: each insertion case is sent to a real
//! floed over its protocol, and the series selected by the case's `/api/v1/export?match=…`
//! selector must be exactly the expected ones, with the expected values.
//!
//! Cases that use VictoriaMetrics extensions Floe does not implement (`extra_label`) are
//! listed and skipped; documented divergences are asserted as such. `scripts/test` installs
//! the package.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use floe_node::index::{MatchOp, Matcher};
use floe_node::ingest::remote_write::{DecodedSeries, encode_write_request};
use serde_json::Value;
use support::floed::{Floed, open_engine, request};

const TESTDATA: &str = "/usr/share/gocode/src/github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics/testdata";
const TIME_S: i64 = 1_700_000_000;

/// Cases skipped because they use VictoriaMetrics' `extra_label` extension.
const SKIPPED: [&str; 4] = [
    "influxdb/with_extra_labels.json",
    "opentsdbhttp/with_extra_labels.json",
    "prometheus/with_extra_labels.json",
    "prometheus/with_request_extra_filter.json",
];

/// Cases where Floe answers differently on purpose: duplicate label names are refused (the
/// remote write spec forbids them; VictoriaMetrics keeps one).
const REFUSED: [&str; 1] = ["prometheus/duplicate-label.json"];

fn substitute(s: &str) -> String {
    let ms = TIME_S * 1000;
    s.replace("{TIME_NS}", &(ms * 1_000_000).to_string())
        .replace("{TIME_MSZ}", &ms.to_string())
        .replace("{TIME_MS}", &ms.to_string())
        .replace("{TIME_S}", &TIME_S.to_string())
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number"),
        Value::String(s) => s.parse().expect("numeric string"),
        other => panic!("not a number: {other}"),
    }
}

/// Parses a selector such as `{__name__!=''}` or `{label=~'(?i)x'}`.
fn selector(query: &str) -> Vec<Matcher> {
    let inner = query
        .split("match=")
        .nth(1)
        .expect("match=")
        .trim_start_matches('{');
    let inner = &inner[..inner.find('}').expect("closing brace")];
    inner
        .split(',')
        .map(|m| {
            let (name, op, rest) = ["!~", "=~", "!=", "="]
                .iter()
                .find_map(|op| m.split_once(op).map(|(n, r)| (n.trim(), *op, r)))
                .expect("an operator");
            let op = match op {
                "=" => MatchOp::Equal,
                "!=" => MatchOp::NotEqual,
                "=~" => MatchOp::RegexMatch,
                _ => MatchOp::RegexNoMatch,
            };
            Matcher::new(op, name, rest.trim().trim_matches('\'').trim_matches('"'))
                .expect("matcher")
        })
        .collect()
}

fn send(floed: &Floed, protocol: &str, data: &[String]) -> u16 {
    match protocol {
        "influxdb" => {
            request(
                floed.http,
                "POST",
                "/write",
                &[],
                data.join("\n").as_bytes(),
            )
            .status
        }
        "opentsdbhttp" => data
            .iter()
            .map(|d| request(floed.http, "POST", "/api/put", &[], d.as_bytes()).status)
            .max()
            .unwrap_or(0),
        "prometheus" => {
            let mut series = Vec::new();
            for d in data {
                let parsed: Value = serde_json::from_str(d).expect("prometheus data is JSON");
                for ts in parsed.as_array().expect("array of series") {
                    let labels = ts["labels"]
                        .as_array()
                        .expect("labels")
                        .iter()
                        .map(|l| {
                            (
                                l["name"].as_str().expect("name").to_string(),
                                l["value"].as_str().expect("value").to_string(),
                            )
                        })
                        .collect();
                    let samples = ts["samples"]
                        .as_array()
                        .expect("samples")
                        .iter()
                        .map(|s| (number(&s["timestamp"]) as i64, number(&s["value"])))
                        .collect();
                    series.push(DecodedSeries { labels, samples });
                }
            }
            request(
                floed.http,
                "POST",
                "/api/v1/write",
                &[],
                &encode_write_request(&series),
            )
            .status
        }
        "graphite" | "opentsdb" => {
            let addr = if protocol == "graphite" {
                floed.graphite
            } else {
                floed.opentsdb
            };
            let mut s = TcpStream::connect(addr.expect("listener")).expect("connect");
            for d in data {
                s.write_all(d.as_bytes()).expect("send");
                s.write_all(b"\n").expect("send");
            }
            204
        }
        other => panic!("unknown protocol folder {other}"),
    }
}

fn stream_count(floed: &Floed, protocol: &str) -> u64 {
    let text = request(floed.http, "GET", "/metrics", &[], b"").text();
    let prefix = format!("floe_ingested_samples_total{{protocol=\"{protocol}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Case {
    file: String,
    query: String,
    expected: BTreeSet<String>,
}

#[test]
fn victoriametrics_ingest_cases_store_the_expected_series() {
    let root = Path::new(TESTDATA);
    assert!(
        root.exists(),
        "{TESTDATA} is missing: scripts/test installs golang-github-victoriametrics-victoriametrics-dev"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let floed = Floed::start(&data_dir, &[]);
    let (mut cases, mut skipped, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    let mut stream_samples = [0u64; 2];
    for protocol in [
        "influxdb",
        "graphite",
        "opentsdb",
        "opentsdbhttp",
        "prometheus",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(protocol))
            .expect("testdata folder")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for path in files {
            let file = format!(
                "{protocol}/{}",
                path.file_name().expect("name").to_string_lossy()
            );
            let case: Value = serde_json::from_str(&substitute(
                &std::fs::read_to_string(&path).expect("read case"),
            ))
            .expect("case JSON");
            let query = case["query"][0].as_str().unwrap_or_default().to_string();
            if !query.starts_with("/api/v1/export") {
                continue; // a query-language case, not an insertion case
            }
            if SKIPPED.contains(&file.as_str()) {
                skipped.push(file);
                continue;
            }
            let data: Vec<String> = case["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|d| d.as_str().expect("data string").to_string())
                .collect();
            let status = send(&floed, protocol, &data);
            if REFUSED.contains(&file.as_str()) {
                assert_eq!(status, 400, "{file}: Floe refuses this on purpose");
                refused.push(file);
                continue;
            }
            assert_eq!(status, 204, "{file}: {protocol} answered {status}");
            let expected: BTreeSet<String> = case["result_metrics"]
                .as_array()
                .expect("results")
                .iter()
                .map(|m| {
                    let labels = m["metric"].as_object().expect("metric");
                    let name = labels["__name__"].as_str().expect("__name__");
                    let rest = labels
                        .iter()
                        .filter(|(k, _)| *k != "__name__")
                        .map(|(k, v)| (k.as_str(), v.as_str().expect("label value")));
                    let key =
                        floe_storage_format::SeriesKey::new(name, rest).expect("expected key");
                    let values: Vec<String> = m["values"]
                        .as_array()
                        .expect("values")
                        .iter()
                        .map(|v| number(v).to_string())
                        .collect();
                    format!("{key} {}", values.join(","))
                })
                .collect();
            match protocol {
                "graphite" => stream_samples[0] += expected.len() as u64,
                "opentsdb" => stream_samples[1] += expected.len() as u64,
                _ => {}
            }
            cases.push(Case {
                file,
                query,
                expected,
            });
        }
    }
    // The TCP listeners store asynchronously: wait until every streamed sample is counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stream_count(&floed, "graphite") < stream_samples[0]
        || stream_count(&floed, "opentsdb_telnet") < stream_samples[1]
    {
        assert!(Instant::now() < deadline, "streamed samples never arrived");
        std::thread::yield_now();
    }
    floed.stop(&[]);
    let engine = open_engine(&data_dir);
    for case in &cases {
        // Each case's selector is evaluated only over the series of its own protocol folder's
        // names, as VictoriaMetrics runs each case against a fresh store.
        let got: BTreeSet<String> = engine
            .select(&selector(&case.query))
            .into_iter()
            .map(|(r, key)| {
                let values: Vec<String> = engine
                    .read(r, i64::MIN, i64::MAX)
                    .expect("read")
                    .iter()
                    .map(|s| s.value.to_string())
                    .collect();
                format!("{key} {}", values.join(","))
            })
            .filter(|s| {
                case.expected
                    .iter()
                    .any(|e| e.split('{').next() == s.split('{').next())
            })
            .collect();
        assert_eq!(got, case.expected, "{}", case.file);
    }
    assert!(cases.len() >= 7, "only {} insertion cases ran", cases.len());
    assert_eq!(skipped.len(), SKIPPED.len(), "skipped {skipped:?}");
    assert_eq!(refused, REFUSED.to_vec());
}
