//! `cargo bench -p floe-node --bench peers [-- OPTIONS]`: Floe side by side with
//! VictoriaMetrics, Prometheus and InfluxDB 1.x, in one run on one machine, with the same data,
//! the same loader and the same queries (`scripts/bench-peers` installs the peers and runs
//! this; `docs/benchmarks.md` explains every figure).
//!
//! For each value mode of the TSBS devops cpu-only data set (`floe-datagen`, default 200 hosts ×
//! 12 h at 10 s, ending 5 minutes before the run starts), every system ingests it in a fresh
//! process and directory: InfluxDB line protocol into Floe, VictoriaMetrics and InfluxDB;
//! Prometheus remote write into Floe, VictoriaMetrics and Prometheus, with the 4-connection
//! loader of `common::load`. Then each system persists and compacts what it holds
//! (`common::peers::persist`), its directory is measured, and the remote-write instances of
//! the query mode answer the TSBS-style PromQL queries of `common::tsbs` (p50/p99 over
//! `--reps` queries of each type after one warm-up; answers compared with Prometheus's).
//!
//! Options: `--hosts N`, `--hours H`, `--modes int,float`, `--query-mode float`, `--reps R`
//! (default 20), `--smoke` (10 hosts × 1 h, float only, 5 reps; writes nothing under docs/),
//! `--out DIR` (where `peers.json` and `peers.png` go; default `docs/bench`, and the section
//! of `docs/benchmarks.md` between the `peers` markers is rewritten). The last line printed is
//! one JSON object with the headline ratios.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use common::http::Conn;
use common::load::{REMOTE_WRITE_HEADERS, line_protocol_bodies, load};
use common::peers::bodies::remote_write_time_ordered;
use common::peers::compare::{Answer, parse};
use common::peers::persist::persist;
use common::peers::queries::{QueryType, query_set};
use common::peers::report::{IngestRun, QueryRun, Report, load_average};
use common::peers::systems::{DATABASE, Instance, machine, start, versions};
use common::peers::{PROMQL_SYSTEMS, Protocol, System};
use common::process::{cpu_seconds, peak_rss_bytes};
use floe_datagen::{Config, Generator, ValueMode};

/// Command-line options.
#[derive(Debug, Clone)]
struct Options {
    hosts: u32,
    hours: u32,
    modes: Vec<ValueMode>,
    query_mode: ValueMode,
    reps: usize,
    /// Loads per system, protocol and mode (fresh process each); the median counts.
    load_runs: usize,
    smoke: bool,
    out: Option<PathBuf>,
    /// Only these systems (all by default; for debugging a peer).
    systems: Vec<System>,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "peers: {problem}\noptions: --hosts N --hours H --modes int,float --query-mode float --reps R --load-runs N --smoke --out DIR --systems floe,vm,prometheus,influxdb"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut o = Options {
        hosts: 200,
        hours: 12,
        modes: vec![ValueMode::Integer, ValueMode::Float2],
        query_mode: ValueMode::Float2,
        reps: 20,
        load_runs: 3,
        smoke: false,
        out: None,
        systems: vec![
            System::Floe,
            System::VictoriaMetrics,
            System::Prometheus,
            System::InfluxDb,
        ],
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        let num = |v: String| {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("not a number: {v}")))
        };
        match a.as_str() {
            "--hosts" => o.hosts = num(value("--hosts")),
            "--hours" => o.hours = num(value("--hours")),
            "--reps" => o.reps = num(value("--reps")) as usize,
            "--load-runs" => o.load_runs = (num(value("--load-runs")) as usize).max(1),
            "--modes" => {
                o.modes = value("--modes")
                    .split(',')
                    .map(|m| {
                        m.parse()
                            .unwrap_or_else(|_| usage(&format!("unknown mode {m}")))
                    })
                    .collect()
            }
            "--query-mode" => {
                o.query_mode = value("--query-mode")
                    .parse()
                    .unwrap_or_else(|_| usage("unknown query mode"))
            }
            "--out" => o.out = Some(PathBuf::from(value("--out"))),
            "--systems" => {
                let list = value("--systems");
                o.systems = o
                    .systems
                    .iter()
                    .copied()
                    .filter(|s| list.split(',').any(|k| k == s.key()))
                    .collect();
            }
            "--smoke" => {
                o.smoke = true;
                (o.hosts, o.hours, o.reps, o.load_runs) = (10, 1, 5, 1);
                o.modes = vec![ValueMode::Float2];
            }
            // `cargo bench` passes `--bench` to every bench target.
            "--bench" => {}
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if !o.modes.contains(&o.query_mode) {
        o.modes.push(o.query_mode);
    }
    o
}

/// The write path and extra headers of `protocol` on `system`.
fn write_target(system: System, protocol: Protocol) -> (String, &'static str) {
    match (protocol, system) {
        (Protocol::Line, _) => (format!("/write?db={DATABASE}"), ""),
        (Protocol::RemoteWrite, _) => ("/api/v1/write".to_string(), REMOTE_WRITE_HEADERS),
    }
}

/// Runs every query on `addr`: per type the latencies of the timed queries and their answers.
fn run_queries(system: System, addr: std::net::SocketAddr, qs: &[QueryType]) -> Vec<QueryRun> {
    let mut conn = Conn::new(addr);
    qs.iter()
        .map(|t| {
            let _ = conn.get(&t.queries[0].path());
            let mut times = Vec::new();
            let mut answers = Vec::new();
            for q in &t.queries[1..] {
                let start = Instant::now();
                let r = conn.get(&q.path());
                times.push(start.elapsed());
                answers.push(parse(r.status, &r.body));
            }
            let run = QueryRun::new(system, &t.name, &times, answers);
            let failed = run
                .answers
                .iter()
                .filter(|a| matches!(a, Answer::Failed { .. }))
                .count();
            println!(
                "  {:<33} p50 {:>10.1} us  p99 {:>10.1} us{}",
                t.name,
                run.p50_us,
                run.p99_us,
                if failed > 0 {
                    format!("  ({failed} failed)")
                } else {
                    String::new()
                }
            );
            if let Some(Answer::Failed { status, body }) = run
                .answers
                .iter()
                .find(|a| matches!(a, Answer::Failed { .. }))
            {
                println!("    first failure: {status} {body}");
            }
            run
        })
        .collect()
}

/// One system, one protocol, one mode: `load_runs` loads into fresh processes and directories
/// (the median counts; the machine is shared and noisy), then the last instance persists, is
/// measured, answers the queries and is stopped.
#[allow(clippy::too_many_arguments)]
fn run_one(
    system: System,
    protocol: Protocol,
    mode: ValueMode,
    generator: &Generator,
    bodies: &Arc<Vec<Vec<u8>>>,
    root: &std::path::Path,
    load_runs: usize,
    qs: Option<&[QueryType]>,
) -> (IngestRun, Vec<QueryRun>) {
    let (path, extra) = write_target(system, protocol);
    let mut loads = Vec::new();
    for n in 0..load_runs {
        let dir = root.join(format!("{mode}-{}-{}-{n}", protocol.key(), system.key()));
        let inst = Instance::new(dir, generator.config().points / 360);
        let mut server = start(system, &inst);
        let cpu0 = cpu_seconds(server.pid());
        let wall = load(server.http, &path, extra, bodies.clone());
        loads.push((wall, cpu_seconds(server.pid()) - cpu0));
        if n + 1 < load_runs {
            drop(server);
            let _ = std::fs::remove_dir_all(&inst.root);
            continue;
        }
        let rss_load = peak_rss_bytes(server.pid());
        let persisted = persist(system, &mut server, &inst);
        let rss = rss_load.max(peak_rss_bytes(server.pid()));
        let run = IngestRun::new(
            system,
            protocol,
            mode,
            generator.sample_count(),
            &loads,
            rss,
            persisted,
        );
        println!("{}", run.line());
        let queried = qs
            .map(|qs| run_queries(system, server.http, qs))
            .unwrap_or_default();
        drop(server);
        let _ = std::fs::remove_dir_all(&inst.root);
        return (run, queried);
    }
    unreachable!("load_runs is at least 1")
}

/// The data start: `hours` ending 5 minutes before now, on a whole minute.
fn data_start_ms(hours: u32) -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let start = now_ms - 5 * 60_000 - i64::from(hours) * 3_600_000;
    start - start.rem_euclid(60_000)
}

fn main() {
    let o = parse_args();
    let started = Instant::now();
    let start_ms = data_start_ms(o.hours);
    let tmp = tempfile::Builder::new()
        .prefix("floe-peers-")
        .tempdir()
        .expect("create the run directory");
    println!(
        "peers bench: TSBS cpu-only {} hosts x {} h at 10 s, modes {:?}, data from {start_ms} ms; queries in mode {} ({} per type); run directory {}",
        o.hosts,
        o.hours,
        o.modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
        o.query_mode,
        o.reps,
        tmp.path().display()
    );
    let start_s = start_ms / 1000;
    let qs = query_set(
        o.reps,
        start_s,
        start_s + i64::from(o.hours) * 3600,
        o.hosts,
    );
    let mut report = Report::new(
        o.hosts,
        o.hours,
        o.reps,
        o.query_mode,
        versions(),
        machine(),
    );
    for &mode in &o.modes {
        let generator = Generator::new(Config {
            hosts: o.hosts,
            points: o.hours * 360,
            mode,
            start_ms,
            ..Config::default()
        })
        .expect("generator config");
        for protocol in [Protocol::Line, Protocol::RemoteWrite] {
            let t = Instant::now();
            let bodies = Arc::new(match protocol {
                Protocol::Line => line_protocol_bodies(&generator),
                Protocol::RemoteWrite => remote_write_time_ordered(&generator),
            });
            println!(
                "{mode} / {}: {} requests, {:.1} MB, encoded in {:.1} s (not timed)",
                protocol.name(),
                bodies.len(),
                bodies.iter().map(Vec::len).sum::<usize>() as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
            for &system in protocol.systems().iter().filter(|s| o.systems.contains(s)) {
                let query = protocol == Protocol::RemoteWrite
                    && mode == o.query_mode
                    && PROMQL_SYSTEMS.contains(&system);
                let (run, q) = run_one(
                    system,
                    protocol,
                    mode,
                    &generator,
                    &bodies,
                    tmp.path(),
                    o.load_runs,
                    query.then_some(qs.as_slice()),
                );
                report.ingest.push(run);
                report.queries.extend(q);
            }
        }
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    report.load_end = load_average();
    report.queries_text = qs
        .iter()
        .map(|t| (t.name.clone(), t.queries[1].promql.clone()))
        .collect::<BTreeMap<_, _>>();
    for line in report.agreement_lines() {
        println!("{line}");
    }
    let out = o.out.clone().unwrap_or_else(|| {
        if o.smoke {
            tmp.path().join("out")
        } else {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bench"))
        }
    });
    report.write(&out, !o.smoke && o.out.is_none());
    println!(
        "wrote {}/peers.json and peers.png in {:.0} s",
        out.display(),
        report.elapsed_s
    );
    println!("{}", report.headline_json());
}
