//! The peer benchmark's results: ratios, the Markdown section of `docs/benchmarks.md`, the
//! JSON file, the chart and the headline JSON line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use floe_datagen::ValueMode;
use serde_json::{Value, json};

use super::super::stats::{percentile, us};
use super::chart::{Bar, render};
use super::compare::{Answer, diff};
use super::persist::Persisted;
use super::{PROMQL_SYSTEMS, Protocol, System};

mod markdown;

/// One system loaded with one protocol in one value mode.
#[derive(Debug, Clone)]
pub struct IngestRun {
    pub system: System,
    pub protocol: Protocol,
    pub mode: ValueMode,
    pub samples: u64,
    /// Median wall time of the loads.
    pub wall_s: f64,
    /// Server CPU seconds during the load (median of the loads).
    pub cpu_load_s: f64,
    /// Every load's (wall seconds, server CPU seconds), in order.
    pub loads: Vec<(f64, f64)>,
    /// Peak resident set (`VmHWM`) after the load and the persistence.
    pub peak_rss_bytes: u64,
    pub persisted: Persisted,
}

impl IngestRun {
    pub fn new(
        system: System,
        protocol: Protocol,
        mode: ValueMode,
        samples: u64,
        loads: &[(f64, f64)],
        peak_rss_bytes: u64,
        persisted: Persisted,
    ) -> Self {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        IngestRun {
            system,
            protocol,
            mode,
            samples,
            wall_s: median(loads.iter().map(|l| l.0).collect()),
            cpu_load_s: median(loads.iter().map(|l| l.1).collect()),
            loads: loads.to_vec(),
            peak_rss_bytes,
            persisted,
        }
    }

    pub fn rate(&self) -> f64 {
        self.samples as f64 / self.wall_s
    }

    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_load_s / (self.samples as f64 / 1e6)
    }

    pub fn bytes_per_sample(&self) -> f64 {
        self.persisted.bytes.stored as f64 / self.samples as f64
    }

    /// Bytes per sample without Floe's rollup blocks (the same as `bytes_per_sample` for the
    /// peers, which keep none).
    pub fn bytes_per_sample_without_rollups(&self) -> f64 {
        let rollups = self.persisted.rollup_bytes.unwrap_or(0);
        self.persisted.bytes.stored.saturating_sub(rollups) as f64 / self.samples as f64
    }

    /// One line for the console.
    pub fn line(&self) -> String {
        format!(
            "{:<5} {:<13} {:<15} {:>6.2} M samples/s ({:.2} s; runs {}), CPU {:.3} s/M; persist {:.1} s ({:.1} CPU s{}); {:.3} B/sample ({} files); peak RSS {:.0} MB{}",
            self.mode.name(),
            self.protocol.name(),
            self.system.name(),
            self.rate() / 1e6,
            self.wall_s,
            self.loads
                .iter()
                .map(|l| format!("{:.2}", self.samples as f64 / l.0 / 1e6))
                .collect::<Vec<_>>()
                .join("/"),
            self.cpu_per_million(),
            self.persisted.seconds,
            self.persisted.cpu_s,
            if self.persisted.settled {
                ""
            } else {
                ", NOT settled"
            },
            self.bytes_per_sample(),
            self.persisted.bytes.files,
            self.peak_rss_bytes as f64 / 1e6,
            self.persisted
                .notes
                .iter()
                .map(|n| format!("; {n}"))
                .collect::<String>()
        )
    }
}

/// One system's answers to the queries of one type.
#[derive(Debug, Clone)]
pub struct QueryRun {
    pub system: System,
    pub kind: String,
    pub p50_us: f64,
    pub p99_us: f64,
    pub answers: Vec<Answer>,
}

impl QueryRun {
    pub fn new(system: System, kind: &str, times: &[Duration], answers: Vec<Answer>) -> Self {
        QueryRun {
            system,
            kind: kind.to_string(),
            p50_us: us(percentile(times, 50.0)),
            p99_us: us(percentile(times, 99.0)),
            answers,
        }
    }

    pub(super) fn failed(&self) -> usize {
        self.answers
            .iter()
            .filter(|a| matches!(a, Answer::Failed { .. }))
            .count()
    }
}

/// How two systems' answers to one query type compare.
#[derive(Debug, Clone)]
pub struct Agreement {
    pub kind: String,
    pub a: System,
    pub b: System,
    pub agreed: usize,
    pub total: usize,
    /// Queries both systems refused with the same status (counted as agreeing).
    pub both_refused: usize,
    /// The first difference, if any.
    pub first: Option<String>,
}

/// The pairs compared (Prometheus is the reference for PromQL semantics).
const PAIRS: [(System, System); 3] = [
    (System::Floe, System::Prometheus),
    (System::VictoriaMetrics, System::Prometheus),
    (System::Floe, System::VictoriaMetrics),
];

/// Everything one run measured.
#[derive(Debug)]
pub struct Report {
    pub hosts: u32,
    pub hours: u32,
    pub reps: usize,
    pub query_mode: ValueMode,
    pub versions: Vec<(System, String)>,
    pub machine: String,
    pub started_unix_s: u64,
    pub elapsed_s: f64,
    /// `/proc/loadavg`'s 1-minute load at the start and at the end (other jobs on the machine).
    pub load_start: f64,
    pub load_end: f64,
    pub ingest: Vec<IngestRun>,
    pub queries: Vec<QueryRun>,
    /// One example PromQL text per query type.
    pub queries_text: BTreeMap<String, String>,
}

impl Report {
    pub fn new(
        hosts: u32,
        hours: u32,
        reps: usize,
        query_mode: ValueMode,
        versions: Vec<(System, String)>,
        machine: String,
    ) -> Self {
        let started_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Report {
            hosts,
            hours,
            reps,
            query_mode,
            versions,
            machine,
            started_unix_s,
            elapsed_s: 0.0,
            load_start: load_average(),
            load_end: 0.0,
            ingest: Vec::new(),
            queries: Vec::new(),
            queries_text: BTreeMap::new(),
        }
    }

    fn run(&self, mode: ValueMode, protocol: Protocol, system: System) -> Option<&IngestRun> {
        self.ingest
            .iter()
            .find(|r| r.mode == mode && r.protocol == protocol && r.system == system)
    }

    /// Floe's ingest rate over `peer`'s with `protocol`, in `mode`.
    fn ingest_ratio(&self, mode: ValueMode, protocol: Protocol, peer: System) -> Option<f64> {
        let f = self.run(mode, protocol, System::Floe)?;
        Some(f.rate() / self.run(mode, protocol, peer)?.rate())
    }

    /// Floe's bytes per sample over `peer`'s, from the instances loaded with `protocol`.
    fn bytes_ratio(&self, mode: ValueMode, protocol: Protocol, peer: System) -> Option<f64> {
        let f = self.run(mode, protocol, System::Floe)?;
        Some(f.bytes_per_sample() / self.run(mode, protocol, peer)?.bytes_per_sample())
    }

    /// As `bytes_ratio`, without Floe's rollup blocks.
    fn bytes_ratio_without_rollups(
        &self,
        mode: ValueMode,
        protocol: Protocol,
        peer: System,
    ) -> Option<f64> {
        let f = self.run(mode, protocol, System::Floe)?;
        Some(
            f.bytes_per_sample_without_rollups()
                / self.run(mode, protocol, peer)?.bytes_per_sample(),
        )
    }

    fn query(&self, system: System, kind: &str) -> Option<&QueryRun> {
        self.queries
            .iter()
            .find(|q| q.system == system && q.kind == kind)
    }

    /// Floe's p50 over `peer`'s, per query type (types where either failed are left out).
    fn p50_ratios(&self, peer: System) -> Vec<(&str, f64)> {
        self.queries
            .iter()
            .filter(|q| q.system == System::Floe && q.failed() == 0)
            .filter_map(|f| {
                let p = self.query(peer, &f.kind).filter(|p| p.failed() == 0)?;
                Some((f.kind.as_str(), f.p50_us / p.p50_us))
            })
            .collect()
    }

    /// Every pair's agreement per query type.
    pub fn agreements(&self) -> Vec<Agreement> {
        let kinds: Vec<&str> = self
            .queries
            .iter()
            .filter(|q| q.system == PROMQL_SYSTEMS[0])
            .map(|q| q.kind.as_str())
            .collect();
        let mut out = Vec::new();
        for kind in kinds {
            for (a, b) in PAIRS {
                let (Some(qa), Some(qb)) = (self.query(a, kind), self.query(b, kind)) else {
                    continue;
                };
                let diffs: Vec<Option<String>> = qa
                    .answers
                    .iter()
                    .zip(&qb.answers)
                    .map(|(x, y)| diff(x, y))
                    .collect();
                out.push(Agreement {
                    kind: kind.to_string(),
                    a,
                    b,
                    agreed: diffs.iter().filter(|d| d.is_none()).count(),
                    both_refused: qa
                        .answers
                        .iter()
                        .zip(&qb.answers)
                        .filter(|(x, y)| {
                            matches!(x, Answer::Failed { .. }) && matches!(y, Answer::Failed { .. })
                        })
                        .filter(|(x, y)| diff(x, y).is_none())
                        .count(),
                    total: diffs.len(),
                    first: diffs.into_iter().flatten().next(),
                });
            }
        }
        out
    }

    /// Console lines on the agreement of the answers.
    pub fn agreement_lines(&self) -> Vec<String> {
        let mut lines = vec!["answers (A = B within 1e-9 relative):".to_string()];
        for g in self.agreements() {
            lines.push(format!(
                "  {:<22} {} = {}: {}/{}{}",
                g.kind,
                g.a.name(),
                g.b.name(),
                g.agreed,
                g.total,
                g.first
                    .as_ref()
                    .map(|f| format!("; first difference: {}", clip(f, 400)))
                    .unwrap_or_default()
            ));
        }
        lines
    }

    /// Headline figures (the query mode's), by JSON key.
    fn headline(&self) -> Vec<(String, Option<f64>)> {
        let m = self.query_mode;
        let worst = |peer| {
            self.p50_ratios(peer)
                .iter()
                .map(|(_, r)| *r)
                .fold(None, |acc: Option<f64>, r| {
                    Some(acc.map_or(r, |a| a.max(r)))
                })
        };
        let geo = |peer| geomean(self.p50_ratios(peer).iter().map(|(_, r)| *r));
        let (l, rw) = (Protocol::Line, Protocol::RemoteWrite);
        let (vm, prom, influx) = (
            System::VictoriaMetrics,
            System::Prometheus,
            System::InfluxDb,
        );
        let mut h = vec![
            ("ingest_ratio_vs_vm".into(), self.ingest_ratio(m, l, vm)),
            ("ingest_ratio_vs_vm_rw".into(), self.ingest_ratio(m, rw, vm)),
            (
                "ingest_ratio_vs_prometheus".into(),
                self.ingest_ratio(m, rw, prom),
            ),
            (
                "ingest_ratio_vs_influxdb".into(),
                self.ingest_ratio(m, l, influx),
            ),
            ("bytes_ratio_vs_vm".into(), self.bytes_ratio(m, rw, vm)),
            (
                "bytes_ratio_vs_prometheus".into(),
                self.bytes_ratio(m, rw, prom),
            ),
            (
                "bytes_ratio_vs_influxdb".into(),
                self.bytes_ratio(m, l, influx),
            ),
            (
                "bytes_ratio_vs_vm_without_rollups".into(),
                self.bytes_ratio_without_rollups(m, rw, vm),
            ),
            (
                "bytes_ratio_vs_prometheus_without_rollups".into(),
                self.bytes_ratio_without_rollups(m, rw, prom),
            ),
            ("query_p50_ratio_vs_vm_worst".into(), worst(vm)),
            ("query_p50_ratio_vs_vm_geomean".into(), geo(vm)),
            ("query_p50_ratio_vs_prometheus_worst".into(), worst(prom)),
            ("query_p50_ratio_vs_prometheus_geomean".into(), geo(prom)),
        ];
        let modes: Vec<ValueMode> = ValueMode::ALL
            .into_iter()
            .filter(|&x| x != m && self.ingest.iter().any(|r| r.mode == x))
            .collect();
        for x in modes {
            let n = x.name();
            h.push((
                format!("ingest_ratio_vs_vm_{n}"),
                self.ingest_ratio(x, l, vm),
            ));
            h.push((
                format!("bytes_ratio_vs_vm_{n}"),
                self.bytes_ratio(x, rw, vm),
            ));
            h.push((
                format!("bytes_ratio_vs_prometheus_{n}"),
                self.bytes_ratio(x, rw, prom),
            ));
            h.push((
                format!("bytes_ratio_vs_vm_without_rollups_{n}"),
                self.bytes_ratio_without_rollups(x, rw, vm),
            ));
        }
        h
    }

    fn disagreeing(&self) -> usize {
        self.agreements()
            .iter()
            .filter(|g| g.agreed < g.total)
            .count()
    }

    /// The last line: one JSON object.
    pub fn headline_json(&self) -> String {
        let mut o = serde_json::Map::new();
        o.insert("bench".into(), json!("peers"));
        for (k, v) in self.headline() {
            o.insert(k, v.map_or(Value::Null, |v| json!(round4(v))));
        }
        o.insert("headline_mode".into(), json!(self.query_mode.name()));
        o.insert("answer_pairs_disagreeing".into(), json!(self.disagreeing()));
        o.insert("hosts".into(), json!(self.hosts));
        o.insert("hours".into(), json!(self.hours));
        o.insert("elapsed_s".into(), json!(self.elapsed_s.round()));
        Value::Object(o).to_string()
    }

    /// Writes `peers.json`, `peers.png` and `peers.md` (the Markdown section) into `dir`, and
    /// when `docs` splices the section into `docs/benchmarks.md`.
    pub fn write(&self, dir: &Path, docs: bool) {
        std::fs::create_dir_all(dir).expect("create the output directory");
        let json = serde_json::to_string_pretty(&self.to_json()).expect("serialize results");
        std::fs::write(dir.join("peers.json"), json + "\n").expect("write peers.json");
        std::fs::write(dir.join("peers.png"), self.chart()).expect("write peers.png");
        let section = self.markdown();
        std::fs::write(dir.join("peers.md"), &section).expect("write peers.md");
        if docs {
            let md = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks.md");
            let text = std::fs::read_to_string(&md).expect("read docs/benchmarks.md");
            std::fs::write(&md, markdown::splice(&text, &section))
                .expect("write docs/benchmarks.md");
        }
    }

    fn to_json(&self) -> Value {
        let runs: Vec<Value> = self
            .ingest
            .iter()
            .map(|r| {
                json!({
                    "mode": r.mode.name(), "protocol": r.protocol.key(), "system": r.system.key(),
                    "samples": r.samples, "wall_s": round4(r.wall_s),
                    "load_rates": r.loads.iter().map(|l| (r.samples as f64 / l.0).round()).collect::<Vec<_>>(),
                    "samples_per_s": r.rate().round(),
                    "cpu_s_per_million_samples": round4(r.cpu_per_million()),
                    "persist_s": round4(r.persisted.seconds),
                    "persist_cpu_s": round4(r.persisted.cpu_s),
                    "settled": r.persisted.settled,
                    "bytes_stored": r.persisted.bytes.stored,
                    "bytes_apparent": r.persisted.bytes.apparent,
                    "bytes_allocated": r.persisted.bytes.allocated,
                    "files": r.persisted.bytes.files,
                    "bytes_per_sample": round4(r.bytes_per_sample()),
                    "rollup_bytes": r.persisted.rollup_bytes,
                    "bytes_per_sample_without_rollups": round4(r.bytes_per_sample_without_rollups()),
                    "peak_rss_bytes": r.peak_rss_bytes,
                    "notes": r.persisted.notes,
                })
            })
            .collect();
        let queries: Vec<Value> = self
            .queries
            .iter()
            .map(|q| {
                json!({"system": q.system.key(), "type": q.kind, "p50_us": round4(q.p50_us),
                       "p99_us": round4(q.p99_us), "failed": q.failed(), "reps": q.answers.len()})
            })
            .collect();
        let agreement: Vec<Value> = self
            .agreements()
            .iter()
            .map(|g| {
                json!({"type": g.kind, "a": g.a.key(), "b": g.b.key(), "agreed": g.agreed,
                       "total": g.total, "both_refused": g.both_refused, "first_difference": g.first})
            })
            .collect();
        let headline: serde_json::Map<String, Value> = self
            .headline()
            .into_iter()
            .map(|(k, v)| (k, v.map_or(Value::Null, |v| json!(round4(v)))))
            .collect();
        json!({
            "date": utc_date_time(self.started_unix_s),
            "machine": self.machine,
            "versions": self.versions.iter().map(|(s, v)| (s.key().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "hosts": self.hosts, "hours": self.hours, "reps": self.reps,
            "query_mode": self.query_mode.name(), "elapsed_s": self.elapsed_s.round(),
            "load_average_start": self.load_start, "load_average_end": self.load_end,
            "headline": headline, "ingest": runs, "queries": queries, "agreement": agreement,
            "query_examples": self.queries_text,
        })
    }

    fn chart(&self) -> Vec<u8> {
        let m = self.query_mode;
        let (l, rw) = (Protocol::Line, Protocol::RemoteWrite);
        let (vm, prom, influx) = (
            System::VictoriaMetrics,
            System::Prometheus,
            System::InfluxDb,
        );
        let mut bars = Vec::new();
        let mut push = |label: &str, r: Option<f64>, higher_is_better| {
            if let Some(ratio) = r {
                bars.push(Bar {
                    label: label.to_string(),
                    ratio,
                    higher_is_better,
                });
            }
        };
        push(
            "INGEST LINE PROTOCOL VS VM",
            self.ingest_ratio(m, l, vm),
            true,
        );
        push(
            "INGEST LINE PROTOCOL VS INFLUXDB",
            self.ingest_ratio(m, l, influx),
            true,
        );
        push(
            "INGEST REMOTE WRITE VS VM",
            self.ingest_ratio(m, rw, vm),
            true,
        );
        push(
            "INGEST REMOTE WRITE VS PROMETHEUS",
            self.ingest_ratio(m, rw, prom),
            true,
        );
        push("BYTES/SAMPLE VS VM", self.bytes_ratio(m, rw, vm), false);
        push(
            "BYTES/SAMPLE VS PROMETHEUS",
            self.bytes_ratio(m, rw, prom),
            false,
        );
        push(
            "BYTES/SAMPLE VS INFLUXDB",
            self.bytes_ratio(m, l, influx),
            false,
        );
        push(
            "BYTES/SAMPLE W/O FLOE ROLLUPS VS VM",
            self.bytes_ratio_without_rollups(m, rw, vm),
            false,
        );
        for peer in [vm, prom] {
            let short = if peer == vm { "VM" } else { "PROM" };
            for (kind, r) in self.p50_ratios(peer) {
                push(&format!("P50 {kind} VS {short}"), Some(r), false);
            }
        }
        let title = format!(
            "FLOE / PEER, {} HOSTS X {} H, {} VALUES, {}",
            self.hosts,
            self.hours,
            m.name(),
            &utc_date_time(self.started_unix_s)[..10]
        );
        render(
            &title,
            "LOG SCALE. GREEN: FLOE BETTER, RED: FLOE WORSE",
            &bars,
        )
    }
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn round4(v: f64) -> f64 {
    if v.is_finite() {
        let m = 10f64
            .powi(4 - v.abs().log10().ceil().max(0.0) as i32)
            .max(1.0);
        (v * m).round() / m
    } else {
        0.0
    }
}

fn geomean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x.ln(), n + 1));
    (n > 0).then(|| (sum / n as f64).exp())
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// `YYYY-MM-DD HH:MM UTC` of Unix seconds (civil-from-days, proleptic Gregorian).
pub fn utc_date_time(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}
