//! `cargo bench -p floe-tests --bench cluster`: `floe-client` loads the generated data set
//! into real `floed` processes on loopback — first one node (N = 1), then three nodes with
//! N = 3 — and compares the servers' CPU seconds per stored copy of a sample. Then one node of
//! the three is stopped, a slice of the data set is written at quorum (its copies go to the
//! coordinators' journals), the node is restarted, and the journal replay is timed.
//!
//! Data: the TSBS devops cpu-only set of `floe-datagen` (default 200 hosts × 12 h at 10 s, float
//! values: 8.64 M samples; `FLOE_BENCH_HOSTS` / `FLOE_BENCH_HOURS` change it,
//! `FLOE_BENCH_SMOKE=1` shrinks it to a quick check), sent as series batches (one hour of a
//! host's ten series per series group) by 4 concurrent writers. CPU is read from
//! `/proc/<pid>/stat` of every `floed`. The last line is one JSON object with
//! `cluster_samples_per_s`, `cpu_ratio_vs_single_node_per_replica` and
//! `journal_replay_samples_per_s`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use floe_client::{Client, ClientConfig};
use floe_datagen::{Config, Generator, ValueMode};
use floe_tests::bench::{Batch, WRITERS, batches, env_u32, load};
use floe_tests::cluster::{ClusterSpec, TestCluster};

/// CPU seconds (user + system) of process `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0 // utime, stime (fields 14 and 15), clock ticks at 100 Hz
}

fn cluster_cpu(cluster: &TestCluster) -> f64 {
    (0..cluster.len())
        .filter_map(|i| cluster.pid(i))
        .map(cpu_seconds)
        .sum()
}

struct Run {
    samples_per_s: f64,
    cpu: f64,
}

/// Starts `nodes` nodes with replication `n`, loads `data`, returns rate and server CPU.
async fn run(nodes: usize, n: u32, data: Arc<Vec<Batch>>, samples: f64) -> Result<Run> {
    let cluster = TestCluster::start(ClusterSpec::new(nodes, n)).context("start cluster")?;
    let client = Client::connect(ClientConfig::new(
        cluster.quic_addrs(),
        cluster.client_tls(),
    ))
    .await
    .context("connect")?;
    let before = cluster_cpu(&cluster);
    let wall = load(&client, data).await?;
    let cpu = cluster_cpu(&cluster) - before;
    client.close();
    cluster.check_logs(&[])?;
    let rate = samples / wall;
    println!(
        "{nodes} node(s), N = {n}: {:.3} M samples/s (wall {wall:.2} s), servers' CPU {cpu:.2} s = {:.3} s per million stored copies",
        rate / 1e6,
        cpu / (samples * f64::from(n) / 1e6)
    );
    Ok(Run {
        samples_per_s: rate,
        cpu,
    })
}

/// Stops node 3, writes `data` at quorum, restarts it and times the journals' drain.
async fn replay(data: Arc<Vec<Batch>>, samples: f64) -> Result<f64> {
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 3)).context("start cluster")?;
    let client = Client::connect(ClientConfig::new(
        cluster.quic_addrs(),
        cluster.client_tls(),
    ))
    .await
    .context("connect")?;
    cluster.stop(2)?;
    load(&client, data).await?;
    let pending = |c: &TestCluster| -> f64 {
        (0..2)
            .map(|i| {
                c.metric(i, "floe_journal_pending_records", &[("peer", "n3")])
                    .ok()
                    .flatten()
                    .unwrap_or(0.0)
            })
            .sum()
    };
    let records = pending(&cluster);
    let started = Instant::now();
    cluster.start_node(2)?;
    let deadline = started + Duration::from_secs(600);
    while pending(&cluster) > 0.0 {
        anyhow::ensure!(Instant::now() < deadline, "journals did not drain in 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling a metric, bounded
    }
    let wall = started.elapsed().as_secs_f64();
    client.close();
    let rate = samples / wall;
    println!(
        "journal replay: {records} records ({samples} samples for node n3) drained in {wall:.2} s = {:.3} M samples/s (node start included)",
        rate / 1e6
    );
    Ok(rate)
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
        "cluster bench: TSBS cpu-only {hosts} hosts x {hours} h at 10 s = {samples} samples in {} batches, {WRITERS} writers (floe-client, quorum)",
        data.len()
    );
    let single = run(1, 1, data.clone(), samples).await?;
    let three = run(3, 3, data.clone(), samples).await?;
    // Diagnosis: three processes without replication (each sample stored once, sent by the
    // client straight to its only owner) separate the cost of running three processes on
    // this machine from the cost of replicating.
    let spread = run(3, 1, data.clone(), samples).await?;
    let spread_ratio = (spread.cpu / samples) / (single.cpu / samples);
    println!("CPU per stored copy, 3 nodes N = 1 vs 1 node: {spread_ratio:.3} (no replication)");
    // CPU is counted in 10 ms ticks: a smoke run may be too short to measure (then null).
    let ratio = (three.cpu / (3.0 * samples)) / (single.cpu / samples);
    let ratio_json = if ratio.is_finite() {
        format!("{ratio:.4}")
    } else {
        "null".to_string()
    };
    println!(
        "CPU per stored copy, 3 nodes N = 3 vs 1 node: {ratio:.3} (target <= 1.1); ingest rate {:.3} vs {:.3} M samples/s",
        three.samples_per_s / 1e6,
        single.samples_per_s / 1e6
    );
    let slice = Arc::new(data[..data.len().div_ceil(3)].to_vec());
    let slice_samples: usize = slice.iter().flatten().map(|(_, s)| s.len()).sum();
    let replay_rate = replay(slice, slice_samples as f64).await?;
    println!(
        "{{\"samples\":{samples},\"single_node_samples_per_s\":{:.0},\"single_node_cpu_s\":{:.3},\"cluster_cpu_s\":{:.3},\"cpu_ratio_3_nodes_n1\":{spread_ratio:.4},\"journal_replay_samples_per_s\":{replay_rate:.0},\"cluster_samples_per_s\":{:.0},\"cpu_ratio_vs_single_node_per_replica\":{ratio_json}}}",
        single.samples_per_s, single.cpu, three.cpu, three.samples_per_s
    );
    Ok(())
}
