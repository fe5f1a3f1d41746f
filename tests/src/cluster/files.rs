//! The files of a test cluster: certificates, the topology document and each node's config.

use std::path::{Path, PathBuf};

use anyhow::Context;
use floe_ctl::certs::{self, Options, Subject};
use floe_ring::{Node, Topology};

use crate::ports::NodePorts;

/// Name of the client certificate every test cluster issues (`client-test.pem`).
pub const CLIENT_NAME: &str = "test";

/// Validity of test certificates, days.
const DAYS: u32 = 30;

/// Writes a CA and certificates for `nodes` and the clients `clients` into `dir`.
pub(crate) fn make_certs(dir: &Path, nodes: &[String], clients: &[&str]) -> anyhow::Result<()> {
    let opts = Options {
        force: false,
        days: DAYS,
    };
    certs::init(dir, opts).with_context(|| format!("create a CA in {}", dir.display()))?;
    let subjects = nodes
        .iter()
        .map(|id| Subject::Node(id.clone()))
        .chain(clients.iter().map(|c| Subject::Client((*c).to_string())));
    for s in subjects {
        certs::issue(dir, &s, opts).with_context(|| format!("issue a certificate for {s:?}"))?;
    }
    Ok(())
}

/// Issues one more certificate in `dir` (a CA must be there), unless it exists.
pub(crate) fn ensure_cert(dir: &Path, subject: &Subject) -> anyhow::Result<()> {
    if subject.files(dir).cert.exists() {
        return Ok(());
    }
    if !dir.join(floe_wire::tls::CA_CERT_FILE).exists() {
        certs::init(
            dir,
            Options {
                force: false,
                days: DAYS,
            },
        )
        .with_context(|| format!("create a CA in {}", dir.display()))?;
    }
    let opts = Options {
        force: false,
        days: DAYS,
    };
    certs::issue(dir, subject, opts)
        .with_context(|| format!("issue a certificate for {subject:?}"))?;
    Ok(())
}

/// The topology of a cluster with these node ids, zones and ports.
pub(crate) fn topology(
    name: &str,
    version: u64,
    replication_factor: u32,
    vnodes_per_weight: u32,
    nodes: &[(String, String, NodePorts)],
) -> anyhow::Result<Topology> {
    let nodes = nodes
        .iter()
        .map(|(id, zone, ports)| Node {
            id: id.clone(),
            zone: zone.clone(),
            quic_addr: ports.quic,
            http_addr: ports.http,
            weight: 1,
        })
        .collect();
    Topology::new(name, version, replication_factor, vnodes_per_weight, nodes)
        .context("build the test topology")
}

/// Writes `topology` to `path`, checking that it parses back to the same document.
pub(crate) fn write_topology(path: &Path, topology: &Topology) -> anyhow::Result<()> {
    let text = topology.to_toml();
    let back = Topology::parse(&text).context("parse the topology just written")?;
    anyhow::ensure!(
        back == *topology,
        "topology does not round-trip through TOML"
    );
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// What one node's configuration file says.
#[derive(Debug, Clone)]
pub(crate) struct NodeConfig<'a> {
    /// Node id.
    pub(crate) id: &'a str,
    /// Data directory.
    pub(crate) data_dir: PathBuf,
    /// HTTP listen address (its topology `http_addr`).
    pub(crate) http: std::net::SocketAddr,
    /// Topology file.
    pub(crate) topology: &'a Path,
    /// Certificate directory.
    pub(crate) certs_dir: &'a Path,
    /// WAL fsync policy.
    pub(crate) fsync: &'a str,
    /// Log filter.
    pub(crate) log_level: &'a str,
}

/// The node's configuration: the generated settings, then `overrides` merged in order (a
/// table merges key by key, anything else replaces).
pub(crate) fn node_config(c: &NodeConfig<'_>, overrides: &[&toml::Table]) -> toml::Table {
    let mut cluster = toml::Table::new();
    cluster.insert("node_id".into(), c.id.into());
    cluster.insert("topology".into(), path_value(c.topology));
    cluster.insert("certs_dir".into(), path_value(c.certs_dir));
    let mut t = toml::Table::new();
    t.insert("data_dir".into(), path_value(&c.data_dir));
    t.insert("http_listen".into(), c.http.to_string().into());
    t.insert("graphite_listen".into(), "".into());
    t.insert("opentsdb_listen".into(), "".into());
    t.insert("log_format".into(), "text".into());
    t.insert("log_level".into(), c.log_level.into());
    t.insert("fsync".into(), c.fsync.into());
    t.insert("cluster".into(), toml::Value::Table(cluster));
    for o in overrides {
        merge(&mut t, o);
    }
    t
}

fn path_value(p: &Path) -> toml::Value {
    p.to_string_lossy().into_owned().into()
}

/// Merges `over` into `base`: tables key by key, other values replace.
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_merge_into_tables() {
        let c = NodeConfig {
            id: "n1",
            data_dir: "/d".into(),
            http: "127.0.0.1:1".parse().expect("addr"),
            topology: Path::new("/t.toml"),
            certs_dir: Path::new("/c"),
            fsync: "always",
            log_level: "info",
        };
        let o: toml::Table =
            toml::from_str("fsync = \"never\"\n[cluster]\nhedge_delay = \"5ms\"").expect("toml");
        let t = node_config(&c, &[&o]);
        assert_eq!(t["fsync"].as_str(), Some("never"));
        assert_eq!(t["cluster"]["hedge_delay"].as_str(), Some("5ms"));
        assert_eq!(t["cluster"]["node_id"].as_str(), Some("n1"));
    }
}
