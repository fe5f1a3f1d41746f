//! Same seed, same bits; hosts independent of each other; rows() equal to host_series().

#[path = "support/common.rs"]
mod common;

use common::{digest, run_digest, small};
use floe_datagen::{EntropyCounter, ValueMode};

#[test]
fn same_seed_gives_identical_bits() {
    for mode in ValueMode::ALL {
        let a = small(mode, 42, 4, 500);
        let b = small(mode, 42, 4, 500);
        for host in 0..4 {
            assert_eq!(digest(&a.host_series(host)), digest(&b.host_series(host)));
        }
    }
}

#[test]
fn different_seeds_give_different_data() {
    for mode in ValueMode::ALL {
        let a = small(mode, 1, 4, 200).host_series(0);
        let b = small(mode, 2, 4, 200).host_series(0);
        for field in 0..10 {
            assert_ne!(
                a.fields[field], b.fields[field],
                "mode {mode} field {field}"
            );
        }
        assert_ne!(
            run_digest(&small(mode, 1, 4, 200)),
            run_digest(&small(mode, 2, 4, 200))
        );
    }
}

#[test]
fn hosts_and_fields_differ_from_each_other() {
    let g = small(ValueMode::Float2, 1, 3, 200);
    let (a, b) = (g.host_series(0), g.host_series(1));
    assert_ne!(a.fields[0], b.fields[0]);
    assert_ne!(a.fields[0], a.fields[1]);
}

#[test]
fn a_host_does_not_depend_on_hosts_generated_before() {
    for mode in ValueMode::ALL {
        let g = small(mode, 9, 8, 300);
        let alone = small(mode, 9, 8, 300).host_series(5);
        for host in 0..8 {
            g.host_series(host);
        }
        assert_eq!(g.host_series(5), alone);
        // And in reverse order.
        let reversed: Vec<_> = (0..8).rev().map(|h| g.host_series(h)).collect();
        assert_eq!(reversed[2], alone);
    }
}

#[test]
fn hosts_generated_on_threads_match() {
    let g = small(ValueMode::Jitter, 3, 6, 400);
    let sequential: Vec<u64> = (0..6).map(|h| digest(&g.host_series(h))).collect();
    let parallel: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .rev()
            .map(|h| {
                let g = &g;
                s.spawn(move || digest(&g.host_series(h)))
            })
            .collect();
        let mut out: Vec<u64> = handles
            .into_iter()
            .map(|h| h.join().expect("generator thread"))
            .collect();
        out.reverse();
        out
    });
    assert_eq!(sequential, parallel);
}

#[test]
fn a_run_is_a_prefix_of_a_larger_run() {
    let few = small(ValueMode::Counter, 5, 3, 100);
    let many = small(ValueMode::Counter, 5, 50, 100);
    for host in 0..3 {
        assert_eq!(few.host_series(host), many.host_series(host));
    }
    // Indices beyond `hosts` are the hosts of the larger run.
    assert_eq!(few.host_series(17), many.host_series(17));
    // Fewer points are a prefix of more points.
    let long = small(ValueMode::Counter, 5, 3, 300).host_series(1);
    let short = few.host_series(1);
    for (s, l) in short.fields.iter().zip(&long.fields) {
        assert_eq!(s[..], l[..100]);
    }
}

#[test]
fn rows_match_host_series() {
    for mode in ValueMode::ALL {
        let g = small(mode, 11, 7, 250);
        let hosts: Vec<_> = (0..7).map(|h| g.host_series(h)).collect();
        let mut rows = g.rows();
        assert_eq!(rows.size_hint(), (7 * 250, Some(7 * 250)));
        let mut count = 0_u64;
        for (n, row) in rows.by_ref().enumerate() {
            let (step, host) = (n / 7, n % 7);
            assert_eq!((row.step as usize, row.host as usize), (step, host));
            let s = &hosts[host];
            assert_eq!(
                row.ts, s.timestamps[step],
                "mode {mode} host {host} step {step}"
            );
            for field in 0..10 {
                assert_eq!(row.values[field].to_bits(), s.fields[field][step].to_bits());
            }
            count += 1;
        }
        assert_eq!(count, g.sample_count() / 10);
        assert_eq!(rows.next(), None);
        assert_eq!(rows.remaining(), 0);
        let mut merged = EntropyCounter::new();
        for s in &hosts {
            merged.merge(&s.entropy);
        }
        assert_eq!(rows.entropy(), &merged, "mode {mode}");
        assert_eq!(g.entropy(), merged, "mode {mode}");
    }
}

#[test]
fn rows_are_in_time_order_across_steps() {
    let g = small(ValueMode::Jitter, 2, 20, 50);
    let rows: Vec<_> = g.rows().collect();
    for pair in rows.windows(2) {
        if pair[0].step != pair[1].step {
            let last_of_step = rows
                .iter()
                .filter(|r| r.step == pair[0].step)
                .map(|r| r.ts)
                .max()
                .expect("step has rows");
            assert!(last_of_step < pair[1].ts || pair[1].step > pair[0].step + 1);
        }
    }
    for step in 1..50 {
        let prev_max = rows
            .iter()
            .filter(|r| r.step == step - 1)
            .map(|r| r.ts)
            .max();
        let min = rows.iter().filter(|r| r.step == step).map(|r| r.ts).min();
        assert!(prev_max < min, "step {step}");
    }
}
