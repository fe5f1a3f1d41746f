//! What the convergence tests and benchmark share: a generated stream of samples (with some
//! corrections at a newer version), its expected digest by the merge rule, a scrambled replay
//! of it (shuffled, with duplicates and late arrivals), and the cluster digest of a cluster.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use floe_datagen::{Config, Generator, ValueMode, metric_name};
use floe_storage_format::{Digest, Sample, SeriesKey, normalize};
use serde_json::Value;

use crate::http;
use crate::{BlockingClient, TestCluster};

/// One sample of a stream.
pub type Row = (SeriesKey, Sample);

/// A deterministic PRNG (SplitMix64): reproducible shuffles without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The generated stream: `hosts × 10` series (TSBS cpu shape) of `points` points every 10 s
/// from `start_ms`, in series then time order, plus a correction (version 1, another value)
/// of every 50th sample appended at the end.
pub fn stream(hosts: u32, points: u32, start_ms: i64) -> Result<Vec<Row>> {
    let generator = Generator::new(Config {
        hosts,
        points,
        start_ms,
        mode: ValueMode::Float2,
        ..Config::default()
    })?;
    let mut rows = Vec::new();
    for host in 0..hosts {
        let hs = generator.host_series(host);
        for (f, values) in hs.fields.iter().enumerate() {
            let name = metric_name(f).context("field name")?;
            let key = SeriesKey::new(name, hs.tags.iter().map(|(k, v)| (*k, v.as_str())))?;
            for (&ts, &v) in hs.timestamps.iter().zip(values) {
                rows.push((key.clone(), Sample::new(ts, v, 0)));
            }
        }
    }
    let corrections: Vec<Row> = rows
        .iter()
        .step_by(50)
        .map(|(k, s)| (k.clone(), Sample::new(s.ts, s.value + 0.5, 1)))
        .collect();
    rows.extend(corrections);
    Ok(rows)
}

/// The stream replayed badly: shuffled, 10 % of it sent twice, and 10 % held back and sent
/// last (late arrivals, older than much of what came before them).
pub fn scrambled(rows: &[Row], seed: u64) -> Vec<Row> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Row> = rows.to_vec();
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i + 1));
    }
    let dupes: Vec<Row> = (0..rows.len() / 10)
        .map(|_| rows[rng.below(rows.len())].clone())
        .collect();
    for d in dupes {
        let at = rng.below(out.len() + 1);
        out.insert(at, d);
    }
    let mut late = Vec::new();
    let mut kept = Vec::with_capacity(out.len());
    for r in out {
        if rng.below(10) == 0 {
            late.push(r);
        } else {
            kept.push(r);
        }
    }
    kept.extend(late);
    kept
}

/// `(stored samples, digest)` of `rows` after the merge rule: what a cluster fed them holds.
pub fn expected_digest(rows: &[Row]) -> (u64, u128) {
    let mut per: BTreeMap<SeriesKey, Vec<Sample>> = BTreeMap::new();
    for (k, s) in rows {
        per.entry(k.clone()).or_default().push(*s);
    }
    let (mut n, mut d) = (0u64, Digest::EMPTY);
    for (k, mut samples) in per {
        normalize(&mut samples);
        n += samples.len() as u64;
        let id = k.id();
        samples.iter().for_each(|s| d.add_sample(id, s));
    }
    (n, d.0)
}

/// Writes `rows` through `client` in batches of `batch` samples.
pub fn write_rows(client: &BlockingClient, rows: &[Row], batch: usize) -> Result<()> {
    for chunk in rows.chunks(batch) {
        client.write(chunk).context("write through floe-client")?;
    }
    Ok(())
}

/// The cluster digest computed by the node at `addr` (`GET /api/v1/admin/digest`): the data
/// object of the answer.
pub fn cluster_digest(addr: SocketAddr) -> Result<Value> {
    let r = http::get(addr, "/api/v1/admin/digest")?;
    if !r.is_success() {
        bail!("digest from {addr}: HTTP {}: {}", r.status, r.text());
    }
    Ok(r.json()?["data"].clone())
}

/// `(samples, digest)` of a cluster digest answer.
pub fn total(d: &Value) -> (u64, u128) {
    let digest = d["digest"]
        .as_str()
        .and_then(|s| u128::from_str_radix(s, 16).ok())
        .unwrap_or(0);
    (d["samples"].as_u64().unwrap_or(0), digest)
}

/// One `[[cluster.mirror]]` table: mirror to `target` with its client certificate `tls`, only
/// the series `filter` selects when given (`docs/mirroring.md`).
pub fn mirror_table(
    name: &str,
    target: &TestCluster,
    tls: floe_wire::TlsFiles,
    filter: Option<&str>,
) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("name".into(), name.into());
    let seeds: Vec<toml::Value> = target
        .quic_addrs()
        .iter()
        .map(|a| a.to_string().into())
        .collect();
    t.insert("seeds".into(), toml::Value::Array(seeds));
    for (k, p) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
        t.insert(k.into(), p.to_string_lossy().into_owned().into());
    }
    if let Some(f) = filter {
        t.insert("match".into(), f.into());
    }
    t
}

/// A config override (`[cluster] mirror = [...]`) with these mirror tables, to merge into a
/// [`crate::ClusterSpec`]'s config.
pub fn mirror_config(tables: &[toml::Table]) -> toml::Table {
    let mirrors = tables.iter().cloned().map(toml::Value::Table).collect();
    let mut cluster = toml::Table::new();
    cluster.insert("mirror".into(), toml::Value::Array(mirrors));
    let mut over = toml::Table::new();
    over.insert("cluster".into(), toml::Value::Table(cluster));
    over
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrambled_replay_has_the_same_expected_digest() {
        let rows = stream(2, 30, 1_700_000_000_000).expect("stream");
        assert_eq!(rows.len(), 600 + 12);
        let mixed = scrambled(&rows, 7);
        assert!(mixed.len() > rows.len());
        assert_ne!(mixed[..10], rows[..10]);
        assert_eq!(expected_digest(&mixed), expected_digest(&rows));
        assert_eq!(expected_digest(&rows).0, 600, "corrections replace samples");
        // A missing sample changes it.
        assert_ne!(expected_digest(&rows[2..]), expected_digest(&rows));
    }
}
