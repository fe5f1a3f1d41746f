//! The cluster layer of a node: the topology it has adopted, the QUIC endpoint (mutual TLS)
//! it serves and dials peers with, the coordinator's write path (local write, forwards, W of
//! N acknowledgements, per-peer journals replayed when a peer returns) and read path (fan-out
//! to owners, merge with the merge rule, read repair). See `docs/cluster.md`.
//!
//! Placement comes from `floe_ring`, the merge rule and the digest from
//! `floe_storage_format`, the wire types from `floe_wire::proto`; nothing here re-implements
//! them.

pub mod config;
pub mod journal;
pub mod metrics;
mod peers;
mod read;
mod repair;
mod replay;
mod service;
mod storage;
mod write;

use std::path::Path;
use std::sync::Arc;

use floe_ring::{NodeIndex, Ring, Topology};
use floe_wire::TlsFiles;
use floe_wire::proto::{ErrorCode, ErrorResponse, TopologyRef};

pub use self::config::{ClusterConfig, ClusterSettings};
use self::journal::Journal;
pub use self::metrics::ClusterMetrics;
use self::peers::Peers;
pub(crate) use self::service::serve;
pub(crate) use self::storage::ClusterStorage;
pub(crate) use self::write::SeriesBatch;

/// Why the cluster layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The topology file could not be read or is invalid.
    #[error("topology {path}: {reason}")]
    Topology {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The node's certificate files are missing or invalid.
    #[error("certificates of node {node}: {source}")]
    Certificates {
        /// This node's id.
        node: String,
        /// What is wrong.
        source: floe_wire::WireError,
    },
    /// The QUIC endpoint could not be bound.
    #[error("cannot listen for QUIC on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        reason: String,
    },
    /// A peer's journal could not be opened.
    #[error("journal of peer {peer}: {reason}")]
    Journal {
        /// The peer.
        peer: String,
        /// Why.
        reason: String,
    },
}

/// One node's view of the cluster.
#[derive(Debug)]
pub struct Cluster {
    settings: ClusterSettings,
    ring: Ring,
    me: NodeIndex,
    topology: TopologyRef,
    toml: String,
    peers: Peers,
    /// Per node index: that peer's journal (`None` for this node).
    journals: Vec<Option<Arc<Journal>>>,
    /// Per node index: wakes that peer's journal replay.
    wake: Vec<Arc<tokio::sync::Notify>>,
    /// Per node index: the ring segments the node owns a copy of.
    segments_of: Vec<Vec<u32>>,
    metrics: ClusterMetrics,
}

impl Cluster {
    /// Loads the topology, checks the certificates, binds the QUIC endpoint and opens the
    /// journals. Call inside a tokio runtime.
    pub fn open(settings: ClusterSettings, data_dir: &Path) -> Result<Arc<Cluster>, ClusterError> {
        let path = settings.topology.display().to_string();
        let bad_topology = |reason: String| ClusterError::Topology {
            path: path.clone(),
            reason,
        };
        let toml = std::fs::read_to_string(&settings.topology)
            .map_err(|e| bad_topology(format!("cannot read: {e}")))?;
        let topology = Topology::parse(&toml).map_err(|e| bad_topology(e.to_string()))?;
        let ring = Ring::new(&topology);
        let me = ring.node_index(&settings.node_id).ok_or_else(|| {
            bad_topology(format!(
                "node {:?} (cluster.node_id) is not in the topology",
                settings.node_id
            ))
        })?;
        let topology_ref = TopologyRef {
            version: topology.version(),
            hash: topology.content_hash().0,
        };
        let files = TlsFiles::node(&settings.certs_dir, &settings.node_id);
        let certificates = |source| ClusterError::Certificates {
            node: settings.node_id.clone(),
            source,
        };
        floe_wire::tls::check_files(&files, Some(&settings.node_id)).map_err(certificates)?;
        let listen = settings.quic_listen.unwrap_or(ring.node(me).quic_addr);
        let peers =
            Peers::bind(&ring, &files, listen, settings.request_timeout).map_err(|reason| {
                ClusterError::Bind {
                    addr: listen,
                    reason,
                }
            })?;
        let journals = open_journals(&ring, me, data_dir, settings.journal_max_bytes)?;
        let wake = (0..ring.node_count())
            .map(|_| Arc::new(tokio::sync::Notify::new()))
            .collect();
        let segments_of = segments_of(&ring);
        Ok(Arc::new(Cluster {
            settings,
            ring,
            me,
            topology: topology_ref,
            toml: topology.to_toml(),
            peers,
            journals,
            wake,
            segments_of,
            metrics: ClusterMetrics::default(),
        }))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.settings.node_id
    }

    /// The adopted topology's version and hash.
    pub fn topology(&self) -> TopologyRef {
        self.topology
    }

    /// The ring of the adopted topology.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The checked settings.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The address the QUIC endpoint listens on.
    pub fn quic_addr(&self) -> Option<std::net::SocketAddr> {
        self.peers.local_addr()
    }

    /// Cluster counters and gauges.
    pub fn metrics(&self) -> &ClusterMetrics {
        &self.metrics
    }

    /// Copies of each series: the replication factor, at most the node count.
    pub(crate) fn replicas(&self) -> usize {
        self.ring.replication_factor().min(self.ring.node_count())
    }

    /// Refuses a request made under another topology, naming both.
    pub(crate) fn check_topology(&self, theirs: TopologyRef) -> Result<(), ErrorResponse> {
        if theirs == self.topology {
            return Ok(());
        }
        Err(ErrorResponse {
            code: ErrorCode::TopologyMismatch,
            message: format!(
                "topology mismatch: the request was made under topology {theirs}, node {} has \
                 adopted topology {}",
                self.node_id(),
                self.topology
            ),
        })
    }

    /// Renders the cluster's metrics (journal gauges included) in the exposition format.
    pub fn render_metrics(&self, out: &mut String) {
        let pending: Vec<(&str, u64, u64)> = self
            .journals
            .iter()
            .enumerate()
            .filter_map(|(i, j)| {
                let j = j.as_ref()?;
                let id = self.ring.node_id(NodeIndex(i as u32));
                Some((id, j.pending_records(), j.pending_bytes()))
            })
            .collect();
        self.metrics.render(&pending, out);
    }

    /// Closes the QUIC endpoint (in-flight requests are cut).
    pub fn close(&self) {
        self.peers.close();
    }
}

fn open_journals(
    ring: &Ring,
    me: NodeIndex,
    data_dir: &Path,
    max_bytes: u64,
) -> Result<Vec<Option<Arc<Journal>>>, ClusterError> {
    let mut journals = Vec::with_capacity(ring.node_count());
    for i in 0..ring.node_count() {
        let idx = NodeIndex(i as u32);
        if idx == me {
            journals.push(None);
            continue;
        }
        let peer = ring.node_id(idx).to_string();
        let dir = data_dir.join("journal").join(&peer);
        let (journal, report) =
            Journal::open(&dir, max_bytes).map_err(|e| ClusterError::Journal {
                peer: peer.clone(),
                reason: e.to_string(),
            })?;
        if !report.lost.is_empty() || report.cursor_reset.is_some() {
            tracing::error!(
                peer,
                ?report,
                "journal recovered with damage: some records were lost (anti-entropy or a repair restores them) or will be replayed again"
            );
        } else if report.torn_tail.is_some() {
            tracing::warn!(peer, ?report, "journal recovered with a torn tail");
        } else if report.records > 0 {
            tracing::info!(
                peer,
                records = report.records,
                bytes = report.bytes,
                "journal has records to replay"
            );
        }
        journals.push(Some(Arc::new(journal)));
    }
    Ok(journals)
}

/// Per node, the ring segments it holds a copy of.
fn segments_of(ring: &Ring) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); ring.node_count()];
    for seg in 0..ring.segment_count() {
        for owner in ring.segment_owners(seg) {
            out[owner.get()].push(seg as u32);
        }
    }
    out
}
