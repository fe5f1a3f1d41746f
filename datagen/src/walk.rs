//! One series' values (a clamped random walk or a counter) and one host's timestamp jitter,
//! as small state machines shared by [`crate::Generator::host_series`] and
//! [`crate::Generator::rows`], so that both produce the same numbers by construction.

use crate::config::{COUNTER_MEAN_INCREMENT, COUNTER_START_RANGE, Config, ValueMode};
use crate::dist::{AliasTable, poisson_weights, rounded_normal_weights};
use crate::entropy::EntropyCounter;
use crate::rng::{STREAM_JITTER, Xoshiro256};

/// Upper bound of the walk in quanta for `int` (100 × 1).
const INT_MAX_QUANTA: i64 = 100;
/// Upper bound of the walk in quanta for `float` and `jitter` (100.00 in hundredths).
const HUNDREDTHS_MAX_QUANTA: i64 = 10_000;
/// Largest counter increment tabulated (λ + 15.5σ for λ = 100; the mass above is < 1e-30).
const COUNTER_MAX_INCREMENT: u32 = 255;

/// Everything about a value mode that generation needs, built once per generator.
#[derive(Debug, Clone)]
pub(crate) struct ModeSpec {
    /// Distribution of the raw step (walk) or increment (counter), in quanta.
    steps: AliasTable,
    /// `Some(max)`: a walk clamped to `[0, max]` quanta; `None`: an unbounded counter.
    clamp_max: Option<i64>,
    /// Number of possible first values (uniform in `[0, start_range)` quanta).
    start_range: u64,
    /// Values are quanta / 100 (hundredths) rather than whole quanta.
    hundredths: bool,
    /// Jitter bound `J` in ms, if timestamps are jittered.
    jitter_ms: Option<i64>,
}

impl ModeSpec {
    pub(crate) fn new(config: &Config) -> Self {
        let (first, weights) = match config.mode {
            ValueMode::Integer => rounded_normal_weights(1),
            ValueMode::Float2 | ValueMode::Jitter => rounded_normal_weights(100),
            ValueMode::Counter => poisson_weights(COUNTER_MEAN_INCREMENT, COUNTER_MAX_INCREMENT),
        };
        let clamp_max = match config.mode {
            ValueMode::Integer => Some(INT_MAX_QUANTA),
            ValueMode::Float2 | ValueMode::Jitter => Some(HUNDREDTHS_MAX_QUANTA),
            ValueMode::Counter => None,
        };
        Self {
            steps: AliasTable::from_weights(first, &weights),
            clamp_max,
            start_range: clamp_max.map_or(COUNTER_START_RANGE, |m| m as u64 + 1),
            hundredths: config.mode.decimals() == 2,
            jitter_ms: (config.mode == ValueMode::Jitter).then(|| config.jitter_ms()),
        }
    }

    /// Number of possible first values of a series.
    pub(crate) fn start_range(&self) -> u64 {
        self.start_range
    }

    /// The stored value of `k` quanta: `k` or exactly `k as f64 / 100.0`.
    #[inline]
    pub(crate) fn value(&self, k: i64) -> f64 {
        if self.hundredths {
            k as f64 / 100.0
        } else {
            k as f64
        }
    }

    /// An empty entropy counter with dense storage for this mode's symbols.
    pub(crate) fn entropy_counter(&self) -> EntropyCounter {
        // Clamping only shortens steps, so the raw step range covers every stored step.
        let (min, max) = (i64::from(self.steps.min()), i64::from(self.steps.max()));
        EntropyCounter::with_ranges(min.min(0), max.max(0), self.jitter_ms.unwrap_or(0))
    }
}

/// The values of one series: state `k` (quanta) and the series' own random stream.
#[derive(Debug, Clone)]
pub(crate) struct FieldWalk {
    rng: Xoshiro256,
    k: i64,
}

impl FieldWalk {
    /// The walk of field `field` of `host`, at its first point (drawn uniformly from
    /// `[0, start_range)` quanta).
    pub(crate) fn start(spec: &ModeSpec, seed: u64, host: u32, field: usize) -> Self {
        let mut rng = Xoshiro256::for_stream(seed, host, field as u32);
        let k = rng.below(spec.start_range) as i64;
        Self { rng, k }
    }

    /// The current value in quanta.
    #[inline]
    pub(crate) fn quanta(&self) -> i64 {
        self.k
    }

    /// Moves to the next point: adds one step (clamped for walks) and records the stored step.
    #[inline]
    pub(crate) fn advance(&mut self, spec: &ModeSpec, entropy: &mut EntropyCounter) {
        let step = i64::from(spec.steps.sample(self.rng.next_u64()));
        let next = match spec.clamp_max {
            Some(max) => (self.k + step).clamp(0, max),
            None => self.k + step,
        };
        entropy.record_step(next - self.k);
        self.k = next;
    }
}

/// The timestamp jitter of one host: uniform integers in `[-J, J]` ms from the host's
/// jitter stream, one per point.
#[derive(Debug, Clone)]
pub(crate) struct JitterStream {
    rng: Xoshiro256,
    bound: i64,
}

impl JitterStream {
    /// The jitter stream of `host`, if the mode jitters timestamps.
    pub(crate) fn start(spec: &ModeSpec, seed: u64, host: u32) -> Option<Self> {
        spec.jitter_ms.map(|bound| Self {
            rng: Xoshiro256::for_stream(seed, host, STREAM_JITTER),
            bound,
        })
    }

    /// The next jitter in ms.
    #[inline]
    pub(crate) fn next_ms(&mut self) -> i64 {
        self.rng.below(2 * self.bound as u64 + 1) as i64 - self.bound
    }
}
