//! `cargo bench -p floe-node --bench ingest`: ingest over HTTP into a real `floed` process.
//!
//! The TSBS devops cpu-only data set from `floe-datagen` (default 200 hosts × 12 h at 10 s,
//! integer values: 8.64 M samples; `FLOE_BENCH_HOSTS` / `FLOE_BENCH_HOURS` change it) is
//! encoded in advance, then sent by 4 concurrent loader connections (HTTP/1.1 keep-alive):
//! InfluxDB line protocol with 10,000 lines per request (100,000 samples), and Prometheus
//! remote write with 10,000 samples per request. Prints samples/s (wall) and the server's CPU
//! seconds per million samples (from `/proc/<pid>/stat`). The last line is one JSON object.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::load::{
    CONNECTIONS, REMOTE_WRITE_HEADERS, line_protocol_bodies, load, remote_write_bodies,
};
use common::process::{cpu_seconds, start_floed};
use floe_datagen::{Config, Generator, ValueMode};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let hosts = env_u32("FLOE_BENCH_HOSTS", 200);
    let hours = env_u32("FLOE_BENCH_HOURS", 12);
    let generator = Generator::new(Config {
        hosts,
        points: hours * 360,
        mode: ValueMode::Integer,
        ..Config::default()
    })
    .expect("config");
    let samples = generator.sample_count() as f64;
    println!(
        "ingest bench: TSBS cpu-only {hosts} hosts x {hours} h at 10 s, integer values = {samples} samples; {CONNECTIONS} loader connections"
    );
    let mut json = Vec::new();
    for (name, path, extra) in [
        ("line_protocol", "/write?db=bench", ""),
        ("remote_write", "/api/v1/write", REMOTE_WRITE_HEADERS),
    ] {
        let t = Instant::now();
        let bodies = Arc::new(if name == "line_protocol" {
            line_protocol_bodies(&generator)
        } else {
            remote_write_bodies(&generator)
        });
        let bytes: usize = bodies.iter().map(Vec::len).sum();
        println!(
            "{name}: {} requests, {:.1} MB encoded in {:.1} s (not timed)",
            bodies.len(),
            bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let floed = start_floed(dir.path(), &[]);
        let cpu_before = cpu_seconds(floed.pid());
        let wall = load(floed.http, path, extra, bodies);
        let cpu = cpu_seconds(floed.pid()) - cpu_before;
        let rate = samples / wall;
        let cpu_per_m = cpu / (samples / 1e6);
        println!(
            "{name}: {:.2} M samples/s (wall {wall:.2} s); server CPU {cpu:.2} s = {cpu_per_m:.3} s per million samples",
            rate / 1e6
        );
        json.push(format!("\"{name}_samples_per_s\":{rate:.0}"));
        json.push(format!(
            "\"{name}_cpu_s_per_million_samples\":{cpu_per_m:.4}"
        ));
        if name == "line_protocol" {
            json.push(format!("\"cpu_s_per_million_samples\":{cpu_per_m:.4}"));
        }
    }
    json.push(format!("\"samples\":{samples}"));
    println!("{{{}}}", json.join(","));
}
