//! Property tests against the naive reference (Garage's `check_against_naive` pattern).
//!
//! Proptest prints the failing input and stores its seed under `proptest-regressions/`, so a
//! failure replays on the next run.

mod naive;

use std::collections::HashMap;

use floe_ring::{Ring, Topology, diff};
use naive::{NaiveRing, node};
use proptest::prelude::*;

/// A random small topology: node `i` is `{prefix}{i}` in zone `z{zones[i]}`.
#[derive(Debug, Clone)]
struct Spec {
    prefix: String,
    nodes: Vec<(u8, u32)>,
    vnodes: u32,
    rf: u32,
}

impl Spec {
    fn topology(&self) -> Topology {
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, &(z, w))| {
                node(
                    &format!("{}{i}", self.prefix),
                    &format!("z{z}"),
                    w,
                    i as u32,
                )
            })
            .collect();
        Topology::new("prop", 1, self.rf, self.vnodes, nodes).expect("valid spec")
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=9, 1u8..=4, 1u32..=8, "[a-z]{1,3}").prop_flat_map(|(count, zones, vnodes, prefix)| {
        let nodes = prop::collection::vec((0..zones, 1u32..=3), count);
        let rf = 1..=count.min(5) as u32;
        (nodes, rf).prop_map(move |(nodes, rf)| Spec {
            prefix: prefix.clone(),
            nodes,
            vnodes,
            rf,
        })
    })
}

fn ids(ring: &Ring, position: u64) -> Vec<String> {
    ring.owners(position)
        .iter()
        .map(|&i| ring.node_id(i).to_owned())
        .collect()
}

/// Owners are N distinct nodes, spread over min(N, Z) zones, and per-zone counts differ by at
/// most one unless the smaller zone has no node left.
fn check_zone_rule(t: &Topology, owners: &[String]) {
    let n = t.replication_factor() as usize;
    assert_eq!(owners.len(), n);
    let mut sorted = owners.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), n, "owners not distinct: {owners:?}");
    let mut size: HashMap<&str, usize> = HashMap::new();
    for node in t.nodes() {
        *size.entry(&node.zone).or_default() += 1;
    }
    let mut count: HashMap<&str, usize> = size.keys().map(|&z| (z, 0)).collect();
    for id in owners {
        *count.get_mut(t.node(id).unwrap().zone.as_str()).unwrap() += 1;
    }
    let used = count.values().filter(|&&c| c > 0).count();
    assert_eq!(used, n.min(size.len()), "zones not spread: {owners:?}");
    for (a, &ca) in &count {
        for (b, &cb) in &count {
            assert!(
                ca <= cb + 1 || cb == size[b],
                "zone {a} has {ca}, zone {b} only {cb}: {owners:?}"
            );
        }
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn owners_match_naive_and_obey_the_zone_rule(
        spec in spec(),
        random in prop::collection::vec(any::<u64>(), 16),
    ) {
        let t = spec.topology();
        let ring = Ring::new(&t);
        let naive = NaiveRing::new(&t);
        for p in naive.edge_positions().into_iter().chain(random) {
            let got = ids(&ring, p);
            prop_assert_eq!(&got, &naive.owners(p), "position {:#x}", p);
            prop_assert_eq!(ring.node_id(ring.primary(p)), got[0].as_str());
            check_zone_rule(&t, &got);
        }
    }

    #[test]
    fn ranges_cover_the_circle_once(spec in spec()) {
        let ring = Ring::new(&spec.topology());
        let ranges: Vec<_> = ring.ranges().collect();
        let total: u128 = ranges.iter().map(|(r, _)| r.len()).sum();
        prop_assert_eq!(total, 1u128 << 64);
        for w in ranges.windows(2) {
            prop_assert_eq!(w[0].0.end, w[1].0.start);
        }
        for (seg, (range, owners)) in ranges.iter().enumerate() {
            prop_assert!(range.contains(range.end));
            prop_assert_eq!(ring.segment_of(range.end), seg);
            prop_assert_eq!(ring.owners(range.end), *owners);
        }
    }

    #[test]
    fn join_moves_only_ranges_the_joiner_gains(
        spec in spec(),
        zone in 0u8..=4,
        weight in 1u32..=3,
    ) {
        let old = spec.topology();
        let mut nodes = old.nodes().to_vec();
        nodes.push(node("joiner", &format!("z{zone}"), weight, 999));
        let new = Topology::new("prop", 2, old.replication_factor(), old.vnodes_per_weight(), nodes).unwrap();
        let (old_ring, new_ring) = (Ring::new(&old), Ring::new(&new));
        let d = diff(&old_ring, &new_ring);
        for c in d.changes() {
            prop_assert_eq!(&c.gained, &vec!["joiner".to_owned()], "{:?}", c);
            prop_assert_eq!(c.lost.len(), 1, "{:?}", c);
        }
        let joiner = new_ring.node_index("joiner").unwrap();
        let held: u128 = new_ring.ranges().filter(|(_, o)| o.contains(&joiner)).map(|(r, _)| r.len()).sum();
        prop_assert_eq!(d.moved_positions(), held);
    }

    #[test]
    fn leave_moves_only_ranges_the_leaver_loses(spec in spec(), pick in any::<prop::sample::Index>()) {
        let old = spec.topology();
        prop_assume!(old.nodes().len() > old.replication_factor() as usize);
        let mut nodes = old.nodes().to_vec();
        let gone = nodes.remove(pick.index(nodes.len())).id;
        let new = Topology::new("prop", 2, old.replication_factor(), old.vnodes_per_weight(), nodes).unwrap();
        let (old_ring, new_ring) = (Ring::new(&old), Ring::new(&new));
        let d = diff(&old_ring, &new_ring);
        for c in d.changes() {
            prop_assert_eq!(&c.lost, &vec![gone.clone()], "{:?}", c);
            prop_assert_eq!(c.gained.len(), 1, "{:?}", c);
        }
        let leaver = old_ring.node_index(&gone).unwrap();
        let held: u128 = old_ring.ranges().filter(|(_, o)| o.contains(&leaver)).map(|(r, _)| r.len()).sum();
        prop_assert_eq!(d.moved_positions(), held);
    }

    #[test]
    fn reweight_moves_only_ranges_of_the_reweighted_node(
        spec in spec(),
        pick in any::<prop::sample::Index>(),
        weight in 1u32..=4,
    ) {
        let old = spec.topology();
        let mut nodes = old.nodes().to_vec();
        let i = pick.index(nodes.len());
        let (id, old_weight) = (nodes[i].id.clone(), nodes[i].weight);
        nodes[i].weight = weight;
        let new = Topology::new("prop", 2, old.replication_factor(), old.vnodes_per_weight(), nodes).unwrap();
        let d = diff(&Ring::new(&old), &Ring::new(&new));
        for c in d.changes() {
            // More weight only adds tokens of `id`: ranges can only move to it, one node each.
            let (side, other) = if weight > old_weight { (&c.gained, &c.lost) } else { (&c.lost, &c.gained) };
            prop_assert_eq!(side, &vec![id.clone()], "{:?}", c);
            prop_assert_eq!(other.len(), 1, "{:?}", c);
        }
        if weight == old_weight {
            prop_assert!(d.is_empty());
        }
    }

    #[test]
    fn diff_matches_pointwise_naive(
        old in spec(),
        new_weights in prop::collection::vec(1u32..=3, 9),
        new_zones in prop::collection::vec(0u8..=4, 9),
        rf_delta in -1i32..=1,
        random in prop::collection::vec(any::<u64>(), 16),
    ) {
        let mut new = old.clone();
        for (i, n) in new.nodes.iter_mut().enumerate() {
            *n = (new_zones[i], new_weights[i]);
        }
        new.nodes.truncate(new.nodes.len().max(2) - 1);
        new.nodes.push((0, 1)); // keeps at least one node; the last node is replaced by a new id
        new.rf = (old.rf as i32 + rf_delta).clamp(1, new.nodes.len().min(5) as i32) as u32;
        let (old_t, new_t) = (old.topology(), new.topology());
        let d = diff(&Ring::new(&old_t), &Ring::new(&new_t));
        let (naive_old, naive_new) = (NaiveRing::new(&old_t), NaiveRing::new(&new_t));
        let positions = naive_old.edge_positions().into_iter().chain(naive_new.edge_positions()).chain(random);
        for p in positions {
            let (before, after) = (naive_old.owners(p), naive_new.owners(p));
            let (mut b, mut a) = (before.clone(), after.clone());
            b.sort();
            a.sort();
            match d.change_at(p) {
                None => prop_assert_eq!(a, b, "position {:#x} changed but is not in the diff", p),
                Some(c) => {
                    prop_assert_eq!(&c.before, &before, "position {:#x}", p);
                    prop_assert_eq!(&c.after, &after, "position {:#x}", p);
                    prop_assert!(a != b);
                }
            }
        }
    }

    #[test]
    fn balance_shares_sum_to_one(spec in spec()) {
        let report = Ring::new(&spec.topology()).balance();
        let primary: f64 = report.nodes.iter().map(|n| n.primary_share).sum();
        let replica: f64 = report.nodes.iter().map(|n| n.replica_share).sum();
        let zones: f64 = report.zones.iter().map(|z| z.replica_share).sum();
        prop_assert!((primary - 1.0).abs() < 1e-9 && (replica - 1.0).abs() < 1e-9);
        prop_assert!((zones - 1.0).abs() < 1e-9);
        prop_assert!(report.replica_max_over_mean() >= 1.0 - 1e-9 || report.nodes.len() == 1);
    }

    #[test]
    fn toml_round_trips_and_node_order_does_not_matter(spec in spec(), seed in any::<u64>()) {
        let t = spec.topology();
        prop_assert_eq!(Topology::parse(&t.to_toml()).unwrap(), t.clone());
        let mut shuffled = t.nodes().to_vec();
        let len = shuffled.len();
        for i in 0..len {
            shuffled.swap(i, (seed.rotate_left(i as u32) % len as u64) as usize);
        }
        let again = Topology::new("prop", 1, t.replication_factor(), t.vnodes_per_weight(), shuffled).unwrap();
        prop_assert_eq!(again.content_hash(), t.content_hash());
        prop_assert_eq!(again.canonical_bytes(), t.canonical_bytes());
    }
}

/// A realistic size, checked position by position against the naive walk (N > Z included).
#[test]
fn realistic_rings_match_naive() {
    for (count, zones, rf) in [
        (16, 4, 3),
        (16, 2, 3),
        (16, 3, 5),
        (16, 1, 3),
        (60, 60, 3),
        (60, 7, 8),
    ] {
        let nodes = (0..count)
            .map(|i| {
                node(
                    &format!("node-{i:02}"),
                    &format!("zone-{}", i % zones),
                    1 + i % 2,
                    i,
                )
            })
            .collect();
        let t = Topology::new("big", 1, rf, 512 / count, nodes).unwrap();
        let (ring, naive) = (Ring::new(&t), NaiveRing::new(&t));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1500 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let got = ids(&ring, x);
            assert_eq!(
                got,
                naive.owners(x),
                "zones {zones}, N {rf}, position {x:#x}"
            );
            check_zone_rule(&t, &got);
        }
    }
}
