//! The token ring built from a topology, and owner lookup.
//!
//! Positions and tokens are `u64` on a circle. The distinct token values, sorted, cut the circle
//! into *segments*: segment `i` is the half-open range `(boundaries[i - 1], boundaries[i]]`, and
//! segment 0 wraps: `(boundaries[last], boundaries[0]]` through `u64::MAX` and 0. A position
//! belongs to the segment of the first token at or after it, clockwise. Every segment's owner
//! list is precomputed, so [`Ring::owners`] is one binary search and a slice.

use crate::hash::{ContentHash, token_hash};
use crate::placement;
use crate::topology::{Node, Topology};

/// A node's index in a ring: its place in [`Topology::nodes`] (sorted by id).
///
/// Indexes are only meaningful within one ring; compare rings by node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeIndex(pub u32);

impl NodeIndex {
    /// The index as a `usize`, for indexing [`Topology::nodes`].
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// A range of ring positions: `(start, end]`, clockwise, wrapping through `u64::MAX` to 0.
///
/// `start == end` means the whole circle (a ring whose tokens all have one value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenRange {
    /// Exclusive start: the previous token.
    pub start: u64,
    /// Inclusive end: the token that owns the range.
    pub end: u64,
}

impl TokenRange {
    /// Whether `position` lies in the range.
    pub fn contains(&self, position: u64) -> bool {
        self.start == self.end || position.wrapping_sub(self.start).wrapping_sub(1) < self.len_u64()
    }

    /// Number of positions in the range, `1 ..= 2^64`.
    pub fn len(&self) -> u128 {
        match self.len_u64() {
            0 => 1 << 64,
            len => u128::from(len),
        }
    }

    /// Always false: a range holds at least one position.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `end - start` on the circle; 0 for the whole circle.
    fn len_u64(&self) -> u64 {
        self.end.wrapping_sub(self.start)
    }
}

/// The ring of one topology: segments and their precomputed owner lists.
#[derive(Debug, Clone)]
pub struct Ring {
    topology: Topology,
    content_hash: ContentHash,
    replication: usize,
    node_zone: Vec<u32>,
    zone_names: Vec<String>,
    boundaries: Vec<u64>,
    owners: Vec<NodeIndex>,
}

impl Ring {
    /// Builds the ring: hashes every token, sorts them, precomputes every segment's owners.
    pub fn new(topology: &Topology) -> Ring {
        let (zone_names, node_zone) = zones(topology);
        let tokens = tokens(topology);
        let n = topology.replication_factor() as usize;
        let placement = placement::place(&tokens, &node_zone, zone_names.len(), n);
        Ring {
            topology: topology.clone(),
            content_hash: topology.content_hash(),
            replication: n,
            node_zone,
            zone_names,
            boundaries: placement.boundaries,
            owners: placement.owners,
        }
    }

    /// The N owners of `position`, primary first, then in the order of the zone-aware walk.
    #[inline]
    pub fn owners(&self, position: u64) -> &[NodeIndex] {
        self.segment_owners(self.segment_of(position))
    }

    /// The ids of the N owners of `position`, in the order of [`Ring::owners`].
    pub fn owner_ids(&self, position: u64) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.owners(position).iter().map(|&i| self.node_id(i))
    }

    /// The first owner of `position`: the node of the first token at or after it.
    #[inline]
    pub fn primary(&self, position: u64) -> NodeIndex {
        self.owners[self.segment_of(position) * self.replication]
    }

    /// The segment holding `position`.
    #[inline]
    pub fn segment_of(&self, position: u64) -> usize {
        let i = self.boundaries.partition_point(|&b| b < position);
        if i == self.boundaries.len() { 0 } else { i }
    }

    /// The owners of segment `segment`.
    ///
    /// # Panics
    ///
    /// If `segment >= self.segment_count()`.
    #[inline]
    pub fn segment_owners(&self, segment: usize) -> &[NodeIndex] {
        let n = self.replication;
        &self.owners[segment * n..(segment + 1) * n]
    }

    /// The position range of segment `segment`.
    ///
    /// # Panics
    ///
    /// If `segment >= self.segment_count()`.
    pub fn segment_range(&self, segment: usize) -> TokenRange {
        let prev = segment.checked_sub(1).unwrap_or(self.boundaries.len() - 1);
        TokenRange {
            start: self.boundaries[prev],
            end: self.boundaries[segment],
        }
    }

    /// Every segment in clockwise order from the lowest token, with its owners. The ranges
    /// cover the circle exactly once.
    pub fn ranges(&self) -> impl ExactSizeIterator<Item = (TokenRange, &[NodeIndex])> + '_ {
        (0..self.segment_count()).map(|s| (self.segment_range(s), self.segment_owners(s)))
    }

    /// Number of segments (distinct token values).
    pub fn segment_count(&self) -> usize {
        self.boundaries.len()
    }

    /// Copies of each series (N): the length of every owner list.
    pub fn replication_factor(&self) -> usize {
        self.replication
    }

    /// The topology the ring was built from.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The content hash of [`Ring::topology`].
    pub fn content_hash(&self) -> ContentHash {
        self.content_hash
    }

    /// The node at `index`.
    ///
    /// # Panics
    ///
    /// If `index` is not an index of this ring.
    pub fn node(&self, index: NodeIndex) -> &Node {
        &self.topology.nodes()[index.get()]
    }

    /// The id of the node at `index`.
    ///
    /// # Panics
    ///
    /// If `index` is not an index of this ring.
    pub fn node_id(&self, index: NodeIndex) -> &str {
        &self.node(index).id
    }

    /// The index of the node with this id.
    pub fn node_index(&self, id: &str) -> Option<NodeIndex> {
        let nodes = self.topology.nodes();
        let i = nodes.binary_search_by(|n| n.id.as_str().cmp(id)).ok()?;
        Some(NodeIndex(i as u32))
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.node_zone.len()
    }

    /// The zone names, sorted; a node's zone number indexes this list.
    pub fn zones(&self) -> &[String] {
        &self.zone_names
    }

    /// The zone number of the node at `index`.
    ///
    /// # Panics
    ///
    /// If `index` is not an index of this ring.
    pub fn zone_of(&self, index: NodeIndex) -> usize {
        self.node_zone[index.get()] as usize
    }
}

/// Zone names sorted, and each node's zone number.
fn zones(topology: &Topology) -> (Vec<String>, Vec<u32>) {
    let mut names: Vec<String> = topology.nodes().iter().map(|n| n.zone.clone()).collect();
    names.sort_unstable();
    names.dedup();
    let node_zone = topology
        .nodes()
        .iter()
        .map(|n| names.binary_search(&n.zone).expect("zone collected above") as u32)
        .collect();
    (names, node_zone)
}

/// Every token `(value, node index)`, sorted; equal values are ordered by node id.
fn tokens(topology: &Topology) -> Vec<(u64, u32)> {
    let total: usize = topology
        .nodes()
        .iter()
        .map(|n| topology.token_count(n) as usize)
        .sum();
    let mut tokens = Vec::with_capacity(total);
    for (i, node) in topology.nodes().iter().enumerate() {
        let i = i as u32;
        tokens.extend((0..topology.token_count(node)).map(|k| (token_hash(&node.id, k), i)));
    }
    tokens.sort_unstable();
    tokens
}
