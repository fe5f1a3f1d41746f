//! Three floed nodes, replication factor 2: a sample written through any node is readable
//! through every node, including nodes that hold no copy of its series.

use std::collections::BTreeMap;

use floe_ring::Ring;
use floe_storage_format::SeriesKey;
use floe_tests::load::now_ms;
use floe_tests::{ClusterSpec, TestCluster};

const SERIES_PER_WRITER: usize = 12;

fn key(writer: &str, s: usize) -> anyhow::Result<SeriesKey> {
    let s = s.to_string();
    Ok(SeriesKey::new(
        "rw_v",
        [("db", "test"), ("s", s.as_str()), ("writer", writer)],
    )?)
}

#[test]
fn samples_written_through_any_node_are_readable_through_every_node() -> anyhow::Result<()> {
    println!(
        "checks: 3 nodes, N=2; samples written through each node over HTTP are read back, \
         exactly, through every node (at the default, one and all read consistency)"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2))?;
    let t = now_ms() - 60_000;

    let mut want = BTreeMap::new();
    for i in 0..cluster.len() {
        let writer = cluster.node_id(i).to_string();
        let mut lines = String::new();
        for s in 0..SERIES_PER_WRITER {
            let v = (i * 100 + s) as f64 + 0.25;
            lines.push_str(&format!("rw,writer={writer},s={s} v={v} {t}\n"));
            want.insert((writer.clone(), s.to_string()), v);
        }
        let r = cluster.write_lines(i, "test", &lines, None)?;
        assert!(
            r.is_success(),
            "write through {writer}: {} {}",
            r.status,
            r.text()
        );
    }

    // Every node lacks a copy of some series, so reads through it cross the network.
    let ring = Ring::new(cluster.topology());
    for i in 0..cluster.len() {
        let id = cluster.node_id(i);
        let mut remote = 0;
        for (writer, s) in want.keys() {
            let position = key(writer, s.parse()?)?.id().ring_position();
            let owners = ring.owners(position);
            remote += usize::from(!owners.iter().any(|&o| ring.node_id(o) == id));
        }
        println!(
            "node {id} holds no copy of {remote} of the {} series",
            want.len()
        );
        assert!(
            remote > 0,
            "node {id} owns every series: the test would read locally only"
        );
    }

    for consistency in [None, Some("one"), Some("all")] {
        for j in 0..cluster.len() {
            let v = cluster.query_vector(j, "rw_v", t, consistency)?;
            let got: BTreeMap<(String, String), f64> = v
                .iter()
                .map(|s| {
                    let label = |n| s.label(n).unwrap_or_default().to_string();
                    ((label("writer"), label("s")), s.value)
                })
                .collect();
            assert_eq!(
                got,
                want,
                "read through {} at consistency {consistency:?}",
                cluster.node_id(j)
            );
        }
    }
    println!("every node answered all {} series exactly", want.len());

    cluster.stop_all()?;
    cluster.check_logs(&[])
}
