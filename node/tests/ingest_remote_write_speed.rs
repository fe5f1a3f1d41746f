//! Decode speed of a 10,000-series remote write request (one sample and 11 labels each, as
//! a scrape of many targets looks). Prints figures, asserts nothing about time:
//!
//! ```text
//! cargo test --release -p floe-node --test ingest_remote_write_speed -- --ignored --nocapture
//! ```

use std::time::Instant;

use floe_node::ingest::remote_write::{
    DecodedSeries, Limits, decode_write_request, decompress, encode_write_request,
};

fn request(series: usize) -> Vec<DecodedSeries> {
    (0..series)
        .map(|i| {
            let mut labels = vec![
                (
                    "__name__".to_string(),
                    format!("node_metric_{}_total", i % 200),
                ),
                ("cluster".into(), "eu-west-1".into()),
                ("cpu".into(), format!("{}", i % 16)),
                ("env".into(), "production".into()),
                (
                    "instance".into(),
                    format!("10.0.{}.{}:9100", i / 250 % 256, i % 250),
                ),
                ("job".into(), "node-exporter".into()),
                (
                    "mode".into(),
                    ["user", "system", "idle", "iowait"][i % 4].into(),
                ),
                ("namespace".into(), "monitoring".into()),
                ("pod".into(), format!("node-exporter-{:05x}", i / 50)),
                ("region".into(), "eu".into()),
                ("service".into(), "node-exporter".into()),
            ];
            labels.sort();
            DecodedSeries {
                labels,
                samples: vec![(1_700_000_000_000 + i as i64, i as f64 * 0.25)],
            }
        })
        .collect()
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), so the figure holds on a
/// busy machine; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Mean wall and CPU milliseconds per call of `f` over `rounds` calls; what `f` returns is
/// dropped outside the timing.
fn time<T>(rounds: usize, mut f: impl FnMut() -> T) -> (f64, Option<f64>) {
    let mut wall = 0.0;
    let mut cpu = Some(0u64);
    for _ in 0..rounds {
        let (c0, t0) = (thread_cpu_ns(), Instant::now());
        let out = f();
        wall += t0.elapsed().as_secs_f64();
        cpu = match (cpu, c0, thread_cpu_ns()) {
            (Some(acc), Some(a), Some(b)) => Some(acc + (b - a)),
            _ => None,
        };
        drop(std::hint::black_box(out));
    }
    let n = rounds as f64;
    (wall / n * 1e3, cpu.map(|c| c as f64 / n / 1e6))
}

fn report(what: &str, (wall, cpu): (f64, Option<f64>), samples: usize) {
    let rate = |ms: f64| samples as f64 / (ms / 1e3) / 1e6;
    match cpu {
        Some(cpu) => println!(
            "{what}: {wall:.2} ms wall ({:.2} M samples/s), {cpu:.2} ms CPU ({:.2} M samples/s)",
            rate(wall),
            rate(cpu)
        ),
        None => println!("{what}: {wall:.2} ms wall ({:.2} M samples/s)", rate(wall)),
    }
}

#[test]
#[ignore = "speed figure; run in release with --ignored --nocapture"]
fn decode_speed_10k_series() {
    let series = request(10_000);
    let body = encode_write_request(&series);
    let raw_len = snap::raw::decompress_len(&body).expect("header");
    let limits = Limits::default();
    let (got, stats) = decode_write_request(&body, &limits).expect("valid");
    assert_eq!((got.len(), stats.samples), (10_000, 10_000));
    println!(
        "request: 10,000 series x 1 sample x 11 labels, {} bytes snappy, {raw_len} bytes protobuf",
        body.len()
    );
    let rounds = 100;
    time(10, || decode_write_request(&body, &limits)); // warm up
    report(
        "decode_write_request",
        time(rounds, || {
            decode_write_request(&body, &limits).expect("valid")
        }),
        10_000,
    );
    report(
        "  of which snappy",
        time(rounds, || decompress(&body, &limits).expect("valid")),
        10_000,
    );
    report(
        "encode_write_request",
        time(rounds, || encode_write_request(&series)),
        10_000,
    );
}
