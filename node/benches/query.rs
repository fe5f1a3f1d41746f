//! `cargo bench -p floe-node --bench query`: PromQL query latency of a real `floed` process.
//!
//! Loads the TSBS devops cpu-only data set from `floe-datagen` (default 200 hosts × 12 h at
//! 10 s, 2-decimal float values; `FLOE_BENCH_HOSTS` / `FLOE_BENCH_HOURS` change it,
//! `FLOE_BENCH_SMOKE=1` is a quick 10 hosts × 1 h run), ending a minute before now, by InfluxDB
//! line protocol; flushes and compacts it (`/api/v1/admin/flush`, `/api/v1/admin/compact`) so
//! the queries read blocks at rest, then runs the
//! TSBS-style queries of `common::tsbs` (as TSBS's VictoriaMetrics generator writes them) over
//! `/api/v1/query_range` from one client connection: `FLOE_BENCH_QUERIES` random queries of
//! each type (default 100), after one untimed warm-up query each. Prints p50 and p99 per type;
//! the last line is one JSON object with `<type>_p50_us` and `<type>_p99_us` for each.
//! `FLOE_BENCH_KINDS=single-groupby-1-1-1,cpu-max-all-8` runs only the types named.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::Conn;
use common::load::{line_protocol_bodies, load};
use common::process::start_floed;
use common::stats::{percentile, us};
use common::tsbs::{KINDS, Rng, generate};
use floe_datagen::{Config, Generator, ValueMode};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `path` and checks that it answered a non-empty successful result.
fn run(conn: &mut Conn, path: &str) -> Duration {
    let t = Instant::now();
    let r = conn.get(path);
    let took = t.elapsed();
    let text = r.text();
    assert!(
        r.status == 200 && text.contains("\"status\":\"success\""),
        "{path} answered {}: {text}",
        r.status
    );
    assert!(
        text.contains("\"values\":[["),
        "{path} answered no data: {text}"
    );
    took
}

/// A start for `hours` of data that ends a minute ago, on a 10 s boundary: recent data, as
/// every system's retention and head expect.
fn recent_start_ms(hours: u32) -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    (now_ms - i64::from(hours) * 3_600_000 - 60_000) / 10_000 * 10_000
}

/// Flushes the head to blocks and compacts what is due, so queries read data at rest.
fn persist(conn: &mut Conn) {
    for path in ["/api/v1/admin/flush", "/api/v1/admin/compact"] {
        let r = conn.post(path, "", b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        println!("{path}: {}", r.text());
    }
}

fn main() {
    let smoke = std::env::var("FLOE_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let hosts = env_u32("FLOE_BENCH_HOSTS", if smoke { 10 } else { 200 });
    let hours = env_u32("FLOE_BENCH_HOURS", if smoke { 1 } else { 12 });
    let reps = env_u32("FLOE_BENCH_QUERIES", if smoke { 5 } else { 100 }) as usize;
    let generator = Generator::new(Config {
        hosts,
        points: hours * 360,
        mode: ValueMode::Float2,
        start_ms: recent_start_ms(hours),
        ..Config::default()
    })
    .expect("config");
    let bodies = Arc::new(line_protocol_bodies(&generator));
    let dir = tempfile::tempdir().expect("tempdir");
    // TSBS groups by `__name__` after `max_over_time`: that needs the delayed name removal.
    let floed = start_floed(dir.path(), &["--query-delayed-name-removal"]);
    let wall = load(floed.http, "/write?db=bench", "", bodies);
    persist(&mut Conn::new(floed.http));
    println!(
        "query bench: TSBS cpu-only {hosts} hosts x {hours} h at 10 s (float), {} samples loaded in {wall:.1} s; {reps} queries per type, one client",
        generator.sample_count()
    );
    let start_s = generator.config().start_ms / 1000;
    let end_s = start_s + i64::from(hours) * 3600;
    let mut rng = Rng::new(0x5eed_7585);
    let mut conn = Conn::new(floed.http);
    let mut json = vec![
        "\"bench\":\"query\"".to_string(),
        format!("\"hosts\":{hosts}"),
        format!("\"hours\":{hours}"),
    ];
    let only = std::env::var("FLOE_BENCH_KINDS").unwrap_or_default();
    for kind in KINDS
        .iter()
        .filter(|k| only.is_empty() || only.split(',').any(|o| o == k.name))
    {
        let queries: Vec<_> = (0..=reps)
            .map(|_| generate(kind, start_s, end_s, hosts, &mut rng))
            .collect();
        run(&mut conn, &queries[0].path());
        let times: Vec<Duration> = queries[1..]
            .iter()
            .map(|q| run(&mut conn, &q.path()))
            .collect();
        let (p50, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
        println!(
            "{:<22} p50 {:>9.1} us  p99 {:>9.1} us   e.g. {}",
            kind.name,
            us(p50),
            us(p99),
            queries[0].promql
        );
        let key = kind.name.replace('-', "_");
        json.push(format!("\"{key}_p50_us\":{:.1}", us(p50)));
        json.push(format!("\"{key}_p99_us\":{:.1}", us(p99)));
    }
    println!("{{{}}}", json.join(","));
}
