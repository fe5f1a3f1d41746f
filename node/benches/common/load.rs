//! The TSBS devops cpu-only data set encoded for each ingest protocol, and a concurrent loader.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use floe_datagen::{FIELDS, Generator, MEASUREMENT, METRIC_NAMES, ValueMode};
use floe_node::ingest::remote_write::{DecodedSeries, encode_write_request};

/// Loader connections.
pub const CONNECTIONS: usize = 4;
/// InfluxDB lines per request (10 samples each).
pub const LINES_PER_REQUEST: usize = 10_000;
/// Samples per remote-write request.
pub const SAMPLES_PER_RW_REQUEST: usize = 10_000;

/// Headers of a remote-write request.
pub const REMOTE_WRITE_HEADERS: &str = "Content-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n";

/// InfluxDB line protocol bodies, `LINES_PER_REQUEST` rows each, in time order. Integer mode
/// writes integer fields (`42i`), the other modes floats as the generator rounded them.
pub fn line_protocol_bodies(generator: &Generator) -> Vec<Vec<u8>> {
    let integer = generator.config().mode == ValueMode::Integer;
    let tags: Vec<String> = (0..generator.config().hosts)
        .map(|h| {
            generator
                .host_tags(h)
                .iter()
                .map(|(k, v)| format!(",{k}={v}"))
                .collect()
        })
        .collect();
    let mut bodies = Vec::new();
    let mut body = Vec::with_capacity(LINES_PER_REQUEST * 400);
    let mut lines = 0;
    for row in generator.rows() {
        write!(body, "{MEASUREMENT}{}", tags[row.host as usize]).expect("write");
        for (i, (f, v)) in FIELDS.iter().zip(row.values).enumerate() {
            let sep = if i == 0 { ' ' } else { ',' };
            if integer {
                write!(body, "{sep}{f}={}i", v as i64).expect("write");
            } else {
                write!(body, "{sep}{f}={v}").expect("write");
            }
        }
        writeln!(body, " {}", row.ts * 1_000_000).expect("write");
        lines += 1;
        if lines == LINES_PER_REQUEST {
            bodies.push(std::mem::take(&mut body));
            lines = 0;
        }
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    bodies
}

/// Remote-write bodies of `SAMPLES_PER_RW_REQUEST` samples: one host's 10 series over a
/// stretch of time each.
pub fn remote_write_bodies(generator: &Generator) -> Vec<Vec<u8>> {
    let per_series = (SAMPLES_PER_RW_REQUEST / 10).max(1);
    let mut bodies = Vec::new();
    for h in 0..generator.config().hosts {
        let hs = generator.host_series(h);
        let labels = |f: usize| -> Vec<(String, String)> {
            let mut l: Vec<(String, String)> = hs
                .tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            l.push(("__name__".into(), METRIC_NAMES[f].into()));
            l.sort();
            l
        };
        for start in (0..hs.timestamps.len()).step_by(per_series) {
            let end = (start + per_series).min(hs.timestamps.len());
            let series: Vec<DecodedSeries> = (0..10)
                .map(|f| DecodedSeries {
                    labels: labels(f),
                    samples: (start..end)
                        .map(|i| (hs.timestamps[i], hs.fields[f][i]))
                        .collect(),
                })
                .collect();
            bodies.push(encode_write_request(&series));
        }
    }
    bodies
}

/// Sends every body to `addr` over `CONNECTIONS` connections, each expecting a 2xx answer;
/// returns the wall time in seconds.
pub fn load(addr: SocketAddr, path: &str, extra: &str, bodies: Arc<Vec<Vec<u8>>>) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..CONNECTIONS {
            let (bodies, next) = (bodies.clone(), next.clone());
            scope.spawn(move || {
                let mut conn = super::http::Conn::new(addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return };
                    let r = conn.post(path, extra, body);
                    assert!(
                        (200..300).contains(&r.status),
                        "{addr}{path} answered {}: {}",
                        r.status,
                        r.text()
                    );
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}
