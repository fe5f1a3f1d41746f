//! Making each system persist and compact what it holds, then measuring its data on disk.
//!
//! - Floe: SIGTERM (floed flushes its head into blocks and fsyncs before it exits), then a
//!   restart on the same directory, whose background thread compacts every closed partition
//!   within seconds; settled once `floe_engine_blocks` and `floe_engine_compactions_total` stay
//!   unchanged for 3 s. The whole data directory is measured.
//! - VictoriaMetrics: `/internal/force_flush`, then `/internal/force_merge` (asynchronous);
//!   settled once `vm_active_force_merges` and every `vm_active_merges` are 0 and the directory
//!   size is unchanged for 2 s. The whole `-storageDataPath` is measured.
//! - Prometheus: `POST /api/v1/admin/tsdb/snapshot` (head included) writes every sample held
//!   as blocks (persisted blocks are hard-linked, the head is written as a new block); the
//!   snapshot directory is measured. The live directory (WAL, head chunks, blocks) is reported
//!   beside it.
//! - InfluxDB: nothing to call; with the cold durations of `systems::start_influx` it snapshots
//!   its cache and fully compacts the shard by itself. Settled once every cache is empty, no
//!   compaction is active or queued, the WAL is empty, at least the full-compaction cold
//!   duration has passed and the TSM file set is unchanged for 5 s (`/debug/vars`). The whole
//!   directory (meta, data, WAL) is measured.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use floe_storage_format::manifest::BlockKind;

use super::super::http::Conn;
use super::super::process::{Server, cpu_seconds};
use super::System;
use super::systems::{INFLUX_FULL_COLD, Instance, start, stop_gracefully};

/// Bytes under a directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskBytes {
    /// Per file the smaller of its length and its allocated blocks: the data it holds, neither
    /// the holes of a sparse, preallocated file (InfluxDB's series file) nor the slack of its
    /// last block. The figure reported as bytes on disk.
    pub stored: u64,
    /// Sum of file lengths.
    pub apparent: u64,
    /// Sum of allocated blocks (what `du` says).
    pub allocated: u64,
    pub files: u64,
}

/// Walks `dir` (symbolic links are not followed) and sums its files.
pub fn disk_bytes(dir: &Path) -> DiskBytes {
    let mut total = DiskBytes::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                let allocated = m.blocks() * 512;
                total.apparent += m.len();
                total.allocated += allocated;
                total.stored += m.len().min(allocated);
                total.files += 1;
            }
        }
    }
    total
}

/// What persisting one system took and what it left on disk.
#[derive(Debug, Clone)]
pub struct Persisted {
    pub seconds: f64,
    /// Server CPU seconds spent persisting and compacting.
    pub cpu_s: f64,
    /// The directory measured.
    pub measured: PathBuf,
    pub bytes: DiskBytes,
    /// Whether the system reached its settled state before the time limit.
    pub settled: bool,
    /// Bytes of Floe's rollup blocks (part of `bytes`), from its manifest.
    pub rollup_bytes: Option<u64>,
    /// System-specific remarks (e.g. Prometheus's out-of-order samples), for the report.
    pub notes: Vec<String>,
}

/// Persists and compacts `system`'s data; `server` may be replaced by a restarted process.
pub fn persist(system: System, server: &mut Server, inst: &Instance) -> Persisted {
    let t = Instant::now();
    let cpu0 = cpu_seconds(server.pid());
    let mut rollup_bytes = None;
    let (cpu_s, measured, settled, notes) = match system {
        System::Floe => {
            let (cpu_exit, _) = stop_gracefully(server);
            *server = start(System::Floe, inst);
            let pid = server.pid();
            let settled = settle(server.http, Duration::from_secs(3), floe_state);
            (
                cpu_exit - cpu0 + cpu_seconds(pid),
                inst.data.clone(),
                settled,
                floe_notes(&inst.data, &mut rollup_bytes),
            )
        }
        System::VictoriaMetrics => {
            get_ok(server.http, "/internal/force_flush");
            get_ok(server.http, "/internal/force_merge");
            let dir = inst.data.clone();
            let settled = settle(server.http, Duration::from_secs(2), |c| vm_state(c, &dir));
            (
                cpu_seconds(server.pid()) - cpu0,
                inst.data.clone(),
                settled,
                Vec::new(),
            )
        }
        System::Prometheus => {
            let r = Conn::new(server.http).post("/api/v1/admin/tsdb/snapshot", "", b"");
            assert_eq!(r.status, 200, "Prometheus snapshot: {}", r.text());
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("snapshot JSON");
            let name = v["data"]["name"].as_str().expect("snapshot name");
            let snap = inst.data.join("snapshots").join(name);
            let notes = prometheus_notes(server.http, &inst.data);
            (cpu_seconds(server.pid()) - cpu0, snap, true, notes)
        }
        System::InfluxDb => {
            let settled = influx_settle(server.http);
            (
                cpu_seconds(server.pid()) - cpu0,
                inst.data.clone(),
                settled,
                Vec::new(),
            )
        }
    };
    Persisted {
        seconds: t.elapsed().as_secs_f64(),
        cpu_s,
        bytes: disk_bytes(&measured),
        measured,
        settled,
        rollup_bytes,
        notes,
    }
}

/// The longest wait for a system to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

/// Polls `state` every 500 ms until it returns `Some` of the same value for `stable`, or
/// `None` (not yet) resets; false when `SETTLE_LIMIT` passed first.
fn settle<S: PartialEq>(
    addr: std::net::SocketAddr,
    stable: Duration,
    mut state: impl FnMut(&mut Conn) -> Option<S>,
) -> bool {
    let t = Instant::now();
    let mut conn = Conn::new(addr);
    let mut last: Option<(S, Instant)> = None;
    while t.elapsed() < SETTLE_LIMIT {
        match state(&mut conn) {
            Some(s) => match &last {
                Some((prev, since)) if *prev == s => {
                    if since.elapsed() >= stable {
                        return true;
                    }
                }
                _ => last = Some((s, Instant::now())),
            },
            None => last = None,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

fn get_ok(addr: std::net::SocketAddr, path: &str) {
    let r = Conn::new(addr).get(path);
    assert!(
        (200..300).contains(&r.status),
        "{path} answered {}: {}",
        r.status,
        r.text()
    );
}

/// Sum of the samples of metric `name` (any labels) in Prometheus text format.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn metrics(conn: &mut Conn) -> String {
    conn.get("/metrics").text()
}

fn floe_state(conn: &mut Conn) -> Option<(u64, u64)> {
    let m = metrics(conn);
    Some((
        metric_sum(&m, "floe_engine_blocks") as u64,
        metric_sum(&m, "floe_engine_compactions_total") as u64,
    ))
}

fn vm_state(conn: &mut Conn, dir: &Path) -> Option<u64> {
    let m = metrics(conn);
    let busy = metric_sum(&m, "vm_active_force_merges") + metric_sum(&m, "vm_active_merges");
    (busy == 0.0).then(|| disk_bytes(dir).apparent)
}

/// Where Floe's bytes are, from its manifest: raw blocks by compaction level, rollup blocks by
/// resolution, and the rest (label index checkpoint, WAL, manifest).
fn floe_notes(data: &Path, rollup_bytes: &mut Option<u64>) -> Vec<String> {
    let Ok(Some(m)) = floe_storage_format::manifest::Manifest::read(data) else {
        return vec!["no MANIFEST".into()];
    };
    let mut raw: BTreeMap<u8, (usize, u64, u64)> = BTreeMap::new();
    let mut rollup: BTreeMap<i64, (usize, u64)> = BTreeMap::new();
    for b in &m.blocks {
        match b.kind {
            BlockKind::Raw => {
                let e = raw.entry(b.level).or_default();
                (e.0, e.1, e.2) = (e.0 + 1, e.1 + b.bytes, e.2 + b.samples);
            }
            BlockKind::Rollup { resolution_ms } => {
                let e = rollup.entry(resolution_ms).or_default();
                (e.0, e.1) = (e.0 + 1, e.1 + b.bytes);
            }
        }
    }
    let blocks: u64 = m.blocks.iter().map(|b| b.bytes).sum();
    *rollup_bytes = Some(rollup.values().map(|(_, b)| b).sum());
    let mut parts: Vec<String> = raw
        .iter()
        .map(|(level, (n, bytes, samples))| {
            format!(
                "raw level {level}: {n} blocks, {bytes} B ({:.3} B/sample)",
                *bytes as f64 / (*samples).max(1) as f64
            )
        })
        .collect();
    parts.extend(
        rollup
            .iter()
            .map(|(res, (n, bytes))| format!("rollup {} s: {n} blocks, {bytes} B", res / 1000)),
    );
    let other = disk_bytes(data).stored.saturating_sub(blocks);
    parts.push(format!("index, WAL and manifest {other} B"));
    vec![parts.join(", ")]
}

/// Prometheus's own counts of samples that took the out-of-order path or were refused, and
/// the size of its live directory.
fn prometheus_notes(addr: std::net::SocketAddr, data: &Path) -> Vec<String> {
    let m = metrics(&mut Conn::new(addr));
    let live = disk_bytes(data).stored - disk_bytes(&data.join("snapshots")).stored;
    vec![
        format!(
            "out-of-order samples appended {}, refused as out of order {}, out of bounds {}",
            metric_sum(
                &m,
                "prometheus_tsdb_head_out_of_order_samples_appended_total"
            ),
            metric_sum(&m, "prometheus_tsdb_out_of_order_samples_total"),
            metric_sum(&m, "prometheus_tsdb_out_of_bound_samples_total"),
        ),
        format!("live directory (WAL, head chunks, blocks) {live} bytes"),
    ]
}

/// InfluxDB's `/debug/vars` reduced to (busy, file set): busy while a cache holds data, a
/// compaction is active or queued, or the WAL holds bytes.
fn influx_state(conn: &mut Conn) -> Option<BTreeMap<String, (u64, u64)>> {
    let r = conn.get("/debug/vars");
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    let mut files = BTreeMap::new();
    for (key, stat) in v.as_object()? {
        let values = &stat["values"];
        let n = |f: &str| values[f].as_f64().unwrap_or(0.0);
        if key.starts_with("tsm1_cache:") && n("memBytes") > 0.0 {
            return None;
        }
        if key.starts_with("tsm1_wal:")
            && n("currentSegmentDiskBytes") + n("oldSegmentsDiskBytes") > 0.0
        {
            return None;
        }
        if key.starts_with("tsm1_engine:") {
            let busy: f64 = values
                .as_object()?
                .iter()
                .filter(|(k, _)| k.ends_with("Active") || k.ends_with("Queue"))
                .filter_map(|(_, v)| v.as_f64())
                .sum();
            if busy > 0.0 {
                return None;
            }
        }
        if key.starts_with("tsm1_filestore:") {
            files.insert(key.clone(), (n("numFiles") as u64, n("diskBytes") as u64));
        }
    }
    Some(files)
}

fn influx_settle(addr: std::net::SocketAddr) -> bool {
    let cold: u64 = INFLUX_FULL_COLD
        .trim_end_matches('s')
        .parse()
        .expect("cold duration in seconds");
    std::thread::sleep(Duration::from_secs(cold + 2));
    settle(addr, Duration::from_secs(5), influx_state)
}
