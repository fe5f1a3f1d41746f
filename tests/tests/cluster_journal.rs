//! Hinted handoff: with one of three replicas down, quorum writes succeed and the coordinator
//! journals the absent replica's copies; when it returns the journal drains and every
//! replica's digest is the same.

use std::time::Duration;

use floe_tests::load::now_ms;
use floe_tests::{ClusterSpec, TestCluster, wait_eq, wait_until};

const SERIES: usize = 40;

fn pending(cluster: &TestCluster, i: usize, peer: &str) -> anyhow::Result<f64> {
    let v = cluster.metric(i, "floe_journal_pending_records", &[("peer", peer)])?;
    Ok(v.unwrap_or(0.0))
}

#[test]
fn quorum_writes_with_a_node_down_are_journaled_and_drain_when_it_returns() -> anyhow::Result<()> {
    println!(
        "checks: 3 nodes, N=3; n3 stopped; quorum writes through n1 answer 2xx and fill n1's \
         journal for n3; n3 restarted; the journal drains to 0; all three digests are equal"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 3))?;
    let t0 = now_ms() - 120_000;
    let (n1, n3) = (0, 2);
    let n3_id = cluster.node_id(n3).to_string();

    cluster.stop(n3)?;
    println!("n3 stopped");
    for step in 0..3i64 {
        let t = t0 + step * 1_000;
        let lines: String = (0..SERIES)
            .map(|s| format!("handoff,s={s} v={} {t}\n", s as i64 * 10 + step))
            .collect();
        let r = cluster.write_lines(n1, "test", &lines, Some("quorum"))?;
        assert!(
            r.is_success(),
            "quorum write with n3 down: {} {}",
            r.status,
            r.text()
        );
    }
    // The coordinator journals n3's copies once its forwards to n3 fail (after the peer
    // request timeout), which may be after it acknowledged the write at quorum.
    let journaled = floe_tests::wait_for(
        "n1 to journal records for n3",
        Duration::from_secs(20),
        || Ok(Some(pending(&cluster, n1, &n3_id)?).filter(|&p| p > 0.0)),
    )?;
    println!("n1 journal for n3: {journaled} records pending");

    // Reads at quorum still see every acknowledged sample with n3 down.
    let v = cluster.query_vector(1, "handoff_v", t0 + 2_000, Some("quorum"))?;
    assert_eq!(v.len(), SERIES, "quorum read with n3 down");

    cluster.start_node(n3)?;
    println!("n3 restarted");
    wait_eq(
        "n1's journal for n3 to drain",
        Duration::from_secs(30),
        0.0,
        || pending(&cluster, n1, &n3_id),
    )?;
    println!("n1 journal for n3 drained");

    let client = cluster.client()?;
    let (start, end) = (t0 - 1, t0 + 10_000);
    let mut last = Vec::new();
    wait_until(
        "equal digests on every node",
        Duration::from_secs(10),
        || {
            last = client.digests(start, end)?;
            Ok(last.iter().all(|(_, d)| *d == last[0].1))
        },
    )
    .map_err(|e| e.context(format!("digests: {last:x?}")))?;
    println!("digests: {last:x?}");
    assert_ne!(last[0].1, 0, "the digest covers the samples written");

    // n3 now answers every sample on its own (a read at `one` through n3 may use its copy).
    let v = cluster.query_vector(n3, "handoff_v", t0 + 2_000, Some("all"))?;
    assert_eq!(v.len(), SERIES, "read at all after the handoff");

    drop(client);
    cluster.stop_all()?;
    cluster.check_logs(&[])
}
