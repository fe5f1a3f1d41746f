//! `cargo bench -p floe-tests --bench convergence`: what anti-entropy costs when replicas
//! already agree, and how fast it repairs when they do not.
//!
//! 1. Three nodes with N = 2 and background anti-entropy every second are loaded with the
//!    data set by `floe-client` at consistency `all` (every replica holds every sample).
//! 2. In sync: after two warm-up rounds per node (the first computes the digest cells), the
//!    bench watches at least 5 more rounds per node and reports the bytes the nodes exchanged
//!    (`floe_ae_bytes_total`) and the CPU time the three floed processes used (from
//!    `/proc/PID/stat`, everything they did meanwhile, which is only anti-entropy) per million
//!    samples compared (`floe_ae_compared_samples_total`).
//! 3. Repair: every node restarts with background rounds off and n3 with an empty data
//!    directory; a repair job (`POST /api/v1/admin/repair` on n1) refills n3 from its peers.
//!    Repair throughput is the samples it stored over the job's time. The cluster digest then
//!    has every replica in agreement and the data set's sample count.
//!
//! Data: `floe-datagen`'s TSBS cpu-only set (default 200 hosts × 12 h at 10 s = 8.64 M
//! samples; `FLOE_BENCH_HOSTS` / `FLOE_BENCH_HOURS`; `FLOE_BENCH_SMOKE=1` for a quick check).
//! The last line is one JSON object with `ae_bytes_per_million_samples_in_sync` and
//! `repair_samples_per_s`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use floe_client::{Client, ClientConfig};
use floe_datagen::{Config, Generator, ValueMode};
use floe_tests::bench::{batches, env_u32, load};
use floe_tests::cluster::{ClusterSpec, TestCluster};
use floe_tests::convergence::{cluster_digest, total};
use floe_tests::rebalance::metric_sum;
use floe_tests::wait_for;
use floe_wire::proto::Consistency;

/// CPU seconds (user + system) a process used so far.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn cpu_all(cluster: &TestCluster) -> Result<f64> {
    let mut sum = 0.0;
    for i in 0..cluster.len() {
        sum += cpu_seconds(cluster.pid(i).context("a node is not running")?)?;
    }
    Ok(sum)
}

/// Per node, the anti-entropy rounds run so far.
fn rounds(cluster: &TestCluster) -> Result<Vec<f64>> {
    (0..cluster.len())
        .map(|i| {
            Ok(cluster
                .metric(i, "floe_ae_rounds_total", &[])?
                .unwrap_or(0.0))
        })
        .collect()
}

/// Waits until every node ran `more` rounds past `from`.
fn wait_rounds(cluster: &TestCluster, from: &[f64], more: f64) -> Result<Vec<f64>> {
    wait_for("anti-entropy rounds", Duration::from_secs(300), || {
        let now = rounds(cluster)?;
        Ok(now
            .iter()
            .zip(from)
            .all(|(n, f)| n - f >= more)
            .then_some(now))
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let smoke = std::env::var_os("FLOE_BENCH_SMOKE").is_some();
    let hosts = env_u32("FLOE_BENCH_HOSTS", if smoke { 20 } else { 200 });
    let hours = env_u32("FLOE_BENCH_HOURS", if smoke { 2 } else { 12 });
    let generator = Generator::new(Config {
        hosts,
        points: hours * 360,
        start_ms: floe_tests::load::now_ms() - i64::from(hours) * 3_600_000,
        mode: ValueMode::Float2,
        ..Config::default()
    })?;
    let samples = generator.sample_count();
    let data = Arc::new(batches(&generator, 40_000)?);
    println!(
        "convergence bench: TSBS cpu-only {hosts} hosts x {hours} h at 10 s = {samples} samples, 3 nodes, N = 2"
    );

    // 1. Load at consistency all, anti-entropy every second.
    let spec = ClusterSpec::new(3, 2)
        .config("[cluster]\nanti_entropy_interval = \"1s\"\nanti_entropy_max_bytes_per_s = 0\n");
    let mut cluster = TestCluster::start(spec).context("start cluster")?;
    let mut config = ClientConfig::new(cluster.quic_addrs(), cluster.client_tls());
    config.consistency = Consistency::All;
    let client = Client::connect(config).await.context("connect")?;
    let wall = load(&client, data).await?;
    client.close();
    println!(
        "loaded in {wall:.1} s ({:.2} M samples/s at consistency all)",
        samples as f64 / wall / 1e6
    );

    // 2. In sync: warm up, then measure.
    let nodes: Vec<usize> = (0..cluster.len()).collect();
    let r0 = rounds(&cluster)?;
    let r1 = wait_rounds(&cluster, &r0, 2.0)?;
    let (bytes0, compared0) = (
        metric_sum(&cluster, &nodes, "floe_ae_bytes_total")?,
        metric_sum(&cluster, &nodes, "floe_ae_compared_samples_total")?,
    );
    let repaired0 = metric_sum(&cluster, &nodes, "floe_ae_repaired_samples_total")?;
    let cpu0 = cpu_all(&cluster)?;
    let t0 = Instant::now();
    let r2 = wait_rounds(&cluster, &r1, 5.0)?;
    let cpu = cpu_all(&cluster)? - cpu0;
    let secs = t0.elapsed().as_secs_f64();
    let bytes = metric_sum(&cluster, &nodes, "floe_ae_bytes_total")? - bytes0;
    let compared = metric_sum(&cluster, &nodes, "floe_ae_compared_samples_total")? - compared0;
    let repaired_in_sync =
        metric_sum(&cluster, &nodes, "floe_ae_repaired_samples_total")? - repaired0;
    let round_count: f64 = r2.iter().zip(&r1).map(|(a, b)| a - b).sum();
    if compared == 0.0 {
        bail!("no samples compared in {round_count} rounds");
    }
    let per_m = compared / 1e6;
    let bytes_per_m = bytes / per_m;
    let cpu_ms_per_m = cpu * 1000.0 / per_m;
    println!(
        "in sync: {round_count} rounds in {secs:.1} s compared {compared} samples, exchanged {bytes} bytes = {bytes_per_m:.1} B per million samples; CPU {cpu:.3} s = {cpu_ms_per_m:.2} ms per million samples; repaired {repaired_in_sync}"
    );
    let last_round = cluster
        .metric(0, "floe_ae_last_round_seconds", &[])?
        .unwrap_or(0.0);

    // 3. Repair: n3 wiped, a repair job refills it.
    for i in 0..cluster.len() {
        cluster.stop(i)?;
    }
    std::fs::remove_dir_all(cluster.data_dir(2)).context("wipe n3")?;
    for i in 0..cluster.len() {
        cluster.set_node_config(i, "[cluster]\nanti_entropy_interval = \"0s\"\n")?;
        cluster.start_node(i)?;
    }
    for i in 0..cluster.len() {
        cluster.wait_ready(i)?;
    }
    let r = floe_tests::http::post(cluster.http_addr(0), "/api/v1/admin/repair", b"")?;
    anyhow::ensure!(
        r.status == 202,
        "repair answered {}: {}",
        r.status,
        r.text()
    );
    let job = wait_for("the repair job", Duration::from_secs(1800), || {
        let r = floe_tests::http::get(cluster.http_addr(0), "/api/v1/admin/repair/status")?;
        let job = r.json()?["data"]["job"].clone();
        Ok((job["state"] != "running").then_some(job))
    })?;
    anyhow::ensure!(job["state"] == "done", "repair job: {job}");
    let repaired = job["repaired_samples"].as_f64().unwrap_or(0.0);
    let job_secs = job["elapsed_s"].as_f64().unwrap_or(f64::NAN);
    let job_bytes = job["bytes"].as_f64().unwrap_or(0.0);
    let rate = repaired / job_secs;
    println!(
        "repair: a job on n1 stored {repaired} samples in {job_secs:.2} s = {:.3} M samples/s, {:.1} MB/s exchanged; {} series differed",
        rate / 1e6,
        job_bytes / job_secs / 1e6,
        job["differing_series"]
    );
    let d = cluster_digest(cluster.http_addr(1))?;
    let (stored, _) = total(&d);
    anyhow::ensure!(
        d["replicas_disagree"] == 0 && stored == samples,
        "after the repair: {stored} samples (want {samples}), replicas_disagree {}",
        d["replicas_disagree"]
    );
    cluster.check_logs(&[])?;
    println!(
        "{{\"samples\":{samples},\"ae_rounds\":{round_count},\"ae_compared_samples\":{compared},\"ae_bytes\":{bytes},\"ae_cpu_ms_per_million_samples_in_sync\":{cpu_ms_per_m:.3},\"ae_last_round_seconds\":{last_round:.4},\"ae_repaired_in_sync\":{repaired_in_sync},\"repair_samples\":{repaired},\"repair_seconds\":{job_secs:.3},\"repair_mb_per_s\":{:.3},\"ae_bytes_per_million_samples_in_sync\":{bytes_per_m:.2},\"repair_samples_per_s\":{rate:.0}}}",
        job_bytes / job_secs / 1e6
    );
    Ok(())
}
