//! The values and timestamps have the promised shape in every mode.

#[path = "support/common.rs"]
mod common;

use common::small;
use floe_datagen::{Config, Generator, HostSeries, ValueMode};

fn hosts(mode: ValueMode) -> Vec<HostSeries> {
    let g = small(mode, 7, 5, 8_640);
    (0..5).map(|h| g.host_series(h)).collect()
}

fn has_two_decimals(v: f64) -> bool {
    ((v * 100.0).round() / 100.0).to_bits() == v.to_bits()
}

#[test]
fn every_hundredth_round_trips_bitwise() {
    for k in 0..=10_000_i64 {
        let v = k as f64 / 100.0;
        assert!(has_two_decimals(v), "{k}");
        let text = format!("{v}");
        assert_eq!(text.parse::<f64>(), Ok(v));
        assert!(
            text.split('.').nth(1).is_none_or(|d| d.len() <= 2),
            "{text}"
        );
    }
}

#[test]
fn walks_stay_in_bounds_with_exact_decimals() {
    for mode in [ValueMode::Integer, ValueMode::Float2, ValueMode::Jitter] {
        let mut fractional = 0;
        let mut at_bounds = 0;
        for s in hosts(mode) {
            for v in s.fields.iter().flatten().copied() {
                assert!((0.0..=100.0).contains(&v), "{mode}: {v}");
                assert!(has_two_decimals(v), "{mode}: {v}");
                if mode == ValueMode::Integer {
                    assert_eq!(v.fract(), 0.0, "{v}");
                }
                fractional += usize::from(v.fract() != 0.0);
                at_bounds += usize::from(v == 0.0 || v == 100.0);
            }
        }
        if mode != ValueMode::Integer {
            assert!(fractional > 0, "{mode} has hundredths");
        }
        assert!(at_bounds > 0, "{mode}: the walk reaches a bound in a day");
    }
}

#[test]
fn walk_steps_look_normal_with_sigma_one() {
    for mode in [ValueMode::Integer, ValueMode::Float2] {
        let (mut n, mut sum, mut sum_sq) = (0.0, 0.0, 0.0);
        for s in hosts(mode) {
            for field in &s.fields {
                for pair in field.windows(2) {
                    let (a, b) = (pair[0], pair[1]);
                    // Skip steps that touch a bound: clamping shortens them.
                    if a > 5.0 && a < 95.0 && b > 0.0 && b < 100.0 {
                        let d = b - a;
                        n += 1.0;
                        sum += d;
                        sum_sq += d * d;
                    }
                }
            }
        }
        let mean = sum / n;
        let sd = (sum_sq / n - mean * mean).sqrt();
        assert!(mean.abs() < 0.02, "{mode}: mean {mean}");
        // round(N(0,1)) has variance 1 + 1/12; round(N(0, 100²)) / 100 has 1 + 1/120000.
        let expected = if mode == ValueMode::Integer {
            (1.0_f64 + 1.0 / 12.0).sqrt()
        } else {
            1.0
        };
        assert!((sd - expected).abs() < 0.02, "{mode}: sd {sd}");
    }
}

#[test]
fn counters_never_decrease_and_are_whole() {
    let mut total_increment = 0.0;
    let mut increments = 0.0;
    for s in hosts(ValueMode::Counter) {
        for field in &s.fields {
            assert!(field[0] >= 0.0 && field[0] < 1e9);
            for pair in field.windows(2) {
                assert!(pair[1] >= pair[0], "{} then {}", pair[0], pair[1]);
                assert_eq!(pair[1].fract(), 0.0);
                total_increment += pair[1] - pair[0];
                increments += 1.0;
            }
        }
    }
    let mean = total_increment / increments;
    assert!((mean - 100.0).abs() < 0.5, "mean increment {mean}");
}

#[test]
fn timestamps_are_exact_without_jitter() {
    for mode in [ValueMode::Integer, ValueMode::Float2, ValueMode::Counter] {
        let g = Generator::new(Config {
            hosts: 2,
            points: 100,
            start_ms: -5_000,
            interval_ms: 7,
            mode,
            ..Config::default()
        })
        .expect("valid");
        for h in 0..2 {
            let s = g.host_series(h);
            let expected: Vec<i64> = (0..100).map(|i| -5_000 + 7 * i).collect();
            assert_eq!(s.timestamps, expected);
        }
    }
}

#[test]
fn jittered_timestamps_increase_strictly_within_the_bound() {
    for interval_ms in [1, 2, 3, 10, 999, 1_000, 10_000] {
        let config = Config {
            hosts: 3,
            points: 2_000,
            interval_ms,
            mode: ValueMode::Jitter,
            ..Config::default()
        };
        let bound = config.jitter_ms();
        let g = Generator::new(config).expect("valid");
        let mut jitters = std::collections::BTreeSet::new();
        for h in 0..3 {
            let s = g.host_series(h);
            for (i, &t) in s.timestamps.iter().enumerate() {
                let j = t - config.nominal_ts(i as u32);
                assert!(j.abs() <= bound, "interval {interval_ms}: jitter {j}");
                jitters.insert(j);
            }
            assert!(
                s.timestamps.windows(2).all(|w| w[0] < w[1]),
                "interval {interval_ms}"
            );
        }
        if bound > 0 {
            assert!(jitters.contains(&-bound) && jitters.contains(&bound));
        }
    }
}
