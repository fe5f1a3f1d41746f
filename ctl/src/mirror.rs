//! `floectl mirror status`: what each node's mirror targets are waiting to send
//! (`GET /api/v1/admin/mirror/status`, `docs/mirroring.md`). The answer is parsed leniently
//! (unknown fields ignored, missing numbers 0) so the CLI survives small server changes.

use std::io::{self, Write};

use serde_json::Value;

use crate::ring::{Client, LiveError};

/// The endpoint.
pub const STATUS_PATH: &str = "/api/v1/admin/mirror/status";

/// One node's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMirrors {
    /// The node's URL as asked.
    pub url: String,
    /// The node's id (`None` on a node running alone, which has no mirror).
    pub node: Option<String>,
    /// Its targets.
    pub mirrors: Vec<MirrorRow>,
    /// The `data` document as the node sent it (for `--json`).
    pub raw: Value,
}

/// One target of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorRow {
    /// The target's name.
    pub name: String,
    /// Records not yet acknowledged by the target.
    pub pending_records: u64,
    /// Their bytes.
    pub pending_bytes: u64,
    /// Age of the oldest of them.
    pub lag_seconds: f64,
    /// Samples the target acknowledged since the node started.
    pub sent_samples: u64,
    /// Failed attempts since the node started (each retried).
    pub errors: u64,
    /// Samples never to be sent (full journal, refused by the target).
    pub dropped_samples: u64,
    /// Whether the last attempt to reach the target succeeded.
    pub connected: bool,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl MirrorRow {
    /// `in-sync` (reached, nothing pending), `sending` (reached, records pending),
    /// `retrying` (the last attempt failed) or `connecting` (no attempt finished yet).
    pub fn state(&self) -> &'static str {
        match (self.connected, self.pending_records, &self.last_error) {
            (true, 0, _) => "in-sync",
            (true, _, _) => "sending",
            (false, _, Some(_)) => "retrying",
            (false, _, None) => "connecting",
        }
    }

    fn from_json(v: &Value) -> MirrorRow {
        let u = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        MirrorRow {
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
            pending_records: u("pending_records"),
            pending_bytes: u("pending_bytes"),
            lag_seconds: v.get("lag_seconds").and_then(Value::as_f64).unwrap_or(0.0),
            sent_samples: u("sent_samples"),
            errors: u("errors"),
            dropped_samples: u("dropped_samples"),
            connected: v.get("connected").and_then(Value::as_bool).unwrap_or(false),
            last_error: v
                .get("last_error")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

impl NodeMirrors {
    /// Reads the `data` document of the status endpoint.
    pub fn from_json(url: &str, data: Value) -> NodeMirrors {
        let mirrors = data
            .get("mirrors")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(MirrorRow::from_json).collect())
            .unwrap_or_default();
        NodeMirrors {
            url: url.to_string(),
            node: data.get("node").and_then(Value::as_str).map(str::to_string),
            mirrors,
            raw: data,
        }
    }
}

/// Asks one node.
pub fn fetch(client: &Client) -> Result<NodeMirrors, LiveError> {
    let url = client.url().to_string();
    let request = format!("GET {STATUS_PATH}");
    let response = client.send("GET", STATUS_PATH, None)?;
    let unexpected = |detail: String| LiveError::Unexpected {
        url: url.clone(),
        request: request.clone(),
        http: response.status,
        detail,
    };
    let value: Value = serde_json::from_slice(&response.body)
        .map_err(|e| unexpected(format!("body is not JSON: {e}")))?;
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    match text("status").as_deref() {
        Some("success") if (200..300).contains(&response.status) => Ok(NodeMirrors::from_json(
            &url,
            value.get("data").cloned().unwrap_or(Value::Null),
        )),
        Some("error") => Err(LiveError::Api {
            url: url.clone(),
            request: request.clone(),
            http: response.status,
            error_type: text("errorType").unwrap_or_else(|| "unknown".into()),
            message: text("error").unwrap_or_else(|| "(no message)".into()),
        }),
        _ => Err(unexpected("not the API envelope".into())),
    }
}

/// Asks every node in turn and prints a table (or one JSON object per node and line);
/// a node that cannot be asked is reported on `err`. Returns the number of such nodes.
pub fn status(
    clients: &[Client],
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<usize> {
    let mut answers = Vec::new();
    let mut failed = 0;
    for c in clients {
        match fetch(c) {
            Ok(n) => answers.push(n),
            Err(e) => {
                failed += 1;
                if json {
                    let line =
                        serde_json::json!({"url": c.url().to_string(), "error": e.to_string()});
                    writeln!(out, "{line}")?;
                }
                writeln!(err, "floectl: {e}")?;
            }
        }
    }
    if json {
        for n in &answers {
            let mut v = n.raw.clone();
            if let Some(o) = v.as_object_mut() {
                o.insert("url".into(), n.url.clone().into());
            }
            writeln!(out, "{v}")?;
        }
    } else {
        out.write_all(render(&answers).as_bytes())?;
    }
    Ok(failed)
}

/// The table of every node's targets.
pub fn render(nodes: &[NodeMirrors]) -> String {
    let header = [
        "NODE", "TARGET", "STATE", "PENDING", "BYTES", "LAG", "SENT", "ERRORS", "DROPPED",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let mut notes: Vec<(usize, String)> = Vec::new();
    for n in nodes {
        let node = n.node.clone().unwrap_or_else(|| n.url.clone());
        if n.mirrors.is_empty() {
            rows.push(vec![node, "-".into(), "no mirror targets".into()]);
            continue;
        }
        for m in &n.mirrors {
            rows.push(vec![
                node.clone(),
                m.name.clone(),
                m.state().into(),
                m.pending_records.to_string(),
                bytes(m.pending_bytes),
                format!("{:.1} s", m.lag_seconds),
                m.sent_samples.to_string(),
                m.errors.to_string(),
                m.dropped_samples.to_string(),
            ]);
            if let Some(e) = m.last_error.as_ref().filter(|_| !m.connected) {
                notes.push((rows.len() - 1, format!("last error: {e}")));
            }
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        for (_, note) in notes.iter().filter(|(r, _)| *r == i) {
            out.push_str(&format!("    {note}\n"));
        }
    }
    out
}

/// `999 B`, `1.5 KiB`, `12 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::json!({
            "node": "n1",
            "mirrors": [
                {"name": "dev", "seeds": ["127.0.0.1:7400"], "pending_records": 0,
                 "pending_bytes": 0, "lag_seconds": 0.0, "sent_samples": 1200, "errors": 0,
                 "dropped_samples": 0, "connected": true, "last_error": null},
                {"name": "staging", "pending_records": 12, "pending_bytes": 1536,
                 "lag_seconds": 4.25, "sent_samples": 10, "errors": 3, "dropped_samples": 7,
                 "connected": false, "last_error": "node n2: no answer within 5s",
                 "future_field": {"x": 1}}
            ]
        })
    }

    #[test]
    fn status_documents_parse_leniently() {
        let n = NodeMirrors::from_json("http://127.0.0.1:8480", sample());
        assert_eq!(n.node.as_deref(), Some("n1"));
        assert_eq!(n.mirrors.len(), 2);
        assert_eq!(n.mirrors[0].state(), "in-sync");
        assert_eq!(n.mirrors[1].state(), "retrying");
        assert_eq!(n.mirrors[1].pending_bytes, 1536);
        assert_eq!(n.mirrors[1].lag_seconds, 4.25);
        let empty = NodeMirrors::from_json("u", serde_json::json!({"node": null, "mirrors": []}));
        assert!(empty.node.is_none() && empty.mirrors.is_empty());
        let odd = NodeMirrors::from_json("u", serde_json::json!({"mirrors": [{"name": 3}]}));
        assert_eq!(odd.mirrors[0].name, "?");
        assert_eq!(odd.mirrors[0].state(), "connecting");
    }

    #[test]
    fn the_table_has_a_row_per_node_and_target() {
        let a = NodeMirrors::from_json("http://a", sample());
        let b =
            NodeMirrors::from_json("http://b", serde_json::json!({"node": "n2", "mirrors": []}));
        let text = render(&[a, b]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NODE  TARGET"), "{text}");
        assert!(
            lines[1].starts_with("n1") && lines[1].contains("in-sync"),
            "{text}"
        );
        assert!(
            lines[2].contains("staging") && lines[2].contains("1.5 KiB"),
            "{text}"
        );
        assert!(
            lines[2].contains("4.2 s") || lines[2].contains("4.3 s"),
            "{text}"
        );
        assert!(lines[3].contains("last error: node n2"), "{text}");
        assert!(
            lines[4].starts_with("n2") && lines[4].contains("no mirror targets"),
            "{text}"
        );
    }

    #[test]
    fn an_unreachable_node_is_counted_and_reported() {
        // Port 9 (discard) on loopback: nothing listens there in the test environment.
        let url = crate::ring::NodeUrl::parse("127.0.0.1:9").expect("url");
        let clients = [Client::with_timeouts(
            url,
            std::time::Duration::from_millis(500),
            std::time::Duration::from_millis(500),
        )];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let failed = status(&clients, true, &mut out, &mut err).expect("io");
        assert_eq!(failed, 1);
        let line: Value = serde_json::from_slice(&out).expect("one JSON line");
        assert_eq!(line["url"], "http://127.0.0.1:9");
        assert!(
            line["error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot reach")),
            "{line}"
        );
        assert!(String::from_utf8_lossy(&err).contains("floectl: "));
    }

    #[test]
    fn byte_counts_are_readable() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
