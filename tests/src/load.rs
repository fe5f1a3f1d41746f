//! A sample stream for a running cluster: `floe-datagen`'s TSBS-shaped cpu data as InfluxDB
//! line protocol, written over HTTP (`POST /write`) through the nodes in turn. Used by the
//! `floe-load` binary (which `scripts/cluster` runs) and by tests that want realistic data.
//!
//! The data ends at the present: a backfill of the last `backfill` (so queries at "now" find
//! data at once), then, with `follow`, one row per host every interval as time passes.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use floe_datagen::{Config, FIELDS, Generator, MEASUREMENT, Row, ValueMode};

use crate::http;

/// What to load and where.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Nodes to write through, in turn (one batch each).
    pub addrs: Vec<SocketAddr>,
    /// The `db` label of every series.
    pub db: String,
    /// Hosts; each has 10 series.
    pub hosts: u32,
    /// Spacing of points, ms.
    pub interval_ms: i64,
    /// How far back the data starts, ms.
    pub backfill_ms: i64,
    /// Keep writing as time passes (until killed), after the backfill.
    pub follow: bool,
    /// Rows (of 10 samples) per request.
    pub batch_rows: usize,
    /// `consistency` argument of each write, if any.
    pub consistency: Option<String>,
    /// Datagen seed.
    pub seed: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], 8480))],
            db: "floe".into(),
            hosts: 50,
            interval_ms: 10_000,
            backfill_ms: 3_600_000,
            follow: false,
            batch_rows: 500,
            consistency: None,
            seed: 1,
        }
    }
}

/// What a load wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Samples acknowledged.
    pub samples: u64,
    /// Requests sent.
    pub requests: u64,
    /// Distinct series.
    pub series: u64,
    /// First timestamp written, ms.
    pub first_ms: i64,
    /// Last timestamp written, ms.
    pub last_ms: i64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The datagen configuration of a load ending at `end_ms` (aligned down to the interval);
/// with `follow`, a week more of points after it.
pub fn datagen_config(cfg: &LoadConfig, end_ms: i64) -> anyhow::Result<Config> {
    anyhow::ensure!(cfg.interval_ms > 0, "interval must be > 0");
    let end = end_ms - end_ms.rem_euclid(cfg.interval_ms);
    let back =
        u32::try_from(cfg.backfill_ms / cfg.interval_ms).context("backfill has too many points")?;
    let ahead = if cfg.follow {
        u32::try_from(7 * 86_400_000 / cfg.interval_ms).unwrap_or(u32::MAX / 2)
    } else {
        0
    };
    Ok(Config {
        seed: cfg.seed,
        hosts: cfg.hosts,
        start_ms: end - i64::from(back) * cfg.interval_ms,
        interval_ms: cfg.interval_ms,
        points: back + 1 + ahead,
        mode: ValueMode::Float2,
    })
}

/// `cpu,<tag>=<value>,…` of each host (tags escaped for line protocol).
pub fn series_prefixes(generator: &Generator) -> Vec<String> {
    (0..generator.config().hosts)
        .map(|h| {
            let mut s = MEASUREMENT.to_string();
            for (k, v) in generator.host_tags(h) {
                s.push(',');
                s.push_str(&escape_tag(k));
                s.push('=');
                s.push_str(&escape_tag(&v));
            }
            s
        })
        .collect()
}

/// Escapes a measurement, tag key or tag value: `,`, `=`, space and `\`.
pub fn escape_tag(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Appends one line: `<prefix> usage_user=…,… <ts>` (ms precision).
pub fn push_row(out: &mut String, prefix: &str, row: &Row) {
    out.push_str(prefix);
    for (i, (field, value)) in FIELDS.iter().zip(row.values).enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        out.push_str(field);
        out.push('=');
        out.push_str(&value.to_string());
    }
    out.push(' ');
    out.push_str(&row.ts.to_string());
    out.push('\n');
}

/// Writes the stream; `progress` is called after each request. Returns when the backfill is
/// written (or never, with `follow`, unless a write fails).
pub fn load(cfg: &LoadConfig, mut progress: impl FnMut(&LoadReport)) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(!cfg.addrs.is_empty(), "no address to write to");
    let generator = Generator::new(datagen_config(cfg, now_ms())?).context("datagen config")?;
    let prefixes = series_prefixes(&generator);
    let mut report = LoadReport {
        series: u64::from(cfg.hosts) * FIELDS.len() as u64,
        first_ms: generator.config().start_ms,
        ..LoadReport::default()
    };
    let mut body = String::new();
    let mut rows_in_body = 0;
    for row in generator.rows() {
        let wait_ms = row.ts - now_ms();
        if wait_ms > 0 {
            if !cfg.follow {
                break;
            }
            if rows_in_body > 0 {
                send(cfg, &mut body, &mut report, rows_in_body)?;
                rows_in_body = 0;
                progress(&report);
            }
            // Pacing a live stream to the clock (not synchronisation).
            std::thread::sleep(Duration::from_millis(wait_ms.unsigned_abs()));
        }
        push_row(&mut body, &prefixes[row.host as usize], &row);
        report.last_ms = report.last_ms.max(row.ts);
        rows_in_body += 1;
        if rows_in_body >= cfg.batch_rows.max(1) {
            send(cfg, &mut body, &mut report, rows_in_body)?;
            rows_in_body = 0;
            progress(&report);
        }
    }
    if rows_in_body > 0 {
        send(cfg, &mut body, &mut report, rows_in_body)?;
        progress(&report);
    }
    Ok(report)
}

/// Sends `body` through the next node in turn, retrying (writes are idempotent) a few times on
/// connection errors and 5xx, moving to the next node each time.
fn send(
    cfg: &LoadConfig,
    body: &mut String,
    report: &mut LoadReport,
    rows: usize,
) -> anyhow::Result<()> {
    let mut last = String::new();
    for attempt in 0..6u64 {
        let addr = cfg.addrs[(report.requests + attempt) as usize % cfg.addrs.len()];
        match http::write_lines(addr, &cfg.db, body, cfg.consistency.as_deref()) {
            Ok(r) if r.is_success() => {
                report.requests += 1;
                report.samples += (rows * FIELDS.len()) as u64;
                body.clear();
                return Ok(());
            }
            Ok(r) if r.status < 500 => {
                bail!(
                    "write through {addr} refused with {}: {}",
                    r.status,
                    r.text()
                )
            }
            Ok(r) => last = format!("{addr} answered {}: {}", r.status, r.text()),
            Err(e) => last = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(200 << attempt));
    }
    bail!("write failed after 6 attempts; last: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_line_protocol() {
        let cfg = LoadConfig {
            hosts: 2,
            backfill_ms: 60_000,
            ..LoadConfig::default()
        };
        let g = Generator::new(datagen_config(&cfg, 1_700_000_005_000).expect("config"))
            .expect("generator");
        assert_eq!(g.config().start_ms, 1_699_999_940_000);
        assert_eq!(g.config().points, 7);
        let prefixes = series_prefixes(&g);
        let row = g.rows().next().expect("a row");
        let mut s = String::new();
        push_row(&mut s, &prefixes[0], &row);
        assert!(s.starts_with("cpu,hostname=host_0,"), "{s}");
        assert!(s.contains(" usage_user="), "{s}");
        assert!(s.ends_with(" 1699999940000\n"), "{s}");
        assert_eq!(escape_tag("a b,c=d\\"), "a\\ b\\,c\\=d\\\\");
    }
}
