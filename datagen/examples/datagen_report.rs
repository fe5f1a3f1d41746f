//! Prints, for each value mode, the generation speed (by host and by row, single thread) and
//! the entropy bound of a run.
//!
//! ```text
//! cargo run --release -p floe-datagen --example datagen_report -- [hosts] [points] [seed]
//! ```
//!
//! Defaults: 100 hosts × 8 640 points (one day at 10 s), seed 1.

use std::hint::black_box;
use std::time::Instant;

use floe_datagen::{Config, EntropyCounter, Generator, ValueMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let hosts: u32 = args.next().map_or(Ok(100), |a| a.parse())?;
    let points: u32 = args.next().map_or(Ok(8_640), |a| a.parse())?;
    let seed: u64 = args.next().map_or(Ok(1), |a| a.parse())?;
    println!("{hosts} hosts x 10 fields x {points} points, seed {seed}");
    for mode in ValueMode::ALL {
        let generator = Generator::new(Config {
            seed,
            hosts,
            points,
            mode,
            ..Config::default()
        })?;
        let samples = generator.sample_count() as f64;

        let started = Instant::now();
        let mut by_host = EntropyCounter::new();
        for host in 0..hosts {
            let series = generator.host_series(host);
            by_host.merge(&series.entropy);
            black_box(&series);
        }
        let host_secs = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut rows = generator.rows();
        let mut checksum = 0.0;
        for row in rows.by_ref() {
            checksum += row.values[0];
        }
        black_box(checksum);
        let row_secs = started.elapsed().as_secs_f64();
        assert!(rows.entropy() == &by_host, "rows and host_series disagree");

        println!(
            "{mode:>8}: host_series {:6.1} M samples/s, rows {:6.1} M samples/s | {}",
            samples / host_secs / 1e6,
            samples / row_secs / 1e6,
            by_host.report(),
        );
    }
    Ok(())
}
