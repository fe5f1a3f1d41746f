//! The daemon's own counters (per protocol and reason), rendered with the engine's metrics
//! on `/metrics` in the Prometheus text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// A family of counters keyed by label values.
#[derive(Debug)]
struct Family {
    help: &'static str,
    labels: &'static [&'static str],
    values: BTreeMap<Vec<String>, u64>,
}

/// Counters of the daemon: ingested samples by protocol, rejected requests and skipped lines
/// by protocol and reason.
#[derive(Debug)]
pub struct ServerMetrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

/// Samples stored, by protocol.
pub const INGESTED: &str = "floe_ingested_samples_total";
/// Requests refused (nothing stored), by protocol and reason.
pub const REJECTED: &str = "floe_rejected_requests_total";
/// Lines skipped on a stream (Graphite, OpenTSDB telnet), by protocol and reason.
pub const SKIPPED_LINES: &str = "floe_skipped_lines_total";
/// Values skipped inside accepted requests (strings, histograms …), by protocol and kind.
pub const SKIPPED_VALUES: &str = "floe_skipped_values_total";

impl Default for ServerMetrics {
    fn default() -> Self {
        let mut f = BTreeMap::new();
        let mut add = |name, help, labels| {
            f.insert(
                name,
                Family {
                    help,
                    labels,
                    values: BTreeMap::new(),
                },
            );
        };
        add(INGESTED, "Samples stored, by protocol.", &["protocol"][..]);
        add(
            REJECTED,
            "Requests refused with nothing stored, by protocol and reason.",
            &["protocol", "reason"][..],
        );
        add(
            SKIPPED_LINES,
            "Malformed lines skipped on a stream, by protocol and reason.",
            &["protocol", "reason"][..],
        );
        add(
            SKIPPED_VALUES,
            "Values skipped inside accepted requests, by protocol and kind.",
            &["protocol", "kind"][..],
        );
        Self {
            families: Mutex::new(f),
        }
    }
}

impl ServerMetrics {
    /// Adds `n` to counter `name{labels}`.
    pub fn add(&self, name: &'static str, labels: &[&str], n: u64) {
        if n == 0 {
            return;
        }
        let mut f = self.families.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(family) = f.get_mut(name) {
            *family
                .values
                .entry(labels.iter().map(|s| s.to_string()).collect())
                .or_default() += n;
        }
    }

    /// The value of counter `name{labels}` (0 if never incremented).
    pub fn get(&self, name: &str, labels: &[&str]) -> u64 {
        let f = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        f.get(name)
            .and_then(|family| family.values.get(&key))
            .copied()
            .unwrap_or(0)
    }

    /// Appends every family in the exposition format.
    pub fn render(&self, out: &mut String) {
        let f = self.families.lock().unwrap_or_else(|p| p.into_inner());
        for (name, family) in f.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} counter");
            for (values, v) in &family.values {
                let labels: Vec<String> = family
                    .labels
                    .iter()
                    .zip(values)
                    .map(|(l, v)| format!("{l}=\"{}\"", escape(v)))
                    .collect();
                let _ = writeln!(out, "{name}{{{}}} {v}", labels.join(","));
            }
        }
    }
}

/// Escapes a label value for the exposition format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_counters() {
        let m = ServerMetrics::default();
        m.add(INGESTED, &["influx"], 3);
        m.add(REJECTED, &["influx", "parse \"error\""], 1);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("floe_ingested_samples_total{protocol=\"influx\"} 3"),
            "{out}"
        );
        assert!(out.contains(r#"reason="parse \"error\"""#), "{out}");
        assert_eq!(m.get(INGESTED, &["influx"]), 3);
    }
}
