//! The topology document: which nodes form the cluster, where they listen, their zones and
//! weights, and the ring parameters (replication factor, vnodes per unit of weight).
//!
//! A [`Topology`] only exists validated: [`Topology::parse`] and [`Topology::new`] check every
//! rule in `docs/ring.md` and name the node at fault. Nodes are kept sorted by id, so the ring,
//! the TOML written back and the canonical encoding do not depend on the order of `[[nodes]]`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::error::RingError;
use crate::hash::{ContentHash, put_str};
mod validate;

/// Tokens per unit of weight when a document does not say `vnodes_per_weight`.
///
/// Chosen from the measurements in `docs/ring.md` (balance at 10 nodes). Changing it changes the
/// placement of every document that omits the field, so it is frozen like the hash functions;
/// [`Topology::to_toml`] always writes the field out.
pub const DEFAULT_VNODES_PER_WEIGHT: u32 = 512;

/// Largest accepted replication factor (copies of each series).
pub const MAX_REPLICATION_FACTOR: u32 = 8;

/// Largest accepted total token count, `Σ weight × vnodes_per_weight` (2^22 = 4,194,304).
///
/// Bounds the ring's memory (about 8 + 4 × N bytes per token) whatever a document says.
pub const MAX_TOTAL_TOKENS: u64 = 1 << 22;

/// Longest accepted cluster name, node id or zone name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Magic bytes that open the canonical encoding.
pub const CANONICAL_MAGIC: &[u8; 8] = b"FLOETOPO";

/// Version of the canonical encoding (not of the topology).
pub const CANONICAL_ENCODING_VERSION: u32 = 1;

/// One storage node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// Unique, stable id; its tokens are hashed from it, so renaming a node moves its data.
    pub id: String,
    /// Address peers and clients dial for the QUIC transport.
    pub quic_addr: SocketAddr,
    /// Address of the HTTP API.
    pub http_addr: SocketAddr,
    /// Failure domain (rack, availability zone, Snowth "side"); copies spread across zones first.
    pub zone: String,
    /// Relative capacity; the node owns `weight × vnodes_per_weight` tokens.
    pub weight: u32,
}

/// A validated topology document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    cluster: String,
    version: u64,
    replication_factor: u32,
    vnodes_per_weight: u32,
    nodes: Vec<Node>,
}

/// The TOML shape, before validation. Addresses stay strings so errors can name the node.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    cluster: String,
    version: u64,
    replication_factor: u32,
    #[serde(default = "default_vnodes")]
    vnodes_per_weight: u32,
    nodes: Vec<DocumentNode>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentNode {
    id: String,
    zone: String,
    #[serde(default = "default_weight")]
    weight: u32,
    quic_addr: String,
    http_addr: String,
}

fn default_vnodes() -> u32 {
    DEFAULT_VNODES_PER_WEIGHT
}

fn default_weight() -> u32 {
    1
}

impl Topology {
    /// Builds and validates a topology. The order of `nodes` does not matter.
    pub fn new(
        cluster: impl Into<String>,
        version: u64,
        replication_factor: u32,
        vnodes_per_weight: u32,
        nodes: Vec<Node>,
    ) -> Result<Self, RingError> {
        let mut topology = Topology {
            cluster: cluster.into(),
            version,
            replication_factor,
            vnodes_per_weight,
            nodes,
        };
        validate::topology(&topology)?;
        topology.nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(topology)
    }

    /// Parses and validates a TOML topology document (format in `docs/ring.md`).
    pub fn parse(text: &str) -> Result<Self, RingError> {
        let doc: Document = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut nodes = Vec::with_capacity(doc.nodes.len());
        for (i, raw) in doc.nodes.into_iter().enumerate() {
            validate::node_id(i + 1, &raw.id)?;
            nodes.push(Node {
                quic_addr: parse_addr(&raw.id, "quic_addr", &raw.quic_addr)?,
                http_addr: parse_addr(&raw.id, "http_addr", &raw.http_addr)?,
                id: raw.id,
                zone: raw.zone,
                weight: raw.weight,
            });
        }
        let (cluster, version, rf) = (doc.cluster, doc.version, doc.replication_factor);
        Topology::new(cluster, version, rf, doc.vnodes_per_weight, nodes)
    }

    /// Writes the document as TOML, nodes sorted by id and every field explicit.
    /// `Topology::parse(&t.to_toml()) == Ok(t)`.
    pub fn to_toml(&self) -> String {
        let doc = Document {
            cluster: self.cluster.clone(),
            version: self.version,
            replication_factor: self.replication_factor,
            vnodes_per_weight: self.vnodes_per_weight,
            nodes: self.nodes.iter().map(DocumentNode::from).collect(),
        };
        toml::to_string(&doc).expect("validated topology fields all have a TOML form")
    }

    /// The canonical encoding, byte by byte as in `docs/ring.md`: independent of TOML layout,
    /// comments, defaults written or omitted, and node order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64 + self.nodes.len() * 96);
        buf.extend_from_slice(CANONICAL_MAGIC);
        buf.extend_from_slice(&CANONICAL_ENCODING_VERSION.to_le_bytes());
        put_str(&mut buf, &self.cluster);
        buf.extend_from_slice(&self.version.to_le_bytes());
        buf.extend_from_slice(&self.replication_factor.to_le_bytes());
        buf.extend_from_slice(&self.vnodes_per_weight.to_le_bytes());
        let count =
            u32::try_from(self.nodes.len()).expect("node count bounded by MAX_TOTAL_TOKENS");
        buf.extend_from_slice(&count.to_le_bytes());
        for node in &self.nodes {
            put_str(&mut buf, &node.id);
            put_str(&mut buf, &node.zone);
            buf.extend_from_slice(&node.weight.to_le_bytes());
            put_addr(&mut buf, node.quic_addr);
            put_addr(&mut buf, node.http_addr);
        }
        buf
    }

    /// The topology's identity: XXH3-128 (seed 0) of [`Topology::canonical_bytes`].
    pub fn content_hash(&self) -> ContentHash {
        ContentHash::of_canonical(&self.canonical_bytes())
    }

    /// Cluster name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Document version; part of the content hash.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Copies of each series (N).
    pub fn replication_factor(&self) -> u32 {
        self.replication_factor
    }

    /// Tokens per unit of node weight.
    pub fn vnodes_per_weight(&self) -> u32 {
        self.vnodes_per_weight
    }

    /// The nodes, sorted by id.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.nodes[i])
    }

    /// Number of tokens of `node`: `weight × vnodes_per_weight` (fits in `u32` once validated).
    pub fn token_count(&self, node: &Node) -> u32 {
        node.weight.saturating_mul(self.vnodes_per_weight)
    }
}

impl From<&Node> for DocumentNode {
    fn from(node: &Node) -> Self {
        DocumentNode {
            id: node.id.clone(),
            zone: node.zone.clone(),
            weight: node.weight,
            quic_addr: node.quic_addr.to_string(),
            http_addr: node.http_addr.to_string(),
        }
    }
}

fn parse_addr(node: &str, field: &'static str, value: &str) -> Result<SocketAddr, RingError> {
    value
        .parse()
        .map_err(|e: std::net::AddrParseError| RingError::InvalidAddress {
            node: node.to_owned(),
            field,
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

/// Address encoding: family byte (4 or 6), IP octets in network order, port as little-endian
/// `u16`, and for IPv6 the scope id as little-endian `u32`.
fn put_addr(buf: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            buf.push(4);
            buf.extend_from_slice(&a.ip().octets());
            buf.extend_from_slice(&a.port().to_le_bytes());
        }
        SocketAddr::V6(a) => {
            buf.push(6);
            buf.extend_from_slice(&a.ip().octets());
            buf.extend_from_slice(&a.port().to_le_bytes());
            buf.extend_from_slice(&a.scope_id().to_le_bytes());
        }
    }
}

/// Converts a TOML error to [`RingError::Toml`] with a 1-based line and column.
fn toml_error(text: &str, err: &toml::de::Error) -> RingError {
    let (line, column) = match err.span() {
        Some(span) => line_column(text, span.start),
        None => (1, 1),
    };
    RingError::Toml {
        line,
        column,
        message: err.message().trim_end().to_owned(),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
