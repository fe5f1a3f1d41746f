//! The entropy bound: the empirical order-0 entropy of the random steps actually generated.
//!
//! For the values, the symbols are the differences, in quanta (1 for `int` and `counter`,
//! 0.01 for `float` and `jitter`), between consecutive stored values of a series; the first
//! value of a series costs `log2(number of possible start values)` bits instead. For
//! timestamps, the symbols are the jitter values in milliseconds (one per sample, so a host's
//! jitter counts once for each of its 10 series, as each series stores its own timestamps);
//! without jitter timestamps carry no information.
//!
//! With `n` symbols of which `c(s)` are equal to `s`, the cost of the symbols is
//! `Σ_s c(s) · log2(n / c(s))` bits, that is `n` times the entropy of their empirical
//! distribution. See `docs/datagen.md` for what this bound does and does not promise.

use std::collections::BTreeMap;
use std::fmt;

/// Counts of integer symbols: a dense array over the range that generation produces, and a
/// map for anything outside it (only reached by merging counters of different shapes).
#[derive(Debug, Clone, Default)]
struct Histogram {
    min: i64,
    dense: Vec<u64>,
    sparse: BTreeMap<i64, u64>,
}

impl Histogram {
    fn with_range(min: i64, max: i64) -> Self {
        let len = usize::try_from(max - min + 1).expect("histogram range fits in memory");
        Self {
            min,
            dense: vec![0; len],
            sparse: BTreeMap::new(),
        }
    }

    #[inline]
    fn add(&mut self, symbol: i64, count: u64) {
        let index = symbol.wrapping_sub(self.min) as u64;
        if index < self.dense.len() as u64 {
            self.dense[index as usize] += count;
        } else {
            *self.sparse.entry(symbol).or_insert(0) += count;
        }
    }

    /// `(symbol, count)` for every symbol seen, dense range first.
    fn iter(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let dense = (self.min..)
            .zip(self.dense.iter().copied())
            .filter(|&(_, c)| c > 0);
        dense.chain(self.sparse.iter().map(|(&s, &c)| (s, c)))
    }

    fn merge(&mut self, other: &Histogram) {
        if self.dense.is_empty() && self.sparse.is_empty() {
            self.clone_from(other);
            return;
        }
        for (symbol, count) in other.iter() {
            self.add(symbol, count);
        }
    }

    fn total(&self) -> u64 {
        self.iter().map(|(_, c)| c).sum()
    }

    /// `Σ c · log2(n / c)`: the information of all symbols under their empirical distribution,
    /// summed in symbol order so that the result does not depend on the layout.
    fn total_bits(&self) -> f64 {
        let n = self.total() as f64;
        self.sorted()
            .into_values()
            .fold(0.0, |bits, c| bits + c as f64 * (n / c as f64).log2())
    }

    /// `(symbol, count)` sorted by symbol, for comparing counters of different layouts.
    fn sorted(&self) -> BTreeMap<i64, u64> {
        let mut out = BTreeMap::new();
        for (s, c) in self.iter() {
            *out.entry(s).or_insert(0) += c;
        }
        out
    }
}

/// Accumulates the symbols of a run (or part of one) for its entropy bound.
///
/// Counters of different hosts (or of any disjoint parts of a run) [`merge`](Self::merge) into
/// the counter of the whole; merging is exact (integer counts), commutative and associative.
#[derive(Debug, Clone, Default)]
pub struct EntropyCounter {
    /// Value steps, in quanta.
    steps: Histogram,
    /// For each size of start range, the number of series started in it.
    starts: BTreeMap<u64, u64>,
    /// Timestamp jitter in milliseconds, weighted by the number of samples that store it.
    jitter: Histogram,
}

impl PartialEq for EntropyCounter {
    /// Equal when the counts are equal, whatever the internal layout.
    fn eq(&self, other: &Self) -> bool {
        self.starts == other.starts
            && self.steps.sorted() == other.steps.sorted()
            && self.jitter.sorted() == other.jitter.sorted()
    }
}

impl EntropyCounter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty counter with dense storage for steps in `[step_min, step_max]` and jitter in
    /// `[-jitter_ms, jitter_ms]`.
    pub(crate) fn with_ranges(step_min: i64, step_max: i64, jitter_ms: i64) -> Self {
        Self {
            steps: Histogram::with_range(step_min, step_max),
            starts: BTreeMap::new(),
            jitter: if jitter_ms > 0 {
                Histogram::with_range(-jitter_ms, jitter_ms)
            } else {
                Histogram::default()
            },
        }
    }

    /// Records the first value of a series, drawn uniformly from `range` possibilities.
    pub(crate) fn record_start(&mut self, range: u64) {
        *self.starts.entry(range).or_insert(0) += 1;
    }

    /// Records one value step of `delta` quanta.
    #[inline]
    pub(crate) fn record_step(&mut self, delta: i64) {
        self.steps.add(delta, 1);
    }

    /// Records a timestamp jitter of `jitter_ms`, stored by `samples` samples.
    #[inline]
    pub(crate) fn record_jitter(&mut self, jitter_ms: i64, samples: u64) {
        self.jitter.add(jitter_ms, samples);
    }

    /// Adds the counts of `other` to `self`.
    pub fn merge(&mut self, other: &EntropyCounter) {
        self.steps.merge(&other.steps);
        self.jitter.merge(&other.jitter);
        for (&range, &n) in &other.starts {
            *self.starts.entry(range).or_insert(0) += n;
        }
    }

    /// Number of value samples counted.
    pub fn samples(&self) -> u64 {
        self.series() + self.steps.total()
    }

    /// Number of series counted (one start each).
    pub fn series(&self) -> u64 {
        self.starts.values().sum()
    }

    /// The entropy bound of everything counted.
    pub fn report(&self) -> EntropyReport {
        let samples = self.samples();
        let steps = self.steps.total();
        let start_bits = self.starts.iter().fold(0.0, |bits, (&range, &n)| {
            bits + n as f64 * (range as f64).log2()
        });
        let per_sample = |bits: f64| {
            if samples == 0 {
                0.0
            } else {
                bits / samples as f64
            }
        };
        let step_bits = self.steps.total_bits();
        let value_bits = per_sample(step_bits + start_bits);
        let timestamp_bits = per_sample(self.jitter.total_bits());
        EntropyReport {
            samples,
            series: self.series(),
            value_step_entropy_bits: if steps == 0 {
                0.0
            } else {
                step_bits / steps as f64
            },
            value_bits_per_sample: value_bits,
            timestamp_bits_per_sample: timestamp_bits,
            bits_per_sample: value_bits + timestamp_bits,
            bytes_per_sample: (value_bits + timestamp_bits) / 8.0,
        }
    }
}

/// The entropy bound of a run: the information, in bits, of its random choices per sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropyReport {
    /// Value samples counted (`series × points`).
    pub samples: u64,
    /// Series counted.
    pub series: u64,
    /// Entropy of the empirical distribution of value steps alone, bits per step.
    pub value_step_entropy_bits: f64,
    /// Value information per sample: all steps plus the start values, divided by `samples`.
    pub value_bits_per_sample: f64,
    /// Timestamp information per sample (0 unless timestamps are jittered).
    pub timestamp_bits_per_sample: f64,
    /// `value_bits_per_sample + timestamp_bits_per_sample`.
    pub bits_per_sample: f64,
    /// `bits_per_sample / 8`.
    pub bytes_per_sample: f64,
}

impl EntropyReport {
    /// The bound for the whole run, in bytes: `bytes_per_sample × samples`.
    pub fn total_bytes(&self) -> f64 {
        self.bytes_per_sample * self.samples as f64
    }
}

impl fmt::Display for EntropyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} samples in {} series: {:.4} bits/sample ({:.4} values + {:.4} timestamps; \
             step entropy {:.4} bits), {:.4} bytes/sample",
            self.samples,
            self.series,
            self.bits_per_sample,
            self.value_bits_per_sample,
            self.timestamp_bits_per_sample,
            self.value_step_entropy_bits,
            self.bytes_per_sample,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_symbols_cost_log2_of_their_count() {
        let mut c = EntropyCounter::with_ranges(-2, 1, 0);
        c.record_start(4);
        for s in [-2, -1, 0, 1].repeat(25) {
            c.record_step(s);
        }
        let r = c.report();
        assert_eq!(r.samples, 101);
        assert_eq!(r.series, 1);
        assert!((r.value_step_entropy_bits - 2.0).abs() < 1e-12);
        assert!((r.value_bits_per_sample - 2.0).abs() < 1e-12);
        assert_eq!(r.timestamp_bits_per_sample, 0.0);
    }

    #[test]
    fn merge_is_layout_independent() {
        let mut a = EntropyCounter::with_ranges(0, 3, 2);
        let mut b = EntropyCounter::with_ranges(-10, 10, 0);
        let mut outside = EntropyCounter::new();
        for (i, s) in [0_i64, 3, 7, -4, 1, 1].into_iter().enumerate() {
            a.record_step(s);
            b.record_step(s);
            outside.record_step(s);
            a.record_jitter(i as i64 - 2, 10);
            b.record_jitter(i as i64 - 2, 10);
            outside.record_jitter(i as i64 - 2, 10);
        }
        assert_eq!(a, b);
        assert_eq!(a, outside);
        let mut m = EntropyCounter::new();
        m.merge(&a);
        m.merge(&b);
        let mut twice = outside.clone();
        twice.merge(&outside);
        assert_eq!(m, twice);
        assert_eq!(m.report(), twice.report());
    }

    #[test]
    fn empty_counter_reports_zero() {
        let r = EntropyCounter::new().report();
        assert_eq!(r.samples, 0);
        assert_eq!(r.bits_per_sample, 0.0);
    }
}
