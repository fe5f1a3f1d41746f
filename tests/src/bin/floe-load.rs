//! `floe-load`: writes a TSBS-shaped cpu stream from `floe-datagen` into running floed nodes
//! as InfluxDB line protocol over HTTP, ending at the present (see `floe_tests::load`).
//!
//! ```sh
//! floe-load --addr 127.0.0.1:8480,127.0.0.1:8481 --hosts 50 --backfill 1h        # then exits
//! floe-load --addr 127.0.0.1:8480 --follow                                        # runs until killed
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use floe_tests::load::{LoadConfig, load};

/// Writes a generated cpu stream into floed nodes over HTTP line protocol.
#[derive(Debug, Parser)]
#[command(name = "floe-load", version)]
struct Args {
    /// Nodes' HTTP addresses, comma-separated; batches go to each in turn.
    #[arg(
        long,
        env = "FLOE_LOAD_ADDR",
        value_delimiter = ',',
        default_value = "127.0.0.1:8480"
    )]
    addr: Vec<SocketAddr>,
    /// The `db` label of every series.
    #[arg(long, env = "FLOE_LOAD_DB", default_value = "floe")]
    db: String,
    /// Hosts (10 series each).
    #[arg(long, env = "FLOE_LOAD_HOSTS", default_value_t = 50)]
    hosts: u32,
    /// Spacing of points, seconds.
    #[arg(long, env = "FLOE_LOAD_INTERVAL", default_value_t = 10)]
    interval: u32,
    /// How far back the data starts, e.g. 1h, 30m, 2d.
    #[arg(long, env = "FLOE_LOAD_BACKFILL", default_value = "1h")]
    backfill: String,
    /// After the backfill, keep writing one row per host every interval until killed.
    #[arg(long, env = "FLOE_LOAD_FOLLOW")]
    follow: bool,
    /// Rows (10 samples each) per request.
    #[arg(long, env = "FLOE_LOAD_BATCH", default_value_t = 500)]
    batch: usize,
    /// Write consistency: one, quorum or all (the node's default if absent).
    #[arg(long, env = "FLOE_LOAD_CONSISTENCY")]
    consistency: Option<String>,
    /// Datagen seed.
    #[arg(long, env = "FLOE_LOAD_SEED", default_value_t = 1)]
    seed: u64,
}

fn duration_ms(s: &str) -> Option<i64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(backfill_ms) = duration_ms(&args.backfill) else {
        eprintln!(
            "floe-load: --backfill {:?}: expected e.g. 30m, 1h, 2d",
            args.backfill
        );
        return ExitCode::from(2);
    };
    let cfg = LoadConfig {
        addrs: args.addr,
        db: args.db,
        hosts: args.hosts,
        interval_ms: i64::from(args.interval.max(1)) * 1000,
        backfill_ms,
        follow: args.follow,
        batch_rows: args.batch,
        consistency: args.consistency,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let mut announced = false;
    let result = load(&cfg, |r| {
        if cfg.follow && !announced && r.last_ms + cfg.interval_ms >= floe_tests::load::now_ms() {
            announced = true;
            println!(
                "floe-load: backfilled {} samples of {} series; following",
                r.samples, r.series
            );
        }
    });
    match result {
        Ok(r) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "floe-load: wrote {} samples of {} series ({}..{} ms) in {} requests, {:.1} s ({:.0} samples/s)",
                r.samples,
                r.series,
                r.first_ms,
                r.last_ms,
                r.requests,
                secs,
                r.samples as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floe-load: {e:#}");
            ExitCode::from(1)
        }
    }
}
