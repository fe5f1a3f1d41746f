//! Runs a PromQL query against a Floe cluster and prints the result, one series a line.
//!
//! ```text
//! cargo run -p floe-client --example query -- \
//!     --seed 127.0.0.1:7400 --certs ./certs --name app --query 'floe_example_value' --range 60
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use floe_client::{Client, ClientConfig, QueryResult, QuerySeries, TlsFiles};

/// Run a PromQL query against a Floe cluster.
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
    /// The PromQL expression.
    #[arg(long, env = "FLOE_QUERY")]
    query: String,
    /// Evaluation time, ms since the epoch (default: now).
    #[arg(long, env = "FLOE_TIME")]
    time: Option<i64>,
    /// Run a range query over this many seconds before the evaluation time.
    #[arg(long, env = "FLOE_RANGE")]
    range: Option<i64>,
    /// Step of a range query, seconds.
    #[arg(long, env = "FLOE_STEP", default_value_t = 15)]
    step: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = ClientConfig::new(args.seeds, TlsFiles::client(&args.certs, &args.name));
    let client = Client::connect(config)
        .await
        .context("connect to the cluster")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let time = args.time.unwrap_or(now);
    let result = match args.range {
        None => client.query(&args.query, time).await,
        Some(secs) => {
            let (start, step) = (time - secs * 1000, args.step * 1000);
            client.query_range(&args.query, start, time, step).await
        }
    };
    print(&result.context("run the query")?);
    Ok(())
}

fn print(result: &QueryResult) {
    match result {
        QueryResult::Scalar { time, value } => println!("scalar {value} @{time}"),
        QueryResult::String { time, value } => println!("string {value:?} @{time}"),
        QueryResult::Vector(series) | QueryResult::Matrix(series) => {
            series.iter().for_each(print_series);
        }
    }
}

fn print_series(s: &QuerySeries) {
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    let points: Vec<String> = (s.timestamps.iter().zip(&s.values))
        .map(|(t, v)| format!("{v} @{t}"))
        .collect();
    println!("{{{}}} {}", labels.join(", "), points.join("  "));
}
