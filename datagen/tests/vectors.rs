//! Pinned outputs: these numbers must never change. If a test here fails, the generator's
//! output changed, and with it every benchmark figure and golden file built from it. Do not
//! update the expectations: restore the old behaviour, or add a new, separately named mode
//! and document it in docs/datagen.md.

#[path = "support/common.rs"]
mod common;

use common::{run_digest, small};
use floe_datagen::{Config, Generator, ValueMode};

const NOMINAL: [i64; 6] = [
    1_767_225_600_000,
    1_767_225_610_000,
    1_767_225_620_000,
    1_767_225_630_000,
    1_767_225_640_000,
    1_767_225_650_000,
];

fn first_points(mode: ValueMode) -> floe_datagen::HostSeries {
    small(mode, 1, 1, 6).host_series(0)
}

#[test]
fn integer_seed_1_host_0() {
    let s = first_points(ValueMode::Integer);
    assert_eq!(s.timestamps, NOMINAL);
    assert_eq!(s.fields[0], [92.0, 91.0, 91.0, 91.0, 90.0, 91.0]);
    assert_eq!(s.fields[1], [48.0, 47.0, 48.0, 49.0, 49.0, 49.0]);
    assert_eq!(s.fields[2], [20.0, 20.0, 19.0, 18.0, 18.0, 18.0]);
}

#[test]
fn float_seed_1_host_0() {
    let s = first_points(ValueMode::Float2);
    assert_eq!(s.timestamps, NOMINAL);
    assert_eq!(s.fields[0], [91.55, 91.51, 92.44, 92.68, 91.93, 92.7]);
    assert_eq!(s.fields[1], [47.7, 46.65, 47.74, 45.74, 45.48, 43.65]);
    assert_eq!(s.fields[2], [20.49, 20.81, 20.19, 20.01, 19.66, 17.35]);
}

#[test]
fn counter_seed_1_host_0() {
    let s = first_points(ValueMode::Counter);
    assert_eq!(s.timestamps, NOMINAL);
    assert_eq!(
        s.fields[0],
        [
            915442902.0,
            915443001.0,
            915443112.0,
            915443215.0,
            915443305.0,
            915443413.0
        ]
    );
    assert_eq!(
        s.fields[1],
        [
            476999360.0,
            476999449.0,
            476999560.0,
            476999657.0,
            476999755.0,
            476999852.0
        ]
    );
    assert_eq!(
        s.fields[2],
        [
            204953316.0,
            204953419.0,
            204953511.0,
            204953608.0,
            204953704.0,
            204953775.0
        ]
    );
}

#[test]
fn jitter_seed_1_host_0() {
    let s = first_points(ValueMode::Jitter);
    assert_eq!(
        s.timestamps,
        [
            1_767_225_599_748,
            1_767_225_610_193,
            1_767_225_619_559,
            1_767_225_629_659,
            1_767_225_639_576,
            1_767_225_649_885,
        ]
    );
    // Jitter mode has exactly the float mode's values.
    assert_eq!(s.fields, first_points(ValueMode::Float2).fields);
}

#[test]
fn run_digests_seed_1_ten_hosts_hundred_points() {
    let expected = [
        (ValueMode::Integer, 0xa480_3c0e_2fef_3684_u64),
        (ValueMode::Float2, 0xf809_b58f_855a_ff06),
        (ValueMode::Counter, 0x6077_941c_88c9_6550),
        (ValueMode::Jitter, 0xba71_9c9b_37a8_a6f9),
    ];
    for (mode, digest) in expected {
        assert_eq!(run_digest(&small(mode, 1, 10, 100)), digest, "mode {mode}");
    }
}

#[test]
fn tags_seed_1() {
    let g = Generator::new(Config::default()).expect("default config is valid");
    let values = |host| -> Vec<String> { g.host_tags(host).into_iter().map(|(_, v)| v).collect() };
    assert_eq!(
        values(0),
        [
            "host_0",
            "us-west-1",
            "us-west-1a",
            "36",
            "Ubuntu15.10",
            "x64",
            "LON",
            "12",
            "1",
            "production"
        ]
    );
    assert_eq!(
        values(1),
        [
            "host_1",
            "sa-east-1",
            "sa-east-1c",
            "96",
            "Ubuntu15.10",
            "x86",
            "LON",
            "15",
            "1",
            "staging"
        ]
    );
    assert_eq!(
        values(2),
        [
            "host_2",
            "us-east-1",
            "us-east-1c",
            "23",
            "Ubuntu16.04LTS",
            "x64",
            "SF",
            "6",
            "0",
            "production"
        ]
    );
}
