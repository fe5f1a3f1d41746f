//! What the rebalance tests and benchmark share: a write and read workload that runs while
//! the topology changes and records every acknowledged write and every wrong read, and the
//! checks made afterwards (every acknowledged write readable, replicas' range digests equal,
//! data moved against the ideal).
//!
//! The workload writes `series` series `rb_v{s="K"}` at timestamps `t0 + k × 1 s` (batch k
//! holds every series at one timestamp) with the value `K × 1000 + k`, so any value a read
//! returns can be checked against the only value ever written for its series and time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use floe_ring::{Ring, Topology};
use floe_wire::proto::{RangeDigestRequest, Request, Response, RingRange};

use crate::cluster::TestCluster;
use crate::http;
use crate::peer::{WireClient, topology_ref};

/// Metric name the workload writes.
pub const METRIC: &str = "rb_v";
/// Spacing of the workload's timestamps.
pub const STEP_MS: i64 = 1000;

/// The value written for series `s` in batch `k`.
pub fn value(s: usize, k: i64) -> f64 {
    s as f64 * 1000.0 + k as f64
}

/// What the writers and readers saw.
#[derive(Debug, Default, Clone)]
pub struct WorkloadLog {
    /// Batches acknowledged (index k).
    pub acked: Vec<i64>,
    /// Batches that failed (may be partly stored).
    pub failed: Vec<i64>,
    /// The first few failures' messages.
    pub errors: Vec<String>,
    /// Write latencies, ms, with the time each was sent (since the workload started).
    pub write_latency: Vec<(f64, f64)>,
    /// Read latencies, ms, likewise.
    pub read_latency: Vec<(f64, f64)>,
    /// Reads answered.
    pub reads: u64,
    /// Reads that failed (non-200).
    pub read_errors: u64,
    /// Wrong values read: descriptions.
    pub wrong: Vec<String>,
}

/// A running workload.
#[derive(Debug)]
pub struct Workload {
    stop: Arc<AtomicBool>,
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    log: Arc<Mutex<WorkloadLog>>,
    threads: Vec<JoinHandle<()>>,
    /// First timestamp.
    pub t0: i64,
    /// Series per batch.
    pub series: usize,
    started: Instant,
}

impl Workload {
    /// Starts one writer (a batch every `every`, through the targets in turn, at quorum) and
    /// one reader (a random series' last minute through the targets in turn).
    pub fn start(targets: Vec<SocketAddr>, series: usize, every: Duration) -> Workload {
        let t0 = crate::load::now_ms() - 3_600_000;
        let stop = Arc::new(AtomicBool::new(false));
        let targets = Arc::new(Mutex::new(targets));
        let log = Arc::new(Mutex::new(WorkloadLog::default()));
        let next_k = Arc::new(Mutex::new(0i64));
        let started = Instant::now();
        let mut threads = Vec::new();
        {
            let (stop, targets, log, next_k) =
                (stop.clone(), targets.clone(), log.clone(), next_k.clone());
            threads.push(std::thread::spawn(move || {
                let mut turn = 0usize;
                while !stop.load(Ordering::Acquire) {
                    let k = {
                        let mut n = next_k.lock().unwrap_or_else(|p| p.into_inner());
                        *n += 1;
                        *n - 1
                    };
                    let ts = t0 + k * STEP_MS;
                    let mut lines = String::with_capacity(series * 32);
                    for s in 0..series {
                        lines.push_str(&format!("rb,s={s} v={} {ts}\n", value(s, k)));
                    }
                    let addr = {
                        let t = targets.lock().unwrap_or_else(|p| p.into_inner());
                        turn += 1;
                        t[turn % t.len()]
                    };
                    let sent = Instant::now();
                    let res = http::write_lines(addr, "rb", &lines, Some("quorum"));
                    let ok = res.as_ref().is_ok_and(|r| r.is_success());
                    let ms = sent.elapsed().as_secs_f64() * 1000.0;
                    {
                        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                        if ok {
                            l.acked.push(k);
                        } else {
                            l.failed.push(k);
                            if l.errors.len() < 10 {
                                let why = match &res {
                                    Ok(r) => format!("{addr}: {} {}", r.status, r.text()),
                                    Err(e) => format!("{addr}: {e:#}"),
                                };
                                l.errors.push(why);
                            }
                        }
                        l.write_latency.push(((sent - started).as_secs_f64(), ms));
                    }
                    // Pacing of the offered load, not synchronisation.
                    if let Some(rest) = every.checked_sub(sent.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
            }));
        }
        {
            let (stop, targets, log, next_k) =
                (stop.clone(), targets.clone(), log.clone(), next_k.clone());
            threads.push(std::thread::spawn(move || {
                let mut turn = 0usize;
                let mut rng = 0x9e37_79b9_7f4a_7c15u64;
                while !stop.load(Ordering::Acquire) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let s = (rng % series as u64) as usize;
                    let k = *next_k.lock().unwrap_or_else(|p| p.into_inner());
                    let at = t0 + k * STEP_MS;
                    let addr = {
                        let t = targets.lock().unwrap_or_else(|p| p.into_inner());
                        turn += 1;
                        t[turn % t.len()]
                    };
                    let q = format!("{METRIC}{{s=\"{s}\"}}[60s]");
                    let sent = Instant::now();
                    let res = http::query(addr, &q, at, Some("quorum"));
                    let ms = sent.elapsed().as_secs_f64() * 1000.0;
                    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                    l.read_latency.push(((sent - started).as_secs_f64(), ms));
                    match res {
                        Ok(r) if r.status == 200 => {
                            l.reads += 1;
                            match r.json() {
                                Ok(v) => check_matrix(&v, t0, &mut l.wrong),
                                Err(e) => l.wrong.push(format!("undecodable answer: {e}")),
                            }
                        }
                        _ => l.read_errors += 1,
                    }
                    drop(l);
                    // Pacing of the offered load, not synchronisation.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }));
        }
        Workload {
            stop,
            targets,
            log,
            threads,
            t0,
            series,
            started,
        }
    }

    /// Replaces the nodes the workload goes through.
    pub fn set_targets(&self, targets: Vec<SocketAddr>) {
        *self.targets.lock().unwrap_or_else(|p| p.into_inner()) = targets;
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Acknowledged batches so far.
    pub fn acked(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .acked
            .len()
    }

    /// Batches attempted so far (acknowledged or failed).
    pub fn attempted(&self) -> usize {
        let l = self.log.lock().unwrap_or_else(|p| p.into_inner());
        l.acked.len() + l.failed.len()
    }

    /// Stops the threads and returns what they saw.
    pub fn stop(self) -> WorkloadLog {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
        let l = self.log.lock().unwrap_or_else(|p| p.into_inner());
        l.clone()
    }
}

/// Checks every point of a matrix answer against the only value written for it.
fn check_matrix(v: &serde_json::Value, t0: i64, wrong: &mut Vec<String>) {
    let Some(result) = v["data"]["result"].as_array() else {
        wrong.push(format!("answer without a result: {v}"));
        return;
    };
    for series in result {
        let Some(s) = series["metric"]["s"]
            .as_str()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            wrong.push(format!("series without s: {series}"));
            continue;
        };
        for p in series["values"].as_array().into_iter().flatten() {
            let t = p[0].as_f64().unwrap_or(f64::NAN);
            let got: f64 = p[1]
                .as_str()
                .and_then(|x| x.parse().ok())
                .unwrap_or(f64::NAN);
            let ts = (t * 1000.0).round() as i64;
            let k = (ts - t0) / STEP_MS;
            if (ts - t0) % STEP_MS != 0 || got != value(s, k) {
                wrong.push(format!("s={s} t={ts}: read {got}, written {}", value(s, k)));
            }
        }
    }
}

/// Checks through node `i` that every acknowledged batch is stored, exactly, for every
/// series: the count per series lies between the acknowledged and the attempted batches, and
/// every point of `spot` series (all of their points) is the value written.
pub fn check_acknowledged(
    cluster: &TestCluster,
    i: usize,
    w: &WorkloadLog,
    t0: i64,
    series: usize,
) -> anyhow::Result<u64> {
    let last = w.acked.iter().chain(&w.failed).copied().max().unwrap_or(0);
    let at = t0 + last * STEP_MS;
    let window = format!("{}s", last + 1);
    let addr = cluster.http_addr(i);
    let counts = http::query_vector(
        addr,
        &format!("count_over_time({METRIC}[{window}])"),
        at,
        Some("all"),
    )?;
    if counts.len() != series {
        bail!("{} series answered, {series} written", counts.len());
    }
    let (lo, hi) = (
        w.acked.len() as f64,
        (w.acked.len() + w.failed.len()) as f64,
    );
    let mut total = 0u64;
    for c in &counts {
        if c.value < lo || c.value > hi {
            bail!(
                "series {:?} holds {} samples; {lo} were acknowledged, {hi} attempted",
                c.labels,
                c.value
            );
        }
        total += c.value as u64;
    }
    // Every point of some series, including that every acknowledged batch is there.
    let acked: std::collections::HashSet<i64> = w.acked.iter().copied().collect();
    for s in (0..series).step_by((series / 8).max(1)) {
        let r = http::query(
            addr,
            &format!("{METRIC}{{s=\"{s}\"}}[{window}]"),
            at,
            Some("all"),
        )?;
        anyhow::ensure!(r.status == 200, "query answered {}: {}", r.status, r.text());
        let v = r.json()?;
        let mut wrong = Vec::new();
        check_matrix(&v, t0, &mut wrong);
        anyhow::ensure!(
            wrong.is_empty(),
            "wrong values: {:?}",
            &wrong[..wrong.len().min(5)]
        );
        let mut seen = std::collections::HashSet::new();
        for p in v["data"]["result"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let ts = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            seen.insert((ts - t0) / STEP_MS);
        }
        let lost: Vec<i64> = acked.difference(&seen).copied().collect();
        anyhow::ensure!(
            lost.is_empty(),
            "series {s} lacks {} acknowledged batches, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
    }
    Ok(total)
}

/// Compares, for every range of `topology`'s ring, the digests its owners report (asked with
/// a node certificate over the cluster protocol). Ok with the number of ranges compared.
pub fn replicas_agree(cluster: &TestCluster, topology: &Topology) -> anyhow::Result<usize> {
    let asker = topology.nodes()[0].id.clone();
    let client = WireClient::new(&cluster.node_tls(&asker))?;
    let ring = Ring::new(topology);
    let tref = topology_ref(topology);
    let mut compared = 0;
    for (range, owners) in ring.ranges() {
        let mut digests = Vec::new();
        for &o in owners {
            let node = ring.node(o);
            let req = Request::RangeDigest(RangeDigestRequest {
                topology: tref,
                range: RingRange {
                    start: range.start,
                    end: range.end,
                },
                per_series: false,
            });
            match client.request(node.quic_addr, &node.id, &req) {
                Ok(Response::RangeDigest(d)) => {
                    digests.push((node.id.clone(), d.digest, d.samples))
                }
                Ok(other) => bail!("{} answered {}", node.id, other.name()),
                Err(e) => bail!("{}: {e}", node.id),
            }
        }
        if digests.windows(2).any(|w| w[0].1 != w[1].1) {
            bail!("range {range:?}: replicas differ: {digests:?}");
        }
        compared += 1;
    }
    Ok(compared)
}

/// Waits until [`replicas_agree`] holds (journal replays may still be in flight).
pub fn wait_replicas_agree(
    cluster: &TestCluster,
    topology: &Topology,
    timeout: Duration,
) -> anyhow::Result<usize> {
    crate::wait::wait_for_every(
        "every range's replicas to hold identical data",
        timeout,
        Duration::from_millis(500),
        || replicas_agree(cluster, topology).map(Some),
    )
}

/// Sum over nodes of a metric (absent counts as 0).
pub fn metric_sum(cluster: &TestCluster, nodes: &[usize], name: &str) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for &i in nodes {
        sum += cluster
            .metric(i, name, &[])
            .with_context(|| format!("metric {name} of {}", cluster.node_id(i)))?
            .unwrap_or(0.0);
    }
    Ok(sum)
}

/// The p-quantile (0..=1) of `values`.
pub fn quantile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let idx = ((values.len() - 1) as f64 * p).round() as usize;
    values[idx]
}
