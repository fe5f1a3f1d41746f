//! Configuration validation.

use floe_datagen::{Config, DatagenError, Generator, ValueMode};

fn with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    f(&mut c);
    c
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(
        (c.seed, c.hosts, c.interval_ms, c.points, c.mode),
        (1, 100, 10_000, 8_640, ValueMode::Float2)
    );
    assert_eq!(c.start_ms, 1_767_225_600_000);
    let g = Generator::new(c).expect("default is valid");
    assert_eq!(g.series_count(), 1_000);
    assert_eq!(g.sample_count(), 8_640_000);
}

#[test]
fn rejects_empty_runs_and_bad_intervals() {
    assert_eq!(
        Generator::new(with(|c| c.hosts = 0)).err(),
        Some(DatagenError::NoHosts)
    );
    assert_eq!(
        Generator::new(with(|c| c.points = 0)).err(),
        Some(DatagenError::NoPoints)
    );
    for interval_ms in [0, -1, i64::MIN] {
        assert_eq!(
            with(|c| c.interval_ms = interval_ms).validate(),
            Err(DatagenError::NonPositiveInterval { interval_ms })
        );
    }
}

#[test]
fn rejects_timestamp_overflow() {
    let c = with(|c| {
        c.start_ms = i64::MAX - 10_000;
        c.points = 3;
    });
    assert!(matches!(
        c.validate(),
        Err(DatagenError::TimestampOverflow {
            points: 3,
            jitter_ms: 0,
            ..
        })
    ));
    // The last point exactly at i64::MAX is fine...
    let edge = with(|c| {
        c.start_ms = i64::MAX - 20_000;
        c.points = 3;
    });
    assert_eq!(edge.validate(), Ok(()));
    // ...unless jitter may push it beyond.
    let jittered = Config {
        mode: ValueMode::Jitter,
        ..edge
    };
    assert!(matches!(
        jittered.validate(),
        Err(DatagenError::TimestampOverflow { jitter_ms: 500, .. })
    ));
    // Jitter below i64::MIN at the start.
    let low = with(|c| {
        c.start_ms = i64::MIN + 100;
        c.mode = ValueMode::Jitter;
    });
    assert!(matches!(
        low.validate(),
        Err(DatagenError::TimestampOverflow { .. })
    ));
    assert!(with(|c| c.interval_ms = i64::MAX).validate().is_err());
}

#[test]
fn rejects_sample_counts_beyond_u64() {
    let c = with(|c| {
        c.hosts = u32::MAX;
        c.points = u32::MAX;
        c.interval_ms = 1;
        c.start_ms = 0;
    });
    assert_eq!(
        c.validate(),
        Err(DatagenError::TooManySamples {
            hosts: u32::MAX,
            points: u32::MAX
        })
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let e = with(|c| c.interval_ms = -3)
        .validate()
        .expect_err("invalid");
    assert_eq!(
        e.to_string(),
        "config: interval_ms must be positive, got -3"
    );
    let e = "fast".parse::<ValueMode>().expect_err("invalid");
    assert!(e.to_string().contains("\"fast\""));
}
