//! `cargo bench -p floe-ring --bench ring`: owner lookup speed against `hashring` 0.3.6, data
//! moved on join and leave against the ideal, and load balance, for 10, 100 and 1,000 nodes.
//!
//! Layout: nodes `node-0000…` at the default `vnodes_per_weight`, weight 1, N = 3, split
//! round-robin over two zones (Snowth's two "sides"). The last line is one JSON object.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use floe_ring::{DEFAULT_VNODES_PER_WEIGHT, Node, Ring, Topology, diff};
use hashring::HashRing;

const N: u32 = 3;
const ZONES: usize = 2;
const SIZES: [usize; 3] = [10, 100, 1000];
const LOOKUPS: usize = 1 << 20;
const RUNS: usize = 5;
const MOVE_TRIALS: usize = 8;

/// splitmix64: a tiny deterministic PRNG for benchmark positions.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn node(id: String, i: usize, zone: usize) -> Node {
    let ip = Ipv4Addr::from(0x0a00_0000 + i as u32 + 1);
    Node {
        id,
        quic_addr: SocketAddr::new(ip.into(), 7400),
        http_addr: SocketAddr::new(ip.into(), 8080),
        zone: format!("zone-{zone}"),
        weight: 1,
    }
}

fn topology(version: u64, nodes: Vec<Node>) -> Topology {
    Topology::new("bench", version, N, DEFAULT_VNODES_PER_WEIGHT, nodes)
        .expect("valid bench topology")
}

fn cluster(n: usize) -> Topology {
    topology(
        1,
        (0..n)
            .map(|i| node(format!("node-{i:04}"), i, i % ZONES))
            .collect(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median over `RUNS` passes of the ns per `Ring::owners` call.
fn time_lookup(ring: &Ring, positions: &[u64]) -> f64 {
    let runs = (0..RUNS).map(|_| {
        let start = Instant::now();
        let mut acc = 0u32;
        for &p in positions {
            let owners = ring.owners(black_box(p));
            acc = acc.wrapping_add(owners[0].0 ^ owners[owners.len() - 1].0);
        }
        black_box(acc);
        start.elapsed().as_nanos() as f64 / positions.len() as f64
    });
    median(runs.collect())
}

#[derive(Debug, Clone, Copy, Hash, PartialEq)]
struct VNode {
    node: u32,
    vnode: u32,
}

fn hashring_of(n: usize) -> HashRing<VNode> {
    let mut ring = HashRing::new();
    let vnodes = (0..n as u32)
        .flat_map(|node| (0..DEFAULT_VNODES_PER_WEIGHT).map(move |vnode| VNode { node, vnode }));
    ring.batch_add(vnodes.collect());
    ring
}

/// ns per call of `f` over `positions`, stopping after about 0.5 s (at least 16 calls).
fn time_hashring(positions: &[u64], mut f: impl FnMut(u64) -> usize) -> f64 {
    let start = Instant::now();
    let mut calls = 0;
    let mut acc = 0usize;
    for &p in positions {
        acc = acc.wrapping_add(f(black_box(p)));
        calls += 1;
        if calls >= 16 && start.elapsed().as_secs_f64() > 0.5 {
            break;
        }
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// (mean, worst) of moved fraction over ideal for `MOVE_TRIALS` joins and leaves.
fn movement(base: &Topology, ring: &Ring) -> ((f64, f64), (f64, f64)) {
    let n = base.nodes().len();
    let (mut join, mut leave) = (Vec::new(), Vec::new());
    for trial in 0..MOVE_TRIALS {
        let mut nodes = base.nodes().to_vec();
        nodes.push(node(
            format!("joiner-{trial}"),
            n + trial,
            (n + trial) % ZONES,
        ));
        let joined = Ring::new(&topology(2, nodes));
        join.push(diff(ring, &joined).moved_fraction() * (n + 1) as f64);
        let mut nodes = base.nodes().to_vec();
        nodes.remove(trial * n / MOVE_TRIALS);
        let left = Ring::new(&topology(2, nodes));
        leave.push(diff(ring, &left).moved_fraction() * n as f64);
    }
    let stats = |v: &[f64]| {
        (
            v.iter().sum::<f64>() / v.len() as f64,
            v.iter().copied().fold(0.0, f64::max),
        )
    };
    (stats(&join), stats(&leave))
}

/// One size's figures, as `(json key suffix, value)` pairs.
fn measure(n: usize, positions: &[u64], json: &mut Vec<(String, f64)>) {
    let base = cluster(n);
    let start = Instant::now();
    let ring = Ring::new(&base);
    let build_ms = start.elapsed().as_secs_f64() * 1e3;
    let lookup = time_lookup(&ring, positions);
    let hr = hashring_of(n);
    let hr_replicas = time_hashring(positions, |p| {
        hr.get_with_replicas(&p, N as usize - 1)
            .map_or(0, |v| v.len())
    });
    let hr_get = time_hashring(positions, |p| hr.get(&p).map_or(0, |v| v.node as usize));
    let ((join_mean, join_worst), (leave_mean, leave_worst)) = movement(&base, &ring);
    let balance = ring.balance();
    let (primary, replica) = (
        balance.primary_max_over_mean(),
        balance.replica_max_over_mean(),
    );
    let speedup = hr_replicas / lookup;
    println!(
        "{n} nodes ({} tokens, {} zones, N = {N}): ring built in {build_ms:.1} ms",
        ring.segment_count(),
        ZONES
    );
    println!("  floe-ring owners():                 {lookup:>12.1} ns/op");
    println!(
        "  hashring get_with_replicas(&k, 2):  {hr_replicas:>12.1} ns/op   floe-ring is {speedup:.0}x faster"
    );
    println!("  hashring get(&k) (one owner only):  {hr_get:>12.1} ns/op   (context: no replicas)");
    println!(
        "  moved on join / ideal 1/{}: mean {join_mean:.3}, worst {join_worst:.3}   on leave / ideal 1/{n}: mean {leave_mean:.3}, worst {leave_worst:.3}   ({MOVE_TRIALS} trials each)",
        n + 1
    );
    println!(
        "  max/mean load: all replicas {replica:.3} (min/mean {:.3}), primaries {primary:.3}",
        balance.replica_min_over_mean()
    );
    let mut put = |key: &str, value: f64| json.push((format!("{key}_{n}_nodes"), value));
    put("lookup_ns", lookup);
    put("hashring_ns", hr_replicas);
    put("speedup_vs_hashring", speedup);
    put("join_move_ratio_to_ideal", join_worst);
    put("join_move_ratio_mean", join_mean);
    put("leave_move_ratio_to_ideal", leave_worst);
    put("leave_move_ratio_mean", leave_mean);
    put("max_over_mean_load", replica);
    put("max_over_mean_primary", primary);
    put("build_ms", build_ms);
}

fn main() {
    // FLOE_BENCH_SMOKE=1 (used by scripts/test) runs only the smallest size with few lookups,
    // to prove the benchmark still works; its figures mean nothing.
    let smoke = std::env::var_os("FLOE_BENCH_SMOKE").is_some();
    let (sizes, lookups): (&[usize], usize) = if smoke {
        (&SIZES[..1], 1 << 12)
    } else {
        (&SIZES, LOOKUPS)
    };
    let mut state = 0x005e_ed0f_f10e_u64;
    let positions: Vec<u64> = (0..lookups).map(|_| splitmix64(&mut state)).collect();
    println!(
        "floe-ring benchmark: vnodes_per_weight = {DEFAULT_VNODES_PER_WEIGHT}, {lookups} random positions, median of {RUNS} runs"
    );
    let mut json = vec![
        (
            "vnodes_per_weight".to_owned(),
            f64::from(DEFAULT_VNODES_PER_WEIGHT),
        ),
        ("replication_factor".to_owned(), f64::from(N)),
        ("zones".to_owned(), ZONES as f64),
    ];
    for &n in sizes {
        measure(n, &positions, &mut json);
    }
    let fields: Vec<String> = json
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}", round(*v)))
        .collect();
    println!("{{{}}}", fields.join(","));
}

/// Four significant decimals are plenty and keep the JSON line short.
fn round(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}
