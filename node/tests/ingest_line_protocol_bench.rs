//! Parse speed of the line-protocol decoder on TSBS-like `cpu` lines (10 tags, 10 fields).
//! A figure, not a test: run with
//!
//! ```text
//! cargo test -p floe-node --release --test ingest_line_protocol_bench -- --ignored --nocapture
//! ```

use std::hint::black_box;
use std::time::Instant;

use floe_node::ingest::line_protocol::{LineParser, Precision, SeriesMapper, append_samples};

const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

const REGIONS: [(&str, &str); 3] = [
    ("eu-central-1", "eu-central-1a"),
    ("us-west-2", "us-west-2b"),
    ("ap-northeast-1", "ap-northeast-1c"),
];

/// `hosts` hosts × `steps` timestamps of TSBS's cpu-only use case, with integer or float values.
fn tsbs_cpu(hosts: usize, steps: usize, floats: bool) -> Vec<u8> {
    let mut out = String::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 0..steps {
        for h in 0..hosts {
            let (region, dc) = REGIONS[h % REGIONS.len()];
            out.push_str(&format!(
                "cpu,hostname=host_{h},region={region},datacenter={dc},rack={},os=Ubuntu16.04LTS,arch=x64,team=SF,service={},service_version={},service_environment=production ",
                h % 100,
                h % 20,
                h % 2,
            ));
            for (i, f) in FIELDS.iter().enumerate() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i > 0 {
                    out.push(',');
                }
                if floats {
                    out.push_str(&format!("{f}={}.{}", x % 100, x % 1000));
                } else {
                    out.push_str(&format!("{f}={}i", x % 100));
                }
            }
            out.push_str(&format!(
                " {}\n",
                1_451_606_400_000_000_000i64 + step as i64 * 10_000_000_000
            ));
        }
    }
    out.into_bytes()
}

/// Parses of the body per timing: `schedstat` may advance in scheduler ticks (4 ms on the
/// development VM), so each timing spans well over 100 ms.
const PASSES: usize = 4;

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), so the figure holds on a
/// machine busy with other work; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn measure(name: &str, body: &[u8]) {
    let mut parser = LineParser::new(Precision::Nanoseconds);
    let (mut best_wall, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    let mut fields = 0;
    for _ in 0..9 {
        let cpu0 = thread_cpu_ns();
        let t = Instant::now();
        let mut sum = 0.0;
        for _ in 0..PASSES {
            let stats = parser
                .parse(body, |line| {
                    for (_, v) in &line.fields {
                        sum += v.as_f64().unwrap_or(0.0);
                    }
                    black_box(&line.tags);
                    Ok(())
                })
                .expect("the generated body parses");
            fields = stats.fields;
        }
        black_box(sum);
        best_wall = best_wall.min(t.elapsed().as_secs_f64() / PASSES as f64);
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
            best_cpu = best_cpu.min((b - a) as f64 / 1e9 / PASSES as f64);
        }
    }
    println!(
        "{name}: {} bytes, {fields} fields; best of 9 (x{PASSES} parses) on one core: {:.1} M fields/s, {:.0} MB/s by thread CPU time \
         ({:.1} ms), {:.1} M fields/s by wall time",
        body.len(),
        fields as f64 / best_cpu / 1e6,
        body.len() as f64 / best_cpu / 1e6,
        best_cpu * 1e3,
        fields as f64 / best_wall / 1e6,
    );
}

/// Parsing plus the mapping onto series, both ways: [`append_samples`] (a key per sample) and
/// [`SeriesMapper`] (a key per distinct series).
fn measure_with_series(name: &str, body: &[u8]) {
    let mut parser = LineParser::new(Precision::Nanoseconds);
    let (mut best_append, mut best_mapper) = (f64::INFINITY, f64::INFINITY);
    let mut samples = 0;
    for _ in 0..5 {
        let cpu0 = thread_cpu_ns();
        let mut rows = Vec::new();
        parser
            .parse(body, |line| {
                append_samples(line, Some("benchmark"), 0, &mut rows).map(|_| ())
            })
            .expect("the generated body parses");
        let cpu1 = thread_cpu_ns();
        samples = black_box(&rows).len();
        let mut mapper = SeriesMapper::new(Some("benchmark"), 0);
        parser
            .parse(body, |line| mapper.add(line).map(|_| ()))
            .expect("the generated body parses");
        let cpu2 = thread_cpu_ns();
        assert_eq!(black_box(&mapper).samples().len(), samples);
        // Dropping the rows and keys stays outside the timings.
        drop((rows, mapper));
        if let (Some(a), Some(b), Some(c)) = (cpu0, cpu1, cpu2) {
            best_append = best_append.min((b - a) as f64 / 1e9);
            best_mapper = best_mapper.min((c - b) as f64 / 1e9);
        }
    }
    println!(
        "{name}: {samples} samples; best of 5 on one core (thread CPU time): parse + append_samples \
         {:.2} M samples/s, parse + SeriesMapper {:.2} M samples/s",
        samples as f64 / best_append / 1e6,
        samples as f64 / best_mapper / 1e6,
    );
}

#[test]
#[ignore = "a benchmark: run with --release --ignored --nocapture"]
fn parse_speed_tsbs_cpu() {
    measure("tsbs cpu, integer fields", &tsbs_cpu(1000, 100, false));
    measure("tsbs cpu, float fields", &tsbs_cpu(1000, 100, true));
    measure_with_series(
        "tsbs cpu, integer fields, 1000 hosts x 60 steps",
        &tsbs_cpu(1000, 60, false),
    );
}
