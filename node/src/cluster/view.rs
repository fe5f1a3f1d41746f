//! What a node knows of the cluster's placement at one moment: its adopted topology, the
//! target of a running rebalance, and where it is in it (see `docs/rebalance.md`). A view is
//! immutable; a change of phase swaps in a new one, so a request uses one consistent view from
//! start to end.

use std::collections::BTreeMap;
use std::sync::Arc;

use floe_ring::{Node, NodeIndex, Ring, Topology};
use floe_storage_format::SeriesId;
use floe_wire::proto::{RingPhase, TopologyRef};

/// One topology with its ring and this node's place in it.
#[derive(Debug)]
pub(crate) struct RingView {
    pub(crate) topology: Topology,
    pub(crate) ring: Ring,
    pub(crate) tref: TopologyRef,
    /// This node's index, `None` when it is not in this topology (joining or removed).
    pub(crate) me: Option<NodeIndex>,
    /// Per node index: the ring segments it holds a copy of.
    pub(crate) segments_of: Vec<Vec<u32>>,
    /// Per node index: its index in [`View::members`].
    pub(crate) member_of: Vec<usize>,
}

impl RingView {
    fn new(topology: Topology, me: &str, members: &[Node]) -> RingView {
        let ring = Ring::new(&topology);
        let tref = TopologyRef {
            version: topology.version(),
            hash: topology.content_hash().0,
        };
        let mut segments_of = vec![Vec::new(); ring.node_count()];
        for seg in 0..ring.segment_count() {
            for owner in ring.segment_owners(seg) {
                segments_of[owner.get()].push(seg as u32);
            }
        }
        let member_of = (0..ring.node_count())
            .map(|i| {
                let id = ring.node_id(NodeIndex(i as u32));
                members
                    .iter()
                    .position(|m| m.id == id)
                    .expect("every ring node is a member")
            })
            .collect();
        RingView {
            me: ring.node_index(me),
            topology,
            ring,
            tref,
            segments_of,
            member_of,
        }
    }

    /// Copies of each series: the replication factor, at most the node count.
    pub(crate) fn replicas(&self) -> usize {
        self.ring.replication_factor().min(self.ring.node_count())
    }

    /// True when `node` (a ring index) holds a copy of `id`.
    pub(crate) fn is_owner(&self, id: SeriesId, node: NodeIndex) -> bool {
        self.ring.owners(id.ring_position()).contains(&node)
    }
}

/// The placement a node acts on.
#[derive(Debug)]
pub(crate) struct View {
    /// The adopted topology.
    pub(crate) current: Arc<RingView>,
    /// The target of a running rebalance.
    pub(crate) target: Option<Arc<RingView>>,
    /// Stable, prepared or committed (removed is derived).
    pub(crate) phase: RingPhase,
    /// The topology adopted before the current one (requests made under it are still
    /// accepted: a peer may finish a rebalance a moment later than this node).
    pub(crate) previous: Option<TopologyRef>,
    /// Every node of the current and the target topology, sorted by id.
    pub(crate) members: Vec<Node>,
    /// This node's index in `members` (`None` only if it is in neither topology).
    pub(crate) me: Option<usize>,
}

impl View {
    pub(crate) fn new(
        me: &str,
        current: Topology,
        target: Option<Topology>,
        phase: RingPhase,
        previous: Option<TopologyRef>,
    ) -> View {
        let mut by_id: BTreeMap<String, Node> = BTreeMap::new();
        for n in current
            .nodes()
            .iter()
            .chain(target.iter().flat_map(|t| t.nodes()))
        {
            // The target's address wins (a node may move).
            by_id.insert(n.id.clone(), n.clone());
        }
        let members: Vec<Node> = by_id.into_values().collect();
        let current = Arc::new(RingView::new(current, me, &members));
        let target = target.map(|t| Arc::new(RingView::new(t, me, &members)));
        let phase = if target.is_none() {
            RingPhase::Stable
        } else {
            phase
        };
        View {
            me: members.iter().position(|m| m.id == me),
            current,
            target,
            phase,
            previous,
            members,
        }
    }

    /// The ring reads are answered from: the target once committed, else the current one.
    pub(crate) fn read_ring(&self) -> &Arc<RingView> {
        match (&self.target, self.phase) {
            (Some(t), RingPhase::Committed) => t,
            _ => &self.current,
        }
    }

    /// The rings writes must reach: the current one and, during a rebalance, the target.
    pub(crate) fn write_rings(&self) -> impl Iterator<Item = &Arc<RingView>> {
        std::iter::once(&self.current).chain(self.target.iter())
    }

    /// The topology put on requests this node sends.
    pub(crate) fn request_ref(&self) -> TopologyRef {
        self.read_ring().tref
    }

    /// Whether a request made under `theirs` may be served.
    pub(crate) fn accepts(&self, theirs: TopologyRef) -> bool {
        theirs == self.current.tref
            || self.target.as_ref().is_some_and(|t| t.tref == theirs)
            || self.previous == Some(theirs)
    }

    /// True when this node must hold a copy of `id` in any ring of the view.
    pub(crate) fn owns(&self, id: SeriesId) -> bool {
        self.write_rings()
            .any(|rv| rv.me.is_some_and(|me| rv.is_owner(id, me)))
    }

    /// The member index of `id`.
    pub(crate) fn member(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    /// The phase reported to operators (`removed` when stable outside the topology).
    pub(crate) fn reported_phase(&self) -> RingPhase {
        if self.phase == RingPhase::Stable && self.current.me.is_none() {
            RingPhase::Removed
        } else {
            self.phase
        }
    }
}
