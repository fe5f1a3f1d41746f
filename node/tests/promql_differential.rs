//! The PromQL differential test: a real Prometheus 2.42 (the Debian package) and floed get the
//! same samples by remote write; every expression of `tests/data/promql/corpus.promql` then
//! runs against both, as instant queries at several times and as range queries, and the
//! answers must agree (`support/prometheus/compare.rs` says how). A second test drives floed
//! with `promtool query`. `docs/promql.md` describes both and the expected differences.
//!
//! Environment: `FLOE_PROMQL_SEED` replays a seed (printed by every run);
//! `FLOE_PROMQL_END_MS` pins the last sample's time (default: the last 15 s boundary at least
//! 2 min before now, so Prometheus's head accepts the data); `FLOE_PROMQL_SUBJECT=prometheus`
//! compares Prometheus with a second Prometheus instead of floed, the harness's self-check.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use support::floed::{Floed, request};
use support::prometheus::compare::{self, Answer, Body, Data, Difference, Kind};
use support::prometheus::dataset::{Dataset, STEP_MS};
use support::prometheus::{Prometheus, QueryKind, binary, remote_write, seconds, wait_until_ready};

/// The corpus must hold at least this many expressions.
const MIN_EXPRESSIONS: usize = 200;

/// Samples per remote write request.
const BATCH: usize = 2_000;

/// A difference that is understood and accepted, listed in `docs/promql.md` with its reason.
#[derive(Debug)]
struct Expected {
    /// The corpus line, before substitution (without its `!`).
    source: &'static str,
    /// The only kind of difference it may show; it must show it at least once, so that a
    /// difference that went away is removed from here and from the documentation.
    kind: Kind,
    /// A 2.42 query whose reference answer the subject's answer to `source` must equal, at
    /// every query time: what floed's answer means, checked.
    equivalent: Option<&'static str>,
}

/// The accepted differences (`docs/promql.md`, "Expected differences").
const EXPECTED_DIFFERENCES: &[Expected] = &[
    // Floed parses with promql-parser 0.11, which takes a number without unit as a duration
    // in seconds, as Prometheus does since 2.52 (prometheus#9138); 2.42 refuses it.
    Expected {
        source: "cpu_usage_user offset 5",
        kind: Kind::Status,
        equivalent: Some("cpu_usage_user offset 5s"),
    },
    Expected {
        source: "cpu_usage_user[300]",
        kind: Kind::Status,
        equivalent: Some("cpu_usage_user[300s]"),
    },
];

/// One corpus line.
#[derive(Debug, Clone)]
struct Case {
    line: usize,
    /// As written in the corpus.
    source: String,
    /// With the placeholders replaced.
    query: String,
    /// Marked `!`: Prometheus must answer an error.
    must_fail: bool,
}

/// The subject under test: floed, or a second Prometheus for the self-check.
enum Subject {
    Floed(Floed),
    Prometheus(Prometheus),
}

impl Subject {
    fn start(dir: &Path) -> Subject {
        if std::env::var("FLOE_PROMQL_SUBJECT").as_deref() == Ok("prometheus") {
            println!("self-check: the subject is a second Prometheus");
            return Subject::Prometheus(Prometheus::start(&dir.join("subject")));
        }
        let floed = Floed::start(&dir.join("floed"), &[]);
        if let Err(last) = wait_until_ready(floed.http, "/ready") {
            panic!(
                "floed is not ready ({last}); log:\n{}",
                std::fs::read_to_string(&floed.log).unwrap_or_default()
            );
        }
        Subject::Floed(floed)
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Subject::Floed(f) => f.http,
            Subject::Prometheus(p) => p.addr,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Subject::Floed(_) => "floed",
            Subject::Prometheus(_) => "prometheus (self-check)",
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not an integer")),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// The seed (printed) and the last sample's time.
fn seed_and_end() -> (u64, i64) {
    let seed = env_u64("FLOE_PROMQL_SEED").unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
    });
    let end = env_u64("FLOE_PROMQL_END_MS").map_or_else(
        || {
            let t = now_ms() - 120_000;
            t - t.rem_euclid(STEP_MS)
        },
        |e| e as i64,
    );
    println!("FLOE_PROMQL_SEED={seed} FLOE_PROMQL_END_MS={end} (set both to replay this run)");
    (seed, end)
}

/// Replaces `${T_NAME}`, `${T_NAME+S}` and `${T_NAME-S}` (S seconds, up to 3 decimals).
/// Other `${…}` (label_replace's `${1}`) are left alone.
fn substitute(line: &str, values: &[(&str, i64)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("${T_") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').ok_or("unclosed ${")? + at;
        let spec = &rest[at + 2..end];
        let split = spec.find(['+', '-']).unwrap_or(spec.len());
        let (name, delta) = spec.split_at(split);
        let base = values
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("unknown placeholder {name}"))?
            .1;
        let delta_ms = if delta.is_empty() {
            0
        } else {
            let s: f64 = delta.parse().map_err(|_| format!("bad offset {delta:?}"))?;
            (s * 1000.0).round() as i64
        };
        out.push_str(&seconds(base + delta_ms));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn load_corpus(values: &[(&str, i64)]) -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/promql/corpus.promql");
    let text = std::fs::read_to_string(&path).expect("read the PromQL corpus");
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (must_fail, source) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        let query = substitute(source, values)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
        cases.push(Case {
            line: i + 1,
            source: source.to_string(),
            query,
            must_fail,
        });
    }
    cases
}

/// The instant times and ranges every expression runs at.
fn query_kinds(d: &Dataset) -> Vec<QueryKind> {
    vec![
        QueryKind::Instant(d.start_ms + 200_000),
        QueryKind::Instant(d.start_ms + 3_607_500),
        QueryKind::Instant(d.stop_ms + 1_000),
        QueryKind::Instant(d.end_ms),
        QueryKind::Instant(d.end_ms + 290_000),
        QueryKind::Range(d.end_ms - 3_600_000, d.end_ms, 60_000),
        QueryKind::Range(d.start_ms + 1_000_500, d.end_ms + 120_000, 37_000),
    ]
}

/// One observed difference.
#[derive(Debug)]
struct Failure {
    case: Case,
    kind: QueryKind,
    difference: Difference,
}

/// What running the corpus found.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failures: Vec<Failure>,
    /// Successful reference answers, and those with no series.
    reference_successes: usize,
    reference_empty: usize,
    /// `!` lines Prometheus answered without error.
    not_failing: Vec<String>,
}

fn run_corpus(
    reference: SocketAddr,
    subject: SocketAddr,
    cases: &[Case],
    kinds: &[QueryKind],
) -> Tally {
    let mut tally = Tally::default();
    for case in cases {
        let ordered = compare::is_sorted_query(&case.query);
        for &kind in kinds {
            let r = support::prometheus::query(reference, &case.query, kind);
            match &r.body {
                Body::Success(data) => {
                    tally.reference_successes += 1;
                    tally.reference_empty += usize::from(is_empty(data));
                    if case.must_fail {
                        tally
                            .not_failing
                            .push(format!("line {}: {} ({kind})", case.line, case.source));
                    }
                }
                Body::Unparsable(why) => {
                    panic!("Prometheus answered {:?} ({kind}) with {why}", case.query)
                }
                Body::Error { .. } => {}
            }
            let s = support::prometheus::query(subject, &case.query, kind);
            match compare::compare(&r, &s, ordered && matches!(kind, QueryKind::Instant(_))) {
                Ok(()) => tally.passed += 1,
                Err(difference) => tally.failures.push(Failure {
                    case: case.clone(),
                    kind,
                    difference,
                }),
            }
        }
    }
    tally
}

fn is_empty(d: &Data) -> bool {
    match d {
        Data::Vector(v) => v.is_empty(),
        Data::Matrix(m) => m.is_empty(),
        Data::Scalar(..) | Data::String(..) => false,
    }
}

/// Splits the failures into expected and unexpected ones, and returns the expected entries
/// that did not occur.
fn classify<'a>(
    failures: &'a [Failure],
    table: &[Expected],
) -> (Vec<&'a Failure>, Vec<&'a Failure>, Vec<String>) {
    let expected_kind = |f: &Failure| {
        table
            .iter()
            .find(|e| e.source == f.case.source)
            .map(|e| e.kind)
    };
    let (expected, unexpected): (Vec<&Failure>, Vec<&Failure>) = failures
        .iter()
        .partition(|f| expected_kind(f) == Some(f.difference.kind));
    let missing = table
        .iter()
        .filter(|e| {
            !expected
                .iter()
                .any(|f| f.case.source == e.source && f.difference.kind == e.kind)
        })
        .map(|e| {
            format!(
                "{:?} was expected to differ by {:?} and did not",
                e.source, e.kind
            )
        })
        .collect();
    (expected, unexpected, missing)
}

/// For each expected difference with an equivalent 2.42 query: the subject's answer to the
/// expression must equal the reference's answer to the equivalent. Returns the mismatches.
fn check_equivalents(
    reference: SocketAddr,
    subject: SocketAddr,
    kinds: &[QueryKind],
    table: &[Expected],
) -> Vec<String> {
    let mut out = Vec::new();
    for e in table {
        let Some(equivalent) = e.equivalent else {
            continue;
        };
        for &kind in kinds {
            let r = support::prometheus::query(reference, equivalent, kind);
            let s = support::prometheus::query(subject, e.source, kind);
            if let Err(d) = compare::compare(&r, &s, false) {
                out.push(format!(
                    "{:?} ({kind}) is not {equivalent:?}: {d}",
                    e.source
                ));
            }
        }
    }
    out
}

fn report(f: &Failure) -> String {
    format!(
        "line {} {:?} ({}): {}",
        f.case.line, f.case.query, f.kind, f.difference
    )
}

fn push_dataset(prometheus: &Prometheus, subject: &Subject, d: &Dataset) {
    let started = Instant::now();
    let requests = remote_write(prometheus.addr, &d.series, BATCH);
    remote_write(subject.addr(), &d.series, BATCH);
    println!(
        "pushed {} series, {} samples in {requests} requests to each, in {:?}",
        d.series.len(),
        d.samples(),
        started.elapsed()
    );
    if let Subject::Floed(f) = subject {
        assert_eq!(ingested(f), d.samples() as u64, "floed's ingest counter");
    }
}

fn ingested(floed: &Floed) -> u64 {
    let text = request(floed.http, "GET", "/metrics", &[], b"").text();
    text.lines()
        .find(|l| l.starts_with("floe_ingested_samples_total{protocol=\"remote_write\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn promql_answers_like_prometheus_2_42() {
    let (seed, end) = seed_and_end();
    let dir = tempfile::tempdir().expect("tempdir");
    let prometheus = Prometheus::start(&dir.path().join("reference"));
    let subject = Subject::start(dir.path());
    let d = Dataset::generate(seed, end);
    push_dataset(&prometheus, &subject, &d);
    let cases = load_corpus(&d.placeholders());
    let kinds = query_kinds(&d);
    let started = Instant::now();
    let tally = run_corpus(prometheus.addr, subject.addr(), &cases, &kinds);
    // The accepted differences are floed's; a second Prometheus must show none.
    let table = match subject {
        Subject::Floed(_) => EXPECTED_DIFFERENCES,
        Subject::Prometheus(_) => &[],
    };
    let (expected, unexpected, missing) = classify(&tally.failures, table);
    let not_equivalent = check_equivalents(prometheus.addr, subject.addr(), &kinds, table);
    for f in &expected {
        println!("expected difference: {}", report(f));
    }
    for f in &unexpected {
        println!("DIFFERENCE: {}", report(f));
    }
    println!(
        "{} expressions × {} query kinds against {} in {:?}: {} passed, {} failed ({} expected, {} unexpected)",
        cases.len(),
        kinds.len(),
        subject.name(),
        started.elapsed(),
        tally.passed,
        tally.failures.len(),
        expected.len(),
        unexpected.len()
    );
    println!(
        "reference answers: {} successes ({} without series)",
        tally.reference_successes, tally.reference_empty
    );
    if let Subject::Floed(f) = subject {
        f.stop(&[]);
    }
    assert!(
        cases.len() >= MIN_EXPRESSIONS,
        "only {} expressions in the corpus",
        cases.len()
    );
    assert!(
        tally.not_failing.is_empty(),
        "lines marked ! that Prometheus accepts:\n{}",
        tally.not_failing.join("\n")
    );
    assert!(
        tally.reference_empty * 4 < tally.reference_successes,
        "a quarter or more of Prometheus's answers are empty: the data did not arrive where the corpus looks"
    );
    assert!(
        not_equivalent.is_empty(),
        "expected differences that do not mean what docs/promql.md says:\n{}",
        not_equivalent.join("\n")
    );
    assert!(
        missing.is_empty(),
        "expected differences that did not occur:\n{}",
        missing.join("\n")
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected differences (listed above)",
        unexpected.len()
    );
}

/// Runs `promtool query <args…> http://addr [last]`; panics unless it exits 0. Returns
/// stdout.
fn promtool(args: &[&str], last: Option<&str>, addr: SocketAddr) -> String {
    let server = format!("http://{addr}");
    let mut cmd = Command::new(binary("promtool"));
    cmd.arg("query").args(args).arg(&server).args(last);
    let out = cmd.output().expect("run promtool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "promtool query {args:?} {server} {last:?} exited with {}:\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Checks that `output` holds every expected line.
fn expect_lines(what: &str, output: &str, lines: &[String]) {
    let have: std::collections::BTreeSet<&str> = output.lines().map(str::trim).collect();
    let missing: Vec<&String> = lines
        .iter()
        .filter(|l| !have.contains(l.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "promtool {what}: missing lines {missing:?} in output:\n{output}"
    );
}

#[test]
fn promtool_queries_floed() {
    let (seed, end) = seed_and_end();
    let dir = tempfile::tempdir().expect("tempdir");
    let subject = Subject::start(dir.path());
    let d = Dataset::generate(seed, end);
    remote_write(subject.addr(), &d.series, BATCH);
    let addr = subject.addr();
    let (t_end, t_before_stop) = (seconds(d.end_ms), seconds(d.stop_ms - STEP_MS));

    let out = promtool(&["instant", "--time", &t_end], Some("constant_gauge"), addr);
    expect_lines(
        "instant",
        &out,
        &[format!("constant_gauge => 42 @[{t_end}]")],
    );

    // Sample 279 of instance "a", whose value is 1.5 per sample index.
    let q = r#"batch_progress{instance="a"} * 2"#;
    let out = promtool(&["instant", "--time", &t_before_stop], Some(q), addr);
    expect_lines(
        "instant",
        &out,
        &[format!(
            r#"{{instance="a", job="batch"}} => 837 @[{t_before_stop}]"#
        )],
    );

    let start = seconds(d.end_ms - 600_000);
    let q = "sum(constant_gauge) + count(http_requests_total)";
    let out = promtool(
        &["range", "--start", &start, "--end", &t_end, "--step", "1m"],
        Some(q),
        addr,
    );
    let points: Vec<String> = (0..=10)
        .map(|i| format!("50 @[{}]", seconds(d.end_ms - 600_000 + i * 60_000)))
        .collect();
    expect_lines("range", &out, &points);
    assert_eq!(
        out.lines().filter(|l| l.contains(" @[")).count(),
        11,
        "promtool range output:\n{out}"
    );

    // The whole data window, so that every series has samples in it.
    let first = seconds(d.start_ms);
    let out = promtool(
        &[
            "series",
            "--match",
            "batch_progress",
            "--start",
            &first,
            "--end",
            &t_end,
        ],
        None,
        addr,
    );
    let series: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|i| format!(r#"{{__name__="batch_progress", instance="{i}", job="batch"}}"#))
        .collect();
    expect_lines("series", &out, &series);

    let out = promtool(
        &["labels", "--start", &first, "--end", &t_end],
        Some("instance"),
        addr,
    );
    let values: Vec<String> = ["10.0.0.1:9100", "10.0.0.2:9100", "a", "b", "c", "x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    expect_lines("labels", &out, &values);
    let out = promtool(&["labels"], Some("__name__"), addr);
    let names: std::collections::BTreeSet<String> = d
        .series
        .iter()
        .filter_map(|s| s.metric_name().map(str::to_string))
        .collect();
    expect_lines("labels", &out, &names.into_iter().collect::<Vec<_>>());
    if let Subject::Floed(f) = subject {
        f.stop(&[]);
    }
}

// ---------------------------------------------------------------------------------------
// The comparer's own tests: the harness must see every kind of difference, and no false one.

fn answer(http: u16, json: &str) -> Answer {
    Answer::parse(http, json.as_bytes())
}

fn vector(points: &[(&str, &str)]) -> Answer {
    let result: Vec<String> = points
        .iter()
        .map(|(host, v)| {
            format!(r#"{{"metric":{{"host":"{host}"}},"value":[1700000000.5,"{v}"]}}"#)
        })
        .collect();
    answer(
        200,
        &format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            result.join(",")
        ),
    )
}

fn kind_of(r: &Answer, s: &Answer, ordered: bool) -> Option<Kind> {
    compare::compare(r, s, ordered).err().map(|d| d.kind)
}

#[test]
fn comparer_accepts_equal_answers_in_any_series_order() {
    let a = vector(&[("a", "1"), ("b", "NaN"), ("c", "+Inf"), ("d", "-Inf")]);
    let b = vector(&[
        ("d", "-Inf"),
        ("c", "+Inf"),
        ("b", "NaN"),
        ("a", "1.0000000000001"),
    ]);
    assert_eq!(kind_of(&a, &b, false), None);
    assert_eq!(kind_of(&a, &a, true), None);
}

#[test]
fn comparer_sees_values_series_and_timestamps() {
    let a = vector(&[("a", "1"), ("b", "2")]);
    assert_eq!(
        kind_of(&a, &vector(&[("a", "1"), ("b", "2.001")]), false),
        Some(Kind::Value)
    );
    assert_eq!(
        kind_of(&a, &vector(&[("a", "1"), ("b", "NaN")]), false),
        Some(Kind::Value)
    );
    assert_eq!(
        kind_of(&vector(&[("a", "+Inf")]), &vector(&[("a", "-Inf")]), false),
        Some(Kind::Value)
    );
    assert_eq!(
        kind_of(&a, &vector(&[("a", "1")]), false),
        Some(Kind::SeriesSet)
    );
    assert_eq!(
        kind_of(&a, &vector(&[("a", "1"), ("c", "2")]), false),
        Some(Kind::SeriesSet)
    );
    assert_eq!(
        kind_of(&a, &vector(&[("a", "1"), ("a", "2")]), false),
        Some(Kind::DuplicateSeries)
    );
    let m = |ts: &str| {
        answer(
            200,
            &format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[[1,"1"],[{ts},"2"]]}}]}}}}"#
            ),
        )
    };
    assert_eq!(kind_of(&m("2"), &m("2"), false), None);
    assert_eq!(kind_of(&m("2"), &m("2.001"), false), Some(Kind::Timestamps));
    assert_eq!(kind_of(&m("2"), &a, false), Some(Kind::ResultType));
    let scalar = |v: &str| {
        answer(
            200,
            &format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[5,"{v}"]}}}}"#
            ),
        )
    };
    assert_eq!(kind_of(&scalar("1e-17"), &scalar("0"), false), None);
    assert_eq!(
        kind_of(&scalar("1"), &scalar("1.000001"), false),
        Some(Kind::Value)
    );
}

#[test]
fn comparer_checks_order_only_between_different_values() {
    let sorted = vector(&[("a", "1"), ("b", "2"), ("c", "2"), ("d", "NaN")]);
    let ties_swapped = vector(&[("a", "1"), ("c", "2"), ("b", "2"), ("d", "NaN")]);
    let unsorted = vector(&[("b", "2"), ("a", "1"), ("c", "2"), ("d", "NaN")]);
    assert_eq!(kind_of(&sorted, &ties_swapped, true), None);
    assert_eq!(kind_of(&sorted, &unsorted, true), Some(Kind::Order));
    assert_eq!(kind_of(&sorted, &unsorted, false), None);
    assert!(compare::is_sorted_query("sort(x)"));
    assert!(compare::is_sorted_query(" ( sort_desc (rate(x[5m])) ) "));
    assert!(compare::is_sorted_query(
        r#"sort(label_replace(x, "a", ")", "b", "("))"#
    ));
    assert!(!compare::is_sorted_query("sort(x) + sort(y)"));
    assert!(!compare::is_sorted_query("sum(sort(x))"));
    assert!(!compare::is_sorted_query("sorted_metric"));
}

#[test]
fn comparer_compares_error_types_and_statuses_not_messages() {
    let err = |http, t: &str, msg: &str| {
        answer(
            http,
            &format!(r#"{{"status":"error","errorType":"{t}","error":"{msg}"}}"#),
        )
    };
    let ok = vector(&[("a", "1")]);
    assert_eq!(
        kind_of(
            &err(400, "bad_data", "x"),
            &err(400, "bad_data", "y"),
            false
        ),
        None
    );
    assert_eq!(
        kind_of(
            &err(400, "bad_data", "x"),
            &err(422, "execution", "x"),
            false
        ),
        Some(Kind::ErrorType)
    );
    assert_eq!(
        kind_of(
            &err(422, "execution", "x"),
            &err(500, "execution", "x"),
            false
        ),
        Some(Kind::HttpStatus)
    );
    assert_eq!(
        kind_of(&err(400, "bad_data", "x"), &ok, false),
        Some(Kind::Status)
    );
    assert_eq!(
        kind_of(&ok, &err(400, "bad_data", "x"), false),
        Some(Kind::Status)
    );
    assert_eq!(
        kind_of(&ok, &answer(404, "404 page not found"), false),
        Some(Kind::Unparsable)
    );
}

#[test]
fn placeholders_are_replaced_by_seconds() {
    let values = [("T_MID", 1_700_000_000_000), ("T_END", 1_700_000_000_500)];
    assert_eq!(
        substitute("x @ ${T_MID}", &values).as_deref(),
        Ok("x @ 1700000000")
    );
    assert_eq!(
        substitute("x @ ${T_MID+7.5} + y @ ${T_END-300}", &values).as_deref(),
        Ok("x @ 1700000007.500 + y @ 1699999700.500")
    );
    assert!(substitute("${T_NONE}", &values).is_err());
    assert_eq!(substitute("${1}", &values).as_deref(), Ok("${1}"));
    assert_eq!(
        support::prometheus::url_encode("a{b=\"/ü &\"}"),
        "a%7Bb%3D%22%2F%C3%BC%20%26%22%7D"
    );
}
