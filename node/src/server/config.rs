//! The daemon's configuration: a TOML file, `FLOE_*` environment variables and flags, in
//! increasing order of precedence. Every setting has a default that runs on a laptop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::engine::{EngineConfig, FsyncPolicy, RollupLevel};

/// Everything `floed` can be told. Unknown keys in the file are errors (a typo must not be
/// silently ignored).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Data directory (WAL, blocks, index). Created if missing. Default `./floe-data`.
    pub data_dir: PathBuf,
    /// HTTP listen address (Prometheus remote write, query API and remote read, InfluxDB line
    /// protocol, OpenTSDB `/api/put`, `/metrics`, `/healthz`, `/ready`). Default
    /// `127.0.0.1:8480`.
    pub http_listen: SocketAddr,
    /// Graphite plaintext TCP listen address; `""` disables. Default `127.0.0.1:2003`.
    pub graphite_listen: String,
    /// OpenTSDB telnet TCP listen address; `""` disables. Default `127.0.0.1:4242`.
    pub opentsdb_listen: String,
    /// Log format: `text` or `json`. Default `text`.
    pub log_format: String,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `floe_node=debug`. Default `info`.
    pub log_level: String,
    /// WAL fsync policy: `always`, `never` or `interval:<ms>`. Default `interval:100`.
    pub fsync: String,
    /// Time partition length, e.g. `2h`. Must divide a day. Default `2h`.
    pub partition: String,
    /// Flush the head to blocks at least this often. Default `5m`.
    pub flush_interval: String,
    /// ... or when it holds this many samples. Default 8,388,608.
    pub flush_max_samples: usize,
    /// How long after its end a partition still takes late data before it is compacted and
    /// rolled up. Default `1h`.
    pub late_grace: String,
    /// Bytes of decoded block chunks kept in memory for repeated reads; 0 disables the cache.
    /// Default 134,217,728 (128 MiB).
    pub chunk_cache_bytes: usize,
    /// Raw data retention. Default `15d`.
    pub raw_retention: String,
    /// Rollups as `resolution:retention`. Default `["1m:90d", "5m:365d", "1h:1825d"]`.
    pub rollups: Vec<String>,
    /// Request limits.
    pub limits: Limits,
    /// PromQL evaluation and the Prometheus query API.
    pub query: QueryConfig,
    /// Cluster membership (`docs/cluster.md`); empty `node_id`: a single node.
    pub cluster: crate::cluster::ClusterConfig,
}

/// Settings and limits of PromQL queries (`/api/v1/query`, `/api/v1/query_range`) and of
/// remote read. Exceeding a limit answers 422 (`execution`) naming it; nothing is truncated.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// How far back an instant vector selector looks for a sample (Prometheus's
    /// `--query.lookback-delta`); a request's `lookback_delta` argument overrides it.
    /// Default `5m`.
    pub lookback_delta: String,
    /// Longest evaluation; a request's `timeout` argument can only shorten it. Default `2m`.
    pub timeout: String,
    /// Most series one query (or remote read request) may read, summed over its selectors.
    /// Default 100,000.
    pub max_series: usize,
    /// Most samples one query (or remote read request) may read (Prometheus's
    /// `--query.max-samples`). Default 50,000,000.
    pub max_samples: usize,
    /// Most points (series × steps) any intermediate or final result may hold. Default
    /// 50,000,000.
    pub max_points: usize,
    /// Most steps of a range query, `(end - start) / step` (Prometheus: 11,000). Default 11,000.
    pub max_steps: usize,
    /// Prometheus 3's `promql-delayed-name-removal`: functions and operators that drop the
    /// metric name only mark their series, and the names go at the end of the evaluation, so
    /// multi-metric queries such as TSBS's `max(max_over_time({__name__=~"a|b"}[1m])) by
    /// (__name__)` answer one series per metric instead of a "same labelset" error.
    /// Default false: Prometheus 2.42's semantics (`docs/promql.md`).
    pub delayed_name_removal: bool,
    /// Most queries evaluating at once (Prometheus's `--query.max-concurrency`); more wait
    /// in line, up to 64 per worker, their wait counting against their timeout; beyond that
    /// a query is refused with 503. Default 20.
    pub max_concurrency: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        let d = floe_query::QueryOptions::default();
        Self {
            lookback_delta: "5m".into(),
            timeout: "2m".into(),
            max_series: d.max_series,
            max_samples: d.max_samples,
            max_points: d.max_points,
            max_steps: d.max_steps,
            delayed_name_removal: d.delayed_name_removal,
            max_concurrency: 20,
        }
    }
}

/// Limits on what one request may carry and on what the node holds. Exceeding one is a 4xx
/// naming the limit, and nothing of the request is stored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, after decompression, in bytes. Default 64 MiB.
    pub max_body_bytes: usize,
    /// Most samples in one request. Default 1,000,000.
    pub max_samples_per_request: usize,
    /// Most labels on one series (metric name not counted). Default 64.
    pub max_labels_per_series: usize,
    /// Longest label name, in bytes. Default 256.
    pub max_label_name_bytes: usize,
    /// Longest label value (and metric name), in bytes. Default 4096.
    pub max_label_value_bytes: usize,
    /// Most series this node holds; a request that would create more is refused. Default
    /// 10,000,000.
    pub max_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
            max_samples_per_request: 1_000_000,
            max_labels_per_series: 64,
            max_label_name_bytes: 256,
            max_label_value_bytes: 4096,
            max_series: 10_000_000,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./floe-data"),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8480)),
            graphite_listen: "127.0.0.1:2003".into(),
            opentsdb_listen: "127.0.0.1:4242".into(),
            log_format: "text".into(),
            log_level: "info".into(),
            fsync: "interval:100".into(),
            partition: "2h".into(),
            flush_interval: "5m".into(),
            flush_max_samples: 8 << 20,
            chunk_cache_bytes: 128 << 20,
            late_grace: "1h".into(),
            raw_retention: "15d".into(),
            rollups: vec!["1m:90d".into(), "5m:365d".into(), "1h:1825d".into()],
            limits: Limits::default(),
            query: QueryConfig::default(),
            cluster: crate::cluster::ClusterConfig::default(),
        }
    }
}

/// A configuration that cannot be used, with the setting it concerns.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting} = {value:?}: {reason}")]
pub struct ConfigError {
    /// The setting's name.
    pub setting: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

fn bad(setting: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `15d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms).map(Duration::from_millis)
}

fn duration(setting: &'static str, value: &str) -> Result<Duration, ConfigError> {
    parse_duration(value).ok_or_else(|| {
        bad(
            setting,
            value,
            "expected a number and a unit: ms, s, m, h or d (e.g. 2h)",
        )
    })
}

/// An optional listen address: `""` means disabled.
pub fn optional_addr(
    setting: &'static str,
    value: &str,
) -> Result<Option<SocketAddr>, ConfigError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|e| bad(setting, value, format!("not an address: {e}")))
}

impl ServerConfig {
    /// Parses a TOML configuration file's text.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The query options, checking the durations.
    pub fn query_options(&self) -> Result<floe_query::QueryOptions, ConfigError> {
        let q = &self.query;
        let lookback = duration("query.lookback_delta", &q.lookback_delta)?;
        let timeout = duration("query.timeout", &q.timeout)?;
        if lookback.is_zero() || timeout.is_zero() {
            let (setting, value) = if lookback.is_zero() {
                ("query.lookback_delta", &q.lookback_delta)
            } else {
                ("query.timeout", &q.timeout)
            };
            return Err(bad(setting, value, "must be more than zero"));
        }
        if q.max_concurrency == 0 {
            return Err(bad("query.max_concurrency", "0", "must be at least 1"));
        }
        Ok(floe_query::QueryOptions {
            lookback_ms: i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX),
            max_series: q.max_series,
            max_samples: q.max_samples,
            max_points: q.max_points,
            timeout,
            max_steps: q.max_steps,
            delayed_name_removal: q.delayed_name_removal,
        })
    }

    /// The storage engine's configuration, checking every duration and policy.
    pub fn engine(&self) -> Result<EngineConfig, ConfigError> {
        let mut c = EngineConfig::new(&self.data_dir);
        c.fsync = FsyncPolicy::parse(&self.fsync).ok_or_else(|| {
            bad(
                "fsync",
                &self.fsync,
                "expected always, never or interval:<ms>",
            )
        })?;
        c.partition_ms = duration("partition", &self.partition)?.as_millis() as i64;
        c.flush_interval = duration("flush_interval", &self.flush_interval)?;
        c.flush_max_samples = self.flush_max_samples;
        c.chunk_cache_bytes = self.chunk_cache_bytes;
        c.late_grace = duration("late_grace", &self.late_grace)?;
        c.raw_retention = duration("raw_retention", &self.raw_retention)?;
        c.rollups = self
            .rollups
            .iter()
            .map(|r| {
                let (res, ret) = r.split_once(':').ok_or_else(|| {
                    bad("rollups", r, "expected resolution:retention, e.g. 1m:90d")
                })?;
                Ok(RollupLevel {
                    resolution_ms: duration("rollups", res)?.as_millis() as i64,
                    retention: duration("rollups", ret)?,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        c.validate()
            .map_err(|reason| bad("partition/rollups", &self.partition, reason))?;
        self.query_options()?;
        self.cluster.settings()?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(bad("log_format", &self.log_format, "expected text or json"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("15d"), Some(Duration::from_secs(15 * 86400)));
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("3w"), None);
    }

    #[test]
    fn defaults_make_a_valid_engine_config() {
        let c = ServerConfig::default();
        let e = c.engine().expect("defaults are valid");
        assert_eq!(e.partition_ms, 7_200_000);
        assert_eq!(e.rollups.len(), 3);
        let q = c.query_options().expect("query defaults are valid");
        assert_eq!(q, floe_query::QueryOptions::default());
    }

    #[test]
    fn errors_name_the_setting() {
        let c = ServerConfig {
            fsync: "sometimes".into(),
            ..ServerConfig::default()
        };
        let e = c.engine().expect_err("bad fsync");
        assert!(e.to_string().contains("fsync"), "{e}");
        let e = ServerConfig::from_toml("data_dri = \"x\"").expect_err("typo");
        assert!(e.to_string().contains("data_dri"), "{e}");
    }

    #[test]
    fn the_example_config_in_docs_parses() {
        let text = include_str!("../../../docs/floed.example.toml");
        let c = ServerConfig::from_toml(text).expect("example parses");
        c.engine().expect("example is valid");
        // The example spells out every default, so it documents them and cannot drift.
        assert_eq!(c, ServerConfig::default());
    }
}
