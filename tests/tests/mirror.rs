//! Stream mirroring with real floed processes: a source cluster (3 nodes, N=2) tees every
//! write it acknowledges to a `dev` cluster (2 nodes, N=1) and, filtered to one metric, to a
//! `staging` cluster (1 node). The dev cluster is stopped while the source keeps writing
//! (over HTTP and over QUIC with `floe-client`): source writes keep succeeding at their usual
//! latency, the mirror journals fill and their lag shows on `/metrics` and in
//! `floectl mirror status`; a source node restarted meanwhile keeps its journal; once dev is
//! back the journals drain, and both mirrors hold exactly the source's data (every sample of
//! every series, compared one by one).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use floe_client::{Sample, SeriesKey};
use floe_ctl::certs::Subject;
use floe_tests::convergence::{mirror_config, mirror_table};
use floe_tests::load::now_ms;
use floe_tests::rebalance::metric_sum;
use floe_tests::wait::{wait_for, wait_until};
use floe_tests::{ClusterSpec, TestCluster, floectl_bin, http};

/// Hosts per metric; each host has a `mirror_cpu_usage` and a `mirror_mem_used` series.
const HOSTS: usize = 12;
/// Rounds (one sample per series each) written in each of the three phases.
const ROUNDS: i64 = 10;
/// Selects every series the test writes.
const ALL: &str = r#"{__name__=~"mirror_.*"}"#;
/// What the staging mirror takes.
const CPU_ONLY: &str = r#"{__name__="mirror_cpu_usage"}"#;

/// Every sample of every series `selector` matches, by labels: `(ms, value as the API
/// formats it)`, compared exactly.
type Data = BTreeMap<Vec<(String, String)>, Vec<(i64, String)>>;

fn read_all(cluster: &TestCluster, i: usize, selector: &str, at: i64) -> anyhow::Result<Data> {
    let q = format!("{selector}[1h]");
    let r = http::query(cluster.http_addr(i), &q, at, Some("all"))?;
    anyhow::ensure!(
        r.status == 200,
        "query {q} answered {}: {}",
        r.status,
        r.text()
    );
    let v = r.json()?;
    anyhow::ensure!(v["data"]["resultType"] == "matrix", "not a matrix: {v}");
    let mut out = Data::new();
    for s in v["data"]["result"].as_array().context("no result")? {
        let mut labels: Vec<(String, String)> = s["metric"]
            .as_object()
            .context("no metric")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        labels.sort();
        let mut samples = Vec::new();
        for p in s["values"].as_array().context("no values")? {
            let t = p[0].as_f64().context("no time")?;
            let value = p[1].as_str().context("no value")?.to_string();
            samples.push(((t * 1000.0).round() as i64, value));
        }
        out.insert(labels, samples);
    }
    Ok(out)
}

fn value(metric: usize, host: usize, round: i64) -> f64 {
    // Exact binary fractions: the text form round-trips without doubt.
    (metric * 100_000 + host * 1_000) as f64 + round as f64 / 8.0
}

fn lines(t0: i64, round: i64) -> String {
    let ts = t0 + round * 1_000;
    (0..HOSTS)
        .map(|h| {
            format!(
                "mirror_cpu,host=h{h} usage={} {ts}\nmirror_mem,host=h{h} used={} {ts}\n",
                value(0, h, round),
                value(1, h, round)
            )
        })
        .collect()
}

fn client_samples(t0: i64, round: i64) -> anyhow::Result<Vec<(SeriesKey, Sample)>> {
    let ts = t0 + round * 1_000;
    let mut out = Vec::new();
    for h in 0..HOSTS {
        let host = format!("h{h}");
        for (m, name) in ["mirror_cpu_usage", "mirror_mem_used"].iter().enumerate() {
            // The line protocol's database becomes the label `db`: the same series.
            let key = SeriesKey::new(*name, [("db", "mirror"), ("host", host.as_str())])?;
            out.push((key, Sample::new(ts, value(m, h, round), 0)));
        }
    }
    Ok(out)
}

/// Pending records of `target` summed over the source's nodes.
fn pending(source: &TestCluster, target: &str) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for i in 0..source.len() {
        sum += source
            .metric(i, "floe_mirror_pending_records", &[("target", target)])?
            .unwrap_or(0.0);
    }
    Ok(sum)
}

fn floectl_status(source: &TestCluster, extra: &[&str]) -> anyhow::Result<std::process::Output> {
    let mut cmd = Command::new(floectl_bin()?);
    cmd.args(["mirror", "status"]).env_remove("FLOE_NODE_URL");
    for addr in source.http_addrs() {
        cmd.arg("--node").arg(format!("http://{addr}"));
    }
    cmd.args(extra);
    cmd.output().context("run floectl mirror status")
}

/// min / median / max of `d`, in ms.
fn spread(d: &mut [Duration]) -> (u128, u128, u128) {
    d.sort();
    (
        d[0].as_millis(),
        d[d.len() / 2].as_millis(),
        d[d.len() - 1].as_millis(),
    )
}

fn write_phase(
    source: &TestCluster,
    t0: i64,
    rounds: std::ops::Range<i64>,
    client: Option<&floe_tests::BlockingClient>,
) -> anyhow::Result<Vec<Duration>> {
    let mut took = Vec::new();
    for round in rounds {
        let began = Instant::now();
        match client {
            Some(c) if round % 2 == 1 => {
                c.write(&client_samples(t0, round)?)
                    .with_context(|| format!("client write of round {round}"))?;
            }
            _ => {
                let via = round as usize % source.len();
                let r = source.write_lines(via, "mirror", &lines(t0, round), Some("quorum"))?;
                anyhow::ensure!(
                    r.is_success(),
                    "round {round} via n{}: {} {}",
                    via + 1,
                    r.status,
                    r.text()
                );
            }
        }
        took.push(began.elapsed());
    }
    Ok(took)
}

#[test]
fn mirrors_converge_to_the_source_after_the_target_was_down() -> anyhow::Result<()> {
    println!(
        "checks: source 3 nodes N=2 mirrors to dev (2 nodes, N=1) and, cpu only, to staging \
         (1 node); dev stopped while the source writes over HTTP and QUIC: writes succeed at \
         normal latency, pending records and lag show on /metrics and floectl; a source node \
         restarted keeps its journal; dev restarted: journals drain; dev equals the source exactly, staging equals its cpu series"
    );
    let began = Instant::now();
    let mut dev_spec = ClusterSpec::new(2, 1);
    dev_spec.name = "floe-dev".into();
    let mut dev = TestCluster::start(dev_spec)?;
    let mut staging_spec = ClusterSpec::new(1, 1);
    staging_spec.name = "floe-staging".into();
    let staging = TestCluster::start(staging_spec)?;
    let dev_tls = dev.issue(&Subject::Client("prod-mirror".into()))?;
    let staging_tls = staging.issue(&Subject::Client("prod-mirror".into()))?;

    let mut spec = ClusterSpec::new(3, 2);
    spec.name = "floe-prod".into();
    let over = mirror_config(&[
        mirror_table("dev", &dev, dev_tls, None),
        mirror_table("staging", &staging, staging_tls, Some(CPU_ONLY)),
    ]);
    floe_tests::cluster::merge(&mut spec.config, &over);
    let source = TestCluster::start(spec)?;
    println!(
        "three clusters up in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let t0 = now_ms() - 5 * 60_000;
    let client = source.client()?;

    // Phase 1: every cluster up.
    let mut normal = write_phase(&source, t0, 0..ROUNDS, Some(&client))?;
    wait_until("the mirrors to catch up", Duration::from_secs(30), || {
        Ok(pending(&source, "dev")? == 0.0 && pending(&source, "staging")? == 0.0)
    })?;

    // Phase 2: dev down.
    dev.stop(0)?;
    dev.stop(1)?;
    println!("dev stopped");
    let mut outage = write_phase(&source, t0, ROUNDS..2 * ROUNDS, Some(&client))?;
    let lag = wait_for("the dev lag to show", Duration::from_secs(30), || {
        let mut max: f64 = 0.0;
        for i in 0..source.len() {
            let l = source.metric(i, "floe_mirror_lag_seconds", &[("target", "dev")])?;
            max = max.max(l.unwrap_or(0.0));
        }
        Ok(Some(max).filter(|&m| m >= 1.0))
    })?;
    let waiting = pending(&source, "dev")?;
    println!("dev down: {waiting} records pending on the source, lag {lag:.1} s");
    anyhow::ensure!(waiting > 0.0, "nothing pending for dev while it is down");
    wait_until("staging to stay in sync", Duration::from_secs(30), || {
        Ok(pending(&source, "staging")? == 0.0)
    })?;

    let out = floectl_status(&source, &[])?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!("floectl mirror status:\n{text}");
    anyhow::ensure!(
        out.status.success(),
        "floectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(text.contains("dev") && text.contains("staging"), "{text}");
    anyhow::ensure!(
        text.contains("retrying") || text.contains("sending"),
        "{text}"
    );
    let out = floectl_status(&source, &["--json"])?;
    let mut json_pending = 0;
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("floectl mirror status --json:\n{json}");
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        for m in v["mirrors"].as_array().context("mirrors")? {
            if m["name"] == "dev" {
                json_pending += m["pending_records"].as_u64().unwrap_or(0);
            }
        }
    }
    anyhow::ensure!(
        json_pending > 0,
        "floectl --json shows nothing pending for dev"
    );
    let unreachable = floectl_status(&source, &["--node", "http://127.0.0.1:9"])?;
    anyhow::ensure!(
        unreachable.status.code() == Some(1),
        "an unreachable node must fail floectl: {unreachable:?}"
    );

    // A source node restarted meanwhile keeps its journal for dev (SIGTERM: what was queued
    // is appended before it exits).
    let n3 = |c: &TestCluster| -> anyhow::Result<f64> {
        let v = c.metric(2, "floe_mirror_pending_records", &[("target", "dev")])?;
        Ok(v.unwrap_or(0.0))
    };
    let before = n3(&source)?;
    let mut source = source;
    source.restart(2)?;
    let after = n3(&source)?;
    println!("n3 restarted: {before} records pending for dev before, {after} after");
    anyhow::ensure!(
        before > 0.0 && after == before,
        "n3's journal: {before} then {after}"
    );

    // Phase 3: dev back; the source wrote on meanwhile.
    dev.start_node(0)?;
    dev.start_node(1)?;
    println!("dev restarted");
    normal.extend(write_phase(&source, t0, 2 * ROUNDS..3 * ROUNDS, None)?);
    let (n, o) = (spread(&mut normal), spread(&mut outage));
    println!("source write latency ms (min/median/max): targets up {n:?}, dev down {o:?}");
    anyhow::ensure!(
        o.2 < 1_500 && o.1 <= n.1 * 3 + 50,
        "source writes slowed while dev was down: {o:?} against {n:?}"
    );
    let drained = Instant::now();
    wait_until("the dev journals to drain", Duration::from_secs(60), || {
        Ok(pending(&source, "dev")? == 0.0 && pending(&source, "staging")? == 0.0)
    })?;
    println!(
        "journals drained {:.1} s after the last write",
        drained.elapsed().as_secs_f64()
    );

    let at = now_ms();
    let want = read_all(&source, 0, ALL, at)?;
    let samples: usize = want.values().map(Vec::len).sum();
    anyhow::ensure!(
        want.len() == 2 * HOSTS,
        "source holds {} series",
        want.len()
    );
    anyhow::ensure!(
        samples == 2 * HOSTS * 3 * ROUNDS as usize,
        "source holds {samples} samples"
    );
    for (series, points) in &want {
        for (k, (ts, v)) in points.iter().enumerate() {
            let metric = usize::from(series.iter().any(|(_, v)| v == "mirror_mem_used"));
            let host: usize =
                series.iter().find(|(k, _)| k == "host").context("host")?.1[1..].parse()?;
            anyhow::ensure!(
                *ts == t0 + k as i64 * 1_000,
                "{series:?}: sample {k} at {ts}"
            );
            anyhow::ensure!(
                v.parse::<f64>()? == value(metric, host, k as i64),
                "{series:?} {ts}: {v}"
            );
        }
    }
    for i in 0..dev.len() {
        let got = read_all(&dev, i, ALL, at)?;
        anyhow::ensure!(got == want, "dev via n{} differs from the source", i + 1);
    }
    let cpu: Data = want
        .into_iter()
        .filter(|(s, _)| s.iter().any(|(_, v)| v == "mirror_cpu_usage"))
        .collect();
    let got = read_all(&staging, 0, ALL, at)?;
    anyhow::ensure!(
        got == cpu,
        "staging holds {} series, not exactly the source's cpu series",
        got.len()
    );
    println!(
        "dev holds the source's {} series and {samples} samples exactly; staging its {} cpu series",
        2 * HOSTS,
        cpu.len()
    );

    // The same, by cluster digest: dev is identical to the source; staging to the source's
    // cpu series.
    let compare = |b: &TestCluster, selector: Option<&str>| -> anyhow::Result<String> {
        let a_url = format!("http://{}", source.http_addr(0));
        let b_url = format!("http://{}", b.http_addr(0));
        let mut args = vec!["digest", "compare", a_url.as_str(), b_url.as_str()];
        if let Some(s) = selector {
            args.extend(["--match", s]);
        }
        let out = Command::new(floectl_bin()?).args(&args).output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        anyhow::ensure!(
            out.status.success() && text.contains("identical"),
            "floectl {args:?}: {}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(text)
    };
    println!(
        "floectl digest compare source dev:\n{}",
        compare(&dev, None)?
    );
    println!(
        "floectl digest compare source staging --match cpu:\n{}",
        compare(&staging, Some(CPU_ONLY))?
    );

    let sent = metric_sum(&source, &[0, 1, 2], "floe_mirror_sent_samples_total")?;
    let dropped = metric_sum(&source, &[0, 1, 2], "floe_mirror_dropped_samples_total")?;
    let errors = metric_sum(&source, &[0, 1, 2], "floe_mirror_send_errors_total")?;
    println!(
        "mirror counters: {sent} samples sent (both targets, at least once, n3 since its \
         restart), {errors} send errors, {dropped} dropped"
    );
    // Counters restart with the node (n3 was restarted): the data comparison above is the
    // real check; here only that something was counted and nothing dropped.
    anyhow::ensure!(sent > 0.0, "sent {sent}");
    // Send errors while dev was down depend on when the sender last tried (counters also
    // restart with n3), so they are reported above, not asserted.
    anyhow::ensure!(dropped == 0.0, "dropped {dropped}, errors {errors}");

    drop(client);
    source.stop_all()?;
    dev.stop_all()?;
    let mut staging = staging;
    staging.stop_all()?;
    for c in [&source, &dev, &staging] {
        c.check_logs(&[])?;
    }
    println!("done in {:.1} s", began.elapsed().as_secs_f64());
    Ok(())
}
