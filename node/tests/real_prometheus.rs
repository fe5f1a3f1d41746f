//! A real Prometheus 2.42 (the distribution's package) scrapes itself and a real
//! node_exporter and remote-writes to a real floed; the stored series are then checked.
//!
//! `scripts/test` installs the `prometheus` and `prometheus-node-exporter` packages (their
//! services kept from starting). Every process is started here on loopback and stopped by PID.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floe_node::index::Matcher;
use support::floed::{Floed, open_engine, request};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn binary(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!(
        "{name} is not installed: scripts/test installs the Debian packages prometheus and prometheus-node-exporter"
    );
}

fn ingested(floed: &Floed) -> u64 {
    let text = request(floed.http, "GET", "/metrics", &[], b"").text();
    text.lines()
        .find(|l| l.starts_with("floe_ingested_samples_total{protocol=\"remote_write\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn prometheus_remote_writes_its_scrapes_into_floed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("floe");
    let floed = Floed::start(&data, &[]);
    let node_port = free_port();
    let prom_port = free_port();
    let _node = Proc(
        Command::new(binary("prometheus-node-exporter"))
            .args([
                format!("--web.listen-address=127.0.0.1:{node_port}").as_str(),
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.loadavg",
                "--collector.meminfo",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node exporter"),
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}\n",
        floed.http
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config).expect("write prometheus.yml");
    let prom_log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let prometheus = Proc(
        Command::new(binary("prometheus"))
            .args([
                format!("--config.file={}", cfg.display()),
                format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("prom-data").display()
                ),
                format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(prom_log)
            .spawn()
            .expect("start prometheus"),
    );
    // Wait for remote write to deliver scrapes of both jobs (several rounds).
    let deadline = Instant::now() + Duration::from_secs(90);
    while ingested(&floed) < 2_000 {
        assert!(
            Instant::now() < deadline,
            "prometheus delivered only {} samples; its log:\n{}",
            ingested(&floed),
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200)); // polling a real external process's progress
    }
    drop(prometheus);
    let metrics = request(floed.http, "GET", "/metrics", &[], b"").text();
    floed.stop(&[]);

    let engine = open_engine(&data);
    let up = engine.select(&[Matcher::equal("__name__", "up")]);
    let jobs: std::collections::BTreeSet<String> = up
        .iter()
        .filter_map(|(_, k)| k.label("job").map(str::to_string))
        .collect();
    assert!(
        jobs.contains("node") && jobs.contains("prometheus"),
        "up series: {up:?}"
    );
    for (r, key) in &up {
        let samples = engine.read(*r, i64::MIN, i64::MAX).expect("read");
        assert!(!samples.is_empty(), "{key} has no samples");
        assert!(
            samples.iter().all(|s| s.value == 1.0 || s.value.is_nan()),
            "{key}: {samples:?}"
        );
    }
    let cpu = engine.select(&[
        Matcher::equal("__name__", "node_cpu_seconds_total"),
        Matcher::equal("mode", "idle"),
    ]);
    assert!(
        !cpu.is_empty(),
        "no node_cpu_seconds_total{{mode=\"idle\"}}"
    );
    let load = engine.select(&[Matcher::equal("__name__", "node_load1")]);
    assert_eq!(load.len(), 1);
    assert!(
        !metrics.contains("floe_rejected_requests_total{protocol=\"remote_write\""),
        "Prometheus requests were refused:\n{metrics}"
    );
}
