//! How evenly a ring spreads data: each node's share of primaries and of all replicas.

use crate::ring::{NodeIndex, Ring};

/// One node's shares of the position space.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBalance {
    /// Node id.
    pub id: String,
    /// Node zone.
    pub zone: String,
    /// Node weight.
    pub weight: u32,
    /// Fraction of the position space for which the node is the primary (first owner).
    pub primary_share: f64,
    /// Fraction of all stored copies the node holds: `Σ len of ranges it owns / (2^64 × N)`.
    pub replica_share: f64,
    /// The weight-fair share, `weight / Σ weight`.
    pub fair_share: f64,
}

impl NodeBalance {
    /// `primary_share / fair_share`: 1.0 is perfect.
    pub fn primary_load(&self) -> f64 {
        self.primary_share / self.fair_share
    }

    /// `replica_share / fair_share`: 1.0 is perfect.
    pub fn replica_load(&self) -> f64 {
        self.replica_share / self.fair_share
    }
}

/// One zone's share of all copies.
///
/// With N ≥ Z every zone holds at least one copy of every position whatever its weight, so
/// zones of unequal weight make their nodes unequally loaded; this shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneBalance {
    /// Zone name.
    pub zone: String,
    /// Sum of its nodes' weights.
    pub weight: u64,
    /// Fraction of all stored copies held by its nodes.
    pub replica_share: f64,
    /// `weight / Σ weight`.
    pub fair_share: f64,
}

/// Per-node and per-zone shares and their spread. Shares of all nodes sum to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceReport {
    /// Every node, sorted by id.
    pub nodes: Vec<NodeBalance>,
    /// Every zone, sorted by name.
    pub zones: Vec<ZoneBalance>,
}

impl BalanceReport {
    /// Largest [`NodeBalance::primary_load`]: max/mean of primaries when weights are equal.
    pub fn primary_max_over_mean(&self) -> f64 {
        self.max_load(NodeBalance::primary_load)
    }

    /// Largest [`NodeBalance::replica_load`]: max/mean of all copies when weights are equal.
    pub fn replica_max_over_mean(&self) -> f64 {
        self.max_load(NodeBalance::replica_load)
    }

    /// Smallest [`NodeBalance::replica_load`].
    pub fn replica_min_over_mean(&self) -> f64 {
        self.nodes
            .iter()
            .map(NodeBalance::replica_load)
            .fold(f64::INFINITY, f64::min)
    }

    fn max_load(&self, load: fn(&NodeBalance) -> f64) -> f64 {
        self.nodes.iter().map(load).fold(0.0, f64::max)
    }
}

impl Ring {
    /// Measures each node's share of primaries and of all replicas.
    pub fn balance(&self) -> BalanceReport {
        let mut primary = vec![0u128; self.node_count()];
        let mut replica = vec![0u128; self.node_count()];
        for (range, owners) in self.ranges() {
            primary[owners[0].get()] += range.len();
            for o in owners {
                replica[o.get()] += range.len();
            }
        }
        let nodes = self.topology().nodes();
        let total_weight: u64 = nodes.iter().map(|n| u64::from(n.weight)).sum();
        let circle = 18_446_744_073_709_551_616.0_f64;
        let copies = circle * self.replication_factor() as f64;
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeBalance {
                id: n.id.clone(),
                zone: n.zone.clone(),
                weight: n.weight,
                primary_share: primary[i] as f64 / circle,
                replica_share: replica[i] as f64 / copies,
                fair_share: f64::from(n.weight) / total_weight as f64,
            })
            .collect::<Vec<_>>();
        let zones = self.zone_balance(&nodes, total_weight);
        BalanceReport { nodes, zones }
    }

    fn zone_balance(&self, nodes: &[NodeBalance], total_weight: u64) -> Vec<ZoneBalance> {
        let mut zones: Vec<ZoneBalance> = self
            .zones()
            .iter()
            .map(|z| ZoneBalance {
                zone: z.clone(),
                weight: 0,
                replica_share: 0.0,
                fair_share: 0.0,
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            let zone = &mut zones[self.zone_of(NodeIndex(i as u32))];
            zone.weight += u64::from(node.weight);
            zone.replica_share += node.replica_share;
        }
        for zone in &mut zones {
            zone.fair_share = zone.weight as f64 / total_weight as f64;
        }
        zones
    }
}
