//! The ideal movement of a topology change, to hold the ring's actual movement against.
//!
//! Each topology has an **attainable fair share** per node ([`attainable_shares`]): the share
//! of all copies a perfectly balanced placement would give it, by weight, within the two
//! limits every placement obeys — a node holds at most one copy of a position (share ≤ 1/N),
//! and the owner rule spreads copies over zones first, which fixes each zone's share between
//! two bounds. The least data any change of placement can move from the old fair shares to
//! the new ones is the sum of the share *increases* ([`Ideal::share_increase`]): gained data
//! has to come from somewhere. For one node of weight w joining weight W without a binding
//! limit it is w / (W + w); for one leaving, w / W; for a reweight, |Δ share|.
//!
//! A zone change can leave every share as it was and still force data to move: a range whose
//! owners break the new zone rule must change owners. [`forced_fraction`] measures that on the
//! actual current ring. For a plan with a zone change the ideal is the larger of the two, a
//! lower bound that is not always attainable.
//!
//! Fair shares are a property of the topology, not of this ring: token noise, and the walk
//! itself (a node of weight 3 among four others of weight 1 is among the first two distinct
//! nodes met with probability 5/7, not 6/7, so at N = 2 it holds 5/14 of the copies, not 3/7),
//! keep the rings from reaching them exactly. [`Ideal::needed`] is the other yardstick: the
//! least any move between *these two rings* can copy, so `moved / needed` isolates data moved
//! for nothing.

use floe_ring::{Ring, Topology};

/// 2^64, the number of ring positions.
const POSITIONS: f64 = 18_446_744_073_709_551_616.0;

/// The ideal fraction of all copies a change moves, and its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ideal {
    /// The ideal: `share_increase`, or `max(share_increase, forced)` when a zone changes.
    pub fraction: f64,
    /// Σ over nodes of the increase of its attainable fair share.
    pub share_increase: f64,
    /// The same with plain weight shares `w / Σ w`, ignoring the limits (may be unattainable).
    pub weight_only: f64,
    /// Copies that must move whatever the new placement, on the actual current ring: those of
    /// a leaving node, and those whose owner set breaks the new zone rule.
    pub forced: f64,
    /// Whether a node that stays changes zone.
    pub zone_change: bool,
    /// The least any move from the current ring to the new one copies: the larger of
    /// `forced` and the sum of the nodes' increases of *actual* share ([`Ring::balance`]).
    pub needed: f64,
}

impl Ideal {
    /// The ideal for going from ring `old` to ring `new`.
    pub fn new(old: &Ring, new_ring: &Ring) -> Ideal {
        let (before, new) = (old.topology(), new_ring.topology());
        let increase = share_increase(before, new, attainable_shares);
        let weight_only = share_increase(before, new, weight_shares);
        let forced = forced_fraction(old, new);
        let zone_change = new.nodes().iter().any(|n| {
            before
                .node(&n.id)
                .is_some_and(|old_node| old_node.zone != n.zone)
        });
        let fraction = if zone_change {
            increase.max(forced)
        } else {
            increase
        };
        Ideal {
            fraction,
            share_increase: increase,
            weight_only,
            forced,
            zone_change,
            needed: actual_increase(old, new_ring).max(forced),
        }
    }

    /// Whether [`Ideal::fraction`] is only a lower bound: true for a plan with a zone change.
    pub fn is_lower_bound(&self) -> bool {
        self.zone_change
    }
}

/// Plain weight shares, `weight / Σ weight`, in the order of [`Topology::nodes`].
pub fn weight_shares(t: &Topology) -> Vec<f64> {
    let total: f64 = t.nodes().iter().map(|n| f64::from(n.weight)).sum();
    t.nodes()
        .iter()
        .map(|n| f64::from(n.weight) / total)
        .collect()
}

/// Each node's attainable fair share of all copies, in the order of [`Topology::nodes`].
///
/// Zones first: with `n_z` nodes in zone z and L the owner walk's last level (the smallest L
/// with `Σ min(n_z, L) ≥ N`), every position has between `min(n_z, L − 1)` and `min(n_z, L)`
/// copies in z, so z's share lies in `[min(n_z, L − 1) / N, min(n_z, L) / N]`; zones get
/// `clamp(λ × zone weight, low, high)` with λ making the shares sum to 1. Then inside a zone,
/// nodes get `clamp(μ × weight, 0, 1/N)` summing to the zone's share.
pub fn attainable_shares(t: &Topology) -> Vec<f64> {
    let n = t.replication_factor() as usize;
    let per_copy = 1.0 / n as f64;
    let zones = zone_members(t);
    let counts: Vec<usize> = zones.iter().map(Vec::len).collect();
    let level = water_level(&counts, n);
    let low: Vec<f64> = counts
        .iter()
        .map(|&c| c.min(level - 1) as f64 * per_copy)
        .collect();
    let high: Vec<f64> = counts
        .iter()
        .map(|&c| c.min(level) as f64 * per_copy)
        .collect();
    let weight = |i: &usize| f64::from(t.nodes()[*i].weight);
    let zone_weights: Vec<f64> = zones.iter().map(|z| z.iter().map(weight).sum()).collect();
    let zone_shares = fill(&zone_weights, &low, &high, 1.0);
    let mut shares = vec![0.0; t.nodes().len()];
    for (members, zone_share) in zones.iter().zip(zone_shares) {
        let weights: Vec<f64> = members.iter().map(weight).collect();
        let low = vec![0.0; members.len()];
        let high = vec![per_copy; members.len()];
        for (&i, share) in members.iter().zip(fill(&weights, &low, &high, zone_share)) {
            shares[i] = share;
        }
    }
    shares
}

/// Σ over nodes of `max(0, share after − share before)` (0 before for a joining node), with
/// `shares` one of [`attainable_shares`] and [`weight_shares`].
pub fn share_increase(old: &Topology, new: &Topology, shares: fn(&Topology) -> Vec<f64>) -> f64 {
    let before = shares(old);
    let after = shares(new);
    new.nodes()
        .iter()
        .zip(after)
        .map(|(node, after)| {
            let before = old
                .nodes()
                .binary_search_by(|n| n.id.cmp(&node.id))
                .map_or(0.0, |i| before[i]);
            (after - before).max(0.0)
        })
        .sum()
}

/// Σ over nodes of `max(0, actual share in new − actual share in old)`.
fn actual_increase(old: &Ring, new: &Ring) -> f64 {
    let before = old.balance().nodes;
    new.balance()
        .nodes
        .iter()
        .map(|after| {
            let before = before
                .binary_search_by(|b| b.id.cmp(&after.id))
                .map_or(0.0, |i| before[i].replica_share);
            (after.replica_share - before).max(0.0)
        })
        .sum()
}

/// Fraction of the current ring's copies that must move to satisfy `new` whatever its
/// placement: per range, the fewest owners to replace so that the owners left (those still
/// in `new`) can be completed to a set the new zone rule allows.
pub fn forced_fraction(old: &Ring, new: &Topology) -> f64 {
    let n = new.replication_factor() as usize;
    let zones = zone_members(new);
    let counts: Vec<usize> = zones.iter().map(Vec::len).collect();
    let rule = ZoneRule::new(&counts, n);
    let mut zone_of_new = vec![0usize; new.nodes().len()];
    for (z, members) in zones.iter().enumerate() {
        for &i in members {
            zone_of_new[i] = z;
        }
    }
    // Old node index → its zone in `new`, or None when it leaves.
    let zone_of_old: Vec<Option<usize>> = old
        .topology()
        .nodes()
        .iter()
        .map(|node| {
            let i = new.nodes().binary_search_by(|m| m.id.cmp(&node.id)).ok()?;
            Some(zone_of_new[i])
        })
        .collect();
    let mut forced: u128 = 0;
    let mut held: Vec<(usize, usize)> = Vec::with_capacity(n);
    for (range, owners) in old.ranges() {
        held.clear();
        for z in owners.iter().filter_map(|o| zone_of_old[o.get()]) {
            match held.iter_mut().find(|(zone, _)| *zone == z) {
                Some((_, count)) => *count += 1,
                None => held.push((z, 1)),
            }
        }
        forced += range.len() * (n - rule.keepable(&held)) as u128;
    }
    forced as f64 / (POSITIONS * n as f64)
}

/// The per-zone copy counts the owner walk allows: zone z holds between
/// `min(n_z, L − 1)` and `min(n_z, L)` copies of each position, N in all.
#[derive(Debug)]
struct ZoneRule {
    counts: Vec<usize>,
    level: usize,
    /// Copies left after every zone has its minimum: how many zones reach `L`.
    spare: usize,
}

impl ZoneRule {
    fn new(counts: &[usize], n: usize) -> ZoneRule {
        let level = water_level(counts, n);
        let base: usize = counts.iter().map(|&c| c.min(level - 1)).sum();
        ZoneRule {
            counts: counts.to_vec(),
            level,
            spare: n - base,
        }
    }

    /// Most of the current owners (`held`: zone, count) an allowed owner set can keep.
    fn keepable(&self, held: &[(usize, usize)]) -> usize {
        let l = self.level;
        let at_minimum: usize = held
            .iter()
            .map(|&(z, c)| c.min(self.counts[z].min(l - 1)))
            .sum();
        let can_reach_level = held
            .iter()
            .filter(|&&(z, c)| self.counts[z] >= l && c >= l)
            .count();
        at_minimum + can_reach_level.min(self.spare)
    }
}

/// Node indexes per zone, zones sorted by name.
fn zone_members(t: &Topology) -> Vec<Vec<usize>> {
    let mut names: Vec<&str> = t.nodes().iter().map(|n| n.zone.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut members = vec![Vec::new(); names.len()];
    for (i, node) in t.nodes().iter().enumerate() {
        let z = names
            .binary_search(&node.zone.as_str())
            .expect("zone collected above");
        members[z].push(i);
    }
    members
}

/// The owner walk's last level: the smallest L with `Σ min(n_z, L) ≥ N`.
fn water_level(counts: &[usize], n: usize) -> usize {
    (1..=n.max(1))
        .find(|&l| counts.iter().map(|&c| c.min(l)).sum::<usize>() >= n)
        .expect("a validated topology has N ≤ node count, so level N holds N copies")
}

/// `clamp(λ × weights[i], low[i], high[i])` for the λ that makes them sum to `total`.
///
/// Needs positive weights, `low ≤ high` and `Σ low ≤ total ≤ Σ high`; the sum is monotone in
/// λ, so λ is found by doubling then bisection (to far below the figures' printed precision).
fn fill(weights: &[f64], low: &[f64], high: &[f64], total: f64) -> Vec<f64> {
    let at = |lambda: f64| -> Vec<f64> {
        weights
            .iter()
            .zip(low.iter().zip(high))
            .map(|(w, (lo, hi))| (lambda * w).clamp(*lo, *hi))
            .collect()
    };
    let sum = |lambda: f64| at(lambda).iter().sum::<f64>();
    let (mut below, mut above) = (0.0, total / weights.iter().sum::<f64>());
    for _ in 0..64 {
        if sum(above) >= total {
            break;
        }
        below = above;
        above *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (below + above);
        if sum(mid) < total {
            below = mid;
        } else {
            above = mid;
        }
    }
    at(above)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_ring::Node;

    /// Nodes `(id, zone, weight)` with distinct addresses.
    fn topology(n: u32, nodes: &[(&str, &str, u32)]) -> Topology {
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(i, &(id, zone, weight))| {
                let ip = [10, 0, 0, i as u8 + 1];
                Node {
                    id: id.to_owned(),
                    quic_addr: (ip, 7400).into(),
                    http_addr: (ip, 8080).into(),
                    zone: zone.to_owned(),
                    weight,
                }
            })
            .collect();
        Topology::new("t", 1, n, 64, nodes).expect("valid test topology")
    }

    fn increase(n: u32, old: &[(&str, &str, u32)], new: &[(&str, &str, u32)]) -> f64 {
        share_increase(&topology(n, old), &topology(n, new), attainable_shares)
    }

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    const THREE: &[(&str, &str, u32)] = &[("n1", "a", 1), ("n2", "a", 1), ("n3", "a", 1)];

    #[test]
    fn one_zone_without_binding_caps_gives_the_weight_formulas() {
        let four = &[THREE, &[("n4", "a", 1)]].concat();
        close(increase(1, THREE, four), 1.0 / 4.0); // w / (W + w)
        let heavy = &[THREE, &[("n4", "a", 2)]].concat();
        close(increase(1, THREE, heavy), 2.0 / 5.0);
        close(increase(2, four, THREE), 1.0 / 4.0); // leave: w / W
        close(increase(2, heavy, THREE), 2.0 / 5.0);
        let reweighted = &[("n1", "a", 3), ("n2", "a", 1), ("n3", "a", 1)];
        close(increase(1, THREE, reweighted), 3.0 / 5.0 - 1.0 / 3.0); // |Δ share|
        close(increase(1, reweighted, THREE), 3.0 / 5.0 - 1.0 / 3.0);
        // Adding a node with N = 3 to three of weight 1: everyone held everything.
        close(increase(3, THREE, four), 1.0 / 4.0);
    }

    #[test]
    fn a_node_holds_at_most_one_copy_of_each_position() {
        // Weight 2 of 5 would be 40 % of all copies; one copy of everything is 1/3.
        let heavy = &[THREE, &[("n4", "a", 2)]].concat();
        let shares = attainable_shares(&topology(3, heavy));
        close(shares[3], 1.0 / 3.0);
        close(shares[0], 2.0 / 9.0);
        close(increase(3, THREE, heavy), 1.0 / 3.0);
        let t = topology(3, heavy);
        close(share_increase(&topology(3, THREE), &t, weight_shares), 0.4);
    }

    #[test]
    fn zones_hold_their_copies_whatever_their_weight() {
        // Three zones, N = 3: one copy per zone; a 4th node in zone a shares a's third.
        let abc = &[("n1", "a", 1), ("n2", "b", 1), ("n3", "c", 1)];
        close(
            increase(3, abc, &[abc.as_slice(), &[("n4", "a", 1)]].concat()),
            1.0 / 6.0,
        );
        // ... and in a zone of its own it takes a fair quarter.
        close(
            increase(3, abc, &[abc.as_slice(), &[("n4", "d", 1)]].concat()),
            1.0 / 4.0,
        );
        // Two zones of 3 and 2 nodes, N = 2: one copy per zone.
        let five = &[
            ("n1", "a", 1),
            ("n2", "a", 1),
            ("n3", "a", 1),
            ("n4", "b", 1),
            ("n5", "b", 1),
        ];
        let add_b = &[five.as_slice(), &[("n6", "b", 1)]].concat();
        close(increase(2, five, add_b), 1.0 / 6.0);
        let add_a = &[five.as_slice(), &[("n6", "a", 1)]].concat();
        close(increase(2, five, add_a), 1.0 / 8.0);
        // N = 3 over 2 zones of 2: each zone holds one or two copies, shares by weight.
        let two_two = &[
            ("n1", "a", 1),
            ("n2", "a", 1),
            ("n3", "b", 1),
            ("n4", "b", 1),
        ];
        let shares = attainable_shares(&topology(3, two_two));
        for s in shares {
            close(s, 0.25);
        }
        // Moving n4 from b to a leaves n3 alone in b: it must hold everything.
        let moved = &[
            ("n1", "a", 1),
            ("n2", "a", 1),
            ("n3", "b", 1),
            ("n4", "a", 1),
        ];
        close(increase(2, two_two, moved), 0.25);
    }

    #[test]
    fn keepable_owners_follow_the_walk_levels() {
        // Three zones of two, N = 3: one copy per zone.
        let rule = ZoneRule::new(&[2, 2, 2], 3);
        assert_eq!(rule.keepable(&[(0, 2), (1, 1)]), 2);
        assert_eq!(rule.keepable(&[(0, 1), (1, 1), (2, 1)]), 3);
        // Zones of 3 and 1, N = 3: the lone node must be an owner, zone 0 keeps two.
        let rule = ZoneRule::new(&[3, 1], 3);
        assert_eq!(rule.keepable(&[(0, 3)]), 2);
        assert_eq!(rule.keepable(&[(0, 2), (1, 1)]), 3);
        // One zone: anything goes.
        let rule = ZoneRule::new(&[5], 3);
        assert_eq!(rule.keepable(&[(0, 3)]), 3);
        assert_eq!(rule.keepable(&[(0, 2)]), 2);
    }

    #[test]
    fn forced_movement_on_real_rings() {
        let six = [
            ("n1", "a", 1),
            ("n2", "a", 1),
            ("n3", "b", 1),
            ("n4", "b", 1),
            ("n5", "c", 1),
            ("n6", "c", 1),
        ];
        let old = Ring::new(&topology(3, &six));
        // Adding a node forces nothing.
        let added = topology(3, &[six.as_slice(), &[("n7", "c", 1)]].concat());
        close(forced_fraction(&old, &added), 0.0);
        // Removing one forces exactly its copies to move.
        let removed = topology(3, &six[1..]);
        let share = old.balance().nodes[0].replica_share;
        close(forced_fraction(&old, &removed), share);
        // Swapping the zones of n1 and n3: owner sets {n1, n4, ·} and {n2, n3, ·} (half of
        // the positions) now have two copies in one zone; one copy in three moves: ≈ 1/6.
        let mut swapped = six;
        swapped[0].1 = "b";
        swapped[2].1 = "a";
        let forced = forced_fraction(&old, &topology(3, &swapped));
        assert!((forced - 1.0 / 6.0).abs() < 0.03, "forced {forced}");
        let ideal = Ideal::new(&old, &Ring::new(&topology(3, &swapped)));
        assert!(ideal.zone_change && ideal.is_lower_bound());
        close(ideal.share_increase, 0.0);
        close(ideal.fraction, forced);
    }
}
