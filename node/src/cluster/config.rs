//! The `[cluster]` table of floed's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use floe_wire::proto::Consistency;
use serde::Deserialize;

use crate::server::config::{ConfigError, parse_duration};

/// How this node joins a cluster. With an empty `node_id` the node runs alone (single-node
/// mode, no QUIC listener); otherwise `topology` and `certs_dir` are required.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's id in the topology; `""` means single-node mode. Default `""`.
    pub node_id: String,
    /// Path of the topology document (TOML, `docs/ring.md`). Default `""`.
    pub topology: String,
    /// Directory of the PEM files: `ca.pem`, `node-<id>.pem`, `node-<id>-key.pem`
    /// (`floectl certs`). Default `""`.
    pub certs_dir: String,
    /// QUIC listen address; `""` means this node's `quic_addr` in the topology. Default `""`.
    pub quic_listen: String,
    /// Owners that must store a write before it is acknowledged, unless a request says
    /// otherwise (`?consistency=`): `one`, `quorum` or `all`. Default `quorum`.
    pub write_consistency: String,
    /// Owners that must answer a read for every token range: `one`, `quorum` or `all`.
    /// Default `quorum` (with quorum writes, a read sees every acknowledged write).
    pub read_consistency: String,
    /// Longest wait for one request to a peer. Default `5s`.
    pub request_timeout: String,
    /// A `one` read asks more replicas when the first have not answered after this. Default
    /// `50ms`.
    pub hedge_delay: String,
    /// Most bytes held in the journal of one peer; beyond it, writes for that peer are
    /// dropped from the journal (counted and logged; anti-entropy repairs them). Default 1 GiB.
    pub journal_max_bytes: u64,
    /// How often a journal with pending records retries its peer. Default `1s`.
    pub journal_retry_interval: String,
    /// Most bytes per second this node streams in while it gains ranges in a rebalance or
    /// rebuilds, so serving traffic keeps its latency. Default 64 MiB/s; 0 is unlimited.
    pub rebalance_max_bytes_per_s: u64,
    /// Refill this node from its peers at start (after its disk was wiped or lost);
    /// resumable, and the node serves meanwhile. Also the `--rebuild` flag. Default false.
    pub rebuild: bool,
    /// Act on the topology file even when the data directory holds another adopted topology
    /// (and drop a running change on this node). For recovery by hand only: a topology
    /// changes safely through `floectl ring apply`. Default false.
    pub adopt_topology_file: bool,
    /// Pause between two anti-entropy rounds (each compares this node's replicas with its
    /// peers' and repairs what differs); `0s` turns background anti-entropy off (`floectl
    /// repair` still works). Default `30s`.
    pub anti_entropy_interval: String,
    /// Most bytes per second anti-entropy repairs exchange (comparing in-sync replicas costs
    /// a few hundred bytes and is not limited). Default 16 MiB/s; 0 is unlimited.
    pub anti_entropy_max_bytes_per_s: u64,
    /// Other Floe clusters that receive a copy of every write this node coordinates, one
    /// `[[cluster.mirror]]` table each (`docs/mirroring.md`). Default none.
    pub mirror: Vec<super::mirror::MirrorConfig>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node_id: String::new(),
            topology: String::new(),
            certs_dir: String::new(),
            quic_listen: String::new(),
            write_consistency: "quorum".into(),
            read_consistency: "quorum".into(),
            request_timeout: "5s".into(),
            hedge_delay: "50ms".into(),
            journal_max_bytes: 1 << 30,
            journal_retry_interval: "1s".into(),
            rebalance_max_bytes_per_s: 64 << 20,
            rebuild: false,
            adopt_topology_file: false,
            anti_entropy_interval: "30s".into(),
            anti_entropy_max_bytes_per_s: 16 << 20,
            mirror: Vec::new(),
        }
    }
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// This node's id.
    pub node_id: String,
    /// The topology file.
    pub topology: PathBuf,
    /// The certificate directory.
    pub certs_dir: PathBuf,
    /// QUIC listen address override.
    pub quic_listen: Option<SocketAddr>,
    /// Default write consistency.
    pub write_consistency: Consistency,
    /// Default read consistency.
    pub read_consistency: Consistency,
    /// Per-request timeout to peers.
    pub request_timeout: Duration,
    /// Hedge delay of `one` reads.
    pub hedge_delay: Duration,
    /// Journal bound per peer.
    pub journal_max_bytes: u64,
    /// Journal retry period.
    pub journal_retry_interval: Duration,
    /// Streaming throttle (0: none).
    pub rebalance_max_bytes_per_s: u64,
    /// Rebuild at start.
    pub rebuild: bool,
    /// The topology file wins over the adopted state.
    pub adopt_topology_file: bool,
    /// Pause between anti-entropy rounds; zero: off.
    pub anti_entropy_interval: Duration,
    /// Repair traffic bound, bytes per second (0: unlimited).
    pub anti_entropy_max_bytes_per_s: u64,
    /// Mirror targets.
    pub mirrors: Vec<super::mirror::MirrorSettings>,
}

fn bad(setting: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn duration(setting: &'static str, value: &str) -> Result<Duration, ConfigError> {
    match parse_duration(value) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(bad(
            setting,
            value,
            "expected a positive number and a unit: ms, s, m, h or d (e.g. 5s)",
        )),
    }
}

fn consistency(setting: &'static str, value: &str) -> Result<Consistency, ConfigError> {
    value.parse().map_err(|e: String| bad(setting, value, e))
}

impl ClusterConfig {
    /// `None` in single-node mode; otherwise the checked settings.
    pub fn settings(&self) -> Result<Option<ClusterSettings>, ConfigError> {
        let cluster_mode = !self.node_id.trim().is_empty();
        let mirrors = super::mirror::mirror_settings(&self.mirror, cluster_mode)?;
        if !cluster_mode {
            return Ok(None);
        }
        if self.topology.trim().is_empty() {
            return Err(bad(
                "cluster.topology",
                &self.topology,
                "a cluster node needs its topology file",
            ));
        }
        if self.certs_dir.trim().is_empty() {
            return Err(bad(
                "cluster.certs_dir",
                &self.certs_dir,
                "a cluster node needs its certificate directory (floectl certs)",
            ));
        }
        let quic_listen =
            crate::server::config::optional_addr("cluster.quic_listen", &self.quic_listen)?;
        Ok(Some(ClusterSettings {
            node_id: self.node_id.trim().to_string(),
            topology: PathBuf::from(&self.topology),
            certs_dir: PathBuf::from(&self.certs_dir),
            quic_listen,
            write_consistency: consistency("cluster.write_consistency", &self.write_consistency)?,
            read_consistency: consistency("cluster.read_consistency", &self.read_consistency)?,
            request_timeout: duration("cluster.request_timeout", &self.request_timeout)?,
            hedge_delay: duration("cluster.hedge_delay", &self.hedge_delay)?,
            journal_max_bytes: self.journal_max_bytes,
            journal_retry_interval: duration(
                "cluster.journal_retry_interval",
                &self.journal_retry_interval,
            )?,
            rebalance_max_bytes_per_s: self.rebalance_max_bytes_per_s,
            rebuild: self.rebuild,
            adopt_topology_file: self.adopt_topology_file,
            anti_entropy_interval: parse_duration(&self.anti_entropy_interval).ok_or_else(
                || {
                    bad(
                        "cluster.anti_entropy_interval",
                        &self.anti_entropy_interval,
                        "expected a number and a unit: ms, s, m, h or d (e.g. 30s; 0s is off)",
                    )
                },
            )?,
            anti_entropy_max_bytes_per_s: self.anti_entropy_max_bytes_per_s,
            mirrors,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_by_default() {
        assert!(
            ClusterConfig::default()
                .settings()
                .expect("valid")
                .is_none()
        );
    }

    #[test]
    fn a_cluster_node_needs_topology_and_certs() {
        let c = ClusterConfig {
            node_id: "n1".into(),
            ..ClusterConfig::default()
        };
        let e = c.settings().expect_err("no topology");
        assert!(e.to_string().contains("cluster.topology"), "{e}");
        let c = ClusterConfig {
            node_id: "n1".into(),
            topology: "t.toml".into(),
            certs_dir: "certs".into(),
            write_consistency: "most".into(),
            ..ClusterConfig::default()
        };
        let e = c.settings().expect_err("bad consistency");
        assert!(e.to_string().contains("write_consistency"), "{e}");
    }
}
