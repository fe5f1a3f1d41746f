//! The cluster layer's counters and gauges on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::server::metrics::escape;

/// Requests this node served over QUIC, by request and outcome (`ok` or an error code).
pub const SERVED: &str = "floe_cluster_requests_total";
/// Requests this node sent to peers, by peer, request and outcome.
pub const SENT: &str = "floe_peer_requests_total";
/// Records appended to a peer's journal (writes it missed), by peer.
pub const JOURNALED: &str = "floe_journal_appended_records_total";
/// Journal records delivered to their peer on replay, by peer.
pub const REPLAYED: &str = "floe_journal_replayed_records_total";
/// Copies given up, by peer and reason (`full`: the journal was at its bound or its append
/// failed; `refused`: the peer refused a replayed record as invalid; `encode`: the record
/// could not be encoded; `undecodable`: a journal record did not decode).
pub const DROPPED: &str = "floe_journal_dropped_records_total";
/// Replicas repaired by quorum reads, by peer.
pub const REPAIRS: &str = "floe_read_repairs_total";
/// Samples sent by read repairs.
pub const REPAIRED_SAMPLES: &str = "floe_read_repaired_samples_total";
/// Coordinated writes, by outcome (`ok`, `unavailable`, `rejected`).
pub const WRITES: &str = "floe_coordinated_writes_total";

const FAMILIES: [(&str, &str); 8] = [
    (SERVED, "Requests served over QUIC, by request and outcome."),
    (
        SENT,
        "Requests sent to peers, by peer, request and outcome.",
    ),
    (JOURNALED, "Records appended to a peer's journal, by peer."),
    (REPLAYED, "Journal records delivered on replay, by peer."),
    (
        DROPPED,
        "Copies given up, by peer and reason (full, refused, encode, undecodable).",
    ),
    (REPAIRS, "Replicas repaired by quorum reads, by peer."),
    (REPAIRED_SAMPLES, "Samples sent by read repairs."),
    (WRITES, "Coordinated writes, by outcome."),
];

/// A counter's identity: its family and label pairs.
type CounterKey = (&'static str, Vec<(&'static str, String)>);

/// Counters keyed by family and label pairs.
#[derive(Debug, Default)]
pub struct ClusterMetrics {
    counters: Mutex<BTreeMap<CounterKey, u64>>,
}

impl ClusterMetrics {
    /// Adds `n` to a counter.
    pub fn add(&self, family: &'static str, labels: &[(&'static str, &str)], n: u64) {
        let key = (
            family,
            labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
        );
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry(key).or_insert(0) += n;
    }

    /// A counter's value (0 if never added to).
    pub fn get(&self, family: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let key = (
            family,
            labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
        );
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.get(&key).copied().unwrap_or(0)
    }

    /// Renders the counters, then the journal gauges of `pending` (peer, records, bytes).
    pub fn render(&self, pending: &[(&str, u64, u64)], out: &mut String) {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for (family, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            for ((f, labels), v) in c.iter() {
                if *f != family {
                    continue;
                }
                let _ = writeln!(out, "{family}{} {v}", render_labels(labels));
            }
        }
        drop(c);
        let gauges = [
            (
                "floe_journal_pending_records",
                "Records waiting in a peer's journal, by peer.",
            ),
            (
                "floe_journal_pending_bytes",
                "Bytes waiting in a peer's journal, by peer.",
            ),
        ];
        for (g, (name, help)) in gauges.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (peer, records, bytes) in pending {
                let v = if g == 0 { records } else { bytes };
                let _ = writeln!(out, "{name}{{peer=\"{}\"}} {v}", escape(peer));
            }
        }
    }
}

fn render_labels(labels: &[(&'static str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = ClusterMetrics::default();
        m.add(JOURNALED, &[("peer", "n2")], 3);
        m.add(JOURNALED, &[("peer", "n2")], 1);
        let mut out = String::new();
        m.render(&[("n2", 4, 100)], &mut out);
        assert!(
            out.contains("floe_journal_appended_records_total{peer=\"n2\"} 4"),
            "{out}"
        );
        assert!(
            out.contains("floe_journal_pending_bytes{peer=\"n2\"} 100"),
            "{out}"
        );
        assert_eq!(m.get(JOURNALED, &[("peer", "n2")]), 4);
    }
}
