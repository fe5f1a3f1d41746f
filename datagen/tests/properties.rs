//! Property tests over small random configurations. A failing case prints its config (seed
//! included), which replays it exactly.

#[path = "support/common.rs"]
mod common;

use common::digest;
use floe_datagen::{Config, EntropyCounter, Generator, ValueMode};
use proptest::prelude::*;

fn mode() -> impl Strategy<Value = ValueMode> {
    prop::sample::select(ValueMode::ALL.to_vec())
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<u64>(),
        1_u32..6,
        -1_000_000_000_i64..1_000_000_000,
        1_i64..20_000,
        1_u32..60,
        mode(),
    )
        .prop_map(
            |(seed, hosts, start_ms, interval_ms, points, mode)| Config {
                seed,
                hosts,
                start_ms,
                interval_ms,
                points,
                mode,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn rows_equal_host_series(config in config()) {
        let g = Generator::new(config).expect("strategy builds valid configs");
        let hosts: Vec<_> = (0..config.hosts).map(|h| g.host_series(h)).collect();
        let mut rows = g.rows();
        for row in rows.by_ref() {
            let s = &hosts[row.host as usize];
            let i = row.step as usize;
            prop_assert_eq!(row.ts, s.timestamps[i]);
            for f in 0..10 {
                prop_assert_eq!(row.values[f].to_bits(), s.fields[f][i].to_bits());
            }
        }
        let mut merged = EntropyCounter::new();
        hosts.iter().for_each(|s| merged.merge(&s.entropy));
        prop_assert_eq!(rows.entropy(), &merged);
        prop_assert_eq!(merged.samples(), g.sample_count());
    }

    #[test]
    fn shape_holds(config in config()) {
        let g = Generator::new(config).expect("strategy builds valid configs");
        for h in 0..config.hosts {
            let s = g.host_series(h);
            prop_assert_eq!(s.timestamps.len(), config.points as usize);
            prop_assert!(s.timestamps.windows(2).all(|w| w[0] < w[1]));
            for (i, &t) in s.timestamps.iter().enumerate() {
                prop_assert!((t - config.nominal_ts(i as u32)).abs() <= config.jitter_ms());
            }
            for field in &s.fields {
                prop_assert_eq!(field.len(), config.points as usize);
                for &v in field {
                    prop_assert_eq!(((v * 100.0).round() / 100.0).to_bits(), v.to_bits());
                    if config.mode == ValueMode::Counter {
                        prop_assert_eq!(v.fract(), 0.0);
                    } else {
                        prop_assert!((0.0..=100.0).contains(&v));
                    }
                }
                if config.mode == ValueMode::Counter {
                    prop_assert!(field.windows(2).all(|w| w[0] <= w[1]));
                }
            }
        }
    }

    #[test]
    fn hosts_are_independent_of_run_size(config in config(), extra in 1_u32..20) {
        let g = Generator::new(config).expect("valid");
        let bigger = Generator::new(Config { hosts: config.hosts + extra, ..config }).expect("valid");
        let h = config.hosts - 1;
        prop_assert_eq!(digest(&g.host_series(h)), digest(&bigger.host_series(h)));
    }

    #[test]
    fn seed_changes_the_data(config in config()) {
        prop_assume!(config.points >= 4);
        let g = Generator::new(config).expect("valid");
        let other = Generator::new(Config { seed: config.seed.wrapping_add(1), ..config }).expect("valid");
        prop_assert_ne!(g.host_series(0).fields, other.host_series(0).fields);
    }
}
