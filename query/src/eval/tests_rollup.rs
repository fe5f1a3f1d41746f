//! The rollup path answers exactly what the raw samples answer: a storage that offers the
//! rollups of its own samples must give the same results, point for point, as one that offers
//! only the samples; and it is only taken where it can be exact. Also: range functions split
//! across threads answer as on one.

use std::sync::atomic::{AtomicUsize, Ordering};

use floe_storage_format::rollup::{RollupColumns, rollup};

use crate::testing::MemoryStorage;
use crate::{
    LabelMatcher, QueryOptions, QueryValue, RollupSeries, Series, Storage, StorageError,
    range_query,
};

const M: i64 = 60_000;
const H: i64 = 3_600_000;

/// `MemoryStorage` that also answers `select_rollup` from its own samples, counting the calls.
struct WithRollups {
    raw: MemoryStorage,
    rollup_calls: AtomicUsize,
}

impl Storage for WithRollups {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, StorageError> {
        self.raw.select(matchers, start_ms, end_ms)
    }

    fn select_rollup(
        &self,
        matchers: &[LabelMatcher],
        resolution_ms: i64,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Option<Vec<RollupSeries>>, StorageError> {
        self.rollup_calls.fetch_add(1, Ordering::Relaxed);
        let bucket_end = end_ms + resolution_ms - 1;
        let mut out = Vec::new();
        for s in self.raw.select(matchers, start_ms, bucket_end)? {
            let (ts, vs): (Vec<i64>, Vec<f64>) = s.samples.iter().copied().unzip();
            let mut r = RollupColumns::new(resolution_ms);
            rollup(&ts, &vs, resolution_ms, &mut r).expect("rollup");
            let mut inside = RollupColumns::new(resolution_ms);
            for row in r
                .rows()
                .filter(|row| row.ts >= start_ms && row.ts <= end_ms)
            {
                inside.push(row);
            }
            out.push(RollupSeries {
                labels: s.labels,
                rollup: inside,
            });
        }
        Ok(Some(out))
    }
}

fn data() -> MemoryStorage {
    let stale = f64::from_bits(floe_storage_format::STALE_NAN_BITS);
    let mut st = MemoryStorage::new();
    // Every 10 s for 6 h, samples exactly on minute and hour boundaries, a few NaNs, a
    // staleness marker and a gap.
    let a: Vec<(i64, f64)> = (0..2160)
        .filter(|i| !(700..760).contains(i))
        .map(|i| {
            let v = match i {
                100 | 101 => f64::NAN,
                900 => stale,
                _ => ((i * 37) % 101) as f64 - 50.0 + (i % 7) as f64 / 4.0,
            };
            (H + i * 10_000, v)
        })
        .collect();
    st.add_series(&[("__name__", "load"), ("host", "a")], a);
    // Irregular times, some exactly on boundaries.
    let b: Vec<(i64, f64)> = (0..500)
        .map(|i| (H + i * 43_000 - (i % 3) * 1_000, (i % 13) as f64))
        .collect();
    st.add_series(&[("__name__", "load"), ("host", "b")], b);
    st
}

fn matrix(
    st: &dyn Storage,
    q: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Vec<(String, Vec<(i64, u64)>)> {
    match range_query(st, q, start, end, step, &QueryOptions::default()) {
        Ok((QueryValue::Matrix(m), _)) => m
            .into_iter()
            .map(|s| {
                let pts = s.points.iter().map(|&(t, v)| (t, canonical(v))).collect();
                (s.labels.to_string(), pts)
            })
            .collect(),
        other => panic!("{q}: {other:?}"),
    }
}

/// Bits, with every NaN one NaN and -0 as +0 (the rollup keeps the greater zero).
fn canonical(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

#[test]
fn rollup_answers_equal_raw_answers_on_aligned_windows() {
    let raw = data();
    let with = WithRollups {
        raw: data(),
        rollup_calls: AtomicUsize::new(0),
    };
    let mut compared = 0;
    for f in ["max_over_time", "min_over_time", "count_over_time"] {
        for (range, step, start) in [
            ("1m", M, 2 * H),
            ("5m", 5 * M, 2 * H),
            ("1h", H, 2 * H),
            ("10m", M, H + 10 * M),
            ("2h", 5 * M, 3 * H),
        ] {
            for offset in ["", " offset 5m"] {
                let q = format!("{f}(load[{range}]{offset})");
                let want = matrix(&raw, &q, start, start + 4 * H, step);
                let calls = with.rollup_calls.load(Ordering::Relaxed);
                let got = matrix(&with, &q, start, start + 4 * H, step);
                assert_eq!(
                    with.rollup_calls.load(Ordering::Relaxed),
                    calls + 1,
                    "{q}: rollups not used"
                );
                assert_eq!(got, want, "{q} step {step} from {start}");
                assert!(!want.is_empty(), "{q}: nothing to compare");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 30);
}

#[test]
fn rollups_are_not_used_where_they_could_not_be_exact() {
    let with = WithRollups {
        raw: data(),
        rollup_calls: AtomicUsize::new(0),
    };
    for (q, start, step) in [
        ("sum_over_time(load[1h])", 2 * H, H), // sums are not bit-exact
        ("avg_over_time(load[1h])", 2 * H, H), // neither are averages
        ("max_over_time(load[1h])", 2 * H + 10_000, H), // window not on a bucket boundary
        ("max_over_time(load[90s])", 2 * H, M), // range not whole buckets
        ("max_over_time(load[1h])", 2 * H, 90_000), // steps not whole buckets
        ("max_over_time(load[1h] @ 7200)", 2 * H, H), // pinned window
        ("max_over_time(load[1h] offset 30s)", 2 * H, H),
    ] {
        matrix(&with, q, start, start + 2 * H, step);
        assert_eq!(
            with.rollup_calls.load(Ordering::Relaxed),
            0,
            "{q} used rollups"
        );
    }
}

/// Range functions over many samples are evaluated on several threads; the answer is the one
/// each series gives alone (below the threshold, on one thread), in the same order.
#[test]
fn range_functions_split_across_threads_answer_as_one_thread() {
    let mut st = MemoryStorage::new();
    for s in 0..60 {
        let samples: Vec<(i64, f64)> = (0..5_000)
            .map(|i| (i * 10_000, ((i * (s + 3)) % 1_000) as f64 + s as f64 / 8.0))
            .collect();
        st.add_series(&[("__name__", "x"), ("s", &format!("{s:02}"))], samples);
    }
    let (start, end, step) = (3_600_000, 49_000_000, 60_000);
    for f in [
        "rate(x[5m])",
        "avg_over_time(x[10m])",
        "quantile_over_time(0.9, x[10m])",
        "holt_winters(x[10m], 0.5, 0.5)",
    ] {
        let together = matrix(&st, f, start, end, step);
        assert_eq!(together.len(), 60, "{f}");
        for (i, (labels, points)) in together.iter().enumerate() {
            let one = f.replace("x[", &format!("x{{s=\"{i:02}\"}}["));
            let alone = matrix(&st, &one, start, end, step);
            assert_eq!(alone.len(), 1, "{one}");
            assert_eq!(&alone[0].0, labels, "{one}");
            assert_eq!(&alone[0].1, points, "{one}");
        }
    }
}
