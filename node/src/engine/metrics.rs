//! The engine's self-monitoring counters and gauges, rendered in the Prometheus exposition
//! format by the daemon's `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! metrics {
    ($($(#[doc = $doc:literal])* $name:ident: $kind:literal;)*) => {
        /// Counters and gauges of one engine. All relaxed atomics: cheap on hot paths.
        #[derive(Debug, Default)]
        pub struct EngineMetrics {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
        }

        impl EngineMetrics {
            /// `(name, kind, help, value)` of every metric.
            pub fn snapshot(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
                vec![$((
                    concat!("floe_engine_", stringify!($name)),
                    $kind,
                    concat!($($doc),*),
                    self.$name.load(Ordering::Relaxed),
                ),)*]
            }
        }
    };
}

metrics! {
    /// Samples accepted by the engine.
    samples_appended_total: "counter";
    /// Series created.
    series_created_total: "counter";
    /// WAL records written.
    wal_records_total: "counter";
    /// WAL bytes written.
    wal_bytes_total: "counter";
    /// WAL fsyncs.
    wal_fsyncs_total: "counter";
    /// Microseconds spent in WAL writes and fsyncs of group commits and interval syncs.
    wal_sync_us_total: "counter";
    /// WAL segments found with a torn tail at replay (a crash mid-write).
    wal_torn_tails_total: "counter";
    /// WAL records found corrupt at replay (replay of that segment stopped there).
    wal_corrupt_records_total: "counter";
    /// Samples replayed from the WAL at start.
    wal_replayed_samples_total: "counter";
    /// Samples in the head (in memory, not yet in blocks).
    head_samples: "gauge";
    /// Head flushes completed.
    flushes_total: "counter";
    /// Milliseconds spent flushing.
    flush_ms_total: "counter";
    /// Compactions completed (one per partition merged).
    compactions_total: "counter";
    /// Milliseconds spent compacting.
    compaction_ms_total: "counter";
    /// Block files live.
    blocks: "gauge";
    /// Bytes of live block files.
    block_bytes: "gauge";
    /// Reads of a block's series chunk served by the decoded-chunk cache.
    chunk_cache_hits_total: "counter";
    /// Reads of a block's series chunk that had to decode it.
    chunk_cache_misses_total: "counter";
    /// Bytes held by the decoded-chunk cache.
    chunk_cache_bytes: "gauge";
    /// Block files deleted by retention.
    blocks_expired_total: "counter";
    /// Block files quarantined after a failed checksum or decode.
    blocks_quarantined_total: "counter";
    /// Series or partitions marked as needing repair from replicas.
    repair_marks: "gauge";
    /// Per-(series, partition) digest cells answered from the digest cache.
    digest_cells_cached_total: "counter";
    /// Digest cells computed by reading samples (cache misses, partial buckets, other widths).
    digest_cells_computed_total: "counter";
    /// Cells held by the digest cache.
    digest_cells: "gauge";
}

impl EngineMetrics {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts `n` from a gauge (one that is kept by deltas rather than set).
    pub(crate) fn sub(gauge: &AtomicU64, n: u64) {
        gauge.fetch_sub(n, Ordering::Relaxed);
    }

    /// Sets a gauge.
    pub(crate) fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, value) in self.snapshot() {
            let _ = writeln!(out, "# HELP {name} {}", help.trim());
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_help_and_type() {
        let m = EngineMetrics::default();
        EngineMetrics::add(&m.samples_appended_total, 5);
        let text = m.render_prometheus();
        assert!(text.contains("# TYPE floe_engine_samples_appended_total counter"));
        assert!(text.contains("floe_engine_samples_appended_total 5"));
        assert!(text.contains("# HELP floe_engine_head_samples Samples in the head"));
    }
}
