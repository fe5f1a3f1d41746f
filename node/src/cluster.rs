//! The cluster layer of a node: the topology it has adopted, the QUIC endpoint (mutual TLS)
//! it serves and dials peers with, the coordinator's write path (local write, forwards, W of
//! N acknowledgements, per-peer journals replayed when a peer returns) and read path (fan-out
//! to owners, merge with the merge rule, read repair). See `docs/cluster.md`.
//!
//! Placement comes from `floe_ring`, the merge rule and the digest from
//! `floe_storage_format`, the wire types from `floe_wire::proto`; nothing here re-implements
//! them.

pub mod config;
mod entropy;
pub mod journal;
pub mod metrics;
mod mirror;
mod peers;
mod read;
mod rebalance;
mod repair;
mod replay;
mod service;
mod storage;
mod view;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use floe_ring::{Node, Topology};
use floe_wire::TlsFiles;
use floe_wire::proto::{ErrorCode, ErrorResponse, TopologyRef};
use tokio::sync::watch;

pub use self::config::{ClusterConfig, ClusterSettings};
pub(crate) use self::entropy::digest::DigestQuery;
pub(crate) use self::entropy::job::RepairRequest;
use self::journal::Journal;
pub use self::metrics::ClusterMetrics;
pub use self::mirror::{MirrorConfig, MirrorSettings, SeriesFilter};
use self::peers::Peers;
pub use self::rebalance::RingError;
pub(crate) use self::service::serve;
pub(crate) use self::storage::ClusterStorage;
pub(crate) use self::view::{RingView, View};
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
    /// A mirror target's journal or certificates could not be opened.
    #[error("mirror {name} (cluster.mirror): {reason}")]
    Mirror {
        /// The target's name.
        name: String,
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

/// A peer's journal and the signal that wakes its replay.
type PeerJournal = (Arc<Journal>, Arc<tokio::sync::Notify>);

/// One node's view of the cluster.
#[derive(Debug)]
pub struct Cluster {
    settings: ClusterSettings,
    data_dir: PathBuf,
    /// The placement in force; swapped whole on a phase change.
    view: RwLock<Arc<View>>,
    peers: Peers,
    /// Per peer id: its journal and the signal that wakes its replay.
    journals: Mutex<HashMap<String, PeerJournal>>,
    /// Set once the background tasks run: replay tasks of journals opened later start too.
    stop: Mutex<Option<watch::Receiver<bool>>>,
    /// Rebalance and rebuild state (`rebalance.rs`).
    rebalance: rebalance::Rebalance,
    /// Anti-entropy counters and the repair job (`entropy.rs`).
    entropy: entropy::Entropy,
    metrics: ClusterMetrics,
    /// The mirror targets: every coordinated write is teed to them (`mirror.rs`).
    mirrors: mirror::Mirrors,
}

impl Cluster {
    /// Loads the topology (the adopted one persisted in the data directory wins over the file
    /// when it is as new or newer), checks the certificates, binds the QUIC endpoint and opens
    /// the journals. Call inside a tokio runtime.
    pub fn open(settings: ClusterSettings, data_dir: &Path) -> Result<Arc<Cluster>, ClusterError> {
        let path = settings.topology.display().to_string();
        let bad_topology = |reason: String| ClusterError::Topology {
            path: path.clone(),
            reason,
        };
        let toml = std::fs::read_to_string(&settings.topology)
            .map_err(|e| bad_topology(format!("cannot read: {e}")))?;
        let file = Topology::parse(&toml).map_err(|e| bad_topology(e.to_string()))?;
        let (view, rebalance) =
            rebalance::Rebalance::open(data_dir, &settings.node_id, file, &settings)
                .map_err(|e| bad_topology(e.to_string()))?;
        if view.me.is_none() {
            return Err(bad_topology(format!(
                "node {:?} (cluster.node_id) is not in the topology",
                settings.node_id
            )));
        }
        let files = TlsFiles::node(&settings.certs_dir, &settings.node_id);
        let certificates = |source| ClusterError::Certificates {
            node: settings.node_id.clone(),
            source,
        };
        floe_wire::tls::check_files(&files, Some(&settings.node_id)).map_err(certificates)?;
        let own = view.me.map(|m| view.members[m].quic_addr);
        let listen = settings
            .quic_listen
            .or(own)
            .expect("a member has an address");
        let peers = Peers::bind(&files, listen, settings.request_timeout).map_err(|reason| {
            ClusterError::Bind {
                addr: listen,
                reason,
            }
        })?;
        let mirrors = mirror::Mirrors::open(&settings.mirrors, data_dir).map_err(|e| {
            ClusterError::Mirror {
                name: e.name,
                reason: e.reason,
            }
        })?;
        let cluster = Cluster {
            mirrors,
            settings,
            data_dir: data_dir.to_path_buf(),
            view: RwLock::new(Arc::new(view)),
            peers,
            journals: Mutex::new(HashMap::new()),
            stop: Mutex::new(None),
            rebalance,
            entropy: entropy::Entropy::default(),
            metrics: ClusterMetrics::default(),
        };
        cluster.open_existing_journals()?;
        Ok(Arc::new(cluster))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.settings.node_id
    }

    /// The placement in force.
    pub(crate) fn view(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Swaps in a new placement.
    pub(crate) fn set_view(&self, view: View) {
        let view = Arc::new(view);
        tracing::info!(
            current = %view.current.tref,
            target = ?view.target.as_ref().map(|t| t.tref.to_string()),
            phase = view.phase.as_str(),
            "placement changed"
        );
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// The topology this node puts on its requests (the one it reads from).
    pub fn topology(&self) -> TopologyRef {
        self.view().request_ref()
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

    /// Refuses a request made under a topology this node has not adopted, naming both.
    pub(crate) fn check_topology(&self, theirs: TopologyRef) -> Result<(), ErrorResponse> {
        let view = self.view();
        if view.accepts(theirs) {
            return Ok(());
        }
        let target = view
            .target
            .as_ref()
            .map(|t| format!(" (rebalancing to {})", t.tref))
            .unwrap_or_default();
        Err(ErrorResponse {
            code: ErrorCode::TopologyMismatch,
            message: format!(
                "topology mismatch: the request was made under topology {theirs}, node {} has \
                 adopted topology {}{target}",
                self.node_id(),
                view.current.tref
            ),
        })
    }

    /// Renders the cluster's metrics (journal and rebalance gauges included) in the
    /// exposition format.
    pub fn render_metrics(&self, out: &mut String) {
        let journals: Vec<(String, u64, u64)> = self
            .lock_journals()
            .iter()
            .map(|(id, (j, _))| (id.clone(), j.pending_records(), j.pending_bytes()))
            .collect();
        let pending: Vec<(&str, u64, u64)> = journals
            .iter()
            .map(|(id, r, b)| (id.as_str(), *r, *b))
            .collect();
        self.metrics.render(&pending, out);
        self.render_rebalance_metrics(out);
        self.entropy.render(out);
        self.mirrors.render(out);
    }

    /// Starts the journal replays and the rebalance driver; they stop when `stop` turns true.
    pub(crate) fn start(
        self: &Arc<Self>,
        state: &Arc<crate::server::AppState>,
        stop: watch::Receiver<bool>,
    ) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop.clone());
        let ids: Vec<String> = self.lock_journals().keys().cloned().collect();
        for id in ids {
            self.start_replay(id, stop.clone());
        }
        self.mirrors.start(&stop);
        self.start_entropy(state, stop.clone());
        self.start_rebalance(state, stop);
    }

    /// Closes the QUIC endpoint (in-flight requests are cut).
    pub fn close(&self) {
        self.mirrors.close();
        self.peers.close();
    }

    fn lock_journals(&self) -> std::sync::MutexGuard<'_, HashMap<String, PeerJournal>> {
        self.journals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The journal of `peer` (opened, and its replay started, on first use).
    pub(crate) fn journal_of(
        self: &Arc<Self>,
        peer: &str,
    ) -> Result<(Arc<Journal>, Arc<tokio::sync::Notify>), ClusterError> {
        if let Some(j) = self.lock_journals().get(peer) {
            return Ok(j.clone());
        }
        let opened = self.open_journal(peer)?;
        let mut journals = self.lock_journals();
        if let Some(j) = journals.get(peer) {
            return Ok(j.clone());
        }
        journals.insert(peer.to_string(), opened.clone());
        drop(journals);
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(stop) = stop {
            self.start_replay(peer.to_string(), stop);
        }
        Ok(opened)
    }

    fn open_journal(
        &self,
        peer: &str,
    ) -> Result<(Arc<Journal>, Arc<tokio::sync::Notify>), ClusterError> {
        let dir = self.data_dir.join("journal").join(peer);
        let (journal, report) =
            Journal::open(&dir, self.settings.journal_max_bytes).map_err(|e| {
                ClusterError::Journal {
                    peer: peer.to_string(),
                    reason: e.to_string(),
                }
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
        Ok((Arc::new(journal), Arc::new(tokio::sync::Notify::new())))
    }

    /// Opens the journal of every member and of every peer with a journal directory.
    fn open_existing_journals(&self) -> Result<(), ClusterError> {
        let view = self.view();
        let mut ids: Vec<String> = view
            .members
            .iter()
            .map(|m| m.id.clone())
            .filter(|id| id != self.node_id())
            .collect();
        if let Ok(rd) = std::fs::read_dir(self.data_dir.join("journal")) {
            for e in rd.flatten() {
                if let Some(name) = e.file_name().to_str()
                    && name != self.node_id()
                    && !ids.iter().any(|i| i == name)
                {
                    ids.push(name.to_string());
                }
            }
        }
        let mut journals = self.lock_journals();
        for id in ids {
            let j = self.open_journal(&id)?;
            journals.insert(id, j);
        }
        Ok(())
    }

    /// The node `id` of the current view, if it is a member.
    pub(crate) fn member_node(&self, id: &str) -> Option<Node> {
        let view = self.view();
        view.member(id).map(|i| view.members[i].clone())
    }
}
