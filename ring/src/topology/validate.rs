//! The validation rules of a topology document (listed in `docs/ring.md`).

use std::collections::HashMap;
use std::collections::HashSet;
use std::net::SocketAddr;

use super::{MAX_NAME_BYTES, MAX_REPLICATION_FACTOR, MAX_TOTAL_TOKENS, Node, Topology};
use crate::error::RingError;

/// Checks every rule; the first broken one is returned.
pub(super) fn topology(t: &Topology) -> Result<(), RingError> {
    name(&t.cluster).map_err(|reason| RingError::InvalidClusterName {
        name: t.cluster.clone(),
        reason,
    })?;
    if t.version > i64::MAX as u64 {
        return Err(RingError::VersionTooLarge {
            version: t.version,
            max: i64::MAX as u64,
        });
    }
    nodes(&t.nodes)?;
    addresses(&t.nodes)?;
    counts(t)
}

/// Checks a node id; `position` is the node's 1-based place in the list.
pub(super) fn node_id(position: usize, id: &str) -> Result<(), RingError> {
    name(id).map_err(|reason| RingError::InvalidNodeId {
        position,
        id: id.to_owned(),
        reason,
    })
}

/// The rule for cluster names, node ids and zones.
fn name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        Err("must not be empty")
    } else if s.len() > MAX_NAME_BYTES {
        Err("must be at most 255 bytes")
    } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("must not contain whitespace or control characters")
    } else {
        Ok(())
    }
}

fn nodes(nodes: &[Node]) -> Result<(), RingError> {
    let mut ids = HashSet::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        node_id(i + 1, &node.id)?;
        if !ids.insert(node.id.as_str()) {
            return Err(RingError::DuplicateNodeId {
                id: node.id.clone(),
            });
        }
        name(&node.zone).map_err(|reason| RingError::InvalidZone {
            node: node.id.clone(),
            zone: node.zone.clone(),
            reason,
        })?;
        if node.weight == 0 {
            return Err(RingError::ZeroWeight {
                node: node.id.clone(),
            });
        }
        dialable(&node.id, "quic_addr", node.quic_addr)?;
        dialable(&node.id, "http_addr", node.http_addr)?;
    }
    Ok(())
}

/// A node address is dialled by peers: no port 0, no unspecified IP, no IPv6 flow info.
fn dialable(node: &str, field: &'static str, addr: SocketAddr) -> Result<(), RingError> {
    let reason = if addr.port() == 0 {
        "port 0 cannot be dialled"
    } else if addr.ip().is_unspecified() {
        "an unspecified IP (0.0.0.0 or ::) cannot be dialled"
    } else if matches!(addr, SocketAddr::V6(a) if a.flowinfo() != 0) {
        "IPv6 flow info is not supported"
    } else {
        return Ok(());
    };
    Err(RingError::InvalidAddress {
        node: node.to_owned(),
        field,
        value: addr.to_string(),
        reason: reason.to_owned(),
    })
}

/// All `2 × nodes` addresses must differ.
fn addresses(nodes: &[Node]) -> Result<(), RingError> {
    let mut seen: HashMap<SocketAddr, (&str, &'static str)> = HashMap::new();
    for node in nodes {
        for (field, addr) in [("quic_addr", node.quic_addr), ("http_addr", node.http_addr)] {
            if let Some(&(other_node, other_field)) = seen.get(&addr) {
                return Err(RingError::DuplicateAddress {
                    node: node.id.clone(),
                    field,
                    addr,
                    other_node: other_node.to_owned(),
                    other_field,
                });
            }
            seen.insert(addr, (&node.id, field));
        }
    }
    Ok(())
}

fn counts(t: &Topology) -> Result<(), RingError> {
    let rf = t.replication_factor;
    if rf == 0 {
        return Err(RingError::ZeroReplication);
    }
    if rf > MAX_REPLICATION_FACTOR {
        return Err(RingError::ReplicationTooLarge {
            replication_factor: rf,
            max: MAX_REPLICATION_FACTOR,
        });
    }
    if t.vnodes_per_weight == 0 {
        return Err(RingError::ZeroVnodes);
    }
    if t.nodes.is_empty() {
        return Err(RingError::NoNodes);
    }
    if rf as usize > t.nodes.len() {
        return Err(RingError::ReplicationExceedsNodes {
            replication_factor: rf,
            nodes: t.nodes.len(),
        });
    }
    tokens(t)
}

fn tokens(t: &Topology) -> Result<(), RingError> {
    let vnodes = u64::from(t.vnodes_per_weight);
    let total = t.nodes.iter().fold(0u64, |sum, n| {
        sum.saturating_add(u64::from(n.weight) * vnodes)
    });
    if total <= MAX_TOTAL_TOKENS {
        return Ok(());
    }
    let heaviest = t
        .nodes
        .iter()
        .max_by(|a, b| a.weight.cmp(&b.weight).then_with(|| b.id.cmp(&a.id)))
        .expect("checked non-empty above");
    Err(RingError::TooManyTokens {
        total,
        max: MAX_TOTAL_TOKENS,
        heaviest: heaviest.id.clone(),
        weight: heaviest.weight,
    })
}
