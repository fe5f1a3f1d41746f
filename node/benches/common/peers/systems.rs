//! Starting the peers as plain processes on loopback, each with its data in its own directory,
//! and what the report says about them (versions, machine).

use std::fs::File;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::super::http::Conn;
use super::super::process::{Server, cpu_seconds, start_floed};
use super::System;

/// The InfluxDB database (and the `db` argument of every line-protocol write).
pub const DATABASE: &str = "bench";

/// Where one system instance keeps its data, configuration and log.
#[derive(Debug)]
pub struct Instance {
    /// The data directory: everything measured on disk.
    pub data: PathBuf,
    /// The directory above `data`: configuration file and log.
    pub root: PathBuf,
    /// Hours of data the instance is sent (sizes Prometheus's out-of-order window).
    pub data_hours: u32,
}

impl Instance {
    pub fn new(root: PathBuf, data_hours: u32) -> Self {
        std::fs::create_dir_all(&root).expect("create the instance directory");
        Instance {
            data: root.join("data"),
            root,
            data_hours,
        }
    }

    fn log(&self) -> File {
        File::create(self.root.join("server.log")).expect("create the server log")
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// A free loopback port (bound and released; the server binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// Appends `pid` to the file named by `FLOE_BENCH_PIDS`, so that `scripts/bench-peers` can stop
/// the servers by PID if this process dies without running its destructors.
pub fn register_pid(pid: u32) {
    if let Ok(path) = std::env::var("FLOE_BENCH_PIDS") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open the PID file");
        writeln!(f, "{pid}").expect("write the PID file");
    }
}

/// Starts `system` with its data in `inst.data` and waits until it answers.
pub fn start(system: System, inst: &Instance) -> Server {
    std::fs::create_dir_all(&inst.data).expect("create the data directory");
    let server = match system {
        // Prometheus 3's delayed name removal: Floe then answers TSBS's `by (__name__)`
        // queries as VictoriaMetrics does, where Prometheus 2.42 refuses them.
        System::Floe => start_floed(&inst.data, &["--query-delayed-name-removal"]),
        System::VictoriaMetrics => start_vm(inst),
        System::Prometheus => start_prometheus(inst),
        System::InfluxDb => start_influx(inst),
    };
    register_pid(server.pid());
    server
}

fn spawn(inst: &Instance, program: &str, args: &[String], http: SocketAddr) -> Server {
    let log = inst.log();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {program} (run scripts/bench-peers to install it): {e}"));
    Server { child, http }
}

fn start_vm(inst: &Instance) -> Server {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let args = vec![
        format!("-storageDataPath={}", inst.data.display()),
        format!("-httpListenAddr={http}"),
        // No response cache: Floe and Prometheus have none, and double-groupby queries repeat
        // the same expression over overlapping windows.
        "-search.disableCache".to_string(),
        "-retentionPeriod=1".to_string(),
    ];
    let mut s = spawn(inst, "victoria-metrics", &args, http);
    wait_ready(&mut s, inst, "/health");
    s
}

/// Prometheus's configuration: no scrape jobs, and an out-of-order window one hour longer than
/// the data, so that a loader request overtaken by the next time slice is never refused (the
/// bench reports how many samples took that path: the snapshot does not hold the out-of-order
/// head).
fn start_prometheus(inst: &Instance) -> Server {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = inst.root.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{}}\nstorage:\n  tsdb:\n    out_of_order_time_window: {}h\n",
            inst.data_hours + 1
        ),
    )
    .expect("write prometheus.yml");
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", inst.data.display()),
        format!("--web.listen-address={http}"),
        "--web.enable-remote-write-receiver".to_string(),
        "--web.enable-admin-api".to_string(),
    ];
    let mut s = spawn(inst, "prometheus", &args, http);
    wait_ready(&mut s, inst, "/-/ready");
    s
}

/// The cold durations after which InfluxDB snapshots its cache and fully compacts a shard
/// (defaults 10 m and 4 h) are shortened so that it reaches its compacted state within the run.
pub const INFLUX_CACHE_COLD: &str = "5s";
pub const INFLUX_FULL_COLD: &str = "10s";

fn start_influx(inst: &Instance) -> Server {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let rpc = free_port();
    let d = inst.data.display();
    let config = inst.root.join("influxdb.conf");
    let text = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
         [meta]\n  dir = \"{d}/meta\"\n\
         [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n  \
         cache-snapshot-write-cold-duration = \"{INFLUX_CACHE_COLD}\"\n  \
         compact-full-write-cold-duration = \"{INFLUX_FULL_COLD}\"\n\
         [http]\n  bind-address = \"{http}\"\n  log-enabled = false\n\
         [monitor]\n  store-enabled = false\n\
         [continuous_queries]\n  enabled = false\n"
    );
    std::fs::write(&config, text).expect("write influxdb.conf");
    let args = vec!["-config".to_string(), config.display().to_string()];
    let mut s = spawn(inst, "influxd", &args, http);
    wait_ready(&mut s, inst, "/ping");
    let r = Conn::new(http).post(
        &format!("/query?q=CREATE%20DATABASE%20{DATABASE}"),
        "Content-Type: application/x-www-form-urlencoded\r\n",
        b"",
    );
    assert_eq!(r.status, 200, "InfluxDB CREATE DATABASE: {}", r.text());
    s
}

/// Polls `path` until it answers 2xx (at most 60 s), failing if the process exits.
fn wait_ready(s: &mut Server, inst: &Instance, path: &str) {
    let t = Instant::now();
    loop {
        if let Ok(Some(status)) = s.child.try_wait() {
            panic!(
                "server exited with {status} before it was ready; log:\n{}",
                inst.log_tail()
            );
        }
        if std::net::TcpStream::connect_timeout(&s.http, Duration::from_millis(200)).is_ok()
            && (200..300).contains(&Conn::new(s.http).get(path).status)
        {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{} not ready after 60 s; log:\n{}",
            s.http,
            inst.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops a server gracefully (SIGTERM by PID) and waits for it to exit (at most 10 min).
/// Returns the CPU seconds the process used in all, read from its zombie before it is reaped,
/// and its exit status.
pub fn stop_gracefully(s: &mut Server) -> (f64, std::process::ExitStatus) {
    let pid = s.pid();
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|st| st.success());
    assert!(ok, "send SIGTERM to {pid}");
    let t = Instant::now();
    let mut cpu = 0.0;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next());
        match state {
            Some("Z") | None => break,
            _ => cpu = cpu_seconds(pid),
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "server {pid} still running 10 min after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    cpu = cpu.max(cpu_seconds(pid));
    let status = s.child.wait().expect("reap the server");
    (cpu, status)
}

/// The packaged version of a peer (`dpkg-query`), or "?".
pub fn package_version(package: &str) -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// Versions of every system, by system key.
pub fn versions() -> Vec<(System, String)> {
    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    vec![
        (
            System::Floe,
            format!(
                "{} (commit {rev} + working tree)",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        (System::VictoriaMetrics, package_version("victoria-metrics")),
        (System::Prometheus, package_version("prometheus")),
        (System::InfluxDb, package_version("influxdb")),
    ]
}

/// One line describing the machine: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = mem
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {mem_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}
