//! Writes generated samples to a Floe cluster and prints what the write did.
//!
//! ```text
//! cargo run -p floe-client --example write -- \
//!     --seed 127.0.0.1:7400 --certs ./certs --name app --samples 100000 --series 100
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use floe_client::{Client, ClientConfig, Consistency, Sample, SeriesKey, TlsFiles};

/// Write generated samples to a Floe cluster.
#[derive(Debug, Parser)]
struct Args {
    /// QUIC address of a node (repeat, or separate by commas, for more seeds).
    #[arg(
        long = "seed",
        env = "FLOE_SEEDS",
        value_delimiter = ',',
        required = true
    )]
    seeds: Vec<SocketAddr>,
    /// Certificate directory written by `floectl certs`.
    #[arg(long, env = "FLOE_CERTS_DIR")]
    certs: PathBuf,
    /// Client name: the files `client-NAME.pem` and `client-NAME-key.pem`.
    #[arg(long, env = "FLOE_CLIENT_NAME")]
    name: String,
    /// Samples to write in all.
    #[arg(long, env = "FLOE_SAMPLES", default_value_t = 10_000)]
    samples: usize,
    /// Series to spread them over.
    #[arg(long, env = "FLOE_SERIES", default_value_t = 100)]
    series: usize,
    /// Owners that must store each sample: one, quorum or all.
    #[arg(long, env = "FLOE_CONSISTENCY", default_value = "quorum")]
    consistency: Consistency,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ClientConfig::new(args.seeds, TlsFiles::client(&args.certs, &args.name));
    config.consistency = args.consistency;
    let client = Client::connect(config)
        .await
        .context("connect to the cluster")?;
    let data = generate(args.series.max(1), args.samples)?;
    let started = Instant::now();
    let summary = client.write_series(&data).await.context("write samples")?;
    println!(
        "wrote {} samples in {} batches ({} retries, {} owner copies journaled) in {:?}",
        summary.samples,
        summary.batches,
        summary.retries,
        summary.journaled,
        started.elapsed()
    );
    Ok(())
}

/// `samples` samples over `series` series, one per second per series, ending now.
fn generate(series: usize, samples: usize) -> anyhow::Result<Vec<(SeriesKey, Vec<Sample>)>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let per_series = samples.div_ceil(series);
    let mut out = Vec::with_capacity(series);
    for i in 0..series {
        let key = SeriesKey::new("floe_example_value", [("series", i.to_string())])?;
        let count = per_series.min(samples - (i * per_series).min(samples));
        let points = (0..count).map(|j| {
            let ts = now - ((count - j) as i64) * 1000;
            Sample::new(ts, ((i * 7 + j) as f64 / 10.0).sin(), 0)
        });
        out.push((key, points.collect()));
    }
    Ok(out)
}
