//! The topology the client routes under: fetched from a node (`Request::Topology`), parsed,
//! checked against the identity the node states, and turned into a [`Ring`].

use std::sync::Arc;

use floe_ring::{NodeIndex, Ring, Topology};
use floe_wire::proto::{TopologyRef, TopologyResponse};

use crate::ClientError;
use crate::conn::Target;

/// A topology, its ring and its reference, swapped as one when the topology changes.
#[derive(Debug)]
pub(crate) struct RingState {
    /// The document.
    pub(crate) topology: Arc<Topology>,
    /// Its ring.
    pub(crate) ring: Ring,
    /// Its version and content hash, sent with every request that needs one.
    pub(crate) tref: TopologyRef,
}

impl RingState {
    /// Checks a node's answer: the TOML parses, and its version and content hash are the
    /// ones the node stated.
    pub(crate) fn from_response(node: &str, resp: &TopologyResponse) -> Result<Self, ClientError> {
        let bad = |reason: String| ClientError::Topology {
            node: node.to_owned(),
            reason,
        };
        let topology = Topology::parse(&resp.toml).map_err(|e| bad(e.to_string()))?;
        let tref = reference(&topology);
        if tref != resp.topology {
            return Err(bad(format!(
                "the document is topology {tref}, the node says {}",
                resp.topology
            )));
        }
        Ok(Self::new(topology))
    }

    /// Builds the ring of `topology`.
    pub(crate) fn new(topology: Topology) -> Self {
        let ring = Ring::new(&topology);
        Self {
            tref: reference(&topology),
            topology: Arc::new(topology),
            ring,
        }
    }

    /// The node at `index` as a request target.
    pub(crate) fn target(&self, index: NodeIndex) -> Target {
        let node = self.ring.node(index);
        Target::Node {
            id: node.id.clone(),
            addr: node.quic_addr,
        }
    }

    /// The node with id `id` as a request target.
    pub(crate) fn target_by_id(&self, id: &str) -> Result<Target, ClientError> {
        let index = self
            .ring
            .node_index(id)
            .ok_or_else(|| ClientError::UnknownNode {
                node: id.to_owned(),
                topology: self.tref,
            })?;
        Ok(self.target(index))
    }

    /// Every node, starting at `start` (modulo the node count) and going round.
    pub(crate) fn targets_from(&self, start: usize) -> Vec<Target> {
        let n = self.ring.node_count();
        (0..n)
            .map(|i| self.target(NodeIndex(((start + i) % n) as u32)))
            .collect()
    }
}

/// The reference of a topology: its version and content hash.
pub(crate) fn reference(topology: &Topology) -> TopologyRef {
    TopologyRef {
        version: topology.version(),
        hash: topology.content_hash().0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
        cluster = "t"
        version = 3
        replication_factor = 2
        vnodes_per_weight = 16

        [[nodes]]
        id = "b"
        zone = "z1"
        quic_addr = "127.0.0.1:7402"
        http_addr = "127.0.0.1:8082"

        [[nodes]]
        id = "a"
        zone = "z2"
        quic_addr = "127.0.0.1:7401"
        http_addr = "127.0.0.1:8081"
    "#;

    fn response(tref: TopologyRef) -> TopologyResponse {
        TopologyResponse {
            topology: tref,
            toml: DOC.into(),
            node: "a".into(),
        }
    }

    #[test]
    fn a_consistent_answer_builds_the_ring() {
        let t = Topology::parse(DOC).expect("parse");
        let state = RingState::from_response("a", &response(reference(&t))).expect("state");
        assert_eq!(state.tref.version, 3);
        assert_eq!(state.ring.node_count(), 2);
        let b = state.target_by_id("b").expect("b");
        assert_eq!(b.name(), "b");
        let err = state.target_by_id("zz").expect_err("unknown");
        assert_eq!(err.code(), "unknown_node");
        let round: Vec<String> = state.targets_from(1).iter().map(Target::name).collect();
        assert_eq!(round, ["b", "a"]);
    }

    #[test]
    fn a_hash_that_does_not_match_the_document_is_refused() {
        let t = Topology::parse(DOC).expect("parse");
        let mut tref = reference(&t);
        tref.hash ^= 1;
        let err = RingState::from_response("a", &response(tref)).expect_err("mismatch");
        assert_eq!(err.code(), "topology");
        let mut bad = response(reference(&t));
        bad.toml = "cluster = 1".into();
        let err = RingState::from_response("a", &bad).expect_err("garbage");
        assert_eq!(err.code(), "topology");
    }
}
