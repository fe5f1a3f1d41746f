//! One run: start the cluster (and a mirror target when the mirror nemesis is on), run the
//! workloads while the nemesis follows its schedule, heal, wait for the replicas to converge,
//! read everything back, check, and write the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use floe_ctl::certs::Subject;
use floe_tests::convergence::{cluster_digest, mirror_config, mirror_table, total};
use floe_tests::rebalance::replicas_agree;
use floe_tests::{ClusterSpec, TestCluster, http};
use serde::Serialize;
use serde_json::json;

use crate::checker::{self, Verdict};
use crate::history::{Entry, Recorder, Seen};
use crate::nemesis::{self, Env, Fault, Kind, lock};
use crate::net::Firewall;
use crate::report;
use crate::workload::{self, METRIC, Targets, WRITERS, WorkloadSpec, Workloads};

/// What to run.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Its name (`kill+partition`).
    pub name: String,
    /// The nemeses it combines.
    pub kinds: Vec<Kind>,
    /// Seed of the fault schedule (and of the readers' choices).
    pub seed: u64,
    /// Nodes.
    pub nodes: usize,
    /// Replication factor.
    pub replication: u32,
    /// How long the workloads run under faults, seconds (then healing and checks).
    pub time_limit_s: f64,
    /// The bound on convergence after healing, seconds (the target: 60).
    pub converge_within_s: f64,
    /// Background anti-entropy interval of the nodes (e.g. `5s`).
    pub anti_entropy_interval: String,
}

impl Scenario {
    /// A scenario of `kinds` with the suite's defaults: 3 nodes, N = 3, 60 s, converge within
    /// 60 s, anti-entropy every 5 s.
    pub fn new(kinds: Vec<Kind>, seed: u64) -> Self {
        let name = if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join("+")
        };
        Self {
            name,
            kinds,
            seed,
            nodes: 3,
            replication: 3,
            time_limit_s: 60.0,
            converge_within_s: 60.0,
            anti_entropy_interval: "5s".into(),
        }
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Whether every checker passed.
    pub valid: bool,
    /// The run's directory (history, results.json, timeline.png, logs).
    pub dir: PathBuf,
    /// The results document.
    pub results: serde_json::Value,
}

/// Seconds to wait after the last fault's heal before stopping the workloads.
const QUIET_AFTER_HEAL_S: f64 = 3.0;
/// Bound on waiting for convergence (longer than the target so the report can say how long).
const CONVERGE_DEADLINE: Duration = Duration::from_secs(150);

/// Runs `s`, writing its report into `dir` (created).
pub fn run(s: &Scenario, dir: &Path) -> anyhow::Result<RunResult> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let began = Instant::now();
    let schedule = nemesis::schedule(&s.kinds, s.seed, s.nodes, s.time_limit_s);
    eprintln!(
        "jepsen: {} seed {}: {} faults scheduled over {} s on {} nodes (N={}); report in {}",
        s.name,
        s.seed,
        schedule.len(),
        s.time_limit_s,
        s.nodes,
        s.replication,
        dir.display()
    );

    // The mirror target first: the source's config names it.
    let mirror = if s.kinds.contains(&Kind::Mirror) {
        let mut spec = ClusterSpec::new(1, 1);
        spec.name = "floe-jepsen-mirror".into();
        Some(Arc::new(Mutex::new(TestCluster::start(spec)?)))
    } else {
        None
    };
    let mut spec = ClusterSpec::new(s.nodes, s.replication);
    spec.name = "floe-jepsen".into();
    spec = spec.config(&format!(
        "[cluster]\nanti_entropy_interval = \"{}\"\n",
        s.anti_entropy_interval
    ));
    if let Some(m) = &mirror {
        let m = lock(m);
        let tls = m.issue(&Subject::Client("jepsen-mirror".into()))?;
        let over = mirror_config(&[mirror_table("target", &m, tls, None)]);
        floe_tests::cluster::merge(&mut spec.config, &over);
    }
    let cluster = Arc::new(Mutex::new(TestCluster::start(spec)?));
    let firewall = if s.kinds.contains(&Kind::Partition) {
        Some(Firewall::new()?)
    } else {
        None
    };
    let faketime = nemesis::find_faketime();
    if s.kinds.contains(&Kind::Clock) && faketime.is_none() {
        anyhow::bail!("the clock nemesis needs libfaketime (Debian package faketime)");
    }
    let started_s = began.elapsed().as_secs_f64();

    let rec = Recorder::create(&dir.join("history.jsonl"))?;
    let wspec = WorkloadSpec::default();
    let t0 = wspec.t0;
    let targets = {
        let c = lock(&cluster);
        Targets {
            ids: (0..c.len()).map(|i| c.node_id(i).to_string()).collect(),
            http: c.http_addrs(),
            client: c.client_config(),
        }
    };
    let workloads = Workloads::start(wspec, targets, rec.clone(), s.seed);
    let env = Env {
        cluster: cluster.clone(),
        mirror: mirror.clone(),
        firewall,
        rec: rec.clone(),
        faketime,
        change_timeout: Duration::from_secs(120),
        exited: Mutex::new(Vec::new()),
    };
    let stop = AtomicBool::new(false);
    let nemesis_result = env.run(&schedule, &stop);
    // Whatever happened, every node runs again on true time with the network whole.
    stop.store(true, Ordering::Release);
    let heal_result = env.heal_all();
    let healed_s = rec.now_s();
    rec.nemesis("stop", "healed", None, None);
    let until = healed_s + QUIET_AFTER_HEAL_S;
    while rec.now_s() < until {
        // The workloads run on a whole cluster for a moment (a timetable, not a wait for
        // anything).
        std::thread::sleep(Duration::from_millis(100));
    }
    let workload_result = workloads.stop();
    nemesis_result?;
    heal_result?;
    let exited = env.exited.lock().unwrap_or_else(|p| p.into_inner()).clone();
    workload_result?;

    // Convergence, seen by the cluster digest (one request: the node compares every owner's
    // digest of every ring piece and partition), then confirmed range by range (every
    // owner's whole-range digest, a separate code path; slower, so not part of the time).
    // The mirror target is compared in the same loop, from the same moment.
    let node0 = lock(&cluster).http_addr(0);
    let target0 = mirror.as_ref().map(|m| lock(m).http_addr(0));
    let deadline = Instant::now() + CONVERGE_DEADLINE;
    let (mut converged_s, mut mirror_s, mut mirror_last) = (None, None, None);
    loop {
        if converged_s.is_none() {
            let d = cluster_digest(node0);
            if let Ok(d) = &d
                && d["replicas_disagree"].as_u64() == Some(0)
                && d["unreachable"].as_array().is_none_or(Vec::is_empty)
            {
                converged_s = Some(rec.now_s() - healed_s);
            } else if Instant::now() >= deadline {
                eprintln!("jepsen: replicas still differ: {d:?}");
            }
        }
        if let Some(t) = target0
            && mirror_s.is_none()
            && let (Ok(a), Ok(b)) = (cluster_digest(node0), cluster_digest(t))
        {
            let (a, b) = (total(&a), total(&b));
            mirror_last = Some((a, b));
            if a == b {
                mirror_s = Some(rec.now_s() - healed_s);
            }
        }
        let done = converged_s.is_some() && (target0.is_none() || mirror_s.is_some());
        if done || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let confirmed = loop {
        let c = lock(&cluster);
        match replicas_agree(&c, c.topology()) {
            Ok(ranges) => break Ok(ranges),
            Err(e) if Instant::now() >= deadline => break Err(format!("{e:#}")),
            Err(_) => {}
        }
        drop(c);
        std::thread::sleep(Duration::from_millis(250));
    };
    let mut convergence =
        Verdict::new(converged_s.is_some_and(|t| t <= s.converge_within_s) && confirmed.is_ok());
    convergence
        .count(
            "converged_after_s",
            converged_s.map(|t| (t * 10.0).round() / 10.0),
        )
        .count("bound_s", s.converge_within_s)
        .count("ranges_confirmed", confirmed.as_ref().ok().copied());
    if let Err(e) = &confirmed {
        convergence
            .examples
            .push(format!("ranges still differ: {e}"));
    }

    // The final state, read after healing and convergence.
    let history = rec.entries();
    let final_state = read_back(&lock(&cluster), &history, t0)?;
    let final_read_ms = rec.now_s() * 1000.0;

    let mirror_verdict = target0.map(|_| {
        let mut v = Verdict::new(mirror_s.is_some_and(|t| t <= s.converge_within_s));
        let ((sa, sd), (ta, td)) = mirror_last.unwrap_or(((0, 0), (0, 0)));
        v.count("source_samples", sa)
            .count("target_samples", ta)
            .count("source_digest", format!("{sd:032x}"))
            .count("target_digest", format!("{td:032x}"))
            .count(
                "identical_after_s",
                mirror_s.map(|t| (t * 10.0).round() / 10.0),
            );
        v
    });
    let mut logs = check_logs(
        &lock(&cluster),
        mirror.as_ref().map(|m| lock(m)).as_deref(),
        dir,
    )?;
    logs.count("unexpected_exits", exited.len() as u64);
    if !exited.is_empty() {
        logs.valid = false;
        logs.examples.push(format!(
            "exited on their own during the run: {}",
            exited.join(", ")
        ));
    }
    rec.flush()?;

    let mut checkers = BTreeMap::new();
    checkers.insert(
        "acknowledged",
        checker::acknowledged(&history, &final_state),
    );
    checkers.insert(
        "reads",
        checker::reads(&history, &final_state, final_read_ms),
    );
    checkers.insert("convergence", convergence);
    if let Some(m) = mirror_verdict {
        checkers.insert("mirror", m);
    }
    checkers.insert("logs", logs);
    checkers.insert("nemesis", nemesis_effects(&history, &schedule));
    let valid = checkers.values().all(|v| v.valid);
    let results = json!({
        "scenario": s,
        "valid": valid,
        "checkers": checkers,
        "ops": checker::op_counts(&history),
        "faults": schedule,
        "cluster_start_s": (started_s * 10.0).round() / 10.0,
        "healed_at_s": (healed_s * 10.0).round() / 10.0,
        "wall_s": (began.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_vec_pretty(&results)?,
    )
    .context("write results.json")?;
    let lanes: Vec<String> = {
        let c = lock(&cluster);
        (0..c.len()).map(|i| c.node_id(i).to_string()).collect()
    };
    let png = report::timeline(&s.name, s.seed, &history, &lanes, healed_s);
    std::fs::write(dir.join("timeline.png"), png).context("write timeline.png")?;
    Ok(RunResult {
        valid,
        dir: dir.to_path_buf(),
        results,
    })
}

/// Every sample of every workload series, read through node 0 at `all` after healing.
fn read_back(c: &TestCluster, history: &[Entry], t0: i64) -> anyhow::Result<Vec<Seen>> {
    let mut out = Vec::new();
    for w in WRITERS {
        let last = history
            .iter()
            .filter(|e| e.process == w.name())
            .flat_map(|e| e.writes.iter().map(|x| x.ts))
            .max();
        let Some(last) = last else { continue };
        let window_s = (last - t0) / 1000 + 2;
        let q = format!("{METRIC}{{p=\"{}\"}}[{window_s}s]", w.name());
        let r = http::query(c.http_addr(0), &q, last, Some("all"))?;
        anyhow::ensure!(
            r.status == 200,
            "final read {q} answered {}: {}",
            r.status,
            r.text()
        );
        out.extend(workload::matrix_samples(&r.json()?)?);
    }
    Ok(out)
}

/// Whether the faults did what they say: every partition dropped packets (checked when it
/// healed; a run whose partition dropped nothing stops with an error), and a run with disk
/// faults damaged at least one file.
fn nemesis_effects(history: &[Entry], schedule: &[Fault]) -> Verdict {
    let started: Vec<&Entry> = history
        .iter()
        .filter(|e| e.process == "nemesis" && e.f == "start")
        .collect();
    let damaged = started
        .iter()
        .filter(|e| e.detail.as_deref().is_some_and(checker::is_disk_damage))
        .count();
    let disk_scheduled = schedule
        .iter()
        .filter(|f| f.action.kind() == Kind::Disk)
        .count();
    let dropped: u64 = history
        .iter()
        .filter(|e| e.process == "nemesis" && e.f == "stop")
        .filter_map(|e| e.detail.as_deref())
        .filter_map(|d| d.strip_prefix("dropped "))
        .filter_map(|d| d.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    let mut v = Verdict::new(disk_scheduled == 0 || damaged > 0);
    v.count("faults_injected", started.len() as u64)
        .count("disk_faults", disk_scheduled as u64)
        .count("disk_faults_that_damaged_a_file", damaged as u64)
        .count("partition_packets_dropped", dropped);
    if !v.valid {
        v.examples
            .push("no disk fault found anything to damage".to_string());
    }
    v
}

/// No node's log holds a panic; copies every log into `dir/logs/`.
fn check_logs(
    c: &TestCluster,
    mirror: Option<&TestCluster>,
    dir: &Path,
) -> anyhow::Result<Verdict> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut v = Verdict::new(true);
    let mut panics = 0u64;
    let mut errors = 0u64;
    let mut all = Vec::new();
    for i in 0..c.len() {
        all.push((c.node_id(i).to_string(), c.log(i)));
    }
    if let Some(m) = mirror {
        all.push(("mirror-n1".to_string(), m.log(0)));
    }
    for (id, text) in all {
        std::fs::write(logs.join(format!("{id}.log")), &text)?;
        for line in text.lines() {
            if line.contains("panicked at") || line.contains("RUST_BACKTRACE") {
                panics += 1;
                v.valid = false;
                if v.examples.len() < 10 {
                    v.examples.push(format!("{id}: {line}"));
                }
            }
            if line.contains(" ERROR ") || line.contains("\"level\":\"ERROR\"") {
                errors += 1;
            }
        }
    }
    v.count("panics", panics).count("error_lines", errors);
    Ok(v)
}

/// The faults of a schedule, for printing.
pub fn describe(schedule: &[Fault]) -> Vec<String> {
    schedule
        .iter()
        .map(|f| format!("{:>6.1}s +{:.0}s {}", f.at_s, f.for_s, f.action))
        .collect()
}
