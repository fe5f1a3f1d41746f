//! `cargo bench -p floe-node --bench ingest`: ingest over HTTP into a real `floed` process.
//!
//! The TSBS devops cpu-only data set from `floe-datagen` (default 200 hosts × 12 h at 10 s,
//! integer values: 8.64 M samples; `FLOE_BENCH_HOSTS` / `FLOE_BENCH_HOURS` change it) is
//! encoded in advance, then sent by 4 concurrent loader connections (HTTP/1.1 keep-alive):
//! InfluxDB line protocol with 10,000 lines per request (100,000 samples), and Prometheus
//! remote write with 10,000 samples per request. Prints samples/s (wall) and the server's CPU
//! seconds per million samples (from `/proc/<pid>/stat`). The last line is one JSON object.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use floe_datagen::{Config, FIELDS, Generator, MEASUREMENT, METRIC_NAMES, ValueMode};
use floe_node::ingest::remote_write::{DecodedSeries, encode_write_request};

const CONNECTIONS: usize = 4;
const LINES_PER_REQUEST: usize = 10_000;
const SAMPLES_PER_RW_REQUEST: usize = 10_000;

struct Floed {
    child: Child,
    http: SocketAddr,
}

impl Drop for Floed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_floed(dir: &std::path::Path) -> Floed {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floed"))
        .args([
            "--data-dir",
            dir.to_str().expect("utf-8"),
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--graphite-listen",
            "",
            "--opentsdb-listen",
            "",
            "--log-level",
            "warn",
        ])
        .args(["--max-samples-per-request", "200000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start floed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("floed's first line");
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http=")?.parse().ok())
        .unwrap_or_else(|| panic!("floed did not start: {line:?}"));
    Floed { child, http }
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0 // utime, stime in clock ticks (100 Hz)
}

/// One keep-alive connection.
struct Conn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            stream: BufReader::new(s),
            addr,
        }
    }

    fn post(&mut self, path: &str, extra: &str, body: &[u8]) -> u16 {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n{extra}\r\n",
            self.addr,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).expect("send");
        s.write_all(body).expect("send");
        let mut status = 0;
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("read response");
            let l = line.trim_end();
            if status == 0 {
                status = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            } else if l.is_empty() {
                break;
            } else if let Some((n, v)) = l.split_once(':')
                && n.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).expect("read body");
        status
    }
}

fn line_protocol_bodies(generator: &Generator) -> Vec<Vec<u8>> {
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
            write!(body, "{}{f}={}i", if i == 0 { ' ' } else { ',' }, v as i64).expect("write");
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

fn remote_write_bodies(generator: &Generator) -> Vec<Vec<u8>> {
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

/// Sends every body over `CONNECTIONS` connections; returns the wall time.
fn load(
    addr: SocketAddr,
    path: &'static str,
    extra: &'static str,
    bodies: Arc<Vec<Vec<u8>>>,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (bodies, next) = (bodies.clone(), next.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::new(addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return };
                    let status = conn.post(path, extra, body);
                    assert_eq!(status, 204, "{path} answered {status}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("loader thread");
    }
    start.elapsed().as_secs_f64()
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let hosts = env_u32("FLOE_BENCH_HOSTS", 200);
    let hours = env_u32("FLOE_BENCH_HOURS", 12);
    let generator = Generator::new(Config {
        hosts,
        points: hours * 360,
        mode: ValueMode::Integer,
        ..Config::default()
    })
    .expect("config");
    let samples = generator.sample_count() as f64;
    println!(
        "ingest bench: TSBS cpu-only {hosts} hosts x {hours} h at 10 s, integer values = {samples} samples; {CONNECTIONS} loader connections"
    );
    let mut json = Vec::new();
    for (name, path, extra) in [
        ("line_protocol", "/write?db=bench", ""),
        (
            "remote_write",
            "/api/v1/write",
            "Content-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\n",
        ),
    ] {
        let t = Instant::now();
        let bodies = Arc::new(if name == "line_protocol" {
            line_protocol_bodies(&generator)
        } else {
            remote_write_bodies(&generator)
        });
        let bytes: usize = bodies.iter().map(Vec::len).sum();
        println!(
            "{name}: {} requests, {:.1} MB encoded in {:.1} s (not timed)",
            bodies.len(),
            bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let floed = start_floed(dir.path());
        let cpu_before = cpu_seconds(floed.child.id());
        let wall = load(floed.http, path, extra, bodies);
        let cpu = cpu_seconds(floed.child.id()) - cpu_before;
        let rate = samples / wall;
        let cpu_per_m = cpu / (samples / 1e6);
        println!(
            "{name}: {:.2} M samples/s (wall {wall:.2} s); server CPU {cpu:.2} s = {cpu_per_m:.3} s per million samples",
            rate / 1e6
        );
        json.push(format!("\"{name}_samples_per_s\":{rate:.0}"));
        json.push(format!(
            "\"{name}_cpu_s_per_million_samples\":{cpu_per_m:.4}"
        ));
        if name == "line_protocol" {
            json.push(format!("\"cpu_s_per_million_samples\":{cpu_per_m:.4}"));
        }
    }
    json.push(format!("\"samples\":{samples}"));
    println!("{{{}}}", json.join(","));
}
