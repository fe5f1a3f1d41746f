//! Precomputes the owner list of every ring segment (the zone-aware rule of `docs/ring.md`).
//!
//! # The rule
//!
//! Walk the sorted token list clockwise from the segment's first token. Give each node its
//! *level* `k`: it is the k-th distinct node of its zone met on the walk. The owners are the N
//! distinct nodes with the smallest `(level, place of first meeting on the walk)`. Equivalently:
//! walk the whole circle once per level `k = 1, 2, …`, picking every node not yet chosen whose
//! zone holds fewer than `k` owners, until N are chosen. Level 1 takes one node per zone, so
//! N ≤ Z owners sit in N zones and N > Z owners cover every zone, with per-zone counts differing
//! by at most one except for zones that have no node left.
//!
//! # The algorithm
//!
//! A walk per segment can be long (a small zone may be far away), so instead one sweep runs
//! backwards over the token list, twice round. It keeps every zone's nodes in order of next
//! appearance (a move-to-front list per zone) and the zones in order of next appearance (one
//! more move-to-front list). At a segment's first token these lists are exactly the walk's
//! first meetings, so the owners are read from the list heads: `O(tokens × N)` in all, whatever
//! the zones look like, and no per-segment allocation.

use crate::ring::NodeIndex;

const NIL: u32 = u32::MAX;

/// Several doubly linked lists over the elements `0..len`, each element in at most one list.
#[derive(Debug)]
struct MtfLists {
    head: Vec<u32>,
    prev: Vec<u32>,
    next: Vec<u32>,
    linked: Vec<bool>,
}

impl MtfLists {
    fn new(lists: usize, elements: usize) -> Self {
        MtfLists {
            head: vec![NIL; lists],
            prev: vec![NIL; elements],
            next: vec![NIL; elements],
            linked: vec![false; elements],
        }
    }

    /// Moves `x` (linked into `list`, or not linked yet) to the front of `list`.
    fn move_to_front(&mut self, list: usize, x: u32) {
        let xi = x as usize;
        if self.head[list] == x {
            return;
        }
        if self.linked[xi] {
            let (p, n) = (self.prev[xi], self.next[xi]);
            self.next[p as usize] = n; // x is not the head, so it has a predecessor
            if n != NIL {
                self.prev[n as usize] = p;
            }
        }
        let old = self.head[list];
        if old != NIL {
            self.prev[old as usize] = x;
        }
        self.prev[xi] = NIL;
        self.next[xi] = old;
        self.head[list] = x;
        self.linked[xi] = true;
    }

    fn iter(&self, list: usize) -> impl Iterator<Item = u32> + '_ {
        let mut cur = self.head[list];
        std::iter::from_fn(move || {
            let x = cur;
            (x != NIL).then(|| {
                cur = self.next[x as usize];
                x
            })
        })
    }
}

/// The segments of a ring and their owner lists.
#[derive(Debug)]
pub(crate) struct Placement {
    /// Distinct token values, ascending; segment `i` ends (inclusively) at `boundaries[i]`.
    pub(crate) boundaries: Vec<u64>,
    /// Owners of segment `i` at `owners[i × n .. (i + 1) × n]`.
    pub(crate) owners: Vec<NodeIndex>,
}

/// Computes the placement for `tokens` sorted by `(value, node)`, where `node_zone[node]` is the
/// zone of each node (zones numbered `0..zone_count`), with `n` owners per segment.
///
/// Requires every node to own at least one token and `n ≤ node_zone.len()`.
pub(crate) fn place(
    tokens: &[(u64, u32)],
    node_zone: &[u32],
    zone_count: usize,
    n: usize,
) -> Placement {
    debug_assert!(tokens.is_sorted());
    debug_assert!(n >= 1 && n <= node_zone.len());
    let t = tokens.len();
    let segments = tokens.chunk_by(|a, b| a.0 == b.0).count();
    let mut boundaries = vec![0; segments];
    let mut owners = vec![NodeIndex(0); segments * n];
    let mut sweep = Sweep::new(node_zone, zone_count);
    let mut seg = segments;
    for i in (0..2 * t).rev() {
        let (value, node) = tokens[i % t];
        sweep.meet(node, i);
        let first_of_value = i % t == 0 || tokens[i % t - 1].0 != value;
        if i < t && first_of_value {
            seg -= 1;
            boundaries[seg] = value;
            sweep.owners(&mut owners[seg * n..(seg + 1) * n]);
        }
    }
    debug_assert_eq!(seg, 0);
    Placement { boundaries, owners }
}

/// State of the backwards sweep: nodes and zones in order of next appearance.
#[derive(Debug)]
struct Sweep<'a> {
    node_zone: &'a [u32],
    /// One list per zone, of its nodes in order of next appearance.
    by_zone: MtfLists,
    /// The zones in order of next appearance (list 0).
    zones: MtfLists,
    /// Sweep index of each node's next appearance.
    next_seen: Vec<usize>,
    /// Candidates `(level, next appearance, node)` when there are fewer zones than owners.
    candidates: Vec<(usize, usize, u32)>,
}

impl<'a> Sweep<'a> {
    fn new(node_zone: &'a [u32], zone_count: usize) -> Self {
        Sweep {
            node_zone,
            by_zone: MtfLists::new(zone_count, node_zone.len()),
            zones: MtfLists::new(1, zone_count),
            next_seen: vec![usize::MAX; node_zone.len()],
            candidates: Vec::new(),
        }
    }

    /// The sweep reaches sweep index `i`, a token of `node`.
    fn meet(&mut self, node: u32, i: usize) {
        let zone = self.node_zone[node as usize];
        self.by_zone.move_to_front(zone as usize, node);
        self.zones.move_to_front(0, zone);
        self.next_seen[node as usize] = i;
    }

    /// Writes the owners of a walk starting at the current sweep index into `out`.
    fn owners(&mut self, out: &mut [NodeIndex]) {
        let n = out.len();
        if self.by_zone.head.len() >= n {
            // Enough zones: level 1 only, i.e. the first node of each of the first n zones.
            for (slot, zone) in out.iter_mut().zip(self.zones.iter(0)) {
                *slot = NodeIndex(self.by_zone.head[zone as usize]);
            }
            return;
        }
        self.candidates.clear();
        for zone in self.zones.iter(0) {
            for (rank, node) in self.by_zone.iter(zone as usize).take(n).enumerate() {
                let seen = self.next_seen[node as usize];
                self.candidates.push((rank, seen, node));
            }
        }
        self.candidates.sort_unstable();
        for (slot, &(_, _, node)) in out.iter_mut().zip(&self.candidates) {
            *slot = NodeIndex(node);
        }
    }
}

#[cfg(test)]
#[path = "../tests/naive/walk.rs"]
mod naive_walk;

#[cfg(test)]
mod tests {
    use super::naive_walk::naive_owners;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn move_to_front_keeps_a_valid_list() {
        let mut l = MtfLists::new(1, 4);
        for x in [0, 1, 2, 1, 3, 0, 0] {
            l.move_to_front(0, x);
        }
        assert_eq!(l.iter(0).collect::<Vec<_>>(), vec![0, 3, 1, 2]);
    }

    #[test]
    fn one_zone_takes_the_next_distinct_nodes() {
        // Tokens: 10→a, 20→b, 30→a, 40→c.
        let tokens = [(10, 0), (20, 1), (30, 0), (40, 2)];
        let p = place(&tokens, &[0, 0, 0], 1, 2);
        assert_eq!(p.boundaries, vec![10, 20, 30, 40]);
        let ids: Vec<u32> = p.owners.iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![0, 1, 1, 0, 0, 2, 2, 0]);
    }

    #[test]
    fn zones_come_first() {
        // Nodes 0 and 1 in zone 0, node 2 in zone 1.
        let tokens = [(10, 0), (20, 1), (30, 2)];
        let p = place(&tokens, &[0, 0, 1], 2, 2);
        let ids: Vec<u32> = p.owners.iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![0, 2, 1, 2, 2, 0]);
    }

    #[test]
    fn collided_tokens_make_one_segment_walked_in_node_order() {
        let tokens = [(10, 0), (10, 1), (20, 2)];
        let p = place(&tokens, &[0, 0, 0], 1, 2);
        assert_eq!(p.boundaries, vec![10, 20]);
        let ids: Vec<u32> = p.owners.iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![0, 1, 2, 0]);
    }

    /// Random token lists over a tiny value space, so equal tokens (collisions) are common.
    fn colliding_ring() -> impl Strategy<Value = (Vec<(u64, u32)>, Vec<u32>, usize)> {
        (1usize..=7, 1u32..=4).prop_flat_map(|(nodes, zones)| {
            let zone_of = prop::collection::vec(0..zones, nodes);
            let extra = prop::collection::vec((0u64..12, 0..nodes as u32), 0..20);
            let firsts = prop::collection::vec(0u64..12, nodes);
            (zone_of, extra, firsts, 1..=nodes).prop_map(|(zone_of, extra, firsts, n)| {
                // Every node owns at least one token; renumber zones densely.
                let mut tokens: Vec<(u64, u32)> = firsts.into_iter().zip(0..).collect();
                tokens.extend(extra);
                tokens.sort_unstable();
                let mut names = zone_of.clone();
                names.sort_unstable();
                names.dedup();
                let node_zone = zone_of
                    .iter()
                    .map(|z| names.binary_search(z).unwrap() as u32)
                    .collect();
                (tokens, node_zone, n)
            })
        })
    }

    proptest! {
        #[test]
        fn sweep_matches_naive_walk_with_collisions((tokens, node_zone, n) in colliding_ring()) {
            let zones = node_zone.iter().max().map_or(0, |&z| z as usize + 1);
            let p = place(&tokens, &node_zone, zones, n);
            for position in 0..=13u64 {
                let seg = p.boundaries.partition_point(|&b| b < position) % p.boundaries.len();
                let got: Vec<u32> = p.owners[seg * n..(seg + 1) * n].iter().map(|x| x.0).collect();
                prop_assert_eq!(got, naive_owners(&tokens, &node_zone, n, position), "position {}", position);
            }
        }
    }
}
