//! Helpers shared by the integration tests (included with `#[path] mod common;`, so that
//! cargo does not build this file as a test target of its own).

#![allow(dead_code, unreachable_pub)]

use floe_datagen::{Config, Generator, HostSeries, ValueMode};

/// A small run of `mode`.
pub fn small(mode: ValueMode, seed: u64, hosts: u32, points: u32) -> Generator {
    Generator::new(Config {
        seed,
        hosts,
        points,
        mode,
        ..Config::default()
    })
    .expect("small config is valid")
}

/// FNV-1a over the bits of everything a host's series contain (tags, timestamps, values).
pub fn digest(series: &HostSeries) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (k, v) in &series.tags {
        eat(k.as_bytes());
        eat(v.as_bytes());
    }
    for t in &series.timestamps {
        eat(&t.to_le_bytes());
    }
    for field in &series.fields {
        for v in field {
            eat(&v.to_bits().to_le_bytes());
        }
    }
    h
}

/// Digest of every host of a run, in host order.
pub fn run_digest(generator: &Generator) -> u64 {
    (0..generator.config().hosts).fold(0, |acc: u64, host| {
        acc.rotate_left(5) ^ digest(&generator.host_series(host))
    })
}
