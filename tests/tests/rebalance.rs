//! Topology changes under load, with real floed processes: add a node, remove one, change a
//! node's zone, kill a gaining node mid-stream (it resumes), rebuild a wiped node. In each:
//! every acknowledged write is readable afterwards, no read returns a wrong value, every
//! range's replicas hold identical data, and the data moved is measured against the ideal.
//!
//! The scenarios run one at a time (each starts its own cluster; the machine has few cores).

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use floe_ring::{Ring, Topology, diff};
use floe_tests::rebalance::{
    Workload, WorkloadLog, check_acknowledged, metric_sum, wait_replicas_agree,
};
use floe_tests::wait::{wait_for, wait_until};
use floe_tests::{ClusterSpec, TestCluster, floectl};

/// Series the workload writes (enough that the data spreads over the ring like the ideal).
const SERIES: usize = 2000;
/// A batch (one sample per series) every this often (every series is written 4 times a
/// second, far more often than telemetry usually is, while ranges are verified).
const EVERY: Duration = Duration::from_millis(250);
/// Batches written before the change starts.
const PRELOAD: usize = 40;
/// Longest a change may take.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(180);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn wait_acked(w: &Workload, n: usize) -> anyhow::Result<()> {
    wait_until(
        &format!("{n} acknowledged batches"),
        Duration::from_secs(120),
        || Ok(w.acked() >= n),
    )
}

/// The checks after a change: acknowledged writes, wrong reads, replicas; returns the
/// distinct samples stored.
fn check_after(
    cluster: &TestCluster,
    via: usize,
    log: &WorkloadLog,
    w_t0: i64,
    topology: &Topology,
) -> anyhow::Result<u64> {
    println!(
        "workload: {} batches acknowledged, {} failed, {} reads ({} failed), {} wrong",
        log.acked.len(),
        log.failed.len(),
        log.reads,
        log.read_errors,
        log.wrong.len()
    );
    for e in &log.errors {
        println!("failed write: {e}");
    }
    anyhow::ensure!(
        log.wrong.is_empty(),
        "wrong reads: {:?}",
        &log.wrong[..log.wrong.len().min(5)]
    );
    anyhow::ensure!(log.reads > 0, "no read succeeded during the change");
    let stored = check_acknowledged(cluster, via, log, w_t0, SERIES)?;
    let ranges = wait_replicas_agree(cluster, topology, Duration::from_secs(60))?;
    println!("replicas agree on all {ranges} ranges; {stored} distinct samples stored");
    Ok(stored)
}

/// Streamed samples over the whole cluster against `ideal_fraction` of all copies of the
/// `batches` written when the change finished (writes after it are not streamed; writes
/// during it may be, so the ratio errs high).
fn moved_ratio(
    cluster: &TestCluster,
    nodes: &[usize],
    batches: usize,
    replicas: u32,
    ideal_fraction: f64,
) -> anyhow::Result<f64> {
    let streamed = metric_sum(cluster, nodes, "floe_rebalance_streamed_samples_total")?;
    let copies = (batches * SERIES) as f64 * f64::from(replicas);
    let ideal = copies * ideal_fraction;
    let ratio = streamed / ideal;
    println!(
        "moved {streamed} samples; ideal {ideal:.0} ({:.1} % of the {copies} copies written \
         when the change finished): ratio {ratio:.3}",
        ideal_fraction * 100.0,
    );
    Ok(ratio)
}

fn all(cluster: &TestCluster) -> Vec<usize> {
    (0..cluster.len()).collect()
}

#[test]
fn adding_a_node_under_load_loses_nothing() -> anyhow::Result<()> {
    let _one = serial();
    println!(
        "checks: 3 nodes N=2 under write and read load get a 4th node; acknowledged writes \
         all readable, no wrong read, replicas agree, moved data ≤ 1.1 × ideal (1/4 of all \
         copies)"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2))?;
    let w = Workload::start(cluster.http_addrs(), SERIES, EVERY);
    wait_acked(&w, PRELOAD)?;
    let new = cluster.add_node("z4")?;
    let next = cluster.next_topology(&[0, 1, 2, new], &[])?;
    cluster.set_node_topology(new, &next)?;
    cluster.start_node(new)?;
    let r = cluster.ring_apply(0, &next)?;
    anyhow::ensure!(r.status == 200, "apply answered {}: {}", r.status, r.text());
    cluster.wait_ring_stable(0, next.version(), CHANGE_TIMEOUT)?;
    let written = w.attempted();
    let done = w.acked();
    wait_acked(&w, done + 10)?;
    let t0 = w.t0;
    let log = w.stop();
    cluster.adopt_topology(next.clone());
    check_after(&cluster, new, &log, t0, &next)?;
    let ratio = moved_ratio(&cluster, &all(&cluster), written, 2, 0.25)?;
    anyhow::ensure!(
        ratio <= 1.1,
        "moved {ratio:.3} × the ideal, more than 1.1 ×"
    );
    // The nodes that lost ranges deleted them.
    let purged = metric_sum(&cluster, &[0, 1, 2], "floe_rebalance_purged_series_total")?;
    anyhow::ensure!(purged > 0.0, "no node deleted the series it lost");
    cluster.check_logs(&[])?;
    Ok(())
}

#[test]
fn removing_a_node_drains_it_first() -> anyhow::Result<()> {
    let _one = serial();
    println!(
        "checks: n3 leaves a 3-node N=2 cluster under load: its data is streamed to the others \
         before it stops owning it; nothing acknowledged is lost, moved ≤ 1.1 × ideal (1/3)"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2))?;
    let w = Workload::start(cluster.http_addrs()[..2].to_vec(), SERIES, EVERY);
    wait_acked(&w, PRELOAD)?;
    let next = cluster.next_topology(&[0, 1], &[])?;
    // Through the operators' tool: apply and wait, as docs/operations.md says.
    let file = cluster.dir().join("topology.v2.toml");
    std::fs::write(&file, next.to_toml())?;
    let out = floectl(&[
        "ring",
        "apply",
        "--topology",
        &file.display().to_string(),
        "--node",
        &cluster.http_addr(0).to_string(),
        "--wait",
        "--timeout",
        "180",
    ])?;
    println!("floectl ring apply --wait:\n{out}");
    cluster.wait_ring_stable(0, next.version(), CHANGE_TIMEOUT)?;
    let written = w.attempted();
    let done = w.acked();
    wait_acked(&w, done + 10)?;
    let t0 = w.t0;
    let log = w.stop();
    // The removed node says so, has deleted what it held, and can be stopped.
    let status = cluster.ring_status(2)?;
    let me = status["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "n3").cloned())
        .context("n3 in its own status")?;
    anyhow::ensure!(me["phase"] == "removed", "n3 reports {me}");
    wait_until("n3 to delete its data", Duration::from_secs(30), || {
        Ok(cluster
            .metric(2, "floe_rebalance_purged_series_total", &[])?
            .unwrap_or(0.0)
            > 0.0)
    })?;
    cluster.stop(2)?;
    cluster.adopt_topology(next.clone());
    check_after(&cluster, 0, &log, t0, &next)?;
    let ratio = moved_ratio(&cluster, &[0, 1], written, 2, 1.0 / 3.0)?;
    anyhow::ensure!(
        ratio <= 1.1,
        "moved {ratio:.3} × the ideal, more than 1.1 ×"
    );
    cluster.check_logs(&[])?;
    Ok(())
}

#[test]
fn changing_a_zone_moves_only_what_the_plan_says() -> anyhow::Result<()> {
    let _one = serial();
    println!(
        "checks: n3 moves from zone c to zone a in a 3-zone N=2 cluster under load; nothing \
         acknowledged is lost, replicas agree, moved ≤ 1.1 × what the ring diff requires"
    );
    let spec = ClusterSpec::new(3, 2).zones(&["a", "b", "c"]);
    let mut cluster = TestCluster::start(spec)?;
    let before = cluster.topology().clone();
    let w = Workload::start(cluster.http_addrs(), SERIES, EVERY);
    wait_acked(&w, PRELOAD)?;
    let next = cluster.next_topology(&[0, 1, 2], &[(2, "a")])?;
    let planned = diff(&Ring::new(&before), &Ring::new(&next)).moved_fraction();
    anyhow::ensure!(planned > 0.0, "the zone change moves nothing");
    let r = cluster.ring_apply(1, &next)?;
    anyhow::ensure!(r.status == 200, "apply answered {}: {}", r.status, r.text());
    cluster.wait_ring_stable(2, next.version(), CHANGE_TIMEOUT)?;
    let written = w.attempted();
    let done = w.acked();
    wait_acked(&w, done + 10)?;
    let t0 = w.t0;
    let log = w.stop();
    cluster.adopt_topology(next.clone());
    check_after(&cluster, 1, &log, t0, &next)?;
    let ratio = moved_ratio(&cluster, &all(&cluster), written, 2, planned)?;
    anyhow::ensure!(ratio <= 1.1, "moved {ratio:.3} × the plan, more than 1.1 ×");
    cluster.check_logs(&[])?;
    Ok(())
}

#[test]
fn a_gaining_node_killed_mid_stream_resumes() -> anyhow::Result<()> {
    let _one = serial();
    println!(
        "checks: the node being added is SIGKILLed while it streams (throttled); the change \
         waits, and after a restart the node resumes with the ranges it had verified and the \
         change completes with nothing lost"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2))?;
    let w = Workload::start(cluster.http_addrs(), SERIES, EVERY);
    wait_acked(&w, PRELOAD)?;
    let new = cluster.add_node("z4")?;
    let next = cluster.next_topology(&[0, 1, 2, new], &[])?;
    cluster.set_node_topology(new, &next)?;
    cluster.set_node_config(new, "[cluster]\nrebalance_max_bytes_per_s = 8000\n")?;
    cluster.start_node(new)?;
    let r = cluster.ring_apply(0, &next)?;
    anyhow::ensure!(r.status == 200, "apply answered {}: {}", r.status, r.text());
    let id = cluster.node_id(new).to_string();
    let mid = wait_for("the new node to be mid-stream", CHANGE_TIMEOUT, || {
        let s = cluster.ring_status(0)?;
        let n = s["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["id"] == id.as_str()).cloned());
        let n = n.context("the new node in the status")?;
        let done = n["ranges_done"].as_u64().unwrap_or(0);
        let total = n["ranges_total"].as_u64().unwrap_or(0);
        if n["phase"] == "streaming" && done >= 2 && done + 2 < total {
            Ok(Some(n))
        } else {
            anyhow::bail!("not mid-stream: {n}")
        }
    })?;
    println!("killing {id} at {mid}");
    cluster.kill(new)?;
    // While it is gone the change cannot commit.
    let s = cluster.ring_status(0)?;
    anyhow::ensure!(
        s["state"] == "rebalancing",
        "status while the gainer is dead: {s}"
    );
    cluster.set_node_config(new, "[cluster]\nrebalance_max_bytes_per_s = 0\n")?;
    cluster.start_node(new)?;
    cluster.wait_ring_stable(0, next.version(), CHANGE_TIMEOUT)?;
    // The second start went on from the ranges verified before the kill.
    let log_text = cluster.log(new);
    let resumed = log_text
        .lines()
        .filter(|l| l.contains("streaming job started"))
        .nth(1)
        .context("no second streaming start in the new node's log")?
        .to_string();
    let already: u64 = resumed
        .split("already_done=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .context("already_done in the resumed job's log line")?;
    println!("resumed: {resumed}");
    anyhow::ensure!(already >= 2, "the restarted node did not resume: {resumed}");
    let done = w.acked();
    wait_acked(&w, done + 10)?;
    let t0 = w.t0;
    let log = w.stop();
    cluster.adopt_topology(next.clone());
    check_after(&cluster, 0, &log, t0, &next)?;
    cluster.check_logs(&[])?;
    Ok(())
}

#[test]
fn a_wiped_node_is_rebuilt_from_its_peers() -> anyhow::Result<()> {
    let _one = serial();
    println!(
        "checks: n2's data directory is wiped; floectl node rebuild n2 (sent to n1) makes it \
         refill every range it owns from its peers while the cluster serves; nothing acknowledged is lost and its \
         ranges' digests equal its peers'"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2))?;
    let topology = cluster.topology().clone();
    let w = Workload::start(
        vec![cluster.http_addr(0), cluster.http_addr(2)],
        SERIES,
        EVERY,
    );
    wait_acked(&w, PRELOAD)?;
    cluster.stop(1)?;
    let data = cluster.data_dir(1);
    std::fs::remove_dir_all(&data).with_context(|| format!("wipe {}", data.display()))?;
    std::fs::create_dir_all(&data)?;
    cluster.start_node(1)?;
    // Asked through another node with the operators' tool, which waits for the end.
    let out = floectl(&[
        "node",
        "rebuild",
        "n2",
        "--node",
        &cluster.http_addr(0).to_string(),
        "--wait",
        "--timeout",
        "180",
    ])?;
    println!("floectl node rebuild n2 --wait:\n{out}");
    wait_until("n2's rebuild to finish", CHANGE_TIMEOUT, || {
        let s = cluster.ring_status(1)?;
        let n = s["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["id"] == "n2").cloned())
            .context("n2 in the status")?;
        Ok(n["job"] == "rebuild"
            && n["phase"] == "stable"
            && n["ranges_total"].as_u64().unwrap_or(0) > 0
            && n["ranges_done"] == n["ranges_total"])
    })?;
    let streamed = cluster
        .metric(1, "floe_rebalance_streamed_samples_total", &[])?
        .unwrap_or(0.0);
    anyhow::ensure!(streamed > 0.0, "the rebuild streamed nothing");
    let done = w.acked();
    wait_acked(&w, done + 10)?;
    let t0 = w.t0;
    let log = w.stop();
    let stored = check_after(&cluster, 1, &log, t0, &topology)?;
    println!("n2 streamed {streamed} samples of {stored} distinct stored");
    cluster.check_logs(&[])?;
    Ok(())
}

#[test]
fn an_aborted_change_returns_to_the_old_topology() -> anyhow::Result<()> {
    let _one = serial();
    println!(
        "checks: adding n4 is aborted with floectl while n4 streams; every node returns to \
         topology 1, n4 reports removed and deletes what it streamed, nothing acknowledged is \
         lost and the replicas of topology 1 agree"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2))?;
    let before = cluster.topology().clone();
    let w = Workload::start(cluster.http_addrs(), SERIES, EVERY);
    wait_acked(&w, PRELOAD)?;
    let new = cluster.add_node("z4")?;
    let next = cluster.next_topology(&[0, 1, 2, new], &[])?;
    cluster.set_node_topology(new, &next)?;
    cluster.set_node_config(new, "[cluster]\nrebalance_max_bytes_per_s = 8000\n")?;
    cluster.start_node(new)?;
    let file = cluster.dir().join("topology.v2.toml");
    std::fs::write(&file, next.to_toml())?;
    let node = cluster.http_addr(1).to_string();
    floectl(&[
        "ring",
        "apply",
        "--topology",
        &file.display().to_string(),
        "--node",
        &node,
    ])?;
    let id = cluster.node_id(new).to_string();
    wait_until("n4 to stream", CHANGE_TIMEOUT, || {
        let s = cluster.ring_status(0)?;
        Ok(s["nodes"].as_array().is_some_and(|n| {
            n.iter()
                .any(|n| n["id"] == id.as_str() && n["ranges_done"].as_u64().unwrap_or(0) >= 1)
        }))
    })?;
    let out = floectl(&["ring", "abort", "--node", &node])?;
    println!("floectl ring abort:\n{out}");
    cluster.wait_ring_stable(0, before.version(), CHANGE_TIMEOUT)?;
    let s = cluster.ring_status(new)?;
    let me = s["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == id.as_str()).cloned())
        .context("n4 in its own status")?;
    anyhow::ensure!(me["phase"] == "removed", "n4 after the abort: {me}");
    wait_until(
        "n4 to delete what it streamed",
        Duration::from_secs(30),
        || {
            Ok(cluster
                .metric(new, "floe_rebalance_purged_series_total", &[])?
                .unwrap_or(0.0)
                > 0.0)
        },
    )?;
    // A second abort has nothing to abort; a commit of the aborted target is refused.
    let again = cluster.ring_status(0)?;
    anyhow::ensure!(again["state"] == "stable", "{again}");
    let status = floectl(&["ring", "status", "--node", &node, "--json"])?;
    let last: serde_json::Value =
        serde_json::from_str(status.lines().last().context("floectl printed nothing")?)?;
    anyhow::ensure!(
        last["current"]["version"] == before.version(),
        "floectl ring status after the abort: {last}"
    );
    cluster.stop(new)?;
    let done = w.acked();
    wait_acked(&w, done + 10)?;
    let t0 = w.t0;
    let log = w.stop();
    check_after(&cluster, 2, &log, t0, &before)?;
    cluster.check_logs(&[])?;
    Ok(())
}
