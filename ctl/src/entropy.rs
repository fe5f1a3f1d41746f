//! Convergence commands, through a node's HTTP admin endpoints (`docs/anti-entropy.md`):
//!
//! - `floectl repair`: runs a repair job (anti-entropy on demand) and follows it with a
//!   progress bar;
//! - `floectl digest`: one digest of a whole cluster's data, per partition and in total;
//! - `floectl digest compare URL1 URL2`: whether two clusters hold identical data and, if
//!   not, which partitions, position buckets and series differ.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ring::live::percent_encode;
use crate::ring::progress::{bar, duration, si_bytes, si_samples};
use crate::ring::{Client, LiveError, Mode};

/// What `floectl repair` asks for.
#[derive(Debug, Clone)]
pub struct RepairOptions {
    /// Only ring ranges overlapping these `START:END` ranges.
    pub ranges: Vec<String>,
    /// Only this node's ranges, against their other owners.
    pub only_node: Option<String>,
    /// Compare and count only.
    pub dry_run: bool,
    /// Follow the job until it ends.
    pub wait: bool,
    /// Give up following after this long.
    pub timeout: Option<Duration>,
    /// Poll interval.
    pub poll: Duration,
    /// Output style.
    pub mode: Mode,
}

/// The query string of a repair request.
pub fn repair_target(o: &RepairOptions) -> String {
    let mut q: Vec<String> = o
        .ranges
        .iter()
        .map(|r| format!("range={}", percent_encode(r)))
        .collect();
    if let Some(n) = &o.only_node {
        q.push(format!("node={}", percent_encode(n)));
    }
    if o.dry_run {
        q.push("dry_run=true".into());
    }
    if q.is_empty() {
        "/api/v1/admin/repair".into()
    } else {
        format!("/api/v1/admin/repair?{}", q.join("&"))
    }
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// One line of a repair job's progress.
pub fn render_job(node: &str, job: &Value) -> String {
    let (done, total) = (u(job, "ranges_done"), u(job, "ranges_total"));
    let what = if job.get("dry_run").and_then(Value::as_bool) == Some(true) {
        "compare (dry run)"
    } else {
        "repair"
    };
    let mut line = format!(
        "{what} job {} on {node}: {} {} {done}/{total} comparisons, {} compared, {} series differed, {} repaired, {} exchanged, {}",
        u(job, "id"),
        s(job, "state"),
        bar(done, total),
        si_samples(u(job, "compared_samples") as f64),
        u(job, "differing_series"),
        si_samples(u(job, "repaired_samples") as f64),
        si_bytes(u(job, "bytes") as f64),
        duration(job.get("elapsed_s").and_then(Value::as_f64).unwrap_or(0.0)),
    );
    if let Some(errors) = job.get("errors").and_then(Value::as_array)
        && !errors.is_empty()
    {
        for e in errors {
            line.push_str(&format!("\n  error: {}", e.as_str().unwrap_or("?")));
        }
    }
    line
}

fn emit(out: &mut dyn Write, text: &str) {
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `floectl repair`: starts a repair job on the node and, with `wait`, follows it.
pub fn repair_live(
    client: &Client,
    o: &RepairOptions,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let started = client.json("POST", &repair_target(o), Some(b""))?;
    let id = u(&started, "id");
    let node_of = |v: &Value| s(v, "node").to_string();
    if !o.wait {
        match o.mode {
            Mode::Json => emit(out, &format!("{started}\n")),
            _ => emit(
                out,
                &format!("{}\n", render_job(&client.url().to_string(), &started)),
            ),
        }
        return Ok(());
    }
    let begin = Instant::now();
    let mut last = String::new();
    loop {
        let status = client.json("GET", "/api/v1/admin/repair/status", None)?;
        let job = status.get("job").cloned().unwrap_or(Value::Null);
        if u(&job, "id") != id {
            return Err(LiveError::Ended(format!(
                "repair job {id} is not the node's job any more (the node restarted?)"
            )));
        }
        let state = s(&job, "state").to_string();
        let text = match o.mode {
            Mode::Json => format!("{job}\n"),
            Mode::Redraw => format!("\r\x1b[2K{}", render_job(&node_of(&status), &job)),
            Mode::Lines => format!(
                "[+{}s] {}\n",
                begin.elapsed().as_secs(),
                render_job(&node_of(&status), &job)
            ),
        };
        if text != last || state != "running" {
            emit(out, &text);
            last = text;
        }
        if state != "running" {
            if o.mode == Mode::Redraw {
                emit(out, "\n");
            }
            return match state.as_str() {
                "done" => Ok(()),
                _ => Err(LiveError::Ended(format!(
                    "repair job {id} ended {state}: some comparisons failed (see the errors above and the node's log)"
                ))),
            };
        }
        if let Some(t) = o.timeout
            && begin.elapsed() >= t
        {
            return Err(LiveError::Timeout {
                secs: t.as_secs(),
                what: format!("repair job {id} to end"),
            });
        }
        std::thread::sleep(o.poll);
    }
}

/// What `floectl digest` asks for.
#[derive(Debug, Clone, Default)]
pub struct DigestOptions {
    /// `start` (RFC 3339 or Unix seconds), when set.
    pub start: Option<String>,
    /// `end`, when set.
    pub end: Option<String>,
    /// A series selector.
    pub selector: Option<String>,
    /// Time bucket width in ms (default: the node's partition length).
    pub bucket_ms: Option<i64>,
}

fn digest_target(o: &DigestOptions, extra: &[(String, String)]) -> String {
    let mut q = Vec::new();
    if let Some(v) = &o.start {
        q.push(format!("start={}", percent_encode(v)));
    }
    if let Some(v) = &o.end {
        q.push(format!("end={}", percent_encode(v)));
    }
    if let Some(v) = &o.selector {
        q.push(format!("match[]={}", percent_encode(v)));
    }
    if let Some(v) = o.bucket_ms {
        q.push(format!("bucket_ms={v}"));
    }
    for (k, v) in extra {
        q.push(format!("{k}={}", percent_encode(v)));
    }
    if q.is_empty() {
        "/api/v1/admin/digest".into()
    } else {
        format!("/api/v1/admin/digest?{}", q.join("&"))
    }
}

/// A cluster's digest as `GET /api/v1/admin/digest` answers it.
pub fn fetch_digest(
    client: &Client,
    o: &DigestOptions,
    extra: &[(String, String)],
) -> Result<Value, LiveError> {
    client.json("GET", &digest_target(o, extra), None)
}

/// Human form of a cluster digest.
pub fn render_digest(d: &Value) -> String {
    let mut out = format!(
        "cluster digest {} of {} (topology version {}, computed by {}, bucket {} ms)\n",
        s(d, "digest"),
        si_samples(u(d, "samples") as f64),
        u(d, "topology_version"),
        s(d, "node"),
        d.get("bucket_ms").and_then(Value::as_i64).unwrap_or(0),
    );
    for p in d
        .get("partitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  partition {:>15}  {}  {:>12} samples\n",
            p.get("partition").and_then(Value::as_i64).unwrap_or(0),
            s(p, "digest"),
            u(p, "samples"),
        ));
    }
    if u(d, "replicas_disagree") > 0 {
        out.push_str(&format!(
            "  note: replicas disagreed on {} pieces; their merged data was digested (anti-entropy will repair them)\n",
            u(d, "replicas_disagree")
        ));
    }
    if let Some(un) = d.get("unreachable").and_then(Value::as_array)
        && !un.is_empty()
    {
        out.push_str(&format!(
            "  warning: nodes unreachable, digest covers the other replicas only: {}\n",
            un.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// `(partition, position bucket) → (samples, digest)` of a digest's cells.
fn cells(d: &Value) -> BTreeMap<(i64, u64), (u64, String)> {
    d.get("cells")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                (
                    c.get("partition").and_then(Value::as_i64).unwrap_or(0),
                    u(c, "position_bucket"),
                ),
                (u(c, "samples"), s(c, "digest").to_string()),
            )
        })
        .collect()
}

/// Where two cluster digests differ: `(partition, position bucket, (samples, digest) in A,
/// in B)`, empty when identical.
pub type CellDiff = (i64, u64, (u64, String), (u64, String));

/// The differing cells of two digests (a cell absent on one side is empty there).
pub fn diff_cells(a: &Value, b: &Value) -> Vec<CellDiff> {
    let (ca, cb) = (cells(a), cells(b));
    let empty = (0, String::new());
    let mut keys: Vec<(i64, u64)> = ca.keys().chain(cb.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let x = ca.get(&k).cloned().unwrap_or_else(|| empty.clone());
            let y = cb.get(&k).cloned().unwrap_or_else(|| empty.clone());
            (x != y).then_some((k.0, k.1, x, y))
        })
        .collect()
}

/// `series → (samples, digest)` of a digest's series listing, per partition.
fn series_of(d: &Value) -> BTreeMap<(i64, String), (u64, String)> {
    d.get("series")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                (
                    c.get("partition").and_then(Value::as_i64).unwrap_or(0),
                    s(c, "series").to_string(),
                ),
                (u(c, "samples"), s(c, "digest").to_string()),
            )
        })
        .collect()
}

/// Lines naming the series that differ between two listings.
pub fn diff_series(a: &Value, b: &Value, limit: usize) -> Vec<String> {
    let (sa, sb) = (series_of(a), series_of(b));
    let mut keys: Vec<&(i64, String)> = sa.keys().chain(sb.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let line = match (sa.get(k), sb.get(k)) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => format!(
                "    {} (partition {}): {} samples in A, {} in B, digests differ",
                k.1, k.0, x.0, y.0
            ),
            (Some(x), None) => format!(
                "    {} (partition {}): only in A ({} samples)",
                k.1, k.0, x.0
            ),
            (None, Some(y)) => format!(
                "    {} (partition {}): only in B ({} samples)",
                k.1, k.0, y.0
            ),
            (None, None) => continue,
        };
        out.push(line);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// The outcome of `floectl digest compare`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The clusters hold identical data in the window.
    pub identical: bool,
    /// The report.
    pub text: String,
}

/// `floectl digest compare A B`: both clusters' digests with the same window, selector and
/// bucket width; where cells differ, the series of up to `drill` cells.
pub fn compare_live(
    a: &Client,
    b: &Client,
    o: &DigestOptions,
    drill: usize,
) -> Result<Comparison, LiveError> {
    let da = fetch_digest(a, o, &[])?;
    let mut same = o.clone();
    same.bucket_ms = Some(da.get("bucket_ms").and_then(Value::as_i64).unwrap_or(0));
    let db = fetch_digest(b, &same, &[])?;
    let mut text = format!(
        "A {}: {} of {}\nB {}: {} of {}\n",
        a.url(),
        s(&da, "digest"),
        si_samples(u(&da, "samples") as f64),
        b.url(),
        s(&db, "digest"),
        si_samples(u(&db, "samples") as f64),
    );
    for (name, d) in [("A", &da), ("B", &db)] {
        if let Some(un) = d.get("unreachable").and_then(Value::as_array)
            && !un.is_empty()
        {
            text.push_str(&format!(
                "warning: cluster {name} had unreachable nodes; its digest covers the other replicas only\n"
            ));
        }
    }
    let diffs = diff_cells(&da, &db);
    if diffs.is_empty() && s(&da, "digest") == s(&db, "digest") {
        text.push_str("identical\n");
        return Ok(Comparison {
            identical: true,
            text,
        });
    }
    let parts: std::collections::BTreeSet<i64> = diffs.iter().map(|d| d.0).collect();
    text.push_str(&format!(
        "DIFFERENT: {} cells (partition × position bucket) in {} partitions\n",
        diffs.len(),
        parts.len()
    ));
    for (i, (p, bucket, x, y)) in diffs.iter().enumerate() {
        text.push_str(&format!(
            "  partition {p} position bucket {bucket:#04x}: A {} samples {}, B {} samples {}\n",
            x.0,
            if x.1.is_empty() { "-" } else { &x.1 },
            y.0,
            if y.1.is_empty() { "-" } else { &y.1 },
        ));
        if i < drill {
            let extra = [
                ("position_bucket".to_string(), bucket.to_string()),
                ("partition".to_string(), p.to_string()),
            ];
            let la = fetch_digest(a, &same, &extra)?;
            let lb = fetch_digest(b, &same, &extra)?;
            for line in diff_series(&la, &lb, 20) {
                text.push_str(&line);
                text.push('\n');
            }
        }
    }
    Ok(Comparison {
        identical: false,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repair_target_encodes_options() {
        let o = RepairOptions {
            ranges: vec!["1:0x20".into()],
            only_node: Some("n 2".into()),
            dry_run: true,
            wait: false,
            timeout: None,
            poll: Duration::from_secs(1),
            mode: Mode::Lines,
        };
        assert_eq!(
            repair_target(&o),
            "/api/v1/admin/repair?range=1%3A0x20&node=n%202&dry_run=true"
        );
        let plain = RepairOptions {
            ranges: Vec::new(),
            only_node: None,
            dry_run: false,
            ..o
        };
        assert_eq!(repair_target(&plain), "/api/v1/admin/repair");
    }

    #[test]
    fn cells_and_series_are_diffed() {
        let a = json!({"cells": [
            {"partition": 0, "position_bucket": 1, "samples": 3, "digest": "aa"},
            {"partition": 0, "position_bucket": 2, "samples": 1, "digest": "bb"}
        ], "series": [
            {"partition": 0, "series": "up{a=\"1\"}", "samples": 3, "digest": "aa"},
            {"partition": 0, "series": "up{a=\"2\"}", "samples": 1, "digest": "cc"}
        ]});
        let b = json!({"cells": [
            {"partition": 0, "position_bucket": 1, "samples": 3, "digest": "aa"},
            {"partition": 7, "position_bucket": 2, "samples": 1, "digest": "bb"}
        ], "series": [
            {"partition": 0, "series": "up{a=\"1\"}", "samples": 3, "digest": "aa"},
            {"partition": 0, "series": "up{a=\"2\"}", "samples": 2, "digest": "dd"},
            {"partition": 0, "series": "up{a=\"3\"}", "samples": 2, "digest": "ee"}
        ]});
        let d = diff_cells(&a, &b);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].0, 0);
        assert_eq!(d[1].0, 7);
        assert!(diff_cells(&a, &a).is_empty());
        let lines = diff_series(&a, &b, 10);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("digests differ"));
        assert!(lines[1].contains("only in B"));
    }

    #[test]
    fn job_line_shows_progress() {
        let job = json!({"id": 3, "state": "running", "ranges_done": 5, "ranges_total": 10,
            "compared_samples": 1500000, "differing_series": 2, "repaired_samples": 40,
            "bytes": 2048, "elapsed_s": 3.0, "errors": []});
        let line = render_job("n1", &job);
        assert!(line.contains("repair job 3 on n1: running"), "{line}");
        assert!(line.contains("5/10 comparisons"), "{line}");
        assert!(line.contains("1.5 M samples compared"), "{line}");
    }
}
