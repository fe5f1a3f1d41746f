//! [`TestCluster`]: N real `floed` processes in cluster mode on loopback, in a temporary
//! directory, with everything they need (CA and certificates, topology, one config file per
//! node) and control over each process (stop, kill, start, restart, pause, resume).
//!
//! ```text
//! <tmp>/certs/          ca.pem ca-key.pem node-nI.pem node-nI-key.pem client-test.pem …
//! <tmp>/topology.toml   the cluster's topology (version 1)
//! <tmp>/nI/floed.toml   node I's config; data in nI/data, stderr in nI/floed.log
//! ```

mod files;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, bail};
use floe_ctl::certs::Subject;
use floe_ring::{DEFAULT_VNODES_PER_WEIGHT, Topology};
use floe_wire::TlsFiles;

pub use files::{CLIENT_NAME, merge};

use crate::http::{self, Response, VectorSample};
use crate::ports::{self, NodePorts};
use crate::process::{AddrInUse, FloedProcess, LOG_TAIL_LINES, MARKER, ProcessFiles, tail};
use crate::wait::wait_until;

/// Whole-cluster start attempts when a chosen port turns out to be taken.
const START_ATTEMPTS: u32 = 4;
/// Restart attempts of one node when its port was taken meanwhile.
const RESTART_ATTEMPTS: u32 = 3;
/// Set to keep a cluster's directory (logs, data) after the test; its path is printed.
pub const KEEP_ENV: &str = "FLOE_TESTS_KEEP";

/// What cluster to start. [`ClusterSpec::new`] gives the defaults; fields are public.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Cluster name in the topology. Default `floe-test`.
    pub name: String,
    /// Number of nodes, ids `n1` … `nN`.
    pub nodes: usize,
    /// Replication factor N.
    pub replication_factor: u32,
    /// Zone of each node; empty (the default) gives every node its own zone `z1` … `zN`.
    pub zones: Vec<String>,
    /// Tokens per unit of weight. Default the ring's default (512).
    pub vnodes_per_weight: u32,
    /// Topology version. Default 1.
    pub topology_version: u64,
    /// WAL fsync policy of every node. Default `always` (crash tests need it).
    pub fsync: String,
    /// Log filter of every node. Default `info`.
    pub log_level: String,
    /// Merged over every node's generated config (tables key by key). Default: short cluster
    /// timeouts so that tests with a node down stay fast (`[cluster] request_timeout = "2s"`,
    /// `journal_retry_interval = "200ms"`).
    pub config: toml::Table,
    /// Bound on a node's start (listening line, then `/ready`). Default 60 s.
    pub start_timeout: Duration,
    /// Bound on a node's clean stop after SIGTERM. Default 20 s.
    pub stop_timeout: Duration,
}

impl ClusterSpec {
    /// `nodes` nodes, replication factor `replication_factor`, every other setting default.
    pub fn new(nodes: usize, replication_factor: u32) -> Self {
        let config = toml::from_str(
            "[cluster]\nrequest_timeout = \"2s\"\njournal_retry_interval = \"200ms\"\n",
        )
        .expect("the default overrides are valid TOML");
        Self {
            name: "floe-test".into(),
            nodes,
            replication_factor,
            zones: Vec::new(),
            vnodes_per_weight: DEFAULT_VNODES_PER_WEIGHT,
            topology_version: 1,
            fsync: "always".into(),
            log_level: "info".into(),
            config,
            start_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(20),
        }
    }

    /// Sets the zones, one per node.
    pub fn zones(mut self, zones: &[&str]) -> Self {
        self.zones = zones.iter().map(|z| (*z).to_string()).collect();
        self
    }

    /// Merges TOML text (e.g. `"[cluster]\nwrite_consistency = \"all\""`) into every node's
    /// config. Panics on invalid TOML: the text is part of the test.
    pub fn config(mut self, toml_text: &str) -> Self {
        let over: toml::Table = toml::from_str(toml_text)
            .unwrap_or_else(|e| panic!("ClusterSpec::config: invalid TOML {toml_text:?}: {e}"));
        merge(&mut self.config, &over);
        self
    }

    /// Id of node `i` (0-based): `n{i+1}`.
    pub fn node_id(i: usize) -> String {
        format!("n{}", i + 1)
    }

    fn zone(&self, i: usize) -> String {
        self.zones
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("z{}", i + 1))
    }
}

#[derive(Debug)]
struct NodeSlot {
    id: String,
    zone: String,
    ports: NodePorts,
    dir: PathBuf,
    topology_path: PathBuf,
    overrides: toml::Table,
    env: Vec<(String, String)>,
    process: Option<FloedProcess>,
    starts: u32,
}

impl NodeSlot {
    fn files(&self, bin: &Path) -> ProcessFiles {
        ProcessFiles {
            bin: bin.to_path_buf(),
            config: self.dir.join("floed.toml"),
            log: self.dir.join("floed.log"),
            stdout: self.dir.join("stdout.log"),
            env: self.env.clone(),
        }
    }
}

/// A running test cluster. Dropping it kills every process it started (by PID).
#[derive(Debug)]
pub struct TestCluster {
    spec: ClusterSpec,
    tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    bin: PathBuf,
    topology: Topology,
    nodes: Vec<NodeSlot>,
}

impl TestCluster {
    /// Builds `floed` if needed, writes certificates, topology and configs into a new
    /// temporary directory, starts every node and waits until each is listening and `/ready`.
    /// Retries with fresh ports if a chosen port was taken meanwhile (see [`crate::ports`]).
    pub fn start(spec: ClusterSpec) -> anyhow::Result<Self> {
        anyhow::ensure!(spec.nodes > 0, "a cluster needs at least one node");
        let bin = crate::floed_bin()?;
        let tmp = tempfile::Builder::new()
            .prefix("floe-cluster-")
            .tempdir()
            .context("create the cluster's temporary directory")?;
        let root = tmp.path().to_path_buf();
        let ids: Vec<String> = (0..spec.nodes).map(ClusterSpec::node_id).collect();
        files::make_certs(&root.join("certs"), &ids, &[CLIENT_NAME])?;
        let mut attempt = 1;
        loop {
            let mut cluster = Self::prepare(&spec, &tmp, &bin, &ids)?;
            match cluster.start_all() {
                Ok(()) => {
                    cluster.tmp = Some(tmp);
                    eprintln!(
                        "floe-tests: cluster of {} up in {}",
                        spec.nodes,
                        root.display()
                    );
                    return Ok(cluster);
                }
                Err(e) if e.downcast_ref::<AddrInUse>().is_some() && attempt < START_ATTEMPTS => {
                    eprintln!("floe-tests: a port was taken ({e:#}); retrying with fresh ports");
                    attempt += 1;
                }
                Err(e) => {
                    cluster.report_failure();
                    return Err(e);
                }
            }
        }
    }

    /// Chooses ports and writes the topology and every node's files (a clean node directory).
    fn prepare(
        spec: &ClusterSpec,
        tmp: &tempfile::TempDir,
        bin: &Path,
        ids: &[String],
    ) -> anyhow::Result<Self> {
        let root = tmp.path().to_path_buf();
        let ports = ports::allocate(spec.nodes)?;
        let described: Vec<(String, String, NodePorts)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), spec.zone(i), ports[i]))
            .collect();
        let topology = files::topology(
            &spec.name,
            spec.topology_version,
            spec.replication_factor,
            spec.vnodes_per_weight,
            &described,
        )?;
        let topology_path = root.join("topology.toml");
        files::write_topology(&topology_path, &topology)?;
        let mut nodes = Vec::with_capacity(spec.nodes);
        for (id, zone, ports) in described {
            let dir = root.join(&id);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clear {}", dir.display()))?;
            }
            std::fs::create_dir_all(dir.join("data"))
                .with_context(|| format!("create {}", dir.display()))?;
            nodes.push(NodeSlot {
                id,
                zone,
                ports,
                dir,
                topology_path: topology_path.clone(),
                overrides: toml::Table::new(),
                env: Vec::new(),
                process: None,
                starts: 0,
            });
        }
        let cluster = Self {
            spec: spec.clone(),
            tmp: None,
            root,
            bin: bin.to_path_buf(),
            topology,
            nodes,
        };
        for i in 0..cluster.nodes.len() {
            cluster.write_config(i)?;
        }
        Ok(cluster)
    }

    /// Spawns every node, then waits for each one's listening line, then for each `/ready`
    /// (spawning all before waiting, in case a node waits for its peers).
    fn start_all(&mut self) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            self.launch(i)?;
        }
        for i in 0..self.nodes.len() {
            self.wait_listening(i)?;
        }
        for i in 0..self.nodes.len() {
            self.wait_ready(i)?;
        }
        Ok(())
    }

    fn launch(&mut self, i: usize) -> anyhow::Result<()> {
        let slot = &mut self.nodes[i];
        anyhow::ensure!(
            slot.process.is_none(),
            "node {} is already running",
            slot.id
        );
        slot.starts += 1;
        let label = format!("{} (start #{})", slot.id, slot.starts);
        let files = slot.files(&self.bin);
        slot.process = Some(FloedProcess::launch(&files, &label)?);
        Ok(())
    }

    fn wait_listening(&mut self, i: usize) -> anyhow::Result<()> {
        let timeout = self.spec.start_timeout;
        let slot = &mut self.nodes[i];
        let files = slot.files(&self.bin);
        let label = slot.id.clone();
        let want = slot.ports;
        let process = slot.process.as_mut().context("node not launched")?;
        let result = process.wait_listening(&files, &label, timeout);
        let listening = match result {
            Ok(l) => l,
            Err(e) => {
                slot.process = None;
                return Err(e);
            }
        };
        if listening.http != want.http || listening.quic.is_some_and(|q| q != want.quic) {
            bail!("{label} listens on {listening:?}, but its topology entry says {want:?}");
        }
        Ok(())
    }

    /// Waits until node `i` answers `/ready` with 200.
    pub fn wait_ready(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.nodes[i];
        let addr = slot.ports.http;
        wait_until(
            &format!("{} to be ready", slot.id),
            self.spec.start_timeout,
            || Ok(http::get(addr, "/ready")?.status == 200),
        )
        .with_context(|| format!("log tail of {}:\n{}", slot.id, self.log_tail(i)))
    }

    fn write_config(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.nodes[i];
        let certs = self.certs_dir();
        let c = files::NodeConfig {
            id: &slot.id,
            data_dir: slot.dir.join("data"),
            http: slot.ports.http,
            topology: &slot.topology_path,
            certs_dir: &certs,
            fsync: &self.spec.fsync,
            log_level: &self.spec.log_level,
        };
        let table = files::node_config(&c, &[&self.spec.config, &slot.overrides]);
        let path = slot.dir.join("floed.toml");
        std::fs::write(&path, table.to_string())
            .with_context(|| format!("write {}", path.display()))
    }

    // ---- node control -------------------------------------------------------------------

    /// Starts node `i` again (same data directory, config and ports) and waits until it is
    /// ready. Retries if its port was taken meanwhile.
    pub fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        let mut attempt = 1;
        loop {
            self.launch(i)?;
            match self.wait_listening(i) {
                Ok(()) => break,
                Err(e) if e.downcast_ref::<AddrInUse>().is_some() && attempt < RESTART_ATTEMPTS => {
                    eprintln!("floe-tests: {e:#}; retrying");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
                Err(e) => return Err(e),
            }
        }
        self.wait_ready(i)
    }

    /// SIGTERM node `i` and wait for a clean exit (bounded; SIGKILL and an error after that).
    /// Fails if it exits with a non-zero status.
    pub fn stop(&mut self, i: usize) -> anyhow::Result<ExitStatus> {
        let slot = &mut self.nodes[i];
        let process = slot
            .process
            .take()
            .with_context(|| format!("node {} is not running", slot.id))?;
        let status = process
            .stop(self.spec.stop_timeout)
            .with_context(|| format!("stop node {}", slot.id))?;
        if !status.success() {
            bail!(
                "node {} exited with {status} after SIGTERM; log tail:\n{}",
                self.nodes[i].id,
                self.log_tail(i)
            );
        }
        Ok(status)
    }

    /// SIGKILL node `i` (no clean shutdown: a crash).
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let slot = &mut self.nodes[i];
        let mut process = slot
            .process
            .take()
            .with_context(|| format!("node {} is not running", slot.id))?;
        process.kill();
        Ok(())
    }

    /// [`TestCluster::stop`] then [`TestCluster::start_node`].
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.stop(i)?;
        self.start_node(i)
    }

    /// SIGSTOP node `i`: it keeps its sockets but answers nothing until resumed.
    pub fn pause(&mut self, i: usize) -> anyhow::Result<()> {
        self.process_mut(i)?.pause()
    }

    /// SIGCONT node `i`.
    pub fn resume(&mut self, i: usize) -> anyhow::Result<()> {
        self.process_mut(i)?.resume()
    }

    /// Stops every running node cleanly, in order (each must exit 0).
    pub fn stop_all(&mut self) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].process.is_some() {
                self.stop(i)?;
            }
        }
        Ok(())
    }

    fn process_mut(&mut self, i: usize) -> anyhow::Result<&mut FloedProcess> {
        let slot = &mut self.nodes[i];
        slot.process
            .as_mut()
            .with_context(|| format!("node {} is not running", slot.id))
    }

    /// True if node `i` has a process (running or paused) that has not exited.
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.nodes[i].process.as_mut() {
            Some(p) => matches!(p.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// PID of node `i`'s process.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].process.as_ref().map(FloedProcess::pid)
    }

    // ---- per-node configuration ---------------------------------------------------------

    /// Gives node `i` its own topology file holding `topology` (effective at its next start).
    pub fn set_node_topology(&mut self, i: usize, topology: &Topology) -> anyhow::Result<()> {
        let path = self.nodes[i].dir.join("topology.toml");
        files::write_topology(&path, topology)?;
        self.nodes[i].topology_path = path;
        self.write_config(i)
    }

    /// Sets the extra environment of node `i`'s process (effective at its next start), e.g.
    /// `LD_PRELOAD` and `FAKETIME` to run it with a skewed clock; empty for none.
    pub fn set_node_env(&mut self, i: usize, env: Vec<(String, String)>) {
        self.nodes[i].env = env;
    }

    /// Merges TOML text into node `i`'s config (effective at its next start).
    pub fn set_node_config(&mut self, i: usize, toml_text: &str) -> anyhow::Result<()> {
        let over: toml::Table = toml::from_str(toml_text).context("parse the config override")?;
        merge(&mut self.nodes[i].overrides, &over);
        self.write_config(i)
    }

    /// The cluster's topology with another version number (same nodes and addresses), e.g.
    /// to give one node a topology the others have not adopted.
    pub fn topology_with_version(&self, version: u64) -> anyhow::Result<Topology> {
        let t = &self.topology;
        Topology::new(
            t.cluster(),
            version,
            t.replication_factor(),
            t.vnodes_per_weight(),
            t.nodes().to_vec(),
        )
        .context("build a topology with another version")
    }

    // ---- topology changes (rebalance) -----------------------------------------------------

    /// Adds a node that is not in the topology yet: id `n{len+1}`, fresh ports, a
    /// certificate, a directory and a config, not started. Its entry (for a new topology) is
    /// [`TestCluster::node_entry`]; give it its topology with [`TestCluster::set_node_topology`].
    pub fn add_node(&mut self, zone: &str) -> anyhow::Result<usize> {
        let i = self.nodes.len();
        let id = ClusterSpec::node_id(i);
        let ports = ports::allocate(1)?[0];
        files::ensure_cert(&self.certs_dir(), &Subject::Node(id.clone()))?;
        let dir = self.root.join(&id);
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("create {}", dir.display()))?;
        self.nodes.push(NodeSlot {
            id,
            zone: zone.to_string(),
            ports,
            dir,
            topology_path: self.topology_path(),
            overrides: toml::Table::new(),
            env: Vec::new(),
            process: None,
            starts: 0,
        });
        self.write_config(i)?;
        Ok(i)
    }

    /// Node `i`'s topology entry (weight 1, its zone).
    pub fn node_entry(&self, i: usize) -> floe_ring::Node {
        let slot = &self.nodes[i];
        floe_ring::Node {
            id: slot.id.clone(),
            quic_addr: slot.ports.quic,
            http_addr: slot.ports.http,
            zone: slot.zone.clone(),
            weight: 1,
        }
    }

    /// The next topology version with `nodes` (indexes) as its members, and `zones` changed
    /// (index, zone).
    pub fn next_topology(
        &self,
        nodes: &[usize],
        zones: &[(usize, &str)],
    ) -> anyhow::Result<Topology> {
        let t = &self.topology;
        let entries = nodes
            .iter()
            .map(|&i| {
                let mut n = self.node_entry(i);
                if let Some((_, z)) = zones.iter().find(|(j, _)| *j == i) {
                    n.zone = (*z).to_string();
                }
                n
            })
            .collect();
        Topology::new(
            t.cluster(),
            t.version() + 1,
            t.replication_factor(),
            t.vnodes_per_weight(),
            entries,
        )
        .context("build the next topology")
    }

    /// Records `topology` as the cluster's (after a change finished): zones of its nodes too.
    pub fn adopt_topology(&mut self, topology: Topology) {
        for n in topology.nodes() {
            if let Some(i) = self.index_of(&n.id) {
                self.nodes[i].zone = n.zone.clone();
            }
        }
        self.topology = topology;
    }

    /// `POST /api/v1/admin/ring/apply` of `topology` through node `i`.
    pub fn ring_apply(&self, i: usize, topology: &Topology) -> anyhow::Result<Response> {
        http::post(
            self.http_addr(i),
            "/api/v1/admin/ring/apply",
            topology.to_toml().as_bytes(),
        )
    }

    /// `GET /api/v1/admin/ring/status` through node `i`: the `data` document.
    pub fn ring_status(&self, i: usize) -> anyhow::Result<serde_json::Value> {
        let r = http::get(self.http_addr(i), "/api/v1/admin/ring/status")?;
        anyhow::ensure!(
            r.status == 200,
            "ring status answered {}: {}",
            r.status,
            r.text()
        );
        Ok(r.json()?["data"].clone())
    }

    /// Waits until node `i` reports the whole cluster stable at `version`.
    pub fn wait_ring_stable(
        &self,
        i: usize,
        version: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        wait_until(
            &format!("the cluster to be stable at topology version {version}"),
            timeout,
            || {
                let s = self.ring_status(i)?;
                let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
                Ok(s["state"] == "stable"
                    && s["current"]["version"] == version
                    && nodes.iter().all(|n| {
                        n["reachable"] == true
                            && n["current_version"] == version
                            && n["target_version"].is_null()
                    }))
            },
        )
        .with_context(|| {
            format!(
                "last status: {}",
                self.ring_status(i)
                    .map_or_else(|e| e.to_string(), |v| v.to_string())
            )
        })
    }

    // ---- addresses, files and certificates ----------------------------------------------

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if the cluster has no nodes (never, once started).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s id (`n{i+1}`).
    pub fn node_id(&self, i: usize) -> &str {
        &self.nodes[i].id
    }

    /// Node `i`'s zone.
    pub fn zone(&self, i: usize) -> &str {
        &self.nodes[i].zone
    }

    /// The index of the node with id `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Node `i`'s HTTP address.
    pub fn http_addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].ports.http
    }

    /// Node `i`'s QUIC address.
    pub fn quic_addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].ports.quic
    }

    /// Every node's HTTP address, in index order.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.ports.http).collect()
    }

    /// Every node's QUIC address, in index order (seeds for a client).
    pub fn quic_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.ports.quic).collect()
    }

    /// The cluster's temporary directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Node `i`'s directory (config, logs; data in `data/`).
    pub fn node_dir(&self, i: usize) -> &Path {
        &self.nodes[i].dir
    }

    /// Node `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("data")
    }

    /// The certificate directory: CA, every node's certificate, client `test`.
    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }

    /// The shared topology file.
    pub fn topology_path(&self) -> PathBuf {
        self.root.join("topology.toml")
    }

    /// The cluster's topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The client certificate files (`client-test.pem`).
    pub fn client_tls(&self) -> TlsFiles {
        TlsFiles::client(&self.certs_dir(), CLIENT_NAME)
    }

    /// A node's certificate files (to impersonate a peer).
    pub fn node_tls(&self, id: &str) -> TlsFiles {
        TlsFiles::node(&self.certs_dir(), id)
    }

    /// Issues (once) a certificate from this cluster's CA for another client or node.
    pub fn issue(&self, subject: &Subject) -> anyhow::Result<TlsFiles> {
        let dir = self.certs_dir();
        files::ensure_cert(&dir, subject)?;
        Ok(subject.files(&dir))
    }

    /// A certificate from *another* CA (`<tmp>/foreign-certs`, whose `ca.pem` is that CA):
    /// what an impostor presents. The cluster must refuse it.
    pub fn foreign_tls(&self, subject: &Subject) -> anyhow::Result<TlsFiles> {
        let dir = self.root.join("foreign-certs");
        files::ensure_cert(&dir, subject)?;
        Ok(subject.files(&dir))
    }

    // ---- logs -----------------------------------------------------------------------------

    /// Node `i`'s log (stderr of every start, each preceded by a `floe-tests:` marker line).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.join("floed.log")).unwrap_or_default()
    }

    /// The last lines of node `i`'s log.
    pub fn log_tail(&self, i: usize) -> String {
        tail(&self.nodes[i].dir.join("floed.log"), LOG_TAIL_LINES)
    }

    /// Fails if any node's log has a line with `panicked`, or an `ERROR` line that contains
    /// none of the `allowed` substrings. Call it at the end of every test.
    pub fn check_logs(&self, allowed: &[&str]) -> anyhow::Result<()> {
        let mut bad = Vec::new();
        for (i, slot) in self.nodes.iter().enumerate() {
            let log = self.log(i);
            bad.extend(
                unexpected_lines(&log, allowed)
                    .into_iter()
                    .map(|l| format!("{}: {l}", slot.id)),
            );
        }
        if !bad.is_empty() {
            let shown = bad.len().min(20);
            bail!(
                "{} unexpected ERROR/panic lines in the nodes' logs (allowed: {allowed:?}):\n{}",
                bad.len(),
                bad[..shown].join("\n")
            );
        }
        Ok(())
    }

    fn report_failure(&self) {
        for (i, slot) in self.nodes.iter().enumerate() {
            eprintln!(
                "---- floe-tests: log tail of {} ({}) ----\n{}",
                slot.id,
                slot.dir.join("floed.log").display(),
                self.log_tail(i)
            );
        }
    }

    // ---- HTTP conveniences ----------------------------------------------------------------

    /// Writes line protocol through node `i` (`db`, ms precision); the response, any status.
    pub fn write_lines(
        &self,
        i: usize,
        db: &str,
        lines: &str,
        consistency: Option<&str>,
    ) -> anyhow::Result<Response> {
        http::write_lines(self.http_addr(i), db, lines, consistency)
    }

    /// An instant query through node `i` that must answer a vector.
    pub fn query_vector(
        &self,
        i: usize,
        promql: &str,
        time_ms: i64,
        consistency: Option<&str>,
    ) -> anyhow::Result<Vec<VectorSample>> {
        http::query_vector(self.http_addr(i), promql, time_ms, consistency)
    }

    /// A metric of node `i` (summed over series whose labels include `labels`).
    pub fn metric(
        &self,
        i: usize,
        name: &str,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Option<f64>> {
        http::metric(self.http_addr(i), name, labels)
    }
}

/// Lines of a log that [`TestCluster::check_logs`] refuses.
pub fn unexpected_lines<'a>(log: &'a str, allowed: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| !l.starts_with(MARKER))
        .filter(|l| l.contains("panicked") || l.contains("ERROR"))
        .filter(|l| l.contains("panicked") || !allowed.iter().any(|a| l.contains(a)))
        .collect()
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for slot in &mut self.nodes {
            if let Some(mut p) = slot.process.take() {
                p.kill();
            }
        }
        if std::thread::panicking() {
            self.report_failure();
        }
        if std::env::var_os(KEEP_ENV).is_some()
            && let Some(tmp) = self.tmp.take()
        {
            eprintln!("floe-tests: kept {}", tmp.keep().display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_checked_against_the_allow_list() {
        let log = "floe-tests: start n1 ERROR-free marker\n\
            2026-01-01T00:00:00Z  INFO floe_node: started\n\
            2026-01-01T00:00:01Z ERROR floe_node::cluster: peer n3 unreachable\n\
            2026-01-01T00:00:02Z ERROR floe_node::engine: flush failed\n\
            thread 'main' panicked at src/x.rs:1:1\n";
        let bad = unexpected_lines(log, &["unreachable"]);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].contains("flush failed"));
        assert!(bad[1].contains("panicked"));
    }
}
