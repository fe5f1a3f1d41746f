//! Measures balance and movement against `vnodes_per_weight`, to choose the default.
//!
//! `cargo run --release -p floe-ring --example vnode_sweep`
//!
//! For each vnode count and zone layout, builds 10-node rings under several id prefixes (each
//! prefix is an independent draw of token positions) and prints the mean and worst max/mean
//! load (primaries and all replicas, N = 3) and the worst join/leave movement over ideal.

use std::net::{Ipv4Addr, SocketAddr};

use floe_ring::{Node, Ring, Topology, diff};

const NODES: usize = 10;
const DRAWS: usize = 50;

fn node(prefix: &str, i: usize, zones: usize) -> Node {
    let ip = Ipv4Addr::from(0x0a00_0000 + i as u32 + 1);
    Node {
        id: format!("{prefix}-{i:04}"),
        quic_addr: SocketAddr::new(ip.into(), 7400),
        http_addr: SocketAddr::new(ip.into(), 8080),
        zone: format!("z{}", i % zones),
        weight: 1,
    }
}

fn topology(prefix: &str, count: usize, zones: usize, vnodes: u32) -> Topology {
    let nodes = (0..count).map(|i| node(prefix, i, zones)).collect();
    Topology::new("sweep", 1, 3, vnodes, nodes).expect("valid sweep topology")
}

#[derive(Default)]
struct Stats {
    primary: Vec<f64>,
    replica: Vec<f64>,
    join: Vec<f64>,
    leave: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

fn measure(zones: usize, vnodes: u32) -> Stats {
    let mut s = Stats::default();
    for draw in 0..DRAWS {
        let prefix = format!("d{draw}");
        let base = topology(&prefix, NODES, zones, vnodes);
        let ring = Ring::new(&base);
        let b = ring.balance();
        s.primary.push(b.primary_max_over_mean());
        s.replica.push(b.replica_max_over_mean());
        let joined = topology(&prefix, NODES + 1, zones, vnodes);
        s.join
            .push(diff(&ring, &Ring::new(&joined)).moved_fraction() * (NODES + 1) as f64);
        let mut nodes = base.nodes().to_vec();
        nodes.remove(draw % NODES);
        let left = Topology::new("sweep", 2, 3, vnodes, nodes).expect("valid");
        s.leave
            .push(diff(&ring, &Ring::new(&left)).moved_fraction() * NODES as f64);
    }
    s
}

fn main() {
    println!(
        "{NODES} nodes, N = 3, {DRAWS} draws per row; mean / worst of max-over-mean load and of move/ideal"
    );
    for zones in [1, 2, 3, 5] {
        for vnodes in [64, 128, 256, 512, 1024] {
            let s = measure(zones, vnodes);
            println!(
                "zones {zones} vnodes {vnodes:>4}: primary {:.3} / {:.3}  replicas {:.3} / {:.3}  join {:.3} / {:.3}  leave {:.3} / {:.3}",
                mean(&s.primary),
                max(&s.primary),
                mean(&s.replica),
                max(&s.replica),
                mean(&s.join),
                max(&s.join),
                mean(&s.leave),
                max(&s.leave),
            );
        }
    }
    for vnodes in [256, 512] {
        let t = topology("build", 1000, 5, vnodes);
        let start = std::time::Instant::now();
        let ring = Ring::new(&t);
        println!(
            "1000 nodes, vnodes {vnodes}: build {:?} ({} segments)",
            start.elapsed(),
            ring.segment_count()
        );
    }
}
