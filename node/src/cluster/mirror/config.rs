//! The `[[cluster.mirror]]` tables of floed's configuration: one per target cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

use floe_storage_format::SeriesKey;
use floe_wire::TlsFiles;
use floe_wire::proto::Consistency;
use serde::Deserialize;

use crate::index::{METRIC_NAME_LABEL, Matcher};
use crate::server::config::ConfigError;

/// Default bound of a target's journal: 1 GiB.
pub(crate) const DEFAULT_MIRROR_JOURNAL_BYTES: u64 = 1 << 30;
/// Smallest accepted `journal_max_bytes`: 1 MiB.
pub(crate) const MIN_MIRROR_JOURNAL_BYTES: u64 = 1 << 20;
/// Longest target name.
const MAX_NAME_LEN: usize = 64;

/// One other Floe cluster that receives a copy of every write this node coordinates
/// (`docs/mirroring.md`). Unknown keys are errors.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// The target's name: 1–64 of `a-z`, `0-9`, `_`, `-`; unique. It names the journal
    /// directory (`<data_dir>/mirror/<name>/`) and the `target` label of the metrics.
    pub name: String,
    /// QUIC addresses (`IP:PORT`) of some nodes of the target cluster; the first that answers
    /// gives the target's topology. At least one.
    pub seeds: Vec<String>,
    /// The TARGET cluster's CA certificate (PEM).
    pub ca: String,
    /// A client certificate issued by the target's CA (`floectl certs issue --client`).
    pub cert: String,
    /// Its private key.
    pub key: String,
    /// A PromQL series selector (e.g. `{__name__=~"cpu_.*",env="prod"}`): only the series it
    /// selects are mirrored. Default `""`: every series.
    #[serde(rename = "match", default)]
    pub filter: String,
    /// Owners of the target that must store a mirrored write before it counts as sent: `one`,
    /// `quorum` or `all`. Default `quorum`.
    #[serde(default = "default_consistency")]
    pub consistency: String,
    /// Most bytes held in this target's journal; beyond it, writes are not mirrored to it
    /// (counted and logged). Default 1 GiB; at least 1 MiB.
    #[serde(default = "default_journal_bytes")]
    pub journal_max_bytes: u64,
}

fn default_consistency() -> String {
    "quorum".into()
}

fn default_journal_bytes() -> u64 {
    DEFAULT_MIRROR_JOURNAL_BYTES
}

/// One target's checked settings.
#[derive(Debug, Clone)]
pub struct MirrorSettings {
    /// The target's name.
    pub name: String,
    /// Seeds of the target cluster.
    pub seeds: Vec<SocketAddr>,
    /// The target's CA and this node's client certificate for it.
    pub tls: TlsFiles,
    /// Which series are mirrored (`None`: all).
    pub filter: Option<SeriesFilter>,
    /// Write consistency asked of the target.
    pub consistency: Consistency,
    /// Journal bound.
    pub journal_max_bytes: u64,
}

/// A series selector compiled to matcher sets: a series passes when every matcher of at
/// least one set matches it (`or` inside braces gives several sets).
#[derive(Debug, Clone)]
pub struct SeriesFilter {
    text: String,
    sets: Vec<Vec<Matcher>>,
}

impl SeriesFilter {
    /// Parses a PromQL series selector with the parser of `/api/v1/series`'s `match[]`.
    pub fn parse(text: &str) -> Result<SeriesFilter, String> {
        const PREFIX: &str = "invalid parameter \"match[]\": ";
        let sets = crate::query::parse_match_params(&[text])
            .map_err(|e| e.strip_prefix(PREFIX).unwrap_or(&e).to_string())?;
        Ok(SeriesFilter {
            text: text.trim().to_string(),
            sets,
        })
    }

    /// Whether `key` is selected. A label the series lacks is tested as `""`.
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.sets.iter().any(|set| {
            set.iter().all(|m| {
                let value = if m.name() == METRIC_NAME_LABEL {
                    key.name()
                } else {
                    key.label(m.name()).unwrap_or("")
                };
                m.matches(value)
            })
        })
    }

    /// The selector as configured.
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn bad(
    setting: &'static str,
    value: &str,
    name: &str,
    reason: impl std::fmt::Display,
) -> ConfigError {
    ConfigError {
        setting,
        value: value.to_string(),
        reason: format!("mirror {name:?}: {reason}"),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(ok_char) {
        return Err(format!(
            "a mirror name is 1 to {MAX_NAME_LEN} characters of a-z, 0-9, _ and -"
        ));
    }
    Ok(())
}

impl MirrorConfig {
    /// The checked settings of this table.
    pub fn settings(&self) -> Result<MirrorSettings, ConfigError> {
        let name = self.name.as_str();
        check_name(name).map_err(|r| bad("cluster.mirror.name", name, name, r))?;
        if self.seeds.is_empty() {
            return Err(bad(
                "cluster.mirror.seeds",
                "[]",
                name,
                "give the QUIC address (IP:PORT) of at least one node of the target cluster",
            ));
        }
        let mut seeds = Vec::with_capacity(self.seeds.len());
        for s in &self.seeds {
            let addr = s.trim().parse::<SocketAddr>().map_err(|e| {
                bad(
                    "cluster.mirror.seeds",
                    s,
                    name,
                    format!("not an IP:PORT address: {e}"),
                )
            })?;
            seeds.push(addr);
        }
        let file = |setting: &'static str, value: &str, what: &str| {
            if value.trim().is_empty() {
                Err(bad(setting, value, name, format!("{what} is required")))
            } else {
                Ok(PathBuf::from(value))
            }
        };
        let tls = TlsFiles {
            ca: file(
                "cluster.mirror.ca",
                &self.ca,
                "the target cluster's CA (PEM)",
            )?,
            cert: file(
                "cluster.mirror.cert",
                &self.cert,
                "a client certificate of the target's CA",
            )?,
            key: file(
                "cluster.mirror.key",
                &self.key,
                "the client certificate's key",
            )?,
        };
        let filter = if self.filter.trim().is_empty() {
            None
        } else {
            Some(
                SeriesFilter::parse(&self.filter)
                    .map_err(|r| bad("cluster.mirror.match", &self.filter, name, r))?,
            )
        };
        let consistency = self
            .consistency
            .parse()
            .map_err(|r: String| bad("cluster.mirror.consistency", &self.consistency, name, r))?;
        if self.journal_max_bytes < MIN_MIRROR_JOURNAL_BYTES {
            return Err(bad(
                "cluster.mirror.journal_max_bytes",
                &self.journal_max_bytes.to_string(),
                name,
                format!("at least {MIN_MIRROR_JOURNAL_BYTES} (1 MiB)"),
            ));
        }
        Ok(MirrorSettings {
            name: name.to_string(),
            seeds,
            tls,
            filter,
            consistency,
            journal_max_bytes: self.journal_max_bytes,
        })
    }
}

/// Checks every `[[cluster.mirror]]` table, and that names are unique. `cluster_mode` is
/// false on a node without a `node_id`: mirroring needs cluster mode, so any table is then
/// an error.
pub(crate) fn mirror_settings(
    configs: &[MirrorConfig],
    cluster_mode: bool,
) -> Result<Vec<MirrorSettings>, ConfigError> {
    if let Some(first) = configs.first()
        && !cluster_mode
    {
        return Err(bad(
            "cluster.mirror",
            &first.name,
            &first.name,
            "mirroring needs cluster mode: set cluster.node_id (a single machine can run as a \
             one-node cluster; docs/mirroring.md)",
        ));
    }
    let mut out: Vec<MirrorSettings> = Vec::with_capacity(configs.len());
    for c in configs {
        let s = c.settings()?;
        if out.iter().any(|o| o.name == s.name) {
            return Err(bad(
                "cluster.mirror.name",
                &s.name,
                &s.name,
                "two [[cluster.mirror]] tables have this name",
            ));
        }
        out.push(s);
    }
    Ok(out)
}
