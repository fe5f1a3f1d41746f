//! A real Prometheus 2.42 (the Debian package's `/usr/bin/prometheus`) on loopback as the
//! reference of the PromQL differential test, and the client code that treats it and floed
//! alike: remote write pushes and `/api/v1/query{,_range}` GETs through the same
//! [`request`] function, answers parsed by [`compare`].
//!
//! The process gets a temporary TSDB, no scrape jobs, the remote write receiver and a 2 h
//! out-of-order window; it is started on a free port and killed by PID when dropped.

#![allow(dead_code)]

pub(crate) mod compare;
pub(crate) mod dataset;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floe_node::ingest::remote_write::{DecodedSeries, encode_write_request};

use super::floed::{Response, request};

/// How long a process may take to answer its readiness probe.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of an installed binary of the `prometheus` Debian package.
pub(crate) fn binary(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let p = format!("{dir}/{name}");
        if Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} is not installed: scripts/test installs the Debian package prometheus");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A running Prometheus, killed by PID on drop.
pub(crate) struct Prometheus {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus in `dir` (config, TSDB and log go there) and waits until `/-/ready`
    /// answers 200.
    pub(crate) fn start(dir: &Path) -> Prometheus {
        std::fs::create_dir_all(dir).expect("create the Prometheus directory");
        let config = dir.join("prometheus.yml");
        // No scrape jobs: the only samples are the ones the test pushes. The evaluation interval
        // is the default subquery step (`[30m:]`); 1m is Prometheus's default and floed's.
        std::fs::write(
            &config,
            "global:\n  evaluation_interval: 1m\nstorage:\n  tsdb:\n    out_of_order_time_window: 2h\n",
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let stderr = std::fs::File::create(&log).expect("create the Prometheus log");
        let child = Command::new(binary("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--query.lookback-delta=5m")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start prometheus");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let prometheus = Prometheus { child, addr, log };
        prometheus.wait_ready();
        prometheus
    }

    fn wait_ready(&self) {
        let log = || std::fs::read_to_string(&self.log).unwrap_or_default();
        if let Err(last) = wait_until_ready(self.addr, "/-/ready") {
            panic!(
                "Prometheus is not ready after {READY_TIMEOUT:?} ({last}); its log:\n{}",
                log()
            );
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `path` on `addr` every 50 ms until it answers 200, for at most [`READY_TIMEOUT`].
/// Returns the last failure when the deadline passes.
pub(crate) fn wait_until_ready(addr: SocketAddr, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let last = match try_get(addr, path) {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => format!("{path} answered {}", r.status),
            Err(e) => format!("{path}: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(50)); // polling an external process
    }
}

/// A GET that reports a refused connection instead of panicking (the process may still be
/// opening its listener).
fn try_get(addr: SocketAddr, path: &str) -> Result<Response, String> {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    Ok(request(addr, "GET", path, &[], b""))
}

/// Pushes `series` to `addr`'s `/api/v1/write` in requests of about `batch` samples, each
/// request holding the samples of one time slice in time order (every series' samples go to
/// the receiver in increasing time, as a scraper would send them). Panics unless every
/// request is answered 2xx.
pub(crate) fn remote_write(addr: SocketAddr, series: &[DecodedSeries], batch: usize) -> usize {
    let mut requests = 0;
    for body in write_bodies(series, batch) {
        let r = request(
            addr,
            "POST",
            "/api/v1/write",
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            &body,
        );
        assert!(
            (200..300).contains(&r.status),
            "remote write to {addr} (request {requests}) answered {}: {}",
            r.status,
            r.text()
        );
        requests += 1;
    }
    requests
}

/// The remote write bodies of `series`: all samples sorted by time (then by series), cut into
/// slices of about `batch` samples, each slice grouped back by series.
pub(crate) fn write_bodies(series: &[DecodedSeries], batch: usize) -> Vec<Vec<u8>> {
    let mut all: Vec<(i64, usize, f64)> = series
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.samples.iter().map(move |&(t, v)| (t, i, v)))
        .collect();
    all.sort_by_key(|&(t, i, _)| (t, i));
    all.chunks(batch.max(1))
        .map(|slice| {
            let mut grouped: Vec<DecodedSeries> = Vec::new();
            let mut index = std::collections::HashMap::new();
            for &(t, i, v) in slice {
                let at = *index.entry(i).or_insert_with(|| {
                    grouped.push(DecodedSeries {
                        labels: series[i].labels.clone(),
                        samples: Vec::new(),
                    });
                    grouped.len() - 1
                });
                grouped[at].samples.push((t, v));
            }
            encode_write_request(&grouped)
        })
        .collect()
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters kept).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A Unix time in milliseconds as the decimal seconds the HTTP API and PromQL's `@` take.
pub(crate) fn seconds(ms: i64) -> String {
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}")
    }
}

/// One query of the differential test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// `/api/v1/query` at this time (ms).
    Instant(i64),
    /// `/api/v1/query_range` from, to, step (ms).
    Range(i64, i64, i64),
}

impl QueryKind {
    /// The request path, `query` URL-encoded.
    pub(crate) fn path(&self, query: &str) -> String {
        let q = url_encode(query);
        match *self {
            QueryKind::Instant(t) => format!("/api/v1/query?query={q}&time={}", seconds(t)),
            QueryKind::Range(start, end, step) => format!(
                "/api/v1/query_range?query={q}&start={}&end={}&step={}",
                seconds(start),
                seconds(end),
                seconds(step)
            ),
        }
    }
}

impl std::fmt::Display for QueryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            QueryKind::Instant(t) => write!(f, "instant@{}", seconds(t)),
            QueryKind::Range(a, b, s) => {
                write!(
                    f,
                    "range[{}..{} step {}]",
                    seconds(a),
                    seconds(b),
                    seconds(s)
                )
            }
        }
    }
}

/// Runs `query` as `kind` against `addr` and parses the answer.
pub(crate) fn query(addr: SocketAddr, query: &str, kind: QueryKind) -> compare::Answer {
    let r = request(addr, "GET", &kind.path(query), &[], b"");
    compare::Answer::parse(r.status, &r.body)
}
