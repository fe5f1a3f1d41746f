//! The plan: what a topology change moves, per node and in all, against the ideal.

use std::collections::BTreeMap;

use floe_ring::{BalanceReport, ContentHash, Ring, Topology, diff};

use super::changes::Change;
use super::ideal::Ideal;

/// The rebalance issue's target: data moved ≤ 1.1 × the ideal.
pub const TARGET_RATIO: f64 = 1.1;

/// 2^64, the number of ring positions.
const POSITIONS: f64 = 18_446_744_073_709_551_616.0;

/// Below this an ideal or a moved fraction counts as zero (far below one position in 2^40).
const NOTHING: f64 = 1e-12;

/// Data volumes an operator read from the nodes' `/metrics`, for estimates in samples and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimates {
    /// Mean samples stored per current node (all copies it holds).
    pub samples_per_node: Option<u64>,
    /// Mean bytes stored per current node.
    pub bytes_per_node: Option<u64>,
}

/// What one node gains and loses. Fractions are of all copies (2^64 positions × N).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMove {
    /// Node id.
    pub id: String,
    /// Zone in the current topology (`None`: the node joins).
    pub zone_before: Option<String>,
    /// Zone in the new topology (`None`: the node leaves).
    pub zone_after: Option<String>,
    /// Weight in the current topology.
    pub weight_before: Option<u32>,
    /// Weight in the new topology.
    pub weight_after: Option<u32>,
    /// Its share of all copies in the current ring (0 if it joins).
    pub share_before: f64,
    /// Its share of all copies in the new ring (0 if it leaves).
    pub share_after: f64,
    /// Changed token ranges it gains.
    pub ranges_gained: usize,
    /// Changed token ranges it loses.
    pub ranges_lost: usize,
    /// Fraction of all copies it receives.
    pub gained: f64,
    /// Fraction of all copies it may drop once the gainers have them.
    pub lost: f64,
}

impl NodeMove {
    /// `added`, `removed`, `changed` (zone or weight) or `kept`.
    pub fn state(&self) -> &'static str {
        match (&self.zone_before, &self.zone_after) {
            (None, _) => "added",
            (_, None) => "removed",
            _ if self.zone_before != self.zone_after || self.weight_before != self.weight_after => {
                "changed"
            }
            _ => "kept",
        }
    }
}

/// The spread of one ring, from [`Ring::balance`] (loads against weight-fair shares).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalanceSummary {
    /// Largest replica load: max/mean of all copies when weights are equal.
    pub replica_max_over_mean: f64,
    /// Smallest replica load.
    pub replica_min_over_mean: f64,
    /// Largest primary load.
    pub primary_max_over_mean: f64,
}

impl From<&BalanceReport> for BalanceSummary {
    fn from(report: &BalanceReport) -> Self {
        BalanceSummary {
            replica_max_over_mean: report.replica_max_over_mean(),
            replica_min_over_mean: report.replica_min_over_mean(),
            primary_max_over_mean: report.primary_max_over_mean(),
        }
    }
}

/// Everything `floectl ring plan` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Cluster name.
    pub cluster: String,
    /// N, copies of each series (the same before and after).
    pub replication_factor: u32,
    /// Tokens per unit of weight.
    pub vnodes_per_weight: u32,
    /// Current topology version.
    pub version_before: u64,
    /// New topology version (`version_before + 1`).
    pub version_after: u64,
    /// Current topology's content hash.
    pub hash_before: ContentHash,
    /// New topology's content hash.
    pub hash_after: ContentHash,
    /// The changes, in command-line order.
    pub changes: Vec<Change>,
    /// Every node of either topology, sorted by id.
    pub nodes: Vec<NodeMove>,
    /// Number of changed token ranges (adjacent pieces with the same change merged).
    pub changed_ranges: usize,
    /// Fraction of the position space whose owner set changes.
    pub changed_fraction: f64,
    /// Fraction of all copies copied to a node that did not hold them.
    pub moved_fraction: f64,
    /// The ideal for this change.
    pub ideal: Ideal,
    /// Balance of the current ring.
    pub balance_before: BalanceSummary,
    /// Balance of the new ring.
    pub balance_after: BalanceSummary,
    /// Data volumes for estimates.
    pub estimates: Estimates,
    /// Nodes in the current topology (the per-node volumes scale by it).
    pub node_count_before: usize,
}

impl Plan {
    /// Plans the move from `old` to `new`.
    pub fn new(old: &Topology, new: &Topology, changes: Vec<Change>, estimates: Estimates) -> Plan {
        let (old_ring, new_ring) = (Ring::new(old), Ring::new(new));
        let ring_diff = diff(&old_ring, &new_ring);
        let (before, after) = (old_ring.balance(), new_ring.balance());
        let mut nodes = node_rows(&before, &after);
        let copies = POSITIONS * f64::from(new.replication_factor());
        let mut counts: BTreeMap<&str, (usize, u128, usize, u128)> = BTreeMap::new();
        for change in ring_diff.changes() {
            let len = change.range.len();
            for id in &change.gained {
                let c = counts.entry(id).or_default();
                (c.0, c.1) = (c.0 + 1, c.1 + len);
            }
            for id in &change.lost {
                let c = counts.entry(id).or_default();
                (c.2, c.3) = (c.2 + 1, c.3 + len);
            }
        }
        for node in &mut nodes {
            if let Some(&(ranges_gained, gained, ranges_lost, lost)) = counts.get(node.id.as_str())
            {
                node.ranges_gained = ranges_gained;
                node.gained = gained as f64 / copies;
                node.ranges_lost = ranges_lost;
                node.lost = lost as f64 / copies;
            }
        }
        Plan {
            cluster: new.cluster().to_owned(),
            replication_factor: new.replication_factor(),
            vnodes_per_weight: new.vnodes_per_weight(),
            version_before: old.version(),
            version_after: new.version(),
            hash_before: old.content_hash(),
            hash_after: new.content_hash(),
            changes,
            nodes,
            changed_ranges: ring_diff.changes().len(),
            changed_fraction: ring_diff.changed_fraction(),
            moved_fraction: ring_diff.moved_fraction(),
            ideal: Ideal::new(&old_ring, &new_ring),
            balance_before: BalanceSummary::from(&before),
            balance_after: BalanceSummary::from(&after),
            estimates,
            node_count_before: old.nodes().len(),
        }
    }

    /// `moved / ideal`; `None` when the ideal is zero.
    pub fn ratio(&self) -> Option<f64> {
        (self.ideal.fraction > NOTHING).then(|| self.moved_fraction / self.ideal.fraction)
    }

    /// `moved / needed` ([`Ideal::needed`]): 1.0 when nothing moves beyond what the two rings
    /// require; `None` when nothing is needed.
    pub fn needed_ratio(&self) -> Option<f64> {
        (self.ideal.needed > NOTHING).then(|| self.moved_fraction / self.ideal.needed)
    }

    /// Whether the move stays within [`TARGET_RATIO`] × ideal (with a zero ideal: moves nothing).
    pub fn within_target(&self) -> bool {
        match self.ratio() {
            Some(ratio) => ratio <= TARGET_RATIO,
            None => self.moved_fraction <= NOTHING,
        }
    }

    /// Estimated samples stored in all (`samples_per_node` × current node count).
    pub fn total_samples(&self) -> Option<f64> {
        let per_node = self.estimates.samples_per_node?;
        Some(per_node as f64 * self.node_count_before as f64)
    }

    /// Estimated bytes stored in all (`bytes_per_node` × current node count).
    pub fn total_bytes(&self) -> Option<f64> {
        let per_node = self.estimates.bytes_per_node?;
        Some(per_node as f64 * self.node_count_before as f64)
    }
}

/// One row per node of either topology, sorted by id, movement still zero.
fn node_rows(before: &BalanceReport, after: &BalanceReport) -> Vec<NodeMove> {
    let mut rows: BTreeMap<&str, NodeMove> = BTreeMap::new();
    let empty = |id: &str| NodeMove {
        id: id.to_owned(),
        zone_before: None,
        zone_after: None,
        weight_before: None,
        weight_after: None,
        share_before: 0.0,
        share_after: 0.0,
        ranges_gained: 0,
        ranges_lost: 0,
        gained: 0.0,
        lost: 0.0,
    };
    for b in &before.nodes {
        let row = rows.entry(&b.id).or_insert_with(|| empty(&b.id));
        (row.zone_before, row.weight_before) = (Some(b.zone.clone()), Some(b.weight));
        row.share_before = b.replica_share;
    }
    for a in &after.nodes {
        let row = rows.entry(&a.id).or_insert_with(|| empty(&a.id));
        (row.zone_after, row.weight_after) = (Some(a.zone.clone()), Some(a.weight));
        row.share_after = a.replica_share;
    }
    rows.into_values().collect()
}
