//! The workloads a run drives while the nemesis works: writers through `floe-client` (QUIC,
//! token-aware), Prometheus remote write and InfluxDB line protocol over HTTP, at `quorum`
//! and `one`, and readers over the Prometheus query API, each operation recorded to the
//! [`Recorder`] with its invocation, completion and outcome.
//!
//! Every writer process `P` owns the series `jp_v{p="P",s="S"}` and writes one operation `k`
//! as one sample of each of its series at `t0 + k × step`, value `P × 10⁹ + S × 10⁶ + k`
//! (exact in an f64): no two operations ever write the same value, so a checker can name the
//! operation behind any value a read returns, and a value no operation wrote is a wrong read.
//! The `floe-client` writer also corrects an earlier sample now and then (version 1, value
//! − 0.5: lower than the original, so only the version makes it win), so the merge rule's
//! version order is exercised too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use floe_client::{ClientConfig, ClientError, Consistency, Sample, SeriesKey};
use floe_tests::BlockingClient;
use floe_tests::convergence::Rng;
use floe_tests::http;

use crate::history::{Entry, EntryType, Outcome, ReadRange, Recorder, Seen, Written};

/// The window a reader asks for: the last 30 s of one series before its writer's latest
/// timestamp (`series[30000ms]` at that time; the checker holds it to the timestamps in
/// `(at − 30000, at]`, inside what the selector returns).
pub const READ_WINDOW_MS: i64 = 30_000;

/// The metric every writer writes (line protocol measurement `jp`, field `v`).
pub const METRIC: &str = "jp_v";

/// The writer processes, in the order of their number `P` in values.
pub const WRITERS: [Writer; 3] = [Writer::ClientQuorum, Writer::RemoteWrite, Writer::LineOne];

/// A writer process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// `floe-client` over QUIC, `quorum`, with corrections.
    ClientQuorum,
    /// Prometheus remote write over HTTP (the node's default consistency, `quorum`).
    RemoteWrite,
    /// InfluxDB line protocol over HTTP, `consistency=one`.
    LineOne,
}

impl Writer {
    /// Its process name in the history and its `p` label.
    pub fn name(self) -> &'static str {
        match self {
            Writer::ClientQuorum => "client-quorum",
            Writer::RemoteWrite => "rw-quorum",
            Writer::LineOne => "line-one",
        }
    }

    /// The consistency its writes are acknowledged at.
    pub fn consistency(self) -> &'static str {
        match self {
            Writer::ClientQuorum | Writer::RemoteWrite => "quorum",
            Writer::LineOne => "one",
        }
    }

    fn number(self) -> usize {
        WRITERS.iter().position(|w| *w == self).unwrap_or(0)
    }
}

/// The value writer `w` writes for series `s` in operation `k` (version 0).
pub fn value(w: Writer, s: usize, k: i64) -> f64 {
    (w.number() as f64 + 1.0) * 1e9 + s as f64 * 1e6 + k as f64
}

/// The series text used in the history: `P/S`.
pub fn series_text(process: &str, s: usize) -> String {
    format!("{process}/{s}")
}

/// What the workloads do.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    /// Series per writer (one sample of each per write).
    pub series: usize,
    /// Pause between one writer's operations (pacing of the offered load).
    pub every: Duration,
    /// Timestamp of operation 0.
    pub t0: i64,
    /// Timestamp step between operations.
    pub step_ms: i64,
    /// Bound on one operation (HTTP connect/read, client request).
    pub timeout: Duration,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        Self {
            series: 6,
            every: Duration::from_millis(100),
            t0: floe_tests::load::now_ms() / 1000 * 1000 - 6 * 3_600_000,
            step_ms: 1000,
            timeout: Duration::from_secs(3),
        }
    }
}

/// Where the workloads send: every node's HTTP and QUIC address and id, and a client config.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Node ids, in index order.
    pub ids: Vec<String>,
    /// HTTP addresses, in index order.
    pub http: Vec<SocketAddr>,
    /// The `floe-client` configuration (seeds, certificates).
    pub client: ClientConfig,
}

/// The running workloads.
#[derive(Debug)]
pub struct Workloads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    errors: Arc<Mutex<Vec<String>>>,
}

struct Shared {
    spec: WorkloadSpec,
    targets: Targets,
    rec: Recorder,
    stop: Arc<AtomicBool>,
    /// Last operation number each writer invoked.
    last_k: [AtomicI64; 3],
    errors: Arc<Mutex<Vec<String>>>,
}

impl Workloads {
    /// Starts the three writers and two readers (`quorum` and `one`).
    pub fn start(spec: WorkloadSpec, targets: Targets, rec: Recorder, seed: u64) -> Workloads {
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            spec,
            targets,
            rec,
            stop: stop.clone(),
            last_k: [AtomicI64::new(-1), AtomicI64::new(-1), AtomicI64::new(-1)],
            errors: errors.clone(),
        });
        let mut threads = Vec::new();
        for w in WRITERS {
            let sh = shared.clone();
            threads.push(std::thread::spawn(move || {
                if let Err(e) = writer(&sh, w) {
                    sh.error(format!("{}: {e:#}", w.name()));
                }
            }));
        }
        for (i, c) in ["quorum", "one"].into_iter().enumerate() {
            let sh = shared.clone();
            let seed = seed.wrapping_add(i as u64 + 1);
            threads.push(std::thread::spawn(move || reader(&sh, c, seed)));
        }
        Workloads {
            stop,
            threads,
            errors,
        }
    }

    /// Stops every process after its current operation and waits for them; fails if a
    /// process could not run at all (e.g. the client could not connect).
    pub fn stop(self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Release);
        let mut panicked = 0;
        for t in self.threads {
            if t.join().is_err() {
                panicked += 1;
            }
        }
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if panicked > 0 {
            errors.push(format!("{panicked} workload threads panicked"));
        }
        anyhow::ensure!(errors.is_empty(), "workload errors: {errors:?}");
        Ok(())
    }
}

impl Shared {
    fn error(&self, e: String) {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps out the rest of one pacing interval (pacing the offered load, not
    /// synchronisation).
    fn pace(&self, since: Instant) {
        if let Some(rest) = self.spec.every.checked_sub(since.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

fn writer(sh: &Shared, w: Writer) -> anyhow::Result<()> {
    let process = w.name();
    let n_nodes = sh.targets.http.len();
    let client = match w {
        Writer::ClientQuorum => {
            let mut cfg = sh.targets.client.clone();
            cfg.consistency = Consistency::Quorum;
            cfg.request_timeout = sh.spec.timeout;
            Some(BlockingClient::connect(cfg)?)
        }
        _ => None,
    };
    let mut k: i64 = 0;
    while !sh.stopped() {
        let began = Instant::now();
        let ts = sh.spec.t0 + k * sh.spec.step_ms;
        let mut writes: Vec<Written> = (0..sh.spec.series)
            .map(|s| Written {
                series: series_text(process, s),
                ts,
                value: value(w, s, k),
                version: 0,
            })
            .collect();
        // Every fifth client operation corrects a sample of three operations ago.
        if w == Writer::ClientQuorum && k >= 3 && k % 5 == 0 {
            let s = (k as usize / 5) % sh.spec.series;
            let old = k - 3;
            writes.push(Written {
                series: series_text(process, s),
                ts: sh.spec.t0 + old * sh.spec.step_ms,
                value: value(w, s, old) - 0.5,
                version: 1,
            });
        }
        let node = (k as usize) % n_nodes;
        let mut inv = Entry::new(process, EntryType::Invoke, "write");
        inv.op = Some(k as u64);
        inv.consistency = Some(w.consistency().to_string());
        if client.is_none() {
            inv.node = Some(sh.targets.ids[node].clone());
        }
        inv.writes = writes.clone();
        sh.last_k[w.number()].store(k, Ordering::Release);
        sh.rec.record(inv);
        let sent = Instant::now();
        let (outcome, error) = match &client {
            Some(c) => client_write(c, &writes),
            None => http_write(sh, w, node, &writes),
        };
        let mut done = Entry::new(process, outcome.into(), "write");
        done.op = Some(k as u64);
        done.latency_ms = Some(sent.elapsed().as_secs_f64() * 1000.0);
        if client.is_none() {
            done.node = Some(sh.targets.ids[node].clone());
        }
        done.error = error;
        sh.rec.record(done);
        k += 1;
        sh.pace(began);
    }
    Ok(())
}

fn key_of(series: &str) -> anyhow::Result<SeriesKey> {
    let (p, s) = series
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("bad series text {series:?}"))?;
    Ok(SeriesKey::new(METRIC, [("p", p), ("s", s)])?)
}

fn client_write(c: &BlockingClient, writes: &[Written]) -> (Outcome, Option<String>) {
    let mut rows = Vec::with_capacity(writes.len());
    for w in writes {
        match key_of(&w.series) {
            Ok(key) => rows.push((
                key,
                Sample {
                    ts: w.ts,
                    value: w.value,
                    version: w.version,
                },
            )),
            Err(e) => return (Outcome::Fail, Some(format!("{e:#}"))),
        }
    }
    match c.write(&rows) {
        Ok(_) => (Outcome::Ok, None),
        Err(e) => (
            if no_answer(&e) {
                Outcome::Unknown
            } else {
                Outcome::Fail
            },
            Some(e.to_string()),
        ),
    }
}

/// Whether a client error means no answer came (timed out, connection lost) rather than an
/// error answer.
fn no_answer(e: &ClientError) -> bool {
    match e {
        ClientError::Timeout { .. } | ClientError::Wire { .. } => true,
        ClientError::NoNodeAnswered { last, .. } => no_answer(last),
        _ => false,
    }
}

fn http_write(
    sh: &Shared,
    w: Writer,
    node: usize,
    writes: &[Written],
) -> (Outcome, Option<String>) {
    let addr = sh.targets.http[node];
    let res = match w {
        Writer::LineOne => {
            let mut body = String::new();
            for x in writes {
                let (p, s) = x.series.split_once('/').unwrap_or((&x.series, "0"));
                body.push_str(&format!("jp,p={p},s={s} v={} {}\n", x.value, x.ts));
            }
            let path = format!(
                "/write?db=jepsen&precision=ms&consistency={}",
                w.consistency()
            );
            http::request_within(addr, "POST", &path, &[], body.as_bytes(), sh.spec.timeout)
        }
        _ => {
            let body = remote_write_body(writes);
            http::request_within(
                addr,
                "POST",
                "/api/v1/write",
                &[
                    ("Content-Encoding", "snappy"),
                    ("Content-Type", "application/x-protobuf"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ],
                &body,
                sh.spec.timeout,
            )
        }
    };
    match res {
        Ok(r) if r.is_success() => (Outcome::Ok, None),
        Ok(r) => (
            Outcome::Fail,
            Some(format!("{} {}", r.status, r.text().trim())),
        ),
        Err(e) => (Outcome::Unknown, Some(format!("{e:#}"))),
    }
}

/// A Prometheus remote-write body (protobuf `WriteRequest`, one snappy block) holding
/// `writes`, encoded here as any sender would: labels `__name__`, `p`, `s`.
pub fn remote_write_body(writes: &[Written]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    let mut req = Vec::new();
    for w in writes {
        let (p, s) = w.series.split_once('/').unwrap_or((&w.series, "0"));
        let mut ts = Vec::new();
        for (name, val) in [("__name__", METRIC), ("p", p), ("s", s)] {
            let mut label = Vec::new();
            field_bytes(&mut label, 1, name.as_bytes());
            field_bytes(&mut label, 2, val.as_bytes());
            field_bytes(&mut ts, 1, &label);
        }
        let mut sample = Vec::new();
        varint(&mut sample, 1 << 3 | 1);
        sample.extend_from_slice(&w.value.to_bits().to_le_bytes());
        varint(&mut sample, 2 << 3);
        varint(&mut sample, w.ts as u64);
        field_bytes(&mut ts, 2, &sample);
        field_bytes(&mut req, 1, &ts);
    }
    snap::raw::Encoder::new()
        .compress_vec(&req)
        .expect("a workload batch is far below snappy's block limit")
}

fn reader(sh: &Shared, consistency: &str, seed: u64) {
    let process = format!("reader-{consistency}");
    let mut rng = Rng::new(seed);
    let n_nodes = sh.targets.http.len();
    let mut op: u64 = 0;
    while !sh.stopped() {
        let began = Instant::now();
        let w = WRITERS[rng.below(WRITERS.len())];
        let last = sh.last_k[w.number()].load(Ordering::Acquire);
        if last < 0 {
            sh.pace(began);
            continue;
        }
        let s = rng.below(sh.spec.series);
        let node = rng.below(n_nodes);
        let at = sh.spec.t0 + last * sh.spec.step_ms;
        let promql = format!(
            "{METRIC}{{p=\"{}\",s=\"{s}\"}}[{}ms]",
            w.name(),
            READ_WINDOW_MS
        );
        let mut inv = Entry::new(&process, EntryType::Invoke, "read");
        inv.op = Some(op);
        inv.node = Some(sh.targets.ids[node].clone());
        inv.consistency = Some(consistency.to_string());
        inv.detail = Some(promql.clone());
        inv.range = Some(ReadRange {
            series: series_text(w.name(), s),
            after: at - READ_WINDOW_MS,
            until: at,
        });
        sh.rec.record(inv);
        let sent = Instant::now();
        let path = format!(
            "/api/v1/query?query={}&time={}.{:03}&consistency={consistency}",
            http::encode_component(&promql),
            at.div_euclid(1000),
            at.rem_euclid(1000)
        );
        let res = http::request_within(
            sh.targets.http[node],
            "GET",
            &path,
            &[],
            b"",
            sh.spec.timeout,
        );
        let mut done = Entry::new(&process, EntryType::Ok, "read");
        done.op = Some(op);
        done.node = Some(sh.targets.ids[node].clone());
        done.latency_ms = Some(sent.elapsed().as_secs_f64() * 1000.0);
        match res {
            Ok(r) if r.status == 200 => match r.json().and_then(|v| matrix_samples(&v)) {
                Ok(seen) => done.reads = seen,
                Err(e) => {
                    // An answer that is not a well-formed matrix is a wrong read, not a fault.
                    done.kind = EntryType::Ok;
                    done.error = Some(format!("malformed answer: {e:#}"));
                }
            },
            Ok(r) => {
                done.kind = EntryType::Fail;
                done.error = Some(format!("{} {}", r.status, r.text().trim()));
            }
            Err(e) => {
                done.kind = EntryType::Unknown;
                done.error = Some(format!("{e:#}"));
            }
        }
        sh.rec.record(done);
        op += 1;
        sh.pace(began);
    }
}

/// The samples of a Prometheus API matrix answer, as (series text, ts, value).
pub fn matrix_samples(v: &serde_json::Value) -> anyhow::Result<Vec<Seen>> {
    anyhow::ensure!(
        v["data"]["resultType"] == "matrix",
        "expected a matrix, got {}",
        v["data"]["resultType"]
    );
    let mut out = Vec::new();
    for r in v["data"]["result"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("data.result is not an array"))?
    {
        let p = r["metric"]["p"].as_str().unwrap_or("?");
        let s = r["metric"]["s"].as_str().unwrap_or("?");
        let series = format!("{p}/{s}");
        for pair in r["values"].as_array().into_iter().flatten() {
            let t = pair[0]
                .as_f64()
                .ok_or_else(|| anyhow::anyhow!("bad sample time in {pair}"))?;
            let value: f64 = pair[1]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("bad sample value in {pair}"))?
                .parse()?;
            out.push(Seen {
                series: series.clone(),
                ts: (t * 1000.0).round() as i64,
                value,
            });
        }
    }
    Ok(out)
}
