//! Read repair: one replica is made to differ (a replica write sent straight to n2 with a node
//! certificate, as a coordinator's forward would be, but to n2 alone); a quorum read through
//! another node answers the merged value and repairs the other replicas, after which every
//! digest is equal.

use std::time::Duration;

use floe_ctl::certs::Subject;
use floe_storage_format::{Sample, SeriesKey};
use floe_tests::load::now_ms;
use floe_tests::peer::{WireClient, topology_ref, write_request};
use floe_tests::{ClusterSpec, TestCluster, wait_until};
use floe_wire::proto::{Consistency, Response, WriteMode};

const SERIES: usize = 8;

#[test]
fn a_quorum_read_repairs_a_replica_that_was_made_to_differ() -> anyhow::Result<()> {
    println!(
        "checks: 3 nodes, N=3, identical replicas; n2 alone gets a newer version of one \
         sample (replica write with n1's certificate) and digests differ; a quorum read \
         through n3 repairs n1 and n3; digests become equal and every node answers the newer \
         value"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 3))?;
    let t = now_ms() - 60_000;
    let lines: String = (0..SERIES)
        .map(|s| format!("repair,s={s} v={s} {t}\n"))
        .collect();
    let r = cluster.write_lines(0, "test", &lines, Some("all"))?;
    assert!(r.is_success(), "write at all: {} {}", r.status, r.text());

    let client = cluster.client()?;
    let (start, end) = (t - 1, t + 1);
    let before = client.digests(start, end)?;
    assert!(before.iter().all(|(_, d)| *d == before[0].1), "{before:x?}");

    // n2 alone gets version 1 of series s=3 (the merge rule prefers it everywhere).
    let key = SeriesKey::new("repair_v", [("db", "test"), ("s", "3")])?;
    let newer = Sample::new(t, 300.0, 1);
    let req = write_request(
        topology_ref(cluster.topology()),
        WriteMode::Replica,
        Consistency::One,
        &[(key, newer)],
    )?;
    let as_n1 = WireClient::new(&cluster.issue(&Subject::Node("n1".into()))?)?;
    let n2 = 1;
    match as_n1.request(cluster.quic_addr(n2), cluster.node_id(n2), &req)? {
        Response::Write(w) => println!("replica write to n2: {w:?}"),
        other => panic!("replica write to n2 refused: {other:?}"),
    }
    let differing = client.digests(start, end)?;
    println!("digests after the replica write: {differing:x?}");
    assert_ne!(differing[0].1, differing[1].1, "n2's copy does not differ");
    assert_eq!(differing[0].1, differing[2].1);

    let n3 = 2;
    let v = cluster.query_vector(n3, "repair_v{s=\"3\"}", t, Some("quorum"))?;
    assert_eq!(v.len(), 1, "{v:?}");
    // The read answers once two owners have: n3 and n1 (old value) may beat n2 (new value).
    // Either is right: the new sample was never acknowledged at quorum.
    println!("quorum read through n3 answered {}", v[0].value);
    assert!([3.0, 300.0].contains(&v[0].value), "{v:?}");

    let mut last = Vec::new();
    wait_until(
        "read repair to make every digest equal",
        Duration::from_secs(15),
        || {
            last = client.digests(start, end)?;
            Ok(last.iter().all(|(_, d)| *d == last[0].1))
        },
    )
    .map_err(|e| e.context(format!("digests: {last:x?}")))?;
    println!("digests after the quorum read: {last:x?}");
    assert_eq!(
        last[1].1, differing[1].1,
        "the repair converged on n2's (newer) copy"
    );
    let repairs = cluster.metric(n3, "floe_read_repairs_total", &[])?;
    println!("n3's floe_read_repairs_total: {repairs:?}");
    assert!(repairs.unwrap_or(0.0) >= 1.0, "n3 counted no read repair");
    for i in 0..cluster.len() {
        let v = cluster.query_vector(i, "repair_v{s=\"3\"}", t, Some("one"))?;
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            v[0].value,
            300.0,
            "read at one through {}",
            cluster.node_id(i)
        );
    }

    drop((client, as_n1));
    cluster.stop_all()?;
    cluster.check_logs(&[])
}
