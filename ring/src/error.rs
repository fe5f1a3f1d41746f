//! The crate's one error type.

use std::net::SocketAddr;

/// Everything that can be wrong with a topology document.
///
/// Every variant names the node (by id, or by its 1-based position in the `[[nodes]]` list when
/// the id itself is the problem) and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    /// The text is not TOML, or does not have the topology's shape (unknown or missing field,
    /// wrong type, value out of range for its integer type).
    #[error("topology TOML, line {line}, column {column}: {message}")]
    Toml {
        /// 1-based line of the error (1 when the parser gives no location).
        line: usize,
        /// 1-based column, in characters (1 when the parser gives no location).
        column: usize,
        /// The parser's description of the problem.
        message: String,
    },
    /// The cluster name breaks a naming rule.
    #[error("cluster name {name:?} is invalid: {reason}")]
    InvalidClusterName {
        /// The name as written.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A node id breaks a naming rule.
    #[error("node #{position}: id {id:?} is invalid: {reason}")]
    InvalidNodeId {
        /// 1-based position of the node in the `[[nodes]]` list.
        position: usize,
        /// The id as written.
        id: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A zone name breaks a naming rule.
    #[error("node {node:?}: zone {zone:?} is invalid: {reason}")]
    InvalidZone {
        /// The node whose zone it is.
        node: String,
        /// The zone as written.
        zone: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Two nodes have the same id.
    #[error("duplicate node id {id:?}")]
    DuplicateNodeId {
        /// The repeated id.
        id: String,
    },
    /// An address does not parse as a socket address, or cannot be dialled.
    #[error("node {node:?}: {field} {value:?} is invalid: {reason}")]
    InvalidAddress {
        /// The node whose address it is.
        node: String,
        /// `quic_addr` or `http_addr`.
        field: &'static str,
        /// The address as written.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Two addresses in the document are equal (all `2 × nodes` addresses must differ).
    #[error(
        "node {node:?}: {field} {addr} is already used as {other_field} of node {other_node:?}"
    )]
    DuplicateAddress {
        /// The node listed second.
        node: String,
        /// Its field (`quic_addr` or `http_addr`).
        field: &'static str,
        /// The repeated address.
        addr: SocketAddr,
        /// The node that uses it first (may be `node` itself).
        other_node: String,
        /// The other node's field.
        other_field: &'static str,
    },
    /// The version does not fit in a TOML integer (`i64`).
    #[error("version {version} exceeds the maximum {max}")]
    VersionTooLarge {
        /// The version asked for.
        version: u64,
        /// `i64::MAX`, the largest TOML integer.
        max: u64,
    },
    /// A node has weight 0.
    #[error("node {node:?}: weight must be > 0")]
    ZeroWeight {
        /// The node.
        node: String,
    },
    /// `vnodes_per_weight` is 0.
    #[error("vnodes_per_weight must be > 0")]
    ZeroVnodes,
    /// `replication_factor` is 0.
    #[error("replication factor must be > 0")]
    ZeroReplication,
    /// `replication_factor` is above the supported maximum.
    #[error("replication factor {replication_factor} exceeds the maximum {max}")]
    ReplicationTooLarge {
        /// The factor asked for.
        replication_factor: u32,
        /// [`crate::MAX_REPLICATION_FACTOR`].
        max: u32,
    },
    /// There are fewer nodes than copies of each series.
    #[error("replication factor {replication_factor} exceeds node count {nodes}")]
    ReplicationExceedsNodes {
        /// The factor asked for.
        replication_factor: u32,
        /// How many nodes the document lists.
        nodes: usize,
    },
    /// The document lists no node.
    #[error("topology has no nodes")]
    NoNodes,
    /// The ring would need more tokens than [`crate::MAX_TOTAL_TOKENS`].
    #[error(
        "topology needs {total} tokens (sum of weight × vnodes_per_weight), more than the maximum \
         {max}; the heaviest node is {heaviest:?} with weight {weight}"
    )]
    TooManyTokens {
        /// Sum over nodes of `weight × vnodes_per_weight`.
        total: u64,
        /// [`crate::MAX_TOTAL_TOKENS`].
        max: u64,
        /// The node with the largest weight (first by id on ties).
        heaviest: String,
        /// Its weight.
        weight: u32,
    },
}
