//! Engine configuration.

use std::path::PathBuf;
use std::time::Duration;

/// When the WAL is fsynced, and so what an acknowledged write survives.
///
/// Under every policy a write is handed to the operating system (`write(2)`) before it is
/// acknowledged, so an acknowledged write survives a crash of the Floe process. What it
/// survives beyond that depends on the policy:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// The acknowledgement waits for an `fdatasync` covering the write (group commit: one
    /// fsync covers every write that arrived while the previous one ran). Survives power loss
    /// and kernel crashes.
    Always,
    /// A background thread fsyncs every interval. A power loss or kernel crash can lose up to
    /// one interval of acknowledged writes.
    Interval(Duration),
    /// Never fsync the WAL (the OS writes back when it likes; blocks are still fsynced). A
    /// power loss can lose every acknowledged write not yet flushed into a block.
    Never,
}

impl FsyncPolicy {
    /// Parses `always`, `never` or `interval:<ms>` (e.g. `interval:100`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "always" => Some(FsyncPolicy::Always),
            "never" => Some(FsyncPolicy::Never),
            _ => {
                let ms: u64 = s.strip_prefix("interval:")?.parse().ok()?;
                (ms > 0).then(|| FsyncPolicy::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

/// A rollup resolution and how long its blocks are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupLevel {
    /// Bucket width in milliseconds (a divisor of the partition length).
    pub resolution_ms: i64,
    /// Blocks whose partition ended longer ago than this are deleted.
    pub retention: Duration,
}

/// Everything the storage engine of one node can be told.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Data directory (created if missing). Holds `wal/`, `blocks/`, `quarantine/`,
    /// `MANIFEST`, `series.idx` and the `LOCK` file.
    pub dir: PathBuf,
    /// WAL fsync policy. Default `interval:100`.
    pub fsync: FsyncPolicy,
    /// A WAL segment is closed and a new one started beyond this size. Default 64 MiB.
    pub wal_segment_bytes: u64,
    /// Length of a time partition (one raw block per partition after compaction), ms.
    /// Default 2 h.
    pub partition_ms: i64,
    /// The head is flushed into blocks when it holds more samples than this. Default 8 M.
    pub flush_max_samples: usize,
    /// ... or when its oldest sample arrived longer ago than this. Default 5 min.
    pub flush_interval: Duration,
    /// A partition is closed (compacted into one block, rollups built) once the clock is
    /// this far past its end; later samples still land, in a new block. Default 1 h.
    pub late_grace: Duration,
    /// Compact a partition early when it has this many flushed blocks. Default 8.
    pub max_blocks_per_partition: usize,
    /// Raw blocks whose partition ended longer ago than this are deleted. Default 15 days.
    pub raw_retention: Duration,
    /// Rollup resolutions and their retention. Default 1 m (90 d), 5 m (1 y), 1 h (5 y).
    pub rollups: Vec<RollupLevel>,
    /// Run flush and compaction in a background thread. Default true; tests that drive the
    /// engine step by step turn it off and call [`crate::engine::Engine::flush`] and
    /// [`crate::engine::Engine::compact`] themselves.
    pub background: bool,
    /// Bytes of decoded block chunks kept in memory for repeated reads (0 disables the
    /// cache). Default 128 MiB.
    pub chunk_cache_bytes: usize,
}

const DAY: Duration = Duration::from_secs(86_400);

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
            wal_segment_bytes: 64 << 20,
            partition_ms: 2 * 3_600_000,
            flush_max_samples: 8 << 20,
            flush_interval: Duration::from_secs(300),
            late_grace: Duration::from_secs(3600),
            max_blocks_per_partition: 8,
            raw_retention: 15 * DAY,
            rollups: vec![
                RollupLevel {
                    resolution_ms: 60_000,
                    retention: 90 * DAY,
                },
                RollupLevel {
                    resolution_ms: 300_000,
                    retention: 365 * DAY,
                },
                RollupLevel {
                    resolution_ms: 3_600_000,
                    retention: 5 * 365 * DAY,
                },
            ],
            background: true,
            chunk_cache_bytes: 128 << 20,
        }
    }

    /// Checks the settings fit together.
    pub fn validate(&self) -> Result<(), String> {
        if self.partition_ms <= 0 || 86_400_000 % self.partition_ms != 0 {
            return Err(format!(
                "partition_ms {} must divide one day",
                self.partition_ms
            ));
        }
        for r in &self.rollups {
            if r.resolution_ms <= 0 || self.partition_ms % r.resolution_ms != 0 {
                return Err(format!(
                    "rollup resolution {} ms must divide the partition ({} ms)",
                    r.resolution_ms, self.partition_ms
                ));
            }
        }
        if self.wal_segment_bytes < 1 << 16 {
            return Err("wal_segment_bytes must be at least 64 KiB".into());
        }
        if self.flush_max_samples == 0 || self.max_blocks_per_partition < 2 {
            return Err("flush_max_samples must be > 0 and max_blocks_per_partition ≥ 2".into());
        }
        Ok(())
    }

    /// Start of the partition holding `ts`.
    pub fn partition_of(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_ms) * self.partition_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policies_parse() {
        assert_eq!(FsyncPolicy::parse("always"), Some(FsyncPolicy::Always));
        assert_eq!(
            FsyncPolicy::parse("interval:100"),
            Some(FsyncPolicy::Interval(Duration::from_millis(100)))
        );
        assert_eq!(FsyncPolicy::parse("interval:0"), None);
        assert_eq!(FsyncPolicy::parse("sometimes"), None);
    }

    #[test]
    fn defaults_validate_and_partitions_align() {
        let c = EngineConfig::new("/nonexistent");
        c.validate().expect("defaults are valid");
        assert_eq!(c.partition_of(7_200_000 + 5), 7_200_000);
        assert_eq!(c.partition_of(-1), -7_200_000);
    }
}
