//! A node never acts on a topology it has not adopted: with n3 restarted under topology
//! version 2 while n1 and n2 keep version 1, requests across the two are refused with
//! `topology_mismatch` naming both versions — from a client, and between the nodes.

use std::time::Duration;

use floe_ctl::certs::Subject;
use floe_tests::load::now_ms;
use floe_tests::peer::{WireClient, topology_ref};
use floe_tests::{ClusterSpec, TestCluster, wait_eq};
use floe_wire::proto::{DigestRequest, ErrorCode, Request, Response, TopologyRef};

fn digest_under(
    wire: &WireClient,
    cluster: &TestCluster,
    i: usize,
    topology: TopologyRef,
) -> anyhow::Result<Response> {
    let req = Request::Digest(DigestRequest {
        topology,
        start: 0,
        end: i64::MAX,
    });
    Ok(wire.request(cluster.quic_addr(i), cluster.node_id(i), &req)?)
}

fn assert_mismatch(resp: &Response, ours: TopologyRef, theirs: TopologyRef, who: &str) {
    let Response::Error(e) = resp else {
        panic!("{who}: expected topology_mismatch, got {resp:?}");
    };
    assert_eq!(e.code, ErrorCode::TopologyMismatch, "{who}: {e}");
    for t in [ours, theirs] {
        let named = format!("version {}", t.version);
        assert!(
            e.message.contains(&named),
            "{who}: {e:?} does not name {named}"
        );
    }
    println!("{who}: {e}");
}

#[test]
fn a_topology_mismatch_is_refused_naming_both_versions() -> anyhow::Result<()> {
    println!(
        "checks: n3 restarted with topology version 2, n1 and n2 on version 1; a request \
         under v1 to n3 and under v2 to n1 answer topology_mismatch naming both versions; a \
         write at consistency all through n1 fails (n3 refuses n1's forward, which n1 \
         journals), at quorum it succeeds; with n3 back on version 1, n1's journal drains"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 3))?;
    let v1 = topology_ref(cluster.topology());
    let v2_topology = cluster.topology_with_version(2)?;
    let v2 = topology_ref(&v2_topology);
    let n3 = 2;
    cluster.stop(n3)?;
    // A restarted node keeps the topology it adopted unless told to take the file's.
    cluster.set_node_config(n3, "[cluster]\nadopt_topology_file = true\n")?;
    cluster.set_node_topology(n3, &v2_topology)?;
    cluster.start_node(n3)?;

    // Clients (and peers) naming the wrong topology are refused, whichever side is newer.
    let wire = WireClient::new(&cluster.client_tls())?;
    let to_n3 = digest_under(&wire, &cluster, n3, v1)?;
    assert_mismatch(&to_n3, v1, v2, "v1 request to n3 (on v2)");
    let to_n1 = digest_under(&wire, &cluster, 0, v2)?;
    assert_mismatch(&to_n1, v2, v1, "v2 request to n1 (on v1)");
    assert!(matches!(
        digest_under(&wire, &cluster, 0, v1)?,
        Response::Digest(_)
    ));

    // A peer with a node certificate gets the same answer.
    let peer = WireClient::new(&cluster.issue(&Subject::Node("n1".into()))?)?;
    let peer_to_n3 = digest_under(&peer, &cluster, n3, v1)?;
    assert_mismatch(&peer_to_n3, v1, v2, "n1's certificate, v1 request to n3");

    // Between the nodes: n1 forwards writes under v1, which n3 refuses.
    let t = now_ms() - 60_000;
    let line = format!("mismatch v=1 {t}\n");
    let all = cluster.write_lines(0, "test", &line, Some("all"))?;
    println!(
        "write at all through n1: {} {}",
        all.status,
        all.text().trim()
    );
    assert!(
        !all.is_success(),
        "a write at all succeeded although n3 refuses v1"
    );
    let quorum = cluster.write_lines(0, "test", &line, Some("quorum"))?;
    assert!(
        quorum.is_success(),
        "a write at quorum (n1, n2 agree) failed: {} {}",
        quorum.status,
        quorum.text()
    );
    let refused = cluster.metric(
        0,
        "floe_peer_requests_total",
        &[("peer", "n3"), ("outcome", "topology_mismatch")],
    )?;
    println!("n1's requests to n3 refused for topology_mismatch: {refused:?}");
    assert!(
        refused.unwrap_or(0.0) > 0.0,
        "n1 saw no topology_mismatch from n3"
    );
    let pending = |c: &TestCluster| -> anyhow::Result<f64> {
        Ok(
            c.metric(0, "floe_journal_pending_records", &[("peer", "n3")])?
                .unwrap_or(0.0),
        )
    };
    let kept = pending(&cluster)?;
    println!("n1 keeps {kept} journal records for n3 while the topologies differ");
    assert!(kept > 0.0, "n1's copies for n3 were not journaled");

    // The documents agree again: n3 restarted on version 1, n1's journal drains into it.
    cluster.stop(n3)?;
    let v1_topology = cluster.topology().clone();
    cluster.set_node_topology(n3, &v1_topology)?;
    cluster.start_node(n3)?;
    wait_eq(
        "n1's journal for n3 to drain",
        Duration::from_secs(20),
        0.0,
        || pending(&cluster),
    )?;
    let v = cluster.query_vector(n3, "mismatch_v", t, Some("one"))?;
    assert_eq!(v.len(), 1, "after the drain, n3 answers {v:?}");

    cluster.stop_all()?;
    cluster.check_logs(&[])
}
