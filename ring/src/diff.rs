//! What moves between two rings: per position range, the nodes that gain and lose it.
//!
//! Nodes are matched by id across the two rings (indexes differ). A range is *changed* when its
//! owner **set** differs; a change of order only (for example a new primary among the same
//! nodes) moves no data and is not reported.

use crate::ring::{NodeIndex, Ring, TokenRange};
use crate::topology::MAX_REPLICATION_FACTOR;

const MAX_N: usize = MAX_REPLICATION_FACTOR as usize;

/// One range whose owner set differs between the old and the new ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeChange {
    /// The positions concerned.
    pub range: TokenRange,
    /// Owners in the old ring, in its order.
    pub before: Vec<String>,
    /// Owners in the new ring, in its order.
    pub after: Vec<String>,
    /// Owners in `after` and not in `before`: they must receive the range's data.
    pub gained: Vec<String>,
    /// Owners in `before` and not in `after`: they may drop the range once the gainers have it.
    pub lost: Vec<String>,
}

/// The changes from one ring to another, in clockwise order of their range ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingDiff {
    changes: Vec<RangeChange>,
    new_replication: usize,
    /// Σ over changed ranges of `len × |gained|`.
    moved: u128,
    /// Σ over changed ranges of `len`.
    changed: u128,
}

impl RingDiff {
    /// The changed ranges; adjacent pieces with identical owner lists are merged.
    pub fn changes(&self) -> &[RangeChange] {
        &self.changes
    }

    /// Whether no range changes owner set.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Fraction of the new ring's stored data that must be copied to a node that did not hold
    /// it: `Σ len(range) × |gained(range)| / (2^64 × N_new)`, assuming data spread uniformly
    /// over positions. The ideal for one node of weight `w` joining a total weight `W` is
    /// `w / W`; for one leaving, `w / W_old`.
    pub fn moved_fraction(&self) -> f64 {
        self.moved as f64 / (self.new_replication as f64 * TWO_POW_64)
    }

    /// Fraction of the position space whose owner set changes.
    pub fn changed_fraction(&self) -> f64 {
        self.changed as f64 / TWO_POW_64
    }

    /// Σ over changed ranges of `len × |gained|`, in position × replica units (exact).
    pub fn moved_positions(&self) -> u128 {
        self.moved
    }

    /// The change covering `position`, if its owner set changes.
    pub fn change_at(&self, position: u64) -> Option<&RangeChange> {
        let i = self.changes.partition_point(|c| c.range.end < position);
        let candidate = self.changes.get(i).or(self.changes.first())?;
        candidate.range.contains(position).then_some(candidate)
    }
}

const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// Compares two rings range by range. Neither needs the other's nodes or replication factor.
pub fn diff(old: &Ring, new: &Ring) -> RingDiff {
    let keys = NodeKeys::new(old, new);
    let mut out = RingDiff {
        changes: Vec::new(),
        new_replication: new.replication_factor(),
        moved: 0,
        changed: 0,
    };
    let ends = merged_boundaries(old, new);
    let mut last: Option<(Owners, Owners)> = None;
    for (j, &end) in ends.iter().enumerate() {
        let start = ends[j.checked_sub(1).unwrap_or(ends.len() - 1)];
        let range = TokenRange { start, end };
        let before = keys.in_old(old.owners(end));
        let after = keys.in_new(new.owners(end));
        let Some(gained) = after.count_missing_from(&before) else {
            last = None;
            continue;
        };
        out.moved += range.len() * gained as u128;
        out.changed += range.len();
        if last == Some((before, after)) {
            let prev = out
                .changes
                .last_mut()
                .expect("last is set only after a push");
            prev.range.end = end;
        } else {
            out.changes.push(change(old, new, range));
            last = Some((before, after));
        }
    }
    out
}

/// Both rings' token values, sorted and deduplicated: every piece between two consecutive
/// values lies in one segment of each ring.
fn merged_boundaries(old: &Ring, new: &Ring) -> Vec<u64> {
    let mut ends: Vec<u64> = Vec::with_capacity(old.segment_count() + new.segment_count());
    ends.extend(old.ranges().map(|(r, _)| r.end));
    ends.extend(new.ranges().map(|(r, _)| r.end));
    ends.sort_unstable();
    ends.dedup();
    ends
}

fn change(old: &Ring, new: &Ring, range: TokenRange) -> RangeChange {
    let ids = |ring: &Ring| -> Vec<String> {
        ring.owners(range.end)
            .iter()
            .map(|&i| ring.node_id(i).to_owned())
            .collect()
    };
    let (before, after) = (ids(old), ids(new));
    let gained = after
        .iter()
        .filter(|id| !before.contains(id))
        .cloned()
        .collect();
    let lost = before
        .iter()
        .filter(|id| !after.contains(id))
        .cloned()
        .collect();
    RangeChange {
        range,
        before,
        after,
        gained,
        lost,
    }
}

/// A node key shared by both rings: the new index, or `new_len + old index` for a node that
/// only the old ring has.
#[derive(Debug)]
struct NodeKeys {
    old_to_key: Vec<u32>,
}

impl NodeKeys {
    fn new(old: &Ring, new: &Ring) -> Self {
        let new_len = new.node_count() as u32;
        let old_to_key = (0..old.node_count() as u32)
            .map(|i| {
                let id = old.node_id(NodeIndex(i));
                new.node_index(id).map_or(new_len + i, |k| k.0)
            })
            .collect();
        NodeKeys { old_to_key }
    }

    fn in_old(&self, owners: &[NodeIndex]) -> Owners {
        Owners::from_keys(owners.iter().map(|i| self.old_to_key[i.get()]))
    }

    fn in_new(&self, owners: &[NodeIndex]) -> Owners {
        Owners::from_keys(owners.iter().map(|i| i.0))
    }
}

/// An owner list as node keys, in ring order, plus the same keys sorted (for set comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owners {
    len: usize,
    ordered: [u32; MAX_N],
    sorted: [u32; MAX_N],
}

impl Owners {
    fn from_keys(keys: impl Iterator<Item = u32>) -> Self {
        let mut o = Owners {
            len: 0,
            ordered: [0; MAX_N],
            sorted: [0; MAX_N],
        };
        for k in keys {
            o.ordered[o.len] = k;
            o.len += 1;
        }
        o.sorted = o.ordered;
        o.sorted[..o.len].sort_unstable();
        o
    }

    /// `None` when both hold the same set; otherwise how many of `self` are not in `other`.
    fn count_missing_from(&self, other: &Owners) -> Option<usize> {
        let (mine, theirs) = (&self.sorted[..self.len], &other.sorted[..other.len]);
        if mine == theirs {
            return None;
        }
        Some(
            mine.iter()
                .filter(|k| theirs.binary_search(k).is_err())
                .count(),
        )
    }
}
