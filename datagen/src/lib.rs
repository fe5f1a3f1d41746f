//! `floe-datagen` generates seeded, reproducible time series in the shape of the TSBS devops
//! *cpu-only* use case, and reports the entropy bound of what it generated, so that a
//! compressor can be compared with the physical limit.
//!
//! It is a pure library: it depends on no other Floe crate, does no I/O, reads no clock and
//! no environment, and has no randomness other than its own specified PRNG. Its output is a
//! pure function of [`Config`], bit-identical on every platform, and must never change
//! silently between versions (pinned test vectors guard it).
//!
//! # What it generates
//!
//! `hosts` hosts, each with the 10 tags of [`TAG_KEYS`] (TSBS's value sets) and the 10 fields
//! of [`FIELDS`] of measurement [`MEASUREMENT`] (`cpu`), so `hosts × 10` series of `points`
//! points each, every `interval_ms` from `start_ms`. Prometheus-style metric names are
//! [`METRIC_NAMES`] (`cpu_usage_user`, …).
//!
//! Values, per [`ValueMode`], in integer *quanta* so that they are exact:
//!
//! | mode | quantum | first value | step per interval | bounds |
//! |---|---|---|---|---|
//! | `int` | 1 | uniform in 0..=100 | round(N(0, 1)) | clamped to [0, 100] |
//! | `float` | 0.01 | uniform in 0..=10000 hundredths | round(N(0, 100²)) hundredths | clamped to [0, 10000] |
//! | `counter` | 1 | uniform in [0, 10⁹) | Poisson(100) | non-decreasing |
//! | `jitter` | as `float` | as `float` | as `float` | as `float` |
//!
//! A value of `k` quanta is stored as `k as f64` (`int`, `counter`) or `k as f64 / 100.0`
//! (`float`, `jitter`): the nearest double to the decimal number, so
//! `(v * 100.0).round() / 100.0 == v` holds bitwise. Timestamps are `start + i × interval`,
//! plus, in `jitter` mode, a uniform integer in `[−J, J]` ms, `J = min(500, (interval − 1)/2)`
//! (see [`Config::jitter_ms`]), which keeps them strictly increasing.
//!
//! # Randomness
//!
//! Every random choice comes from xoshiro256** streams seeded by SplitMix64 from
//! `mix64(mix64(mix64(seed) ^ host) ^ stream)`, where `mix64` is the SplitMix64 output
//! function and `stream` is the field index `0..10`, 10 for timestamp jitter and 11 for tags.
//! Each series thus has its own stream: hosts (and fields) can be generated in any order, in
//! parallel, and a run is a prefix of any run with more hosts. Steps are sampled in constant
//! time from alias tables whose integer weights are computed with basic IEEE 754 arithmetic
//! only (no platform `exp`/`ln`), so they are the same everywhere. `docs/datagen.md` gives
//! every detail.
//!
//! # Entropy bound
//!
//! [`EntropyCounter`] counts the symbols drawn: value steps (in quanta) between consecutive
//! stored values, start values (`log2(range)` bits each) and timestamp jitter (ms). Its
//! [`EntropyReport`] gives the empirical order-0 entropy per sample: the size a coder of
//! independent deltas could approach, not a lower bound for every conceivable coder.
//!
//! # Example
//!
//! ```
//! use floe_datagen::{Config, Generator, ValueMode};
//!
//! let generator = Generator::new(Config { hosts: 3, points: 100, mode: ValueMode::Float2, ..Config::default() })?;
//! let host = generator.host_series(2);
//! assert_eq!(host.timestamps.len(), 100);
//! let mut rows = generator.rows();
//! let first_row = rows.by_ref().find(|r| r.host == 2).expect("host 2 has rows");
//! assert_eq!(first_row.values[0], host.fields[0][0]);
//! rows.by_ref().for_each(drop);
//! assert_eq!(rows.entropy().report().samples, generator.sample_count());
//! # Ok::<(), floe_datagen::DatagenError>(())
//! ```

mod config;
mod dist;
mod entropy;
mod error;
mod generator;
mod rng;
mod rows;
mod tags;
mod walk;

pub use config::{
    COUNTER_MEAN_INCREMENT, COUNTER_START_RANGE, Config, DEFAULT_START_MS, JITTER_MAX_MS, ValueMode,
};
pub use entropy::{EntropyCounter, EntropyReport};
pub use error::DatagenError;
pub use generator::{Generator, HostSeries};
pub use rows::{Row, Rows};
pub use tags::TAG_KEYS;

/// The measurement (InfluxDB) of every series.
pub const MEASUREMENT: &str = "cpu";

/// The 10 fields of each host, in the order of [`HostSeries::fields`] and [`Row::values`].
pub const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// Prometheus-style metric name of each field: `<MEASUREMENT>_<field>`.
pub const METRIC_NAMES: [&str; 10] = [
    "cpu_usage_user",
    "cpu_usage_system",
    "cpu_usage_idle",
    "cpu_usage_nice",
    "cpu_usage_iowait",
    "cpu_usage_irq",
    "cpu_usage_softirq",
    "cpu_usage_steal",
    "cpu_usage_guest",
    "cpu_usage_guest_nice",
];

/// The Prometheus-style metric name of field `field` (an index into [`FIELDS`]), e.g.
/// `cpu_usage_user`; `None` if `field >= 10`.
pub fn metric_name(field: usize) -> Option<&'static str> {
    METRIC_NAMES.get(field).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_measurement_underscore_field() {
        for (i, field) in FIELDS.iter().enumerate() {
            assert_eq!(
                metric_name(i),
                Some(format!("{MEASUREMENT}_{field}").as_str())
            );
        }
        assert_eq!(metric_name(10), None);
    }
}
