//! What to generate: [`Config`] and [`ValueMode`].

use std::fmt;
use std::str::FromStr;

use crate::DatagenError;

/// 2026-01-01T00:00:00Z in Unix milliseconds, the default start.
pub const DEFAULT_START_MS: i64 = 1_767_225_600_000;

/// Largest timestamp jitter of [`ValueMode::Jitter`], in milliseconds (see [`Config::jitter_ms`]).
pub const JITTER_MAX_MS: i64 = 500;

/// Mean per-interval increment of a [`ValueMode::Counter`] series (the Poisson mean λ).
pub const COUNTER_MEAN_INCREMENT: u32 = 100;

/// A [`ValueMode::Counter`] series starts at a uniform integer in `[0, COUNTER_START_RANGE)`.
pub const COUNTER_START_RANGE: u64 = 1_000_000_000;

/// How the values (and, for [`ValueMode::Jitter`], the timestamps) are generated.
///
/// See the crate documentation for the exact distributions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ValueMode {
    /// TSBS's integer values: a clamped random walk on the integers `0..=100`, steps a normal
    /// with σ = 1 rounded to the nearest integer. Name `int`.
    Integer,
    /// Realistic floats with two decimals: a clamped random walk on `0.00..=100.00` in steps of
    /// 0.01, steps a normal with σ = 1.0 (100 hundredths) rounded to the nearest hundredth.
    /// Name `float`.
    #[default]
    Float2,
    /// Monotonic counters: whole numbers, starting uniformly in `[0, 10^9)`, each interval adding
    /// a Poisson(100) increment. Name `counter`.
    Counter,
    /// [`ValueMode::Float2`] values with jittered timestamps: `start + i × interval + j`, `j`
    /// uniform in `[−J, J]` ms, `J = min(500, (interval − 1) / 2)`. Name `jitter`.
    Jitter,
}

impl ValueMode {
    /// Every mode, in a fixed order.
    pub const ALL: [ValueMode; 4] = [
        ValueMode::Integer,
        ValueMode::Float2,
        ValueMode::Counter,
        ValueMode::Jitter,
    ];

    /// The canonical name, accepted back by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            ValueMode::Integer => "int",
            ValueMode::Float2 => "float",
            ValueMode::Counter => "counter",
            ValueMode::Jitter => "jitter",
        }
    }

    /// Number of decimal digits of every generated value (0 or 2).
    pub const fn decimals(self) -> u32 {
        match self {
            ValueMode::Integer | ValueMode::Counter => 0,
            ValueMode::Float2 | ValueMode::Jitter => 2,
        }
    }
}

impl fmt::Display for ValueMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ValueMode {
    type Err = DatagenError;

    /// Parses `int` (or `integer`), `float` (or `float2`), `counter`, `jitter`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "int" | "integer" => Ok(ValueMode::Integer),
            "float" | "float2" => Ok(ValueMode::Float2),
            "counter" => Ok(ValueMode::Counter),
            "jitter" => Ok(ValueMode::Jitter),
            _ => Err(DatagenError::UnknownMode {
                input: s.to_owned(),
            }),
        }
    }
}

/// What to generate. The output is a pure function of this struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// Seed of every random choice. Default 1.
    pub seed: u64,
    /// Number of hosts; each host has 10 series (one per field of [`crate::FIELDS`]). Default 100.
    pub hosts: u32,
    /// Timestamp of the first point, Unix milliseconds. Default 2026-01-01T00:00:00Z.
    pub start_ms: i64,
    /// Nominal spacing of points, milliseconds, > 0. Default 10 000 (10 s).
    pub interval_ms: i64,
    /// Points per series. Default 8 640 (one day at 10 s).
    pub points: u32,
    /// How values (and timestamps) are generated. Default [`ValueMode::Float2`].
    pub mode: ValueMode,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 1,
            hosts: 100,
            start_ms: DEFAULT_START_MS,
            interval_ms: 10_000,
            points: 8_640,
            mode: ValueMode::Float2,
        }
    }
}

impl Config {
    /// Checks that the configuration describes a dataset that can be generated: at least one
    /// host and one point, a positive interval, every timestamp (jitter included) within `i64`,
    /// and a sample count within `u64`.
    pub fn validate(&self) -> Result<(), DatagenError> {
        if self.hosts == 0 {
            return Err(DatagenError::NoHosts);
        }
        if self.points == 0 {
            return Err(DatagenError::NoPoints);
        }
        if self.interval_ms <= 0 {
            return Err(DatagenError::NonPositiveInterval {
                interval_ms: self.interval_ms,
            });
        }
        let jitter_ms = self.jitter_ms();
        let first = self.start_ms.checked_sub(jitter_ms);
        let last = i64::from(self.points - 1)
            .checked_mul(self.interval_ms)
            .and_then(|span| self.start_ms.checked_add(span))
            .and_then(|t| t.checked_add(jitter_ms));
        if first.is_none() || last.is_none() {
            return Err(DatagenError::TimestampOverflow {
                start_ms: self.start_ms,
                interval_ms: self.interval_ms,
                points: self.points,
                jitter_ms,
            });
        }
        let samples = u64::from(self.hosts)
            .checked_mul(crate::FIELDS.len() as u64)
            .and_then(|s| s.checked_mul(u64::from(self.points)));
        if samples.is_none() {
            return Err(DatagenError::TooManySamples {
                hosts: self.hosts,
                points: self.points,
            });
        }
        Ok(())
    }

    /// The jitter bound `J` in milliseconds: `min(500, (interval_ms − 1) / 2)` in
    /// [`ValueMode::Jitter`] (so consecutive timestamps stay at least 1 ms apart), 0 otherwise.
    pub fn jitter_ms(&self) -> i64 {
        match self.mode {
            ValueMode::Jitter => JITTER_MAX_MS.min((self.interval_ms - 1).max(0) / 2),
            _ => 0,
        }
    }

    /// The nominal (unjittered) timestamp of point `i`: `start_ms + i × interval_ms`.
    ///
    /// Does not overflow for `i < points` once [`Config::validate`] has passed.
    pub fn nominal_ts(&self, i: u32) -> i64 {
        self.start_ms + i64::from(i) * self.interval_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_names() {
        for mode in ValueMode::ALL {
            assert_eq!(mode.to_string().parse::<ValueMode>(), Ok(mode));
        }
        assert_eq!("INTEGER".parse::<ValueMode>(), Ok(ValueMode::Integer));
        assert_eq!(
            "double".parse::<ValueMode>(),
            Err(DatagenError::UnknownMode {
                input: "double".into()
            })
        );
    }

    #[test]
    fn default_is_valid_and_starts_on_new_year_2026() {
        let c = Config::default();
        assert_eq!(c.validate(), Ok(()));
        // 56 years of 365 days plus 14 leap days since 1970.
        assert_eq!(c.start_ms, (56 * 365 + 14) * 86_400_000);
    }

    #[test]
    fn jitter_bound_keeps_timestamps_apart() {
        let mut c = Config {
            mode: ValueMode::Jitter,
            ..Config::default()
        };
        assert_eq!(c.jitter_ms(), 500);
        for (interval, j) in [(1, 0), (2, 0), (3, 1), (1000, 499), (1001, 500)] {
            c.interval_ms = interval;
            assert_eq!(c.jitter_ms(), j, "interval {interval}");
        }
        c.mode = ValueMode::Float2;
        assert_eq!(c.jitter_ms(), 0);
    }
}
