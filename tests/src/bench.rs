//! What the cluster benchmarks share: the generated data set as batches of series columns,
//! and a loader that writes them through `floe-client` with concurrent writers.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use floe_client::Client;
use floe_datagen::{FIELDS, Generator, metric_name};
use floe_storage_format::{Sample, SeriesKey};

/// Concurrent writers.
pub const WRITERS: usize = 4;
/// Points per series group sent together (one hour at 10 s).
const POINTS_PER_GROUP: usize = 360;

/// One write: series with their samples.
pub type Batch = Vec<(SeriesKey, Vec<Sample>)>;

/// An environment variable as a number, or `default`.
pub fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The data set as batches of about `per_batch` samples, each a few hosts' hour.
pub fn batches(generator: &Generator, per_batch: usize) -> Result<Vec<Batch>> {
    let mut out = Vec::new();
    let mut current: Batch = Vec::new();
    let mut size = 0;
    for host in 0..generator.config().hosts {
        let hs = generator.host_series(host);
        let tags: Vec<(String, String)> = hs
            .tags
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        for (f, values) in hs.fields.iter().enumerate() {
            let name = metric_name(f).context("field name")?;
            let key = SeriesKey::new(name, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .context("series key")?;
            for (ts, vs) in hs
                .timestamps
                .chunks(POINTS_PER_GROUP)
                .zip(values.chunks(POINTS_PER_GROUP))
            {
                let samples: Vec<Sample> = ts
                    .iter()
                    .zip(vs)
                    .map(|(&t, &v)| Sample::new(t, v, 0))
                    .collect();
                size += samples.len();
                current.push((key.clone(), samples));
                if size >= per_batch {
                    out.push(std::mem::take(&mut current));
                    size = 0;
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    debug_assert_eq!(FIELDS.len(), 10);
    Ok(out)
}

/// Writes every batch with `WRITERS` concurrent tasks; returns the wall time.
pub async fn load(client: &Client, batches: Arc<Vec<Batch>>) -> Result<f64> {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (client, batches, next) = (client.clone(), batches.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(batch) = batches.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                client
                    .write_series(batch)
                    .await
                    .with_context(|| format!("write batch {i}"))?;
            }
        }));
    }
    for t in tasks {
        t.await.context("writer task")??;
    }
    Ok(started.elapsed().as_secs_f64())
}
