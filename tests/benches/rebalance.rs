//! `cargo bench -p floe-tests --bench rebalance`: how fast a node joining a loaded cluster
//! receives its share, how close the data moved is to the ideal, and what the change does to
//! the latency of the traffic the cluster serves meanwhile.
//!
//! 1. One node (N = 1) is loaded with the data set by `floe-client` (4 writers): the
//!    single-node ingest rate, measured in this run to compare the streaming rate with.
//! 2. Three nodes with N = 2 are loaded with the same data set. A serving load starts (HTTP
//!    line protocol writes of 200 series every 50 ms at quorum, and reads of one series' last
//!    minute, through the nodes in turn) and runs 10 s; then a fourth node is added
//!    (`/api/v1/admin/ring/apply`, streaming unthrottled) and the bench waits until the
//!    cluster is stable on the new topology; the serving load runs 5 s more.
//! 3. Streaming rate: samples (and bytes) the nodes streamed (`floe_rebalance_streamed_*`)
//!    over the time from apply to stable. Moved ratio: samples streamed over the ideal (a
//!    quarter of all copies). Latency: write and read p99 during the change over before it.
//!
//! Data: `floe-datagen`'s TSBS cpu-only set (default 200 hosts × 12 h at 10 s = 8.64 M
//! samples; `FLOE_BENCH_HOSTS` / `FLOE_BENCH_HOURS`; `FLOE_BENCH_SMOKE=1` for a quick check).
//! The last line is one JSON object with `rebalance_samples_per_s`, `moved_ratio_to_ideal` and
//! `write_p99_ratio_during_rebalance`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use floe_client::{Client, ClientConfig};
use floe_datagen::{Config, Generator, ValueMode};
use floe_tests::bench::{Batch, batches, env_u32, load};
use floe_tests::cluster::{ClusterSpec, TestCluster};
use floe_tests::rebalance::{Workload, metric_sum, quantile};

/// Series per write of the serving load.
const SERVING_SERIES: usize = 200;

/// The `secs=` of the last "streaming job done" line of a node's log.
fn job_seconds(log: &str) -> Option<f64> {
    log.lines()
        .rev()
        .find(|l| l.contains("streaming job done"))?
        .split("secs=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Loads `batches` into `cluster` through a new client; returns the wall time.
async fn load_into(cluster: &TestCluster, batches: Arc<Vec<Batch>>) -> Result<f64> {
    let client = Client::connect(ClientConfig::new(
        cluster.quic_addrs(),
        cluster.client_tls(),
    ))
    .await
    .context("connect")?;
    let wall = load(&client, batches).await?;
    client.close();
    Ok(wall)
}

/// Latencies (ms) of `samples` sent in `[from, to)` seconds since the workload started.
fn window(samples: &[(f64, f64)], from: f64, to: f64) -> Vec<f64> {
    samples
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, ms)| *ms)
        .collect()
}

fn p99(mut v: Vec<f64>) -> f64 {
    quantile(&mut v, 0.99)
}

#[tokio::main]
async fn main() -> Result<()> {
    let smoke = std::env::var_os("FLOE_BENCH_SMOKE").is_some();
    let hosts = env_u32("FLOE_BENCH_HOSTS", if smoke { 20 } else { 200 });
    let hours = env_u32("FLOE_BENCH_HOURS", if smoke { 2 } else { 12 });
    let generator = Generator::new(Config {
        hosts,
        points: hours * 360,
        mode: ValueMode::Float2,
        ..Config::default()
    })?;
    let samples = generator.sample_count() as f64;
    let data = Arc::new(batches(&generator, 40_000)?);
    println!(
        "rebalance bench: TSBS cpu-only {hosts} hosts x {hours} h at 10 s = {samples} samples"
    );

    // 1. The single-node ingest rate on this machine, now.
    let single = TestCluster::start(ClusterSpec::new(1, 1)).context("start one node")?;
    let wall = load_into(&single, data.clone()).await?;
    let single_rate = samples / wall;
    println!("single node ingest: {:.3} M samples/s", single_rate / 1e6);
    drop(single);

    // 2. Three nodes, N = 2, loaded; serving load; add a fourth.
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2)).context("start cluster")?;
    load_into(&cluster, data.clone()).await?;
    let w = Workload::start(
        cluster.http_addrs(),
        SERVING_SERIES,
        Duration::from_millis(50),
    );
    let before_s = 10.0;
    tokio::time::sleep(Duration::from_secs_f64(before_s)).await; // the "before" window
    let new = cluster.add_node("z4")?;
    let next = cluster.next_topology(&[0, 1, 2, new], &[])?;
    cluster.set_node_topology(new, &next)?;
    cluster.set_node_config(new, "[cluster]\nrebalance_max_bytes_per_s = 0\n")?;
    cluster.start_node(new)?;
    let applied_at = w.elapsed();
    let started = Instant::now();
    let r = cluster.ring_apply(0, &next)?;
    anyhow::ensure!(r.status == 200, "apply answered {}: {}", r.status, r.text());
    cluster.wait_ring_stable(0, next.version(), Duration::from_secs(900))?;
    let took = started.elapsed().as_secs_f64();
    let stable_at = w.elapsed();
    let serving_batches = w.attempted();
    tokio::time::sleep(Duration::from_secs(5)).await; // the "after" window
    let log = w.stop();
    let nodes: Vec<usize> = (0..cluster.len()).collect();
    let streamed = metric_sum(&cluster, &nodes, "floe_rebalance_streamed_samples_total")?;
    let streamed_bytes = metric_sum(&cluster, &nodes, "floe_rebalance_streamed_bytes_total")?;
    cluster.check_logs(&[])?;
    anyhow::ensure!(log.wrong.is_empty(), "wrong reads: {:?}", log.wrong);

    // The streaming job's own time (the gaining node logs it); apply-to-stable adds the
    // driver's prepare and commit rounds (about a second each).
    let job_secs = job_seconds(&cluster.log(new)).context("the new node's job log line")?;
    let end_to_end = streamed / took;
    let rate = streamed / job_secs;
    let mb_s = streamed_bytes / job_secs / 1e6;
    // Every copy stored when the change finished: the data set and the serving load's writes.
    let stored = samples + (serving_batches * SERVING_SERIES) as f64;
    let ideal = stored * 2.0 * 0.25;
    let moved_ratio = streamed / ideal;
    let w_before = p99(window(&log.write_latency, 0.0, applied_at));
    let w_during = p99(window(&log.write_latency, applied_at, stable_at));
    let r_before = p99(window(&log.read_latency, 0.0, applied_at));
    let r_during = p99(window(&log.read_latency, applied_at, stable_at));
    println!(
        "add a node: streamed {streamed} samples ({:.2} MB) in {job_secs:.2} s = {:.3} M samples/s, {mb_s:.1} MB/s ({:.2} × the single-node ingest rate); {took:.2} s from apply to stable = {:.3} M samples/s end to end",
        streamed_bytes / 1e6,
        rate / 1e6,
        rate / single_rate,
        end_to_end / 1e6
    );
    println!(
        "moved {streamed} of the ideal {ideal:.0} (a quarter of {} copies): {moved_ratio:.3}",
        stored * 2.0
    );
    println!(
        "serving load: {} writes acknowledged, {} failed; write p99 {w_before:.1} ms before, {w_during:.1} ms during; read p99 {r_before:.1} ms before, {r_during:.1} ms during",
        log.acked.len(),
        log.failed.len()
    );
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            "null".into()
        }
    };
    println!(
        "{{\"samples\":{samples},\"single_node_samples_per_s\":{single_rate:.0},\"rebalance_seconds\":{took:.3},\"streamed_samples\":{streamed},\"rebalance_mb_per_s\":{mb_s:.3},\"rebalance_vs_single_node_ingest\":{},\"rebalance_end_to_end_samples_per_s\":{end_to_end:.0},\"write_p99_ms_before\":{},\"write_p99_ms_during\":{},\"read_p99_ratio_during_rebalance\":{},\"failed_writes\":{},\"rebalance_samples_per_s\":{rate:.0},\"moved_ratio_to_ideal\":{},\"write_p99_ratio_during_rebalance\":{}}}",
        num(rate / single_rate),
        num(w_before),
        num(w_during),
        num(r_during / r_before),
        log.failed.len(),
        num(moved_ratio),
        num(w_during / w_before)
    );
    Ok(())
}
