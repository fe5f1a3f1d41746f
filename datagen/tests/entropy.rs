//! The entropy bound reported for each mode is what theory predicts for its step distribution.
//!
//! Unclamped references: H(round(N(0, 1))) = 2.1048 bits, H(round(N(0, 100²))) = 8.6910 bits,
//! H(Poisson(100)) = 5.3678 bits, log2(1001) = 9.9672 bits. Clamping at 0 and 100 shortens some
//! steps, which lowers the measured walk entropies a little.

#[path = "support/common.rs"]
mod common;

use common::small;
use floe_datagen::ValueMode;

fn report(mode: ValueMode) -> floe_datagen::EntropyReport {
    small(mode, 1, 20, 8_640).entropy().report()
}

fn assert_within(what: &str, value: f64, low: f64, high: f64) {
    assert!(
        (low..=high).contains(&value),
        "{what} = {value}, expected in [{low}, {high}]"
    );
}

#[test]
fn integer_mode_bound() {
    let r = report(ValueMode::Integer);
    assert_eq!(r.samples, 20 * 10 * 8_640);
    assert_eq!(r.series, 200);
    assert_within("int step entropy", r.value_step_entropy_bits, 2.06, 2.11);
    // Start values add log2(101) / 8640 = 0.0008 bits per sample.
    let starts = (101_f64).log2() / 8_640.0;
    let expected = r.value_step_entropy_bits * 8_639.0 / 8_640.0 + starts;
    assert!((r.value_bits_per_sample - expected).abs() < 1e-9);
    assert_eq!(r.timestamp_bits_per_sample, 0.0);
    assert_eq!(r.bits_per_sample, r.value_bits_per_sample);
    assert!((r.bytes_per_sample * 8.0 - r.bits_per_sample).abs() < 1e-12);
}

#[test]
fn float_mode_bound() {
    let r = report(ValueMode::Float2);
    assert_within("float step entropy", r.value_step_entropy_bits, 8.62, 8.70);
    assert_within("float bits per sample", r.bits_per_sample, 8.62, 8.70);
    assert_eq!(r.timestamp_bits_per_sample, 0.0);
}

#[test]
fn counter_mode_bound() {
    let r = report(ValueMode::Counter);
    assert_within(
        "counter step entropy",
        r.value_step_entropy_bits,
        5.34,
        5.39,
    );
    // Start values add log2(1e9) / 8640 = 0.0035 bits per sample.
    assert_within("counter bits per sample", r.bits_per_sample, 5.34, 5.40);
}

#[test]
fn jitter_mode_bound() {
    let r = report(ValueMode::Jitter);
    let float = report(ValueMode::Float2);
    assert_eq!(r.value_bits_per_sample, float.value_bits_per_sample);
    assert_within(
        "jitter timestamp bits",
        r.timestamp_bits_per_sample,
        9.95,
        1001_f64.log2(),
    );
    assert!(
        (r.bits_per_sample - r.value_bits_per_sample - r.timestamp_bits_per_sample).abs() < 1e-12
    );
}

#[test]
fn total_bytes_scale_with_samples() {
    let r = report(ValueMode::Float2);
    assert!((r.total_bytes() - r.bytes_per_sample * r.samples as f64).abs() < 1e-6);
    assert!(r.to_string().contains("bits/sample"));
}
