//! Turning a history into the run's latency timeline (`timeline.png`): one panel per node,
//! every completed operation a mark at its invocation time and latency, faults shaded in the
//! panels of the nodes they hit (every panel for cluster-wide ones), the heal marked.

use std::collections::HashMap;

use crate::history::{Entry, EntryType, Outcome};
use crate::plot::{Point, Span, Timeline, render_png};

/// Lane of operations not sent to one node (the token-aware `floe-client` writer).
pub const CLIENT_LANE: &str = "client";

/// Renders the timeline of `history` for nodes `lanes` (ids), with the heal at `healed_s`.
pub fn timeline(
    name: &str,
    seed: u64,
    history: &[Entry],
    nodes: &[String],
    healed_s: f64,
) -> Vec<u8> {
    let mut lanes: Vec<String> = nodes.to_vec();
    lanes.push(CLIENT_LANE.to_string());
    let lane_of = |node: Option<&String>| {
        node.and_then(|n| nodes.iter().position(|x| x == n))
            .unwrap_or(nodes.len())
    };
    let mut points = Vec::new();
    let mut spans = Vec::new();
    let mut open: HashMap<String, (f64, Option<String>)> = HashMap::new();
    let mut end_s: f64 = 0.0;
    for e in history {
        let t = e.time_ms / 1000.0;
        end_s = end_s.max(t);
        match e.kind {
            EntryType::Ok | EntryType::Fail | EntryType::Unknown => {
                let Some(lat) = e.latency_ms else { continue };
                let outcome = match e.kind {
                    EntryType::Ok => Outcome::Ok,
                    EntryType::Fail => Outcome::Fail,
                    _ => Outcome::Unknown,
                };
                points.push(Point {
                    t: (e.time_ms - lat) / 1000.0,
                    latency_ms: lat,
                    lane: lane_of(e.node.as_ref()),
                    outcome,
                    write: e.f == "write",
                });
            }
            EntryType::Info => {
                let Some(fault) = e.fault.clone() else {
                    continue;
                };
                if e.f == "start" {
                    open.insert(fault, (t, e.node.clone()));
                } else if let Some((start, node)) = open.remove(&fault) {
                    spans.push(span(&fault, start, t, node.as_ref(), nodes));
                }
            }
            EntryType::Invoke => {}
        }
    }
    for (fault, (start, node)) in open {
        spans.push(span(&fault, start, end_s, node.as_ref(), nodes));
    }
    let tl = Timeline {
        title: format!("floe-jepsen {name} seed {seed}: latency by node (log ms), faults shaded"),
        lanes,
        points,
        spans,
        duration_s: end_s.max(1.0),
        markers: vec![(healed_s, "healed".to_string())],
    };
    render_png(&tl, 1400)
}

fn span(fault: &str, start: f64, end: f64, node: Option<&String>, nodes: &[String]) -> Span {
    let kind = match fault.split_whitespace().next().unwrap_or("") {
        "kill" => "kill",
        "pause" => "pause",
        "isolate" | "split" | "lossy" => "partition",
        "clock" => "clock",
        "truncate" | "flip" => "disk",
        "add+remove" => "rebalance",
        "mirror" => "mirror",
        other => other,
    };
    Span {
        start,
        end,
        label: fault.to_string(),
        kind: kind.to_string(),
        lanes: node
            .and_then(|n| nodes.iter().position(|x| x == n))
            .into_iter()
            .collect(),
    }
}
