//! Convergence with real floed processes: anti-entropy finds and repairs a replica whose data
//! was changed behind its back (a block file deleted, a series rewritten on one replica only),
//! on demand (`floectl repair`) and in the background; the cluster digest (`floectl digest`)
//! equals the digest of the data written, computed here by the merge rule.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use floe_client::ClientConfig;
use floe_ctl::certs::Subject;
use floe_storage_format::Sample;
use floe_tests::convergence::{
    Row, cluster_digest, expected_digest, mirror_config, mirror_table, scrambled, stream, total,
    write_rows,
};
use floe_tests::load::now_ms;
use floe_tests::peer::{WireClient, topology_ref, write_request};
use floe_tests::rebalance::{metric_sum, replicas_agree};
use floe_tests::{BlockingClient, ClusterSpec, TestCluster, floectl, wait_for, wait_until};
use floe_wire::proto::{Consistency, Response, WriteMode};
use serde_json::Value;

fn url(cluster: &TestCluster, i: usize) -> String {
    format!("http://{}", cluster.http_addr(i))
}

/// The last JSON line floectl printed.
fn last_json(stdout: &str) -> Result<Value> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("no JSON line in floectl's output")?;
    Ok(serde_json::from_str(line)?)
}

/// The largest block file of a data directory.
fn largest_block(data_dir: &Path) -> Result<PathBuf> {
    let mut best: Option<(u64, PathBuf)> = None;
    for e in std::fs::read_dir(data_dir.join("blocks"))? {
        let e = e?;
        let len = e.metadata()?.len();
        if e.path().extension().is_some_and(|x| x == "blk")
            && best.as_ref().is_none_or(|b| len > b.0)
        {
            best = Some((len, e.path()));
        }
    }
    best.map(|b| b.1).context("no block file")
}

/// Waits until the cluster digest computed by node `i` equals `want` with every replica in
/// agreement.
fn wait_digest(
    cluster: &TestCluster,
    i: usize,
    want: (u64, u128),
    timeout: Duration,
) -> Result<Value> {
    wait_for(
        "the cluster digest to match with replicas in agreement",
        timeout,
        || {
            let d = cluster_digest(cluster.http_addr(i))?;
            if total(&d) == want
                && d["replicas_disagree"] == 0
                && d["unreachable"].as_array().is_some_and(Vec::is_empty)
            {
                Ok(Some(d))
            } else {
                bail!(
                    "digest {:?} (want {want:?}), replicas_disagree {}",
                    total(&d),
                    d["replicas_disagree"]
                )
            }
        },
    )
}

/// Flushes node `i`, stops it, deletes its largest block file and starts it again.
fn delete_a_block(cluster: &mut TestCluster, i: usize) -> Result<()> {
    let r = floe_tests::http::post(cluster.http_addr(i), "/api/v1/admin/flush", b"")?;
    anyhow::ensure!(r.is_success(), "flush: {} {}", r.status, r.text());
    cluster.stop(i)?;
    let block = largest_block(&cluster.data_dir(i))?;
    let len = std::fs::metadata(&block)?.len();
    std::fs::remove_file(&block)?;
    println!(
        "deleted {} ({len} bytes) of {}",
        block.display(),
        cluster.node_id(i)
    );
    cluster.start_node(i)?;
    cluster.wait_ready(i)
}

#[test]
fn anti_entropy_repairs_replicas_changed_behind_their_back() -> Result<()> {
    println!(
        "checks: 3 nodes, N=2, anti-entropy off; 200 series × 720 points (+2 % corrections) \
         written at consistency all; the cluster digest equals the merge-rule digest of the \
         data; n2 loses a block file and n3 alone gets a rewritten series; the digest (merged \
         over replicas) still equals the expected data and reports disagreeing replicas; \
         floectl repair --dry-run finds differing series, floectl repair repairs them, every \
         range's replicas agree; then with anti-entropy on (1 s), n1 loses a block file and \
         the background rounds repair it"
    );
    let spec = ClusterSpec::new(3, 2).config("[cluster]\nanti_entropy_interval = \"0s\"\n");
    let mut cluster = TestCluster::start(spec)?;
    let start = now_ms() - 3 * 3_600_000;
    let mut rows: Vec<Row> = stream(20, 720, start)?;
    let mut config = ClientConfig::new(cluster.quic_addrs(), cluster.client_tls());
    config.consistency = Consistency::All;
    let client = BlockingClient::connect(config)?;
    write_rows(&client, &rows, 5_000)?;
    let want = expected_digest(&rows);
    println!(
        "wrote {} rows; expected {} stored samples, digest {:032x}",
        rows.len(),
        want.0,
        want.1
    );
    let d = wait_digest(&cluster, 0, want, Duration::from_secs(30))?;
    println!(
        "floectl digest:\n{}",
        floectl(&["digest", "--node", &url(&cluster, 0)])?
    );
    assert!(
        d["partitions"].as_array().is_some_and(|p| p.len() >= 2),
        "{d}"
    );

    // n3 alone: series 0 rewritten at version 2 (a replica write, as a coordinator's forward).
    let victim = rows[0].0.clone();
    let rewrite: Vec<Row> = rows
        .iter()
        .filter(|(k, s)| *k == victim && s.version == 0)
        .map(|(k, s)| (k.clone(), Sample::new(s.ts, -s.value, 2)))
        .collect();
    let as_n1 = WireClient::new(&cluster.issue(&Subject::Node("n1".into()))?)?;
    let req = write_request(
        topology_ref(cluster.topology()),
        WriteMode::Replica,
        Consistency::One,
        &rewrite,
    )?;
    let owners = floe_ring::Ring::new(cluster.topology());
    let owner_ids: Vec<String> = owners
        .owner_ids(victim.id().ring_position())
        .map(str::to_string)
        .collect();
    let target = cluster.index_of(&owner_ids[0]).context("owner")?;
    match as_n1.request(cluster.quic_addr(target), cluster.node_id(target), &req)? {
        Response::Write(w) => println!(
            "rewrote {} samples of {victim} on {} only",
            w.samples, owner_ids[0]
        ),
        other => bail!("replica write refused: {other:?}"),
    }
    rows.extend(rewrite);
    let want = expected_digest(&rows);
    delete_a_block(&mut cluster, 1)?;

    let d = cluster_digest(cluster.http_addr(2))?;
    println!(
        "after tampering: digest {:?}, replicas_disagree {}",
        total(&d),
        d["replicas_disagree"]
    );
    assert_eq!(
        total(&d),
        want,
        "the cluster digest is of the merged replicas"
    );
    assert!(d["replicas_disagree"].as_u64().unwrap_or(0) > 0, "{d}");
    assert!(
        replicas_agree(&cluster, cluster.topology()).is_err(),
        "replicas should differ now"
    );

    let dry = last_json(&floectl(&[
        "repair",
        "--node",
        &url(&cluster, 2),
        "--dry-run",
        "--json",
    ])?)?;
    println!("floectl repair --dry-run: {dry}");
    assert_eq!(dry["state"], "done", "{dry}");
    assert!(dry["differing_series"].as_u64().unwrap_or(0) > 0, "{dry}");
    assert_eq!(dry["repaired_samples"], 0, "{dry}");
    assert!(
        replicas_agree(&cluster, cluster.topology()).is_err(),
        "a dry run repairs nothing"
    );

    let text = floectl(&["repair", "--node", &url(&cluster, 2)])?;
    println!("floectl repair:\n{text}");
    let job = &cluster_job(&cluster, 2)?;
    assert_eq!(job["state"], "done", "{job}");
    assert!(job["repaired_samples"].as_u64().unwrap_or(0) > 0, "{job}");
    let ranges = replicas_agree(&cluster, cluster.topology())?;
    println!("after floectl repair: all {ranges} ranges' replicas agree");
    wait_digest(&cluster, 0, want, Duration::from_secs(10))?;

    // Background anti-entropy: every node restarted with 1 s rounds.
    for i in 0..cluster.len() {
        cluster.set_node_config(i, "[cluster]\nanti_entropy_interval = \"1s\"\n")?;
        cluster.restart(i)?;
        cluster.wait_ready(i)?;
    }
    let repaired_before = metric_sum(&cluster, &[0, 1, 2], "floe_ae_repaired_samples_total")?;
    delete_a_block(&mut cluster, 0)?;
    let d = wait_digest(&cluster, 1, want, Duration::from_secs(60))?;
    println!("background anti-entropy converged: {:?}", total(&d));
    let rounds = metric_sum(&cluster, &[0, 1, 2], "floe_ae_rounds_total")?;
    let repaired =
        metric_sum(&cluster, &[0, 1, 2], "floe_ae_repaired_samples_total")? - repaired_before;
    println!("rounds {rounds}, samples repaired in the background {repaired}");
    assert!(repaired > 0.0, "the background rounds repaired nothing");
    floe_tests::wait::wait_for_every(
        "every range's replicas to agree",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || replicas_agree(&cluster, cluster.topology()).map(Some),
    )?;
    cluster.check_logs(&["block named by the manifest is missing"])?;
    Ok(())
}

/// The repair job of node `i`.
fn cluster_job(cluster: &TestCluster, i: usize) -> Result<Value> {
    let r = floe_tests::http::get(cluster.http_addr(i), "/api/v1/admin/repair/status")?;
    Ok(r.json()?["data"]["job"].clone())
}

#[test]
fn a_mirrored_and_a_scrambled_replay_converge_to_identical_cluster_digests() -> Result<()> {
    println!(
        "checks: prod (3 nodes, N=2) mirrors every write to dev (2 nodes, N=1); prod is fed \
         the generated stream (60 series × 720 points + corrections) through floe-client; once \
         the mirror journals drain, floectl digest compare says the clusters are identical and \
         both digests equal the merge-rule digest of the stream; then the whole stream is \
         replayed into dev shuffled, with 10 % duplicates and 10 % late arrivals, and the \
         clusters are still identical"
    );
    let mut dev_spec = ClusterSpec::new(2, 1);
    dev_spec.name = "floe-dev".into();
    let dev = TestCluster::start(dev_spec)?;
    let tls = dev.issue(&Subject::Client("prod-mirror".into()))?;
    let mut spec = ClusterSpec::new(3, 2);
    spec.name = "floe-prod".into();
    floe_tests::cluster::merge(
        &mut spec.config,
        &mirror_config(&[mirror_table("dev", &dev, tls, None)]),
    );
    let prod = TestCluster::start(spec)?;

    let rows = stream(6, 720, now_ms() - 3 * 3_600_000)?;
    let want = expected_digest(&rows);
    write_rows(&prod.client()?, &rows, 2_000)?;
    wait_until(
        "the mirror journals to drain",
        Duration::from_secs(60),
        || Ok(metric_sum(&prod, &[0, 1, 2], "floe_mirror_pending_records")? == 0.0),
    )?;
    let compare = |what: &str| -> Result<String> {
        let text = floectl(&["digest", "compare", &url(&prod, 0), &url(&dev, 1)])?;
        println!("floectl digest compare ({what}):\n{text}");
        anyhow::ensure!(
            text.contains("identical"),
            "{what}: clusters differ:\n{text}"
        );
        Ok(text)
    };
    compare("after mirroring")?;
    assert_eq!(total(&cluster_digest(prod.http_addr(1))?), want);
    assert_eq!(total(&cluster_digest(dev.http_addr(0))?), want);

    let replay = scrambled(&rows, 42);
    println!(
        "replaying {} rows into dev (the stream has {})",
        replay.len(),
        rows.len()
    );
    write_rows(&dev.client()?, &replay, 2_000)?;
    compare("after the scrambled replay")?;
    assert_eq!(total(&cluster_digest(dev.http_addr(1))?), want);

    // A difference is found and named: one sample more in dev.
    let extra = (rows[0].0.clone(), Sample::new(rows[0].1.ts + 1, 1.0, 0));
    dev.client()?.write(&[extra])?;
    let out = Command::new(floe_tests::floectl_bin()?)
        .args(["digest", "compare", &url(&prod, 0), &url(&dev, 0)])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!("floectl digest compare (one sample more in dev):\n{text}");
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("DIFFERENT")
            && (text.contains("only in B") || text.contains("digests differ")),
        "{text}"
    );
    prod.check_logs(&[])?;
    dev.check_logs(&[])?;
    Ok(())
}
