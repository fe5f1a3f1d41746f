//! Discrete step distributions, sampled in constant time from integer alias tables.
//!
//! Each distribution is built once, when a [`crate::Generator`] is created:
//!
//! 1. its probabilities are computed in `f64` using only `+ − × ÷` and `round`, which IEEE 754
//!    defines exactly, so every platform computes the same bits (no `exp`, `ln` or `erf` from
//!    the platform's libm: [`exp_nonpositive`] is our own);
//! 2. they are quantised to integer weights that sum to exactly `size × 2^32`, where `size` is
//!    the table size (the number of outcomes rounded up to a power of two);
//! 3. Vose's alias method, in integer arithmetic, turns the weights into `size` columns of
//!    `(threshold, primary, alias)`.
//!
//! Sampling takes one 64-bit random word: its top `log2(size)` bits pick a column, its low 32
//! bits are compared with the column's threshold. The sampled distribution is therefore
//! *exactly* the quantised weights divided by `size × 2^32`; outcomes whose probability is
//! below about `2^-32 / size` quantise to weight zero and never occur.

/// Capacity of one alias column: the low 32 bits of a random word are compared against it.
const COLUMN: u64 = 1 << 32;

/// `e^x` for `x ≤ 0`, computed with basic IEEE 754 operations only, so it is bit-identical on
/// every platform. Relative error below `1e-15` (range reduction by `ln 2` split in fdlibm's
/// two parts, then a degree-20 Taylor polynomial on `|r| ≤ 0.35`).
pub(crate) fn exp_nonpositive(x: f64) -> f64 {
    debug_assert!(x <= 0.0, "exp_nonpositive({x})");
    if x < -700.0 {
        return 0.0;
    }
    // fdlibm's ln2_hi (low 32 bits zero, so n * LN2_HI is exact) and ln2_lo.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let n = (x * std::f64::consts::LOG2_E).round();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0;
    for k in (1..=20).rev() {
        p = 1.0 + r * p / f64::from(k);
    }
    // 2^n, with -1010 <= n <= 0, built exactly from its bits.
    let two_n = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    p * two_n
}

/// Probabilities (unnormalised) of a normal variable with mean 0 and standard deviation
/// `sigma` rounded to the nearest integer: the weight of `k` is the integral of
/// `exp(−x² / 2σ²)` over `[k − ½, k + ½]`, by composite Simpson's rule with `m` panels of
/// width at most `σ / 64`. Returns the weights of `−k_max ..= k_max`, `k_max = 8σ`.
pub(crate) fn rounded_normal_weights(sigma: u32) -> (i32, Vec<f64>) {
    let sigma_f = f64::from(sigma);
    let k_max = 8 * sigma as i32;
    let panels = (64_u32.div_ceil(sigma).max(1) * 2) as i32;
    let h = 1.0 / f64::from(panels);
    let two_var = 2.0 * sigma_f * sigma_f;
    let density = |x: f64| exp_nonpositive(-(x * x) / two_var);
    let weights = (-k_max..=k_max)
        .map(|k| {
            let a = f64::from(k) - 0.5;
            let mut sum = density(a) + density(a + 1.0);
            for j in 1..panels {
                let factor = if j % 2 == 1 { 4.0 } else { 2.0 };
                sum += factor * density(a + f64::from(j) * h);
            }
            sum * h / 3.0
        })
        .collect();
    (-k_max, weights)
}

/// Probabilities (unnormalised) of a Poisson variable with mean `lambda`, for `0 ..= max`,
/// by the recurrence `p(k + 1) = p(k) · λ / (k + 1)` from `p(λ) = 1` outwards.
pub(crate) fn poisson_weights(lambda: u32, max: u32) -> (i32, Vec<f64>) {
    let l = f64::from(lambda);
    let mut w = vec![0.0; max as usize + 1];
    let mode = lambda.min(max) as usize;
    w[mode] = 1.0;
    for k in mode + 1..w.len() {
        w[k] = w[k - 1] * l / k as f64;
    }
    for k in (0..mode).rev() {
        w[k] = w[k + 1] * (k + 1) as f64 / l;
    }
    (0, w)
}

/// One alias column: outcome `primary` if the low 32 bits of the random word are below
/// `threshold`, otherwise `alias`.
#[derive(Debug, Clone, Copy)]
struct Column {
    threshold: u64,
    primary: i32,
    alias: i32,
}

/// A discrete distribution over a range of integers, sampled from one random word.
#[derive(Clone)]
pub(crate) struct AliasTable {
    /// `64 − log2(columns.len())`: shifts a random word down to a column index.
    shift: u32,
    columns: Box<[Column]>,
    /// Smallest outcome with non-zero weight.
    min: i32,
    /// Largest outcome with non-zero weight.
    max: i32,
}

impl std::fmt::Debug for AliasTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliasTable")
            .field("columns", &self.columns.len())
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

impl AliasTable {
    /// Builds the table of outcomes `first, first + 1, …` with the given unnormalised
    /// weights (finite, non-negative, not all zero).
    pub(crate) fn from_weights(first: i32, weights: &[f64]) -> Self {
        let size = weights.len().next_power_of_two().max(2);
        assert!(
            size <= 1 << 24,
            "alias table of {size} columns is too large"
        );
        let mut q = quantise(weights, size);
        let value = |i: usize| first + i as i32;
        let min = (0..size).find(|&i| q[i] > 0).map_or(first, value);
        let max = (0..size).rev().find(|&i| q[i] > 0).map_or(first, value);
        let mut columns: Vec<Column> = (0..size)
            .map(|i| Column {
                threshold: COLUMN,
                primary: value(i),
                alias: value(i),
            })
            .collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..size).partition(|&i| q[i] < COLUMN);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            columns[s].threshold = q[s];
            columns[s].alias = value(l);
            q[l] -= COLUMN - q[s];
            if q[l] < COLUMN {
                large.pop();
                small.push(l);
            }
        }
        // The weights sum to exactly size × COLUMN, so whatever is left is exactly full.
        debug_assert!(small.iter().chain(&large).all(|&i| q[i] == COLUMN));
        Self {
            shift: 64 - size.trailing_zeros(),
            columns: columns.into_boxed_slice(),
            min,
            max,
        }
    }

    /// The outcome selected by the random word `x`.
    #[inline]
    pub(crate) fn sample(&self, x: u64) -> i32 {
        let column = self.columns[(x >> self.shift) as usize];
        // Branch-free select: the comparison is unpredictable for mid-range thresholds.
        let primary = (x & (COLUMN - 1)) < column.threshold;
        let mask = -i32::from(primary);
        column.alias ^ ((column.primary ^ column.alias) & mask)
    }

    /// Smallest outcome with non-zero quantised weight.
    pub(crate) fn min(&self) -> i32 {
        self.min
    }

    /// Largest outcome with non-zero quantised weight.
    pub(crate) fn max(&self) -> i32 {
        self.max
    }

    /// The exact integer weight of every outcome, out of `columns × 2^32` (for tests and docs).
    #[cfg(test)]
    pub(crate) fn exact_weights(&self) -> std::collections::BTreeMap<i32, u64> {
        let mut out = std::collections::BTreeMap::new();
        for c in self.columns.iter() {
            *out.entry(c.primary).or_insert(0) += c.threshold;
            *out.entry(c.alias).or_insert(0) += COLUMN - c.threshold;
        }
        out.retain(|_, w| *w > 0);
        out
    }
}

/// Integer weights proportional to `weights`, padded with zeros to `size`, summing to exactly
/// `size × COLUMN` (the rounding remainder goes to the first largest weight).
fn quantise(weights: &[f64], size: usize) -> Vec<u64> {
    let total = size as u64 * COLUMN;
    let sum: f64 = weights.iter().sum();
    assert!(
        sum > 0.0 && sum.is_finite(),
        "weights must have a positive finite sum"
    );
    let mut q: Vec<u64> = weights
        .iter()
        .map(|&w| (w / sum * total as f64).round() as u64)
        .collect();
    q.resize(size, 0);
    let assigned: u64 = q.iter().sum();
    let top = (0..q.len()).fold(0, |best, i| if q[i] > q[best] { i } else { best });
    q[top] = (i128::from(q[top]) + i128::from(total) - i128::from(assigned))
        .try_into()
        .expect("rounding remainder is far smaller than the largest weight");
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_closely() {
        for i in 0..=4000 {
            let x = -f64::from(i) / 100.0;
            let ours = exp_nonpositive(x);
            let std = x.exp();
            assert!(((ours - std) / std).abs() < 1e-14, "x={x}: {ours} vs {std}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-800.0), 0.0);
    }

    #[test]
    fn weights_are_exact_and_sum_to_the_table_capacity() {
        let (first, w) = rounded_normal_weights(1);
        let table = AliasTable::from_weights(first, &w);
        let exact = table.exact_weights();
        let total: u64 = exact.values().sum();
        assert_eq!(total, 32 * COLUMN);
        // Symmetric, unimodal, centred on 0.
        assert_eq!(exact[&1], exact[&-1]);
        assert!(exact[&0] > exact[&1] && exact[&1] > exact[&2]);
        // P(round(N(0,1)) = 0) = erf(0.5 / sqrt 2) = 0.382924922548026.
        let p0 = exact[&0] as f64 / total as f64;
        assert!((p0 - 0.382_924_922_548_026).abs() < 1e-9, "p0 = {p0}");
    }

    #[test]
    fn poisson_has_mean_lambda() {
        let (first, w) = poisson_weights(100, 255);
        let table = AliasTable::from_weights(first, &w);
        let exact = table.exact_weights();
        let total: u64 = exact.values().sum();
        let mean: f64 = exact
            .iter()
            .map(|(&k, &c)| f64::from(k) * c as f64)
            .sum::<f64>()
            / total as f64;
        assert!((mean - 100.0).abs() < 1e-6, "mean {mean}");
        assert!(table.min() >= 0 && table.max() <= 255);
    }

    #[test]
    fn sampling_follows_the_weights() {
        let table = AliasTable::from_weights(-1, &[1.0, 2.0, 1.0]);
        let mut rng = crate::rng::Xoshiro256::from_key(3);
        let mut counts = [0_u32; 3];
        for _ in 0..40_000 {
            counts[(table.sample(rng.next_u64()) + 1) as usize] += 1;
        }
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        assert!((19_000..21_000).contains(&counts[1]), "{counts:?}");
        assert!((9_000..11_000).contains(&counts[2]), "{counts:?}");
    }
}

#[cfg(test)]
mod pinned {
    use super::*;

    /// FNV-1a over `(outcome, weight)` of every outcome of a table.
    fn table_digest(table: &AliasTable) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (k, w) in table.exact_weights() {
            for b in k.to_le_bytes().into_iter().chain(w.to_le_bytes()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }

    /// The step tables must never change: they define every generated value. The σ = 1 table
    /// is spelled out (weights out of 32 × 2^32); the others are pinned by digest and support.
    #[test]
    fn tables_are_pinned() {
        let (first, w) = rounded_normal_weights(1);
        let normal1 = AliasTable::from_weights(first, &w);
        let expected: std::collections::BTreeMap<i32, u64> = [
            (0, 52_628_800_614),
            (1, 33_223_164_602),
            (2, 8_328_461_922),
            (3, 821_477_607),
            (4, 31_505_325),
            (5, 464_363),
            (6, 2_604),
            (7, 6),
        ]
        .into_iter()
        .flat_map(|(k, w)| [(k, w), (-k, w)])
        .collect();
        assert_eq!(normal1.exact_weights(), expected);
        assert_eq!(table_digest(&normal1), 0xc6ff_0fe1_ef5d_9e73);

        let (first, w) = rounded_normal_weights(100);
        let normal100 = AliasTable::from_weights(first, &w);
        assert_eq!((normal100.min(), normal100.max()), (-706, 706));
        assert_eq!(table_digest(&normal100), 0x7545_2877_39d2_a305);

        let (first, w) = poisson_weights(100, 255);
        let poisson = AliasTable::from_weights(first, &w);
        assert_eq!((poisson.min(), poisson.max()), (38, 178));
        assert_eq!(table_digest(&poisson), 0x7a0c_e730_ad99_d54f);
    }
}
