//! `floe-client` is Floe's Rust client library. It talks to the nodes of a cluster over QUIC
//! with mutual TLS (the shared protocol of [`floe_wire`]): it fetches the topology from a
//! seed, writes samples token-aware (each series batched straight to its primary owner, which
//! coordinates the write to the other owners), retries failed requests on the next owner with
//! exponential backoff and jitter (safe: writes are idempotent), refetches the topology when
//! a node says it changed, and runs PromQL queries and digests. The admin CLI `floectl`
//! lives in `floe-ctl`.
//!
//! It depends on [`floe_ring`] (placement), [`floe_storage_format`] (series keys, samples)
//! and [`floe_wire`] (the protocol), and must never depend on `floe-node`: a client that
//! pulls in server internals drags the storage engine into every application that only wants
//! to write a sample.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use floe_client::{Client, ClientConfig, Sample, SeriesKey, TlsFiles};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsFiles::client(Path::new("/etc/floe/certs"), "app");
//! let config = ClientConfig::new(vec!["10.0.0.1:7400".parse()?], tls);
//! let client = Client::connect(config).await?;
//!
//! let key = SeriesKey::new("cpu_seconds_total", [("host", "web-1")])?;
//! let summary = client.write(&[(key, Sample::new(1_700_000_000_000, 42.0, 0))]).await?;
//! println!("{} samples in {} batches", summary.samples, summary.batches);
//!
//! let result = client.query("rate(cpu_seconds_total[5m])", 1_700_000_000_000).await?;
//! println!("{result:?}");
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/client.md` for routing, retries, what an acknowledged write means and the
//! error codes.

mod batcher;
mod client;
mod config;
mod conn;
mod error;
mod route;
mod topology;
mod write;

pub use batcher::Batcher;
pub use client::Client;
pub use config::{
    ClientConfig, DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_SAMPLES, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_REQUEST_TIMEOUT, MIN_BATCH_BYTES, RetryPolicy,
};
pub use error::ClientError;
pub use write::WriteSummary;

pub use floe_ring::Topology;
pub use floe_storage_format::{Sample, SeriesKey};
pub use floe_wire::TlsFiles;
pub use floe_wire::proto::{Consistency, ErrorCode, QueryResult, QuerySeries, TopologyRef};
