//! Test helpers: the naive reference ring and topology builders.
#![allow(dead_code)]

mod walk;

use std::net::{Ipv4Addr, SocketAddr};

use floe_ring::{Node, Topology, token_hash};

pub(crate) use walk::naive_owners;

/// A ring computed the slow way: every token, sorted, and each node's zone number.
pub(crate) struct NaiveRing {
    pub(crate) ids: Vec<String>,
    pub(crate) tokens: Vec<(u64, u32)>,
    pub(crate) node_zone: Vec<u32>,
    pub(crate) n: usize,
}

impl NaiveRing {
    pub(crate) fn new(t: &Topology) -> Self {
        let mut ids: Vec<String> = t.nodes().iter().map(|n| n.id.clone()).collect();
        ids.sort();
        let mut zones: Vec<&str> = t.nodes().iter().map(|n| n.zone.as_str()).collect();
        zones.sort();
        zones.dedup();
        let node_of = |id: &str| ids.iter().position(|x| x == id).unwrap() as u32;
        let mut tokens = Vec::new();
        let mut node_zone = vec![0; ids.len()];
        for node in t.nodes() {
            let i = node_of(&node.id);
            node_zone[i as usize] = zones.iter().position(|z| *z == node.zone).unwrap() as u32;
            for k in 0..node.weight * t.vnodes_per_weight() {
                tokens.push((token_hash(&node.id, k), i));
            }
        }
        // Equal values: ordered by node id (node numbers follow id order).
        tokens.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| ids[a.1 as usize].cmp(&ids[b.1 as usize]))
        });
        NaiveRing {
            ids,
            tokens,
            node_zone,
            n: t.replication_factor() as usize,
        }
    }

    /// Owner ids of `position`, in rule order.
    pub(crate) fn owners(&self, position: u64) -> Vec<String> {
        naive_owners(&self.tokens, &self.node_zone, self.n, position)
            .into_iter()
            .map(|i| self.ids[i as usize].clone())
            .collect()
    }

    /// Interesting positions: every token, its neighbours, 0 and `u64::MAX`.
    pub(crate) fn edge_positions(&self) -> Vec<u64> {
        let mut p = vec![0, u64::MAX];
        for &(t, _) in &self.tokens {
            p.extend([t, t.wrapping_add(1), t.wrapping_sub(1)]);
        }
        p
    }
}

/// A node with addresses derived from `i`.
pub(crate) fn node(id: &str, zone: &str, weight: u32, i: u32) -> Node {
    let ip = Ipv4Addr::from(0x0a00_0000 + i);
    Node {
        id: id.to_owned(),
        quic_addr: SocketAddr::new(ip.into(), 7400),
        http_addr: SocketAddr::new(ip.into(), 8080),
        zone: zone.to_owned(),
        weight,
    }
}
