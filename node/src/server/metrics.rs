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
/// by protocol and reason; queries by endpoint and outcome, with a duration histogram.
#[derive(Debug)]
pub struct ServerMetrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
    query_duration: Mutex<BTreeMap<String, Histogram>>,
}

/// One endpoint's query durations.
#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each of [`DURATION_BUCKETS`] (not cumulative yet).
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Upper bounds (seconds) of the query duration histogram's buckets.
const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

/// Query API requests answered, by endpoint and outcome (`success` or the error type).
pub const QUERIES: &str = "floe_queries_total";
/// Series read from storage by queries, by endpoint.
pub const QUERY_SERIES: &str = "floe_query_series_read_total";
/// Samples read from storage by queries, by endpoint.
pub const QUERY_SAMPLES: &str = "floe_query_samples_read_total";
/// Query durations, by endpoint.
pub const QUERY_DURATION: &str = "floe_query_duration_seconds";

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
        add(
            QUERIES,
            "Query API requests answered, by endpoint and outcome (success or the error type).",
            &["endpoint", "outcome"][..],
        );
        add(
            QUERY_SERIES,
            "Series read from storage by queries, by endpoint.",
            &["endpoint"][..],
        );
        add(
            QUERY_SAMPLES,
            "Samples read from storage by queries, by endpoint.",
            &["endpoint"][..],
        );
        Self {
            families: Mutex::new(f),
            query_duration: Mutex::new(BTreeMap::new()),
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

    /// Records one query API request's duration.
    pub fn observe_query(&self, endpoint: &str, seconds: f64) {
        let mut h = self
            .query_duration
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let h = h.entry(endpoint.to_string()).or_default();
        if let Some(i) = DURATION_BUCKETS.iter().position(|&le| seconds <= le) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// Appends the query duration histogram in the exposition format.
    fn render_durations(&self, out: &mut String) {
        let h = self
            .query_duration
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let name = QUERY_DURATION;
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer query API requests, by endpoint."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (endpoint, h) in h.iter() {
            let e = escape(endpoint);
            let mut cumulative = 0;
            for (le, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{endpoint=\"{e}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{endpoint=\"{e}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{endpoint=\"{e}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{endpoint=\"{e}\"}} {}", h.count);
        }
    }

    /// Appends every family in the exposition format.
    pub fn render(&self, out: &mut String) {
        self.render_durations(out);
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
/// Escapes a label value for the exposition format.
pub(crate) fn escape(v: &str) -> String {
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

    #[test]
    fn renders_a_cumulative_duration_histogram() {
        let m = ServerMetrics::default();
        m.observe_query("query", 0.003);
        m.observe_query("query", 0.2);
        m.observe_query("query", 500.0);
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "# TYPE floe_query_duration_seconds histogram",
            "floe_query_duration_seconds_bucket{endpoint=\"query\",le=\"0.005\"} 1",
            "floe_query_duration_seconds_bucket{endpoint=\"query\",le=\"0.25\"} 2",
            "floe_query_duration_seconds_bucket{endpoint=\"query\",le=\"120\"} 2",
            "floe_query_duration_seconds_bucket{endpoint=\"query\",le=\"+Inf\"} 3",
            "floe_query_duration_seconds_count{endpoint=\"query\"} 3",
        ] {
            assert!(out.contains(line), "{line} missing from\n{out}");
        }
    }
}
